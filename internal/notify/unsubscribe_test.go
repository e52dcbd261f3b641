package notify_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"commerce/internal/notify"
)

// recordingUnsubscriber records the addresses unsubscribed through it.
type recordingUnsubscriber struct {
	mu     sync.Mutex
	emails []string
	err    error
}

func (u *recordingUnsubscriber) Unsubscribe(_ context.Context, email string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.emails = append(u.emails, email)
	return u.err
}

func TestUnsubscribeHandler(t *testing.T) {
	valid := "/unsubscribe?token=" + url.QueryEscape(notify.UnsubscribeToken(secret, "ada@example.com"))
	forged := "/unsubscribe?token=" + url.QueryEscape(notify.UnsubscribeToken([]byte("not-our-secret-not-our-secret-xx"), "ada@example.com"))
	tests := []struct {
		name       string
		method     string
		target     string
		body       string
		failing    bool
		status     int
		page       string // a phrase of the page
		unsubbed   bool
		wantHeader string
	}{
		{"GET shows a confirmation", http.MethodGet, valid, "", false, http.StatusOK, `<form method="post"`, false, ""},
		{"POST unsubscribes (RFC 8058 one-click)", http.MethodPost, valid, "List-Unsubscribe=One-Click", false, http.StatusOK, "You are unsubscribed", true, ""},
		{"POST from the confirmation button", http.MethodPost, valid, "", false, http.StatusOK, "ada@example.com will receive no more", true, ""},
		{"forged token", http.MethodPost, forged, "List-Unsubscribe=One-Click", false, http.StatusBadRequest, "not valid", false, ""},
		{"no token", http.MethodGet, "/unsubscribe", "", false, http.StatusBadRequest, "not valid", false, ""},
		{"other method", http.MethodDelete, valid, "", false, http.StatusMethodNotAllowed, "", false, "GET, HEAD, POST"},
		{"store fails", http.MethodPost, valid, "", true, http.StatusInternalServerError, "internal error", true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &recordingUnsubscriber{}
			if tc.failing {
				u.err = errors.New("database down")
			}
			h := notify.NewUnsubscribeHandler(secret, u, slog.New(slog.DiscardHandler))
			req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.page) {
				t.Errorf("%d %s, want %d with %q", rec.Code, rec.Body, tc.status, tc.page)
			}
			if tc.wantHeader != "" && rec.Header().Get("Allow") != tc.wantHeader {
				t.Errorf("Allow = %q", rec.Header().Get("Allow"))
			}
			if strings.Contains(rec.Body.String(), "database down") {
				t.Error("the page shows an internal error")
			}
			if got := len(u.emails) > 0; got != tc.unsubbed || (got && u.emails[0] != "ada@example.com") {
				t.Errorf("unsubscribed %v, want %v", u.emails, tc.unsubbed)
			}
		})
	}
}
