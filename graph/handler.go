package graph

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"

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
	srv.AddTransport(transport.MultipartForm{
		MaxUploadSize: cfg.MaxUploadBytes + uploadSlack,
		MaxMemory:     min(cfg.MaxUploadBytes+uploadSlack, 32<<20),
	})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.Introspection{})
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](1000)})
	srv.Use(extension.FixedComplexityLimit(complexityLimit))
	srv.Use(depthLimitExtension{max: depthLimit})
	srv.SetErrorPresenter(errorPresenter(cfg.Log))
	srv.SetRecoverFunc(recoverFunc(cfg.Log))
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		return next(withLoaders(ctx, r))
	})
	if cfg.AroundOperations != nil {
		srv.AroundOperations(cfg.AroundOperations)
	}
	return web.WithResponseHeaders(limitRequests(cfg.Quotas, limitBody(cfg.MaxUploadBytes, authenticate(cfg.Tokens, srv))))
}

// maxQueryBody bounds a JSON or GET request: far above any real query with
// its variables, far below what could tie up the server.
const maxQueryBody = 1 << 20

// limitBody refuses request bodies over the limit with 413 before gqlgen
// reads them: multipart uploads may be a little over MAX_UPLOAD_BYTES (the
// resolver refuses the file with a userError), anything else 1 MiB.
func limitBody(maxUpload int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := int64(maxQueryBody)
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
			limit = maxUpload + uploadSlack
		}
		if r.ContentLength > limit {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			_, _ = io.WriteString(w, `{"errors":[{"message":"request body too large","extensions":{"code":"BAD_USER_INPUT"}}]}`)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
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
