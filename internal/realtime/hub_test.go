package realtime_test

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"commerce/internal/platform/dbtest"
	"commerce/internal/platform/redisguard"
	"commerce/internal/platform/testtool"
	"commerce/internal/realtime"
)

// These tests need no database: the in-process hub needs nothing, the
// Redis hub the shared Redis (TEST_REDIS_URL or 127.0.0.1:6379) or a
// private redis-server the test starts itself.

var quiet = slog.New(slog.DiscardHandler)

// event is an order status event whose order number says which it is.
func event(n string) realtime.OrderStatus {
	return realtime.OrderStatus{OrderID: "id-" + n, OrderNumber: n, Status: "PENDING", PaymentStatus: "PENDING",
		FulfillmentStatus: "UNFULFILLED", Timestamp: time.Now().UTC()}
}

// batch returns a batch holding an order event for each number.
func batch(numbers ...string) *realtime.Batch {
	ctx, b := realtime.WithBatch(context.Background())
	for _, n := range numbers {
		realtime.Add(ctx, realtime.TopicOrders, event(n))
	}
	return b
}

// numbers returns "<prefix>0" … "<prefix>(n-1)".
func numbers(prefix string, from, to int) []string {
	out := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, prefix+strconv.Itoa(i))
	}
	return out
}

func decode(t *testing.T, ev realtime.Event) realtime.OrderStatus {
	t.Helper()
	if ev.Order == nil {
		t.Fatalf("event %+v is not an order status", ev)
	}
	return *ev.Order
}

// recv waits for the subscription's next event.
func recv(t *testing.T, s *realtime.Subscription, within time.Duration) realtime.OrderStatus {
	t.Helper()
	select {
	case msg, ok := <-s.Messages():
		if !ok {
			t.Fatalf("subscription ended (err %v) while waiting for an event", s.Err())
		}
		return decode(t, msg)
	case <-time.After(within):
		t.Fatalf("no event within %s", within)
	}
	return realtime.OrderStatus{}
}

// recvNumbers waits for len(want) events and checks their order numbers.
func recvNumbers(t *testing.T, s *realtime.Subscription, within time.Duration, want []string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for i, n := range want {
		got := recv(t, s, time.Until(deadline))
		if got.OrderNumber != n {
			t.Fatalf("event %d: got %s, want %s", i, got.OrderNumber, n)
		}
	}
}

// wantNothing fails if the subscription yields anything within d.
func wantNothing(t *testing.T, s *realtime.Subscription, d time.Duration) {
	t.Helper()
	select {
	case msg, ok := <-s.Messages():
		if ok {
			t.Fatalf("unexpected event %+v", msg)
		}
		t.Fatalf("subscription ended unexpectedly (err %v)", s.Err())
	case <-time.After(d):
	}
}

// wantEnded waits for the subscription's channel to close after at most
// max buffered events, and returns how many there were.
func wantEnded(t *testing.T, s *realtime.Subscription, max int) int {
	t.Helper()
	n := 0
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-s.Messages():
			if !ok {
				return n
			}
			n++
			if n > max {
				t.Fatalf("subscription still yields events after %d", n)
			}
		case <-timeout:
			t.Fatalf("subscription not ended after %d events", n)
		}
	}
}

// metric sums the samples of a metric on reg whose labels include labels.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	samples:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue samples
				}
			}
			sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return sum
}

// waitMetric waits until the metric (see metric) reaches want: the hub
// publishes in the background.
func waitMetric(t *testing.T, reg *prometheus.Registry, want float64, name string, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for metric(t, reg, name, labels...) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v after 10s, want %v", name, labels, metric(t, reg, name, labels...), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := metric(t, reg, name, labels...); got != want {
		t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
	}
}

func inProcess(t *testing.T) (*realtime.Hub, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	h := realtime.New(nil, "", quiet, reg)
	h.Start(context.Background())
	t.Cleanup(h.Close)
	return h, reg
}

func TestFanOutToEverySubscriber(t *testing.T) {
	h, reg := inProcess(t)
	subs := []*realtime.Subscription{
		h.Subscribe(realtime.TopicOrders), h.Subscribe(realtime.TopicOrders), h.Subscribe(realtime.TopicOrders),
	}
	lowStock := h.Subscribe(realtime.TopicLowStock)
	if got := metric(t, reg, "realtime_subscribers"); got != 4 {
		t.Errorf("realtime_subscribers: %v, want 4", got)
	}

	want := numbers("ORD-", 0, 3)
	h.Publish(context.Background(), batch(want...))
	for i, s := range subs {
		t.Logf("subscriber %d", i)
		recvNumbers(t, s, time.Second, want)
	}
	wantNothing(t, lowStock, 50*time.Millisecond)

	ctx, b := realtime.WithBatch(context.Background())
	realtime.Add(ctx, realtime.TopicLowStock, realtime.LowStock{ProductID: "p1", AvailableQuantity: 3, Threshold: 5})
	h.Publish(ctx, b)
	select {
	case msg := <-lowStock.Messages():
		if a := msg.LowStock; a == nil || a.ProductID != "p1" || a.AvailableQuantity != 3 || a.Threshold != 5 {
			t.Fatalf("low-stock alert %+v", msg)
		}
	case <-time.After(time.Second):
		t.Fatal("no low-stock alert")
	}
	for _, s := range subs {
		wantNothing(t, s, 10*time.Millisecond)
	}

	if got := metric(t, reg, "realtime_events_delivered_total"); got != 3*3+1 {
		t.Errorf("realtime_events_delivered_total: %v, want 10", got)
	}
	if got := metric(t, reg, "realtime_events_published_total", "topic", realtime.TopicOrders, "outcome", "ok"); got != 3 {
		t.Errorf("published order events: %v, want 3", got)
	}

	// A closed subscription gets nothing more; the others still do.
	subs[0].Close()
	subs[0].Close() // twice is fine
	if _, ok := <-subs[0].Messages(); ok {
		t.Fatal("a closed subscription still yields events")
	}
	if subs[0].Err() != nil {
		t.Errorf("Err after Close: %v, want nil", subs[0].Err())
	}
	h.Publish(context.Background(), batch("after-close"))
	recvNumbers(t, subs[1], time.Second, []string{"after-close"})
	recvNumbers(t, subs[2], time.Second, []string{"after-close"})
	if got := metric(t, reg, "realtime_subscribers"); got != 3 {
		t.Errorf("realtime_subscribers after one Close: %v, want 3", got)
	}
}

func TestPublishDeliversOnlyTheBatch(t *testing.T) {
	h, _ := inProcess(t)
	s := h.Subscribe(realtime.TopicOrders)

	ctx, b := realtime.WithBatch(context.Background())
	realtime.Add(ctx, realtime.TopicOrders, event("in-1"))
	realtime.Add(context.Background(), realtime.TopicOrders, event("no-batch")) // no batch: dropped silently
	realtime.Add(ctx, realtime.TopicOrders, event("in-2"))
	if b.Len() != 2 {
		t.Fatalf("batch holds %d events, want 2", b.Len())
	}
	// Nothing is delivered before Publish: adding is not publishing.
	wantNothing(t, s, 20*time.Millisecond)

	h.Publish(ctx, b)
	recvNumbers(t, s, time.Second, []string{"in-1", "in-2"})
	wantNothing(t, s, 50*time.Millisecond)

	// A published batch is drained: publishing it again sends nothing.
	if b.Len() != 0 {
		t.Errorf("batch holds %d events after Publish, want 0", b.Len())
	}
	h.Publish(ctx, b)
	h.Publish(ctx, nil)
	wantNothing(t, s, 50*time.Millisecond)

	// A batch that was never published (a rolled-back transaction) reaches no one.
	ctx2, _ := realtime.WithBatch(context.Background())
	realtime.Add(ctx2, realtime.TopicOrders, event("rolled-back"))
	wantNothing(t, s, 50*time.Millisecond)
}

func TestSavepointRollbackForgetsEvents(t *testing.T) {
	h, _ := inProcess(t)
	s := h.Subscribe(realtime.TopicOrders)

	ctx, b := realtime.WithBatch(context.Background())
	realtime.Add(ctx, realtime.TopicOrders, event("before"))
	rollback := realtime.Savepoint(ctx)
	realtime.Add(ctx, realtime.TopicOrders, event("undone-1"))
	realtime.Add(ctx, realtime.TopicOrders, event("undone-2"))
	rollback()
	if b.Len() != 1 {
		t.Fatalf("batch holds %d events after the rollback, want 1", b.Len())
	}
	realtime.Add(ctx, realtime.TopicOrders, event("after"))

	// A savepoint that is kept changes nothing.
	keep := realtime.Savepoint(ctx)
	realtime.Add(ctx, realtime.TopicOrders, event("kept"))
	_ = keep

	h.Publish(ctx, b)
	recvNumbers(t, s, time.Second, []string{"before", "after", "kept"})
	wantNothing(t, s, 50*time.Millisecond)

	// Without a batch a savepoint is a no-op.
	realtime.Savepoint(context.Background())()
}

// A subscriber that never reads is dropped once its buffer of 64 events is
// full; its stream ends with ErrSlowConsumer. Publish never blocks, and a
// subscriber that keeps up receives every event, in order.
func TestSlowSubscriberIsDropped(t *testing.T) {
	h, reg := inProcess(t)
	slow := h.Subscribe(realtime.TopicOrders)
	fast := h.Subscribe(realtime.TopicOrders)

	got := make(chan string, 1000)
	var wg sync.WaitGroup
	wg.Go(func() {
		for msg := range fast.Messages() {
			got <- msg.Order.OrderNumber
		}
	})

	// 200 events in bursts of 50 (less than the buffer, so the fast reader
	// is never the one at fault however the goroutines are scheduled).
	var want []string
	var slowest time.Duration
	for burst := range 4 {
		ns := numbers("E", burst*50, burst*50+50)
		want = append(want, ns...)
		start := time.Now()
		h.Publish(context.Background(), batch(ns...))
		slowest = max(slowest, time.Since(start))
		for i := range ns {
			select {
			case n := <-got:
				if n != ns[i] {
					t.Fatalf("fast subscriber: got %s, want %s", n, ns[i])
				}
			case <-time.After(2 * time.Second):
				t.Fatalf("fast subscriber: %s not received within 2s (err %v)", ns[i], fast.Err())
			}
		}
	}
	t.Logf("slowest Publish of 50 events: %s", slowest)
	if slowest > time.Second {
		t.Errorf("Publish of 50 events took %s: it must never wait for a subscriber", slowest)
	}

	// The slow subscriber kept the 64 events that fit its buffer, then ended.
	if n := wantEnded(t, slow, 64); n != 64 {
		t.Errorf("slow subscriber: %d buffered events before the end, want 64", n)
	}
	if !errors.Is(slow.Err(), realtime.ErrSlowConsumer) {
		t.Errorf("slow subscriber Err: %v, want ErrSlowConsumer", slow.Err())
	}
	if fast.Err() != nil {
		t.Errorf("fast subscriber Err: %v", fast.Err())
	}
	if got := metric(t, reg, "realtime_subscribers_dropped_total"); got != 1 {
		t.Errorf("realtime_subscribers_dropped_total: %v, want 1", got)
	}
	if got := metric(t, reg, "realtime_subscribers"); got != 1 {
		t.Errorf("realtime_subscribers: %v, want 1", got)
	}
	slow.Close() // closing a dropped subscription is harmless and counts nothing twice
	if got := metric(t, reg, "realtime_subscribers"); got != 1 {
		t.Errorf("realtime_subscribers after closing the dropped one: %v, want 1", got)
	}
	fast.Close()
	wg.Wait()
	if len(want) != 200 {
		t.Fatalf("published %d events, want 200", len(want))
	}
}

func TestCloseEndsEverySubscription(t *testing.T) {
	h, reg := inProcess(t)
	subs := []*realtime.Subscription{
		h.Subscribe(realtime.TopicOrders), h.Subscribe(realtime.TopicOrders), h.Subscribe(realtime.TopicLowStock),
	}
	h.Close()
	for i, s := range subs {
		if n := wantEnded(t, s, 0); n != 0 {
			t.Errorf("subscription %d: %d events", i, n)
		}
		if s.Err() != nil {
			t.Errorf("subscription %d: Err %v, want nil after Close", i, s.Err())
		}
		s.Close() // after the hub closed: harmless
	}
	h.Close() // twice is fine
	if got := metric(t, reg, "realtime_subscribers"); got != 0 {
		t.Errorf("realtime_subscribers after Close: %v, want 0", got)
	}
}

// --- Redis ---

func redisOptions(t *testing.T) *redis.Options {
	t.Helper()
	opts, err := redis.ParseURL(dbtest.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

func newRedis(t *testing.T, opts *redis.Options) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func uniquePrefix() string {
	return "test:realtime:" + strings.ToLower(rand.Text()[:10]) + ":"
}

// guarded is rdb behind a guard with the given timeout, closed when the
// test ends.
func guarded(t *testing.T, rdb *redis.Client, timeout time.Duration) *redisguard.Guard {
	t.Helper()
	g := redisguard.New(rdb, timeout, quiet, nil)
	t.Cleanup(g.Close)
	return g
}

// startHub starts a hub on rdb and waits until Redis has its subscription
// (Start only waits briefly for it); the hub is closed when the test ends.
func startHub(t *testing.T, rdb *redis.Client, prefix string) (*realtime.Hub, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	h := realtime.New(guarded(t, rdb, 5*time.Second), prefix, quiet, reg)
	before := numSub(t, rdb, prefix+realtime.TopicOrders)
	h.Start(context.Background())
	t.Cleanup(h.Close)
	waitNumSub(t, rdb, prefix+realtime.TopicOrders, before+1, 10*time.Second)
	return h, reg
}

// numSub is how many connections Redis has subscribed to channel.
func numSub(t *testing.T, rdb *redis.Client, channel string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := rdb.PubSubNumSub(ctx, channel).Result()
	if err != nil {
		t.Fatalf("PUBSUB NUMSUB on %s (is Redis running?): %v", rdb.Options().Addr, err)
	}
	return m[channel]
}

func waitNumSub(t *testing.T, rdb *redis.Client, channel string, n int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for numSub(t, rdb, channel) < n {
		if time.Now().After(deadline) {
			t.Fatalf("Redis has %d subscribers on %s after %s, want %d", numSub(t, rdb, channel), channel, within, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A message on the channel that is not an event (another program's, or a
// broken one) reaches no subscriber, and the next event still does.
func TestRedisHubSkipsUndecodableMessages(t *testing.T) {
	opts := redisOptions(t)
	prefix := uniquePrefix()
	rdb := newRedis(t, opts)
	h, _ := startHub(t, rdb, prefix)
	sub := h.Subscribe(realtime.TopicOrders)

	if err := rdb.Publish(context.Background(), prefix+realtime.TopicOrders, "{not json").Err(); err != nil {
		t.Fatal(err)
	}
	h.Publish(context.Background(), batch("after-garbage"))
	if got := recv(t, sub, 5*time.Second); got.OrderNumber != "after-garbage" {
		t.Errorf("first event after a broken message: %+v, want after-garbage", got)
	}
}

// Two hubs on one Redis with one prefix are two replicas: what one
// publishes, subscribers of both receive. A hub with another prefix hears
// nothing of it.
func TestRedisHubAcrossInstances(t *testing.T) {
	opts := redisOptions(t)
	prefix := uniquePrefix()
	a, regA := startHub(t, newRedis(t, opts), prefix)
	b, _ := startHub(t, newRedis(t, opts), prefix)
	other, _ := startHub(t, newRedis(t, opts), uniquePrefix())

	onB := b.Subscribe(realtime.TopicOrders)
	onA := a.Subscribe(realtime.TopicOrders)
	lowOnB := b.Subscribe(realtime.TopicLowStock)
	onOther := other.Subscribe(realtime.TopicOrders)

	want := numbers("X-", 0, 5)
	a.Publish(context.Background(), batch(want...))
	recvNumbers(t, onB, 5*time.Second, want)
	recvNumbers(t, onA, 5*time.Second, want)
	wantNothing(t, lowOnB, 50*time.Millisecond)
	wantNothing(t, onOther, 50*time.Millisecond)

	ctx, bt := realtime.WithBatch(context.Background())
	realtime.Add(ctx, realtime.TopicLowStock, realtime.LowStock{ProductID: "p9", AvailableQuantity: 1, Threshold: 2})
	b.Publish(ctx, bt)
	select {
	case msg := <-lowOnB.Messages():
		if msg.LowStock == nil || msg.LowStock.ProductID != "p9" {
			t.Fatalf("low-stock alert: %+v", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no low-stock alert through Redis")
	}
	wantNothing(t, onB, 50*time.Millisecond)

	waitMetric(t, regA, 5, "realtime_events_published_total", "outcome", "ok")

	// Close ends the subscriptions of a Redis hub too.
	b.Close()
	if n := wantEnded(t, onB, 0); n != 0 {
		t.Errorf("B's subscriber: %d events after Close", n)
	}
}

// --- a private redis-server, restarted mid-test ---

// The hub survives its Redis going away: publishing while Redis is down
// fails quietly (counted, never returned, blocking or panicking), and once
// Redis is back the hub has reconnected and resubscribed by itself: its
// subscribers first hear of the gap, then receive events published after
// the restart.
func TestRedisRestart(t *testing.T) {
	srv := testtool.StartRedis(t)
	opts := &redis.Options{Addr: srv.Addr(), DialTimeout: time.Second, ReadTimeout: 2 * time.Second,
		WriteTimeout: time.Second, MaxRetries: 1}
	rdb := newRedis(t, opts)
	h, reg := startHub(t, rdb, uniquePrefix())
	sub := h.Subscribe(realtime.TopicOrders)

	h.Publish(context.Background(), batch("before"))
	recvNumbers(t, sub, 5*time.Second, []string{"before"})

	srv.Stop()
	start := time.Now()
	h.Publish(context.Background(), batch("while-down"))
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Publish while Redis is down took %s", d)
	}
	waitMetric(t, reg, 1, "realtime_events_published_total", "outcome", "error")

	srv.Start()
	restarted := time.Now()
	deadline := restarted.Add(20 * time.Second)
	gap := false
	for i := 0; ; i++ {
		h.Publish(context.Background(), batch("after-"+strconv.Itoa(i)))
		select {
		case msg, ok := <-sub.Messages():
			if !ok {
				t.Fatalf("subscription ended (err %v) across the restart", sub.Err())
			}
			if msg.Gap {
				gap = true
				continue
			}
			if !gap {
				t.Fatalf("event %+v before the gap was announced", msg)
			}
			e := decode(t, msg)
			if !strings.HasPrefix(e.OrderNumber, "after-") {
				t.Fatalf("received %q, want only events published after the restart", e.OrderNumber)
			}
			t.Logf("event %s received %s after the restart (%d publishes)", e.OrderNumber,
				time.Since(restarted).Round(time.Millisecond), i+1)
			// The stream goes on: the next event arrives at once.
			h.Publish(context.Background(), batch("next"))
			for {
				msg := <-sub.Messages()
				if msg.Order != nil && msg.Order.OrderNumber == "next" {
					break
				}
			}
			if sub.Err() != nil {
				t.Errorf("subscription Err: %v", sub.Err())
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event received within 20s of the restart (%d publishes)", i+1)
		}
	}
}

// A frozen Redis (alive, answering nothing) never holds a publisher: Publish
// returns at once whatever happens, the background publisher waits at most
// the guard's timeout once and then skips Redis, and what does not fit the
// hand-off queue is dropped and counted. Once Redis answers again, a
// subscriber on another replica hears of the gap before the next event,
// and then receives every new event.
func TestFrozenRedis(t *testing.T) {
	srv := testtool.StartRedis(t)
	opts := &redis.Options{Addr: srv.Addr()}
	prefix := uniquePrefix()
	guardA := guarded(t, newRedis(t, opts), 50*time.Millisecond)
	regA := prometheus.NewRegistry()
	a := realtime.New(guardA, prefix, quiet, regA)
	a.Start(context.Background())
	t.Cleanup(a.Close)
	b, _ := startHub(t, newRedis(t, opts), prefix)
	onB := b.Subscribe(realtime.TopicOrders)
	a.Publish(context.Background(), batch("before"))
	recvNumbers(t, onB, 5*time.Second, []string{"before"})

	srv.Freeze()
	many := numbers("frozen-", 0, 3*realtime.PublishQueue)
	start := time.Now()
	a.Publish(context.Background(), batch(many...))
	if d := time.Since(start); d > time.Second {
		t.Errorf("Publish of %d events with Redis frozen took %s, want it to return at once", len(many), d)
	}
	total := func() float64 { return metric(t, regA, "realtime_events_published_total") }
	deadline := time.Now().Add(10 * time.Second)
	for total() < float64(1+len(many)) {
		if time.Now().After(deadline) {
			t.Fatalf("%v of %d events accounted for after 10s", total(), 1+len(many))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if d := metric(t, regA, "realtime_events_published_total", "outcome", "dropped"); d == 0 {
		t.Errorf("no event dropped out of %d handed over at once to a frozen Redis", len(many))
	}
	if guardA.Up() {
		t.Error("the guard still sends calls to a frozen Redis")
	}

	srv.Thaw()
	deadline = time.Now().Add(20 * time.Second)
	gap := false
	for i := 0; ; i++ {
		a.Publish(context.Background(), batch("after-"+strconv.Itoa(i)))
		got := ""
		select {
		case msg, ok := <-onB.Messages():
			if !ok {
				t.Fatalf("B's subscription ended (err %v)", onB.Err())
			}
			switch {
			case msg.Gap:
				gap = true
			case strings.HasPrefix(msg.Order.OrderNumber, "after-"):
				got = msg.Order.OrderNumber
			}
		case <-time.After(200 * time.Millisecond):
		}
		if got != "" {
			if !gap {
				t.Fatalf("%s reached B before the gap was announced", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event on B within 20s of Redis thawing (gap announced: %v)", gap)
		}
	}
	want := numbers("next-", 0, 20)
	a.Publish(context.Background(), batch(want...))
	for i := 0; i < len(want); {
		select {
		case msg := <-onB.Messages():
			if msg.Order == nil || strings.HasPrefix(msg.Order.OrderNumber, "after-") {
				continue // late copies of the probing events, or a late gap
			}
			if msg.Order.OrderNumber != want[i] {
				t.Fatalf("event %d on B: %s, want %s", i, msg.Order.OrderNumber, want[i])
			}
			i++
		case <-time.After(5 * time.Second):
			t.Fatalf("B received %d of %d events after Redis came back", i, len(want))
		}
	}
}

// A subscription that hangs (Redis frozen longer than the hub's health
// check, no publisher involved) is noticed by the hub itself: once Redis
// answers again the hub has subscribed anew and its subscribers hear of the
// gap, then of new events.
func TestHungSubscriptionAnnouncesGap(t *testing.T) {
	srv := testtool.StartRedis(t)
	opts := &redis.Options{Addr: srv.Addr()}
	prefix := uniquePrefix()
	h, reg := startHub(t, newRedis(t, opts), prefix)
	sub := h.Subscribe(realtime.TopicLowStock)

	srv.Freeze()
	time.Sleep(3 * time.Second) // longer than two health-check intervals
	srv.Thaw()
	select {
	case msg, ok := <-sub.Messages():
		if !ok || !msg.Gap {
			t.Fatalf("first message after the hang: %+v (open %v), want a gap", msg, ok)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no gap announced within 15s of Redis thawing")
	}
	if n := metric(t, reg, "realtime_feed_gaps_total", "cause", "subscription"); n < 1 {
		t.Errorf("realtime_feed_gaps_total{cause=subscription} = %v, want at least 1", n)
	}
	ctx, b := realtime.WithBatch(context.Background())
	realtime.Add(ctx, realtime.TopicLowStock, realtime.LowStock{ProductID: "after-the-hang"})
	h.Publish(ctx, b)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case msg := <-sub.Messages():
			if msg.LowStock != nil && msg.LowStock.ProductID == "after-the-hang" {
				return
			}
		case <-deadline:
			t.Fatal("no event after the hang")
		}
	}
}

// Start no longer needs Redis to be up: a hub started while Redis is down
// subscribes by itself once Redis comes up.
func TestRedisDownAtStart(t *testing.T) {
	srv := testtool.NewRedis(t) // not started yet
	rdb := newRedis(t, &redis.Options{Addr: srv.Addr(), DialTimeout: time.Second, MaxRetries: 1})
	h := realtime.New(guarded(t, rdb, time.Second), uniquePrefix(), quiet, prometheus.NewRegistry())
	start := time.Now()
	h.Start(context.Background())
	t.Cleanup(h.Close)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Start with Redis down took %s", d)
	}
	sub := h.Subscribe(realtime.TopicOrders)
	h.Publish(context.Background(), batch("while-down")) // fails quietly

	srv.Start()
	up := time.Now()
	deadline := up.Add(20 * time.Second)
	for i := 0; ; i++ {
		h.Publish(context.Background(), batch("up-"+strconv.Itoa(i)))
		select {
		case msg, ok := <-sub.Messages():
			if !ok {
				t.Fatalf("subscription ended (err %v)", sub.Err())
			}
			if msg.Gap { // the event published while Redis was down was lost
				continue
			}
			if e := decode(t, msg); !strings.HasPrefix(e.OrderNumber, "up-") {
				t.Fatalf("received %q", e.OrderNumber)
			}
			t.Logf("first event received %s after Redis came up (%d publishes)", time.Since(up).Round(time.Millisecond), i+1)
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event within 20s of Redis coming up (%d publishes)", i+1)
		}
	}
}

// A subscription taken on a hub that is already closed must end at once,
// like those the Close ended; otherwise it is a silent stream. server.go
// closes the hub before http.Server.Shutdown, which does not close
// websockets, so clients may (re)subscribe on a closed hub during the rest
// of the shutdown (up to the 20 s River stop).
func TestSubscribeAfterCloseEnds(t *testing.T) {
	h, reg := inProcess(t)
	h.Close()
	s := h.Subscribe(realtime.TopicOrders)
	select {
	case _, ok := <-s.Messages():
		if ok {
			t.Fatal("an event on a closed hub")
		}
	case <-time.After(time.Second):
		t.Fatal("a subscription taken after Close is still open after 1s")
	}
	if got := metric(t, reg, "realtime_subscribers"); got != 0 {
		t.Errorf("realtime_subscribers: %v, want 0", got)
	}
}
