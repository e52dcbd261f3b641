package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"commerce/graph"
	"commerce/internal/catalog"
	"commerce/internal/config"
	"commerce/internal/platform/dbtest"
	"commerce/internal/platform/web"
	"commerce/internal/quota"
	"commerce/internal/realtime"
)

// leakMarkers are fragments of database errors, Go runtime errors, stack
// traces and Go type names. None may reach a client unless the client sent
// it first (validation errors quote the names a request uses).
var leakMarkers = []string{
	"SQL", "pq:", "pgx", "pgconn", "sql: ", "bun:",
	"goroutine ", "panic", "runtime error", ".go:",
	"Go value of type", "Go struct field",
}

// FuzzGraphQLRequest sends arbitrary bodies to the /graphql handler as an
// anonymous caller: a POST with the given Content-Type, or, when get is
// set, a GET whose raw query string is the body. Nothing a client sends may
// crash the handler or earn a 5xx or an INTERNAL error (those are the
// server's faults), every error carries extensions.code, a JSON response
// must be valid JSON, no answer may carry a leakMarker the request did not
// contain, and no input may take longer than fuzzTimeBound to answer (a
// document of repeated fields once took minutes).
func FuzzGraphQLRequest(f *testing.F) {
	e := newFuzzEndpoint(f)
	seeds := []struct {
		contentType, body string
		get               bool
	}{
		{"application/json", `{"query":"{ __typename }"}`, false},
		{"application/json", `{"query":"query Page($n: Int) { products(first: $n) { totalCount edges { cursor node { id sku name price { amount currencyCode } availableQuantity } } pageInfo { hasNextPage endCursor } } }","variables":{"n":5},"operationName":"Page"}`, false},
		{"application/json; charset=utf-8", `{"query":"{ products(filter: {search: \"mug\", minPrice: \"1.00\"}, sortKey: PRICE) { totalCount } categories }"}`, false},
		{"application/json", `{"query":"mutation { cartCreate(lines: [{sku: \"NOPE\", quantity: 1}], email: \"a@example.com\") { cart { id total { amount } } userErrors { field code message } } }"}`, false},
		{"application/json", `{"query":"mutation { productCreate(input: {sku: \"X\", name: \"X\", price: \"1.00\"}) { product { id } } }"}`, false},
		{"application/json", `{"query":"{ products( }"}`, false},
		{"application/json", `{"query": 42, "variables": "nope"}`, false},
		{"application/json", `[{"query":"{ __typename }"}]`, false},
		{"text/plain", `{"query":"{ __typename }"}`, false},
		{"", "query=%7B+product%28id%3A+%22not-a-uuid%22%29+%7B+id+%7D+%7D", true},
		{"", "query=mutation+%7B+cartCreate+%7B+cart+%7B+id+%7D+%7D+%7D", true},
	}
	for _, s := range seeds {
		f.Add(s.contentType, []byte(s.body), s.get)
	}
	for _, q := range costlySeeds() {
		body, _ := json.Marshal(map[string]string{"query": q})
		f.Add("application/json", body, false)
	}
	f.Add("", []byte("query="+url.QueryEscape("{"+strings.Repeat(" __typename", 20_000)+"}")), true)
	f.Fuzz(func(t *testing.T, contentType string, body []byte, get bool) {
		e.log.take() // what earlier inputs left behind
		start := time.Now()
		status, header, answer := e.serve(contentType, body, get)
		elapsed := time.Since(start)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("%s\nrequest: get=%v Content-Type=%q body=%q\nanswer: %d %q\nlog:\n%s",
				fmt.Sprintf(format, args...), get, contentType, body, status, answer, e.log.take())
		}
		if status >= 500 {
			fail("status %d: a server error for what the client sent", status)
		}
		if elapsed > fuzzTimeBound {
			fail("answered in %s, want within %s", elapsed, fuzzTimeBound)
		}
		if isJSON(header.Get("Content-Type")) {
			var res struct {
				Errors []struct{ Extensions map[string]any }
			}
			if err := json.Unmarshal(answer, &res); err != nil {
				fail("Content-Type %q but the body is not a JSON object: %v", header.Get("Content-Type"), err)
			}
			for _, ge := range res.Errors {
				switch code, _ := ge.Extensions["code"].(string); code {
				case "INTERNAL":
					fail("an INTERNAL error: the server failed on what the client sent")
				case "":
					fail("an error without extensions.code")
				}
			}
		}
		sent := requestText(body, get)
		for _, m := range leakMarkers {
			if bytes.Contains(answer, []byte(m)) && !strings.Contains(sent, m) {
				fail("the answer leaks %q", m)
			}
		}
	})
}

// fuzzTimeBound is how long any input may take to answer: generous, for
// the race detector and a busy machine; the documents it guards against
// took seconds to minutes.
const fuzzTimeBound = 2 * time.Second

// costlySeeds are documents shaped to cost the validator or the executor
// the most: one field repeated, many aliases, fragments that multiply or
// nest deeply, identical subtrees, and aliased expensive mutations.
func costlySeeds() []string {
	var chain strings.Builder
	chain.WriteString("{ ...F0 }")
	for i := range 300 {
		fmt.Fprintf(&chain, " fragment F%d on Query { __typename ...F%d }", i, i+1)
	}
	chain.WriteString(" fragment F300 on Query { categories }")
	var bomb strings.Builder
	bomb.WriteString("{ ...F0 }")
	for i := range 6 {
		fmt.Fprintf(&bomb, " fragment F%d on Query {%s}", i, strings.Repeat(fmt.Sprintf(" ...F%d", i+1), 10))
	}
	bomb.WriteString(" fragment F6 on Query { __typename categories }")
	var aliases, side strings.Builder
	for i := range 900 {
		fmt.Fprintf(&aliases, " a%d: __typename", i)
	}
	side.WriteString("{")
	for i := range 400 {
		fmt.Fprintf(&side, " ...S%d", i)
	}
	side.WriteString(" }")
	for i := range 400 {
		fmt.Fprintf(&side, " fragment S%d on Query { __typename }", i)
	}
	register := `customerRegister(input: {email: "fuzz@example.com", password: "a-long-password", firstName: "A", lastName: "B"}) { token }`
	return []string{
		"{" + strings.Repeat(" __typename", 90_000) + "}",
		"{" + strings.Repeat(" categories", 5_000) + "}",
		"{" + strings.Repeat(" categories", 500) + "}",
		"{" + aliases.String() + " }",
		"{ me {" + strings.Repeat(" orders(first: 1) { edges { node { customer {"+strings.Repeat(" id", 20)+" } } } }", 20) + " } }",
		chain.String(),
		bomb.String(),
		side.String(),
		"mutation { a: " + register + " b: " + register + " }",
		"{" + strings.Repeat(" a: __typename a: categories", 499) + " }",
		"{" + strings.Repeat(" a: me { x: id x: email }", 5) + " }",
	}
}

// fuzzEndpoint is the /graphql handler wired as server.go wires it, called
// in process so that an input costs no network round trip.
type fuzzEndpoint struct {
	handler http.Handler
	log     *syncBuffer // warnings and errors, to explain a failing input
}

// newFuzzEndpoint builds the handler once for the whole fuzz run. Every
// service is real (liveServices), on the package database, with an
// in-process hub. Login and checkout quotas are low, so that after a few
// inputs those mutations are refused before they hash a password or write
// an order, and the fuzzer's time goes to the parser and the resolvers. One
// product gives list queries something to resolve.
func newFuzzEndpoint(f *testing.F) *fuzzEndpoint {
	f.Helper()
	e := &fuzzEndpoint{log: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	hub := realtime.New(nil, "", log, nil)
	f.Cleanup(hub.Close)
	services, tokens := liveServices(f, dbtest.DB(f), hub, log)
	few := config.Quota{Limit: 5, Period: time.Hour}
	services.Quotas = graph.Quotas{Limiter: quota.NewMemory(time.Now, log), Login: few, CreateOrder: few, CreateOrderIP: few}
	stock := 100
	if _, err := services.Catalog.Create(context.Background(), catalog.CreateInput{
		SKU: ptr(strings.ToUpper(uniqueName("FUZZ"))), Name: "Fuzz mug", Price: ptr("12.50"), Category: ptr("Mugs"),
		Tags: []string{"mug"}, InventoryQuantity: &stock,
	}); err != nil {
		f.Fatal(err)
	}
	h := graph.NewHandler(graph.NewResolver(services, log), graph.HandlerConfig{
		Sessions: tokens, MaxUploadBytes: 1 << 20, Log: log, Quotas: services.Quotas,
	})
	e.handler = web.WithClientIP(nil, h)
	return e
}

// serve sends one request and returns the answer. The request's context
// ends when the handler returns, as net/http's does, so that a
// subscription sent over HTTP stops its stream.
func (e *fuzzEndpoint) serve(contentType string, body []byte, get bool) (int, http.Header, []byte) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/graphql", bytes.NewReader(body))
	if get {
		req = httptest.NewRequestWithContext(ctx, http.MethodGet, "/graphql", nil)
		req.URL.RawQuery = string(body)
	}
	req.Header.Set("Content-Type", contentType)
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, req)
	return w.Code, w.Header(), w.Body.Bytes()
}

// isJSON reports whether a response Content-Type promises JSON
// (application/json or a +json type such as application/graphql-response+json).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// requestText is what a client sent, raw and decoded (JSON or URL
// escapes), so that an error message quoting the client's own words, such
// as a field named "panic" spelt p\u0061nic, is not taken for a leak.
func requestText(body []byte, get bool) string {
	var decoded any
	if get {
		decoded, _ = url.ParseQuery(string(body))
	} else if json.Unmarshal(body, &decoded) != nil {
		decoded = nil
	}
	return string(body) + "\n" + fmt.Sprint(decoded)
}

// syncBuffer is a log sink that the test reads while goroutines that a
// request left behind (a subscription stream winding down) may still write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// take returns what was written since the last take and empties the buffer.
func (s *syncBuffer) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}
