package graph

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"commerce/internal/apperr"
)

// outcome counts the errors presented in one HTTP request's response, so
// that a response whose every error is SERVICE_UNAVAILABLE goes out as
// HTTP 503 with Retry-After, which clients, proxies and load balancers
// understand without reading the body.
type outcome struct {
	mu          sync.Mutex
	errors      int
	unavailable int
	retryAfter  time.Duration
}

type outcomeKey struct{}

// countError records a presented error in the request's outcome; ae is
// nil for an internal error.
func countError(ctx context.Context, ae *apperr.Error) {
	o, ok := ctx.Value(outcomeKey{}).(*outcome)
	if !ok {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.errors++
	if ae != nil && ae.Kind == apperr.Unavailable {
		o.unavailable++
		o.retryAfter = max(o.retryAfter, ae.RetryAfter)
	}
}

// unavailableOnly returns the Retry-After of a response whose errors are all
// SERVICE_UNAVAILABLE; ok is false otherwise.
func (o *outcome) unavailableOnly() (retryAfter time.Duration, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.retryAfter, o.errors > 0 && o.unavailable == o.errors
}

// unavailableStatus turns the 200 of a GraphQL response whose every error
// is SERVICE_UNAVAILABLE into 503 with Retry-After. Websockets are left
// alone: their errors travel inside the stream.
func unavailableStatus(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			next.ServeHTTP(w, r)
			return
		}
		o := &outcome{}
		sw := &statusWriter{ResponseWriter: w, outcome: o}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), outcomeKey{}, o)))
	})
}

// statusWriter decides the status when the response starts, after the
// operation ran and its errors were presented.
type statusWriter struct {
	http.ResponseWriter
	outcome *outcome
	started bool
}

func (s *statusWriter) WriteHeader(code int) {
	if s.started {
		return
	}
	s.started = true
	if retryAfter, ok := s.outcome.unavailableOnly(); ok && code == http.StatusOK {
		s.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
		code = http.StatusServiceUnavailable
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if !s.started {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
