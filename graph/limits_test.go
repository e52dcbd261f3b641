package graph_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Documents that would cost validation seconds or minutes of CPU (the
// overlapping-fields check is quadratic) are refused before it with
// QUERY_TOO_COMPLEX, quickly, without quoting the document; one that does
// not parse gets GRAPHQL_PARSE_FAILED; real operations pass.
func TestDocumentLimits(t *testing.T) {
	b := setup(t)
	const marker = "MUSTNOTECHO"
	for _, c := range []struct {
		name, query, code string
	}{
		{"1 MiB of __typename", "{" + strings.Repeat(" __typename", (1<<20)/11-10) + "}", "QUERY_TOO_COMPLEX"},
		{"2,000 repeated categories", "{" + strings.Repeat(" categories", 2000) + "}", "QUERY_TOO_COMPLEX"},
		{"1,001 aliases within the token limit", "{" + aliases(1001, "__typename") + "}", "QUERY_TOO_COMPLEX"},
		{"fragments that multiply", fragmentBomb(10, 6), "QUERY_TOO_COMPLEX"},
		{"identical subtrees nested", nestedBomb(40), "QUERY_TOO_COMPLEX"},
		{"a 64 KiB string in one token", `{ product(handle: "` + strings.Repeat("h", 64<<10) + `") { id } }`, "QUERY_TOO_COMPLEX"},
		{"one response name for 999 conflicting fields", "{" + strings.Repeat(" a: __typename a: categories", 499) + " a: __typename }", "QUERY_TOO_COMPLEX"},
		{"conflicting fields spread from fragments", "{" + fragmentsOfOneName(31) + "}" + fragmentDefsOfOneName(31, 30), "QUERY_TOO_COMPLEX"},
		{"same-named parents merging their children", "{" + strings.Repeat(" a: me { x: id x: email }", 5) + " }", "QUERY_TOO_COMPLEX"},
		{"a name repeated by overlapping fragments", "{ products(first: 1) { edges { node { id ...P ...Q } } } } fragment P on Product { id name } fragment Q on Product { id sku }", ""},
		{"a fragment cycle", "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }", "GRAPHQL_VALIDATION_FAILED"},
		{"a syntax error", "{ categories " + marker + "(: }", "GRAPHQL_PARSE_FAILED"},
		{"900 aliases", "{" + aliases(900, "__typename") + "}", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			r := b.do(t, "", c.query, nil)
			if got := code(r); got != c.code {
				t.Fatalf("code %q, want %q; errors %+v", got, c.code, r.Errors)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("answered in %s", d)
			}
			for _, e := range r.Errors {
				if strings.Contains(e.Message, marker) || len(e.Message) > 300 {
					t.Errorf("the error quotes the document: %.300q", e.Message)
				}
			}
		})
	}
}

// fragmentsOfOneName spreads n fragments, each of fields aliased "a"
// (see fragmentDefsOfOneName).
func fragmentsOfOneName(n int) string {
	var s strings.Builder
	for i := range n {
		fmt.Fprintf(&s, " ...F%d", i)
	}
	return s.String()
}

// fragmentDefsOfOneName defines the fragments of fragmentsOfOneName: k
// fields under the one response name "a" that cannot be merged.
func fragmentDefsOfOneName(n, k int) string {
	var s strings.Builder
	for i := range n {
		fmt.Fprintf(&s, " fragment F%d on Query {", i)
		for j := range k {
			if j%2 == 0 {
				s.WriteString(" a: __typename")
			} else {
				s.WriteString(" a: categories")
			}
		}
		s.WriteString(" }")
	}
	return s.String()
}

// The introspection query that GraphiQL sends to draw its documentation
// explorer (graphql-js's, which follows __Type.ofType eight deep) passes
// the depth limit. (Deep real fields are refused: e2e/hostile_e2e_test.go.)
func TestIntrospectionQueryWithinLimits(t *testing.T) {
	b := setup(t)
	q, err := os.ReadFile("testdata/introspection.graphql")
	if err != nil {
		t.Fatal(err)
	}
	r := b.do(t, "", string(q), nil)
	if len(r.Errors) > 0 || len(r.Data["__schema"]) < 1000 {
		t.Fatalf("introspection: errors %+v, %d bytes of __schema", r.Errors, len(r.Data["__schema"]))
	}
}

// aliases is n aliases of field.
func aliases(n int, field string) string {
	var s strings.Builder
	for i := range n {
		fmt.Fprintf(&s, " a%d: %s", i, field)
	}
	return s.String()
}

// fragmentBomb is a small document whose fragments each spread the next
// one k times, depth levels deep: k^depth selections once expanded.
func fragmentBomb(k, depth int) string {
	var b strings.Builder
	b.WriteString("{ ...F0 }")
	for i := range depth {
		fmt.Fprintf(&b, " fragment F%d on Query {%s}", i, strings.Repeat(fmt.Sprintf(" ...F%d", i+1), k))
	}
	fmt.Fprintf(&b, " fragment F%d on Query { __typename categories }", depth)
	return b.String()
}

// nestedBomb is k identical subtrees of k fields under one field: the
// overlap check compares every pair of subtrees field by field.
func nestedBomb(k int) string {
	inner := strings.Repeat(" id", k)
	return "{ me {" + strings.Repeat(" orders(first: 1) { edges { node { customer {"+inner+" } } } }", k) + " } }"
}

// An operation may select each expensive root field only a few times,
// aliases and fragments included: over that, the whole operation is
// refused before any resolver runs.
func TestExpensiveRootFieldLimits(t *testing.T) {
	b := setup(t)
	register := `customerRegister(input: {email: "%s", password: "a-long-password", firstName: "A", lastName: "B"}) { token }`
	lookup := `order(orderNumber: "ORD-NOPE", email: "x@example.com") { id }`
	returnRequest := `returnRequest(input: {orderNumber: "ORD-NOPE", email: "x@example.com", lines: [{orderLineId: "x", quantity: 1}]}) { userErrors { code } }`
	for _, c := range []struct {
		name, query, code string
	}{
		{"two aliased registrations", fmt.Sprintf("mutation { a: "+register+" b: "+register+" }", "a-"+uniqueName("r")+"@example.com", "b-"+uniqueName("r")+"@example.com"), "QUERY_TOO_COMPLEX"},
		{"a registration twice through fragments", fmt.Sprintf("mutation { ...R a: customerRegister(input: {email: \"x@example.com\", password: \"a-long-password\", firstName: \"A\", lastName: \"B\"}) { token } } fragment R on Mutation { "+register+" }", uniqueName("r")+"@example.com"), "QUERY_TOO_COMPLEX"},
		{"two logins", `mutation { a: customerLogin(email: "a@example.com", password: "x") { token } b: customerLogin(email: "b@example.com", password: "x") { token } }`, "QUERY_TOO_COMPLEX"},
		{"two staff logins", `mutation { a: staffLogin(email: "a@example.com", password: "x") { token } b: staffLogin(email: "b@example.com", password: "x") { token } }`, "QUERY_TOO_COMPLEX"},
		{"two carts", `mutation { a: cartCreate { cart { id } } b: cartCreate { cart { id } } }`, "QUERY_TOO_COMPLEX"},
		{"two checkouts", `mutation($i: CheckoutInput!) { a: checkout(input: $i) { order { id } } b: checkout(input: $i) { order { id } } }`, "QUERY_TOO_COMPLEX"},
		{"four order lookups by email", "{" + aliases(4, lookup) + "}", "QUERY_TOO_COMPLEX"},
		{"three order lookups by email", "{" + aliases(3, lookup) + "}", ""},
		{"two return requests", "mutation {" + aliases(2, returnRequest) + "}", "QUERY_TOO_COMPLEX"},
		{"one return request", "mutation {" + aliases(1, returnRequest) + "}", ""},
		{"one registration", fmt.Sprintf("mutation { "+register+" }", uniqueName("r")+"@example.com"), ""},
		{"two schema introspections", `{ a: __schema { types { name } } b: __schema { types { name } } }`, "QUERY_TOO_COMPLEX"},
		{"one schema introspection", `{ __schema { types { name fields { name } } } }`, ""},
		{"eleven type introspections", "{" + aliases(11, `__type(name: "Query") { fields { name } }`) + "}", "QUERY_TOO_COMPLEX"},
		{"ten type introspections", "{" + aliases(10, `__type(name: "Query") { fields { name } }`) + "}", ""},
		{"a skipped second registration", fmt.Sprintf("mutation { a: "+register+" b: customerRegister(input: {email: \"y@example.com\", password: \"a-long-password\", firstName: \"A\", lastName: \"B\"}) @skip(if: true) { token } }", uniqueName("r")+"@example.com"), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			vars := map[string]any{"i": map[string]any{"email": "x@example.com", "lines": []any{}, "idempotencyKey": "k", "shippingAddress": map[string]any{
				"firstName": "A", "lastName": "B", "line1": "1 Road", "city": "Town", "postalCode": "12345", "countryCode": "US",
			}}}
			if !strings.Contains(c.query, "$i") {
				vars = nil
			}
			r := b.do(t, "", c.query, vars)
			got := code(r)
			if c.code == "" && got == "QUERY_TOO_COMPLEX" || c.code != "" && got != c.code {
				t.Fatalf("code %q, want %q; errors %+v", got, c.code, r.Errors)
			}
			if c.code != "" && len(r.Data) > 0 {
				t.Errorf("a refused operation has data: %v", r.Data)
			}
		})
	}
}

// Persisted queries and GET meet the same document limits: a document
// over them is refused, and is not stored under its hash.
func TestDocumentLimitsPersistedAndGET(t *testing.T) {
	b := setup(t)
	big := "{" + strings.Repeat(" __typename", 20_000) + "}"
	sum := sha256.Sum256([]byte(big))
	ext := fmt.Sprintf(`{"persistedQuery":{"version":1,"sha256Hash":"%x"}}`, sum)
	post := func(body string) response {
		res, err := http.Post(b.url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out response
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
			t.Fatalf("decode: %v", err)
		}
		return out
	}
	if r := post(`{"query":` + strconv.Quote(big) + `,"extensions":` + ext + `}`); code(r) != "QUERY_TOO_COMPLEX" {
		t.Errorf("registering a persisted query over the limits: %+v, want QUERY_TOO_COMPLEX", r.Errors)
	}
	if r := post(`{"extensions":` + ext + `}`); code(r) == "" {
		t.Errorf("the refused document was stored under its hash: %s", r.Data)
	}
	res, err := http.Get(b.url + "?query=" + url.QueryEscape("{"+strings.Repeat(" __typename", 10_001)+"}"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out response
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if code(out) != "QUERY_TOO_COMPLEX" {
		t.Errorf("GET over the limits: %d %+v, want QUERY_TOO_COMPLEX", res.StatusCode, out.Errors)
	}
}

// Query.returns costs its selection once per row that first asks for, like
// every paginated list: 100 returns of 120 fields each is over the limit,
// and refused before the permission check.
func TestReturnsListComplexity(t *testing.T) {
	b := setup(t)
	q := `{ returns(first: 100) { edges { node {` + aliases(120, "id") + ` } } } }`
	if got := code(b.do(t, "", q, nil)); got != "QUERY_TOO_COMPLEX" {
		t.Fatalf("code %q, want QUERY_TOO_COMPLEX", got)
	}
}
