package graph

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"commerce/graph/generated"
	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/platform/web"
)

// HandlerConfig is what the GraphQL endpoint needs besides the resolvers.
type HandlerConfig struct {
	Tokens         *auth.Tokens
	AllowedOrigins []string // CORS_ALLOWED_ORIGINS, for the websocket upgrade
	MaxUploadBytes int64
	Log            *slog.Logger
	// AroundOperations, when set, wraps every operation (metrics).
	AroundOperations graphql.OperationMiddleware
	// Quotas limits requests per IP (the other limits are the resolvers').
	Quotas Quotas
}

// uploadSlack lets a file a little over MAX_UPLOAD_BYTES reach the resolver,
// which refuses it with a userError, instead of failing in the transport.
const uploadSlack = 1 << 20

// NewHandler returns the /graphql endpoint: POST, GET and multipart over
// HTTP, graphql-transport-ws and graphql-ws over websocket; with query
// limits, the error presenter, per-operation dataloaders and
// authentication from the Authorization header or the websocket
// connection_init payload.
func NewHandler(r *Resolver, cfg HandlerConfig) http.Handler {
	srv := handler.New(generated.NewExecutableSchema(generated.Config{
		Resolvers:  r,
		Directives: directives(),
		Complexity: complexity(),
	}))
	srv.AddTransport(transport.Websocket{
		KeepAlivePingInterval: 10 * time.Second,
		PingPongInterval:      10 * time.Second,
		InitTimeout:           10 * time.Second,
		InitFunc:              websocketInit(cfg.Tokens),
		Implementation: transport.CoderWebsocketImplementation{
			AcceptOptions: websocket.AcceptOptions{OriginPatterns: originPatterns(cfg.AllowedOrigins)},
		},
	})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	// Our own multipart transport (multipart.go): gqlgen's writes its
	// failures itself, past the error presenter, without a code, quoting
	// the request's map keys, and panics on some map paths.
	srv.AddTransport(multipartForm{
		maxBody:   cfg.MaxUploadBytes + uploadSlack,
		maxMemory: min(cfg.MaxUploadBytes+uploadSlack, 32<<20),
	})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.Introspection{})
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](1000)})
	srv.Use(extension.FixedComplexityLimit(complexityLimit))
	srv.Use(depthLimitExtension{max: depthLimit})
	srv.AroundRootFields(refuseNUL)
	srv.AroundOperations(refuseNULInSubscription)
	srv.SetErrorPresenter(errorPresenter(cfg.Log))
	srv.SetRecoverFunc(recoverFunc(cfg.Log))
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		return next(withLoaders(ctx, r))
	})
	if cfg.AroundOperations != nil {
		srv.AroundOperations(cfg.AroundOperations)
	}
	return web.WithResponseHeaders(limitRequests(cfg.Quotas, checkTransport(limitBody(cfg.MaxUploadBytes, authenticate(cfg.Tokens, srv)))))
}

// maxQueryBody bounds a JSON or GET request: far above any real query with
// its variables, far below what could tie up the server.
const maxQueryBody = 1 << 20

// limitBody refuses request bodies over the limit with 413 before gqlgen
// reads them: multipart uploads may be a little over MAX_UPLOAD_BYTES (the
// resolver refuses the file with a userError), anything else 1 MiB. A JSON
// body is read here whole, so that one sent without a Content-Length is
// refused the same way, and one that is not valid UTF-8 (which the JSON
// decoder would silently turn into U+FFFD and store) is refused with 400;
// so is a JSON array (a batch of operations, which is not supported).
func limitBody(maxUpload int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		multipart := mt == "multipart/form-data"
		limit := int64(maxQueryBody)
		if multipart {
			limit = maxUpload + uploadSlack
		}
		if r.ContentLength > limit {
			requestError(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if multipart || r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			requestError(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		switch {
		case err != nil:
			requestError(w, http.StatusBadRequest, "could not read the request body")
			return
		case !utf8.Valid(body):
			requestError(w, http.StatusBadRequest, "request body is not valid UTF-8")
			return
		case bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("[")):
			requestError(w, http.StatusBadRequest, "batched operations are not supported: send one JSON object per request")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r = r.WithContext(withRedactor(r.Context(), func() []string { return jsonRequestValues(body) }))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// checkTransport refuses, with a GraphQL error that has a code, requests no
// transport serves (gqlgen answers those with a bare message): a POST whose
// Content-Type is neither JSON nor multipart (415), a method other than GET,
// POST and OPTIONS (405), a GET whose query string or variables do not
// decode (400), and a mutation or subscription sent with GET (405; GET is
// for queries, which cannot change anything).
func checkTransport(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Upgrade") != "" || r.Method == http.MethodOptions:
		case r.Method == http.MethodPost:
			mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if mt != "application/json" && mt != "multipart/form-data" {
				requestError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json (multipart/form-data for uploads)")
				return
			}
		case r.Method == http.MethodGet:
			q, err := url.ParseQuery(r.URL.RawQuery)
			if err != nil {
				requestError(w, http.StatusBadRequest, "the URL's query string is malformed")
				return
			}
			for _, param := range []string{"variables", "extensions"} {
				var object map[string]any
				if v := q.Get(param); v != "" && json.Unmarshal([]byte(v), &object) != nil {
					requestError(w, http.StatusBadRequest, param+" must be a JSON object")
					return
				}
			}
			r = r.WithContext(withRedactor(r.Context(), func() []string { return getRequestValues(q) }))
			if getChangesState(q) {
				w.Header().Set("Allow", http.MethodPost)
				requestError(w, http.StatusMethodNotAllowed, errGetNotQuery)
				return
			}
			if q.Get("query") == "" {
				// A persisted query by hash alone: only gqlgen knows
				// whether it is a mutation, and answers that without a
				// code, so its answer is replaced.
				w = &getRefusal{ResponseWriter: w}
			}
		default:
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			requestError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		next.ServeHTTP(w, r)
	})
}

const errGetNotQuery = "only queries may be sent with GET: send mutations and subscriptions with POST"

// getRefusal replaces gqlgen's own refusal of a mutation sent with GET
// (406, a bare message) with the coded 405 that checkTransport gives.
type getRefusal struct {
	http.ResponseWriter
	refused bool
}

func (g *getRefusal) WriteHeader(status int) {
	if status == http.StatusNotAcceptable {
		g.refused = true
		g.ResponseWriter.Header().Set("Allow", http.MethodPost)
		requestError(g.ResponseWriter, http.StatusMethodNotAllowed, errGetNotQuery)
		return
	}
	g.ResponseWriter.WriteHeader(status)
}

func (g *getRefusal) Write(b []byte) (int, error) {
	if g.refused {
		return len(b), nil // gqlgen's body; ours is written
	}
	return g.ResponseWriter.Write(b)
}

// getChangesState reports whether the operation a GET request names is a
// mutation or a subscription. A query that does not parse, or names no
// operation, is left to gqlgen, which answers with its parse or validation
// error.
func getChangesState(q url.Values) bool {
	doc, err := parser.ParseQuery(&ast.Source{Input: q.Get("query")})
	if err != nil {
		return false
	}
	name := q.Get("operationName")
	for _, op := range doc.Operations {
		if (name == "" && len(doc.Operations) == 1) || op.Name == name {
			return op.Operation != ast.Query
		}
	}
	return false
}

// refuseNUL keeps a NUL character (U+0000) in any argument of a root field
// away from the resolvers. It is valid UTF-8, valid JSON ("\u0000") and
// valid GraphQL, but no Postgres text column can hold it, so a service that
// does not look for it fails in the database with an internal error. The
// field is answered with a BAD_USER_INPUT error whose extensions.field is
// the argument's path (["input","notes"]), after the field's @hasRole
// check. Only root fields take free text: the arguments of nested fields are
// cursors and counts, which are checked where they are decoded. It runs
// once per root field, not per field, as a field middleware would cost
// every product of a catalog page.
func refuseNUL(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	rc := graphql.GetRootFieldContext(ctx)
	if rc == nil || rc.Field.Field == nil || len(rc.Field.Arguments) == 0 || rc.Field.Definition == nil {
		return next(ctx)
	}
	path, found := nulPath(rc.Field.ArgumentMap(graphql.GetOperationContext(ctx).Variables), nil)
	if !found {
		return next(ctx)
	}
	err := error(apperr.InvalidField(path, "must not contain the NUL character (U+0000)"))
	if d := rc.Field.Definition.Directives.ForName("hasRole"); d != nil {
		if arg := d.Arguments.ForName("role"); arg != nil && arg.Value != nil {
			if roleErr := require(ctx, auth.Role(arg.Value.Raw)); roleErr != nil {
				err = roleErr
			}
		}
	}
	graphql.AddError(ctx, err)
	return graphql.Null
}

// refuseNULInSubscription is refuseNUL for subscriptions, whose root
// fields gqlgen runs without the root field middleware: a NUL in a
// subscription's arguments ends it with one BAD_USER_INPUT error naming
// the argument's path.
func refuseNULInSubscription(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation == nil || oc.Operation.Operation != ast.Subscription {
		return next(ctx)
	}
	for _, sel := range oc.Operation.SelectionSet {
		f, ok := sel.(*ast.Field)
		if !ok || f.Definition == nil {
			continue
		}
		if path, found := nulPath(f.ArgumentMap(oc.Variables), nil); found {
			return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{{
				Message:    "must not contain the NUL character (U+0000)",
				Extensions: map[string]any{"code": codeBadUserInput, "field": path},
			}}})
		}
	}
	return next(ctx)
}

// nulPath returns the path (object keys, list indices as strings) of the
// first string in v that holds a NUL character.
func nulPath(v any, path []string) ([]string, bool) {
	switch x := v.(type) {
	case string:
		if strings.IndexByte(x, 0) >= 0 {
			return slices.Clone(path), true
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if strings.IndexByte(k, 0) >= 0 {
				return append(slices.Clone(path), k), true
			}
			if p, ok := nulPath(x[k], append(path, k)); ok {
				return p, true
			}
		}
	case []any:
		for i, e := range x {
			if p, ok := nulPath(e, append(path, strconv.Itoa(i))); ok {
				return p, true
			}
		}
	}
	return nil, false
}

type redactorKey struct{}

// withRedactor keeps, for the error presenter, the redactor of the
// request's variables and operation name (values lists them). It is built
// once per request, on the first error that needs it, so that a request
// with many errors and many variables costs one pass over its body.
func withRedactor(ctx context.Context, values func() []string) context.Context {
	return context.WithValue(ctx, redactorKey{}, sync.OnceValue(func() *strings.Replacer { return newRedactor(values()) }))
}

// redactorOf is the request's redactor: the one its transport kept, else
// (a websocket message, whose payload is small) one built from the
// operation context's variables.
func redactorOf(ctx context.Context) *strings.Replacer {
	if f, ok := ctx.Value(redactorKey{}).(func() *strings.Replacer); ok {
		return f()
	}
	if graphql.HasOperationContext(ctx) {
		oc := graphql.GetOperationContext(ctx)
		return newRedactor(appendStrings([]string{oc.OperationName}, oc.Variables))
	}
	return nil
}

// newRedactor replaces each value, quoted or bare, with "the given value".
// Values shorter than minRedacted are left, as replacing them would garble
// messages while echoing next to nothing. Longer values come first, so that
// a value containing another is replaced whole.
func newRedactor(values []string) *strings.Replacer {
	values = slices.DeleteFunc(values, func(v string) bool { return len(v) < minRedacted })
	slices.SortFunc(values, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	values = slices.Compact(values)
	pairs := make([]string, 0, 4*len(values))
	for _, v := range values {
		pairs = append(pairs, strconv.Quote(v), "the given value", v, "the given value")
	}
	return strings.NewReplacer(pairs...)
}

const minRedacted = 3

// jsonRequestValues lists the string values of a JSON request body but its
// query: the variables, operation name and extensions.
func jsonRequestValues(body []byte) []string {
	var req map[string]any
	if json.Unmarshal(body, &req) != nil {
		return nil
	}
	delete(req, "query")
	return appendStrings(nil, req)
}

// getRequestValues is jsonRequestValues for a GET request's parameters.
func getRequestValues(q url.Values) []string {
	var vars any
	_ = json.Unmarshal([]byte(q.Get("variables")), &vars)
	return appendStrings([]string{q.Get("operationName")}, vars)
}

// appendStrings appends every string value held in v.
func appendStrings(out []string, v any) []string {
	switch x := v.(type) {
	case string:
		out = append(out, x)
	case map[string]any:
		for _, e := range x {
			out = appendStrings(out, e)
		}
	case []any:
		for _, e := range x {
			out = appendStrings(out, e)
		}
	}
	return out
}

// requestError answers a request refused before GraphQL with a GraphQL
// error body with code BAD_USER_INPUT.
func requestError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{
		"message": message, "extensions": map[string]any{"code": codeBadUserInput},
	}}})
}

// authenticate puts the caller of an HTTP request in its context. A
// missing, malformed or expired token leaves the caller anonymous, so public
// reads keep working and protected fields answer UNAUTHENTICATED.
func authenticate(tokens *auth.Tokens, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, ok := auth.BearerToken(r.Header.Get("Authorization")); ok {
			if p, err := tokens.Verify(tok); err == nil {
				r = r.WithContext(auth.WithPrincipal(r.Context(), p))
			}
		}
		next.ServeHTTP(w, r)
	})
}

// websocketInit authenticates a websocket from its connection_init payload
// ({"Authorization": "Bearer …"}). A token that does not verify refuses the
// connection, so a client never mistakes a refused login for a quiet stream.
func websocketInit(tokens *auth.Tokens) transport.WebsocketInitFunc {
	return func(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		header := payload.Authorization()
		if header == "" {
			return ctx, nil, nil
		}
		tok, ok := auth.BearerToken(header)
		if !ok {
			return refuse(ctx, apperr.New(apperr.Unauthenticated, "Authorization must be \"Bearer <token>\""))
		}
		p, err := tokens.Verify(tok)
		if err != nil {
			return refuse(ctx, err)
		}
		return auth.WithPrincipal(ctx, p), nil, nil
	}
}

// closeForbidden is the close code graphql-transport-ws prescribes for a
// refused connection_init, so a client can tell a bad token from a normal
// close and stop reconnecting with it.
const closeForbidden = 4403

// refuse ends a websocket whose connection_init failed, with code 4403 and
// the reason.
func refuse(ctx context.Context, err error) (context.Context, *transport.InitPayload, error) {
	ctx = transport.WithWebsocketCloseCode(ctx, closeForbidden)
	return transport.AppendCloseReason(ctx, "Forbidden: "+err.Error()), nil, err
}

// originPatterns turns CORS_ALLOWED_ORIGINS ("https://shop.example.com")
// into the host patterns the websocket library matches. Same-origin
// upgrades are always allowed.
func originPatterns(origins []string) []string {
	var out []string
	for _, o := range origins {
		if o == "*" {
			out = append(out, "*")
			continue
		}
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			out = append(out, u.Host)
		}
	}
	return out
}
