package web

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Every request gets one access-log line at info with its method, path,
// status, duration, operation and request id, and never its body or query
// string; health probes and scrapes are at debug.
func TestWithRequestAccessLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h := WithRequest(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/graphql" {
			SetOperation(r.Context(), "StorefrontProducts")
		}
		if r.URL.Path == "/missing" {
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	serve := func(method, target, body string) {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("X-Request-Id", "req-1")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}

	for _, c := range []struct {
		name, method, target, body string
		want                       map[string]any // nil: no line at info
	}{
		{"graphql", "POST", "/graphql?token=secret-query", `{"query":"query StorefrontProducts { products { totalCount } }","variables":{"password":"secret-var"}}`,
			map[string]any{"method": "POST", "path": "/graphql", "status": 200.0, "operation": "StorefrontProducts", "request_id": "req-1"}},
		{"not found", "GET", "/missing", "",
			map[string]any{"method": "GET", "path": "/missing", "status": 404.0, "request_id": "req-1"}},
		{"health", "GET", "/healthz", "", nil},
		{"readiness", "GET", "/readyz", "", nil},
		{"metrics", "GET", "/metrics", "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			buf.Reset()
			serve(c.method, c.target, c.body)
			if c.want == nil {
				if buf.Len() != 0 {
					t.Errorf("logged at info: %s", buf.String())
				}
				return
			}
			if strings.Count(buf.String(), "\n") != 1 {
				t.Fatalf("want one line, got %q", buf.String())
			}
			if strings.Contains(buf.String(), "secret") {
				t.Errorf("the line shows the body or query string: %s", buf.String())
			}
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatal(err)
			}
			if line["level"] != "INFO" || line["msg"] != "http request" {
				t.Errorf("level %v msg %v, want INFO http request", line["level"], line["msg"])
			}
			if _, ok := line["duration_ms"].(float64); !ok {
				t.Errorf("no duration_ms in %v", line)
			}
			for k, v := range c.want {
				if line[k] != v {
					t.Errorf("%s: %v, want %v", k, line[k], v)
				}
			}
			if _, ok := c.want["operation"]; !ok && line["operation"] != nil {
				t.Errorf("operation %v on a request that ran none", line["operation"])
			}
		})
	}
}

// SetOperation outside WithRequest does nothing (and does not panic).
func TestSetOperationOutsideRequest(t *testing.T) {
	SetOperation(httptest.NewRequest("GET", "/", nil).Context(), "X")
}
