package quota_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"commerce/internal/apperr"
	"commerce/internal/config"
	"commerce/internal/platform/redisguard"
	"commerce/internal/quota"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func redisClient(t *testing.T) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis on 127.0.0.1:6379 (make services): %v", err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func TestMemoryGCRA(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	lim := quota.NewMemory(c.now, slog.New(slog.DiscardHandler))
	q := config.Quota{Limit: 3, Period: time.Minute}
	ctx := context.Background()
	for i := range 3 {
		if res := lim.Allow(ctx, "k", q); !res.Allowed || res.Remaining != 2-i {
			t.Fatalf("call %d: %+v, want allowed with %d remaining", i+1, res, 2-i)
		}
	}
	res, err := lim.Check(ctx, "k", q)
	if res.Allowed || apperr.KindOf(err) != apperr.RateLimited {
		t.Fatalf("4th call: %+v %v, want RATE_LIMITED", res, err)
	}
	if res.RetryAfter <= 0 || res.RetryAfter > 20*time.Second {
		t.Fatalf("retry after %v, want about 20s (one emission interval)", res.RetryAfter)
	}
	if !lim.Allow(ctx, "other", q).Allowed {
		t.Fatal("another key shares the first key's allowance")
	}
	c.advance(res.RetryAfter)
	if !lim.Allow(ctx, "k", q).Allowed {
		t.Fatal("not allowed again after the retry delay")
	}
	if lim.Allow(ctx, "k", q).Allowed {
		t.Fatal("a refill of one interval allowed two calls")
	}
}

// Concurrent callers cannot burst past the limit: check and count are one step.
func TestRedisIsAtomicAndPrefixed(t *testing.T) {
	rdb := redisClient(t)
	prefix := fmt.Sprintf("test:quota:%d:", time.Now().UnixNano())
	// A generous timeout: fifty connections dialled at once on a busy
	// machine must not send the test to the in-process fallback.
	guard := redisguard.New(rdb, 5*time.Second, slog.New(slog.DiscardHandler), nil)
	t.Cleanup(guard.Close)
	lim := quota.NewRedis(guard, prefix, time.Now, slog.New(slog.DiscardHandler))
	q := config.Quota{Limit: 10, Period: time.Hour}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if lim.Allow(context.Background(), "burst", q).Allowed {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 10 {
		t.Fatalf("%d of 50 concurrent calls allowed, want exactly 10", allowed.Load())
	}
	keys, err := rdb.Keys(context.Background(), prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("no keys under the prefix %q: %v %v", prefix, keys, err)
	}
	t.Cleanup(func() { rdb.Del(context.Background(), keys...) })
}

// While Redis is down the limits still hold, per replica, in process: no
// request waits for Redis after the first failure, and the 2nd call of a
// quota of 1 is refused.
func TestFallsBackInProcessWhileRedisIsDown(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	guard := redisguard.New(rdb, 50*time.Millisecond, slog.New(slog.DiscardHandler), nil)
	defer guard.Close()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	lim := quota.NewRedis(guard, "test:", c.now, slog.New(slog.DiscardHandler))
	q := config.Quota{Limit: 1, Period: time.Hour}
	res, err := lim.Check(context.Background(), "k", q)
	if err != nil || !res.Allowed {
		t.Fatalf("1st call with Redis down: %+v %v, want allowed", res, err)
	}
	if guard.Up() {
		t.Fatal("the guard is still passing calls to a Redis that refused the connection")
	}
	_, err = lim.Check(context.Background(), "k", q)
	if apperr.KindOf(err) != apperr.RateLimited {
		t.Fatalf("2nd call of a quota of 1 with Redis down: %v, want RATE_LIMITED from the in-process fallback", err)
	}
	var ae *apperr.Error
	if !errors.As(err, &ae) || ae.RetryAfter <= 0 {
		t.Fatalf("refusal without a retry delay: %v", err)
	}
	if !lim.Allow(context.Background(), "other", q).Allowed {
		t.Fatal("another key shares the first key's allowance")
	}
}

// A refunded unit is available again at once, on both backends; a refund
// of a key with nothing counted gives nothing extra.
func TestRefund(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	rdb := redisClient(t)
	prefix := fmt.Sprintf("test:quota-refund:%d:", time.Now().UnixNano())
	t.Cleanup(func() {
		if keys, _ := rdb.Keys(context.Background(), prefix+"*").Result(); len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	log := slog.New(slog.DiscardHandler)
	guard := redisguard.New(rdb, 5*time.Second, log, nil)
	t.Cleanup(guard.Close)
	for name, lim := range map[string]*quota.Limiter{
		"memory": quota.NewMemory(c.now, log),
		"redis":  quota.NewRedis(guard, prefix, c.now, log),
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			q := config.Quota{Limit: 2, Period: time.Hour}
			lim.Refund(ctx, "fresh", q)
			for i := range 2 {
				if !lim.Allow(ctx, "fresh", q).Allowed {
					t.Fatalf("call %d after a refund of nothing: refused", i+1)
				}
			}
			if lim.Allow(ctx, "fresh", q).Allowed {
				t.Fatal("a refund of nothing added to the allowance")
			}
			lim.Refund(ctx, "fresh", q)
			if !lim.Allow(ctx, "fresh", q).Allowed {
				t.Fatal("the refunded unit is not available again")
			}
			if lim.Allow(ctx, "fresh", q).Allowed {
				t.Fatal("one refund gave back more than one unit")
			}
		})
	}
}
