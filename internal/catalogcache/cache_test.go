package catalogcache

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/uptrace/bun"

	"commerce/internal/platform/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }

// fakeSource is a version that a test sets.
type fakeSource struct {
	v   atomic.Int64
	err atomic.Pointer[error]
}

func (f *fakeSource) Version(context.Context) (int64, error) {
	if e := f.err.Load(); e != nil {
		return 0, *e
	}
	return f.v.Load(), nil
}

func (f *fakeSource) Compact(context.Context) error { return nil }

// clock is a settable now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestCache(t *testing.T, budget int64) (*Cache, *fakeSource, *clock, *prometheus.Registry) {
	t.Helper()
	src := &fakeSource{}
	reg := prometheus.NewRegistry()
	c := New(src, Config{Budget: budget}, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	c.now = clk.now
	if err := c.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c, src, clk, reg
}

func key(b byte) Key { return Key{b} }

func entry(n int) *Entry {
	return &Entry{Gzip: make([]byte, n), ETag: `"x"`, ContentType: "application/json"}
}

func TestBytesBound(t *testing.T) {
	c, _, _, _ := newTestCache(t, 10_000)
	v, ok := c.Version()
	if !ok {
		t.Fatal("no fresh version after a poll")
	}
	for i := range 20 {
		c.Put(key(byte(i)), v, entry(1000))
		if c.bytes > c.budget {
			t.Fatalf("after %d entries the cache holds %d bytes, over its budget of %d", i+1, c.bytes, c.budget)
		}
	}
	// Each entry costs 1000 + its headers + entryOverhead.
	fit := int(c.budget / entry(1000).size())
	if got := c.lru.Len(); got != fit {
		t.Errorf("entries = %d, want %d", got, fit)
	}
	if got := testutil.ToFloat64(c.evictions); got != float64(20-fit) {
		t.Errorf("evictions = %v, want %d", got, 20-fit)
	}
	if _, ok := c.Get(key(0)); ok {
		t.Error("the oldest entry is still there")
	}
	if _, ok := c.Get(key(19)); !ok {
		t.Error("the newest entry is gone")
	}
	// Reading an entry makes it the most recent: it survives the next
	// eviction.
	c.Get(key(15))
	c.Put(key(100), v, entry(1000))
	if _, ok := c.Get(key(15)); !ok {
		t.Error("an entry just read was evicted")
	}
	// An answer over a quarter of the budget is not kept at all.
	c.Put(key(200), v, entry(3000))
	if _, ok := c.Get(key(200)); ok {
		t.Error("an entry over a quarter of the budget was stored")
	}
	// Replacing an entry counts its bytes once.
	before := c.bytes
	c.Put(key(100), v, entry(1000))
	if c.bytes != before {
		t.Errorf("bytes after replacing an entry = %d, want %d", c.bytes, before)
	}
}

func TestVersionChangeEmptiesTheCache(t *testing.T) {
	c, src, _, reg := newTestCache(t, 1<<20)
	v, _ := c.Version()
	c.Put(key(1), v, entry(10))
	if _, ok := c.Get(key(1)); !ok {
		t.Fatal("entry not stored")
	}
	src.v.Store(v + 1)
	if err := c.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(key(1)); ok {
		t.Error("an entry of the old version survived a version change")
	}
	if c.bytes != 0 {
		t.Errorf("bytes after a flush = %d", c.bytes)
	}
	// A request that started before the change stores nothing.
	c.Put(key(2), v, entry(10))
	if _, ok := c.Get(key(2)); ok {
		t.Error("an answer computed under the old version was stored")
	}
	if n, err := testutil.GatherAndCount(reg, "catalog_cache_hits_total", "catalog_cache_misses_total",
		"catalog_cache_evictions_total", "catalog_cache_flushes_total", "catalog_cache_bytes"); err != nil || n != 5 {
		t.Errorf("metrics: %d series, %v", n, err)
	}
	if got := testutil.ToFloat64(c.flushes); got != 1 {
		t.Errorf("flushes = %v, want 1", got)
	}
}

// TestStaleVersionStepsAside: when the version has not been read for more
// than MaxStaleness (Postgres away, the pool exhausted), the cache serves
// and stores nothing, so that it cannot lag a change by more than that.
func TestStaleVersionStepsAside(t *testing.T) {
	c, src, clk, _ := newTestCache(t, 1<<20)
	v, _ := c.Version()
	c.Put(key(1), v, entry(10))
	clk.t = clk.t.Add(MaxStaleness + time.Millisecond)
	if _, ok := c.Version(); ok {
		t.Fatal("a version polled longer ago than MaxStaleness is still fresh")
	}
	failure := errors.New("postgres away")
	src.err.Store(&failure)
	if err := c.Poll(context.Background()); err == nil {
		t.Fatal("a failed poll succeeded")
	}
	if _, ok := c.Version(); ok {
		t.Error("a failed poll made the version fresh")
	}
	src.err.Store(nil)
	if err := c.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, ok := c.Version(); !ok || got != v {
		t.Errorf("version after a good poll = %d, %v", got, ok)
	}
}

// TestInvalidate: after Invalidate the cache serves and stores nothing
// until a poll that started after it, not one already under way.
func TestInvalidate(t *testing.T) {
	c, src, _, _ := newTestCache(t, 1<<20)
	v, _ := c.Version()
	c.Put(key(1), v, entry(10))
	c.mu.Lock()
	genBefore := c.gen // a poll that started before the call
	c.mu.Unlock()
	c.Invalidate()
	if _, ok := c.Version(); ok {
		t.Fatal("the version is fresh right after Invalidate")
	}
	if _, ok := c.Get(key(1)); ok {
		t.Error("an entry survived Invalidate")
	}
	c.Put(key(2), v, entry(10))
	if _, ok := c.Get(key(2)); ok {
		t.Error("an answer was stored while invalidated")
	}
	c.setVersion(src.v.Load(), c.now(), genBefore)
	if _, ok := c.Version(); ok {
		t.Error("a poll that started before Invalidate made the version fresh")
	}
	if err := c.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, ok := c.Version(); !ok || got != v {
		t.Errorf("version after the next poll = %d, %v", got, ok)
	}
}

func TestEntryMaxAge(t *testing.T) {
	c, _, clk, _ := newTestCache(t, 1<<20)
	c.maxAge = 10 * time.Second
	v, _ := c.Version()
	c.Put(key(1), v, entry(10))
	clk.t = clk.t.Add(11 * time.Second)
	if _, ok := c.Get(key(1)); ok {
		t.Error("an entry older than its max age was served")
	}
}

// TestPostgresVersion checks the triggers and the table: every committed
// transaction that changes a catalog table adds one to the version (once,
// however many statements), uncommitted and rolled-back ones add nothing,
// two transactions bumping at once do not wait for each other, and
// compacting keeps the sum.
func TestPostgresVersion(t *testing.T) {
	d := dbtest.DB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	src := Postgres{DB: d.Bun}
	version := func() int64 {
		t.Helper()
		v, err := src.Version(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	touch := func(tx bun.Tx, table string) {
		t.Helper()
		// A statement that changes no row still fires the statement trigger.
		if _, err := tx.ExecContext(ctx, "UPDATE "+table+" SET id = id WHERE false"); err != nil {
			t.Fatal(err)
		}
	}
	v0 := version()

	tx, err := d.Bun.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"products", "product_variants", "product_options", "product_images", "products"} {
		touch(tx, table)
	}
	if got := version(); got != v0 {
		t.Errorf("version before commit = %d, want %d", got, v0)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := version(); got != v0+1 {
		t.Errorf("version after one transaction = %d, want %d", got, v0+1)
	}

	tx, err = d.Bun.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	touch(tx, "product_variants")
	_ = tx.Rollback()
	if got := version(); got != v0+1 {
		t.Errorf("version after a rollback = %d, want %d", got, v0+1)
	}

	// Two open transactions bump at once: neither waits for the other.
	tx1, err := d.Bun.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx1.Rollback()
	touch(tx1, "product_variants")
	tx2, err := d.Bun.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx2.Rollback()
	quick, quickCancel := context.WithTimeout(ctx, 2*time.Second)
	defer quickCancel()
	if _, err := tx2.ExecContext(quick, "UPDATE product_variants SET id = id WHERE false"); err != nil {
		t.Fatalf("a second transaction waited for the first one's bump: %v", err)
	}
	if err := tx1.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := tx2.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := version(); got != v0+3 {
		t.Errorf("version after two concurrent transactions = %d, want %d", got, v0+3)
	}

	// The row of a backend that has ended is folded into pid 0.
	if _, err := d.Bun.ExecContext(ctx, "INSERT INTO catalog_versions (backend_pid, version) VALUES (2147483000, 5)"); err != nil {
		t.Fatal(err)
	}
	before := version()
	if err := src.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if got := version(); got != before {
		t.Errorf("version after compacting = %d, want %d", got, before)
	}
	var ended int
	if err := d.Bun.NewRaw("SELECT count(*) FROM catalog_versions WHERE backend_pid = 2147483000").Scan(ctx, &ended); err != nil {
		t.Fatal(err)
	}
	if ended != 0 {
		t.Error("the row of an ended backend was not folded")
	}
}
