// Package quota enforces rate limits with GCRA (the generic cell rate
// algorithm), checking and counting in one atomic step: on Redis through
// redis_rate, so limits hold across replicas, or in process for a single
// instance without Redis. While Redis is unavailable (a call timed out or
// failed, see redisguard) each replica limits in process instead, so login
// throttling and the other limits keep holding, per replica, and no
// request waits for a Redis that does not answer.
package quota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"commerce/internal/apperr"
	"commerce/internal/config"
	"commerce/internal/platform/redisguard"
)

// Result is the state of one key after a check.
type Result struct {
	Allowed    bool
	Limit      int
	Remaining  int
	RetryAfter time.Duration // when refused: how long until one more is allowed
	ResetAfter time.Duration // how long until the key is back to its full allowance
}

// Limiter checks and counts events against quotas.
type Limiter struct {
	allow  func(ctx context.Context, key string, q config.Quota) (Result, error)
	refund func(ctx context.Context, key string, q config.Quota) error
	log    *slog.Logger
}

// NewRedis returns a limiter on Redis, every key carrying prefix, whose
// calls go through guard: while Redis is unavailable it counts in process
// (with now as its clock), per replica, until Redis answers again. What
// the fallback counted is not carried over to Redis.
func NewRedis(guard *redisguard.Guard, prefix string, now func() time.Time, log *slog.Logger) *Limiter {
	lim := redis_rate.NewLimiter(prefixed{Client: guard.Client(), prefix: prefix})
	fallback := &memory{now: now, tat: map[string]time.Time{}}
	limit := func(q config.Quota) redis_rate.Limit {
		return redis_rate.Limit{Rate: q.Limit, Burst: q.Limit, Period: q.Period}
	}
	// inFallback says whether err is an outage the in-process fallback
	// covers, rather than the request going away or an error reply.
	inFallback := func(ctx context.Context, err error) bool {
		return errors.Is(err, redisguard.ErrUnavailable) || (ctx.Err() == nil && redisguard.IsOutage(err))
	}
	return &Limiter{log: log, allow: func(ctx context.Context, key string, q config.Quota) (Result, error) {
		var res *redis_rate.Result
		err := guard.Do(ctx, func(ctx context.Context) error {
			var err error
			res, err = lim.Allow(ctx, key, limit(q))
			return err
		})
		if err != nil {
			if inFallback(ctx, err) {
				return fallback.allow(ctx, key, q)
			}
			return Result{}, err
		}
		return Result{Allowed: res.Allowed > 0, Limit: q.Limit, Remaining: res.Remaining,
			RetryAfter: max(res.RetryAfter, 0), ResetAfter: max(res.ResetAfter, 0)}, nil
	}, refund: func(ctx context.Context, key string, q config.Quota) error {
		// GCRA with a cost of -1 moves the key's time back by one interval
		// (redis_rate's script stores nothing when that is in the past,
		// leaving at most one interval's debt to expire on its own).
		err := guard.Do(ctx, func(ctx context.Context) error {
			_, err := lim.AllowN(ctx, key, limit(q), -1)
			return err
		})
		if err != nil && inFallback(ctx, err) {
			return fallback.refund(ctx, key, q)
		}
		return err
	}}
}

// NewMemory returns an in-process limiter for a single instance.
func NewMemory(now func() time.Time, log *slog.Logger) *Limiter {
	m := &memory{now: now, tat: map[string]time.Time{}}
	return &Limiter{log: log, allow: m.allow, refund: m.refund}
}

// Allow counts one event for key against q and says whether it is allowed.
// A failure that no fallback covers (an error reply from Redis) is logged
// and allows the event; an outage is covered by the fallback and logged
// once, by the guard.
func (l *Limiter) Allow(ctx context.Context, key string, q config.Quota) Result {
	res, err := l.allow(ctx, key, q)
	if err != nil {
		if ctx.Err() == nil { // not merely the request going away
			l.log.Warn("quota: limiter failed, allowing the request", "key", key, "error", err)
		}
		return Result{Allowed: true, Limit: q.Limit, Remaining: q.Limit}
	}
	return res
}

// Check is Allow that returns a RateLimited error when refused.
func (l *Limiter) Check(ctx context.Context, key string, q config.Quota) (Result, error) {
	res := l.Allow(ctx, key, q)
	return res, res.Err()
}

// Err is nil when the event was allowed, else a RateLimited error that says
// when to try again.
func (r Result) Err() error {
	if r.Allowed {
		return nil
	}
	return &apperr.Error{Kind: apperr.RateLimited, RetryAfter: r.RetryAfter,
		Message: fmt.Sprintf("too many requests: try again in %d s", int(math.Ceil(r.RetryAfter.Seconds())))}
}

// Refund gives back one event that Allow counted for key against q, for
// quotas that limit only attempts that fail: the attempt takes its unit up
// front, so that concurrent attempts cannot overrun the quota, and one that
// succeeds gives it back. A failure is logged (unless the request went
// away) and the unit stays counted.
func (l *Limiter) Refund(ctx context.Context, key string, q config.Quota) {
	if err := l.refund(ctx, key, q); err != nil && ctx.Err() == nil {
		l.log.Warn("quota: limiter failed, a refund is lost", "key", key, "error", err)
	}
}

// prefixed namespaces the keys redis_rate uses (it hard-codes "rate:").
type prefixed struct {
	*redis.Client
	prefix string
}

func (p prefixed) keys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = p.prefix + k
	}
	return out
}

func (p prefixed) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return p.Client.Eval(ctx, script, p.keys(keys), args...)
}

func (p prefixed) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	return p.Client.EvalSha(ctx, sha, p.keys(keys), args...)
}

func (p prefixed) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return p.Client.EvalRO(ctx, script, p.keys(keys), args...)
}

func (p prefixed) EvalShaRO(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	return p.Client.EvalShaRO(ctx, sha, p.keys(keys), args...)
}

func (p prefixed) Del(ctx context.Context, keys ...string) *redis.IntCmd {
	return p.Client.Del(ctx, p.keys(keys)...)
}

// memory is GCRA in process: per key, the theoretical arrival time of the
// next event. A key whose time has passed holds no state and is forgotten.
type memory struct {
	mu    sync.Mutex
	now   func() time.Time
	tat   map[string]time.Time
	calls int
}

func (m *memory) allow(_ context.Context, key string, q config.Quota) (Result, error) {
	if q.Limit <= 0 || q.Period <= 0 {
		return Result{Allowed: true}, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)
	interval := q.Period / time.Duration(q.Limit)
	tat := m.tat[key]
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(interval)
	allowAt := next.Add(-q.Period) // burst = Limit events
	if now.Before(allowAt) {
		return Result{Limit: q.Limit, RetryAfter: allowAt.Sub(now), ResetAfter: tat.Sub(now)}, nil
	}
	m.tat[key] = next
	remaining := int(now.Sub(allowAt) / interval)
	return Result{Allowed: true, Limit: q.Limit, Remaining: min(remaining, q.Limit-1), ResetAfter: next.Sub(now)}, nil
}

// refund moves the key's theoretical arrival time back by one interval,
// forgetting the key once that is not in the future.
func (m *memory) refund(_ context.Context, key string, q config.Quota) error {
	if q.Limit <= 0 || q.Period <= 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	tat, ok := m.tat[key]
	if !ok {
		return nil
	}
	tat = tat.Add(-q.Period / time.Duration(q.Limit))
	if !tat.After(m.now()) {
		delete(m.tat, key)
		return nil
	}
	m.tat[key] = tat
	return nil
}

// sweep forgets expired keys now and then, so memory stays bounded by the
// keys active within their period.
func (m *memory) sweep(now time.Time) {
	m.calls++
	if m.calls%1024 != 0 {
		return
	}
	for k, t := range m.tat {
		if t.Before(now) {
			delete(m.tat, k)
		}
	}
}
