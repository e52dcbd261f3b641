package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// subscriber is one graphql-transport-ws connection on orderUpdates.
type subscriber struct {
	conn     *websocket.Conn
	received atomic.Int64
	closed   atomic.Bool
	closeErr atomic.Value // string
}

type wsMsg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

const orderUpdatesSub = `subscription{ orderUpdates{ orderId orderNumber status paymentStatus timestamp } }`

func dialSubscriber(ctx context.Context, base, token string, hc *http.Client) (*subscriber, error) {
	u := "ws" + strings.TrimPrefix(base, "http") + "/graphql"
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, u, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}, HTTPClient: hc})
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(1 << 20)
	write := func(m any) error {
		b, _ := json.Marshal(m)
		return conn.Write(dctx, websocket.MessageText, b)
	}
	if err := write(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}}); err != nil {
		conn.CloseNow()
		return nil, err
	}
	for {
		_, b, err := conn.Read(dctx)
		if err != nil {
			conn.CloseNow()
			return nil, fmt.Errorf("waiting for connection_ack: %w", err)
		}
		var m wsMsg
		_ = json.Unmarshal(b, &m)
		if m.Type == "connection_ack" {
			break
		}
		if m.Type == "ping" {
			_ = write(map[string]any{"type": "pong"})
			continue
		}
		conn.CloseNow()
		return nil, fmt.Errorf("unexpected %s before connection_ack: %s", m.Type, truncate(string(b), 200))
	}
	if err := write(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": orderUpdatesSub}}); err != nil {
		conn.CloseNow()
		return nil, err
	}
	return &subscriber{conn: conn}, nil
}

// read consumes the subscriber's messages until the connection ends,
// recording receipt time − event timestamp for events seen while
// recording is on.
func (s *subscriber) read(ctx context.Context, rec *atomic.Bool, lat *syncSamples) {
	local := newSamples()
	flush := func() {
		lat.mu.Lock()
		lat.s.merge(local)
		lat.mu.Unlock()
		local = newSamples()
	}
	defer flush()
	var buf bytes.Buffer // one per connection, reused: 50,000 messages/s add up
	for {
		buf.Reset()
		_, r, err := s.conn.Reader(ctx)
		if err == nil {
			_, err = buf.ReadFrom(r)
		}
		now := time.Now()
		if err != nil {
			if s.closed.CompareAndSwap(false, true) {
				s.closeErr.Store(err.Error())
			}
			return
		}
		b := buf.Bytes()
		if ts, ok := eventTimestamp(b); ok {
			s.received.Add(1)
			if rec.Load() {
				local.add(now.Sub(ts))
				if len(local.durs) >= 256 {
					flush()
				}
			}
			continue
		}
		var m wsMsg
		if json.Unmarshal(b, &m) != nil {
			local.fail(fmt.Errorf("undecodable message: %s", truncate(string(b), 200)))
			continue
		}
		switch m.Type {
		case "next":
			local.fail(fmt.Errorf("subscription error: %s", truncate(string(m.Payload), 200)))
		case "ping":
			_ = s.conn.Write(ctx, websocket.MessageText, []byte(`{"type":"pong"}`))
		case "error", "complete":
			local.fail(fmt.Errorf("subscription %s: %s", m.Type, truncate(string(m.Payload), 200)))
		}
	}
}

// eventTimestamp returns the timestamp of a "next" message carrying an
// orderUpdates event and no errors; ok is false for any other message.
// It decodes with encoding/json only the small event object, not the
// whole message: the load generator reads 50,000 messages a second on the
// two cores the service runs on, and decoding each whole message twice
// had made it use as much CPU as the service it measures.
func eventTimestamp(msg []byte) (ts time.Time, ok bool) {
	if !bytes.Contains(msg, []byte(`"type":"next"`)) || bytes.Contains(msg, []byte(`"errors"`)) {
		return time.Time{}, false
	}
	const field = `"orderUpdates":`
	i := bytes.Index(msg, []byte(field))
	if i < 0 {
		return time.Time{}, false
	}
	event := msg[i+len(field):]
	end := bytes.IndexByte(event, '}')
	if end < 0 {
		return time.Time{}, false
	}
	var e struct {
		Timestamp time.Time `json:"timestamp"`
	}
	if json.Unmarshal(event[:end+1], &e) != nil || e.Timestamp.IsZero() {
		return time.Time{}, false
	}
	return e.Timestamp, true
}

// subsResult is the subscribers workload's extra report.
type subsResult struct {
	subscribers, connected int
	changes                int64 // status changes published while recording
	expected, delivered    int64
	dropped                int
	achievedRate           float64 // successful changes per second of the window
	launchedRate           float64
	runtime                string // the service's goroutines and memory with every subscriber connected
}

// runSubscribers connects n subscribers, then changes orders at rate per
// second (alternately a checkout — PLACED — and the payment of an earlier
// order — PAID), for duration, and measures receipt − event timestamp.
func runSubscribers(ctx context.Context, c *client, n int, rate float64, warmup, duration time.Duration) (*samples, *subsResult, error) {
	sr := &subsResult{subscribers: n}
	lat := &syncSamples{s: newSamples()}
	var rec atomic.Bool
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Dial in parallel batches; the websocket client has its own transport
	// so that it does not use up the HTTP client's idle connections.
	wsHC := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	subs := make([]*subscriber, n)
	var dialErrs atomic.Int64
	var firstErr atomic.Value
	sem := make(chan struct{}, 50)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// Subscriber i listens on replica i mod N while the orders
			// change through every replica in turn: most events cross
			// from one process to another (through Redis).
			s, err := dialSubscriber(rctx, c.bases[i%len(c.bases)], c.staffToken, wsHC)
			if err != nil {
				dialErrs.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			subs[i] = s
		}()
	}
	wg.Wait()
	var readers sync.WaitGroup
	for _, s := range subs {
		if s != nil {
			sr.connected++
			readers.Add(1)
			go func() { defer readers.Done(); s.read(rctx, &rec, lat) }()
		}
	}
	logf("subscribers: %d of %d connected in %s", sr.connected, n, time.Since(t0).Round(time.Millisecond))
	if dialErrs.Load() > 0 {
		logf("subscribers: %d failed to connect, first: %v", dialErrs.Load(), firstErr.Load())
	}
	defer func() {
		for _, s := range subs {
			if s != nil {
				s.closed.Store(true)
				_ = s.conn.Close(websocket.StatusNormalClosure, "bench done")
			}
		}
		cancel()
		readers.Wait()
	}()
	if sr.connected == 0 {
		return lat.s, sr, errors.New("no subscriber connected")
	}

	// The subscription starts asynchronously after "subscribe": change
	// orders until every subscriber has heard one event.
	var changes atomic.Int64
	var drvErrs syncSamples
	drvErrs.s = newSamples()
	var pending sync.Mutex
	var toPay []*placedOrder
	change := func(i int64, r int) {
		var err error
		var o *placedOrder
		if i%2 == 1 {
			pending.Lock()
			if len(toPay) > 0 {
				o = toPay[0]
				toPay = toPay[1:]
			}
			pending.Unlock()
		}
		if o != nil {
			err = c.pay(rctx, o)
		} else {
			rr := rng(uint64(i))
			email := customerEmail(rr.IntN(numCustomers))
			o, err = c.checkout(rctx, "", randomLines(rr, 1), email)
			if err == nil {
				pending.Lock()
				toPay = append(toPay, o)
				pending.Unlock()
			}
		}
		if err != nil {
			drvErrs.mu.Lock()
			drvErrs.s.fail(err)
			drvErrs.mu.Unlock()
			return
		}
		if r == 1 {
			changes.Add(1)
		}
	}
	warm := time.Now().Add(max(warmup, 15*time.Second))
	var seq atomic.Int64
	for {
		all := true
		for _, s := range subs {
			if s != nil && !s.closed.Load() && s.received.Load() == 0 {
				all = false
				break
			}
		}
		if all || time.Now().After(warm) {
			break
		}
		change(seq.Add(1)-1, 0)
		time.Sleep(100 * time.Millisecond)
	}

	time.Sleep(500 * time.Millisecond) // the last warm-up event
	sr.runtime = serviceRuntime(rctx, c)

	// Measure: changes at a fixed rate from a ticker, each in its own
	// goroutine (an open loop, so a slow change does not slow the rate).
	base := make([]int64, len(subs))
	for i, s := range subs {
		if s != nil {
			base[i] = s.received.Load()
		}
	}
	rec.Store(true)
	// Launch as many changes as are due by now, so that a late wake-up
	// (a busy machine) does not lower the rate.
	var drivers sync.WaitGroup
	var launched int64
	start := time.Now()
	for {
		el := time.Since(start)
		if el >= duration {
			break
		}
		due := int64(el.Seconds()*rate) + 1
		for ; launched < due; launched++ {
			drivers.Add(1)
			i := seq.Add(1) - 1
			go func() { defer drivers.Done(); change(i, 1) }()
		}
		time.Sleep(time.Millisecond)
	}
	sr.launchedRate = float64(launched) / duration.Seconds()
	drivers.Wait()
	sr.achievedRate = float64(changes.Load()) / duration.Seconds()
	time.Sleep(2 * time.Second) // let the last events arrive
	rec.Store(false)
	sr.changes = changes.Load()
	for i, s := range subs {
		if s == nil {
			continue
		}
		if s.closed.Load() {
			sr.dropped++
			continue
		}
		got := s.received.Load() - base[i]
		sr.delivered += got
		sr.expected += sr.changes
	}
	lat.mu.Lock()
	out := lat.s
	lat.mu.Unlock()
	drvErrs.mu.Lock()
	out.merge(drvErrs.s)
	drvErrs.mu.Unlock()
	if sr.dropped > 0 {
		for range sr.dropped {
			out.fail(errors.New("subscriber connection closed by the server"))
		}
	}
	return out, sr, nil
}

// serviceRuntime reads the service's goroutine count and Go memory from
// /metrics, to show what the connected subscribers cost it; with several
// replicas, their sums.
func serviceRuntime(ctx context.Context, c *client) string {
	want := map[string]float64{"go_goroutines": 0, "go_memstats_heap_inuse_bytes": 0, "go_memstats_stack_inuse_bytes": 0}
	for _, base := range c.bases {
		if err := addMetrics(ctx, c.hc, base, want); err != nil {
			return "metrics: " + err.Error()
		}
	}
	const mib = 1 << 20
	of := "service"
	if len(c.bases) > 1 {
		of = fmt.Sprintf("%d replicas together", len(c.bases))
	}
	return fmt.Sprintf("%s with every subscriber connected: %.0f goroutines, heap in use %.1f MiB, stacks %.1f MiB",
		of, want["go_goroutines"], want["go_memstats_heap_inuse_bytes"]/mib, want["go_memstats_stack_inuse_bytes"]/mib)
}

// addMetrics adds the values of the metrics named in sum from base's
// /metrics to it.
func addMetrics(ctx context.Context, hc *http.Client, base string, sum map[string]float64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return err
	}
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if _, known := sum[name]; known && ok {
			v, _ := strconv.ParseFloat(value, 64)
			sum[name] += v
		}
	}
	return sc.Err()
}
