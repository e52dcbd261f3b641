package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"commerce/internal/auth"
	"commerce/internal/platform/web"
	"commerce/internal/realtime"
)

// sharedSubscriptionFields are the subscriptions that broadcast a topic
// with no per-subscriber state: no initial event, nothing but the event and
// the caller's access decides what a subscriber receives. Subscribers of
// one of them with the same operation, variables and principal share one
// execution (see feeds). orderStatusChanged is not among them: it starts
// with the order's current state, which a late joiner would miss.
var sharedSubscriptionFields = map[string]bool{"orderUpdates": true, "lowStockAlerts": true}

// sharedWebsocket is gqlgen's websocket transport with one change: the
// executor it runs operations on shares the execution of identical
// broadcast subscriptions. Without it, gqlgen executes and marshals every
// event once per subscriber: with a thousand admin dashboards open, that
// was most of the server's CPU, and events reached the last dashboard
// hundreds of milliseconds late.
//
// It also applies the websocket limits (websocket.go): connections per
// client network before the upgrade, operations per connection after.
type sharedWebsocket struct {
	transport.Websocket
	feeds         *feeds
	connections   *wsConnections
	maxOperations int
	quotas        Quotas // QUOTA_GRAPHQL counts each operation, as over HTTP
	sessions      *auth.Sessions
}

func (t sharedWebsocket) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	network := web.ClientNetwork(r.Context())
	if !t.connections.acquire(network) {
		refuseConnection(w, t.connections.max)
		return
	}
	defer t.connections.release(network)
	r = withWSConnState(r)
	exec = sharingExecutor{GraphExecutor: exec, feeds: t.feeds}
	t.Websocket.Do(w, r, operationLimit{GraphExecutor: exec, max: t.maxOperations, open: &atomic.Int64{}, quotas: t.quotas,
		sessions: t.sessions})
}

// sharingExecutor dispatches a shareable subscription through its feed and
// everything else as it is.
type sharingExecutor struct {
	graphql.GraphExecutor
	feeds *feeds
}

// CreateOperationContext notes the id of each operation created on a
// graphql-transport-ws connection, which gqlgen does not pass on.
func (e sharingExecutor) CreateOperationContext(ctx context.Context, params *graphql.RawParams) (*graphql.OperationContext, gqlerror.List) {
	oc, errs := e.GraphExecutor.CreateOperationContext(ctx, params)
	if s := wsConnOf(ctx); s != nil && errs == nil {
		s.created(oc)
	}
	return oc, errs
}

func (e sharingExecutor) DispatchOperation(ctx context.Context, oc *graphql.OperationContext) (graphql.ResponseHandler, context.Context) {
	var send func(payloads ...[]byte) error
	if s := wsConnOf(ctx); s != nil {
		if conn, id, ok := s.dispatched(oc); ok {
			send = func(payloads ...[]byte) error { return conn.writeNext(id, payloads...) }
		}
	}
	key, root, ok := feedKey(ctx, oc)
	if !ok {
		return e.GraphExecutor.DispatchOperation(ctx, oc)
	}
	return e.feeds.join(ctx, key, root, send, func(ctx context.Context) graphql.ResponseHandler {
		h, _ := e.GraphExecutor.DispatchOperation(ctx, oc)
		return h
	}), ctx
}

// feedKey identifies the subscriptions whose every response is the same:
// the same principal (with the same permissions), operation and variables,
// selecting only shareable fields; root is the response key of its
// (single) root field. ok is false for anything else.
func feedKey(ctx context.Context, oc *graphql.OperationContext) (key, root string, ok bool) {
	if oc.Operation == nil || oc.Operation.Operation != ast.Subscription || len(oc.Operation.SelectionSet) != 1 {
		return "", "", false
	}
	f, isField := oc.Operation.SelectionSet[0].(*ast.Field)
	if !isField || !sharedSubscriptionFields[f.Name] {
		return "", "", false
	}
	vars, err := json.Marshal(oc.Variables) // map keys sorted: canonical
	if err != nil {
		return "", "", false
	}
	p := auth.FromContext(ctx)
	// The permissions too: a subscriber whose account lost one since the
	// feed started must go through the access check again, not join it.
	perms := make([]string, len(p.Permissions))
	for i, perm := range p.Permissions {
		perms[i] = string(perm)
	}
	slices.Sort(perms)
	return strings.Join([]string{string(p.Role), p.ID, strings.Join(perms, ","), oc.OperationName, oc.RawQuery, string(vars)}, "\x00"), f.Alias, true
}

// feeds are the shared executions of broadcast subscriptions, by key. A
// feed runs the operation once per event, with the first subscriber's
// context detached from its connection, encodes the response once, and
// hands both to each of its members; it stops when its last member leaves
// or its stream ends.
type feeds struct {
	mu    sync.Mutex
	byKey map[string]*feed
	// perEvent prepares the context of each event's execution: fresh
	// loaders, so that no event is resolved from an earlier one's rows.
	perEvent func(context.Context) context.Context

	members prometheus.Gauge
	dropped prometheus.Counter
}

// newFeeds returns an empty registry whose metrics are registered on reg
// when it is not nil, and whose feeds execute each event in the context
// perEvent makes.
func newFeeds(reg prometheus.Registerer, perEvent func(context.Context) context.Context) *feeds {
	f := &feeds{
		byKey:    map[string]*feed{},
		perEvent: perEvent,
		members: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "graphql_broadcast_subscribers",
			Help: "Websocket subscriptions to orderUpdates and lowStockAlerts open on this process (they share one execution per principal, operation and variables).",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "graphql_broadcast_subscribers_dropped_total",
			Help: "Broadcast subscriptions ended for falling behind.",
		}),
	}
	if reg != nil {
		reg.MustRegister(f.members, f.dropped)
	}
	return f
}

// join adds a subscriber to the feed of key, starting the feed with
// dispatch when there is none, and returns the subscriber's responses. The
// subscriber leaves when ctx ends. send, when not nil, writes encoded
// responses to the subscriber as "next" messages (member.next).
func (fs *feeds) join(ctx context.Context, key, root string, send func(...[]byte) error, dispatch func(context.Context) graphql.ResponseHandler) graphql.ResponseHandler {
	m := &member{responses: make(chan *event, realtime.SubscriberBuffer), send: send}
	fs.mu.Lock()
	f := fs.byKey[key]
	joined := f != nil && f.add(m)
	fs.mu.Unlock()
	if !joined {
		// Dispatching subscribes the feed to the hub; the feed is found
		// by others only afterwards, so that a member never waits on a
		// feed that has not subscribed yet. Two subscribers arriving at
		// once may each start a feed; both work.
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &feed{feeds: fs, key: key, root: root, cancel: cancel, members: map[*member]struct{}{}}
		f.add(m)
		next := dispatch(fctx)
		fs.mu.Lock()
		if old := fs.byKey[key]; old == nil || old.isClosed() {
			fs.byKey[key] = f
		}
		fs.mu.Unlock()
		go f.run(fctx, next)
	}
	context.AfterFunc(ctx, func() { f.leave(m) })
	return m.next
}

// forget removes f from the registry unless another feed took its key.
func (fs *feeds) forget(f *feed) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.byKey[f.key] == f {
		delete(fs.byKey, f.key)
	}
}

// feed is one shared execution and the subscribers it serves.
type feed struct {
	feeds  *feeds
	key    string
	root   string             // the response key of the subscription's field
	cancel context.CancelFunc // ends the execution

	mu      sync.Mutex
	members map[*member]struct{}
	closed  bool // takes no new members: its stream ended, failed or lost its last member
}

// event is one response of a feed, shared by its members.
type event struct {
	response *graphql.Response
	// encoded is response as gqlgen's transport encodes it, once for
	// every member; nil for a response with errors.
	encoded []byte
}

// member is one subscriber of a feed.
type member struct {
	responses chan *event       // closed when the member leaves the feed
	last      *graphql.Response // set before responses is closed: why the stream ends early
	lastSent  bool              // only the transport's one reading goroutine touches it
	// send writes encoded responses to the subscriber's connection, in
	// one write to the network; nil on the legacy protocol, where gqlgen
	// writes every response.
	send  func(encoded ...[]byte) error
	batch [][]byte // send's argument, reused
}

// next is the member's ResponseHandler: the feed's responses in order, then
// the error that dropped it if it was, then nil. gqlgen would encode each
// response it returns again, for every member, and then write it: so next
// writes each response without errors itself, already encoded, from the
// same goroutine and in the same order, together with those queued behind
// it, and returns to gqlgen only a response with errors (whose handling,
// such as no "complete" after an error, stays gqlgen's and errorEndsConn's)
// and the end of the stream. A failed write hands a response to gqlgen,
// which fails to write it too and handles the broken connection as it
// always does.
func (m *member) next(ctx context.Context) *graphql.Response {
	for {
		var e *event
		select {
		case r, ok := <-m.responses:
			if !ok {
				if m.last != nil && !m.lastSent {
					m.lastSent = true
					return m.last
				}
				return nil
			}
			e = r
		case <-ctx.Done():
			return nil
		}
		if ctx.Err() != nil {
			return nil // stopped: no more messages with its id, which the client may reuse
		}
		if m.send == nil || e.encoded == nil {
			return e.response
		}
		// Those queued behind e are received without blocking: only
		// this goroutine receives, and a closed channel still yields
		// what it holds.
		m.batch = append(m.batch[:0], e.encoded)
		var stop *event // a response with errors, after the batch
		for range len(m.responses) {
			q := <-m.responses
			if q.encoded == nil {
				stop = q
				break
			}
			m.batch = append(m.batch, q.encoded)
		}
		err := m.send(m.batch...)
		clear(m.batch) // the encoded events are the feed's: do not keep them
		switch {
		case err != nil:
			return e.response
		case stop != nil:
			return stop.response
		}
	}
}

func (f *feed) add(m *member) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.members[m] = struct{}{}
	f.feeds.members.Inc()
	return true
}

// removeLocked takes m out of the feed; the caller holds f.mu.
func (f *feed) removeLocked(m *member) {
	delete(f.members, m)
	f.feeds.members.Dec()
}

func (f *feed) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// run executes the operation once per event and hands each response to
// every member, never blocking on one: a member that falls as far behind as
// a hub subscriber may is dropped with a RATE_LIMITED error, like one.
func (f *feed) run(ctx context.Context, next graphql.ResponseHandler) {
	defer f.end()
	for {
		r := next(f.feeds.perEvent(ctx))
		if r == nil {
			return
		}
		// gqlgen writes every event of a stream into one buffer, which
		// the next event overwrites: members read theirs later.
		shared := *r
		shared.Data = bytes.Clone(r.Data)
		e := &event{response: &shared}
		if len(r.Errors) == 0 {
			e.encoded = encodeResponse(&shared)
		}
		f.broadcast(e)
	}
}

// encodeResponse encodes r as gqlgen's websocket transport does before
// writing it; nil if it does not encode, and members then hand it to
// gqlgen, which fails on it as before.
func encodeResponse(r *graphql.Response) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		return nil
	}
	return b
}

func (f *feed) broadcast(e *event) {
	r := e.response
	f.mu.Lock()
	for m := range f.members {
		select {
		case m.responses <- e:
		default:
			m.last = slowMemberResponse(f.root)
			close(m.responses)
			f.removeLocked(m)
			f.feeds.dropped.Inc()
		}
	}
	// A response with errors ends a subscription stream here (the hub or
	// the access check refused it): whoever subscribes next starts afresh
	// rather than joining a stream that is about to end.
	failed := len(r.Errors) > 0 && !f.closed
	if failed {
		f.closed = true
	}
	f.mu.Unlock()
	if failed {
		f.feeds.forget(f)
	}
}

// end closes every member's stream when the feed's stream has ended.
func (f *feed) end() {
	f.mu.Lock()
	f.closed = true
	for m := range f.members {
		close(m.responses)
		f.removeLocked(m)
	}
	f.mu.Unlock()
	f.cancel()
	f.feeds.forget(f)
}

// leave removes a member whose subscriber went away; the feed stops with
// its last member.
func (f *feed) leave(m *member) {
	f.mu.Lock()
	_, present := f.members[m]
	if present {
		f.removeLocked(m)
	}
	last := present && len(f.members) == 0 && !f.closed
	if last {
		f.closed = true
	}
	f.mu.Unlock()
	if last {
		f.cancel()
		f.feeds.forget(f)
	}
}

// slowMemberResponse is what a dropped member is told, in the shape of the
// error that ends a stream the hub dropped: the subscription's field is
// null, with a RATE_LIMITED error that says to subscribe again.
func slowMemberResponse(root string) *graphql.Response {
	e := presentAppError(context.Background(), streamEndError(realtime.ErrSlowConsumer))
	e.Path = ast.Path{ast.PathName(root)}
	return &graphql.Response{Data: json.RawMessage("null"), Errors: gqlerror.List{e}}
}
