package e2e

// Hostile input against the real binary (issue 6): what a hostile client
// sends to every mutation — oversized bodies, deep and wide queries,
// batches, huge lists, invalid UTF-8, emails and phone numbers that are
// not, SQL and template metacharacters (which must come back as text),
// NUL characters, negative and enormous numbers, ids of the wrong type,
// bodies that are not JSON, malformed multipart uploads, a mutation over
// GET, and websocket abuse. Each case checks that the answer is a clear error (a
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
	"html"
	"image"
	"image/png"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"

	"commerce/internal/platform/dbtest"
	"commerce/internal/platform/mailtest"
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
	field  []string      // ... or a userError, or a BAD_USER_INPUT error, whose field path starts with this
	within time.Duration // answered within (10 s when zero)
	noEcho bool          // the request carries hostileMarker, which the answer must not
}

// hostileMarker is put in requests whose answer must not echo them.
const hostileMarker = "BODY-MUST-NOT-ECHO"

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
		under := func(field []string) bool {
			return len(field) >= len(c.field) && slices.Equal(field[:len(c.field)], c.field)
		}
		for _, ue := range hostileUserErrors(r.resp.Data) {
			if under(ue.Field) && ue.Message != "" && ue.Code != "" {
				clear = true
			}
		}
		for _, e := range r.resp.Errors {
			var field []string
			if list, ok := e.Extensions["field"].([]any); ok {
				for _, f := range list {
					field = append(field, fmt.Sprint(f))
				}
			}
			if e.Extensions["code"] == "BAD_USER_INPUT" && under(field) {
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

// hostilePart is one part of a multipart body: a form field, or a file
// when filename is set.
type hostilePart struct{ name, filename, content string }

// hostileMultipart encodes parts, in order, as multipart/form-data and
// returns the body and its Content-Type.
func hostileMultipart(parts ...hostilePart) ([]byte, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		var w io.Writer
		if p.filename != "" {
			w, _ = mw.CreateFormFile(p.name, p.filename)
		} else {
			w, _ = mw.CreateFormField(p.name)
		}
		_, _ = io.WriteString(w, p.content)
	}
	_ = mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

const hostileUpload = `mutation($p: ID!, $f: Upload!, $a: String) { productImageUpload(productId: $p, file: $f, altText: $a) {
	product { id images { id altText } } userErrors { field message code } } }`

// hostileUploadOps is the operations part of an image upload to product
// with altText (nil for none), the file in variables.f.
func hostileUploadOps(product string, altText any) string {
	b, _ := json.Marshal(map[string]any{"query": hostileUpload, "variables": map[string]any{"p": product, "f": nil, "a": altText}})
	return string(b)
}

// hostilePNG is a valid 2×2 PNG.
func hostilePNG() string {
	var b bytes.Buffer
	_ = png.Encode(&b, image.NewGray(image.Rect(0, 0, 2, 2)))
	return b.String()
}

// hostileMaxUpload is the hostile servers' MAX_UPLOAD_BYTES: small, so
// that a file over it is a small request.
const hostileMaxUpload = 256 << 10

// hostileMultipartCases are malformed multipart requests: each gets a
// GraphQL error with code BAD_USER_INPUT, 400 (413 when too large), that
// quotes nothing of the request; a file over MAX_UPLOAD_BYTES but within
// the transport's limit reaches the resolver and gets a userError.
func hostileMultipartCases(productID string) []hostileCase {
	marker := hostileMarker
	ops := hostileUploadOps(productID, nil)
	file := hostilePart{"0", "mug.png", hostilePNG()}
	fileMap := hostilePart{"map", "", `{"0": ["variables.f"]}`}
	mp := func(name string, status int, parts ...hostilePart) hostileCase {
		body, ct := hostileMultipart(parts...)
		return hostileCase{name: "multipart: " + name, req: hostileRequest{body: body, contentType: ct, staff: true},
			status: status, codes: []string{"BAD_USER_INPUT"}, noEcho: true}
	}
	bad := http.StatusBadRequest

	wrongBoundary := mp("a boundary that is not the body's", bad, hostilePart{"operations", "", ops}, fileMap, file)
	wrongBoundary.req.contentType = "multipart/form-data; boundary=not-the-one-" + marker
	noBoundary := mp("no boundary", bad, hostilePart{"operations", "", ops}, fileMap, file)
	noBoundary.req.contentType = "multipart/form-data"
	truncated := mp("a body cut off in the file", bad, hostilePart{"operations", "", ops}, fileMap,
		hostilePart{"0", "mug.png", strings.Repeat(marker, 200)})
	truncated.req.body = truncated.req.body[:len(truncated.req.body)-1000]
	empty := mp("an empty body", bad)
	empty.req.body = []byte{}
	oversized := mp("a file over MAX_UPLOAD_BYTES", http.StatusOK, hostilePart{"operations", "", ops}, fileMap,
		hostilePart{"0", "big.png", hostilePNG() + strings.Repeat("\x00", hostileMaxUpload)})
	oversized.codes, oversized.field = nil, []string{"file"}
	tooLarge := mp("a body over the transport's limit", http.StatusRequestEntityTooLarge, hostilePart{"operations", "", ops}, fileMap,
		hostilePart{"0", "huge.png", strings.Repeat(marker, (hostileMaxUpload+2<<20)/len(marker))})
	tooLargeChunked := tooLarge
	tooLargeChunked.name += " without Content-Length"
	tooLargeChunked.req.chunked = true
	invalidUTF8 := mp("operations with invalid UTF-8", bad, hostilePart{"operations", "", strings.Replace(hostileUploadOps(productID, "Mug XFF"), "XFF", "\xff", 1)}, fileMap, file)
	nulAlt := mp("altText with a NUL", http.StatusOK, hostilePart{"operations", "", hostileUploadOps(productID, "Mug\x00"+marker)}, fileMap, file)
	nulAlt.codes, nulAlt.field = nil, []string{"altText"}

	return []hostileCase{
		mp("operations that are not JSON", bad, hostilePart{"operations", "", "query=" + marker + "&{{{"}, fileMap, file),
		mp("operations that are a batch", bad, hostilePart{"operations", "", "[" + ops + "]"}, fileMap, file),
		mp("operations with variables that are a string", bad,
			hostilePart{"operations", "", `{"query": "mutation { __typename }", "variables": "` + marker + `"}`}, fileMap, file),
		mp("a map that is not JSON", bad, hostilePart{"operations", "", ops}, hostilePart{"map", "", `{"0": ["variables.f"` + marker}, file),
		mp("a map that is a list", bad, hostilePart{"operations", "", ops}, hostilePart{"map", "", `["variables.f", "` + marker + `"]`}, file),
		mp("a map naming a variable the operation does not have", bad, hostilePart{"operations", "", ops},
			hostilePart{"map", "", `{"` + marker + `": ["variables.` + marker + `"]}`}, hostilePart{marker, "mug.png", hostilePNG()}),
		mp("a map path without variables.", bad, hostilePart{"operations", "", ops},
			hostilePart{"map", "", `{"` + marker + `": ["` + marker + `"]}`}, hostilePart{marker, "mug.png", hostilePNG()}),
		mp("a map path through a string variable", bad, hostilePart{"operations", "", ops},
			hostilePart{"map", "", `{"0": ["variables.p.0"]}`}, file),
		mp("a map path into the null file variable", bad, hostilePart{"operations", "", ops},
			hostilePart{"map", "", `{"0": ["variables.f.` + marker + `"]}`}, file),
		mp("a map path to a variable that is not null", bad, hostilePart{"operations", "", ops},
			hostilePart{"map", "", `{"0": ["variables.p"]}`}, file),
		mp("a map with an empty list", bad, hostilePart{"operations", "", ops}, hostilePart{"map", "", `{"` + marker + `": []}`}, file),
		mp("a map naming a file part the request lacks", bad, hostilePart{"operations", "", ops},
			hostilePart{"map", "", `{"` + marker + `": ["variables.f"]}`}),
		mp("a file part the map does not name", bad, hostilePart{"operations", "", ops}, fileMap, file, hostilePart{marker, "x.png", hostilePNG()}),
		mp("the same file part twice", bad, hostilePart{"operations", "", ops}, fileMap, file, file),
		mp("a file part and no map", bad, hostilePart{"operations", "", ops}, hostilePart{marker, "mug.png", hostilePNG()}),
		mp("no operations part", bad, fileMap, hostilePart{"operations", "", ops}, file),
		wrongBoundary, noBoundary, truncated, empty, invalidUTF8, nulAlt, oversized, tooLarge, tooLargeChunked,
	}
}

func TestE2EHostileInput(t *testing.T) {
	deps := startDeps(t, false)
	srv := startServer(t, "hostile", deps.env(t, map[string]string{"MAX_UPLOAD_BYTES": strconv.Itoa(hostileMaxUpload)}))
	staff := srv.staffLogin(t)
	p := srv.createProduct(t, staff, "10.00", 50)
	paid := srv.checkout(t, buyerEmail(), "e2e-hostile-paid-"+randHex(8), map[string]int{p.ID: 1}).Order
	srv.waitOrder(t, staff, paid.OrderNumber, 15*time.Second, "PAID", func(o e2eOrder) bool { return o.PaymentStatus == "PAID" })
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
	marker := hostileMarker
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
		{name: "a body that is not JSON", req: hostileRequest{body: []byte("query=" + marker + "&{{{")}, status: http.StatusBadRequest, codes: []string{"BAD_USER_INPUT"}, noEcho: true},
		{name: "broken JSON", req: hostileRequest{body: []byte(`{"query": "{ __typename }", "variables": {"` + marker)}, status: http.StatusBadRequest,
			codes: []string{"BAD_USER_INPUT"}, noEcho: true},
		{name: "variables that are a string", req: hostileRequest{body: []byte(`{"query": "{ __typename }", "variables": "` + marker + `"}`)}, status: http.StatusBadRequest,
			codes: []string{"BAD_USER_INPUT"}, noEcho: true},
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
		{name: "GET with a semicolon in the query string", req: hostileRequest{method: http.MethodGet, rawQuery: "query=" + url.QueryEscape(`{ __typename }`) + ";" + marker},
			status: http.StatusBadRequest, codes: []string{"BAD_USER_INPUT"}, noEcho: true},
		{name: "GET with variables that are not JSON", req: hostileRequest{method: http.MethodGet,
			rawQuery: "query=" + url.QueryEscape(`query($f: Int) { products(first: $f) { totalCount } }`) + "&variables=" + url.QueryEscape(`{"f": `+marker)},
			status: http.StatusBadRequest, codes: []string{"BAD_USER_INPUT"}, noEcho: true},
		{name: "a sort key variable that is not one", req: hostileRequest{query: `query($s: ProductSortKey) { products(first: 1, sortKey: $s) { totalCount } }`,
			vars: map[string]any{"s": marker}}, status: http.StatusUnprocessableEntity, codes: []string{"GRAPHQL_VALIDATION_FAILED"}, noEcho: true},
		{name: "an unknown input field in a variable", req: hostileRequest{query: `query($f: ProductFilter) { products(first: 1, filter: $f) { totalCount } }`,
			vars: map[string]any{"f": map[string]any{marker: 1}}}, status: http.StatusUnprocessableEntity, codes: []string{"GRAPHQL_VALIDATION_FAILED"}, noEcho: true},
		{name: "an unknown operation name", req: hostileRequest{body: []byte(`{"query": "query A { __typename }", "operationName": "` + marker + `"}`)},
			status: http.StatusUnprocessableEntity, codes: []string{"GRAPHQL_VALIDATION_FAILED"}, noEcho: true},
		{name: "an APQ hash that does not match its query", req: hostileRequest{body: []byte(`{"query": "{ __typename }", "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "` + strings.Repeat("0", 64) + `"}}}`)},
			codes: []string{"BAD_USER_INPUT"}},
	}
	// A NUL: valid UTF-8 and valid JSON ("\u0000"), but no Postgres text
	// column holds it.
	nul := "a\x00" + marker
	fulfill := `mutation($id: ID!, $in: FulfillInput!) { orderFulfill(id: $id, input: $in) { order { id } userErrors { field message code } } }`
	cases = append(cases,
		hostileCase{name: "NUL in product name", req: hostileRequest{query: hostileProduct, staff: true, vars: hostileProductInput(map[string]any{"name": nul})},
			field: []string{"input", "name"}},
		hostileCase{name: "NUL in product description", req: hostileRequest{query: hostileProduct, staff: true, vars: hostileProductInput(map[string]any{"description": nul})},
			field: []string{"input", "description"}},
		hostileCase{name: "NUL in product category", req: hostileRequest{query: hostileProduct, staff: true, vars: hostileProductInput(map[string]any{"category": nul})},
			field: []string{"input", "category"}},
		hostileCase{name: "NUL in a product tag", req: hostileRequest{query: hostileProduct, staff: true, vars: hostileProductInput(map[string]any{"tags": []any{"ok", nul}})},
			field: []string{"input", "tags", "1"}},
		hostileCase{name: "NUL in product sku", req: hostileRequest{query: hostileProduct, staff: true, vars: hostileProductInput(map[string]any{"sku": "NUL\x00"})},
			field: []string{"input", "sku"}},
		hostileCase{name: "NUL in productUpdate name", req: hostileRequest{query: `mutation($id: ID!, $in: ProductUpdateInput!) { productUpdate(id: $id, input: $in) {
			product { id } userErrors { field message code } } }`, staff: true, vars: map[string]any{"id": p.ID, "in": map[string]any{"name": nul}}},
			field: []string{"input", "name"}},
		hostileCase{name: "NUL in register firstName", req: hostileRequest{query: hostileRegister, vars: hostileRegisterInput(map[string]any{"firstName": nul})},
			field: []string{"input", "firstName"}},
		hostileCase{name: "NUL in register lastName", req: hostileRequest{query: hostileRegister, vars: hostileRegisterInput(map[string]any{"lastName": nul})},
			field: []string{"input", "lastName"}},
		hostileCase{name: "NUL in register email", req: hostileRequest{query: hostileRegister, vars: hostileRegisterInput(map[string]any{"email": "a\x00@example.com"})},
			field: []string{"input", "email"}},
		hostileCase{name: "NUL in customerLogin email", req: hostileRequest{query: `mutation($e: String!) { customerLogin(email: $e, password: "x-long-password") {
			token userErrors { field message code } } }`, vars: map[string]any{"e": "a\x00@example.com"}},
			codes: []string{"BAD_USER_INPUT", "UNAUTHENTICATED"}, field: []string{}},
		hostileCase{name: "NUL in checkout address line1", req: hostileRequest{query: checkoutMutation, vars: hostileCheckoutInput(p.ID, nil, map[string]any{"line1": nul})},
			field: []string{"input", "shippingAddress", "line1"}},
		hostileCase{name: "NUL in checkout address company", req: hostileRequest{query: checkoutMutation, vars: hostileCheckoutInput(p.ID, nil, map[string]any{"company": nul})},
			field: []string{"input", "shippingAddress", "company"}},
		hostileCase{name: "NUL in checkout idempotencyKey", req: hostileRequest{query: checkoutMutation, vars: hostileCheckoutInput(p.ID, map[string]any{"idempotencyKey": nul}, nil)},
			field: []string{"input", "idempotencyKey"}},
		hostileCase{name: "NUL in a cart line sku", req: hostileRequest{query: hostileCartLinesAdd, vars: map[string]any{"c": cartID,
			"l": []any{map[string]any{"sku": nul, "quantity": 1}}}}, codes: []string{"NOT_FOUND", "BAD_USER_INPUT"}, field: []string{"lines", "0", "sku"}},
		hostileCase{name: "NUL in inventoryAdjust notes", req: hostileRequest{query: hostileAdjust, staff: true,
			vars: map[string]any{"in": map[string]any{"productId": p.ID, "quantityChange": 1, "type": "RESTOCK", "notes": nul}}}, field: []string{"input", "notes"}},
		hostileCase{name: "NUL in inventoryAdjust referenceId", req: hostileRequest{query: hostileAdjust, staff: true,
			vars: map[string]any{"in": map[string]any{"productId": p.ID, "quantityChange": 1, "type": "RESTOCK", "referenceId": nul}}}, field: []string{"input", "referenceId"}},
		hostileCase{name: "NUL in orderFulfill trackingNumber", req: hostileRequest{query: fulfill, staff: true,
			vars: map[string]any{"id": paid.ID, "in": map[string]any{"trackingNumber": nul, "notifyCustomer": false}}}, field: []string{"input", "trackingNumber"}},
		hostileCase{name: "NUL in orderFulfill carrier", req: hostileRequest{query: fulfill, staff: true,
			vars: map[string]any{"id": paid.ID, "in": map[string]any{"trackingNumber": "1Z-NUL", "carrier": nul, "notifyCustomer": false}}}, field: []string{"input", "carrier"}},
		hostileCase{name: "NUL in orderCancel reason", req: hostileRequest{query: `mutation($id: ID!, $r: String) { orderCancel(id: $id, reason: $r) {
			order { id } userErrors { field message code } } }`, staff: true, vars: map[string]any{"id": paid.ID, "r": nul}}, field: []string{"reason"}},
		hostileCase{name: "NUL in products search", req: hostileRequest{query: `query($s: String) { products(filter: {search: $s}) { totalCount } }`,
			vars: map[string]any{"s": nul}}, codes: []string{"BAD_USER_INPUT"}},
		hostileCase{name: "NUL in products category filter", req: hostileRequest{query: `query($s: String) { products(filter: {category: $s}) { totalCount } }`,
			vars: map[string]any{"s": nul}}, codes: []string{"BAD_USER_INPUT"}},
		hostileCase{name: "NUL in customers search", req: hostileRequest{query: `query($s: String) { customers(search: $s) { totalCount } }`, staff: true,
			vars: map[string]any{"s": nul}}, codes: []string{"BAD_USER_INPUT"}},
		hostileCase{name: "NUL in an inline string", req: hostileRequest{query: `{ products(filter: {search: "a\u0000b"}) { totalCount } }`},
			codes: []string{"BAD_USER_INPUT"}},
	)
	cases = append(cases, hostileMultipartCases(p.ID)...)
	for _, price := range []string{"1e308", "NaN", "-0.001", "Infinity", "0x10", "1.001", "-5.00", "99999999999999999999.99"} {
		cases = append(cases, hostileCase{name: "price " + price, req: hostileRequest{query: hostileProduct, staff: true, vars: hostileProductInput(map[string]any{"price": price})},
			field: []string{"input", "price"}})
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := hostileSnapshot(t, srv, staff)
			r := hostileSend(t, srv, staff, c.req)
			c.check(t, r)
			if c.noEcho && bytes.Contains(r.raw, []byte(marker)) {
				t.Errorf("the error echoes the request body: %.400s", r.raw)
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

// hostileTexts are SQL, template and markup metacharacters, format verbs,
// escapes, quotes and a right-to-left override: a text field must store
// and show each as the text it is, never run it.
var hostileTexts = []string{
	`'); DROP TABLE products; --`,
	`' OR '1'='1`,
	`{{.Secret}}`,
	`{{template "x"}}`,
	`{{define "content"}}pwned{{end}}`,
	`${7*7} #{7*7} <%= 7*7 %>`,
	`<script>alert(1)</script>`,
	`%s %n %d %!x %v`,
	`back\slash \\ \n \u0041 "dq" 'sq' ` + "`bt`",
	"\u202Eexe.txt\u202C ünïcødé 😀",
	`$1 ? :name @p ; SELECT pg_sleep(5)`,
}

// hostileAddressFields are the Address fields read back.
const hostileAddressFields = `firstName lastName company line1 line2 city region postalCode countryCode`

// TestE2EHostileTextRoundTrip puts hostileTexts into every free-text field a
// client can set (product sku, name, description, category and tags, image
// alt text, ledger reference and notes, customer names, shipping and
// billing addresses, tracking number and carrier, a cancel reason) and
// reads each back through GraphQL byte for byte; the order confirmation and
// shipping emails rendered from them show them literally in the text part
// and escaped in the HTML part, never executed; and the database still has
// all its tables.
func TestE2EHostileTextRoundTrip(t *testing.T) {
	deps := startDeps(t, false)
	srv := startServer(t, "hostile-text", deps.env(t, nil))
	staff := srv.staffLogin(t)
	text := func(i int) string { return hostileTexts[i] }
	all := strings.Join(hostileTexts, " | ")
	same := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s came back as %q, want %q", what, got, want)
		}
	}

	// The catalog: created, then updated, then looked up by its hostile
	// sku, category and search text.
	sku := "HT-" + strings.ToUpper(randHex(4)) + `-'";--{{.Secret}}<i>%s\$1`
	category := "Cat " + randHex(4) + " " + text(0)
	name := text(6) + " " + text(2) + " " + text(5)
	description := strings.Join(hostileTexts, "\n")
	tags := []string{text(1), text(4), text(9)}
	type product struct {
		ID, SKU, Name         string
		Description, Category *string
		Tags                  []string
		Images                []struct{ AltText *string }
	}
	const productFields = `id sku name description category tags images { altText }`
	var created struct {
		ProductCreate struct {
			Product    *product
			UserErrors []userError
		}
	}
	srv.gql(t, staff, `mutation($in: ProductCreateInput!) { productCreate(input: $in) { product { `+productFields+` } userErrors { field message code } } }`,
		map[string]any{"in": map[string]any{"sku": sku, "name": text(3), "description": text(0), "category": category, "tags": tags,
			"price": "12.50", "inventoryQuantity": 20, "lowStockThreshold": 1}}, &created)
	if created.ProductCreate.Product == nil {
		t.Fatalf("productCreate: %+v", created.ProductCreate.UserErrors)
	}
	p := *created.ProductCreate.Product
	same("product sku", p.SKU, sku)
	same("product name", p.Name, text(3))
	same("product description", orNil(p.Description), text(0))
	same("product category", orNil(p.Category), category)
	if !slices.Equal(p.Tags, tags) {
		t.Errorf("product tags came back as %q, want %q", p.Tags, tags)
	}
	var updated struct {
		ProductUpdate struct {
			Product    *product
			UserErrors []userError
		}
	}
	srv.gql(t, staff, `mutation($id: ID!, $in: ProductUpdateInput!) { productUpdate(id: $id, input: $in) { product { `+productFields+` } userErrors { field message code } } }`,
		map[string]any{"id": p.ID, "in": map[string]any{"name": name, "description": description}}, &updated)
	if updated.ProductUpdate.Product == nil {
		t.Fatalf("productUpdate: %+v", updated.ProductUpdate.UserErrors)
	}
	same("updated product name", updated.ProductUpdate.Product.Name, name)
	same("updated product description", orNil(updated.ProductUpdate.Product.Description), description)

	var found struct {
		BySKU      *product
		ByCategory struct{ Edges []struct{ Node product } }
		BySearch   struct{ TotalCount int }
		Categories []string
	}
	srv.gql(t, "", `query($sku: String!, $cat: String!, $q: String!) { bySKU: product(sku: $sku) { `+productFields+` }
		byCategory: products(filter: {category: $cat}) { edges { node { `+productFields+` } } }
		bySearch: products(filter: {search: $q}) { totalCount } categories }`,
		map[string]any{"sku": sku, "cat": category, "q": text(0)}, &found)
	if found.BySKU == nil || found.BySKU.ID != p.ID {
		t.Errorf("product(sku: %q) = %+v, want %s", sku, found.BySKU, p.ID)
	} else {
		same("product name read by sku", found.BySKU.Name, name)
		same("product description read by sku", orNil(found.BySKU.Description), description)
	}
	if len(found.ByCategory.Edges) != 1 || found.ByCategory.Edges[0].Node.ID != p.ID {
		t.Errorf("products(filter: {category: %q}) = %+v, want just %s", category, found.ByCategory.Edges, p.ID)
	}
	if !slices.Contains(found.Categories, category) {
		t.Errorf("categories %q do not list %q", found.Categories, category)
	}

	// An image's alt text, through the multipart transport.
	body, ct := hostileMultipart(hostilePart{"operations", "", hostileUploadOps(p.ID, all)},
		hostilePart{"map", "", `{"0": ["variables.f"]}`}, hostilePart{"0", "mug.png", hostilePNG()})
	up := hostileSend(t, srv, staff, hostileRequest{body: body, contentType: ct, staff: true})
	var upload struct {
		ProductImageUpload struct {
			Product    *product
			UserErrors []userError
		}
	}
	if err := json.Unmarshal(up.resp.Data, &upload); err != nil || up.status != http.StatusOK || upload.ProductImageUpload.Product == nil {
		t.Fatalf("productImageUpload: %d %s", up.status, up.raw)
	}
	if imgs := upload.ProductImageUpload.Product.Images; len(imgs) != 1 {
		t.Errorf("%d images after the upload, want 1", len(imgs))
	} else {
		same("image altText", orNil(imgs[0].AltText), all)
	}

	// The stock ledger's reference and notes.
	reference := "PO " + text(0) + " " + text(7)
	var adjusted struct {
		InventoryAdjust struct {
			Transaction *struct{ ReferenceID, Notes *string }
			UserErrors  []userError
		}
	}
	srv.gql(t, staff, `mutation($in: InventoryAdjustInput!) { inventoryAdjust(input: $in) { transaction { referenceId notes } userErrors { field message code } } }`,
		map[string]any{"in": map[string]any{"productId": p.ID, "quantityChange": 5, "type": "RESTOCK", "referenceId": reference, "notes": all}}, &adjusted)
	if tx := adjusted.InventoryAdjust.Transaction; tx == nil {
		t.Errorf("inventoryAdjust: %+v", adjusted.InventoryAdjust.UserErrors)
	} else {
		same("ledger referenceId", orNil(tx.ReferenceID), reference)
		same("ledger notes", orNil(tx.Notes), all)
	}
	type ledgerRow struct{ ReferenceID, Notes *string }
	var ledger struct {
		Product struct {
			InventoryTransactions struct{ Edges []struct{ Node ledgerRow } }
		}
	}
	srv.gql(t, staff, `query($id: ID!) { product(id: $id) { inventoryTransactions(first: 100) { edges { node { referenceId notes } } } } }`,
		map[string]any{"id": p.ID}, &ledger)
	var rows []ledgerRow
	for _, e := range ledger.Product.InventoryTransactions.Edges {
		rows = append(rows, e.Node)
	}
	if !slices.ContainsFunc(rows, func(r ledgerRow) bool { return orNil(r.ReferenceID) == reference && orNil(r.Notes) == all }) {
		t.Errorf("the ledger read back has no row with the reference and notes sent: %+v", rows)
	}

	// A customer's names.
	email := buyerEmail()
	firstName, lastName := text(2)+" "+text(6), text(0)+" "+text(10)
	var reg struct {
		CustomerRegister struct {
			Token    *string
			Customer *struct{ ID, FirstName, LastName string }
		}
	}
	srv.gql(t, "", hostileRegister, hostileRegisterInput(map[string]any{"email": email, "firstName": firstName, "lastName": lastName}), &reg)
	if reg.CustomerRegister.Customer == nil || reg.CustomerRegister.Token == nil {
		t.Fatalf("customerRegister: %+v", reg.CustomerRegister)
	}
	customerToken := *reg.CustomerRegister.Token
	var me struct {
		Me        struct{ FirstName, LastName string }
		Customers struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	srv.gql(t, customerToken, `{ me { firstName lastName } }`, nil, &me)
	same("customer firstName", me.Me.FirstName, firstName)
	same("customer lastName", me.Me.LastName, lastName)
	srv.gql(t, staff, `query($q: String!) { customers(first: 50, search: $q) { edges { node { id } } } }`, map[string]any{"q": lastName}, &me)
	if !slices.ContainsFunc(me.Customers.Edges, func(e struct{ Node struct{ ID string } }) bool { return e.Node.ID == reg.CustomerRegister.Customer.ID }) {
		t.Errorf("customers(search: %q) does not find the customer: %+v", lastName, me.Customers.Edges)
	}

	// A cart found by the hostile sku, checked out with hostile addresses.
	var cart struct {
		CartCreate struct {
			Cart *struct {
				ID    string
				Lines []struct{ Product struct{ ID, Name string } }
			}
			UserErrors []userError
		}
	}
	srv.gql(t, customerToken, `mutation($l: [CartLineInput!], $e: String) { cartCreate(lines: $l, email: $e) {
		cart { id lines { product { id name } } } userErrors { field message code } } }`,
		map[string]any{"l": []any{map[string]any{"sku": sku, "quantity": 2}}, "e": email}, &cart)
	if c := cart.CartCreate.Cart; c == nil || len(c.Lines) != 1 || c.Lines[0].Product.ID != p.ID {
		t.Fatalf("cartCreate by sku: %+v %+v", c, cart.CartCreate.UserErrors)
	}
	shipping := map[string]any{
		"firstName": text(2) + " " + text(6), "lastName": text(0), "company": text(3) + " & Sons", "line1": text(5), "line2": text(8),
		"city": text(9), "region": text(7), "postalCode": `'--<b>{{.}}`, "countryCode": "GB",
	}
	billing := map[string]any{
		"firstName": text(4), "lastName": text(1), "company": text(10), "line1": `1'; SELECT pg_sleep(5); --`,
		"line2": `"><img src=x onerror=alert(1)>`, "city": text(2), "region": text(3), "postalCode": `\N %_ $1`, "countryCode": "US",
	}
	r := srv.do(t, customerToken, checkoutMutation, map[string]any{"input": map[string]any{
		"cartId": cart.CartCreate.Cart.ID, "email": email, "shippingAddress": shipping, "billingAddress": billing,
		"idempotencyKey": "e2e-hostile-text-" + randHex(8),
	}})
	var co struct{ Checkout checkoutResult }
	if err := json.Unmarshal(r.Data, &co); err != nil || len(r.Errors) > 0 || co.Checkout.Order == nil {
		t.Fatalf("checkout with hostile addresses: %+v %s", r.Errors, r.Data)
	}
	o := srv.waitOrder(t, staff, co.Checkout.Order.OrderNumber, 15*time.Second, "PAID", func(o e2eOrder) bool { return o.PaymentStatus == "PAID" })
	type orderView struct {
		Order *struct {
			ShippingAddress, BillingAddress map[string]*string
			Lines                           []struct{ Name, SKU string }
		}
	}
	checkAddress := func(what string, got map[string]*string, want map[string]any) {
		t.Helper()
		for k, v := range want {
			same(what+" "+k, orNil(got[k]), v.(string))
		}
	}
	var staffView, guestView orderView
	addrQuery := `{ shippingAddress { ` + hostileAddressFields + ` } billingAddress { ` + hostileAddressFields + ` } lines { name sku } }`
	srv.gql(t, staff, `query($n: String!) { order(orderNumber: $n) `+addrQuery+` }`, map[string]any{"n": o.OrderNumber}, &staffView)
	srv.gql(t, "", `query($n: String!, $e: String!) { order(orderNumber: $n, email: $e) `+addrQuery+` }`,
		map[string]any{"n": o.OrderNumber, "e": email}, &guestView)
	for who, v := range map[string]orderView{"staff": staffView, "guest": guestView} {
		if v.Order == nil {
			t.Errorf("the %s cannot read order %s", who, o.OrderNumber)
			continue
		}
		checkAddress(who+": shippingAddress", v.Order.ShippingAddress, shipping)
		checkAddress(who+": billingAddress", v.Order.BillingAddress, billing)
		if len(v.Order.Lines) != 1 {
			t.Errorf("%s: %d order lines, want 1", who, len(v.Order.Lines))
			continue
		}
		same(who+": order line name", v.Order.Lines[0].Name, name)
		same(who+": order line sku", v.Order.Lines[0].SKU, sku)
	}

	// The confirmation: the greeting (the shipping first name) and the line
	// (the product name) are literal in the text part, escaped in the HTML.
	greeting := shipping["firstName"].(string)
	checkMail := func(what string, full mailtest.Full, texts ...string) {
		t.Helper()
		for _, s := range texts {
			if !strings.Contains(full.Text, s) {
				t.Errorf("the %s email's text part does not show %q literally:\n%s", what, s, full.Text)
			}
			if !strings.Contains(full.HTML, html.EscapeString(s)) {
				t.Errorf("the %s email's HTML part does not show %q escaped as %q:\n%s", what, s, html.EscapeString(s), full.HTML)
			}
		}
		for _, raw := range []string{"<script>", "<img src=x", "pwned{{end}}"} {
			if strings.Contains(full.HTML, raw) {
				t.Errorf("the %s email's HTML part holds %q unescaped:\n%s", what, raw, full.HTML)
			}
		}
	}
	msg := waitForMail(t, deps.mail, email, 20*time.Second, o.OrderNumber, "confirmed")
	checkMail("confirmation", deps.mail.Message(t, msg.ID), greeting, name)

	// Fulfilment: tracking number and carrier, in the order, its timeline,
	// its tracking URL (escaped as a query value) and the shipping email.
	tracking := "1Z" + text(0) + text(2) + text(6)
	carrier := text(3) + " <b>Ship & Co</b> " + text(5)
	shipped := fulMustFulfill(t, srv, staff, o.ID, tracking, carrier)
	same("trackingNumber", orNil(shipped.TrackingNumber), tracking)
	same("carrier", orNil(shipped.Carrier), carrier)
	if !strings.HasSuffix(orNil(shipped.TrackingURL), "="+url.QueryEscape(tracking)) && !strings.HasSuffix(orNil(shipped.TrackingURL), "/"+url.QueryEscape(tracking)) {
		t.Errorf("trackingUrl %q does not end with the query-escaped tracking number", orNil(shipped.TrackingURL))
	}
	if got := fulGetOrder(t, srv, staff, o.OrderNumber); !slices.ContainsFunc(got.Events, func(e orderEvent) bool {
		return e.Type == "FULFILLED" && strings.Contains(orNil(e.Message), tracking)
	}) {
		t.Errorf("no FULFILLED event quotes the tracking number: %+v", got.Events)
	}
	msg = waitForMail(t, deps.mail, email, 20*time.Second, "Order "+o.OrderNumber+" has shipped")
	checkMail("shipping", deps.mail.Message(t, msg.ID), greeting, tracking, carrier)

	// A cancel reason, kept in the order's notes.
	other := srv.checkout(t, buyerEmail(), "e2e-hostile-cancel-"+randHex(8), map[string]int{p.ID: 1}).Order
	var cancelled struct{ OrderCancel fulOrderPayload }
	srv.gql(t, staff, `mutation($id: ID!, $r: String) { orderCancel(id: $id, reason: $r) { order { `+fulOrderFields+` } userErrors { field message code } } }`,
		map[string]any{"id": other.ID, "r": all}, &cancelled)
	if c := cancelled.OrderCancel.Order; c == nil {
		t.Errorf("orderCancel: %+v", cancelled.OrderCancel.UserErrors)
	} else {
		same("order notes after a cancel", orNil(c.Notes), "Cancelled by staff: "+all)
	}

	// Nothing ran: every table is still there and the catalog still reads.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbtest.URL(t))
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	defer conn.Close(ctx)
	for _, table := range hostileTables {
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists); err != nil || !exists {
			t.Errorf("table %s: exists %v (%v)", table, exists, err)
		}
	}
	var total struct{ Products struct{ TotalCount int } }
	srv.gql(t, "", `{ products(first: 1) { totalCount } }`, nil, &total)
	if total.Products.TotalCount < 1 {
		t.Errorf("products totalCount %d after the round trip, want at least 1", total.Products.TotalCount)
	}
}
