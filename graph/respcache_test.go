package graph

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"

	"commerce/internal/auth"
	"commerce/internal/catalogcache"
)

// versionSource is a fixed catalog version.
type versionSource struct{ v int64 }

func (s *versionSource) Version(context.Context) (int64, error) { return s.v, nil }
func (s *versionSource) Compact(context.Context) error          { return nil }

// cacheHarness is the catalog cache in front of a stand-in for gqlgen that
// counts its executions and answers what body says.
type cacheHarness struct {
	t         *testing.T
	h         http.Handler
	cache     *catalogcache.Cache
	src       *versionSource
	persisted *lru.LRU[string]
	executed  int
	body      string
	observed  []string // "name:field,field" of each answer from the cache
}

func (x *cacheHarness) observe(_ context.Context, rootFields []string, name string, _ time.Duration) {
	x.observed = append(x.observed, name+":"+strings.Join(rootFields, ","))
}

func newCacheHarness(t *testing.T) *cacheHarness {
	t.Helper()
	x := &cacheHarness{t: t, src: &versionSource{v: 7}, persisted: lru.New[string](10),
		body: `{"data":{"products":{"edges":[]}}}`}
	x.cache = catalogcache.New(x.src, catalogcache.Config{Budget: 1 << 20}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	x.poll()
	x.h = catalogCache(x.cache, x.persisted, x.observe, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x.executed++
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, x.body)
	}))
	return x
}

func (x *cacheHarness) poll() {
	x.t.Helper()
	if err := x.cache.Poll(context.Background()); err != nil {
		x.t.Fatal(err)
	}
}

type cacheReq struct {
	query, op, vars, ext string
	get                  bool
	header               map[string]string
	principal            *auth.Principal
}

func (x *cacheHarness) do(q cacheReq) *httptest.ResponseRecorder {
	x.t.Helper()
	var r *http.Request
	if q.get {
		v := url.Values{"query": {q.query}}
		if q.op != "" {
			v.Set("operationName", q.op)
		}
		if q.vars != "" {
			v.Set("variables", q.vars)
		}
		if q.ext != "" {
			v.Set("extensions", q.ext)
		}
		r = httptest.NewRequest(http.MethodGet, "/graphql?"+v.Encode(), nil)
	} else {
		body := map[string]any{"query": q.query, "operationName": q.op}
		if q.vars != "" {
			body["variables"] = json.RawMessage(q.vars)
		}
		if q.ext != "" {
			body["extensions"] = json.RawMessage(q.ext)
		}
		b, _ := json.Marshal(body)
		r = httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(string(b)))
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	if q.principal != nil {
		r = r.WithContext(auth.WithPrincipal(r.Context(), *q.principal))
	}
	w := httptest.NewRecorder()
	x.h.ServeHTTP(w, r)
	return w
}

// expect sends q and checks whether it was executed (a miss or a bypass)
// or answered from the cache.
func (x *cacheHarness) expect(name string, q cacheReq, executed bool) *httptest.ResponseRecorder {
	x.t.Helper()
	before := x.executed
	w := x.do(q)
	if got := x.executed > before; got != executed {
		x.t.Errorf("%s: executed = %v, want %v", name, got, executed)
	}
	return w
}

const catalogQuery = `query Page($first: Int, $filter: ProductFilter) {
  products(first: $first, filter: $filter) { edges { node { id name } } }
}`

func TestCatalogCacheKey(t *testing.T) {
	x := newCacheHarness(t)
	vars := `{"first": 20, "filter": {"category": "Shoes", "inStock": true}}`
	x.expect("first read", cacheReq{query: catalogQuery, vars: vars}, true)
	x.expect("the same read", cacheReq{query: catalogQuery, vars: vars}, false)
	if want := []string{"Page:products"}; !slices.Equal(x.observed, want) {
		t.Errorf("answers from the cache observed: %q, want %q", x.observed, want)
	}
	x.expect("other spacing, a comment, other key order", cacheReq{
		query: "# the listing\nquery Page($first:Int,$filter:ProductFilter){products(first:$first,filter:$filter){edges{node{id name}}}}",
		vars:  `{"filter":{"inStock":true,"category":"Shoes"},"first":20}`,
	}, false)
	x.expect("the same read by GET", cacheReq{query: catalogQuery, vars: vars, get: true}, false)
	x.expect("other variables", cacheReq{query: catalogQuery, vars: `{"first": 20, "filter": {"category": "Hats"}}`}, true)
	x.expect("another number", cacheReq{query: catalogQuery, vars: `{"first": 21, "filter": {"category": "Shoes", "inStock": true}}`}, true)
	x.expect("another selection", cacheReq{query: strings.Replace(catalogQuery, "id name", "id", 1), vars: vars}, true)
	x.expect("another Accept (another Content-Type)", cacheReq{query: catalogQuery, vars: vars,
		header: map[string]string{"Accept": "application/graphql-response+json"}}, true)
	x.expect("no variables and {} are the same", cacheReq{query: `{ categories }`}, true)
	x.expect("no variables and {} are the same", cacheReq{query: `{ categories }`, vars: `{}`}, false)
	x.expect("several operations, one named", cacheReq{query: catalogQuery + "\nquery Other { categories }", op: "Other"}, true)
	x.expect("several operations, one named", cacheReq{query: catalogQuery + "\nquery Other { categories }", op: "Other"}, false)

	// A persisted query named by its hash alone is the same read.
	hash := sha256Hex(catalogQuery)
	x.persisted.Add(context.Background(), hash, catalogQuery)
	x.expect("persisted query by hash", cacheReq{query: "", vars: vars, get: true,
		ext: `{"persistedQuery":{"version":1,"sha256Hash":"` + hash + `"}}`}, false)
	x.expect("a hash that does not match the document", cacheReq{query: `{ categories }`,
		ext: `{"persistedQuery":{"version":1,"sha256Hash":"` + hash + `"}}`}, true)

	// A change of the catalog version: everything is read again.
	x.src.v++
	x.poll()
	x.expect("after a catalog change", cacheReq{query: catalogQuery, vars: vars}, true)
	x.expect("after a catalog change, again", cacheReq{query: catalogQuery, vars: vars}, false)
}

func TestCatalogCacheBypass(t *testing.T) {
	x := newCacheHarness(t)
	staff := auth.Principal{ID: "s1", Role: auth.Staff}
	bypass := []struct {
		name string
		q    cacheReq
	}{
		{"a bearer token", cacheReq{query: `{ categories }`, header: map[string]string{"Authorization": "Bearer abc"}}},
		{"a staff principal", cacheReq{query: `{ categories }`, principal: &staff}},
		{"a mutation", cacheReq{query: `mutation { cartCreate { cart { id } } }`}},
		{"a subscription", cacheReq{query: `subscription { orderUpdates { id } }`}},
		{"a root field outside the catalog", cacheReq{query: `{ cart(id: "c1") { id } }`}},
		{"node (carts too)", cacheReq{query: `{ node(id: "x") { id } }`}},
		{"a catalog field with another", cacheReq{query: `{ categories me { id } }`}},
		{"another field through a fragment", cacheReq{query: `query { ...F } fragment F on Query { categories orders { totalCount } }`}},
		{"another field through an inline fragment", cacheReq{query: `{ ... on Query { customers { totalCount } } }`}},
		{"introspection", cacheReq{query: `{ __schema { types { name } } }`}},
		{"@defer", cacheReq{query: `{ products { edges { node { id ... @defer { name } } } } }`}},
		{"two operations, none named", cacheReq{query: `query A { categories } query B { categories }`}},
		{"a document that does not parse", cacheReq{query: `{ categories `}},
		{"variables that are not an object", cacheReq{query: `{ categories }`, vars: `[1]`}},
	}
	for _, b := range bypass {
		for range 2 {
			w := x.expect(b.name, b.q, true)
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("%s: Cache-Control %q, want no-store", b.name, cc)
			}
			if w.Header().Get("ETag") != "" {
				t.Errorf("%s: an ETag on an answer that is not shared", b.name)
			}
		}
	}
	// A staff principal's read of a catalog field is never served from the
	// anonymous cache, even once an anonymous read stored it.
	x.expect("anonymous read", cacheReq{query: `{ categories }`}, true)
	x.expect("anonymous read, cached", cacheReq{query: `{ categories }`}, false)
	x.expect("staff read", cacheReq{query: `{ categories }`, header: map[string]string{"Authorization": "Bearer abc"}, principal: &staff}, true)

	// An answer with errors is not stored.
	x.body = `{"errors":[{"message":"boom"}],"data":null}`
	x.expect("an error", cacheReq{query: `{ product(sku: "X") { id } }`}, true)
	w := x.expect("an error, again", cacheReq{query: `{ product(sku: "X") { id } }`, get: true}, true)
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("an error's Cache-Control %q, want no-store", cc)
	}
}

func TestCatalogCacheHTTPHeaders(t *testing.T) {
	x := newCacheHarness(t)
	q := cacheReq{query: `{ categories }`, get: true}
	w := x.expect("GET", q, true)
	tag := w.Header().Get("ETag")
	if w.Code != http.StatusOK || tag == "" || w.Body.String() != x.body {
		t.Fatalf("GET: %d, ETag %q, body %q", w.Code, tag, w.Body.String())
	}
	if cc := w.Header().Get("Cache-Control"); cc != "public, max-age=1" {
		t.Errorf("GET Cache-Control %q", cc)
	}
	if v := w.Header().Get("Vary"); !strings.Contains(v, "Authorization") {
		t.Errorf("GET Vary %q does not name Authorization", v)
	}
	w = x.expect("GET from the cache", q, false)
	if w.Header().Get("ETag") != tag || w.Body.String() != x.body || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("cached GET: ETag %q, Content-Type %q, body %q", w.Header().Get("ETag"), w.Header().Get("Content-Type"), w.Body.String())
	}

	q.header = map[string]string{"If-None-Match": `"other", ` + tag}
	w = x.expect("If-None-Match", q, false)
	if w.Code != http.StatusNotModified || w.Body.Len() != 0 || w.Header().Get("ETag") != tag {
		t.Errorf("If-None-Match: %d, body %q, ETag %q", w.Code, w.Body.String(), w.Header().Get("ETag"))
	}
	q.header = map[string]string{"If-None-Match": `"other"`}
	if w = x.expect("If-None-Match of another body", q, false); w.Code != http.StatusOK {
		t.Errorf("If-None-Match of another body: %d", w.Code)
	}
	// A miss answers 304 too when the new body is the one the client holds.
	x.src.v++
	x.poll()
	q.header = map[string]string{"If-None-Match": tag}
	if w = x.expect("If-None-Match after a change", q, true); w.Code != http.StatusNotModified {
		t.Errorf("If-None-Match after a change, same body: %d", w.Code)
	}

	// A client that accepts gzip gets the entry as it is stored; one that
	// does not, the plain body. Both have the same (weak) ETag.
	for _, ae := range []string{"gzip", "br, gzip;q=0.5", "gzip;q=0", "identity"} {
		q.header = map[string]string{"Accept-Encoding": ae}
		w = x.expect("Accept-Encoding "+ae, q, false)
		wantGzip := ae != "gzip;q=0" && ae != "identity"
		body := w.Body.Bytes()
		if got := w.Header().Get("Content-Encoding") == "gzip"; got != wantGzip {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q", ae, w.Header().Get("Content-Encoding"))
		} else if got {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("Accept-Encoding %q: %v", ae, err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatalf("Accept-Encoding %q: %v", ae, err)
			}
		}
		if string(body) != x.body || w.Header().Get("ETag") != tag {
			t.Errorf("Accept-Encoding %q: body %q, ETag %q", ae, body, w.Header().Get("ETag"))
		}
	}

	// POST is served from the cache, but is no HTTP cache's to keep.
	w = x.expect("POST", cacheReq{query: `{ categories }`}, false)
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" || w.Body.String() != x.body {
		t.Errorf("POST: Cache-Control %q, body %q", cc, w.Body.String())
	}
}

// TestCatalogCacheStaffMutation: a staff mutation empties the replica's
// cache once it has run, so that staff read their own catalog changes at
// once; other callers' mutations (checkouts) leave it to the version poll.
func TestCatalogCacheStaffMutation(t *testing.T) {
	staff := auth.Principal{ID: "s1", Role: auth.Staff}
	for _, tc := range []struct {
		name       string
		op         ast.Operation
		principal  auth.Principal
		invalidate bool
	}{
		{"staff mutation", ast.Mutation, staff, true},
		{"anonymous mutation", ast.Mutation, auth.Principal{}, false},
		{"customer mutation", ast.Mutation, auth.Principal{ID: "c1", Role: auth.Customer}, false},
		{"staff query", ast.Query, staff, false},
	} {
		x := newCacheHarness(t)
		x.expect(tc.name+": cached before", cacheReq{query: `{ categories }`}, true)
		ran := false
		mw := invalidateAfterStaffMutations(x.cache)
		ctx := auth.WithPrincipal(context.Background(), tc.principal)
		ctx = graphql.WithOperationContext(ctx, &graphql.OperationContext{Operation: &ast.OperationDefinition{Operation: tc.op}})
		respond := mw(ctx, func(ctx context.Context) graphql.ResponseHandler {
			return func(ctx context.Context) *graphql.Response {
				ran = true
				if _, fresh := x.cache.Version(); !fresh {
					t.Errorf("%s: the cache was invalidated before the operation ran", tc.name)
				}
				return &graphql.Response{}
			}
		})
		respond(ctx)
		if !ran {
			t.Fatalf("%s: the operation did not run", tc.name)
		}
		if _, fresh := x.cache.Version(); fresh == tc.invalidate {
			t.Errorf("%s: version fresh = %v after it, want %v", tc.name, fresh, !tc.invalidate)
		}
		x.expect(tc.name+": read after", cacheReq{query: `{ categories }`}, tc.invalidate)
	}
}

// TestCatalogCacheCollapsesMisses: identical reads that miss at once (as
// after every catalog change) run once and share the answer; a shared
// answer with errors is not shared: each runs its own.
func TestCatalogCacheCollapsesMisses(t *testing.T) {
	for _, tc := range []struct {
		body string
		runs int64
	}{
		{`{"data":{"categories":["A"]}}`, 1},
		{`{"errors":[{"message":"boom"}],"data":null}`, 6},
	} {
		src := &versionSource{v: 1}
		c := catalogcache.New(src, catalogcache.Config{Budget: 1 << 20}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err := c.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
		var runs atomic.Int64
		started, release := make(chan struct{}, 10), make(chan struct{})
		h := catalogCache(c, lru.New[string](10), nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			runs.Add(1)
			started <- struct{}{}
			<-release
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, tc.body)
		}))
		const readers = 6
		bodies := make(chan string, readers)
		var wg sync.WaitGroup
		for range readers {
			wg.Go(func() {
				r := httptest.NewRequest(http.MethodGet, "/graphql?query="+url.QueryEscape(`{ categories }`), nil)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				bodies <- w.Body.String()
			})
		}
		<-started
		time.Sleep(100 * time.Millisecond) // the other readers join the first one's flight
		close(release)
		wg.Wait()
		close(bodies)
		for b := range bodies {
			if b != tc.body {
				t.Errorf("a reader got %q, want %q", b, tc.body)
			}
		}
		if got := runs.Load(); got != tc.runs {
			t.Errorf("%.20s…: %d executions of %d identical reads, want %d", tc.body, got, readers, tc.runs)
		}
	}
}
