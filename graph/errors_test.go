package graph_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"commerce/internal/platform/dbtest"
)

// lockedBuffer is a log destination safe for the handler's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A request whose client goes away while its resolver waits on the
// database fails there with "context canceled": that is logged at debug
// level, not as an error. A request that runs out of time there is still
// an error.
func TestClientCancelIsNotAnError(t *testing.T) {
	logs := &lockedBuffer{}
	b := setupWithLog(t, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	seedProducts(t, b.catalog, 1)

	client, leave := context.WithCancel(context.Background())
	whileWaiting(t, b, client, leave)
	got := logs.String()
	if strings.Contains(got, "level=ERROR") {
		t.Errorf("a canceled request was logged as an error:\n%s", got)
	}
	if !strings.Contains(got, "canceled by the client") {
		t.Fatalf("the canceled request never reached the error presenter:\n%s", got)
	}

	slow, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	whileWaiting(t, b, slow, func() { <-slow.Done() })
	if got := logs.String(); !strings.Contains(got, "level=ERROR") || !strings.Contains(got, "deadline exceeded") {
		t.Errorf("a request that ran out of time was not logged as an error:\n%s", got)
	}
}

// whileWaiting sends a catalog query with ctx, holds it behind a lock on
// the products table, runs then once the query waits there, and returns
// when the request has ended.
func whileWaiting(t *testing.T, b *bundle, ctx context.Context, then func()) {
	t.Helper()
	bg := context.Background()
	d := dbtest.DB(t)
	lock, err := d.Pool.Begin(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Rollback(bg) }()
	if _, err := lock.Exec(bg, "LOCK TABLE products IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{"query": "{ products(first: 1) { totalCount } }"}`))
		req.Header.Set("Content-Type", "application/json")
		b.handler.ServeHTTP(httptest.NewRecorder(), req.WithContext(ctx))
	}()
	for waiting := false; !waiting; {
		if err := d.Pool.QueryRow(bg, `select exists (select from pg_locks where relation = 'products'::regclass and not granted)`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
			t.Fatal("the request ended before it waited for the products table")
		case <-time.After(10 * time.Millisecond):
		}
	}
	then()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not end")
	}
}
