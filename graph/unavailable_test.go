package graph

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/jackc/pgx/v5/pgconn"

	"commerce/internal/apperr"
)

// A response whose every error is SERVICE_UNAVAILABLE goes out as 503 with
// Retry-After; one with any other error, or none, keeps its status.
func TestUnavailableStatus(t *testing.T) {
	lost := &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}
	tests := []struct {
		name       string
		errs       []error
		wantStatus int
		wantRetry  string
	}{
		{"no error", nil, http.StatusOK, ""},
		{"database gone", []error{lost, errors.Join(errors.New("load"), lost)}, http.StatusServiceUnavailable, "5"},
		{"database gone and not found", []error{lost, apperr.New(apperr.NotFound, "no such order")}, http.StatusOK, ""},
		{"internal", []error{errors.New("boom")}, http.StatusOK, ""},
	}
	present := errorPresenter(slog.New(slog.DiscardHandler))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := unavailableStatus(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx := graphql.WithResponseContext(r.Context(), graphql.DefaultErrorPresenter, graphql.DefaultRecover)
				for _, err := range tt.errs {
					e := present(ctx, err)
					if tt.wantStatus == http.StatusServiceUnavailable &&
						(e.Extensions["code"] != "SERVICE_UNAVAILABLE" || e.Extensions["retryAfterSeconds"] != 5) {
						t.Errorf("presented %v as %+v, want SERVICE_UNAVAILABLE with retryAfterSeconds 5", err, e)
					}
				}
				_, _ = io.WriteString(w, `{"data":null}`)
			}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/graphql", nil))
			if rec.Code != tt.wantStatus || rec.Header().Get("Retry-After") != tt.wantRetry {
				t.Errorf("status %d, Retry-After %q; want %d, %q", rec.Code, rec.Header().Get("Retry-After"), tt.wantStatus, tt.wantRetry)
			}
		})
	}
}
