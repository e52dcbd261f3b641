// Package redisguard keeps a slow or absent Redis from stalling requests.
// Redis is an accelerator here (global rate limits, the live feed across
// replicas), never the source of truth, so every call made on a request's
// behalf is bounded by a short timeout, and once a call fails the guard
// opens: calls are skipped at once, and the callers fall back (rate limits
// in process, live events marked as possibly missed) until a background
// probe finds Redis answering again. The guard logs one line when Redis
// goes away and one when it is back, and exports its state as redis_up.
package redisguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// ErrUnavailable is returned by Do while the guard is open.
var ErrUnavailable = errors.New("redis unavailable")

// Guard bounds and, after a failure, skips the calls to one Redis client.
type Guard struct {
	client  *redis.Client
	timeout time.Duration
	probe   time.Duration
	log     *slog.Logger
	gauge   prometheus.Gauge

	up        atomic.Bool
	mu        sync.Mutex
	downSince time.Time
	back      chan struct{} // closed when Redis is back; replaced at each outage
	done      chan struct{}
	closeOnce sync.Once
}

// ProbeInterval is how often an open guard pings Redis to see whether it
// is back.
const ProbeInterval = 250 * time.Millisecond

// New returns a closed (passing) guard on client: each call may take at
// most timeout. It turns on client's ContextTimeoutEnabled, without which
// go-redis waits out its own read timeout (seconds) whatever the context
// says. Its gauge redis_up is registered on reg when it is not nil.
func New(client *redis.Client, timeout time.Duration, log *slog.Logger, reg prometheus.Registerer) *Guard {
	client.Options().ContextTimeoutEnabled = true
	g := &Guard{
		client: client, timeout: timeout, probe: ProbeInterval, log: log,
		gauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "redis_up",
			Help: "1 while Redis answers within REDIS_TIMEOUT, 0 while it is skipped (rate limits per replica, live events may be missed).",
		}),
		back: make(chan struct{}),
		done: make(chan struct{}),
	}
	g.up.Store(true)
	g.gauge.Set(1)
	if reg != nil {
		reg.MustRegister(g.gauge)
	}
	return g
}

// Client returns the guarded client, for what must hold a connection of
// its own (a pub/sub subscription).
func (g *Guard) Client() *redis.Client { return g.client }

// Timeout is the bound on one call.
func (g *Guard) Timeout() time.Duration { return g.timeout }

// Up reports whether calls go to Redis.
func (g *Guard) Up() bool { return g.up.Load() }

// Back returns a channel that is closed when Redis is back after the
// current outage (at once when there is none).
func (g *Guard) Back() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.back
}

// Do runs fn with a context bounded by the timeout. It returns
// ErrUnavailable without calling fn while the guard is open, and opens it
// when fn fails for want of Redis (a timeout, a refused or broken
// connection, a server still loading), not for an answer such as
// redis.Nil or a script error, nor because ctx itself ended.
func (g *Guard) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	if !g.up.Load() {
		return ErrUnavailable
	}
	cctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	err := fn(cctx)
	if err != nil && ctx.Err() == nil && IsOutage(err) {
		g.Fail(err)
	}
	return err
}

// Fail opens the guard for an outage noticed elsewhere (a dropped
// subscription). Only the first failure of an outage is logged.
func (g *Guard) Fail(err error) {
	if !g.up.Load() {
		return
	}
	g.mu.Lock()
	if !g.up.Load() {
		g.mu.Unlock()
		return
	}
	g.up.Store(false)
	g.downSince = time.Now()
	g.back = make(chan struct{})
	g.gauge.Set(0)
	g.mu.Unlock()
	g.log.Warn("redis unavailable: rate limits per replica and live events may be missed until it answers again",
		"error", err, "timeout", g.timeout.String())
	go g.probeUntilBack()
}

// probeUntilBack pings Redis until it answers within the timeout, then
// closes the guard again.
func (g *Guard) probeUntilBack() {
	t := time.NewTicker(g.probe)
	defer t.Stop()
	for {
		select {
		case <-g.done:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
		err := g.client.Ping(ctx).Err()
		cancel()
		if err == nil {
			g.recover()
			return
		}
	}
}

func (g *Guard) recover() {
	g.mu.Lock()
	g.up.Store(true) // before back closes: whoever waits on it finds the guard closed
	g.gauge.Set(1)
	g.log.Info("redis available again", "down_for", time.Since(g.downSince).Round(time.Millisecond).String())
	close(g.back)
	g.mu.Unlock()
}

// Close stops probing. It does not close the client.
func (g *Guard) Close() {
	g.closeOnce.Do(func() { close(g.done) })
}

// IsOutage reports whether err means Redis could not be used (timeout,
// connection refused or broken, pool exhausted, a server not ready),
// rather than an answer from a working Redis.
func IsOutage(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	var reply redis.Error
	if errors.As(err, &reply) {
		for _, p := range []string{"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN"} {
			if strings.HasPrefix(reply.Error(), p) {
				return true
			}
		}
		return false
	}
	return true
}

// Logger hands go-redis's own log lines (a failed dial, once per attempt
// while Redis is down) to slog at debug level: the guard already logs an
// outage once. Install it with redis.SetLogger.
type Logger struct{ Log *slog.Logger }

// Printf logs one go-redis line at debug level.
func (l Logger) Printf(ctx context.Context, format string, v ...any) {
	l.Log.DebugContext(ctx, "redis client", "message", fmt.Sprintf(format, v...))
}
