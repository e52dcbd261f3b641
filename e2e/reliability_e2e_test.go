package e2e

// Faults in the service's dependencies, driven against the built binary:
// a Redis that freezes (SIGSTOP) or dies under two replicas, a database
// that refuses connections, and SIGTERM with a drain.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"

	"commerce/internal/platform/dbtest"
	"commerce/internal/platform/stripetest"
	"commerce/internal/platform/testtool"
)

// relTimeout is REDIS_TIMEOUT in these tests: above the default, so that
// a busy test machine does not make a healthy Redis look down.
const relTimeout = 100 * time.Millisecond

// relFeed is a graphql-transport-ws subscription whose events arrive on
// events, decoded as the field's object.
type relFeed struct {
	events chan relEvent
}

type relEvent struct {
	OrderNumber, Status, PaymentStatus string
	MissedEventsPossible               bool
}

// relSubscribe opens a websocket to s, subscribes to query (whose one root
// field is field) and relays its events until the test ends.
func relSubscribe(t *testing.T, s *e2eServer, token, field, query string, vars map[string]any) *relFeed {
	t.Helper()
	conn := hostileWSDial(t, s, "graphql-transport-ws")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	write := func(v any) {
		b, _ := json.Marshal(v)
		if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatalf("websocket write: %v", err)
		}
	}
	init := map[string]any{"type": "connection_init"}
	if token != "" {
		init["payload"] = map[string]any{"Authorization": "Bearer " + token}
	}
	write(init)
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	_, data, err := conn.Read(rctx)
	rcancel()
	if err != nil || !strings.Contains(string(data), `"connection_ack"`) {
		t.Fatalf("connection_init: %s %v", data, err)
	}
	write(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": query, "variables": vars}})
	f := &relFeed{events: make(chan relEvent, 1000)}
	go func() {
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				return
			}
			var m struct {
				Type    string
				Payload struct {
					Data   map[string]relEvent
					Errors []gqlError
				}
			}
			if json.Unmarshal(data, &m) != nil || m.Type == "ping" || m.Type == "pong" {
				continue
			}
			if m.Type != "next" || len(m.Payload.Errors) > 0 {
				t.Errorf("subscription %s on %s: %s", field, s.name, data)
				return
			}
			f.events <- m.Payload.Data[field]
		}
	}()
	return f
}

// next returns the next event, failing the test after within.
func (f *relFeed) next(t *testing.T, within time.Duration, what string) relEvent {
	t.Helper()
	select {
	case e := <-f.events:
		return e
	case <-time.After(within):
		t.Fatalf("%s: no event within %s", what, within)
	}
	return relEvent{}
}

// until returns the events up to and including the first that match
// accepts, failing the test after within.
func (f *relFeed) until(t *testing.T, within time.Duration, what string, match func(relEvent) bool) []relEvent {
	t.Helper()
	deadline := time.Now().Add(within)
	var got []relEvent
	for {
		e := f.next(t, time.Until(deadline), what)
		got = append(got, e)
		if match(e) {
			return got
		}
	}
}

// drain forgets the events received so far.
func (f *relFeed) drain() {
	for {
		select {
		case <-f.events:
		default:
			return
		}
	}
}

// relReady GETs /readyz and returns the status and body.
func relReady(t *testing.T, s *e2eServer) (int, string) {
	t.Helper()
	res, err := s.http.Get(s.base + "/readyz")
	if err != nil {
		t.Errorf("GET /readyz on %s: %v", s.name, err)
		return 0, ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// relWaitRedis waits until s reports Redis in state ("up", "down").
func relWaitRedis(t *testing.T, s *e2eServer, state string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := relReady(t, s)
		if code == http.StatusOK && strings.Contains(body, "redis: "+state) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /readyz %d %q after 20s, want 200 with redis: %s", s.name, code, body, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// relLoad is what one round of traffic measured.
type relLoad struct {
	catalog, checkout []time.Duration
	orders            []string
}

const relCatalogQuery = `{ products(first: 10) { edges { node { id name price { amount } availableQuantity } } } }`

// round sends a catalog query and a checkout to each server, and reads
// /readyz; every request must succeed.
func (l *relLoad) round(t *testing.T, productID string, servers ...*e2eServer) {
	t.Helper()
	for _, s := range servers {
		start := time.Now()
		r := quotaPost(t, s, nil, "", relCatalogQuery, nil)
		l.catalog = append(l.catalog, time.Since(start))
		if r.status != http.StatusOK || len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"edges":[{`) {
			t.Errorf("catalog on %s: %d %+v %.200s", s.name, r.status, r.Errors, r.Data)
		}
		start = time.Now()
		r = quotaPost(t, s, nil, "", checkoutMutation, quotaCheckoutInput(productID, buyerEmail(), "rel-"+randHex(8)))
		l.checkout = append(l.checkout, time.Since(start))
		var out struct{ Checkout checkoutResult }
		_ = json.Unmarshal(r.Data, &out)
		if r.status != http.StatusOK || len(r.Errors) > 0 || out.Checkout.Order == nil {
			t.Errorf("checkout on %s: %d %+v %.200s", s.name, r.status, r.Errors, r.Data)
		} else {
			l.orders = append(l.orders, out.Checkout.Order.OrderNumber)
		}
		if code, body := relReady(t, s); code != http.StatusOK {
			t.Errorf("/readyz on %s: %d %q, want 200", s.name, code, body)
		}
	}
}

func relMedian(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// relWithinNormal checks that the latencies under a fault stay within the
// normal ones plus the Redis timeout: the median tightly, the slowest
// generously (a busy test machine has outliers of its own). A request that
// waited for go-redis's own timeouts took seconds.
func relWithinNormal(t *testing.T, what string, normal, faulty []time.Duration) {
	t.Helper()
	medianBound := relMedian(normal) + relTimeout + 250*time.Millisecond
	maxBound := slices.Max(normal) + relTimeout + time.Second
	t.Logf("%s: normal median %s max %s; under the fault median %s max %s", what,
		relMedian(normal).Round(time.Millisecond), slices.Max(normal).Round(time.Millisecond),
		relMedian(faulty).Round(time.Millisecond), slices.Max(faulty).Round(time.Millisecond))
	if m := relMedian(faulty); m > medianBound {
		t.Errorf("%s: median latency %s under the fault, want at most %s", what, m, medianBound)
	}
	if m := slices.Max(faulty); m > maxBound {
		t.Errorf("%s: slowest request %s under the fault, want at most %s", what, m, maxBound)
	}
}

// relLoginThrottled makes 11 wrong sign-ins for one email on s: the first
// 10 are checked (QUOTA_LOGIN=10/15m), the 11th refused.
func relLoginThrottled(t *testing.T, s *e2eServer) {
	t.Helper()
	email := "nobody-" + randHex(4) + "@example.com"
	for i := 1; i <= 11; i++ {
		r := quotaPost(t, s, nil, "", `mutation($e: String!) { staffLogin(email: $e, password: "wrong-password") { token userErrors { code } } }`,
			map[string]any{"e": email})
		limited := slices.Equal(r.codes(), []string{"RATE_LIMITED"})
		switch {
		case i <= 10 && (len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"userErrors":[{`)):
			t.Fatalf("sign-in %d on %s: %d %+v %s, want a userError", i, s.name, r.status, r.Errors, r.Data)
		case i == 11 && !limited:
			t.Fatalf("sign-in 11 on %s with Redis unavailable: %+v %s, want RATE_LIMITED", s.name, r.Errors, r.Data)
		}
	}
}

// relAfterReturn checks the live feed once Redis is back: the staff feed
// on B first receives an event marked missedEventsPossible, at the latest
// with the first new order, then every new order; the orderStatusChanged
// subscriber has been sent its order's current state again, so marked.
func relAfterReturn(t *testing.T, a, b *e2eServer, productID string, feed, watch *relFeed, watched string) {
	t.Helper()
	resent := watch.until(t, 20*time.Second, "orderStatusChanged resent after Redis came back",
		func(e relEvent) bool { return e.MissedEventsPossible })
	if e := resent[len(resent)-1]; e.OrderNumber != watched || e.Status == "" {
		t.Errorf("orderStatusChanged after Redis came back: %+v, want %s's current state", e, watched)
	}
	var load relLoad
	load.round(t, productID, a)
	first := load.orders[0]
	got := feed.until(t, 10*time.Second, "orderUpdates on B after Redis came back",
		func(e relEvent) bool { return e.OrderNumber == first })
	if !slices.ContainsFunc(got, func(e relEvent) bool { return e.MissedEventsPossible }) {
		t.Errorf("no orderUpdates event on B marked missedEventsPossible after Redis came back: %+v", got)
	}
	for range 3 {
		load.round(t, productID, a, b)
	}
	want := map[string]bool{}
	for _, n := range load.orders[1:] {
		want[n] = true
	}
	for len(want) > 0 {
		e := feed.next(t, 10*time.Second, "orderUpdates on B: every new order")
		delete(want, e.OrderNumber)
	}
}

// Redis frozen (SIGSTOP), then killed, under two replicas: catalog reads
// and checkouts on both stay within their normal latency plus
// REDIS_TIMEOUT and never fail, /readyz stays 200, login throttling still
// refuses the 11th attempt (in process), and once Redis is back a
// subscriber on B hears that events may have been missed, then of every
// new order placed on either replica. Each outage is logged once, and
// only in the service's JSON log.
func TestE2ERedisFrozenAndKilled(t *testing.T) {
	rs := testtool.StartRedis(t)
	deps := startDeps(t, false)
	env := deps.env(t, map[string]string{
		"REDIS_URL": rs.URL(), "REDIS_PREFIX": dbtest.RedisPrefix() + "rel-" + randHex(4) + ":",
		"REDIS_TIMEOUT": relTimeout.String(), "QUOTA_LOGIN": "10/15m",
	})
	a := startServer(t, "rel-A", env)
	b := startServer(t, "rel-B", env)
	staff := a.staffLogin(t)
	p := a.createProduct(t, staff, "5.00", 100000)
	watched := a.checkout(t, buyerEmail(), "rel-watched-"+randHex(6), map[string]int{p.ID: 1})
	feed := relSubscribe(t, b, staff, "orderUpdates", `subscription { orderUpdates { orderNumber status paymentStatus missedEventsPossible } }`, nil)
	watch := relSubscribe(t, b, "", "orderStatusChanged",
		`subscription($n: String!, $tok: String) { orderStatusChanged(orderNumber: $n, accessToken: $tok) { orderNumber status paymentStatus missedEventsPossible } }`,
		map[string]any{"n": watched.Order.OrderNumber, "tok": *watched.OrderAccessToken})
	if e := watch.next(t, 10*time.Second, "orderStatusChanged's first message"); e.OrderNumber == "" || e.MissedEventsPossible {
		t.Fatalf("first orderStatusChanged message %+v marked missedEventsPossible", e)
	}
	relWaitRedis(t, a, "up")
	relWaitRedis(t, b, "up")

	var normal relLoad
	for range 5 {
		normal.round(t, p.ID, a, b)
	}
	last := normal.orders[len(normal.orders)-1]
	got := feed.until(t, 10*time.Second, "orderUpdates with Redis up", func(e relEvent) bool { return e.OrderNumber == last })
	if slices.ContainsFunc(got, func(e relEvent) bool { return e.MissedEventsPossible }) {
		t.Errorf("an event marked missedEventsPossible with Redis up: %+v", got)
	}
	warnsBefore := map[*e2eServer]int{a: strings.Count(a.out.String(), `"level":"WARN"`), b: strings.Count(b.out.String(), `"level":"WARN"`)}

	t.Run("frozen", func(t *testing.T) {
		rs.Freeze()
		var frozen relLoad
		for range 5 {
			frozen.round(t, p.ID, a, b)
		}
		relLoginThrottled(t, a)
		relWithinNormal(t, "catalog", normal.catalog, frozen.catalog)
		relWithinNormal(t, "checkout", normal.checkout, frozen.checkout)
		if _, body := relReady(t, a); !strings.Contains(body, "redis: down") {
			t.Errorf("/readyz on A with Redis frozen: %q, want redis: down reported", body)
		}
		rs.Thaw()
		relWaitRedis(t, a, "up")
		relWaitRedis(t, b, "up")
		relAfterReturn(t, a, b, p.ID, feed, watch, watched.Order.OrderNumber)
		feed.drain()
		watch.drain()
	})

	t.Run("killed", func(t *testing.T) {
		rs.Stop()
		var down relLoad
		for range 5 {
			down.round(t, p.ID, a, b)
		}
		relLoginThrottled(t, b)
		relWithinNormal(t, "catalog", normal.catalog, down.catalog)
		relWithinNormal(t, "checkout", normal.checkout, down.checkout)
		rs.Start()
		relWaitRedis(t, a, "up")
		relWaitRedis(t, b, "up")
		relAfterReturn(t, a, b, p.ID, feed, watch, watched.Order.OrderNumber)
	})

	// One line when Redis went away and one when it came back, per outage
	// and replica, not one per request (each replica served some 30
	// requests per outage). A busy machine may make Redis miss the timeout
	// once more right after it is back, which is an outage of its own.
	for _, s := range []*e2eServer{a, b} {
		out := s.out.String()
		down := strings.Count(out, `"msg":"redis unavailable`)
		up := strings.Count(out, `"msg":"redis available again"`)
		warns := strings.Count(out, `"level":"WARN"`) - warnsBefore[s]
		if down < 2 || down > 4 || up != down || warns != down {
			t.Errorf("%s logged %d redis-unavailable, %d redis-available and %d WARN lines for 2 outages, want one of each per outage",
				s.name, down, up, warns)
		}
		// go-redis's own lines (failed dials, a dropped pub/sub
		// connection) go through the service's JSON logger too.
		for line := range strings.Lines(out) {
			if strings.TrimSpace(line) != "" && !json.Valid([]byte(line)) {
				t.Errorf("%s wrote a line outside its JSON log: %q", s.name, line)
			}
		}
	}
}

// relDatabase blocks and restores connections to the test's database.
type relDatabase struct {
	admin *pgx.Conn
	name  string
}

func relOpenDatabase(t *testing.T) *relDatabase {
	t.Helper()
	u, err := url.Parse(dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(context.Background(), dbtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	d := &relDatabase{admin: admin, name: strings.TrimPrefix(u.Path, "/")}
	t.Cleanup(func() {
		d.exec(t, "ALTER DATABASE "+pgx.Identifier{d.name}.Sanitize()+" WITH ALLOW_CONNECTIONS true")
		_ = admin.Close(context.Background())
	})
	return d
}

func (d *relDatabase) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := d.admin.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// block refuses new connections and terminates every open one, as a
// database restart or failover does.
func (d *relDatabase) block(t *testing.T) {
	d.exec(t, "ALTER DATABASE "+pgx.Identifier{d.name}.Sanitize()+" WITH ALLOW_CONNECTIONS false")
	d.exec(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", d.name)
}

func (d *relDatabase) restore(t *testing.T) {
	d.exec(t, "ALTER DATABASE "+pgx.Identifier{d.name}.Sanitize()+" WITH ALLOW_CONNECTIONS true")
}

// relWantUnavailable checks a response refused for a database outage:
// HTTP 503 with Retry-After, every error SERVICE_UNAVAILABLE, nothing else
// said.
func relWantUnavailable(t *testing.T, what string, r quotaReply) {
	t.Helper()
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Errorf("%s: HTTP %d, Retry-After %q; want 503 with Retry-After", what, r.status, r.header.Get("Retry-After"))
	}
	if len(r.Errors) == 0 {
		t.Fatalf("%s: no errors, data %.200s", what, r.Data)
	}
	for _, e := range r.Errors {
		if e.Extensions["code"] != "SERVICE_UNAVAILABLE" || e.Extensions["retryAfterSeconds"] == nil {
			t.Errorf("%s: error %+v, want SERVICE_UNAVAILABLE with retryAfterSeconds", what, e)
		}
		if strings.Contains(e.Message, "pg_") || strings.Contains(e.Message, "database \"") || strings.Contains(e.Message, "127.0.0.1") {
			t.Errorf("%s: the message says too much: %q", what, e.Message)
		}
	}
}

// A database outage (connections terminated, new ones refused) reaches
// clients as SERVICE_UNAVAILABLE with HTTP 503 and Retry-After, never as an
// internal error; /readyz says the replica is not ready; and the first
// requests after the database is back are answered normally.
func TestE2EPostgresOutage(t *testing.T) {
	deps := startDeps(t, true)
	srv := startServer(t, "rel-pg", deps.env(t, nil))
	staff := srv.staffLogin(t)
	p := srv.createProduct(t, staff, "5.00", 1000)
	pg := relOpenDatabase(t)
	var before relLoad
	before.round(t, p.ID, srv)

	pg.block(t)
	for i := range 3 {
		// A read the catalog cache has not seen (a named operation of
		// its own): one that it holds may still be answered from memory
		// for as long as its version is fresh (docs/api.md, Caching and
		// CDNs).
		outageQuery := fmt.Sprintf("query Outage%d %s", i, relCatalogQuery)
		relWantUnavailable(t, "catalog during the outage", quotaPost(t, srv, nil, "", outageQuery, nil))
		relWantUnavailable(t, "checkout during the outage", quotaPost(t, srv, nil, "", checkoutMutation,
			quotaCheckoutInput(p.ID, buyerEmail(), "rel-pg-"+randHex(8))))
		if code, _ := relReady(t, srv); code != http.StatusServiceUnavailable {
			t.Errorf("/readyz during the outage (%d): %d, want 503", i+1, code)
		}
	}
	// Stripe is told to retry the webhook later, not that the service broke.
	ghost := stripetest.PaymentIntentObject("pi_rel_outage", randomUUID(), "ORD-NOSUCHORDER", 100, "usd")
	if code := srv.sendEvent(t, "payment_intent.succeeded", ghost); code != http.StatusServiceUnavailable {
		t.Errorf("webhook during the outage: %d, want 503", code)
	}

	pg.restore(t)
	var after relLoad
	after.round(t, p.ID, srv)
	if code := srv.sendEvent(t, "payment_intent.succeeded", ghost); code != http.StatusOK {
		t.Errorf("the webhook retried after the outage: %d, want 200", code)
	}
	if t.Failed() {
		t.Fatal("requests right after the database came back failed")
	}
	if strings.Contains(srv.out.String(), `"msg":"graphql: internal error"`) {
		t.Error("the outage was logged as internal errors")
	}
}

// SIGTERM: /readyz answers 503 at once, the listener keeps serving new
// connections for SHUTDOWN_DRAIN and refuses them only after it, and a
// request in flight at the signal completes even after the listener
// closed.
func TestE2EShutdownDrain(t *testing.T) {
	const drain = 1500 * time.Millisecond
	deps := startDeps(t, false)
	srv := startServer(t, "rel-drain", deps.env(t, map[string]string{"SHUTDOWN_DRAIN": drain.String()}))
	fresh := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	// In flight: a request whose body is still arriving.
	body, sendRest := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, srv.base+"/graphql", body)
	req.Header.Set("Content-Type", "application/json")
	type reply struct {
		status int
		body   string
		err    error
	}
	inflight := make(chan reply, 1)
	go func() {
		res, err := fresh.Do(req)
		if err != nil {
			inflight <- reply{err: err}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		inflight <- reply{status: res.StatusCode, body: string(b)}
	}()
	if _, err := sendRest.Write([]byte(`{"query": "{ products(first: 1) `)); err != nil {
		t.Fatal(err)
	}

	signalled := time.Now()
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	unready, served := time.Time{}, 0
	var refused time.Time
	for refused.IsZero() {
		if time.Since(signalled) > drain+10*time.Second {
			t.Fatal("the listener still accepts connections 10s after the drain")
		}
		res, err := fresh.Get(srv.base + "/readyz")
		if err != nil {
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("GET /readyz during the shutdown: %v, want an answer or a refused connection", err)
			}
			refused = time.Now()
			break
		}
		res.Body.Close()
		switch {
		case res.StatusCode == http.StatusServiceUnavailable && unready.IsZero():
			unready = time.Now()
		case res.StatusCode == http.StatusOK && !unready.IsZero():
			t.Fatal("/readyz went back to 200 during the drain")
		}
		// New connections are still served during the drain; the drain
		// may end between the probe above and this request.
		body, _ := json.Marshal(map[string]string{"query": relCatalogQuery})
		res, err = fresh.Post(srv.base+"/graphql", "application/json", bytes.NewReader(body))
		if err != nil {
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("POST /graphql during the shutdown: %v, want an answer or a refused connection", err)
			}
			refused = time.Now()
			break
		}
		answer, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusOK && !bytes.Contains(answer, []byte(`"errors"`)) {
			served++
		}
		time.Sleep(50 * time.Millisecond)
	}
	if unready.IsZero() || unready.Sub(signalled) > 500*time.Millisecond {
		t.Errorf("/readyz turned 503 %s after SIGTERM, want at once", unready.Sub(signalled))
	}
	if d := refused.Sub(signalled); d < drain {
		t.Errorf("connections refused %s after SIGTERM, want only after SHUTDOWN_DRAIN=%s", d, drain)
	}
	if served == 0 {
		t.Error("no request on a new connection was served during the drain")
	}
	t.Logf("503 after %s, %d requests served during the drain, refused after %s",
		unready.Sub(signalled).Round(time.Millisecond), served, refused.Sub(signalled).Round(time.Millisecond))

	if _, err := sendRest.Write([]byte(`{ edges { node { id } } } }"}`)); err != nil {
		t.Fatalf("finish the in-flight request: %v", err)
	}
	_ = sendRest.Close()
	select {
	case r := <-inflight:
		if r.err != nil || r.status != http.StatusOK || !strings.Contains(r.body, `"edges"`) {
			t.Fatalf("the request in flight at SIGTERM: %d %q %v, want its answer", r.status, r.body, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request in flight at SIGTERM got no answer")
	}
	select {
	case <-srv.exited:
		if code := srv.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit code %d after SIGTERM", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the process did not exit after the drain")
	}
}
