package redisguard_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"commerce/internal/platform/redisguard"
	"commerce/internal/platform/testtool"
)

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func setup(t *testing.T, timeout time.Duration) (*redisguard.Guard, *testtool.RedisServer, *syncBuffer, *prometheus.Registry) {
	t.Helper()
	srv := testtool.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	g := redisguard.New(rdb, timeout, slog.New(slog.NewJSONHandler(logs, nil)), reg)
	t.Cleanup(g.Close)
	return g, srv, logs, reg
}

func ping(g *redisguard.Guard) error {
	return g.Do(context.Background(), func(ctx context.Context) error { return g.Client().Ping(ctx).Err() })
}

// A frozen Redis costs one call the timeout, after which calls are skipped
// at once; an answer that is not an outage (redis.Nil) leaves the guard
// alone; once Redis answers again the guard passes calls again. The outage
// is logged once and its end once, and redis_up follows.
func TestFrozenRedis(t *testing.T) {
	const timeout = 50 * time.Millisecond
	g, srv, logs, reg := setup(t, timeout)
	if err := g.Do(context.Background(), func(ctx context.Context) error {
		return g.Client().Get(ctx, "no-such-key").Err()
	}); !errors.Is(err, redis.Nil) || !g.Up() {
		t.Fatalf("a missing key: %v, up %v; want redis.Nil with the guard still closed", err, g.Up())
	}

	srv.Freeze()
	start := time.Now()
	err := ping(g)
	if d := time.Since(start); err == nil || d > timeout+500*time.Millisecond {
		t.Fatalf("ping of a frozen Redis: %v after %s, want a failure within the %s timeout (plus slack)", err, d, timeout)
	}
	if g.Up() {
		t.Fatal("the guard still passes calls after a timeout")
	}
	back := g.Back()
	for range 100 {
		start := time.Now()
		if err := ping(g); !errors.Is(err, redisguard.ErrUnavailable) || time.Since(start) > 10*time.Millisecond {
			t.Fatalf("call with the guard open: %v after %s, want ErrUnavailable at once", err, time.Since(start))
		}
	}
	if v := redisUp(t, reg); v != 0 {
		t.Errorf("redis_up = %v while Redis is frozen, want 0", v)
	}

	srv.Thaw()
	select {
	case <-back:
	case <-time.After(10 * time.Second):
		t.Fatal("the guard did not find Redis back within 10s")
	}
	if err := ping(g); err != nil || !g.Up() {
		t.Fatalf("ping after Redis came back: %v, up %v", err, g.Up())
	}
	if v := redisUp(t, reg); v != 1 {
		t.Errorf("redis_up = %v once Redis is back, want 1", v)
	}
	out := logs.String()
	if n := strings.Count(out, "redis unavailable"); n != 1 {
		t.Errorf("outage logged %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "redis available again"); n != 1 {
		t.Errorf("recovery logged %d times, want once:\n%s", n, out)
	}
}

// A caller that gives up does not open the guard: Redis is not at fault.
func TestCallerCancelDoesNotOpen(t *testing.T) {
	g, srv, _, _ := setup(t, time.Second)
	srv.Freeze()
	defer srv.Thaw()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := g.Do(ctx, func(ctx context.Context) error { return g.Client().Ping(ctx).Err() })
	if err == nil || !g.Up() {
		t.Fatalf("a call whose caller gave up: %v, up %v; want an error and the guard still closed", err, g.Up())
	}
}

func redisUp(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "redis_up" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no redis_up metric")
	return 0
}

func TestIsOutage(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"missing key", redis.Nil, false},
		{"caller cancelled", context.Canceled, false},
		{"timeout", context.DeadlineExceeded, true},
		{"unavailable", redisguard.ErrUnavailable, true},
		{"closed client", redis.ErrClosed, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := redisguard.IsOutage(tt.err); got != tt.want {
				t.Errorf("IsOutage(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
