package main

// Hostile input against the real binary (issue 6): what a hostile client
// sends to every mutation — oversized bodies, deep and wide queries,
// batches, huge lists, invalid UTF-8, emails and phone numbers that are
// not, SQL and template metacharacters, negative and enormous numbers, ids
// of the wrong type, bodies that are not JSON, a mutation over GET, and
// websocket abuse. Each case checks that the answer is a clear error (a
// userError with a field path, or a GraphQL error whose extensions.code is
// one of API.graphqls'), that it leaks no SQL, stack trace or Go type name,
// that the server still answers /healthz, and that the database is
// unchanged.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"

	"commerce/internal/platform/dbtest"
)

// hostileRequest is one HTTP request to the server.
type hostileRequest struct {
	method      string // POST when empty
	path        string // /graphql when empty
	contentType string // application/json when empty; "none" sends no Content-Type
	rawQuery    string // the URL's query (GET)
	body        []byte // when nil and query is set: {"query": query, "variables": vars}
	query       string
	vars        map[string]any
	staff       bool // with the staff token
	chunked     bool // without Content-Length
}

// hostileReply is the answer, decoded when it is JSON.
type hostileReply struct {
	status  int
	header  http.Header
	raw     []byte
	json    bool
	resp    gqlResponse
	elapsed time.Duration
}

// hostileSend sends req; staff is the token used when req.staff is set.
func hostileSend(t *testing.T, s *e2eServer, staff string, req hostileRequest) hostileReply {
	t.Helper()
	body := req.body
	if body == nil && req.query != "" {
		var err error
		if body, err = json.Marshal(map[string]any{"query": req.query, "variables": req.vars}); err != nil {
			t.Fatalf("encode: %v", err)
		}
	}
	method := cmp.Or(req.method, http.MethodPost)
	u := s.base + cmp.Or(req.path, "/graphql")
	if req.rawQuery != "" {
		u += "?" + req.rawQuery
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
		if req.chunked {
			rd = io.MultiReader(rd) // hides the length: Transfer-Encoding: chunked
		}
	}
	hr, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if ct := cmp.Or(req.contentType, "application/json"); ct != "none" && (body != nil || req.contentType != "") {
		hr.Header.Set("Content-Type", ct)
	}
	if req.staff {
		hr.Header.Set("Authorization", "Bearer "+staff)
	}
	start := time.Now()
	res, err := s.http.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := hostileReply{status: res.StatusCode, header: res.Header, raw: raw, elapsed: time.Since(start)}
	out.json = json.Unmarshal(raw, &out.resp) == nil
	return out
}

// hostileCodes are the extensions.code values of API.graphqls a clear
// error may carry (INTERNAL is not clear).
var hostileCodes = []string{
	"UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "BAD_USER_INPUT", "RATE_LIMITED", "QUERY_TOO_COMPLEX", "CONFLICT",
	"GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED",
}

// hostileLeaks are what an answer must never contain: SQL errors, panics,
// stack traces, Go file names and Go type names.
var hostileLeaks = regexp.MustCompile(`(?i)SQLSTATE|panic|goroutine|\.go:\d|\bpq:|pgx|pgconn|runtime error|` +
	`json: cannot|\b(graphql|model|generated|gqlerror|ast|json|strconv|apperr|catalog|orders|carts|customers|auth|http|uuid|bun|big)\.[A-Z]\w*`)

// hostileUserErrors collects every userErrors entry anywhere in data.
func hostileUserErrors(data json.RawMessage) []userError {
	var v any
	if json.Unmarshal(data, &v) != nil {
		return nil
	}
	var out []userError
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if k == "userErrors" {
					b, _ := json.Marshal(e)
					var ues []userError
					_ = json.Unmarshal(b, &ues)
					out = append(out, ues...)
					continue
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// hostileState is what must not change: the rows of the domain tables
// (count and a digest of their contents) and the totals staff see.
type hostileState map[string]string

var hostileTables = []string{
	"products", "product_images", "inventory_transactions", "customers", "carts", "cart_lines",
	"orders", "order_lines", "order_events", "payment_events", "idempotency_keys", "staff_users",
}

func hostileSnapshot(t *testing.T, s *e2eServer, staff string) hostileState {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbtest.URL(t))
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	defer conn.Close(ctx)
	st := hostileState{}
	for _, table := range hostileTables {
		var n int
		var digest string
		q := "SELECT count(*), md5(coalesce(string_agg(r::text, ',' ORDER BY r::text), '')) FROM " + table + " r"
		if err := conn.QueryRow(ctx, q).Scan(&n, &digest); err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		st[table] = fmt.Sprintf("%d rows %.8s", n, digest)
	}
	var out struct {
		Products, Orders, Customers struct{ TotalCount int }
	}
	// Not s.gql: it stops a test that has already failed.
	r := s.do(t, staff, `{ products(first: 1, filter: {includeInactive: true}) { totalCount }
		orders(first: 1) { totalCount } customers(first: 1) { totalCount } }`, nil)
	if err := json.Unmarshal(r.Data, &out); err != nil || len(r.Errors) > 0 {
		t.Fatalf("staff totals: %s %+v (%v)", r.Data, r.Errors, err)
	}
	st["api products"] = fmt.Sprint(out.Products.TotalCount)
	st["api orders"] = fmt.Sprint(out.Orders.TotalCount)
	st["api customers"] = fmt.Sprint(out.Customers.TotalCount)
	return st
}

// hostileHealthy checks that the server still answers /healthz and
// /graphql.
func hostileHealthy(t *testing.T, s *e2eServer) {
	t.Helper()
	res, err := s.http.Get(s.base + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz after the case: %v\n%s", err, s.out.String())
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz after the case: %d", res.StatusCode)
	}
	if r := s.do(t, "", `{ __typename }`, nil); len(r.Errors) > 0 {
		t.Fatalf("{ __typename } after the case: %+v", r.Errors)
	}
}

// hostileCase is one hostile request and the clear error it must get.
type hostileCase struct {
	name   string
	req    hostileRequest
	status int           // the HTTP status wanted; 0 means 200
	codes  []string      // a GraphQL error with one of these codes ...
	field  []string      // ... or a userError whose field path starts with this
	within time.Duration // answered within (10 s when zero)
}

// check applies the checks every case shares, except the database's.
func (c hostileCase) check(t *testing.T, r hostileReply) {
	t.Helper()
	want := c.status
	if want == 0 {
		want = http.StatusOK
	}
	if r.status != want {
		t.Errorf("status %d, want %d; body %.400s", r.status, want, r.raw)
	}
	if within := cmp.Or(c.within, 10*time.Second); r.elapsed > within {
		t.Errorf("answered in %s, want within %s", r.elapsed.Round(time.Millisecond), within)
	}
	if loc := hostileLeaks.FindIndex(r.raw); loc != nil {
		t.Errorf("the answer leaks %q: %.600s", r.raw[loc[0]:loc[1]], r.raw)
	}
	if !r.json {
		t.Fatalf("the answer is not a GraphQL JSON response: %.400s", r.raw)
	}
	for _, e := range r.resp.Errors {
		if e.Message == "" {
			t.Errorf("an error without a message: %+v", e)
		}
	}
	clear := false
	for _, code := range r.resp.codes() {
		if slices.Contains(c.codes, code) {
			clear = true
		}
		if !slices.Contains(hostileCodes, code) {
			t.Errorf("extensions.code %q is not a clear error of API.graphqls; errors %+v", code, r.resp.Errors)
		}
	}
	if c.field != nil {
		for _, ue := range hostileUserErrors(r.resp.Data) {
			if len(ue.Field) >= len(c.field) && slices.Equal(ue.Field[:len(c.field)], c.field) && ue.Message != "" && ue.Code != "" {
				clear = true
			}
		}
	}
	if !clear {
		t.Errorf("no clear error: want a GraphQL error with code in %v or a userError at %v; got errors %+v, userErrors %+v, body %.400s",
			c.codes, c.field, r.resp.Errors, hostileUserErrors(r.resp.Data), r.raw)
	}
}

// hostileNested is a query nested depth fields deep, through the
// order → customer → orders cycle.
func hostileNested(depth int) string {
	cycle := []string{"orders(first: 1)", "edges", "node", "customer"}
	leaf := map[string]string{"orders(first: 1)": "totalCount", "edges": "cursor", "node": "id", "customer": "id"}
	var b strings.Builder
	b.WriteString("query {")
	last := ""
	for i := range depth - 1 {
		last = cycle[i%len(cycle)]
		b.WriteString(" " + last + " {")
	}
	b.WriteString(" " + leaf[last])
	b.WriteString(strings.Repeat(" }", depth))
	return b.String()
}

const (
	hostileCartCreate   = `mutation($l: [CartLineInput!], $e: String) { cartCreate(lines: $l, email: $e) { cart { id } userErrors { field message code } } }`
	hostileCartLinesAdd = `mutation($c: ID!, $l: [CartLineInput!]!) { cartLinesAdd(cartId: $c, lines: $l) { cart { id lines { quantity } } userErrors { field message code } } }`
	hostileCartEmail    = `mutation($c: ID!, $e: String!) { cartEmailUpdate(cartId: $c, email: $e) { cart { id email } userErrors { field message code } } }`
	hostileRegister     = `mutation($in: CustomerRegisterInput!) { customerRegister(input: $in) { token customer { id email firstName lastName phone } userErrors { field message code } } }`
	hostileProduct      = `mutation($in: ProductCreateInput!) { productCreate(input: $in) { product { id sku handle name description category tags currencyCode: price { currencyCode } } userErrors { field message code } } }`
	hostileAdjust       = `mutation($in: InventoryAdjustInput!) { inventoryAdjust(input: $in) { product { inventoryQuantity } userErrors { field message code } } }`
)

// hostileProductInput is a valid productCreate input with the overrides.
func hostileProductInput(over map[string]any) map[string]any {
	sfx := randHex(5)
	in := map[string]any{"sku": "HOSTILE-" + strings.ToUpper(sfx), "name": "Hostile widget " + sfx, "price": "5.00"}
	for k, v := range over {
		in[k] = v
	}
	return map[string]any{"in": in}
}

// hostileRegisterInput is a valid customerRegister input with the overrides.
func hostileRegisterInput(over map[string]any) map[string]any {
	in := map[string]any{"email": buyerEmail(), "password": "a-long-password-" + randHex(4), "firstName": "Ada", "lastName": "Lovelace"}
	for k, v := range over {
		in[k] = v
	}
	return map[string]any{"in": in}
}

// hostileCheckoutInput is a valid checkout of one unit with the overrides
// of the input and of its shipping address.
func hostileCheckoutInput(productID string, over, addr map[string]any) map[string]any {
	a := shippingAddress()
	for k, v := range addr {
		a[k] = v
	}
	in := map[string]any{
		"lines": []any{map[string]any{"productId": productID, "quantity": 1}}, "email": buyerEmail(),
		"shippingAddress": a, "idempotencyKey": "e2e-hostile-" + randHex(8),
	}
	for k, v := range over {
		in[k] = v
	}
	return map[string]any{"input": in}
}

func TestE2EHostileInput(t *testing.T) {
	deps := startDeps(t, false)
	srv := startServer(t, "hostile", deps.env(t, nil))
	staff := srv.staffLogin(t)
	p := srv.createProduct(t, staff, "10.00", 50)
	var cc struct {
		CartCreate struct{ Cart struct{ ID string } }
	}
	srv.gql(t, "", `mutation { cartCreate { cart { id } } }`, nil, &cc)
	cartID := cc.CartCreate.Cart.ID

	line := func(q any) []any { return []any{map[string]any{"productId": p.ID, "quantity": q}} }
	manyLines := make([]any, 10_000)
	for i := range manyLines {
		manyLines[i] = map[string]any{"productId": p.ID, "quantity": 1}
	}
	aliases := strings.Builder{}
	aliases.WriteString("query {")
	for i := range 1000 {
		fmt.Fprintf(&aliases, " a%d: products(first: 100) { edges { node { id name } } }", i)
	}
	aliases.WriteString(" }")
	huge := `{"query":"{ __typename }","variables":{"pad":"` + strings.Repeat("A", 2<<20) + `"}}`
	marker := "BODY-MUST-NOT-ECHO"
	invalidUTF8 := func(query, path string, field []string) hostileCase {
		// A JSON body with the byte 0xFF inside a string variable: Go's
		// decoder would turn it into U+FFFD unnoticed.
		body := []byte(`{"query":` + hostileJSONString(query) + `,"variables":` + path + `}`)
		return hostileCase{name: "invalid UTF-8 in " + strings.Join(field, "."), req: hostileRequest{body: body, staff: true},
			status: http.StatusBadRequest, codes: []string{"BAD_USER_INPUT"}, field: field}
	}
	longEmail := strings.Repeat("a", 300-len("@example.com")) + "@example.com"
	bad := []string{"GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT"}

	cases := []hostileCase{
		// Size and shape.
		{name: "2 MiB body", req: hostileRequest{body: []byte(huge)}, status: http.StatusRequestEntityTooLarge, codes: []string{"BAD_USER_INPUT"}},
		{name: "2 MiB body without Content-Length", req: hostileRequest{body: []byte(huge), chunked: true},
			status: http.StatusRequestEntityTooLarge, codes: []string{"BAD_USER_INPUT"}},
		{name: "query nested 20 deep", req: hostileRequest{query: hostileNested(20), staff: true}, codes: []string{"QUERY_TOO_COMPLEX"}},
		{name: "1,000 aliases of products(first: 100)", req: hostileRequest{query: aliases.String()}, codes: []string{"QUERY_TOO_COMPLEX"}},
		{name: "batched operations", req: hostileRequest{body: []byte(`[{"query":"mutation { cartCreate { cart { id } } }"},{"query":"{ __typename }"}]`)},
			status: http.StatusBadRequest, codes: []string{"BAD_USER_INPUT"}},
		{name: "cartCreate with 10,000 lines", req: hostileRequest{query: hostileCartCreate, vars: map[string]any{"l": manyLines}},
			codes: []string{"BAD_USER_INPUT"}, field: []string{"lines"}, within: 3 * time.Second},
		{name: "cartLinesAdd with 10,000 lines", req: hostileRequest{query: hostileCartLinesAdd, vars: map[string]any{"c": cartID, "l": manyLines}},
			codes: []string{"BAD_USER_INPUT"}, field: []string{"lines"}, within: 3 * time.Second},
		{name: "checkout with 10,000 lines", req: hostileRequest{query: checkoutMutation, vars: hostileCheckoutInput(p.ID, map[string]any{"lines": manyLines}, nil)},
			codes: []string{"BAD_USER_INPUT"}, field: []string{"input", "lines"}, within: 3 * time.Second},

		// Invalid UTF-8.
		invalidUTF8(hostileRegister, `{"in":{"email":"utf8-`+randHex(4)+`@example.com","password":"a-long-password","firstName":"Ad`+"\xff"+`a","lastName":"L"}}`,
			[]string{"input", "firstName"}),
		invalidUTF8(hostileProduct, `{"in":{"sku":"UTF8-`+strings.ToUpper(randHex(4))+`","name":"Mug `+"\xc3\x28"+`","price":"5.00"}}`, []string{"input", "name"}),
		invalidUTF8(hostileCartEmail, `{"c":"`+cartID+`","e":"a`+"\xed\xa0\x80"+`@example.com"}`, []string{"email"}),

		// Emails and phone numbers that are not.
		{name: `register with email "a@b"`, req: hostileRequest{query: hostileRegister, vars: hostileRegisterInput(map[string]any{"email": "a@b"})}, field: []string{"input", "email"}},
		{name: `register with email "<script>@x.com"`, req: hostileRequest{query: hostileRegister, vars: hostileRegisterInput(map[string]any{"email": "<script>@x.com"})}, field: []string{"input", "email"}},
		{name: "register with a 300-character email", req: hostileRequest{query: hostileRegister, vars: hostileRegisterInput(map[string]any{"email": longEmail})}, field: []string{"input", "email"}},
		{name: `cartEmailUpdate with "a@b"`, req: hostileRequest{query: hostileCartEmail, vars: map[string]any{"c": cartID, "e": "a@b"}}, field: []string{"email"}},
		{name: `cartEmailUpdate with "<script>@x.com"`, req: hostileRequest{query: hostileCartEmail, vars: map[string]any{"c": cartID, "e": "<script>@x.com"}}, field: []string{"email"}},
		{name: "cartEmailUpdate with a 300-character email", req: hostileRequest{query: hostileCartEmail, vars: map[string]any{"c": cartID, "e": longEmail}}, field: []string{"email"}},
		{name: `checkout with email "<script>@x.com"`, req: hostileRequest{query: checkoutMutation, vars: hostileCheckoutInput(p.ID, map[string]any{"email": "<script>@x.com"}, nil)},
			field: []string{"input", "email"}},
		{name: `register with phone "not a phone"`, req: hostileRequest{query: hostileRegister, vars: hostileRegisterInput(map[string]any{"phone": "not a phone"})}, field: []string{"input", "phone"}},
		{name: `register with phone "+1' OR 1=1 --"`, req: hostileRequest{query: hostileRegister, vars: hostileRegisterInput(map[string]any{"phone": "+1' OR 1=1 --"})}, field: []string{"input", "phone"}},
		{name: "register with a 60-digit phone", req: hostileRequest{query: hostileRegister, vars: hostileRegisterInput(map[string]any{"phone": "+" + strings.Repeat("1", 60)})}, field: []string{"input", "phone"}},
		{name: `checkout with address phone "12"`, req: hostileRequest{query: checkoutMutation, vars: hostileCheckoutInput(p.ID, nil, map[string]any{"phone": "12"})},
			field: []string{"input", "shippingAddress", "phone"}},

		// Negative and enormous numbers.
		{name: "cart quantity -1", req: hostileRequest{query: hostileCartLinesAdd, vars: map[string]any{"c": cartID, "l": line(-1)}}, field: []string{"lines", "0", "quantity"}},
		{name: "cart quantity 2147483648", req: hostileRequest{query: hostileCartLinesAdd, vars: map[string]any{"c": cartID, "l": line(2147483648)}},
			codes: bad},
		{name: "cart quantity 2147483647", req: hostileRequest{query: hostileCartLinesAdd, vars: map[string]any{"c": cartID, "l": line(2147483647)}}, field: []string{"lines", "0", "quantity"}},
		{name: "cart quantity 1.5", req: hostileRequest{query: hostileCartLinesAdd, vars: map[string]any{"c": cartID, "l": line(1.5)}},
			status: http.StatusUnprocessableEntity, codes: bad},
		{name: "checkout quantity -1", req: hostileRequest{query: checkoutMutation, vars: hostileCheckoutInput(p.ID, map[string]any{"lines": line(-1)}, nil)},
			field: []string{"input", "lines", "0", "quantity"}},
		{name: "checkout quantity 2147483648", req: hostileRequest{query: checkoutMutation, vars: hostileCheckoutInput(p.ID, map[string]any{"lines": line(2147483648)}, nil)},
			codes: bad},
		{name: "inventoryQuantity 10^9", req: hostileRequest{query: hostileProduct, staff: true, vars: hostileProductInput(map[string]any{"inventoryQuantity": 1_000_000_000})},
			field: []string{"input", "inventoryQuantity"}},
		{name: "inventoryQuantity -1", req: hostileRequest{query: hostileProduct, staff: true, vars: hostileProductInput(map[string]any{"inventoryQuantity": -1})},
			field: []string{"input", "inventoryQuantity"}},
		{name: "inventoryAdjust +2147483647", req: hostileRequest{query: hostileAdjust, staff: true,
			vars: map[string]any{"in": map[string]any{"productId": p.ID, "quantityChange": 2147483647, "type": "RESTOCK"}}}, field: []string{"input", "quantityChange"}},
		{name: "inventoryAdjust -2147483648", req: hostileRequest{query: hostileAdjust, staff: true,
			vars: map[string]any{"in": map[string]any{"productId": p.ID, "quantityChange": -2147483648, "type": "ADJUSTMENT"}}}, field: []string{"input", "quantityChange"}},
		{name: "products(first: -5)", req: hostileRequest{query: `{ products(first: -5) { totalCount } }`}, codes: []string{"BAD_USER_INPUT"}},
		{name: "products(first: 2147483647)", req: hostileRequest{query: `{ products(first: 2147483647) { totalCount } }`}, codes: []string{"BAD_USER_INPUT"}},
		{name: "weightGrams -1", req: hostileRequest{query: hostileProduct, staff: true, vars: hostileProductInput(map[string]any{"weightGrams": -1})}, field: []string{"input", "weightGrams"}},
		{name: "lowStockThreshold -1", req: hostileRequest{query: hostileProduct, staff: true, vars: hostileProductInput(map[string]any{"lowStockThreshold": -1})},
			field: []string{"input", "lowStockThreshold"}},

		// Ids of the wrong type.
		{name: `product(id: "1")`, req: hostileRequest{query: `{ product(id: "1") { id } }`}, codes: []string{"NOT_FOUND"}},
		{name: `product(id: "' OR 1=1 --")`, req: hostileRequest{query: `{ product(id: "' OR 1=1 --") { id } }`}, codes: []string{"NOT_FOUND"}},
		{name: "cart(id: 123) as a number", req: hostileRequest{query: `query($id: ID!) { cart(id: $id) { id } }`, vars: map[string]any{"id": 123}},
			codes: []string{"NOT_FOUND", "GRAPHQL_VALIDATION_FAILED"}},
		{name: "cart(id: {…}) as an object", req: hostileRequest{query: `query($id: ID!) { cart(id: $id) { id } }`, vars: map[string]any{"id": map[string]any{"$ne": nil}}},
			status: http.StatusUnprocessableEntity, codes: []string{"GRAPHQL_VALIDATION_FAILED"}},
		{name: "cart(id: true) inline", req: hostileRequest{query: `{ cart(id: true) { id } }`}, status: http.StatusUnprocessableEntity, codes: []string{"GRAPHQL_VALIDATION_FAILED"}},
		{name: `orderCancel(id: "x")`, req: hostileRequest{query: `mutation { orderCancel(id: "x") { order { id } userErrors { field message code } } }`, staff: true},
			codes: []string{"NOT_FOUND"}, field: []string{"id"}},
		{name: `cartLinesAdd(cartId: "' OR 1=1 --")`, req: hostileRequest{query: hostileCartLinesAdd, vars: map[string]any{"c": "' OR 1=1 --", "l": line(1)}},
			codes: []string{"NOT_FOUND"}, field: []string{"cartId"}},
		{name: `customer(id: "1; DROP TABLE customers")`, req: hostileRequest{query: `{ customer(id: "1; DROP TABLE customers") { id } }`, staff: true}, codes: []string{"NOT_FOUND"}},

		// Transports.
		{name: "a body that is not JSON", req: hostileRequest{body: []byte("query=" + marker + "&{{{")}, status: http.StatusBadRequest, codes: []string{"BAD_USER_INPUT"}},
		{name: "broken JSON", req: hostileRequest{body: []byte(`{"query": "{ __typename }", "variables": {"` + marker)}, status: http.StatusBadRequest, codes: []string{"BAD_USER_INPUT"}},
		{name: "variables that are a string", req: hostileRequest{body: []byte(`{"query": "{ __typename }", "variables": "` + marker + `"}`)}, status: http.StatusBadRequest, codes: []string{"BAD_USER_INPUT"}},
		{name: "wrong content type", req: hostileRequest{body: []byte(`{"query":"mutation { cartCreate { cart { id } } }"}`), contentType: "text/plain"},
			status: http.StatusUnsupportedMediaType, codes: []string{"BAD_USER_INPUT"}},
		{name: "no content type", req: hostileRequest{body: []byte(`{"query":"mutation { cartCreate { cart { id } } }"}`), contentType: "none"},
			status: http.StatusUnsupportedMediaType, codes: []string{"BAD_USER_INPUT"}},
		{name: "GET with a mutation", req: hostileRequest{method: http.MethodGet, rawQuery: "query=" + url.QueryEscape(`mutation { cartCreate { cart { id } } }`)},
			status: http.StatusMethodNotAllowed, codes: []string{"BAD_USER_INPUT"}},
		{name: "GET with a staff mutation", req: hostileRequest{method: http.MethodGet, staff: true,
			rawQuery: "query=" + url.QueryEscape(`mutation { productCreate(input: {sku: "GET-1", name: "Via GET", price: "1.00"}) { product { id } } }`)},
			status: http.StatusMethodNotAllowed, codes: []string{"BAD_USER_INPUT"}},
		{name: "an empty query", req: hostileRequest{body: []byte(`{"query": ""}`)}, status: http.StatusUnprocessableEntity, codes: []string{"GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED"}},
	}
	for _, price := range []string{"1e308", "NaN", "-0.001", "Infinity", "0x10", "1.001", "-5.00", "99999999999999999999.99"} {
		cases = append(cases, hostileCase{name: "price " + price, req: hostileRequest{query: hostileProduct, staff: true, vars: hostileProductInput(map[string]any{"price": price})},
			field: []string{"input", "price"}})
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := hostileSnapshot(t, srv, staff)
			r := hostileSend(t, srv, staff, c.req)
			c.check(t, r)
			if c.name == "a body that is not JSON" || strings.HasPrefix(c.name, "broken JSON") || strings.HasPrefix(c.name, "variables that") {
				if bytes.Contains(r.raw, []byte(marker)) {
					t.Errorf("the error echoes the request body: %.400s", r.raw)
				}
			}
			hostileHealthy(t, srv)
			if after := hostileSnapshot(t, srv, staff); !maps.Equal(before, after) {
				t.Errorf("the database changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

func hostileJSONString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// hostileFrame is one websocket message a client sends.
type hostileFrame struct {
	typ  websocket.MessageType
	data string
}

// hostileWSRead reads until the server closes the socket or within passes;
// it returns the close status (-1 when the socket ended without a close
// frame, 0 when it stayed open) and the types of the messages received.
func hostileWSRead(conn *websocket.Conn, within time.Duration) (websocket.StatusCode, []string) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var got []string
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return 0, got
			}
			return websocket.CloseStatus(err), got
		}
		var m struct{ Type string }
		_ = json.Unmarshal(data, &m)
		got = append(got, m.Type)
	}
}

// hostileWSDial opens a websocket to /graphql with the subprotocol.
func hostileWSDial(t *testing.T, s *e2eServer, proto string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.base, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{proto}})
	if err != nil {
		t.Fatalf("dial websocket (%s): %v", proto, err)
	}
	conn.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = conn.CloseNow() })
	return conn
}

// TestE2EHostileWebsocket: a connection_init of 1 MB, garbage frames and
// messages out of protocol order get that socket closed; the server stays
// up, still accepts websockets, and the database is unchanged.
func TestE2EHostileWebsocket(t *testing.T) {
	deps := startDeps(t, false)
	srv := startServer(t, "hostile-ws", deps.env(t, nil))
	staff := srv.staffLogin(t)

	const (
		modern = "graphql-transport-ws"
		legacy = "graphql-ws"
	)
	init := hostileFrame{websocket.MessageText, `{"type":"connection_init","payload":{}}`}
	bigInit := hostileFrame{websocket.MessageText, `{"type":"connection_init","payload":{"pad":"` + strings.Repeat("A", 1<<20) + `"}}`}
	garbage := hostileFrame{websocket.MessageText, "\x00{{{not json" + strings.Repeat("\xff", 16)}
	binary := hostileFrame{websocket.MessageBinary, "\x89PNG\r\n\x1a\n\x00\x00\xde\xad\xbe\xef"}
	subscribe := hostileFrame{websocket.MessageText,
		`{"id":"1","type":"subscribe","payload":{"query":"subscription { orderUpdates { orderId } }"}}`}
	cases := []struct {
		name   string
		proto  string
		frames []hostileFrame
	}{
		{"a connection_init of 1 MB", modern, []hostileFrame{bigInit}},
		{"a connection_init of 1 MB, legacy protocol", legacy, []hostileFrame{bigInit}},
		{"a garbage text frame", modern, []hostileFrame{garbage}},
		{"a garbage text frame, legacy protocol", legacy, []hostileFrame{garbage}},
		{"a binary frame", modern, []hostileFrame{binary}},
		{"garbage after connection_init", modern, []hostileFrame{init, garbage}},
		{"subscribe before connection_init", modern, []hostileFrame{subscribe}},
		{"connection_init twice", modern, []hostileFrame{init, init}},
		{"an unknown message type", modern, []hostileFrame{init, {websocket.MessageText, `{"type":"` + strings.Repeat("x", 1000) + `"}`}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := hostileSnapshot(t, srv, staff)
			conn := hostileWSDial(t, srv, c.proto)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			for _, f := range c.frames {
				if err := conn.Write(ctx, f.typ, []byte(f.data)); err != nil {
					break // the server may close before the last frame
				}
			}
			cancel()
			status, got := hostileWSRead(conn, 5*time.Second)
			if status == 0 {
				t.Errorf("the socket is still open 5s later; received %v", got)
			}
			for _, typ := range got {
				if !slices.Contains([]string{"connection_ack", "ka", "ping", "connection_error", "error"}, typ) {
					t.Errorf("received a %q message", typ)
				}
			}
			t.Logf("closed with %v after %v", status, got)

			hostileHealthy(t, srv)
			fresh := hostileWSDial(t, srv, c.proto)
			wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer wcancel()
			if err := fresh.Write(wctx, websocket.MessageText, []byte(init.data)); err != nil {
				t.Fatalf("a fresh websocket: %v", err)
			}
			if _, data, err := fresh.Read(wctx); err != nil || !strings.Contains(string(data), "connection_ack") {
				t.Fatalf("a fresh websocket after the case: %q, %v; want connection_ack", data, err)
			}
			_ = fresh.Close(websocket.StatusNormalClosure, "")
			if after := hostileSnapshot(t, srv, staff); !maps.Equal(before, after) {
				t.Errorf("the database changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}
