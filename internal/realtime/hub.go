package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// ErrSlowConsumer ends the stream of a subscriber whose buffer filled up.
var ErrSlowConsumer = errors.New("subscriber too slow: events were dropped, subscribe again")

// SubscriberBuffer is how many events a subscriber may fall behind before
// it is dropped.
const SubscriberBuffer = 64

// Hub fans published events out to subscribers.
type Hub struct {
	rdb    *redis.Client // nil: in-process, one instance only
	prefix string
	log    *slog.Logger

	mu   sync.Mutex
	subs map[string]map[*Subscription]struct{}

	subscribers prometheus.Gauge
	published   *prometheus.CounterVec
	delivered   prometheus.Counter
	dropped     prometheus.Counter

	pubsub    *redis.PubSub
	done      chan struct{}
	closeOnce sync.Once
	closed    bool // under mu: Subscribe answers with an ended subscription
}

// New returns a hub on Redis, or in process when rdb is nil. Its metrics
// are registered on reg when it is not nil.
func New(rdb *redis.Client, prefix string, log *slog.Logger, reg prometheus.Registerer) *Hub {
	h := &Hub{
		rdb: rdb, prefix: prefix, log: log,
		subs: map[string]map[*Subscription]struct{}{},
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "realtime_subscribers", Help: "Live subscriptions currently open on this process.",
		}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "realtime_events_published_total", Help: "Events published, by topic and outcome.",
		}, []string{"topic", "outcome"}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "realtime_events_delivered_total", Help: "Events handed to subscribers on this process.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "realtime_subscribers_dropped_total", Help: "Subscribers dropped for falling behind.",
		}),
		done: make(chan struct{}),
	}
	if reg != nil {
		reg.MustRegister(h.subscribers, h.published, h.delivered, h.dropped)
	}
	return h
}

// Start subscribes to the Redis channels and relays what arrives. It waits
// briefly for Redis to confirm the subscription; when Redis is down it logs
// and goes on, because go-redis keeps reconnecting and resubscribes by
// itself (meanwhile /readyz reports Redis unavailable). Without Redis there
// is nothing to start.
func (h *Hub) Start(ctx context.Context) {
	if h.rdb == nil {
		close(h.done)
		return
	}
	h.pubsub = h.rdb.Subscribe(ctx, h.prefix+TopicOrders, h.prefix+TopicLowStock)
	confirm, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := h.pubsub.Receive(confirm); err != nil {
		h.log.Warn("realtime: redis subscription not confirmed yet; retrying in the background", "error", err)
	}
	ch := h.pubsub.Channel(redis.WithChannelHealthCheckInterval(5*time.Second), redis.WithChannelSendTimeout(time.Second))
	go func() {
		defer close(h.done)
		for msg := range ch {
			h.dispatch(strings.TrimPrefix(msg.Channel, h.prefix), []byte(msg.Payload))
		}
	}()
}

// Close stops relaying and ends every subscription. It is safe to call
// more than once.
func (h *Hub) Close() {
	h.closeOnce.Do(h.close)
}

func (h *Hub) close() {
	if h.pubsub != nil {
		_ = h.pubsub.Close()
		<-h.done
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

// Publish sends a committed batch's events. Failures are logged and counted.
func (h *Hub) Publish(ctx context.Context, b *Batch) {
	if b == nil {
		return
	}
	for _, m := range b.drain() {
		payload, err := json.Marshal(m.payload)
		if err != nil {
			h.log.Error("realtime: encode event", "topic", m.topic, "error", err)
			continue
		}
		if h.rdb == nil {
			h.published.WithLabelValues(m.topic, "ok").Inc()
			h.dispatch(m.topic, payload)
			continue
		}
		if err := h.rdb.Publish(context.WithoutCancel(ctx), h.prefix+m.topic, payload).Err(); err != nil {
			h.published.WithLabelValues(m.topic, "error").Inc()
			h.log.Warn("realtime: publish failed; live subscribers miss this event", "topic", m.topic, "error", err)
			continue
		}
		h.published.WithLabelValues(m.topic, "ok").Inc()
	}
}

// dispatch decodes a message once and hands it to every subscriber of the
// topic without ever blocking: a subscriber whose buffer is full is
// dropped.
func (h *Hub) dispatch(topic string, payload []byte) {
	ev, err := decodeEvent(topic, payload)
	if err != nil {
		h.log.Warn("realtime: undecodable event dropped", "topic", topic, "error", err)
		return
	}
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
// share it and must not change it.
type Event struct {
	Order    *OrderStatus
	LowStock *LowStock
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
