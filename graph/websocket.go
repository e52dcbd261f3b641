package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"commerce/internal/apperr"
	"commerce/internal/auth"
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
	max      int
	open     *atomic.Int64
	quotas   Quotas
	sessions *auth.Sessions // re-reads the caller of each operation
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
	ctx = freshPrincipal(ctx, e.sessions)
	next, ctx := e.GraphExecutor.DispatchOperation(ctx, oc)
	return func(ctx context.Context) *graphql.Response {
		resp := next(ctx)
		if resp == nil {
			free()
		}
		return resp
	}, ctx
}

// errorEndsOperation is the websocket implementation with one fix to
// gqlgen's graphql-transport-ws: an "error" message ends its operation, and
// the protocol forbids a "complete" for it afterwards (a client may already
// have reused the id), but gqlgen sends one after every operation it
// refuses (a document that does not parse or validate, a payload that is
// not an object, an operation over WS_MAX_SUBSCRIPTIONS, a panic). Its
// connections drop that complete. The legacy graphql-ws protocol, which
// allows it, is left as it is.
type errorEndsOperation struct {
	transport.WebsocketImplementation
}

// Every connection, of either protocol, also closes with 4403 instead of
// gqlgen's normal close when its session ended (see websocketInit).
func (i errorEndsOperation) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	cw := &corkingWriter{ResponseWriter: w}
	conn, err := i.WebsocketImplementation.Accept(cw, r, opts)
	if err != nil {
		return conn, err
	}
	state := wsConnOf(r.Context())
	if state == nil {
		state = &wsConnState{}
	}
	c := &errorEndsConn{WebsocketConn: conn, errored: map[string]bool{}, active: map[string]bool{},
		transportWS: conn.Subprotocol() == graphqlTransportWS, state: state, corked: cw.conn}
	if c.transportWS {
		state.conn.Store(c)
	}
	return c, nil
}

type wsTokenKey struct{}

// withWSToken keeps a connection's bearer token in its context, for
// freshPrincipal.
func withWSToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, wsTokenKey{}, token)
}

// freshPrincipal re-reads the caller of an operation on a websocket from
// its session, as an HTTP request would be, so that a change of the
// account's role or permissions since connection_init applies to the
// operations started after it. An ended session makes the caller
// anonymous (its connection is about to close with 4403); a session that
// cannot be checked now keeps the caller of connection_init.
func freshPrincipal(ctx context.Context, sessions *auth.Sessions) context.Context {
	tok, ok := ctx.Value(wsTokenKey{}).(string)
	if !ok || sessions == nil {
		return ctx
	}
	p, err := sessions.Authenticate(ctx, tok)
	switch {
	case err == nil:
		return auth.WithPrincipal(ctx, p)
	case apperr.KindOf(err) == apperr.Unauthenticated:
		return auth.WithPrincipal(ctx, auth.Principal{})
	}
	return ctx
}

// wsConnState is what websocketInit and the executors share with the
// connection they run on: whether the connection's session ended, so that
// gqlgen's close (after websocketInit cancels the connection's context)
// goes out as 4403; and, on graphql-transport-ws, the connection and the id
// of each operation created on it, so that a feed member can write its
// events itself (see member.next).
type wsConnState struct {
	revoked atomic.Bool
	conn    atomic.Pointer[errorEndsConn] // nil on the legacy protocol

	mu  sync.Mutex
	ids map[*graphql.OperationContext]string // created, not yet dispatched
}

// created notes the id of oc, which gqlgen has just created for the
// subscribe message it read last: it reads the next message only after
// creating the operation, while it dispatches it on another goroutine.
func (s *wsConnState) created(oc *graphql.OperationContext) {
	c := s.conn.Load()
	if c == nil {
		return
	}
	c.mu.Lock()
	id := c.subscribing
	c.mu.Unlock()
	s.mu.Lock()
	if s.ids == nil {
		s.ids = map[*graphql.OperationContext]string{}
	}
	s.ids[oc] = id
	s.mu.Unlock()
}

// dispatched returns the connection and id of oc, which gqlgen is
// dispatching; ok is false on the legacy protocol.
func (s *wsConnState) dispatched(oc *graphql.OperationContext) (c *errorEndsConn, id string, ok bool) {
	s.mu.Lock()
	id, ok = s.ids[oc]
	delete(s.ids, oc)
	s.mu.Unlock()
	if !ok {
		return nil, "", false
	}
	return s.conn.Load(), id, true
}

type wsConnStateKey struct{}

// withWSConnState gives a websocket request the state its connection and
// its connection_init share.
func withWSConnState(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), wsConnStateKey{}, &wsConnState{}))
}

func wsConnOf(ctx context.Context) *wsConnState {
	s, _ := ctx.Value(wsConnStateKey{}).(*wsConnState)
	return s
}

// errSessionEnded is the close reason of a connection whose session ended.
var errSessionEnded = errors.New("the session has ended: sign in again")

// WriteClose sends gqlgen's close, or 4403 when the session ended, or the
// graphql-transport-ws close of the protocol violation NextReader found.
func (c *errorEndsConn) WriteClose(code int, message string) error {
	c.mu.Lock()
	violation := c.violation
	c.mu.Unlock()
	switch {
	case c.state.revoked.Load():
		code, message = closeForbidden, "Forbidden: "+errSessionEnded.Error()
	case violation != nil:
		code, message = violation.code, violation.reason
	}
	return c.WebsocketConn.WriteClose(code, message)
}

// wsViolation is a graphql-transport-ws close for a client that broke the
// protocol. Its reasons are fixed texts: the duplicate id is not quoted, as
// the protocol's example does, because a close reason holds at most 123
// bytes and an id has no length limit.
type wsViolation struct {
	code   int
	reason string
}

func (v *wsViolation) Error() string { return v.reason }

var (
	violationInvalid      = &wsViolation{4400, "Invalid message received"}
	violationUnauthorized = &wsViolation{4401, "Unauthorized"}
	violationDuplicate    = &wsViolation{4409, "Subscriber for this id already exists"}
	violationSecondInit   = &wsViolation{4429, "Too many initialisation requests"}
)

// NextReader checks each graphql-transport-ws message before gqlgen reads
// it, for what gqlgen does not: a message that is not a known client
// message closes with 4400 (gqlgen closes with 1000 or 1002), as does a
// connection_init whose payload is not an object (gqlgen leaves that
// connection open until its init timeout); a second connection_init
// closes with 4429 and a subscribe before it with 4401 (gqlgen: 1002); a
// subscribe reusing the id of an operation still running closes with 4409
// (gqlgen runs both). On a violation it returns an error, on which gqlgen
// closes the connection; WriteClose then sends the violation's close.
func (c *errorEndsConn) NextReader() (int, io.Reader, error) {
	typ, r, err := c.WebsocketConn.NextReader()
	if err != nil || !c.transportWS {
		return typ, r, err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return typ, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.violation = c.check(data); c.violation != nil {
		return typ, nil, c.violation
	}
	return typ, bytes.NewReader(data), nil
}

// check returns the violation data is, or nil after noting what it
// changes: the connection initialised, an operation started or stopped.
// It runs under c.mu.
func (c *errorEndsConn) check(data []byte) *wsViolation {
	var m struct {
		Type    *string         `json:"type"`
		ID      *string         `json:"id"`
		Payload json.RawMessage `json:"payload"`
	}
	if json.Unmarshal(data, &m) != nil || m.Type == nil {
		return violationInvalid
	}
	switch *m.Type {
	case "connection_init":
		if c.initialised {
			return violationSecondInit
		}
		if p := bytes.TrimSpace(m.Payload); len(p) > 0 && p[0] != '{' && string(p) != "null" {
			return violationInvalid
		}
		c.initialised = true
	case "subscribe":
		switch {
		case !c.initialised:
			return violationUnauthorized
		case m.ID == nil || *m.ID == "":
			return violationInvalid
		case c.active[*m.ID]:
			return violationDuplicate
		}
		c.active[*m.ID] = true
		c.subscribing = *m.ID
	case "complete":
		if m.ID == nil || *m.ID == "" {
			return violationInvalid
		}
		delete(c.active, *m.ID)
	case "ping", "pong":
	default:
		return violationInvalid
	}
	return nil
}

const graphqlTransportWS = "graphql-transport-ws"

// errorEndsConn is a graphql-transport-ws connection that sends no
// "complete" after an "error" for the same operation, and closes as the
// protocol prescribes when the client breaks it (NextReader). gqlgen
// sends the complete right after the error, from the same goroutine, so
// an entry of errored lives only between the two.
type errorEndsConn struct {
	transport.WebsocketConn
	mu          sync.Mutex
	errored     map[string]bool // operations whose error was sent and complete not yet dropped
	transportWS bool            // graphql-transport-ws: the fixes apply
	state       *wsConnState
	initialised bool            // a connection_init was read
	active      map[string]bool // ids subscribed and not yet ended by either side
	subscribing string          // the id of the last subscribe read
	corked      *corkedConn     // the connection under the websocket; nil if the implementation did not hijack
	violation   *wsViolation    // the protocol violation that ends the connection
}

// The connection keeps the optional abilities of the coder/websocket
// connection it wraps, which gqlgen looks for with type assertions: the
// payload limit and the deadline that closes a connection missing pongs.
var (
	_ transport.WebsocketReadLimiter   = (*errorEndsConn)(nil)
	_ transport.WebsocketReadDeadliner = (*errorEndsConn)(nil)
)

func (c *errorEndsConn) WriteJSON(v any) error {
	if !c.transportWS {
		return c.WebsocketConn.WriteJSON(v)
	}
	id, typ := messageHeader(v)
	c.mu.Lock()
	switch typ {
	case "error", "complete":
		// The client may reuse the id as soon as it reads either.
		delete(c.active, id)
	}
	switch typ {
	case "error":
		c.errored[id] = true
	case "next":
		delete(c.errored, id) // a new operation reusing the id
	case "complete":
		if c.errored[id] {
			delete(c.errored, id)
			c.mu.Unlock()
			return nil
		}
	}
	c.mu.Unlock()
	return c.WebsocketConn.WriteJSON(v)
}

// writeNext sends a "next" message of operation id for each payload,
// already encoded as gqlgen encodes a graphql.Response: the same bytes as
// gqlgen's own WriteJSON of it, without encoding the response again for
// each subscriber, and in one write to the network when there are several.
// It is safe to call while gqlgen writes too: the websocket library writes
// one whole message at a time.
func (c *errorEndsConn) writeNext(id string, payloads ...[]byte) (err error) {
	c.mu.Lock()
	delete(c.errored, id) // as WriteJSON does for a "next"
	c.mu.Unlock()
	if c.corked != nil && len(payloads) > 1 {
		c.corked.cork()
		defer func() { err = errors.Join(err, c.corked.uncork()) }()
	}
	for _, p := range payloads {
		if err := c.WebsocketConn.WriteJSON(nextMessage(id, p)); err != nil {
			return err
		}
	}
	return nil
}

// nextMessage is the graphql-transport-ws "next" message gqlgen would
// write: its message struct's fields are, in order, payload, id (omitted
// when empty) and type.
func nextMessage(id string, payload []byte) json.RawMessage {
	b := make([]byte, 0, len(payload)+len(id)+40)
	b = append(b, `{"payload":`...)
	b = append(b, payload...)
	if id != "" {
		quoted, _ := json.Marshal(id) // a string always encodes
		b = append(b, `,"id":`...)
		b = append(b, quoted...)
	}
	return append(b, `,"type":"next"}`...)
}

func (c *errorEndsConn) SetReadLimit(limit int64) {
	if l, ok := c.WebsocketConn.(transport.WebsocketReadLimiter); ok {
		l.SetReadLimit(limit)
	}
}

func (c *errorEndsConn) SetReadDeadline(t time.Time) error {
	if d, ok := c.WebsocketConn.(transport.WebsocketReadDeadliner); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}

// messageHeader returns the id and type of a message gqlgen is about to
// send. Its message type is unexported, so they are read by field name
// (ID and Type, both strings); TestWebsocketErrorEndsOperation fails if a
// gqlgen upgrade renames them.
func messageHeader(v any) (id, typ string) {
	m := reflect.Indirect(reflect.ValueOf(v))
	if m.Kind() != reflect.Struct {
		return "", ""
	}
	if f := m.FieldByName("ID"); f.Kind() == reflect.String {
		id = f.String()
	}
	if f := m.FieldByName("Type"); f.Kind() == reflect.String {
		typ = f.String()
	}
	return id, typ
}
