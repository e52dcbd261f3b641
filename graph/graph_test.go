package graph_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"commerce/graph"
	"commerce/internal/auth"
	"commerce/internal/catalog"
	"commerce/internal/customers"
	"commerce/internal/inventory"
	"commerce/internal/notify"
	"commerce/internal/platform/db"
	"commerce/internal/platform/dbtest"
	"commerce/internal/webhooks"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }

// bundle holds what a test needs around the GraphQL endpoint.
type bundle struct {
	url        string
	handler    http.Handler // the endpoint, for requests the test serves itself
	tokens     *auth.Sessions
	catalog    *catalog.Service
	staff      *auth.StaffService
	statements atomic.Int64 // statements of the last request
}

func setup(t *testing.T) *bundle {
	t.Helper()
	return setupWithLog(t, slog.New(slog.DiscardHandler))
}

// setupWithLog is setup with the endpoint logging to log.
func setupWithLog(t *testing.T, log *slog.Logger) *bundle {
	t.Helper()
	d := dbtest.DB(t)
	inserter, err := river.NewClient(riverdatabasesql.New(d.SQL), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	notifier, err := notify.NewService(d, inserter, notify.LogSender{Log: log}, notify.LogSender{Log: log},
		notify.Config{From: "shop@example.com", MaxAttempts: 3, RetryBase: time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	tokens := auth.NewSessions(d, auth.NewTokens([]byte(strings.Repeat("k", 32)), time.Hour, time.Hour, time.Now))
	inv := inventory.NewService(d, notifier, inventory.Config{LowStockEmail: "stock@example.com"})
	b := &bundle{tokens: tokens, staff: auth.NewStaffService(d, tokens, nil, auth.StaffConfig{})}
	b.catalog = catalog.NewService(d, inv.Ledger(), catalog.Config{StoreCurrency: "USD"})
	hooks, err := webhooks.NewService(d, inserter, webhooks.Config{Timeout: time.Second, MaxAttempts: 3, RetryBase: time.Second, DisableAfter: 5}, log)
	if err != nil {
		t.Fatal(err)
	}
	r := graph.NewResolver(graph.Services{
		Staff: b.staff, Customers: customers.NewService(d, tokens, "USD"), Catalog: b.catalog, Inventory: inv, Notify: notifier,
		Webhooks: hooks,
	}, log)
	h := graph.NewHandler(r, graph.HandlerConfig{Sessions: tokens, MaxUploadBytes: 1 << 20, Log: log})
	b.handler = h
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx, counter := db.WithStatementCounter(req.Context())
		h.ServeHTTP(w, req.WithContext(ctx))
		b.statements.Store(counter.Count())
	}))
	t.Cleanup(srv.Close)
	b.url = srv.URL
	return b
}

type response struct {
	Data   map[string]json.RawMessage
	Errors []struct {
		Message    string
		Extensions map[string]any
	}
}

func (b *bundle) do(t *testing.T, token, query string, vars map[string]any) response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, b.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out response
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatalf("decode response: %v", err)
	}
	return out
}

func (b *bundle) staffToken(t *testing.T) string {
	t.Helper()
	email := fmt.Sprintf("staff-%d@example.com", time.Now().UnixNano())
	id, err := b.staff.Create(context.Background(), email, "correct-horse", auth.Staff)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := b.tokens.Start(context.Background(), nil, auth.Principal{ID: id, Role: auth.Staff})
	return tok
}

func code(r response) string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

func seedProducts(t *testing.T, c *catalog.Service, n int) {
	t.Helper()
	for i := range n {
		qty := 10 + i
		_, err := c.Create(context.Background(), catalog.CreateInput{
			SKU: ptr(fmt.Sprintf("PAGE-%d-%d", time.Now().UnixNano(), i)), Name: fmt.Sprintf("Page product %d", i),
			Price: ptr("9.99"), Category: ptr("Test"), Tags: []string{"a", "b"}, InventoryQuantity: &qty,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// A storefront page of 20 products with every field it shows costs at most
// 3 statements: the page, the count and the images.
func TestProductPageStatementBudget(t *testing.T) {
	b := setup(t)
	seedProducts(t, b.catalog, 25)
	r := b.do(t, "", `{ products(first: 20) { totalCount pageInfo { hasNextPage endCursor }
		edges { cursor node { id name handle price { amount currencyCode } compareAtPrice { amount }
		availableQuantity category tags images { url altText position } } } } }`, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("errors: %+v", r.Errors)
	}
	var page struct{ Edges []json.RawMessage }
	_ = json.Unmarshal(r.Data["products"], &page)
	if len(page.Edges) != 20 {
		t.Fatalf("got %d edges, want 20", len(page.Edges))
	}
	t.Logf("statements: %d", b.statements.Load())
	if got := b.statements.Load(); got > 3 {
		t.Fatalf("page of 20 products ran %d statements, budget is 3", got)
	}
}

func TestAccessRules(t *testing.T) {
	b := setup(t)
	customerToken, _ := b.tokens.Start(context.Background(), nil, auth.Principal{ID: "00000000-0000-0000-0000-000000000001", Role: auth.Customer})
	staffMutations := []string{
		`mutation { productCreate(input: {sku: "X1", name: "X", price: "1.00"}) { userErrors { code } } }`,
		`mutation { productUpdate(id: "00000000-0000-0000-0000-000000000001", input: {name: "Y"}) { userErrors { code } } }`,
		`mutation { productArchive(id: "00000000-0000-0000-0000-000000000001") { userErrors { code } } }`,
		`mutation { inventoryAdjust(input: {productId: "00000000-0000-0000-0000-000000000001", quantityChange: 1, type: RESTOCK}) { userErrors { code } } }`,
	}
	for _, m := range staffMutations {
		if got := code(b.do(t, customerToken, m, nil)); got != "FORBIDDEN" {
			t.Errorf("customer calling %.40s…: code %q, want FORBIDDEN", m, got)
		}
		if got := code(b.do(t, "", m, nil)); got != "UNAUTHENTICATED" {
			t.Errorf("anonymous calling %.40s…: code %q, want UNAUTHENTICATED", m, got)
		}
	}
	if got := code(b.do(t, "", `{ me { id } }`, nil)); got != "UNAUTHENTICATED" {
		t.Errorf("me without a token: %q, want UNAUTHENTICATED", got)
	}
	if got := code(b.do(t, customerToken, `{ customers { totalCount } }`, nil)); got != "FORBIDDEN" {
		t.Errorf("customers as a customer: %q, want FORBIDDEN", got)
	}
	seedProducts(t, b.catalog, 1)
	r := b.do(t, customerToken, `{ products(first: 1) { edges { node { costPrice { amount } } } } }`, nil)
	if len(r.Errors) > 0 || !strings.Contains(string(r.Data["products"]), `"costPrice":null`) {
		t.Errorf("costPrice for a customer: %s %+v", r.Data["products"], r.Errors)
	}
	r = b.do(t, customerToken, `{ products(first: 1) { edges { node { inventoryTransactions { totalCount } } } } }`, nil)
	if code(r) != "FORBIDDEN" {
		t.Errorf("inventoryTransactions for a customer: %q, want FORBIDDEN", code(r))
	}
	r = b.do(t, "", `{ products(first: 1) { edges { node { inventoryTransactions { totalCount } } } } }`, nil)
	if code(r) != "FORBIDDEN" || !strings.Contains(string(r.Data["products"]), `"inventoryTransactions":null`) {
		t.Errorf("inventoryTransactions without a token: %q %s, want null with FORBIDDEN", code(r), r.Data["products"])
	}
}

func TestBadInput(t *testing.T) {
	b := setup(t)
	staff := b.staffToken(t)
	tests := []struct {
		name, query, wantCode string
	}{
		{"first too large", `{ products(first: 100000) { totalCount } }`, "BAD_USER_INPUT"},
		{"malformed product id", `{ product(id: "not-a-uuid") { id } }`, "NOT_FOUND"},
		{"unknown product id", `{ product(id: "00000000-0000-0000-0000-000000000000") { id } }`, "NOT_FOUND"},
		{"malformed cursor", `{ products(after: "!!") { totalCount } }`, "BAD_USER_INPUT"},
		// base64url of {"o":"CREATED_AT:desc","v":"0000-06-01T00:00:00Z","id":…}:
		// a time Postgres cannot hold.
		{"products cursor in year 0", `{ products(sortKey: CREATED_AT, reverse: true, after: "eyJvIjoiQ1JFQVRFRF9BVDpkZXNjIiwidiI6IjAwMDAtMDYtMDFUMDA6MDA6MDBaIiwiaWQiOiIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDEifQ") { totalCount } }`, "BAD_USER_INPUT"},
		// base64url of {"c":"2026-01-01T00:00:00Z","i":"nope"} and of {}:
		// well-formed, but no list wrote them.
		{"crafted customers cursor", `{ customers(first: 2, after: "eyJjIjoiMjAyNi0wMS0wMVQwMDowMDowMFoiLCJpIjoibm9wZSJ9") { totalCount } }`, "BAD_USER_INPUT"},
		{"empty customers cursor", `{ customers(first: 2, after: "e30") { totalCount } }`, "BAD_USER_INPUT"},
		{"Int out of range", `query($n: Int) { products(first: $n) { totalCount } }`, "BAD_USER_INPUT"},
		{"syntax error", `{ products( }`, "GRAPHQL_PARSE_FAILED"},
		{"unknown field", `{ nope }`, "GRAPHQL_VALIDATION_FAILED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]any{}
			if strings.Contains(tt.query, "$n") {
				vars["n"] = 1 << 40
			}
			if got := code(b.do(t, staff, tt.query, vars)); got != tt.wantCode {
				t.Fatalf("code %q, want %q", got, tt.wantCode)
			}
		})
	}

	userErrorCases := []struct {
		name, input string
		field       string
		code        string
	}{
		{"empty sku", `{sku: "", name: "A", price: "1.00"}`, `["input","sku"]`, "INVALID"},
		{"negative price", `{sku: "NP", name: "A", price: "-1.00"}`, `["input","price"]`, "INVALID"},
		{"malformed price", `{sku: "MP", name: "A", price: "abc"}`, `["input","price"]`, "INVALID"},
		{"too many decimals", `{sku: "TD", name: "A", price: "1.999"}`, `["input","price"]`, "INVALID"},
		{"negative stock", `{sku: "NS", name: "A", price: "1.00", inventoryQuantity: -5}`, `["input","inventoryQuantity"]`, "INVALID"},
		{"huge name", `{sku: "HN", name: "` + strings.Repeat("n", 10000) + `", price: "1.00"}`, `["input","name"]`, "INVALID"},
	}
	for _, tt := range userErrorCases {
		t.Run(tt.name, func(t *testing.T) {
			r := b.do(t, staff, `mutation { productCreate(input: `+tt.input+`) { product { id } userErrors { field code } } }`, nil)
			got := string(r.Data["productCreate"])
			if !strings.Contains(got, `"field":`+tt.field) || !strings.Contains(got, `"code":"`+tt.code+`"`) || !strings.Contains(got, `"product":null`) {
				t.Fatalf("payload %s, want a %s userError at %s", got, tt.code, tt.field)
			}
		})
	}
	r := b.do(t, staff, `mutation { productCreate(input: {sku: "DUP-1", name: "A", price: "1.00"}) { userErrors { code } } }`, nil)
	if !strings.Contains(string(r.Data["productCreate"]), `"userErrors":[]`) {
		t.Fatalf("first create: %s", r.Data["productCreate"])
	}
	r = b.do(t, staff, `mutation { productCreate(input: {sku: "dup-1", name: "B", price: "1.00"}) { userErrors { field code } } }`, nil)
	if !strings.Contains(string(r.Data["productCreate"]), `"code":"TAKEN"`) {
		t.Fatalf("duplicate sku: %s", r.Data["productCreate"])
	}
	r = b.do(t, staff, `mutation { inventoryAdjust(input: {productId: "00000000-0000-0000-0000-000000000000", quantityChange: 0, type: RESTOCK}) { userErrors { field code } } }`, nil)
	if !strings.Contains(string(r.Data["inventoryAdjust"]), `["input","quantityChange"]`) {
		t.Fatalf("quantityChange 0: %s", r.Data["inventoryAdjust"])
	}
}

func TestCustomerSignUpAndSignIn(t *testing.T) {
	b := setup(t)
	reg := `mutation($e: String!) { customerRegister(input: {email: $e, password: "long-enough-pw", firstName: "Ada", lastName: "Lovelace"}) {
		token customer { email } userErrors { field code } } }`
	r := b.do(t, "", reg, map[string]any{"e": "  Ada@Example.com "})
	var reply struct {
		Token    string
		Customer struct{ Email string }
	}
	_ = json.Unmarshal(r.Data["customerRegister"], &reply)
	if reply.Token == "" || reply.Customer.Email != "ada@example.com" {
		t.Fatalf("register: %s %+v", r.Data["customerRegister"], r.Errors)
	}
	if r := b.do(t, "", reg, map[string]any{"e": "ada@example.com"}); !strings.Contains(string(r.Data["customerRegister"]), `"TAKEN"`) {
		t.Fatalf("second register: %s", r.Data["customerRegister"])
	}
	if r := b.do(t, reply.Token, `{ me { email } }`, nil); !strings.Contains(string(r.Data["me"]), "ada@example.com") {
		t.Fatalf("me: %s %+v", r.Data["me"], r.Errors)
	}
	login := `mutation($e: String!, $p: String!) { customerLogin(email: $e, password: $p) { token userErrors { message code } } }`
	wrongPassword := string(b.do(t, "", login, map[string]any{"e": "ada@example.com", "p": "wrong-password"}).Data["customerLogin"])
	unknownEmail := string(b.do(t, "", login, map[string]any{"e": "nobody@example.com", "p": "wrong-password"}).Data["customerLogin"])
	if wrongPassword != unknownEmail || !strings.Contains(wrongPassword, "INVALID_CREDENTIALS") {
		t.Fatalf("wrong password %s and unknown email %s must answer the same", wrongPassword, unknownEmail)
	}
}

func TestStaffFindsCustomers(t *testing.T) {
	b := setup(t)
	staff := b.staffToken(t)
	reg := `mutation($e: String!, $f: String!) { customerRegister(input: {email: $e, password: "long-enough-pw", firstName: $f, lastName: "Tester"}) {
		customer { id } userErrors { code } } }`
	for _, c := range []struct{ email, first string }{{"grace@example.com", "Grace"}, {"linus@example.com", "Linus"}, {"grace.h@example.org", "Hopper"}} {
		if r := b.do(t, "", reg, map[string]any{"e": c.email, "f": c.first}); len(r.Errors) > 0 {
			t.Fatalf("register %s: %+v", c.email, r.Errors)
		}
	}
	tests := []struct {
		search string
		want   int
	}{
		{"grace", 2},  // email of one, first name of both... "grace" matches grace@ and grace.h@
		{"LINUS", 1},  // case-insensitive
		{"hopper", 1}, // first name
		{"50%_", 0},   // LIKE metacharacters are literal
		{"tester", 3}, // last name
	}
	for _, tt := range tests {
		t.Run(tt.search, func(t *testing.T) {
			r := b.do(t, staff, `query($q: String) { customers(first: 10, search: $q) { totalCount edges { node { email stripeCustomerId } } } }`,
				map[string]any{"q": tt.search})
			var conn struct {
				TotalCount int
				Edges      []json.RawMessage
			}
			_ = json.Unmarshal(r.Data["customers"], &conn)
			if len(r.Errors) > 0 || conn.TotalCount != tt.want || len(conn.Edges) != tt.want {
				t.Fatalf("search %q: %s %+v, want %d", tt.search, r.Data["customers"], r.Errors, tt.want)
			}
		})
	}
	if got := code(b.do(t, staff, `{ customer(id: "not-a-uuid") { id } }`, nil)); got != "NOT_FOUND" {
		t.Fatalf("customer with a malformed id: %q, want NOT_FOUND", got)
	}
}

// productUpdate: an explicit null clears an optional field, literally or
// through a variable; an omitted field keeps its value.
func TestProductUpdateNullClears(t *testing.T) {
	b := setup(t)
	staff := b.staffToken(t)
	const fields = `name description category compareAtPrice { amount } weightGrams dimensions { lengthMm widthMm heightMm }`
	create := func() string {
		r := b.do(t, staff, `mutation($in: ProductCreateInput!) { productCreate(input: $in) { product { id } userErrors { field message } } }`,
			map[string]any{"in": map[string]any{
				"sku": fmt.Sprintf("NULL-%d", time.Now().UnixNano()), "name": "Lamp", "price": "20.00", "compareAtPrice": "25.00",
				"description": "Bright", "category": "Lighting", "weightGrams": 900,
				"dimensions": map[string]any{"lengthMm": 10, "widthMm": 20, "heightMm": 30},
			}})
		var out struct{ Product struct{ ID string } }
		if err := json.Unmarshal(r.Data["productCreate"], &out); err != nil || out.Product.ID == "" {
			t.Fatalf("productCreate: %s %+v", r.Data["productCreate"], r.Errors)
		}
		return out.Product.ID
	}

	id := create()
	r := b.do(t, staff, `mutation($id: ID!) { productUpdate(id: $id, input: {name: "Desk lamp", compareAtPrice: null, description: null}) {
		product { `+fields+` } userErrors { field message } } }`, map[string]any{"id": id})
	want := `{"product":{"name":"Desk lamp","description":null,"category":"Lighting","compareAtPrice":null,"weightGrams":900,` +
		`"dimensions":{"lengthMm":10,"widthMm":20,"heightMm":30}},"userErrors":[]}`
	if got := string(r.Data["productUpdate"]); got != want {
		t.Errorf("literal nulls:\n got %s\nwant %s", got, want)
	}

	id = create()
	r = b.do(t, staff, `mutation($id: ID!, $in: ProductUpdateInput!) { productUpdate(id: $id, input: $in) {
		product { `+fields+` } userErrors { field message } } }`,
		map[string]any{"id": id, "in": map[string]any{"category": nil, "weightGrams": nil, "dimensions": nil}})
	want = `{"product":{"name":"Lamp","description":"Bright","category":null,"compareAtPrice":{"amount":"25.00"},"weightGrams":null,` +
		`"dimensions":null},"userErrors":[]}`
	if got := string(r.Data["productUpdate"]); got != want {
		t.Errorf("nulls through a variable:\n got %s\nwant %s", got, want)
	}
}

// A mutation registered as a persisted query cannot run over GET by its
// hash alone: 405 with a coded error, as a mutation sent with GET gets.
func TestPersistedMutationOverGET(t *testing.T) {
	b := setup(t)
	const query = `mutation { cartCreate { cart { id } } }`
	sum := sha256.Sum256([]byte(query))
	ext := fmt.Sprintf(`{"persistedQuery":{"version":1,"sha256Hash":"%x"}}`, sum)
	body := `{"query":` + strconv.Quote(query) + `,"extensions":` + ext + `}`
	res, err := http.Post(b.url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()

	res, err = http.Get(b.url + "?extensions=" + url.QueryEscape(ext))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out response
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if res.StatusCode != http.StatusMethodNotAllowed || code(out) != "BAD_USER_INPUT" {
		t.Errorf("persisted mutation over GET: %d %+v, want 405 with BAD_USER_INPUT", res.StatusCode, out.Errors)
	}
}
