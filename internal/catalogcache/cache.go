// Package catalogcache holds the responses of anonymous catalog reads in
// memory, bounded in bytes, for as long as the catalog does not change.
//
// The catalog's version lives in Postgres (the catalog_versions table,
// which statement triggers on the catalog's tables bump in the changing
// transaction) and every replica polls it every PollInterval. A change
// empties the cache. An entry is served only while the last successful
// poll started less than MaxStaleness ago, so a cached answer is never more
// than MaxStaleness behind a committed change, whether or not Redis or the
// poll itself is working: without a fresh version the cache steps aside.
package catalogcache

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/uptrace/bun"
)

const (
	// PollInterval is how often a replica reads the catalog's version.
	PollInterval = 200 * time.Millisecond
	// MaxStaleness bounds how old the last successful poll may be for the
	// cache to serve or store anything: a few polls, well under the 1 s
	// that a cached answer may lag behind a committed change.
	MaxStaleness = 750 * time.Millisecond
	// MaxEntryAge bounds an entry's life even in a catalog that does not
	// change (see Config.MaxEntryAge).
	MaxEntryAge = time.Minute
	// compactEvery is how often a replica compacts the version source
	// (Postgres folds the rows of backends that have ended).
	compactEvery = 5 * time.Minute
	// entryOverhead approximates what an entry costs besides its body:
	// the key, the ETag, the list element and the map slot.
	entryOverhead = 256
)

// Key identifies a response: a hash of the normalised document, the
// operation name, the variables and the catalog version.
type Key [32]byte

// Entry is a cached response: its body gzip-compressed, its ETag and
// Content-Type. Answers are JSON, which shrinks several times: the budget
// holds that many more of them (and the garbage collector marks and keeps
// that much less), and a client that accepts gzip gets them as they are.
type Entry struct {
	Gzip        []byte
	Size        int // of the body decompressed
	ETag        string
	ContentType string
	stored      time.Time
}

func (e *Entry) size() int64 {
	return int64(len(e.Gzip)+len(e.ETag)+len(e.ContentType)) + entryOverhead
}

// Config sizes a Cache.
type Config struct {
	// Budget bounds the bytes of the entries (CATALOG_CACHE_BYTES, > 0).
	Budget int64
	// MaxEntryAge, when below MaxEntryAge, bounds an entry's life: the
	// signed image URLs in an answer stay valid for IMAGE_URL_TTL at
	// least, so the service passes half of it.
	MaxEntryAge time.Duration
}

// Cache is the byte-bounded LRU of responses of one catalog version.
type Cache struct {
	src    Source
	log    *slog.Logger
	budget int64
	maxAge time.Duration
	now    func() time.Time

	// polled is the last successful poll: the version it read and when
	// it started.
	polled atomic.Pointer[polledVersion]

	mu      sync.Mutex
	lru     *simplelru.LRU[Key, *Entry]
	bytes   int64
	version int64  // the version the entries belong to
	gen     uint64 // counts Invalidate calls

	hits, misses, evictions, flushes prometheus.Counter
	size                             prometheus.GaugeFunc
}

type polledVersion struct {
	version int64
	at      time.Time
}

// Source is where the catalog version is read.
type Source interface {
	// Version is the catalog's current version: it changes with every
	// committed change of the catalog.
	Version(ctx context.Context) (int64, error)
	// Compact tidies the source up; it runs every few minutes.
	Compact(ctx context.Context) error
}

// New returns a cache whose version is read from src; it serves nothing
// until it has polled once (Run, Poll). reg may be nil.
func New(src Source, cfg Config, reg prometheus.Registerer, log *slog.Logger) *Cache {
	maxAge := MaxEntryAge
	if cfg.MaxEntryAge > 0 {
		maxAge = min(maxAge, cfg.MaxEntryAge)
	}
	c := &Cache{src: src, log: log, budget: cfg.Budget, maxAge: maxAge, now: time.Now}
	c.lru = newLRU()
	c.hits = prometheus.NewCounter(prometheus.CounterOpts{Name: "catalog_cache_hits_total",
		Help: "Anonymous catalog reads answered from the response cache."})
	c.misses = prometheus.NewCounter(prometheus.CounterOpts{Name: "catalog_cache_misses_total",
		Help: "Cacheable anonymous catalog reads that were executed (not in the cache, or the catalog version was not fresh)."})
	c.evictions = prometheus.NewCounter(prometheus.CounterOpts{Name: "catalog_cache_evictions_total",
		Help: "Responses evicted from the catalog cache to stay within CATALOG_CACHE_BYTES."})
	c.flushes = prometheus.NewCounter(prometheus.CounterOpts{Name: "catalog_cache_flushes_total",
		Help: "Times the catalog cache was emptied because the catalog version changed."})
	c.size = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "catalog_cache_bytes",
		Help: "Bytes held by the catalog cache (bodies plus an estimate of each entry's overhead)."},
		func() float64 { c.mu.Lock(); defer c.mu.Unlock(); return float64(c.bytes) })
	if reg != nil {
		reg.MustRegister(c.hits, c.misses, c.evictions, c.flushes, c.size)
	}
	return c
}

func newLRU() *simplelru.LRU[Key, *Entry] {
	// The bound that matters is the byte budget, enforced in Put; the
	// count bound only has to be out of its way.
	l, err := simplelru.NewLRU[Key, *Entry](1<<30, nil)
	if err != nil {
		panic(err) // only for a size ≤ 0
	}
	return l
}

// Version is the catalog version to key a request by, and false when the
// last successful poll is too old for the cache to be used at all.
func (c *Cache) Version() (int64, bool) {
	p := c.polled.Load()
	if p == nil || c.now().Sub(p.at) > MaxStaleness {
		return 0, false
	}
	return p.version, true
}

// Get returns the entry stored under key, if any and not too old. The
// caller has checked Version; a key holds its version, so an entry of an
// older version is never found under a newer key.
func (c *Cache) Get(key Key) (*Entry, bool) {
	c.mu.Lock()
	e, ok := c.lru.Get(key)
	if ok && c.now().Sub(e.stored) > c.maxAge {
		c.lru.Remove(key)
		c.bytes -= e.size()
		ok = false
	}
	c.mu.Unlock()
	// Counted outside the lock every hit takes: the counters are atomic.
	if !ok {
		c.misses.Inc()
		return nil, false
	}
	c.hits.Inc()
	return e, true
}

// Miss counts a cacheable read that could not look in the cache (no fresh
// version).
func (c *Cache) Miss() { c.misses.Inc() }

// Put stores e under key, computed with version; it is dropped when the
// catalog has moved on since (the request started before a change) or
// when it is larger than a quarter of the budget. Older entries are
// evicted until the cache fits its budget.
func (c *Cache) Put(key Key, version int64, e *Entry) {
	e.stored = c.now()
	n := e.size()
	if n > c.budget/4 {
		return
	}
	if v, ok := c.Version(); !ok || v != version {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if version != c.version {
		return
	}
	if old, ok := c.lru.Peek(key); ok {
		c.bytes -= old.size()
	}
	c.lru.Add(key, e)
	c.bytes += n
	for c.bytes > c.budget {
		_, old, ok := c.lru.RemoveOldest()
		if !ok {
			break
		}
		c.bytes -= old.size()
		c.evictions.Inc()
	}
}

// setVersion records a successful poll that started at at, unless the
// cache was invalidated since (gen is the generation the poll started
// in); a new version empties the cache.
func (c *Cache) setVersion(version int64, at time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if version != c.version {
		c.version = version
		c.flush()
	}
	// Published after the flush, so that no request keys by the new
	// version while entries of the old one are still there.
	c.polled.Store(&polledVersion{version: version, at: at})
}

func (c *Cache) flush() {
	if c.lru.Len() > 0 {
		c.lru = newLRU()
		c.bytes = 0
		c.flushes.Inc()
	}
}

// Invalidate empties the cache and keeps it aside until a poll that
// starts after this call has read the version. The service calls it after
// each staff mutation: a staff user who changes the catalog on one
// replica reads the change there at once (on the others, within the
// poll's bound).
func (c *Cache) Invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.flush()
	c.polled.Store(nil)
}

// Poll reads the catalog version once; a new one empties the cache.
func (c *Cache) Poll(ctx context.Context) error {
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	start := c.now()
	ctx, cancel := context.WithTimeout(ctx, MaxStaleness)
	defer cancel()
	v, err := c.src.Version(ctx)
	if err != nil {
		return err
	}
	c.setVersion(v, start, gen)
	return nil
}

// Run polls the catalog version every PollInterval until ctx ends, and
// every few minutes compacts the source.
func (c *Cache) Run(ctx context.Context) {
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	failing := false
	lastCompact := c.now()
	for {
		err := c.Poll(ctx)
		switch {
		case err == nil:
			if failing {
				c.log.InfoContext(ctx, "catalog cache: the catalog version is read again")
			}
			failing = false
		case ctx.Err() != nil:
			return
		case !failing:
			// Logged once per outage; the cache steps aside meanwhile.
			c.log.WarnContext(ctx, "catalog cache: read the catalog version", "err", err)
			failing = true
		}
		if err == nil && c.now().Sub(lastCompact) > compactEvery {
			lastCompact = c.now()
			if err := c.src.Compact(ctx); err != nil && ctx.Err() == nil {
				c.log.WarnContext(ctx, "catalog cache: compact the catalog version", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Postgres reads the version from the catalog_versions table, which
// statement triggers on the catalog's tables bump (see its migration).
type Postgres struct{ DB bun.IDB }

// Version is the sum of the backends' counts.
func (p Postgres) Version(ctx context.Context) (int64, error) {
	var v int64
	if err := p.DB.NewRaw(`SELECT coalesce(sum(version), 0)::bigint FROM catalog_versions`).Scan(ctx, &v); err != nil {
		return 0, fmt.Errorf("read the catalog version: %w", err)
	}
	return v, nil
}

// Compact moves the counts of backends that have ended into the row of
// pid 0, in one statement, so that the sum (the version) never moves back
// and the table stays about as small as the set of live backends. A
// backend that starts meanwhile with a recycled pid only adds to the sum.
func (p Postgres) Compact(ctx context.Context) error {
	_, err := p.DB.NewRaw(`WITH ended AS (
		DELETE FROM catalog_versions
		WHERE backend_pid <> 0 AND backend_pid NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)
		RETURNING version)
	UPDATE catalog_versions SET version = version + (SELECT coalesce(sum(version), 0) FROM ended)
	WHERE backend_pid = 0`).Exec(ctx)
	if err != nil {
		return fmt.Errorf("fold the catalog versions of ended backends: %w", err)
	}
	return nil
}
