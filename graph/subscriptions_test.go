package graph_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"commerce/graph"
	"commerce/internal/auth"
	"commerce/internal/carts"
	"commerce/internal/catalog"
	"commerce/internal/customers"
	"commerce/internal/inventory"
	"commerce/internal/jobs"
	"commerce/internal/money"
	"commerce/internal/notify"
	"commerce/internal/orders"
	"commerce/internal/payments"
	"commerce/internal/payments/paymentdummy"
	"commerce/internal/platform/db"
	"commerce/internal/platform/dbtest"
	"commerce/internal/platform/redisguard"
	"commerce/internal/pricing"
	"commerce/internal/realtime"
)

// ---------------------------------------------------------------- replicas

// liveSecret is AUTH_SECRET for every replica of a test: tokens issued by
// one verify on the other, and so do order access tokens.
var liveSecret = []byte(strings.Repeat("s", 32))

// liveReplica is one server process: its own services, its own hub on
// the shared Redis, the GraphQL handler on its own port, the shared
// database.
type liveReplica struct {
	name   string
	api    *bundle // url, tokens, catalog and staff, for the HTTP helpers of graph_test.go
	wsURL  string
	hub    *realtime.Hub
	reg    *prometheus.Registry // the hub's metrics
	orders *orders.Service
}

type liveEnv struct {
	a, b   *liveReplica
	prefix string // REDIS_PREFIX shared by the replicas
}

func livePrefix() string {
	return dbtest.RedisPrefix() + "live-" + strings.ToLower(rand.Text()[:8]) + ":"
}

// liveSetup starts two replicas, A and B, on the same database and the same
// Redis channels, as two processes behind a load balancer would be.
func liveSetup(t testing.TB) *liveEnv {
	t.Helper()
	prefix := livePrefix()
	return &liveEnv{a: newLiveReplica(t, "A", prefix), b: newLiveReplica(t, "B", prefix), prefix: prefix}
}

// newLiveReplica wires the services as server.go's wire() does: the hub
// publishes order status changes and low-stock alerts; payments go to the
// dummy provider, whose confirmation job is never worked here, so tests
// drive payment through orders.Service.HandlePaymentEvent.
func newLiveReplica(t testing.TB, name, prefix string) *liveReplica {
	t.Helper()
	return newLiveReplicaLog(t, name, prefix, slog.New(slog.DiscardHandler))
}

func newLiveReplicaLog(t testing.TB, name, prefix string, log *slog.Logger) *liveReplica {
	t.Helper()
	d := dbtest.DB(t)

	opts, err := redis.ParseURL(dbtest.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	reg := prometheus.NewRegistry()
	// A generous bound: a busy test machine must not trip the guard.
	guard := redisguard.New(rdb, 5*time.Second, log, reg)
	t.Cleanup(guard.Close)
	hub := realtime.New(guard, prefix, log, reg)
	channel := prefix + realtime.TopicOrders
	numSub := func() (int64, error) {
		m, err := rdb.PubSubNumSub(context.Background(), channel).Result()
		return m[channel], err
	}
	before, err := numSub()
	if err != nil {
		t.Fatalf("replica %s: Redis on %s: %v", name, opts.Addr, err)
	}
	hub.Start(context.Background())
	t.Cleanup(hub.Close)
	// Start waits only briefly for Redis to confirm the subscription: make
	// sure it did, or events published next could be missed.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := numSub()
		if err == nil && n > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s: hub not subscribed on Redis %s after 10s (%v)", name, opts.Addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	services, tokens := liveServices(t, d, hub, log)
	cfg := graph.HandlerConfig{Sessions: tokens, MaxUploadBytes: 1 << 20, Log: log, Metrics: reg}
	if _, ok := t.(*testing.B); ok {
		// BenchmarkSubscribers1000 connects all its clients from
		// loopback, one network for WS_MAX_CONNECTIONS.
		cfg.WSMaxConnections = 2000
	}
	h := graph.NewHandler(graph.NewResolver(services, log), cfg)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close) // registered before any client, so it runs after the clients closed

	return &liveReplica{
		name:   name,
		api:    &bundle{url: srv.URL, tokens: tokens, catalog: services.Catalog, staff: services.Staff},
		wsURL:  "ws" + strings.TrimPrefix(srv.URL, "http"),
		hub:    hub,
		reg:    reg,
		orders: services.Orders,
	}
}

func liveServices(t testing.TB, d *db.DB, hub *realtime.Hub, log *slog.Logger) (graph.Services, *auth.Sessions) {
	t.Helper()
	inserter, err := jobs.NewInserter(d)
	if err != nil {
		t.Fatal(err)
	}
	notifier, err := notify.NewService(d, inserter, notify.LogSender{Log: log}, notify.LogSender{Log: log},
		notify.Config{From: "shop@example.com", MaxAttempts: 3, RetryBase: time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	tokens := auth.NewSessions(d, auth.NewTokens(liveSecret, time.Hour, time.Hour, time.Now))
	inv := inventory.NewService(d, notifier, inventory.Config{LowStockEmail: "stock@example.com", Live: hub})
	cat := catalog.NewService(d, inv.Ledger(), catalog.Config{StoreCurrency: "USD"})
	cs := carts.NewService(d, cat, notifier, inserter, carts.Config{Currency: "USD"})
	price := pricing.Config{
		TaxRate:               pricing.Rate{Num: 10, Den: 100},
		FreeShippingThreshold: money.New(100_00, "USD"),
		FlatShippingRate:      money.New(10_00, "USD"),
	}
	ords := orders.NewService(orders.Deps{
		DB: d, Ledger: inv.Ledger(), Carts: cs, Provider: paymentdummy.New(inserter, paymentdummy.Config{}),
		Notify: notifier, Jobs: inserter, Live: hub, Log: log,
	}, orders.Config{
		Currency: "USD", Pricing: price, PaymentTimeout: time.Hour, FulfillmentReminder: time.Hour,
		ReviewRequest: time.Hour, DeliveryFollowup: time.Hour, AccessSecret: liveSecret,
	})
	return graph.Services{
		Staff: auth.NewStaffService(d, tokens, nil, auth.StaffConfig{}), Customers: customers.NewService(d, tokens, "USD"), Catalog: cat,
		Inventory: inv, Notify: notifier, Carts: cs, Orders: ords, Pricing: price, Live: hub,
	}, tokens
}

// metric is the value of the replica's gauge or counter name (0 while it
// has no sample).
func (r *liveReplica) metric(t testing.TB, name string) int {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if c := m.GetCounter(); c != nil {
				return int(c.GetValue())
			}
			return int(m.GetGauge().GetValue())
		}
	}
	return 0
}

// subscribers is the replica's realtime_subscribers gauge: hub
// subscriptions, one per orderStatusChanged and one per shared execution
// of orderUpdates or lowStockAlerts.
func (r *liveReplica) subscribers(t testing.TB) int {
	return r.metric(t, "realtime_subscribers")
}

// broadcastSubscribers is the replica's graphql_broadcast_subscribers
// gauge: websocket subscriptions to orderUpdates and lowStockAlerts.
func (r *liveReplica) broadcastSubscribers(t testing.TB) int {
	return r.metric(t, "graphql_broadcast_subscribers")
}

// dropped counts the subscribers dropped for falling behind, by the hub or
// by a shared execution.
func (r *liveReplica) dropped(t testing.TB) int {
	return r.metric(t, "realtime_subscribers_dropped_total") + r.metric(t, "graphql_broadcast_subscribers_dropped_total")
}

// waitSubscribers waits until the hub holds n subscriptions. The resolver
// of a GraphQL subscription runs asynchronously after `subscribe`, which
// nothing acknowledges, so this is how a test knows that an event
// published now will be heard.
func (r *liveReplica) waitSubscribers(t testing.TB, n int, within time.Duration) {
	t.Helper()
	r.waitFor(t, "hub subscribers", r.subscribers, n, within)
}

// waitBroadcastSubscribers waits until n websocket subscriptions to
// orderUpdates or lowStockAlerts are served (each joins its shared
// execution once that has subscribed to the hub).
func (r *liveReplica) waitBroadcastSubscribers(t testing.TB, n int, within time.Duration) {
	t.Helper()
	r.waitFor(t, "broadcast subscribers", r.broadcastSubscribers, n, within)
}

func (r *liveReplica) waitFor(t testing.TB, what string, value func(testing.TB) int, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for value(t) < n {
		if time.Now().After(deadline) {
			t.Fatalf("replica %s: %d %s after %s, want %d", r.name, value(t), what, within, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *liveReplica) staffToken(t testing.TB) string {
	t.Helper()
	id, err := r.api.staff.Create(context.Background(), uniqueName("staff")+"@example.com", "correct-horse", auth.Staff)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := r.api.tokens.Start(context.Background(), nil, auth.Principal{ID: id, Role: auth.Staff})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// register signs a customer up over HTTP and returns their token.
func (r *liveReplica) register(t *testing.T, email string) string {
	t.Helper()
	res := r.api.do(t, "", `mutation($e: String!) { customerRegister(input: {email: $e, password: "long-enough-pw",
		firstName: "Ada", lastName: "Lovelace"}) { token userErrors { code } } }`, map[string]any{"e": email})
	var p struct{ Token string }
	_ = json.Unmarshal(res.Data["customerRegister"], &p)
	if p.Token == "" {
		t.Fatalf("register %s: %s %+v", email, res.Data["customerRegister"], res.Errors)
	}
	return p.Token
}

func uniqueName(prefix string) string { return prefix + "-" + strings.ToLower(rand.Text()[:10]) }

func (r *liveReplica) product(t testing.TB, stock, threshold int) *catalog.Product {
	t.Helper()
	p, err := r.api.catalog.Create(context.Background(), catalog.CreateInput{
		SKU: ptr(strings.ToUpper(uniqueName("LIVE"))), Name: uniqueName("Live product"), Price: ptr("25.00"),
		InventoryQuantity: &stock, LowStockThreshold: &threshold,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type placed struct{ ID, Number, AccessToken string }

// checkout places a guest order for one unit of the product over HTTP.
func (r *liveReplica) checkout(t *testing.T, email, productID string) placed {
	t.Helper()
	return r.checkoutAs(t, "", email, productID)
}

// checkoutAs checks out as the customer of token (a guest when empty): an
// order is a customer's only when they place it signed in.
func (r *liveReplica) checkoutAs(t *testing.T, token, email, productID string) placed {
	t.Helper()
	res := r.api.do(t, token, `mutation($in: CheckoutInput!) { checkout(input: $in) {
		order { id orderNumber status paymentStatus } orderAccessToken userErrors { field code message } } }`,
		map[string]any{"in": map[string]any{
			"lines": []any{map[string]any{"productId": productID, "quantity": 1}},
			"email": email,
			"shippingAddress": map[string]any{"firstName": "Ada", "lastName": "Lovelace", "line1": "1 Main St",
				"city": "Springfield", "postalCode": "12345", "countryCode": "US"},
			"idempotencyKey": uniqueName("key"),
		}})
	var p struct {
		Order struct {
			ID, OrderNumber, Status, PaymentStatus string
		}
		OrderAccessToken string
	}
	_ = json.Unmarshal(res.Data["checkout"], &p)
	if p.Order.ID == "" || p.OrderAccessToken == "" || p.Order.Status != "PENDING" {
		t.Fatalf("checkout on %s: %s %+v", r.name, res.Data["checkout"], res.Errors)
	}
	return placed{ID: p.Order.ID, Number: p.Order.OrderNumber, AccessToken: p.OrderAccessToken}
}

// pay delivers a payment_intent.succeeded event for the order, as the
// webhook handler of this replica would.
func (r *liveReplica) pay(t testing.TB, orderID string) {
	t.Helper()
	ctx := context.Background()
	o, err := r.orders.ByID(ctx, orderID)
	if err != nil {
		t.Fatal(err)
	}
	intent := ""
	if o.PaymentIntentID != nil {
		intent = *o.PaymentIntentID
	}
	err = r.orders.HandlePaymentEvent(ctx, payments.Event{ID: uniqueName("evt_live"), Type: payments.IntentSucceededEvent,
		IntentID: intent, OrderID: o.ID, OrderNumber: o.Number, Amount: o.Total, Created: time.Now()})
	if err != nil {
		t.Fatalf("payment event for %s: %v", o.Number, err)
	}
}

// ---------------------------------------------------------------- websocket client

const (
	transportWS = "graphql-transport-ws" // the current protocol
	legacyWS    = "graphql-ws"           // subscriptions-transport-ws
)

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
	at      time.Time       // when it was read
}

// wsClient is a minimal GraphQL-over-websocket client for both protocols.
// After listen, a goroutine reads every message, answers ping with pong,
// counts keep-alives and queues the rest.
type wsClient struct {
	conn  *websocket.Conn
	proto string
	in    chan wsMessage
	err   error // why reading stopped; valid once in is closed
	kas   atomic.Int64
	pings atomic.Int64
}

// wsRefused is a connection the server did not acknowledge.
type wsRefused struct {
	msg    *wsMessage // connection_error, when one was sent
	status websocket.StatusCode
	reason string
	err    error
}

func (e *wsRefused) Error() string {
	s := fmt.Sprintf("connection refused: close status %d %q (%v)", e.status, e.reason, e.err)
	if e.msg != nil {
		s += fmt.Sprintf("; %s %s", e.msg.Type, e.msg.Payload)
	}
	return s
}

// wsConnect opens a websocket, sends connection_init with authorization
// (when not empty) and waits for connection_ack. A refusal is a *wsRefused.
func wsConnect(url, proto, authorization string, opts *websocket.DialOptions) (*wsClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if opts == nil {
		opts = &websocket.DialOptions{}
	}
	opts.Subprotocols = []string{proto}
	conn, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	if conn.Subprotocol() != proto {
		_ = conn.CloseNow()
		return nil, fmt.Errorf("server chose subprotocol %q, want %q", conn.Subprotocol(), proto)
	}
	c := &wsClient{conn: conn, proto: proto, in: make(chan wsMessage, 4096)}
	init := wsMessage{Type: "connection_init"}
	if authorization != "" {
		init.Payload, _ = json.Marshal(map[string]string{"Authorization": authorization})
	}
	if err := c.write(init); err != nil {
		_ = conn.CloseNow()
		return nil, err
	}
	var refused wsRefused
	for {
		var m wsMessage
		if err := wsjson.Read(ctx, conn, &m); err != nil {
			_ = conn.CloseNow()
			refused.err, refused.status = err, websocket.CloseStatus(err)
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				refused.reason = ce.Reason
			}
			return nil, &refused
		}
		switch m.Type {
		case "connection_ack":
			return c, nil
		case "connection_error":
			refused.msg = &m
		case "ka":
			c.kas.Add(1)
		default:
			_ = conn.CloseNow()
			return nil, fmt.Errorf("unexpected %s before connection_ack: %s", m.Type, m.Payload)
		}
	}
}

// dial connects and listens, failing the test on a refusal.
func dial(t testing.TB, url, proto, token string) *wsClient {
	t.Helper()
	authorization := ""
	if token != "" {
		authorization = "Bearer " + token
	}
	c, err := wsConnect(url, proto, authorization, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	c.listen()
	return c
}

func (c *wsClient) write(m wsMessage) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return wsjson.Write(ctx, c.conn, m)
}

func (c *wsClient) close() { _ = c.conn.Close(websocket.StatusNormalClosure, "") }

func (c *wsClient) listen() {
	go func() {
		defer close(c.in)
		for {
			var m wsMessage
			err := wsjson.Read(context.Background(), c.conn, &m)
			if err != nil {
				c.err = err
				return
			}
			m.at = time.Now()
			switch m.Type {
			case "ping":
				c.pings.Add(1)
				_ = c.write(wsMessage{Type: "pong", Payload: m.Payload})
			case "ka":
				c.kas.Add(1)
			default:
				c.in <- m
			}
		}
	}()
}

// subscribe starts a subscription: "subscribe" in graphql-transport-ws,
// "start" in the legacy protocol.
func (c *wsClient) subscribe(t testing.TB, id, query string, vars map[string]any) {
	t.Helper()
	typ := "subscribe"
	if c.proto == legacyWS {
		typ = "start"
	}
	payload, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err := c.write(wsMessage{ID: id, Type: typ, Payload: payload}); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
}

type gqlError struct {
	Message    string
	Extensions map[string]any
}

func (e gqlError) code() string { c, _ := e.Extensions["code"].(string); return c }

// wsResult is the next message of a subscription: an event (next or data)
// or its end (error, complete, or the connection closing).
type wsResult struct {
	Type   string // next (also for legacy data), error, complete, closed
	ID     string
	Data   map[string]json.RawMessage
	Errors []gqlError
	At     time.Time
}

func (r wsResult) codes() []string {
	var out []string
	for _, e := range r.Errors {
		out = append(out, e.code())
	}
	return out
}

func (r wsResult) String() string {
	b, _ := json.Marshal(r.Data)
	return fmt.Sprintf("%s id=%s data=%s errors=%+v", r.Type, r.ID, b, r.Errors)
}

// next returns the next result, failing the test after within.
func (c *wsClient) next(t testing.TB, within time.Duration) wsResult {
	t.Helper()
	select {
	case m, ok := <-c.in:
		if !ok {
			return wsResult{Type: "closed", Errors: []gqlError{{Message: fmt.Sprint(c.err)}}}
		}
		return c.parse(t, m)
	case <-time.After(within):
		t.Fatalf("no subscription message within %s", within)
	}
	return wsResult{}
}

func (c *wsClient) parse(t testing.TB, m wsMessage) wsResult {
	t.Helper()
	r := wsResult{Type: m.Type, ID: m.ID, At: m.at}
	switch m.Type {
	case "next", "data":
		r.Type = "next"
		var p struct {
			Data   map[string]json.RawMessage
			Errors []gqlError
		}
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			t.Fatalf("decode %s payload %s: %v", m.Type, m.Payload, err)
		}
		r.Data, r.Errors = p.Data, p.Errors
	case "error":
		// graphql-transport-ws sends a list of errors; the legacy protocol may send one.
		if err := json.Unmarshal(m.Payload, &r.Errors); err != nil {
			var one gqlError
			if err := json.Unmarshal(m.Payload, &one); err != nil {
				t.Fatalf("decode error payload %s: %v", m.Payload, err)
			}
			r.Errors = []gqlError{one}
		}
	}
	return r
}

// wantRefused checks that a subscription ended in an error carrying code,
// and that no data came with it.
func wantRefused(t *testing.T, c *wsClient, what, code string) {
	t.Helper()
	r := c.next(t, 5*time.Second)
	if (r.Type != "error" && r.Type != "next") || !slices.Contains(r.codes(), code) {
		t.Fatalf("%s: got %s, want an error with code %s", what, r, code)
	}
	for k, v := range r.Data {
		if string(v) != "null" {
			t.Fatalf("%s: data %s=%s came with the error", what, k, v)
		}
	}
	t.Logf("%s: %s %v %q", what, r.Type, r.codes(), r.Errors[0].Message)
}

type statusEvent struct {
	OrderID, OrderNumber, Status, PaymentStatus, FulfillmentStatus, Timestamp string
	MissedEventsPossible                                                      bool
}

func (e statusEvent) state() string { return e.Status + "/" + e.PaymentStatus }

const eventFields = `orderId orderNumber status paymentStatus fulfillmentStatus timestamp`

const orderUpdatesQuery = `subscription { orderUpdates { ` + eventFields + ` } }`

const orderStatusQuery = `subscription($n: String!, $tok: String) {
	orderStatusChanged(orderNumber: $n, accessToken: $tok) { ` + eventFields + ` } }`

const lowStockQuery = `subscription { lowStockAlerts { product { id sku } availableQuantity threshold timestamp } }`

// The v2 queries, which ask whether events may have been missed.
const (
	orderUpdatesMissedQuery = `subscription { orderUpdates { ` + eventFields + ` missedEventsPossible } }`
	orderStatusMissedQuery  = `subscription($n: String!, $tok: String) {
	orderStatusChanged(orderNumber: $n, accessToken: $tok) { ` + eventFields + ` missedEventsPossible } }`
	lowStockMissedQuery = `subscription { lowStockAlerts { availableQuantity missedEventsPossible } }`
)

// statusEvent returns the next order status event of field, failing the
// test on anything else.
func (c *wsClient) statusEvent(t testing.TB, field string, within time.Duration) (statusEvent, time.Time) {
	t.Helper()
	r := c.next(t, within)
	if r.Type != "next" || len(r.Errors) > 0 {
		t.Fatalf("want a %s event, got %s", field, r)
	}
	var e statusEvent
	if err := json.Unmarshal(r.Data[field], &e); err != nil || e.OrderNumber == "" {
		t.Fatalf("decode %s event %s: %v", field, r.Data[field], err)
	}
	return e, r.At
}

// orderStates collects the orderUpdates states of one order until want's
// last state arrives, skipping other orders' events, and checks them.
func (c *wsClient) orderStates(t *testing.T, number string, deadline time.Time, want ...string) {
	t.Helper()
	var got []string
	for !slices.Equal(got, want) {
		if len(got) >= len(want) {
			t.Fatalf("order %s: states %v, want %v", number, got, want)
		}
		e, _ := c.statusEvent(t, "orderUpdates", time.Until(deadline))
		if e.OrderNumber == number {
			got = append(got, e.state())
		}
	}
}

// ---------------------------------------------------------------- tests

// Who may subscribe to what: orderUpdates and lowStockAlerts are STAFF
// only, and a refused subscription ends with an error, never a silent
// stream. A token that does not verify refuses the whole connection.
func TestSubscriptionAccess(t *testing.T) {
	env := liveSetup(t)
	r := env.a
	customer, err := r.api.tokens.Start(context.Background(), nil, auth.Principal{ID: "00000000-0000-0000-0000-000000000001", Role: auth.Customer})
	if err != nil {
		t.Fatal(err)
	}

	for _, proto := range []string{transportWS, legacyWS} {
		t.Run(proto, func(t *testing.T) {
			for _, q := range []struct{ name, query string }{{"orderUpdates", orderUpdatesQuery}, {"lowStockAlerts", lowStockQuery}} {
				anon := dial(t, r.wsURL, proto, "")
				anon.subscribe(t, "1", q.query, nil)
				wantRefused(t, anon, q.name+" without a token", "UNAUTHENTICATED")

				cust := dial(t, r.wsURL, proto, customer)
				cust.subscribe(t, "1", q.query, nil)
				wantRefused(t, cust, q.name+" as a customer", "FORBIDDEN")
			}
		})
	}
	if n := r.subscribers(t); n != 0 {
		t.Errorf("refused subscriptions left %d hub subscribers", n)
	}

	expired, _ := auth.NewSessions(dbtest.DB(t), auth.NewTokens(liveSecret, time.Hour, time.Hour, func() time.Time { return time.Now().Add(-3 * time.Hour) })).
		Start(context.Background(), nil, auth.Principal{ID: "00000000-0000-0000-0000-000000000002", Role: auth.Staff})
	foreign, _ := auth.NewSessions(dbtest.DB(t), auth.NewTokens([]byte(strings.Repeat("x", 32)), time.Hour, time.Hour, time.Now)).
		Start(context.Background(), nil, auth.Principal{ID: "00000000-0000-0000-0000-000000000003", Role: auth.Staff})
	bad := []struct{ name, authorization string }{
		{"garbage bearer token", "Bearer not-a-token"},
		{"expired staff token", "Bearer " + expired},
		{"token signed with another secret", "Bearer " + foreign},
		{"not a bearer header", "Basic dXNlcjpwYXNz"},
	}
	for _, proto := range []string{transportWS, legacyWS} {
		for _, tt := range bad {
			t.Run(proto+"/"+tt.name, func(t *testing.T) {
				c, err := wsConnect(r.wsURL, proto, tt.authorization, nil)
				if err == nil {
					c.close()
					t.Fatalf("connection acknowledged, want it refused")
				}
				var refused *wsRefused
				if !errors.As(err, &refused) {
					t.Fatalf("want a refusal, got %v", err)
				}
				t.Logf("%v", refused)
				if proto == legacyWS && refused.msg == nil {
					t.Errorf("legacy protocol: no connection_error before the close")
				}
				if refused.msg != nil && !strings.Contains(string(refused.msg.Payload), "message") {
					t.Errorf("connection_error without a message: %s", refused.msg.Payload)
				}
			})
		}
	}
}

// The first acceptance criterion: a staff subscriber on replica B sees the
// status changes that a checkout and a payment on replica A cause, in
// order, within 10 s.
func TestOrderUpdatesAcrossReplicas(t *testing.T) {
	env := liveSetup(t)
	staff := env.b.staffToken(t)
	sub := dial(t, env.b.wsURL, transportWS, staff)
	sub.subscribe(t, "orders", orderUpdatesQuery, nil)
	env.b.waitSubscribers(t, 1, 5*time.Second)
	p := env.a.product(t, 10, 0)

	start := time.Now()
	deadline := start.Add(10 * time.Second)
	o := env.a.checkout(t, uniqueName("buyer")+"@example.com", p.ID)
	e, at := sub.statusEvent(t, "orderUpdates", time.Until(deadline))
	if e.OrderNumber != o.Number || e.OrderID != o.ID || e.state() != "PENDING/PENDING" || e.FulfillmentStatus != "UNFULFILLED" {
		t.Fatalf("first event %+v, want %s PENDING/PENDING UNFULFILLED", e, o.Number)
	}
	t.Logf("PENDING reached B %s after the checkout request started", at.Sub(start).Round(time.Millisecond))

	paid := time.Now()
	env.a.pay(t, o.ID)
	e, at = sub.statusEvent(t, "orderUpdates", time.Until(deadline))
	if e.OrderNumber != o.Number || e.state() != "PROCESSING/PAID" {
		t.Fatalf("second event %+v, want %s PROCESSING/PAID", e, o.Number)
	}
	if e.Timestamp == "" {
		t.Errorf("event without a timestamp: %+v", e)
	}
	t.Logf("PROCESSING/PAID reached B %s after the payment event", at.Sub(paid).Round(time.Millisecond))

	// Nothing else: a second success event for a paid order changes nothing
	// and publishes nothing.
	env.a.pay(t, o.ID)
	select {
	case m := <-sub.in:
		t.Fatalf("unexpected message %s %s", m.Type, m.Payload)
	case <-time.After(300 * time.Millisecond):
	}
}

// The same flow over the legacy graphql-ws protocol (start, data, ka).
func TestOrderUpdatesLegacyProtocol(t *testing.T) {
	env := liveSetup(t)
	sub := dial(t, env.b.wsURL, legacyWS, env.b.staffToken(t))
	sub.subscribe(t, "1", orderUpdatesQuery, nil)
	env.b.waitSubscribers(t, 1, 5*time.Second)
	p := env.a.product(t, 10, 0)

	deadline := time.Now().Add(10 * time.Second)
	o := env.a.checkout(t, uniqueName("buyer")+"@example.com", p.ID)
	sub.orderStates(t, o.Number, deadline, "PENDING/PENDING")
	env.a.pay(t, o.ID)
	sub.orderStates(t, o.Number, deadline, "PROCESSING/PAID")
	if sub.kas.Load() == 0 {
		t.Errorf("no keep-alive (ka) received on the legacy protocol")
	}

	// stop ends the subscription: the server completes it and lets go of the hub.
	if err := sub.write(wsMessage{ID: "1", Type: "stop"}); err != nil {
		t.Fatal(err)
	}
	if r := sub.next(t, 5*time.Second); r.Type != "complete" {
		t.Fatalf("after stop: %s, want complete", r)
	}
	deadline = time.Now().Add(5 * time.Second)
	for env.b.subscribers(t) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("hub still holds %d subscribers after stop", env.b.subscribers(t))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// orderStatusChanged: the first message is the order's current state; who
// may subscribe is who may read the order.
func TestOrderStatusChanged(t *testing.T) {
	env := liveSetup(t)
	a, b := env.a, env.b
	p := a.product(t, 50, 0)

	t.Run("guest", func(t *testing.T) {
		o := a.checkout(t, uniqueName("guest")+"@example.com", p.ID)

		none := dial(t, b.wsURL, transportWS, "")
		none.subscribe(t, "1", orderStatusQuery, map[string]any{"n": o.Number})
		wantRefused(t, none, "guest without the access token", "NOT_FOUND")

		wrong := dial(t, b.wsURL, transportWS, "")
		wrong.subscribe(t, "1", orderStatusQuery, map[string]any{"n": o.Number, "tok": "not-the-token"})
		wantRefused(t, wrong, "guest with a wrong access token", "NOT_FOUND")

		other := a.checkout(t, uniqueName("guest")+"@example.com", p.ID)
		wrongOrder := dial(t, b.wsURL, transportWS, "")
		wrongOrder.subscribe(t, "1", orderStatusQuery, map[string]any{"n": o.Number, "tok": other.AccessToken})
		wantRefused(t, wrongOrder, "guest with another order's access token", "NOT_FOUND")

		unknown := dial(t, b.wsURL, transportWS, "")
		unknown.subscribe(t, "1", orderStatusQuery, map[string]any{"n": "ORD-0000000000", "tok": o.AccessToken})
		wantRefused(t, unknown, "unknown order number", "NOT_FOUND")

		nul := dial(t, b.wsURL, transportWS, "")
		nul.subscribe(t, "1", orderStatusQuery, map[string]any{"n": "ORD-\x00X", "tok": o.AccessToken})
		wantRefused(t, nul, "an order number with a NUL", "BAD_USER_INPUT")

		sub := dial(t, b.wsURL, transportWS, "")
		sub.subscribe(t, "1", orderStatusQuery, map[string]any{"n": o.Number, "tok": o.AccessToken})
		e, _ := sub.statusEvent(t, "orderStatusChanged", 5*time.Second)
		if e.OrderNumber != o.Number || e.OrderID != o.ID || e.state() != "PENDING/PENDING" {
			t.Fatalf("first message %+v, want the current state of %s: PENDING/PENDING", e, o.Number)
		}

		// Another order's changes are not this subscriber's business.
		a.pay(t, other.ID)
		a.pay(t, o.ID)
		e, _ = sub.statusEvent(t, "orderStatusChanged", 10*time.Second)
		if e.OrderNumber != o.Number || e.state() != "PROCESSING/PAID" {
			t.Fatalf("after payment: %+v, want %s PROCESSING/PAID", e, o.Number)
		}

		// Subscribing after the payment: the first message is the state now.
		late := dial(t, a.wsURL, transportWS, "")
		late.subscribe(t, "1", orderStatusQuery, map[string]any{"n": strings.ToLower(o.Number), "tok": o.AccessToken})
		if e, _ := late.statusEvent(t, "orderStatusChanged", 5*time.Second); e.state() != "PROCESSING/PAID" {
			t.Fatalf("late subscriber's first message %+v, want PROCESSING/PAID", e)
		}
	})

	t.Run("customers", func(t *testing.T) {
		ownerEmail := uniqueName("owner") + "@example.com"
		owner := a.register(t, ownerEmail)
		stranger := a.register(t, uniqueName("stranger")+"@example.com")
		o := a.checkoutAs(t, owner, ownerEmail, p.ID)

		c := dial(t, b.wsURL, transportWS, stranger)
		c.subscribe(t, "1", orderStatusQuery, map[string]any{"n": o.Number})
		wantRefused(t, c, "another customer's order", "NOT_FOUND")

		mine := dial(t, b.wsURL, transportWS, owner)
		mine.subscribe(t, "1", orderStatusQuery, map[string]any{"n": o.Number})
		if e, _ := mine.statusEvent(t, "orderStatusChanged", 5*time.Second); e.OrderNumber != o.Number || e.state() != "PENDING/PENDING" {
			t.Fatalf("owner's first message %+v, want %s PENDING/PENDING", e, o.Number)
		}

		staff := dial(t, b.wsURL, legacyWS, b.staffToken(t))
		staff.subscribe(t, "1", orderStatusQuery, map[string]any{"n": o.Number})
		if e, _ := staff.statusEvent(t, "orderStatusChanged", 5*time.Second); e.OrderNumber != o.Number || e.state() != "PENDING/PENDING" {
			t.Fatalf("staff's first message %+v, want %s PENDING/PENDING", e, o.Number)
		}

		a.pay(t, o.ID)
		for who, c := range map[string]*wsClient{"owner": mine, "staff": staff} {
			if e, _ := c.statusEvent(t, "orderStatusChanged", 10*time.Second); e.OrderNumber != o.Number || e.state() != "PROCESSING/PAID" {
				t.Fatalf("%s after payment: %+v, want PROCESSING/PAID", who, e)
			}
		}
	})
}

// After a gap in the live feed (here announced on the Redis channel as a
// publisher that failed to publish announces it), the next event each
// subscriber receives carries missedEventsPossible: true and every other
// false; an orderStatusChanged subscriber gets the order's current state
// again at once instead. Subscribers that do not ask for the field are
// served as before.
func TestMissedEventsAfterAGap(t *testing.T) {
	env := liveSetup(t)
	a, b := env.a, env.b
	staff := b.staffToken(t)
	p := a.product(t, 50, 10)
	o := a.checkout(t, uniqueName("guest")+"@example.com", p.ID)

	updates := dial(t, b.wsURL, transportWS, staff)
	updates.subscribe(t, "1", orderUpdatesMissedQuery, nil)
	v1 := dial(t, b.wsURL, transportWS, staff)
	v1.subscribe(t, "1", orderUpdatesQuery, nil) // another query: its own execution
	status := dial(t, b.wsURL, transportWS, "")
	status.subscribe(t, "1", orderStatusMissedQuery, map[string]any{"n": o.Number, "tok": o.AccessToken})
	if e, _ := status.statusEvent(t, "orderStatusChanged", 5*time.Second); e.state() != "PENDING/PENDING" || e.MissedEventsPossible {
		t.Fatalf("first message %+v, want the current state, PENDING/PENDING, nothing missed", e)
	}
	low := dial(t, b.wsURL, transportWS, staff)
	low.subscribe(t, "1", lowStockMissedQuery, nil)
	b.waitSubscribers(t, 4, 5*time.Second)

	opts, err := redis.ParseURL(dbtest.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	for _, topic := range []string{realtime.TopicOrders, realtime.TopicLowStock} {
		if err := rdb.Publish(context.Background(), env.prefix+topic, `{"missedEventsPossible":true}`).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if e, _ := status.statusEvent(t, "orderStatusChanged", 5*time.Second); e.OrderNumber != o.Number || e.state() != "PENDING/PENDING" || !e.MissedEventsPossible {
		t.Fatalf("after the gap: %+v, want the current state again, PENDING/PENDING, with missedEventsPossible", e)
	}

	a.pay(t, o.ID)
	if e, _ := updates.statusEvent(t, "orderUpdates", 10*time.Second); e.state() != "PROCESSING/PAID" || !e.MissedEventsPossible {
		t.Fatalf("orderUpdates, first event after the gap: %+v, want PROCESSING/PAID with missedEventsPossible", e)
	}
	if e, _ := status.statusEvent(t, "orderStatusChanged", 10*time.Second); e.state() != "PROCESSING/PAID" || e.MissedEventsPossible {
		t.Fatalf("orderStatusChanged after the resent state: %+v, want PROCESSING/PAID, nothing missed", e)
	}
	if e, _ := v1.statusEvent(t, "orderUpdates", 10*time.Second); e.state() != "PROCESSING/PAID" {
		t.Fatalf("v1 orderUpdates: %+v, want PROCESSING/PAID", e)
	}

	next := a.checkout(t, uniqueName("guest")+"@example.com", p.ID)
	if e, _ := updates.statusEvent(t, "orderUpdates", 10*time.Second); e.OrderNumber != next.Number || e.MissedEventsPossible {
		t.Fatalf("orderUpdates, second event after the gap: %+v, want %s, nothing missed", e, next.Number)
	}

	adjust := a.api.do(t, a.staffToken(t), `mutation($id: ID!) { inventoryAdjust(input: {productId: $id, quantityChange: -40,
		type: ADJUSTMENT}) { userErrors { code } } }`, map[string]any{"id": p.ID})
	if len(adjust.Errors) > 0 {
		t.Fatalf("inventoryAdjust: %+v", adjust.Errors)
	}
	r := low.next(t, 10*time.Second)
	var alert struct {
		AvailableQuantity    int
		MissedEventsPossible bool
	}
	if r.Type != "next" || json.Unmarshal(r.Data["lowStockAlerts"], &alert) != nil || !alert.MissedEventsPossible {
		t.Fatalf("low-stock alert after the gap: %s, want missedEventsPossible", r)
	}
}

// lowStockAlerts: staff on replica B hears of an inventoryAdjust on replica
// A that takes a product to its threshold, and of nothing else.
func TestLowStockAlerts(t *testing.T) {
	env := liveSetup(t)
	staff := env.a.staffToken(t)
	sub := dial(t, env.b.wsURL, transportWS, staff)
	sub.subscribe(t, "low", lowStockQuery, nil)
	env.b.waitSubscribers(t, 1, 5*time.Second)

	plenty := env.a.product(t, 100, 10)
	low := env.a.product(t, 12, 10)
	adjust := func(productID string, change int) {
		t.Helper()
		r := env.a.api.do(t, staff, `mutation($id: ID!, $q: Int!) { inventoryAdjust(input: {productId: $id, quantityChange: $q,
			type: ADJUSTMENT}) { product { availableQuantity } userErrors { code } } }`, map[string]any{"id": productID, "q": change})
		if len(r.Errors) > 0 || !strings.Contains(string(r.Data["inventoryAdjust"]), `"userErrors":[]`) {
			t.Fatalf("inventoryAdjust %s by %d: %s %+v", productID, change, r.Data["inventoryAdjust"], r.Errors)
		}
	}
	adjust(plenty.ID, -5) // 95: far above the threshold
	adjust(low.ID, -1)    // 11: still above
	adjust(low.ID, -2)    // 9: crosses 10

	r := sub.next(t, 10*time.Second)
	if r.Type != "next" || len(r.Errors) > 0 {
		t.Fatalf("want a low-stock alert, got %s", r)
	}
	var alert struct {
		Product                      struct{ ID, SKU string }
		AvailableQuantity, Threshold int
		Timestamp                    string
	}
	if err := json.Unmarshal(r.Data["lowStockAlerts"], &alert); err != nil {
		t.Fatal(err)
	}
	if alert.Product.SKU != low.SKU || alert.Product.ID != low.ID || alert.AvailableQuantity != 9 || alert.Threshold != 10 || alert.Timestamp == "" {
		t.Fatalf("alert %s, want %s at 9 of threshold 10", r.Data["lowStockAlerts"], low.SKU)
	}

	// Further down is not a new crossing.
	adjust(low.ID, -1)
	select {
	case m := <-sub.in:
		t.Fatalf("unexpected message after a second decrease: %s %s", m.Type, m.Payload)
	case <-time.After(300 * time.Millisecond):
	}
}

// slowDialer gives a client socket a tiny receive buffer, so that a client
// that never reads fills the server's socket quickly.
func slowDialer() *websocket.DialOptions {
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	return &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}}
}

// fanout publishes numbered order events straight through a replica's hub
// and checks that a client that keeps up receives every one, in order.
type fanout struct {
	t        *testing.T
	r        *liveReplica
	fast     *wsClient
	seq      int // events published
	received int // events the fast client received
}

// publish sends n events in one batch, as one commit would, and returns
// how long Publish took.
func (f *fanout) publish(n int) time.Duration {
	ctx, b := realtime.WithBatch(context.Background())
	for range n {
		realtime.Add(ctx, realtime.TopicOrders, realtime.OrderStatus{OrderID: strconv.Itoa(f.seq), OrderNumber: "SLOW-" + strconv.Itoa(f.seq),
			Status: "PENDING", PaymentStatus: "PENDING", FulfillmentStatus: "UNFULFILLED", Timestamp: time.Now()})
		f.seq++
	}
	start := time.Now()
	f.r.hub.Publish(ctx, b)
	return time.Since(start)
}

// expect waits until the fast client has every event published so far.
func (f *fanout) expect(within time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(within)
	for f.received < f.seq {
		e, _ := f.fast.statusEvent(f.t, "orderUpdates", time.Until(deadline))
		if want := "SLOW-" + strconv.Itoa(f.received); e.OrderNumber != want {
			f.t.Fatalf("fast client: got %s, want %s", e.OrderNumber, want)
		}
		f.received++
	}
}

// untilDropped keeps publishing until the hub gives up on a subscriber
// (the kernel buffers a few MB for a client that does not read before the
// server's writes block); the fast client must keep receiving everything.
func (f *fanout) untilDropped(within time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(within)
	for f.r.dropped(f.t) == 0 {
		if time.Now().After(deadline) {
			f.t.Fatalf("slow client not dropped after %d events", f.seq)
		}
		if took := f.publish(50); took > 2*time.Second {
			f.t.Errorf("Publish of 50 events took %s", took)
		}
		f.expect(5 * time.Second)
	}
}

// slowEnd lets the slow client read at last and returns how many events it
// got and the message that ended them.
func slowEnd(t *testing.T, slow *wsClient) (int, wsResult) {
	t.Helper()
	slow.listen()
	deadline := time.Now().Add(10 * time.Second)
	events := 0
	for {
		res := slow.next(t, time.Until(deadline))
		if res.Type == "next" && len(res.Errors) == 0 {
			events++
			continue
		}
		return events, res
	}
}

// slowAndFast subscribes a client that never reads (with a tiny socket
// receive buffer) and one that does to orderUpdates on r.
func slowAndFast(t *testing.T, r *liveReplica) (slow *wsClient, f *fanout) {
	t.Helper()
	staff := r.staffToken(t)
	slow, err := wsConnect(r.wsURL, transportWS, "Bearer "+staff, slowDialer())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(slow.close)
	slow.subscribe(t, "1", orderUpdatesQuery, nil) // and never read
	fast := dial(t, r.wsURL, transportWS, staff)
	fast.subscribe(t, "1", orderUpdatesQuery, nil)
	r.waitBroadcastSubscribers(t, 2, 5*time.Second)
	return slow, &fanout{t: t, r: r, fast: fast}
}

// A subscriber that never reads does not delay the others, and the server
// never blocks on it: it is dropped once it is 64 events behind (the two
// clients share one execution, which drops it), and when it finally reads,
// its stream ends in an error.
func TestSlowWebsocketSubscriber(t *testing.T) {
	r := newLiveReplica(t, "A", livePrefix())
	slow, f := slowAndFast(t, r)

	// 200 events in bursts of 50: a burst of more than the hub's buffer (64)
	// published faster than a websocket can be written would drop even a
	// client that reads (under -race on a small machine it does).
	start := time.Now()
	var slowest time.Duration
	for range 4 {
		slowest = max(slowest, f.publish(50))
		f.expect(5 * time.Second)
	}
	t.Logf("200 events: slowest Publish of 50 took %s; the fast client had them all after %s",
		slowest.Round(time.Microsecond), time.Since(start).Round(time.Millisecond))
	if slowest > 2*time.Second {
		t.Errorf("Publish of 50 events took %s", slowest)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the fast client needed %s for 200 events", d)
	}

	// The server still answers while the slow client's socket fills.
	q := time.Now()
	if res := r.api.do(t, "", `{ categories }`, nil); len(res.Errors) > 0 {
		t.Fatalf("query while a client is stuck: %+v", res.Errors)
	}
	if d := time.Since(q); d > 2*time.Second {
		t.Errorf("a query took %s while a client was stuck", d)
	}

	f.untilDropped(30 * time.Second)
	t.Logf("slow client dropped after %d events; the fast client received all %d", f.seq, f.received)
	if n := r.broadcastSubscribers(t); n != 1 {
		t.Errorf("subscribers after the drop: %d, want 1 (the fast client)", n)
	}
	f.publish(10)
	f.expect(5 * time.Second)

	events, res := slowEnd(t, slow)
	t.Logf("slow client: %d events, then %s", events, res)
	if res.Type == "complete" || res.Type == "closed" || len(res.Errors) == 0 {
		t.Fatalf("slow client's stream ended with %s after %d events, want an error first", res, events)
	}
	if events >= f.seq {
		t.Errorf("slow client received all %d events: it was never behind", events)
	}
}

// A dropped subscriber should be told why (the hub's ErrSlowConsumer says
// "subscribe again"), and a slow client is not a server fault to log as an
// internal error.
func TestSlowSubscriberErrorSaysWhy(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelError}))
	r := newLiveReplicaLog(t, "A", livePrefix(), log)
	slow, f := slowAndFast(t, r)
	f.untilDropped(30 * time.Second)
	_, res := slowEnd(t, slow)
	if len(res.Errors) == 0 {
		t.Fatalf("slow client's stream ended with %s, want an error", res)
	}
	if c := res.Errors[0].code(); c == "INTERNAL" || !strings.Contains(res.Errors[0].Message, "too slow") {
		t.Errorf("dropped subscriber told %q (%s), want a message that it was too slow and should subscribe again",
			res.Errors[0].Message, c)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), "internal error") {
		t.Errorf("a slow client was logged as an internal error:\n%s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

// With graphql-transport-ws a refused connection_init can only be told by
// the close frame (connection_error does not exist in that protocol), and
// the protocol asks for 4403 Forbidden. The handler closes with 1000
// "terminated", a normal closure that a client cannot tell from a server
// going away, so it may reconnect in a loop with the same bad token.
func TestRefusedConnectionCloseCode(t *testing.T) {
	r := newLiveReplica(t, "A", livePrefix())
	_, err := wsConnect(r.wsURL, transportWS, "Bearer not-a-token", nil)
	var refused *wsRefused
	if !errors.As(err, &refused) {
		t.Fatalf("want a refusal, got %v", err)
	}
	if refused.status != 4403 {
		t.Errorf("close status %d %q, want 4403 Forbidden", refused.status, refused.reason)
	}
}

// ---------------------------------------------------------------- benchmark

// BenchmarkSubscribers1000: 1,000 staff websocket clients subscribed to
// orderUpdates on one replica (Redis hub) each receive every event. Reports
// the latency from just before Publish to each client's receipt (p50, p99,
// max) and the process heap with all subscribed (HeapInuse; the clients run
// in this process too, so it and the per-subscriber growth include both
// ends of every websocket).
//
//	go test ./graph -run '^$' -bench Subscribers -benchtime 1x
func BenchmarkSubscribers1000(b *testing.B) {
	const clients = 1000
	r := newLiveReplica(b, "bench", livePrefix())
	staff := r.staffToken(b)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	conns := make([]*wsClient, clients)
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	sem := make(chan struct{}, 32)
	setupStart := time.Now()
	for i := range clients {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := wsConnect(r.wsURL, transportWS, "Bearer "+staff, nil)
			if err != nil {
				failed.Store(&err)
				return
			}
			c.in = make(chan wsMessage, 4) // small: the heap measured is mostly the server's
			c.listen()
			payload, _ := json.Marshal(map[string]any{"query": orderUpdatesQuery})
			if err := c.write(wsMessage{ID: "1", Type: "subscribe", Payload: payload}); err != nil {
				failed.Store(&err)
			}
			conns[i] = c
		})
	}
	wg.Wait()
	b.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
	})
	if err := failed.Load(); err != nil {
		b.Fatalf("connect: %v", *err)
	}
	r.waitBroadcastSubscribers(b, clients, 30*time.Second)
	b.Logf("%d subscribers ready in %s", clients, time.Since(setupStart).Round(time.Millisecond))

	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	type arrival struct {
		number string
		at     time.Time
	}
	arrivals := make(chan arrival, clients)
	for _, c := range conns {
		go func() {
			for m := range c.in {
				var p struct {
					Data struct{ OrderUpdates struct{ OrderNumber string } }
				}
				_ = json.Unmarshal(m.Payload, &p)
				arrivals <- arrival{p.Data.OrderUpdates.OrderNumber, m.at}
			}
		}()
	}

	var latencies []time.Duration
	for i := 0; b.Loop(); i++ {
		number := "BENCH-" + strconv.Itoa(i)
		ctx, batch := realtime.WithBatch(context.Background())
		realtime.Add(ctx, realtime.TopicOrders, realtime.OrderStatus{OrderID: number, OrderNumber: number,
			Status: "PROCESSING", PaymentStatus: "PAID", FulfillmentStatus: "UNFULFILLED", Timestamp: time.Now()})
		start := time.Now()
		r.hub.Publish(ctx, batch)
		timeout := time.After(10 * time.Second)
		for got := 0; got < clients; {
			select {
			case a := <-arrivals:
				if a.number != number {
					b.Fatalf("client received %q while waiting for %s", a.number, number)
				}
				latencies = append(latencies, a.at.Sub(start))
				got++
			case <-timeout:
				b.Fatalf("event %s reached %d of %d clients within 10s (subscribers now %d)",
					number, got, clients, r.broadcastSubscribers(b))
			}
		}
	}

	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
	b.ReportMetric(float64(after.HeapInuse)/(1<<20), "heap-inuse-MB")
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/clients/1024, "heap-KB/subscriber")
	b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
	if d := r.dropped(b); d != 0 {
		b.Errorf("%d subscribers dropped", d)
	}
}

// Subscribers of orderUpdates with the same principal, operation and
// variables share one execution (one hub subscription); another principal
// or another selection gets its own. Every subscriber receives every event
// in the shape it asked for; a feed outlives a member that leaves and stops
// with its last one.
func TestBroadcastSubscriptionsShareOneExecution(t *testing.T) {
	r := newLiveReplica(t, "A", livePrefix())
	staff, other := r.staffToken(t), r.staffToken(t)
	const numbersOnly = `subscription { updates: orderUpdates { orderNumber } }`

	// Each kind's first subscriber is let in alone, until its feed has
	// subscribed to the hub: two arriving at the same instant may each
	// start a feed (both work), which is not what this test counts.
	a1 := dial(t, r.wsURL, transportWS, staff)
	a1.subscribe(t, "1", orderUpdatesQuery, nil)
	r.waitFor(t, "hub subscriptions", r.subscribers, 1, 5*time.Second)
	a2 := dial(t, r.wsURL, legacyWS, staff) // the protocol does not matter
	a2.subscribe(t, "1", orderUpdatesQuery, nil)
	a1.subscribe(t, "2", orderUpdatesQuery, nil) // twice on one connection
	b := dial(t, r.wsURL, transportWS, other)
	b.subscribe(t, "1", orderUpdatesQuery, nil)
	r.waitFor(t, "hub subscriptions", r.subscribers, 2, 5*time.Second)
	n := dial(t, r.wsURL, transportWS, staff)
	n.subscribe(t, "1", numbersOnly, nil)
	r.waitBroadcastSubscribers(t, 5, 5*time.Second)
	if got := r.subscribers(t); got != 3 {
		t.Errorf("hub subscriptions for 5 subscribers of 3 kinds: %d, want 3", got)
	}

	f := &fanout{t: t, r: r}
	f.publish(3)
	subscriptionIDs := map[*wsClient][]string{a1: {"1", "2"}, a2: {"1"}, b: {"1"}}
	for c, ids := range subscriptionIDs {
		got := map[string][]string{} // by subscription id
		for range 3 * len(ids) {
			res := c.next(t, 5*time.Second)
			var e statusEvent
			if err := json.Unmarshal(res.Data["orderUpdates"], &e); err != nil || e.Status != "PENDING" {
				t.Fatalf("want a PENDING orderUpdates event, got %s", res)
			}
			got[res.ID] = append(got[res.ID], e.OrderNumber)
		}
		for _, id := range ids {
			if want := []string{"SLOW-0", "SLOW-1", "SLOW-2"}; !slices.Equal(got[id], want) {
				t.Errorf("subscription %s received %v, want %v", id, got[id], want)
			}
		}
	}
	for i := range 3 {
		res := n.next(t, 5*time.Second)
		if want := `{"orderNumber":"SLOW-` + strconv.Itoa(i) + `"}`; string(res.Data["updates"]) != want {
			t.Fatalf("aliased selection: got %s, want updates = %s", res, want)
		}
	}

	a1.close()
	a2.close()
	// The feed of a1 and a2 stops (its hub subscription ends); b's and n's
	// go on.
	r.waitFor(t, "hub subscriptions ended", func(t testing.TB) int { return 3 - r.subscribers(t) }, 1, 5*time.Second)
	if got := r.broadcastSubscribers(t); got != 2 {
		t.Errorf("subscribers after a1 and a2 left: %d, want 2", got)
	}
	f.publish(1)
	if e, _ := b.statusEvent(t, "orderUpdates", 5*time.Second); e.OrderNumber != "SLOW-3" {
		t.Errorf("b after a1 and a2 left: got %s, want SLOW-3", e.OrderNumber)
	}
	b.close()
	n.close()
	r.waitFor(t, "hub subscriptions ended", func(t testing.TB) int { return 3 - r.subscribers(t) }, 3, 5*time.Second)

	// A subscriber arriving after its feed stopped starts a new one.
	c := dial(t, r.wsURL, transportWS, staff)
	c.subscribe(t, "1", orderUpdatesQuery, nil)
	r.waitSubscribers(t, 1, 5*time.Second)
	f.publish(1)
	if e, _ := c.statusEvent(t, "orderUpdates", 5*time.Second); e.OrderNumber != "SLOW-4" {
		t.Errorf("new feed: got %s, want SLOW-4", e.OrderNumber)
	}
}
