package graph

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/hashicorp/golang-lru/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/parser"
	"golang.org/x/sync/singleflight"

	"commerce/internal/auth"
	"commerce/internal/catalogcache"
)

// catalogRootFields are the root fields whose answers to an anonymous
// caller depend only on the catalog (products, their variants, stock,
// options and images), which the catalog version covers. node is not
// among them: it also finds carts, which change without the catalog.
var catalogRootFields = map[string]bool{
	"products": true, "product": true, "variant": true, "categories": true, "__typename": true,
}

// cacheControlPublic lets browsers and CDNs keep an anonymous catalog
// answer for as long as the service's own cache may (1 s).
const cacheControlPublic = "public, max-age=1"

// documentMemo remembers, per document and operation name, whether the
// operation may be cached and the hash of its normalised text, so that a
// document is parsed here once, not on every request.
type documentMemo = lru.Cache[[32]byte, cacheableDocument]

type cacheableDocument struct {
	ok   bool
	hash [32]byte // of the formatted document: no comments, canonical spacing
	// name and rootFields label a cache hit in the operation metrics, as
	// gqlgen's execution would have.
	name       string
	rootFields []string
}

// ObserveCached records an operation answered from the catalog cache in
// the operation metrics and the access log, which otherwise see only
// what gqlgen executes.
type ObserveCached func(ctx context.Context, rootFields []string, name string, d time.Duration)

// catalogCache answers anonymous catalog queries (an operation of type
// query whose root fields are all catalogRootFields, sent without an
// Authorization header, over GET or JSON POST) from the catalog cache,
// and stores the answers without errors. A GET answer, cached or not,
// carries Cache-Control public with max-age=1 and an ETag; If-None-Match
// gets 304. Anything else passes through untouched except for
// Cache-Control: no-store, so that no shared cache keeps an answer meant
// for one caller. It runs after authenticate, before gqlgen.
func catalogCache(c *catalogcache.Cache, persisted graphql.Cache[string], observe ObserveCached, next http.Handler) http.Handler {
	if c == nil {
		return next
	}
	memo, err := lru.New[[32]byte, cacheableDocument](1000)
	if err != nil {
		panic(err) // only for a size ≤ 0
	}
	var flight singleflight.Group
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" || r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		key, get, doc, ok := cacheKey(r, persisted, memo)
		if !ok {
			w.Header().Set("Cache-Control", "no-store")
			next.ServeHTTP(w, r)
			return
		}
		version, fresh := c.Version()
		if !fresh {
			c.Miss()
			execute(w, r, next, nil).write(w, r, get)
			return
		}
		k := key(version)
		if e, ok := c.Get(k); ok {
			writeAnswer(w, r, answer{gzip: e.Gzip, size: e.Size, etag: e.ETag, contentType: e.ContentType}, get)
			if observe != nil {
				observe(r.Context(), doc.rootFields, doc.name, time.Since(start))
			}
			return
		}
		// Identical misses at once (the first reads after the catalog
		// changed) run once: the others wait for its answer. One that
		// may not be shared (errors, not 200) they run themselves.
		led := false
		shared, _, _ := flight.Do(string(k[:]), func() (any, error) {
			led = true
			return execute(w, r, next, func(e *catalogcache.Entry) { c.Put(k, version, e) }), nil
		})
		x := shared.(executed)
		if !led && x.answer == nil {
			x = execute(w, r, next, nil)
		}
		x.write(w, r, get)
	})
}

// executed is gqlgen's answer to a cacheable request; answer is nil when
// it may not be shared (not 200, or with errors).
type executed struct {
	status int
	body   []byte
	answer *answer
}

// execute runs a cacheable request; an answer of status 200 without
// errors gets its ETag and, when store is not nil, is compressed and
// stored.
func execute(w http.ResponseWriter, r *http.Request, next http.Handler, store func(*catalogcache.Entry)) executed {
	rec := &responseRecorder{header: w.Header(), status: http.StatusOK}
	next.ServeHTTP(rec, r)
	x := executed{status: rec.status, body: rec.body.Bytes()}
	if x.status != http.StatusOK || bytes.Contains(x.body, []byte(`"errors":`)) {
		return x
	}
	x.answer = &answer{plain: x.body, size: len(x.body), etag: etag(x.body), contentType: w.Header().Get("Content-Type")}
	if store != nil {
		x.answer.gzip = compress(x.body)
		store(&catalogcache.Entry{Gzip: x.answer.gzip, Size: x.answer.size, ETag: x.answer.etag, ContentType: x.answer.contentType})
	}
	return x
}

func (x executed) write(w http.ResponseWriter, r *http.Request, get bool) {
	if x.answer == nil {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(x.status)
		_, _ = w.Write(x.body)
		return
	}
	writeAnswer(w, r, *x.answer, get)
}

// answer is a body without errors, plain or gzip-compressed (of size
// bytes plain) or both.
type answer struct {
	plain, gzip       []byte
	size              int
	etag, contentType string
}

// writeAnswer writes an answer without errors: with its ETag, public for
// GET (HTTP caches do not keep POSTs, and a POST's answer says no-store),
// 304 without a body when a GET's If-None-Match names its ETag, and
// gzip-compressed when the client accepts it and it is at hand.
func writeAnswer(w http.ResponseWriter, r *http.Request, a answer, get bool) {
	h := w.Header()
	h.Set("ETag", a.etag)
	if !get {
		h.Set("Cache-Control", "no-store")
	} else {
		h.Set("Cache-Control", cacheControlPublic)
		h.Add("Vary", "Authorization, Accept, Accept-Encoding")
		if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, a.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h.Set("Content-Type", a.contentType)
	body := a.plain
	switch {
	case a.gzip != nil && acceptsGzip(r):
		h.Set("Content-Encoding", "gzip")
		body = a.gzip
	case body == nil:
		h.Set("Content-Length", strconv.Itoa(a.size))
		w.WriteHeader(http.StatusOK)
		// The entry was compressed here: it decompresses, or the
		// connection ends short of its Content-Length.
		_ = decompressTo(w, a.gzip, a.size)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// etag is a weak ETag of a body, the first 16 bytes of its SHA-256: weak
// because the plain and the gzip-compressed answers carry the same one.
func etag(body []byte) string {
	sum := sha256.Sum256(body)
	return `W/"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
}

// etagMatches reports whether an If-None-Match header names tag (or is
// *), comparing weakly as If-None-Match does.
func etagMatches(header, tag string) bool {
	tag = strings.TrimPrefix(tag, "W/")
	for part := range strings.SplitSeq(header, ",") {
		part = strings.TrimPrefix(strings.TrimSpace(part), "W/")
		if part == tag || part == "*" {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether the request's Accept-Encoding takes gzip.
func acceptsGzip(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(q, 64)
			return err == nil && f > 0
		}
		return true
	}
	return false
}

var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // a valid level: no error
	return zw
}}

// compress gzips body at the fastest level: catalog JSON still shrinks
// several times.
func compress(body []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(body) / 4)
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(&b)
	_, _ = zw.Write(body) // a bytes.Buffer does not fail
	_ = zw.Close()
	gzipWriters.Put(zw)
	return bytes.Clone(b.Bytes()) // exact size: spare capacity would escape the byte budget
}

// gzipReaders and plainBuffers are reused: a new reader allocates its
// 32 KiB window, which cost more than the rest of a cache hit.
var gzipReaders, plainBuffers sync.Pool

// decompressTo writes gz, of size bytes once decompressed, to w.
func decompressTo(w io.Writer, gz []byte, size int) error {
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(gz))
	} else {
		err = zr.Reset(bytes.NewReader(gz))
	}
	if err != nil {
		return err
	}
	defer gzipReaders.Put(zr)
	buf, _ := plainBuffers.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer plainBuffers.Put(buf)
	buf.Reset()
	buf.Grow(size + bytes.MinRead) // ReadFrom wants room to learn of the end
	if _, err := buf.ReadFrom(zr); err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// responseRecorder keeps gqlgen's answer to a cacheable request in memory,
// so that its ETag can be set before it is written; the headers go to the
// real response.
type responseRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (r *responseRecorder) Header() http.Header { return r.header }

func (r *responseRecorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (r *responseRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}

// graphQLParams is what a GET query string or a JSON POST body carries.
type graphQLParams struct {
	Query         string          `json:"query"`
	OperationName string          `json:"operationName"`
	Variables     json.RawMessage `json:"variables"`
	Extensions    struct {
		PersistedQuery *struct {
			Hash string `json:"sha256Hash"`
		} `json:"persistedQuery"`
	} `json:"extensions"`
}

// cacheKey decides whether r is a cacheable anonymous catalog read and,
// if so, returns the function of the catalog version that keys it,
// whether it came by GET, and what the document is. The key hashes the normalised document, the
// operation name, the variables (re-encoded: key order and spacing do not
// matter), the Accept header (it chooses the answer's Content-Type) and
// the version.
func cacheKey(r *http.Request, persisted graphql.Cache[string], memo *documentMemo) (key func(int64) catalogcache.Key, get bool, doc cacheableDocument, ok bool) {
	if strings.TrimSpace(r.Header.Get("Authorization")) != "" || auth.FromContext(r.Context()).Role != auth.Anonymous {
		return nil, false, cacheableDocument{}, false
	}
	var p graphQLParams
	get = r.Method == http.MethodGet
	switch {
	case get:
		q := r.URL.Query()
		p.Query, p.OperationName = q.Get("query"), q.Get("operationName")
		p.Variables = json.RawMessage(q.Get("variables"))
		if ext := q.Get("extensions"); ext != "" && json.Unmarshal([]byte(ext), &p.Extensions) != nil {
			return nil, false, cacheableDocument{}, false
		}
	case r.Method == http.MethodPost:
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			return nil, false, cacheableDocument{}, false
		}
		// limitBody has read the body into memory; it is read again below.
		body, err := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil || json.Unmarshal(body, &p) != nil {
			return nil, false, cacheableDocument{}, false
		}
	default:
		return nil, false, cacheableDocument{}, false
	}
	if pq := p.Extensions.PersistedQuery; pq != nil {
		switch {
		case p.Query == "":
			stored, found := persisted.Get(r.Context(), pq.Hash)
			if !found {
				return nil, false, cacheableDocument{}, false
			}
			p.Query = stored
		case sha256Hex(p.Query) != pq.Hash:
			return nil, false, cacheableDocument{}, false // gqlgen refuses it
		}
	}
	if p.Query == "" || len(p.Query) > maxDocumentBytes {
		return nil, false, cacheableDocument{}, false
	}
	doc = analyseDocument(memo, p.Query, p.OperationName)
	if !doc.ok {
		return nil, false, cacheableDocument{}, false
	}
	vars, valid := canonicalVariables(p.Variables)
	if !valid {
		return nil, false, cacheableDocument{}, false
	}
	accept := strings.TrimSpace(r.Header.Get("Accept"))
	return func(version int64) catalogcache.Key {
		// One buffer hashed at once: a hash.Hash and its writes would
		// allocate several times on every cacheable request.
		b := make([]byte, 0, len(doc.hash)+len(p.OperationName)+len(vars)+len(accept)+3+8)
		b = append(b, doc.hash[:]...)
		b = append(append(b, p.OperationName...), 0)
		b = append(append(b, vars...), 0)
		b = append(append(b, accept...), 0)
		b = binary.BigEndian.AppendUint64(b, uint64(version))
		return sha256.Sum256(b)
	}, get, doc, true
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// canonicalVariables re-encodes the variables object: keys sorted, no
// spacing, numbers as sent. Absent, null and {} are the same.
func canonicalVariables(raw json.RawMessage) (string, bool) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return "{}", true
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v map[string]any
	if err := d.Decode(&v); err != nil {
		return "", false
	}
	if len(v) == 0 {
		return "{}", true
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// analyseDocument parses a document (once, then from the memo) and says
// whether its operation (the one named, or the only one) is a query of
// catalog root fields only, without @defer or @stream (whose answers are
// streamed), and the hash of its normalised text.
func analyseDocument(memo *documentMemo, query, operationName string) cacheableDocument {
	memoKey := sha256.Sum256([]byte(operationName + "\x00" + query))
	if d, ok := memo.Get(memoKey); ok {
		return d
	}
	d := cacheableDocument{}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, maxTokens)
	if err == nil {
		var fields []string
		if op := selectedOperation(doc, operationName); op != nil && op.Operation == ast.Query &&
			catalogOnly(doc, op.SelectionSet, map[string]bool{}, &fields) && !streams(doc) {
			var b strings.Builder
			formatter.NewFormatter(&b).FormatQueryDocument(doc)
			d = cacheableDocument{ok: true, hash: sha256.Sum256([]byte(b.String())), name: op.Name, rootFields: fields}
		}
	}
	memo.Add(memoKey, d)
	return d
}

func selectedOperation(doc *ast.QueryDocument, name string) *ast.OperationDefinition {
	if name == "" {
		if len(doc.Operations) != 1 {
			return nil
		}
		return doc.Operations[0]
	}
	return doc.Operations.ForName(name)
}

// catalogOnly reports whether every root field of set, through inline
// fragments and fragment spreads, is a catalog root field, and appends
// their names to fields.
func catalogOnly(doc *ast.QueryDocument, set ast.SelectionSet, seen map[string]bool, fields *[]string) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if !catalogRootFields[s.Name] {
				return false
			}
			*fields = append(*fields, s.Name)
		case *ast.InlineFragment:
			if !catalogOnly(doc, s.SelectionSet, seen, fields) {
				return false
			}
		case *ast.FragmentSpread:
			f := doc.Fragments.ForName(s.Name)
			if f == nil {
				return false // gqlgen refuses the document
			}
			if seen[s.Name] {
				continue
			}
			seen[s.Name] = true
			if !catalogOnly(doc, f.SelectionSet, seen, fields) {
				return false
			}
		}
	}
	return true
}

// streams reports whether the document uses @defer or @stream anywhere.
func streams(doc *ast.QueryDocument) bool {
	var walk func(ast.SelectionSet) bool
	walk = func(set ast.SelectionSet) bool {
		for _, sel := range set {
			var dirs ast.DirectiveList
			var sub ast.SelectionSet
			switch s := sel.(type) {
			case *ast.Field:
				dirs, sub = s.Directives, s.SelectionSet
			case *ast.InlineFragment:
				dirs, sub = s.Directives, s.SelectionSet
			case *ast.FragmentSpread:
				dirs = s.Directives
			}
			if dirs.ForName("defer") != nil || dirs.ForName("stream") != nil || walk(sub) {
				return true
			}
		}
		return false
	}
	for _, op := range doc.Operations {
		if walk(op.SelectionSet) {
			return true
		}
	}
	for _, f := range doc.Fragments {
		if walk(f.SelectionSet) {
			return true
		}
	}
	return false
}

// invalidateAfterStaffMutations empties this replica's catalog cache after
// each mutation by staff, once it has run (and committed), before its
// answer is written: a staff user reads their own catalog changes on the
// replica that made them at once; other replicas, and changes by anyone
// else (checkouts, whose stock changes are frequent), wait for the version
// poll, within its bound.
func invalidateAfterStaffMutations(c *catalogcache.Cache) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		oc := graphql.GetOperationContext(ctx)
		if oc.Operation == nil || oc.Operation.Operation != ast.Mutation || !auth.FromContext(ctx).IsStaff() {
			return next(ctx)
		}
		respond := next(ctx)
		return func(ctx context.Context) *graphql.Response {
			r := respond(ctx)
			c.Invalidate()
			return r
		}
	}
}
