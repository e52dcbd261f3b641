package webhooks_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"commerce/internal/jobs"
	"commerce/internal/platform/db"
	"commerce/internal/platform/dbtest"
	"commerce/internal/webhooks"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }

// clock is a settable time for signatures and rotations.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// received is one request the receiver got.
type received struct {
	Header http.Header
	Body   []byte
}

// receiver is a local webhook endpoint that answers with the statuses it is
// given, in turn (200 once they run out), and keeps what it received.
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	statuses []int
	got      []received
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{statuses: statuses}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{Header: req.Header.Clone(), Body: b})
		status := http.StatusOK
		if len(r.statuses) > 0 {
			status, r.statuses = r.statuses[0], r.statuses[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// bundle is what a test needs around the service.
type bundle struct {
	db    *db.DB
	clock *clock
}

// setup returns a service on the package database that may reach local
// receivers (WEBHOOK_ALLOW_PRIVATE), with cfg's overrides and a settable
// clock.
func setup(t *testing.T, cfg webhooks.Config) (*webhooks.Service, *bundle) {
	t.Helper()
	d := dbtest.DB(t)
	inserter, err := jobs.NewInserter(d)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Now()}
	cfg.Now = c.now
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 12
	}
	if cfg.RetryBase == 0 {
		cfg.RetryBase = 10 * time.Millisecond
	}
	if cfg.DisableAfter == 0 {
		cfg.DisableAfter = 50
	}
	svc, err := webhooks.NewService(d, inserter, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return svc, &bundle{db: d, clock: c}
}

// endpoint creates an active endpoint at url subscribed to topics.
func endpoint(t *testing.T, svc *webhooks.Service, url string, topics ...webhooks.Topic) (*webhooks.Endpoint, string) {
	t.Helper()
	e, secret, err := svc.Create(context.Background(), webhooks.EndpointInput{URL: url, Topics: topics, IsActive: true})
	if err != nil {
		t.Fatalf("create endpoint %s: %v", url, err)
	}
	return e, secret
}

// announce reports topic about orderID in a transaction of its own.
func (b *bundle) announce(t *testing.T, svc *webhooks.Service, topic webhooks.Topic, orderID string, data any) {
	t.Helper()
	err := b.db.RunInTx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
		return svc.Announce(ctx, tx, topic, orderID, func(context.Context) (any, error) { return data, nil })
	})
	if err != nil {
		t.Fatalf("announce %s: %v", topic, err)
	}
}

// deliveries lists an endpoint's deliveries, newest first.
func deliveries(t *testing.T, svc *webhooks.Service, endpointID string) []*webhooks.Delivery {
	t.Helper()
	p, err := svc.Deliveries(context.Background(), endpointID, "", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*webhooks.Delivery, len(p.Edges))
	for i, e := range p.Edges {
		out[i] = e.Node
	}
	return out
}

// verify checks a Commerce-Signature header against secret as a receiver
// would: it returns the position of the v1= value that secret signed (-1
// when none did) and how many v1= values there are.
func verify(header string, body []byte, secret string) (at, values int) {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(body)))
	want := hex.EncodeToString(m.Sum(nil))
	at = -1
	for i, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) && at < 0 {
			at = i
		}
	}
	return at, len(sigs)
}

func newOrderID() string { return uuid.NewString() }
