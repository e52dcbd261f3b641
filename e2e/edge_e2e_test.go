package e2e

// The GraphQL edge against the real binary (issue 12, items 1, 4, 10, 12):
// the largest documents the body limit allows are answered within a bound
// of CPU (that a cancelled request stops costing CPU is tested in graph:
// see TestE2EEdgeCPUBound); expensive mutations
// are limited per operation; websockets are limited per connection and
// per client network; metrics labels cannot be taken by junk operation
// names and move to METRICS_ADDR; the access log (issue 19); close reasons are fixed texts; an IPv6
// /64 is one client.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"

	"commerce/internal/platform/dbtest"
	"commerce/internal/platform/testtool"
)

// edgeBody is a JSON request body of just under the 1 MiB body limit whose
// query repeats unit as often as fits between head and tail.
func edgeBody(head, unit, tail string) []byte {
	const room = 1<<20 - 64
	n := (room - len(head) - len(tail) - len(`{"query":""}`)) / len(unit)
	q := head + strings.Repeat(unit, n) + tail
	body, _ := json.Marshal(map[string]string{"query": q})
	return body
}

// TestE2EEdgeCPUBound: documents as large as the body limit allows (about
// 90,000 repeated __typename kept a core busy for 7 minutes; 5,000
// categories took 2.4 s), aliases of one field, and a small document whose
// fragments multiply, and aliased introspection are refused within a bound
// of the server's CPU, with a coded error that does not echo them.
//
// That a request whose client leaves stops costing CPU is tested in
// graph's TestStopWhenGone, not here: no request the limits accept costs
// enough CPU (the costliest, 999 aliases of categories, about 0.1 s) to
// tell a cancelled one from a complete one on the wire. The last request
// that did, 142 aliased __schema, kept running 1.2 s after its client
// left; it is now refused.
func TestE2EEdgeCPUBound(t *testing.T) {
	deps := startDeps(t, false)
	srv := startServer(t, "edge-cpu", deps.env(t, nil))
	var bomb strings.Builder
	bomb.WriteString("{ ...F0 }")
	for i := range 8 {
		fmt.Fprintf(&bomb, " fragment F%d on Query {%s}", i, strings.Repeat(fmt.Sprintf(" ...F%d", i+1), 10))
	}
	bomb.WriteString(" fragment F8 on Query { __typename categories }")
	var aliases strings.Builder
	aliases.WriteString("{")
	for i := 0; aliases.Len() < 1<<20-100; i++ {
		fmt.Fprintf(&aliases, " a%d: categories", i)
	}
	aliases.WriteString(" }")
	aliasBody, _ := json.Marshal(map[string]string{"query": aliases.String()})
	bombBody, _ := json.Marshal(map[string]string{"query": bomb.String()})
	var allowed strings.Builder
	allowed.WriteString("{")
	for i := range 999 {
		fmt.Fprintf(&allowed, " a%d: categories", i)
	}
	allowed.WriteString(" }")
	allowedBody, _ := json.Marshal(map[string]string{"query": allowed.String()})
	// Aliased __schema listing every type's fields: each one answers the
	// whole schema, which the complexity limit does not weigh; 142 of
	// them (10 KB) took 1.2 s of CPU, answered 10 MB and, until the
	// client's leaving stopped an operation, went on after it left.
	var schemas strings.Builder
	schemas.WriteString("{")
	for i := range 142 {
		fmt.Fprintf(&schemas, " s%d: __schema { types { fields { name description type { name } } } }", i)
	}
	schemas.WriteString(" }")
	schemasBody, _ := json.Marshal(map[string]string{"query": schemas.String()})
	refused := []string{"QUERY_TOO_COMPLEX", "GRAPHQL_PARSE_FAILED"}
	// 999 fields under one response name that cannot be merged: within
	// the selection limit, validation reported every conflicting pair.
	conflictsBody, _ := json.Marshal(map[string]string{"query": "{" + strings.Repeat(" a: __typename a: categories", 499) + " a: __typename }"})
	cases := []struct {
		name  string
		body  []byte
		codes []string // none: answered
	}{
		{"999 aliases of one field, the most the limits allow", allowedBody, nil},
		{"1 MiB of __typename", edgeBody("{", " __typename", " }"), refused},
		{"1 MiB of categories", edgeBody("{", " categories", " }"), refused},
		{"1 MiB of aliases", aliasBody, refused},
		{"fragments multiplying to 10^8 selections", bombBody, refused},
		{"999 conflicting fields under one name", conflictsBody, refused},
		{"142 aliases of __schema listing every field", schemasBody, refused},
		{"1 MiB of nested identical subtrees", edgeBody("{ products { edges { node {", " inventoryTransactions { edges { node { id } } }", " } } } }"), refused},
	}
	// The bound is generous for a shared test machine; before the fix the
	// first case alone took minutes.
	const bound = 2 * time.Second
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := processCPU(t, srv.cmd.Process.Pid)
			r := hostileSend(t, srv, "", hostileRequest{body: c.body})
			used := processCPU(t, srv.cmd.Process.Pid) - before
			t.Logf("%d bytes: %d in %s, %s of CPU: %.200s", len(c.body), r.status, r.elapsed.Round(time.Millisecond), used, r.raw)
			if used > bound {
				t.Errorf("the server used %s of CPU, want at most %s", used, bound)
			}
			codes := r.resp.codes()
			if c.codes == nil {
				if len(codes) > 0 || r.status != http.StatusOK {
					t.Errorf("%d %v, want an answer; body %.300s", r.status, codes, r.raw)
				}
				return
			}
			if len(codes) != 1 || !slices.Contains(c.codes, codes[0]) {
				t.Errorf("codes %v, want one of %v; body %.300s", codes, c.codes, r.raw)
			}
			if len(r.raw) > 2000 {
				t.Errorf("an answer of %d bytes echoes the document: %.300s", len(r.raw), r.raw)
			}
		})
	}

}

// TestE2EEdgeExpensiveAliases: 100 aliased customerRegister calls (18 s of
// bcrypt before) are refused as a whole before any runs: no customer is
// created and hardly any CPU is spent; so are aliased logins, checkouts,
// carts and order lookups by email over their per-operation limits.
func TestE2EEdgeExpensiveAliases(t *testing.T) {
	deps := startDeps(t, false)
	srv := startServer(t, "edge-aliases", deps.env(t, nil))
	prefix := "edge-reg-" + randHex(6)
	var q strings.Builder
	q.WriteString("mutation {")
	for i := range 100 {
		fmt.Fprintf(&q, ` r%d: customerRegister(input: {email: "%s-%d@example.com", password: "a-long-password", firstName: "A", lastName: "B"}) { token userErrors { code } }`, i, prefix, i)
	}
	q.WriteString(" }")
	before := processCPU(t, srv.cmd.Process.Pid)
	r := srv.do(t, "", q.String(), nil)
	used := processCPU(t, srv.cmd.Process.Pid) - before
	if codes := r.codes(); len(codes) != 1 || codes[0] != "QUERY_TOO_COMPLEX" {
		t.Errorf("100 aliased registrations: codes %v, want QUERY_TOO_COMPLEX; data %s", codes, r.Data)
	}
	if used > time.Second {
		t.Errorf("refusing 100 aliased registrations used %s of CPU", used)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbtest.URL(t))
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM customers WHERE email LIKE $1", prefix+"-%").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d customers created by a refused operation", n)
	}

	lookup := `order(orderNumber: "ORD-0000000000", email: "x@example.com") { id }`
	for name, query := range map[string]string{
		"two customer logins": `mutation { a: customerLogin(email: "a@example.com", password: "x") { token } b: customerLogin(email: "b@example.com", password: "x") { token } }`,
		"two staff logins":    `mutation { a: staffLogin(email: "a@example.com", password: "x") { token } b: staffLogin(email: "b@example.com", password: "x") { token } }`,
		"two carts":           `mutation { a: cartCreate { cart { id } } b: cartCreate { cart { id } } }`,
		"five order lookups":  `{ a: ` + lookup + ` b: ` + lookup + ` c: ` + lookup + ` d: ` + lookup + ` e: ` + lookup + ` }`,
	} {
		if r := srv.do(t, "", query, nil); len(r.codes()) != 1 || r.codes()[0] != "QUERY_TOO_COMPLEX" {
			t.Errorf("%s: codes %v, want QUERY_TOO_COMPLEX; data %s", name, r.codes(), r.Data)
		}
	}
}

// edgeMessage is one graphql-transport-ws message.
type edgeMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// edgeWS opens a graphql-transport-ws connection and initialises it with
// token (none when empty); it fails the test unless the server acks.
func edgeWS(t *testing.T, s *e2eServer, token string) *websocket.Conn {
	t.Helper()
	conn := hostileWSDial(t, s, "graphql-transport-ws")
	payload := map[string]any{}
	if token != "" {
		payload["Authorization"] = "Bearer " + token
	}
	edgeWSWrite(t, conn, map[string]any{"type": "connection_init", "payload": payload})
	if m := edgeWSNext(t, conn, 10*time.Second); m.Type != "connection_ack" {
		t.Fatalf("connection_init: got %+v, want connection_ack", m)
	}
	return conn
}

func edgeWSWrite(t *testing.T, conn *websocket.Conn, m any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, _ := json.Marshal(m)
	if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatalf("websocket write: %v", err)
	}
}

// edgeWSNext returns the next message other than ping and pong.
func edgeWSNext(t *testing.T, conn *websocket.Conn, within time.Duration) edgeMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("websocket read: %v", err)
		}
		var m edgeMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("websocket message %q: %v", data, err)
		}
		if m.Type != "ping" && m.Type != "pong" {
			return m
		}
	}
}

// TestE2EEdgeWebsocketLimits, at the defaults: a connection holds 20
// subscriptions, which all work; the 21st gets an "error" message with
// RATE_LIMITED, nothing for it after that, and the connection stays open;
// completing one frees its slot. One address holds 50 connections; the 51st is refused with 429
// before the upgrade, and closing one frees its slot.
func TestE2EEdgeWebsocketLimits(t *testing.T) {
	deps := startDeps(t, false)
	srv := startServer(t, "edge-ws", deps.env(t, nil))
	staff := srv.staffLogin(t)
	p := srv.createProduct(t, staff, "10.00", 50)

	conn := edgeWS(t, srv, staff)
	subscribe := func(id string) {
		edgeWSWrite(t, conn, map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{
			"query": "subscription { orderUpdates { orderNumber status } }",
		}})
	}
	for i := 1; i <= 20; i++ {
		subscribe(strconv.Itoa(i))
	}
	subscribe("21")
	m := edgeWSNext(t, conn, 10*time.Second)
	var errs []gqlError
	_ = json.Unmarshal(m.Payload, &errs)
	if m.Type != "error" || m.ID != "21" || len(errs) != 1 || errs[0].Extensions["code"] != "RATE_LIMITED" {
		t.Fatalf("subscription 21: got %+v, want an error message with RATE_LIMITED", m)
	}

	// The 20 still work: an order's status changes reach each of them.
	order := srv.checkout(t, buyerEmail(), "e2e-edge-ws-"+randHex(8), map[string]int{p.ID: 1}).Order
	got := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < 20 && time.Now().Before(deadline) {
		m := edgeWSNext(t, conn, time.Until(deadline))
		switch {
		case m.ID == "21":
			// The error ended operation 21: graphql-transport-ws forbids a
			// complete (or anything else) for it afterwards (issue 13).
			t.Fatalf("after the error for subscription 21: %+v", m)
		case m.Type == "next" && strings.Contains(string(m.Payload), order.OrderNumber):
			got[m.ID] = true
		case m.Type != "next":
			t.Fatalf("unexpected message %+v", m)
		}
	}
	if len(got) != 20 {
		t.Fatalf("%d of the 20 subscriptions heard of order %s: %v", len(got), order.OrderNumber, got)
	}

	// Completing one frees its slot.
	edgeWSWrite(t, conn, map[string]any{"id": "1", "type": "complete"})
	time.Sleep(200 * time.Millisecond)
	edgeWSWrite(t, conn, map[string]any{"id": "22", "type": "subscribe", "payload": map[string]any{"query": "{ categories }"}})
	for {
		m := edgeWSNext(t, conn, 10*time.Second)
		if m.ID != "22" {
			continue // a late event of the other subscriptions
		}
		if m.Type != "next" {
			t.Fatalf("an operation after one completed: %+v, want next", m)
		}
		break
	}

	// Connections: this one and 49 more; the 51st is refused.
	conns := []*websocket.Conn{conn}
	for range 49 {
		conns = append(conns, edgeWS(t, srv, ""))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	extra, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.base, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err == nil {
		_ = extra.CloseNow()
		t.Fatal("connection 51 from one address was accepted")
	}
	if res == nil || res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("connection 51: %v (%+v), want 429", err, res)
	}
	body, _ := io.ReadAll(res.Body)
	var refusal gqlResponse
	if json.Unmarshal(body, &refusal) != nil || len(refusal.codes()) != 1 || refusal.codes()[0] != "RATE_LIMITED" {
		t.Errorf("connection 51's refusal: %s, want a RATE_LIMITED GraphQL error", body)
	}
	_ = conns[len(conns)-1].Close(websocket.StatusNormalClosure, "")
	var again *websocket.Conn
	for range 50 { // the server frees the slot once it has seen the close
		time.Sleep(100 * time.Millisecond)
		if c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.base, "http")+"/graphql",
			&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}}); err == nil {
			again = c
			break
		}
	}
	if again == nil {
		t.Fatal("no connection admitted after one of the 50 closed")
	}
	_ = again.CloseNow()
}

// TestE2EEdgeCloseReasons: a refused connection_init closes the socket with
// 4403 and a fixed reason that quotes neither the token nor a library's
// error.
func TestE2EEdgeCloseReasons(t *testing.T) {
	deps := startDeps(t, false)
	srv := startServer(t, "edge-close", deps.env(t, nil))
	const marker = "TOKEN-MUST-NOT-ECHO"
	for _, c := range []struct{ authorization, reason string }{
		{"Bearer " + marker + ".x.y", "Forbidden: the token is invalid or expired: sign in again"},
		{"Bearer " + marker, "Forbidden: the token is invalid or expired: sign in again"},
		{"Basic " + marker, `Forbidden: Authorization must be "Bearer <token>"`},
	} {
		conn := hostileWSDial(t, srv, "graphql-transport-ws")
		edgeWSWrite(t, conn, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": c.authorization}})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var closeErr websocket.CloseError
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				if !errors.As(err, &closeErr) {
					t.Errorf("%q: %v, want a close frame", c.authorization, err)
				}
				break
			}
			if strings.Contains(string(data), marker) {
				t.Errorf("%q: a message quotes the token: %s", c.authorization, data)
			}
		}
		cancel()
		if closeErr.Code != 4403 || closeErr.Reason != c.reason {
			t.Errorf("%q: closed with %d %q, want 4403 %q", c.authorization, closeErr.Code, closeErr.Reason, c.reason)
		}
	}
}

// TestE2EEdgeMetrics: /metrics moves to METRICS_ADDR; a named operation
// sent without operationName is counted under its name (issue 19); 205
// junk operation names, also ones that succeed and run the same root
// field, take no real operation's series: they fill at most the bounded
// name slots of the root fields they run (maxNames, 10, in package
// metrics) and the rest are counted as "(other)" under the root fields
// (issue 12, item 12); the backlogs of both outboxes, notifications and
// webhook deliveries, are exported (issue 19).
func TestE2EEdgeMetrics(t *testing.T) {
	deps := startDeps(t, false)
	metricsAddr := testtool.FreeAddr(t)
	srv := startServer(t, "edge-metrics", deps.env(t, map[string]string{"METRICS_ADDR": metricsAddr}))

	res, err := srv.http.Get(srv.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the public address: %d, want 404", res.StatusCode)
	}
	const real = `query StorefrontProducts { products(first: 1) { totalCount } }` // sent without operationName
	srv.gql(t, "", real, nil, nil)
	for i := range 205 {
		srv.gql(t, "", fmt.Sprintf("query Junk%dX { __typename }", i), nil, nil)
		srv.gql(t, "", fmt.Sprintf("query Junk%dY { products(first: 1) { totalCount } }", i), nil, nil)
	}
	srv.gql(t, "", real, nil, nil)
	res, err = srv.http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("/metrics on METRICS_ADDR: %v", err)
	}
	defer res.Body.Close()
	text, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics on METRICS_ADDR: %d", res.StatusCode)
	}
	for _, want := range []string{
		`graphql_operations_total{operation="products",operation_name="StorefrontProducts",outcome="ok",type="query"} 2`,
		// StorefrontProducts holds one of the 10 slots of products.
		`graphql_operations_total{operation="products",operation_name="(other)",outcome="ok",type="query"} 196`,
		`graphql_operations_total{operation="__typename",operation_name="(other)",outcome="ok",type="query"} 195`,
		`outbox_pending{outbox="notifications"} `,
		`outbox_pending{outbox="webhooks"} `,
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	junk := map[string]bool{}
	for line := range strings.Lines(string(text)) {
		if _, rest, ok := strings.Cut(line, `operation_name="Junk`); ok {
			name, _, _ := strings.Cut(rest, `"`)
			junk[name] = true
		}
	}
	if len(junk) != 19 {
		t.Errorf("/metrics shows %d junk operation names, want 19 (10 slots of __typename, 9 of products): %v", len(junk), junk)
	}
}

// TestE2EAccessLog: every request writes one access-log line at info with
// its method, path, status, duration, the executed operation's name (also
// when the request gives no operationName) and its request id, never its
// variables; health probes are not logged at info.
func TestE2EAccessLog(t *testing.T) {
	deps := startDeps(t, false)
	srv := startServer(t, "access-log", deps.env(t, nil))
	marker := "marker" + randHex(8)
	r := quotaPost(t, srv, http.Header{"X-Request-Id": {"access-log-1"}}, "",
		`query CatalogSearch($q: String) { products(first: 1, filter: {search: $q}) { totalCount } }`,
		map[string]any{"q": marker})
	if r.status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("search: %d %+v", r.status, r.Errors)
	}
	srv.stop() // the line follows the response; after the exit, the output is whole
	var lines []map[string]any
	for line := range strings.Lines(srv.out.String()) {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil && entry["msg"] == "http request" {
			lines = append(lines, entry)
		}
		if strings.Contains(line, marker) {
			t.Errorf("a log line shows the request's variables: %s", line)
		}
	}
	var found map[string]any
	for _, l := range lines {
		if l["path"] == "/healthz" {
			t.Errorf("a health probe logged at info: %v", l)
		}
		if l["request_id"] == "access-log-1" {
			found = l
		}
	}
	if found == nil {
		t.Fatalf("no access-log line of the request among %v", lines)
	}
	for k, v := range map[string]any{
		"level": "INFO", "method": "POST", "path": "/graphql", "status": 200.0, "operation": "CatalogSearch",
	} {
		if found[k] != v {
			t.Errorf("access log %s: %v, want %v", k, found[k], v)
		}
	}
	if _, ok := found["duration_ms"].(float64); !ok {
		t.Errorf("access log without duration_ms: %v", found)
	}
}

// TestE2EEdgeIPv6Network: behind a trusted proxy, two IPv6 addresses of one
// /64 share the per-IP quota; an address of another /64 has its own.
func TestE2EEdgeIPv6Network(t *testing.T) {
	deps := startDeps(t, false)
	srv := startServer(t, "edge-ipv6", deps.env(t, map[string]string{
		"QUOTA_GRAPHQL": "3/1m", "TRUSTED_PROXIES": "127.0.0.1/32",
	}))
	send := func(from string) int {
		return quotaPost(t, srv, http.Header{"X-Forwarded-For": {from}}, "", `{ __typename }`, nil).status
	}
	for _, from := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:aaaa:bbbb:cccc:dddd"} {
		if st := send(from); st != http.StatusOK {
			t.Fatalf("%s: %d, want 200", from, st)
		}
	}
	if st := send("2001:db8:1:2::ffff"); st != http.StatusTooManyRequests {
		t.Errorf("a fourth address of the same /64: %d, want 429", st)
	}
	if st := send("2001:db8:1:3::1"); st != http.StatusOK {
		t.Errorf("an address of another /64: %d, want 200", st)
	}
}
