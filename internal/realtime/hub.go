package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"commerce/internal/platform/redisguard"
)

// ErrSlowConsumer ends the stream of a subscriber whose buffer filled up.
var ErrSlowConsumer = errors.New("subscriber too slow: events were dropped, subscribe again")

// SubscriberBuffer is how many events a subscriber may fall behind before
// it is dropped.
const SubscriberBuffer = 64

// PublishQueue is how many committed events may wait to be published to
// Redis; beyond it events are dropped (counted, and announced as a gap),
// because a request must never wait for Redis.
const PublishQueue = 1024

// Hub fans published events out to subscribers.
type Hub struct {
	guard  *redisguard.Guard // nil: in-process, one instance only
	prefix string
	log    *slog.Logger

	mu   sync.Mutex
	subs map[string]map[*Subscription]struct{}

	subscribers prometheus.Gauge
	published   *prometheus.CounterVec
	delivered   prometheus.Counter
	dropped     prometheus.Counter
	gaps        *prometheus.CounterVec

	queue      chan outgoing // committed events on their way to Redis
	gapMu      sync.Mutex
	gapPending map[string]bool // topics whose subscribers elsewhere may have missed an event
	pubOnce    sync.Once
	pubStop    chan struct{}
	pubDone    chan struct{}

	psMu      sync.Mutex
	pubsub    *redis.PubSub // the current subscription; replaced when it hangs
	ready     chan struct{} // closed once every channel's subscription is confirmed
	done      chan struct{}
	closeOnce sync.Once
	closing   bool // under psMu
	closed    bool // under mu: Subscribe answers with an ended subscription
}

// outgoing is an event encoded for Redis.
type outgoing struct {
	topic   string
	payload []byte
}

// gapMarker is published on a topic, before the next event, by a hub that
// failed or dropped a publish there: every subscriber on every replica may
// have missed that event.
const gapMarker = `{"missedEventsPossible":true}`

// New returns a hub on Redis through guard, or in process when guard is
// nil. Its metrics are registered on reg when it is not nil.
func New(guard *redisguard.Guard, prefix string, log *slog.Logger, reg prometheus.Registerer) *Hub {
	h := &Hub{
		guard: guard, prefix: prefix, log: log,
		subs: map[string]map[*Subscription]struct{}{},
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "realtime_subscribers", Help: "Live subscriptions currently open on this process.",
		}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "realtime_events_published_total",
			Help: "Events published, by topic and outcome: ok, error (Redis failed or was unavailable), dropped (the hand-off queue to Redis was full).",
		}, []string{"topic", "outcome"}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "realtime_events_delivered_total", Help: "Events handed to subscribers on this process.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "realtime_subscribers_dropped_total", Help: "Subscribers dropped for falling behind.",
		}),
		gaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "realtime_feed_gaps_total",
			Help: "Gaps announced to this process's subscribers (events possibly missed), by cause: subscription (this process's Redis subscription dropped) or publish (a publisher failed or dropped an event).",
		}, []string{"cause"}),
		queue:      make(chan outgoing, PublishQueue),
		gapPending: map[string]bool{},
		pubStop:    make(chan struct{}),
		pubDone:    make(chan struct{}),
		ready:      make(chan struct{}),
		done:       make(chan struct{}),
	}
	if reg != nil {
		reg.MustRegister(h.subscribers, h.published, h.delivered, h.dropped, h.gaps)
	}
	return h
}

// channels are the Redis channels of the topics.
func (h *Hub) channels() []string {
	return []string{h.prefix + TopicOrders, h.prefix + TopicLowStock}
}

// Start subscribes to the Redis channels and relays what arrives. It waits
// briefly for Redis to confirm the subscription; when Redis is down it goes
// on, and the subscription is taken once Redis answers. Without Redis there
// is nothing to start.
func (h *Hub) Start(ctx context.Context) {
	if h.guard == nil {
		close(h.done)
		return
	}
	h.psMu.Lock()
	h.pubsub = h.guard.Client().Subscribe(context.WithoutCancel(ctx), h.channels()...)
	h.psMu.Unlock()
	go h.receive()
	select {
	case <-h.ready:
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
	}
}

// healthInterval is how long the subscription may be silent before the hub
// pings through it; without an answer one more interval later the
// subscription is taken as lost (a frozen Redis keeps the connection open
// and answers nothing, which go-redis alone never notices).
const healthInterval = time.Second

// receive relays messages until Close. A subscription that breaks or
// hangs opens the guard and is taken again; once it is confirmed again (or
// for the first time, when Redis was down at the start), every subscriber
// of the topic is told that events may have been missed.
func (h *Hub) receive() {
	defer close(h.done)
	confirmed := map[string]bool{} // topics subscribed at least once
	disrupted := map[string]bool{} // topics whose subscription failed since it was last confirmed
	disrupt := func() {
		for _, topic := range []string{TopicOrders, TopicLowStock} {
			disrupted[topic] = true
		}
	}
	pinged := false
	backoff := 50 * time.Millisecond
	ps := h.currentPubSub()
	for {
		msg, err := ps.ReceiveTimeout(context.Background(), healthInterval)
		if err != nil {
			if h.isClosing() {
				return
			}
			var netErr net.Error
			if errors.As(err, &netErr) && netErr.Timeout() {
				if !pinged {
					_ = ps.Ping(context.Background()) // the answer comes through ReceiveTimeout
					pinged = true
					continue
				}
				h.guard.Fail(fmt.Errorf("live-feed subscription unanswered for %s: %w", 2*healthInterval, err))
				disrupt()
				if ps = h.resubscribe(ps); ps == nil {
					return
				}
				pinged = false
				continue
			}
			// Broken or refused: go-redis reconnects and subscribes
			// again on the next receive.
			h.guard.Fail(err)
			disrupt()
			select {
			case <-time.After(backoff):
			case <-h.pubStop:
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		pinged, backoff = false, 50*time.Millisecond
		switch m := msg.(type) {
		case *redis.Message:
			h.dispatch(strings.TrimPrefix(m.Channel, h.prefix), []byte(m.Payload))
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			topic := strings.TrimPrefix(m.Channel, h.prefix)
			if confirmed[topic] || disrupted[topic] {
				h.gaps.WithLabelValues("subscription").Inc()
				h.deliver(topic, Event{Gap: true})
			}
			confirmed[topic], disrupted[topic] = true, false
			if len(confirmed) == len(h.channels()) {
				h.markReady()
			}
		}
	}
}

func (h *Hub) markReady() {
	select {
	case <-h.ready:
	default:
		close(h.ready)
	}
}

func (h *Hub) currentPubSub() *redis.PubSub {
	h.psMu.Lock()
	defer h.psMu.Unlock()
	return h.pubsub
}

func (h *Hub) isClosing() bool {
	h.psMu.Lock()
	defer h.psMu.Unlock()
	return h.closing
}

// resubscribe replaces a hung subscription with a new one on a new
// connection; it returns nil when the hub is closing.
func (h *Hub) resubscribe(old *redis.PubSub) *redis.PubSub {
	_ = old.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ps := h.guard.Client().Subscribe(ctx, h.channels()...)
	h.psMu.Lock()
	defer h.psMu.Unlock()
	if h.closing {
		_ = ps.Close()
		return nil
	}
	h.pubsub = ps
	return ps
}

// Close stops relaying, publishes what is still queued (each publish
// bounded by the guard) and ends every subscription. It is safe to call
// more than once.
func (h *Hub) Close() {
	h.closeOnce.Do(h.close)
}

func (h *Hub) close() {
	if h.guard != nil {
		h.psMu.Lock()
		h.closing = true
		ps := h.pubsub
		h.psMu.Unlock()
		close(h.pubStop)
		if ps != nil {
			_ = ps.Close()
			<-h.done
		}
		h.pubOnce.Do(func() { close(h.pubDone) }) // no publisher was started
		<-h.pubDone
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, subs := range h.subs {
		for s := range subs {
			s.end(nil)
		}
	}
	h.subs = map[string]map[*Subscription]struct{}{}
	h.subscribers.Set(0)
}

// Publish hands a committed batch's events over for publishing and returns
// at once: without Redis they are dispatched in process; with Redis they
// queue for a background publisher, and when the queue is full they are
// dropped, counted, and announced as a gap. It never blocks on Redis.
func (h *Hub) Publish(_ context.Context, b *Batch) {
	if b == nil {
		return
	}
	for _, m := range b.drain() {
		payload, err := json.Marshal(m.payload)
		if err != nil {
			h.log.Error("realtime: encode event", "topic", m.topic, "error", err)
			continue
		}
		if h.guard == nil {
			h.published.WithLabelValues(m.topic, "ok").Inc()
			h.dispatch(m.topic, payload)
			continue
		}
		h.pubOnce.Do(func() { go h.publisher() })
		select {
		case h.queue <- outgoing{topic: m.topic, payload: payload}:
		default:
			h.published.WithLabelValues(m.topic, "dropped").Inc()
			h.setGapPending(m.topic, true)
		}
	}
}

// publisher publishes the queued events in order. A topic whose publish
// failed or was dropped gets a gap marker before its next event, or as
// soon as Redis is back, whichever comes first.
func (h *Hub) publisher() {
	defer close(h.pubDone)
	for {
		var back <-chan struct{}
		if h.anyGapPending() {
			back = h.guard.Back()
		}
		select {
		case m := <-h.queue:
			h.send(m)
		case <-back:
			if !h.announceGaps() && h.guard.Up() {
				time.Sleep(redisguard.ProbeInterval) // an error reply, not an outage: do not spin
			}
		case <-h.pubStop:
			for {
				select {
				case m := <-h.queue:
					h.send(m)
				default:
					return
				}
			}
		}
	}
}

// send publishes one event, after the gap marker its topic owes.
func (h *Hub) send(m outgoing) {
	if h.gapIsPending(m.topic) && !h.announce(m.topic) {
		h.published.WithLabelValues(m.topic, "error").Inc()
		return
	}
	if err := h.redisPublish(m.topic, m.payload); err != nil {
		h.published.WithLabelValues(m.topic, "error").Inc()
		h.setGapPending(m.topic, true)
		return
	}
	h.published.WithLabelValues(m.topic, "ok").Inc()
}

// announceGaps publishes the owed gap markers; false when one failed.
func (h *Hub) announceGaps() bool {
	ok := true
	for _, topic := range []string{TopicOrders, TopicLowStock} {
		if h.gapIsPending(topic) && !h.announce(topic) {
			ok = false
		}
	}
	return ok
}

func (h *Hub) announce(topic string) bool {
	if h.redisPublish(topic, []byte(gapMarker)) != nil {
		return false
	}
	h.setGapPending(topic, false)
	return true
}

// redisPublish publishes through the guard. An outage is logged once, by
// the guard; anything else here.
func (h *Hub) redisPublish(topic string, payload []byte) error {
	err := h.guard.Do(context.Background(), func(ctx context.Context) error {
		return h.guard.Client().Publish(ctx, h.prefix+topic, payload).Err()
	})
	if err != nil && !errors.Is(err, redisguard.ErrUnavailable) && !redisguard.IsOutage(err) {
		h.log.Warn("realtime: publish failed; live subscribers may miss this event", "topic", topic, "error", err)
	}
	return err
}

func (h *Hub) setGapPending(topic string, v bool) {
	h.gapMu.Lock()
	h.gapPending[topic] = v
	h.gapMu.Unlock()
}

func (h *Hub) gapIsPending(topic string) bool {
	h.gapMu.Lock()
	defer h.gapMu.Unlock()
	return h.gapPending[topic]
}

func (h *Hub) anyGapPending() bool {
	h.gapMu.Lock()
	defer h.gapMu.Unlock()
	for _, v := range h.gapPending {
		if v {
			return true
		}
	}
	return false
}

// dispatch decodes a message once and hands it to every subscriber of the
// topic. A gap marker reaches them as a gap event.
func (h *Hub) dispatch(topic string, payload []byte) {
	if string(payload) == gapMarker {
		h.gaps.WithLabelValues("publish").Inc()
		h.deliver(topic, Event{Gap: true})
		return
	}
	ev, err := decodeEvent(topic, payload)
	if err != nil {
		h.log.Warn("realtime: undecodable event dropped", "topic", topic, "error", err)
		return
	}
	h.deliver(topic, ev)
}

// deliver hands ev to every subscriber of the topic without ever
// blocking: a subscriber whose buffer is full is dropped.
func (h *Hub) deliver(topic string, ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[topic] {
		select {
		case s.c <- ev:
			h.delivered.Inc()
		default:
			delete(h.subs[topic], s)
			s.end(ErrSlowConsumer)
			h.dropped.Inc()
			h.subscribers.Dec()
		}
	}
}

// Event is one event as every subscriber receives it, decoded once for
// all of them: Order on TopicOrders, LowStock on TopicLowStock. Subscribers
// share it and must not change it. A gap event carries neither: it says
// that events of the topic may have been lost before it (this process's
// subscription to Redis dropped, or a publisher failed to publish one), so
// a subscriber should tell its client or resend the current state.
type Event struct {
	Order    *OrderStatus
	LowStock *LowStock
	Gap      bool
}

func decodeEvent(topic string, payload []byte) (Event, error) {
	switch topic {
	case TopicOrders:
		var e OrderStatus
		err := json.Unmarshal(payload, &e)
		return Event{Order: &e}, err
	case TopicLowStock:
		var e LowStock
		err := json.Unmarshal(payload, &e)
		return Event{LowStock: &e}, err
	}
	return Event{}, fmt.Errorf("unknown topic %q", topic)
}

// ErrClosed ends subscriptions of a hub that is shutting down.
var ErrClosed = errors.New("the server is shutting down: subscribe again")

// Subscribe returns a subscription to a topic. Close it when done. On a
// closed hub the subscription has ended already, with ErrClosed.
func (h *Hub) Subscribe(topic string) *Subscription {
	s := &Subscription{c: make(chan Event, SubscriberBuffer), hub: h, topic: topic}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.end(ErrClosed)
		return s
	}
	if h.subs[topic] == nil {
		h.subs[topic] = map[*Subscription]struct{}{}
	}
	h.subs[topic][s] = struct{}{}
	h.subscribers.Inc()
	return s
}

// Subscription is one subscriber's stream of a topic's events.
type Subscription struct {
	c     chan Event
	hub   *Hub
	topic string
	ended atomic.Bool
	err   atomic.Pointer[error]
}

// Messages yields the events. It is closed when the subscription ends; Err
// then says why.
func (s *Subscription) Messages() <-chan Event { return s.c }

// Err is ErrSlowConsumer when the hub dropped the subscriber, else nil.
func (s *Subscription) Err() error {
	if p := s.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	if _, ok := s.hub.subs[s.topic][s]; ok {
		delete(s.hub.subs[s.topic], s)
		s.hub.subscribers.Dec()
	}
	s.end(nil)
}

// end closes the channel once; the hub's lock is held.
func (s *Subscription) end(err error) {
	if s.ended.Swap(true) {
		return
	}
	if err != nil {
		s.err.Store(&err)
	}
	close(s.c)
}
