package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"commerce/internal/apperr"
)

// wsRetryAfter is the retryAfterSeconds of a refused websocket connection or
// operation: the limits count what is open, not a rate, so this is only a
// hint to close something first and not to retry at once.
const wsRetryAfter = 5 * time.Second

// wsConnections counts the open websocket connections of each client
// network (web.ClientNetwork) on this process and admits at most max of
// each (WS_MAX_CONNECTIONS). A connection holds goroutines and buffers for
// as long as it is open, so the bound is on what is open, per process,
// where the memory is.
type wsConnections struct {
	max  int
	mu   sync.Mutex
	open map[string]int
}

func newWSConnections(maxPerNetwork int) *wsConnections {
	return &wsConnections{max: maxPerNetwork, open: map[string]int{}}
}

// acquire takes a connection slot for network; false when it has none left.
func (c *wsConnections) acquire(network string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[network] >= c.max {
		return false
	}
	c.open[network]++
	return true
}

func (c *wsConnections) release(network string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[network]--; c.open[network] <= 0 {
		delete(c.open, network)
	}
}

// refuseConnection answers an upgrade over the connection limit with 429
// and a RATE_LIMITED GraphQL error before the upgrade: a websocket client
// sees a failed connection and retries with its backoff, and nothing of
// the refused connection (goroutines, buffers) is ever allocated.
func refuseConnection(w http.ResponseWriter, max int) {
	retry := int(math.Ceil(wsRetryAfter.Seconds()))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", strconv.Itoa(retry))
	w.WriteHeader(http.StatusTooManyRequests)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{
		"message":    fmt.Sprintf("too many open websocket connections from your network (at most %d): close one first", max),
		"extensions": map[string]any{"code": apperr.RateLimited.String(), "retryAfterSeconds": retry},
	}}})
}

// registerProtocolCodes makes gqlgen answer an operation refused with
// RATE_LIMITED before it runs with a graphql-transport-ws "error" message
// (its kind for errors of a request that never ran), not "next" and
// "complete" as for a result. gqlgen keeps error kinds in a package map;
// registering once, before any handler serves, keeps its writes from
// racing with its reads.
var registerProtocolCodes sync.Once

// operationLimit is the executor of one websocket connection: it admits at
// most max operations open at once (WS_MAX_SUBSCRIPTIONS), so that one
// connection cannot hold thousands of subscriptions, each with its
// goroutines and buffers, and counts every operation against QUOTA_GRAPHQL
// as an HTTP request is counted, so that an open socket is no way around
// it. An operation over either limit gets an "error" message with code
// RATE_LIMITED and the connection stays open.
type operationLimit struct {
	graphql.GraphExecutor
	max    int
	open   *atomic.Int64
	quotas Quotas
}

func (e operationLimit) CreateOperationContext(ctx context.Context, params *graphql.RawParams) (*graphql.OperationContext, gqlerror.List) {
	// gqlgen reads one message of a connection at a time: between this
	// check and the increment no other operation of it starts.
	if e.open.Load() >= int64(e.max) {
		return &graphql.OperationContext{}, gqlerror.List{{
			Message: fmt.Sprintf("too many operations on this connection (at most %d at once): complete one first", e.max),
			Extensions: map[string]any{
				"code": apperr.RateLimited.String(), "retryAfterSeconds": int(math.Ceil(wsRetryAfter.Seconds())),
			},
		}}
	}
	if err := e.quotas.requestLimits(ctx); err != nil {
		ae := &apperr.Error{Message: "too many requests"}
		asAppErr(err, &ae)
		return &graphql.OperationContext{}, gqlerror.List{{
			Message: ae.Message,
			Extensions: map[string]any{
				"code": apperr.RateLimited.String(), "retryAfterSeconds": int(math.Ceil(ae.RetryAfter.Seconds())),
			},
		}}
	}
	oc, errs := e.GraphExecutor.CreateOperationContext(ctx, params)
	if errs == nil {
		e.open.Add(1) // gqlgen dispatches every operation it created
	}
	return oc, errs
}

// DispatchOperation frees the operation's slot once, as soon as either its
// last response has been produced (before gqlgen sends "complete", so a
// client that starts its next operation on seeing it is not refused) or its
// context ends (the client stops it, or the connection closes).
func (e operationLimit) DispatchOperation(ctx context.Context, oc *graphql.OperationContext) (graphql.ResponseHandler, context.Context) {
	var once sync.Once
	free := func() { once.Do(func() { e.open.Add(-1) }) }
	context.AfterFunc(ctx, free)
	next, ctx := e.GraphExecutor.DispatchOperation(ctx, oc)
	return func(ctx context.Context) *graphql.Response {
		resp := next(ctx)
		if resp == nil {
			free()
		}
		return resp
	}, ctx
}
