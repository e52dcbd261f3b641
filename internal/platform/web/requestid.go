// Package web holds the HTTP plumbing every route shares: request ids,
// request-scoped loggers, access logs and client addresses.
package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	loggerKey
	operationKey
)

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// Logger returns the request's logger (carrying its request id), or def.
func Logger(ctx context.Context, def *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(loggerKey).(*slog.Logger); ok {
		return l
	}
	return def
}

// SetOperation names the GraphQL operation the request ran, for its
// access-log line; the GraphQL handler calls it with the executed
// operation's name. On a websocket, which carries many operations, the
// line names the last one. It does nothing outside WithRequest.
func SetOperation(ctx context.Context, name string) {
	if op, ok := ctx.Value(operationKey).(*atomic.Pointer[string]); ok {
		op.Store(&name)
	}
}

// WithRequest gives every request an id (kept from a well-formed
// X-Request-Id header, else new), echoes it in the response, puts a logger
// carrying it in the context, and writes one access-log line per request:
// method, path, status, duration, the GraphQL operation's name (see
// SetOperation) and the request id, never a body, a query string or
// variables. The line is at info, except for health probes and metrics
// scrapes, at debug: they come every few seconds and say nothing.
func WithRequest(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !wellFormedID(id) {
			id = newID()
		}
		w.Header().Set("X-Request-Id", id)
		l := log.With("request_id", id)
		op := new(atomic.Pointer[string])
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		ctx = context.WithValue(ctx, loggerKey, l)
		ctx = context.WithValue(ctx, operationKey, op)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(rec, r.WithContext(ctx))
		level := slog.LevelInfo
		if quiet(r.URL.Path) {
			level = slog.LevelDebug
		}
		if !l.Enabled(ctx, level) {
			return // LOG_LEVEL=warn, as in the benchmark: no line, no cost
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", rec.status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		}
		if name := op.Load(); name != nil && *name != "" {
			attrs = append(attrs, slog.String("operation", *name))
		}
		l.LogAttrs(ctx, level, "http request", attrs...)
	})
}

// quiet reports whether path's access-log line is at debug: health
// probes and metrics scrapes (see WithRequest).
func quiet(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func wellFormedID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// statusRecorder remembers the status code written. It forwards Flush and
// Unwrap so that websockets and streaming keep working behind it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
