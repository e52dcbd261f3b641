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
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"commerce/graph/generated"
	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/catalogcache"
	"commerce/internal/platform/web"
)

// HandlerConfig is what the GraphQL endpoint needs besides the resolvers.
type HandlerConfig struct {
	Sessions       *auth.Sessions // verifies bearer tokens and their sessions
	AllowedOrigins []string       // CORS_ALLOWED_ORIGINS, for the websocket upgrade
	MaxUploadBytes int64
	Log            *slog.Logger
	// AroundOperations, when set, wraps every operation (metrics).
	AroundOperations graphql.OperationMiddleware
	// Quotas limits requests per IP (the other limits are the resolvers').
	Quotas Quotas
	// Metrics, when set, registers the shared subscriptions' metrics.
	Metrics prometheus.Registerer
	// WSMaxSubscriptions bounds the operations open at once on one
	// websocket, WSMaxConnections the websockets open at once from one
	// client network (WS_MAX_SUBSCRIPTIONS, WS_MAX_CONNECTIONS); zero
	// means their defaults, so that no handler is ever without them.
	WSMaxSubscriptions int
	WSMaxConnections   int
	// CatalogCache, when set, answers anonymous catalog reads from memory
	// (respcache.go); ObserveCached, when set, records each such answer
	// as AroundOperations records an executed operation.
	CatalogCache  *catalogcache.Cache
	ObserveCached ObserveCached
}

// The defaults of WS_MAX_SUBSCRIPTIONS and WS_MAX_CONNECTIONS.
const (
	defaultWSMaxSubscriptions = 20
	defaultWSMaxConnections   = 50
)

// uploadSlack lets a file a little over MAX_UPLOAD_BYTES reach the resolver,
// which refuses it with a userError, instead of failing in the transport.
const uploadSlack = 1 << 20

// NewHandler returns the /graphql endpoint: POST, GET and multipart over
// HTTP, graphql-transport-ws and graphql-ws over websocket; with query
// limits, the error presenter, per-operation dataloaders and
// authentication from the Authorization header or the websocket
// connection_init payload.
func NewHandler(r *Resolver, cfg HandlerConfig) http.Handler {
	registerProtocolCodes.Do(func() { errcode.RegisterErrorType(apperr.RateLimited.String(), errcode.KindProtocol) })
	srv := handler.New(generated.NewExecutableSchema(generated.Config{
		Resolvers:  r,
		Directives: directives(),
		Complexity: complexity(),
	}))
	srv.AddTransport(sharedWebsocket{Websocket: transport.Websocket{
		KeepAlivePingInterval: 10 * time.Second,
		PingPongInterval:      10 * time.Second,
		InitTimeout:           10 * time.Second,
		InitFunc:              websocketInit(cfg.Sessions),
		Implementation: errorEndsOperation{transport.CoderWebsocketImplementation{
			AcceptOptions: websocket.AcceptOptions{OriginPatterns: originPatterns(cfg.AllowedOrigins)},
		}},
	}, feeds: newFeeds(cfg.Metrics, func(ctx context.Context) context.Context { return withLoaders(ctx, r) }),
		connections:   newWSConnections(cmp.Or(cfg.WSMaxConnections, defaultWSMaxConnections)),
		maxOperations: cmp.Or(cfg.WSMaxSubscriptions, defaultWSMaxSubscriptions),
		quotas:        cfg.Quotas,
		sessions:      cfg.Sessions,
	})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(requestErrors{transport.GET{}})
	srv.AddTransport(requestErrors{transport.POST{}})
	// Our own multipart transport (multipart.go): gqlgen's writes its
	// failures itself, past the error presenter, without a code, quoting
	// the request's map keys, and panics on some map paths.
	srv.AddTransport(multipartForm{
		maxBody:   cfg.MaxUploadBytes + uploadSlack,
		maxMemory: min(cfg.MaxUploadBytes+uploadSlack, 32<<20),
	})
	queries := lru.New[*ast.QueryDocument](1000)
	srv.SetQueryCache(queries)
	srv.Use(extension.Introspection{})
	srv.Use(documentLimits{cache: queries}) // before the persisted queries: see documentLimits
	persisted := lru.New[string](1000)
	srv.Use(extension.AutomaticPersistedQuery{Cache: persisted})
	srv.Use(extension.FixedComplexityLimit(complexityLimit))
	srv.Use(depthLimitExtension{max: depthLimit})
	srv.Use(rootFieldLimits{})
	srv.AroundRootFields(stopWhenGone)
	srv.AroundRootFields(refuseNUL)
	srv.AroundOperations(refuseNULInSubscription)
	srv.SetErrorPresenter(errorPresenter(cfg.Log))
	srv.SetRecoverFunc(recoverFunc(cfg.Log))
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		return next(withLoaders(ctx, r))
	})
	if cfg.CatalogCache != nil {
		srv.AroundOperations(invalidateAfterStaffMutations(cfg.CatalogCache))
	}
	if cfg.AroundOperations != nil {
		srv.AroundOperations(cfg.AroundOperations)
	}
	return web.WithResponseHeaders(limitRequests(cfg.Quotas, checkTransport(limitBody(cfg.MaxUploadBytes,
		authenticate(cfg.Sessions, cfg.Log, catalogCache(cfg.CatalogCache, persisted, cfg.ObserveCached, unavailableStatus(srv)))))))
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
// decode (400), and a mutation or subscription sent with GET (405, see
// getRefusal).
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
			// gqlgen refuses a mutation or subscription sent with GET
			// (also one named by a persisted query's hash alone) after
			// parsing it with its query cache, but without a code.
			w = &getRefusal{ResponseWriter: w}
		default:
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			requestError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		next.ServeHTTP(w, r)
	})
}

const errGetNotQuery = "only queries may be sent with GET: send mutations and subscriptions with POST"

// getRefusal replaces gqlgen's own refusal of a mutation or subscription
// sent with GET (406, a bare message) with a coded 405: GET is for
// queries, which cannot change anything.
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
	if d := rc.Field.Definition.Directives.ForName("hasPermission"); d != nil && !errors.Is(err, apperr.ErrUnauthenticated) && !errors.Is(err, apperr.ErrForbidden) {
		if arg := d.Arguments.ForName("permission"); arg != nil && arg.Value != nil {
			if permErr := requirePermission(ctx, auth.Permission(arg.Value.Raw)); permErr != nil {
				err = permErr
			}
		}
	}
	graphql.AddError(ctx, err)
	return graphql.Null
}

// stopWhenGone skips the root fields of an operation whose context has
// ended (its client went away, or its websocket operation was stopped):
// gqlgen resolves a query's root fields one after another without looking
// at the context, and introspection fields, which have no resolver
// middleware, run to the end whatever it says. 142 aliased __schema
// selections (10 KB, within every limit) kept a core busy for 1.2 s after
// their client had left. A skipped field is null with the context's error,
// which the error presenter does not count as a failure.
func stopWhenGone(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	if err := ctx.Err(); err != nil {
		graphql.AddError(ctx, err)
		return graphql.Null
	}
	return next(ctx)
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

// requestError answers a request refused before GraphQL with a GraphQL
// error body with code BAD_USER_INPUT.
func requestError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{
		"message": message, "extensions": map[string]any{"code": codeBadUserInput},
	}}})
}

// authenticate puts the caller of an HTTP request in its context. No
// Authorization header is an anonymous caller; a token that is malformed,
// expired, signed with another secret, or of an ended session fails the
// whole request with UNAUTHENTICATED (HTTP 401), never silently anonymous,
// so a client learns at once that it must sign in again.
func authenticate(sessions *auth.Sessions, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := r.Header.Get("Authorization")
		if strings.TrimSpace(header) == "" {
			next.ServeHTTP(w, r)
			return
		}
		tok, ok := auth.BearerToken(header)
		if !ok {
			unauthenticated(w, errMalformedAuthorization.Error())
			return
		}
		p, err := sessions.Authenticate(r.Context(), tok)
		if err != nil {
			if apperr.KindOf(err) != apperr.Unauthenticated {
				log.ErrorContext(r.Context(), "check the session of a bearer token", "err", err)
				unavailable(w)
				return
			}
			unauthenticated(w, errInvalidToken.Error())
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

// unauthenticated answers a request with a bad token: 401 and one
// UNAUTHENTICATED GraphQL error with a fixed message.
func unauthenticated(w http.ResponseWriter, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{
		"message": message, "extensions": map[string]any{"code": apperr.Unauthenticated.String()},
	}}})
}

// unavailable answers a request whose session could not be checked (the
// database is away): 503 and SERVICE_UNAVAILABLE, never anonymous.
func unavailable(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", "1")
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{
		"message":    "the service is unavailable: retry shortly",
		"extensions": map[string]any{"code": apperr.Unavailable.String(), "retryAfterSeconds": 1},
	}}})
}

// websocketInit authenticates a websocket from its connection_init payload
// ({"Authorization": "Bearer …"}). A token that does not verify, or whose
// session has ended, refuses the connection with 4403, so a client never
// mistakes a refused login for a quiet stream; a session that ends later
// (logout, password change, deactivation) closes the connection with 4403
// within a second, whichever replica ended it.
func websocketInit(sessions *auth.Sessions) transport.WebsocketInitFunc {
	return func(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		header := payload.Authorization()
		if header == "" {
			return ctx, nil, nil
		}
		tok, ok := auth.BearerToken(header)
		if !ok {
			return refuse(ctx, errMalformedAuthorization)
		}
		p, err := sessions.Authenticate(ctx, tok)
		if err != nil && apperr.KindOf(err) != apperr.Unauthenticated {
			// The session could not be checked (the database is away):
			// "try again later", so the client reconnects with its token.
			ctx = transport.WithWebsocketCloseCode(ctx, closeTryAgainLater)
			return ctx, nil, errSessionUnchecked
		}
		if err != nil {
			return refuse(ctx, errInvalidToken)
		}
		ctx, cancel := context.WithCancel(withWSToken(auth.WithPrincipal(ctx, p), tok))
		conn := wsConnOf(ctx)
		sessions.Watch(ctx, p.SessionID, func() {
			if conn != nil {
				conn.revoked.Store(true)
			}
			cancel()
		})
		return ctx, nil, nil
	}
}

// The reasons a connection_init is refused for. They are fixed texts:
// gqlgen sends the error in a connection_error message and the close
// reason repeats it, so neither may quote a token library's error or
// anything the client sent.
var (
	errMalformedAuthorization = errors.New(`Authorization must be "Bearer <token>"`)
	errInvalidToken           = errors.New("the token is invalid or expired: sign in again")
	errSessionUnchecked       = errors.New("the service is unavailable: retry shortly")
)

// closeForbidden is the close code graphql-transport-ws prescribes for a
// refused connection_init, so a client can tell a bad token from a normal
// close and stop reconnecting with it.
const closeForbidden = 4403

// closeTryAgainLater (RFC 6455's 1013) closes a connection whose token
// could not be checked for now.
const closeTryAgainLater = 1013

// refuse ends a websocket whose connection_init failed, with code 4403 and
// the fixed reason "Forbidden: " + reason.
func refuse(ctx context.Context, reason error) (context.Context, *transport.InitPayload, error) {
	ctx = transport.WithWebsocketCloseCode(ctx, closeForbidden)
	return transport.AppendCloseReason(ctx, "Forbidden: "+reason.Error()), nil, reason
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
