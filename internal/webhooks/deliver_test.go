package webhooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"commerce/internal/webhooks"
)

// deliverAll runs Deliver on id as River would (each call one job run)
// until it is final or runs is reached, and returns the runs made.
func deliverAll(t *testing.T, svc *webhooks.Service, id string, runs int) int {
	t.Helper()
	for i := 1; i <= runs; i++ {
		wait, err := svc.Deliver(context.Background(), id)
		if wait > 0 {
			t.Fatalf("run %d: waits %s for an earlier delivery", i, wait)
		}
		if err == nil || errors.Is(err, webhooks.ErrFinal) {
			return i
		}
	}
	return runs
}

// A receiver that answers 500 three times and then 200 gets four attempts
// of the same body and event id, each signed with the endpoint's secret and
// its own timestamp; the delivery ends SUCCEEDED with the attempts counted.
func TestDeliverRetriesUntilSuccess(t *testing.T) {
	var outcomes []string
	svc, b := setup(t, webhooks.Config{AllowPrivate: true, Observe: func(o string) { outcomes = append(outcomes, o) }})
	rcv := newReceiver(t, 500, 500, 500)
	ep, secret := endpoint(t, svc, rcv.srv.URL+"/hook", webhooks.OrderCreated)
	b.announce(t, svc, webhooks.OrderCreated, newOrderID(), map[string]any{"orderNumber": "ORD-1"})
	ds := deliveries(t, svc, ep.ID)
	if len(ds) != 1 {
		t.Fatalf("deliveries = %d, want 1", len(ds))
	}
	for range 4 {
		b.clock.add(time.Second)
		_, _ = svc.Deliver(context.Background(), ds[0].ID)
	}
	got := rcv.requests()
	if len(got) != 4 {
		t.Fatalf("requests = %d, want 4", len(got))
	}
	if want := "retrying retrying retrying succeeded"; strings.Join(outcomes, " ") != want {
		t.Errorf("observed outcomes %q, want %q", outcomes, want)
	}
	var body struct {
		ID    string          `json:"id"`
		Topic string          `json:"topic"`
		Data  json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(got[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	stamps := map[string]bool{}
	for i, r := range got {
		if string(r.Body) != string(got[0].Body) {
			t.Errorf("attempt %d sent another body", i+1)
		}
		if r.Header.Get(webhooks.HeaderEventID) != body.ID || r.Header.Get(webhooks.HeaderTopic) != "ORDER_CREATED" || body.ID != ds[0].EventID {
			t.Errorf("attempt %d: event %q topic %q, want %s ORDER_CREATED", i+1,
				r.Header.Get(webhooks.HeaderEventID), r.Header.Get(webhooks.HeaderTopic), ds[0].EventID)
		}
		sig := r.Header.Get(webhooks.HeaderSignature)
		if at, n := verify(sig, r.Body, secret); at != 0 || n != 1 {
			t.Errorf("attempt %d: signature %q does not verify with the secret", i+1, sig)
		}
		stamps[sig[:len("t=")+10]] = true
	}
	if len(stamps) != 4 {
		t.Errorf("attempts signed with %d distinct timestamps, want 4 (each its own t)", len(stamps))
	}
	d := deliveries(t, svc, ep.ID)[0]
	if d.Status != webhooks.Succeeded || d.Attempts != 4 || d.ResponseStatus == nil || *d.ResponseStatus != 200 || d.DeliveredAt == nil {
		t.Errorf("delivery = %s after %d attempts (response %v), want SUCCEEDED after 4", d.Status, d.Attempts, d.ResponseStatus)
	}
	// A final delivery is left alone by a late run of its job.
	if _, err := svc.Deliver(context.Background(), d.ID); err != nil || len(rcv.requests()) != 4 {
		t.Errorf("a run after success: err %v, requests %d", err, len(rcv.requests()))
	}
}

// A delivery out of attempts ends FAILED; WEBHOOK_DISABLE_AFTER of them in a
// row deactivate the endpoint (PINGs do not count); an update with isActive
// true re-activates it; webhookDeliveryRetry sends a FAILED one again with
// the same event id.
func TestDeliverFailsDeactivatesAndRetries(t *testing.T) {
	svc, b := setup(t, webhooks.Config{AllowPrivate: true, MaxAttempts: 2, DisableAfter: 2})
	rcv := newReceiver(t, 500, 500, 500, 500, 500, 500, 500)
	ep, _ := endpoint(t, svc, rcv.srv.URL, webhooks.ProductUpdated)

	ping, err := svc.Ping(context.Background(), ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if runs := deliverAll(t, svc, ping.ID, 5); runs != 2 {
		t.Errorf("ping ended after %d runs, want 2", runs)
	}
	for range 2 {
		b.announce(t, svc, webhooks.ProductUpdated, "", map[string]any{"id": "p"})
		d := deliveries(t, svc, ep.ID)[0]
		if runs := deliverAll(t, svc, d.ID, 5); runs != 2 {
			t.Errorf("delivery ended after %d runs, want 2", runs)
		}
	}
	ds := deliveries(t, svc, ep.ID)
	for _, d := range ds {
		if d.Status != webhooks.Failed || d.Attempts != 2 || d.LastError == nil || d.ResponseStatus == nil || *d.ResponseStatus != 500 {
			t.Errorf("%s delivery: %s after %d attempts (%v, %v), want FAILED after 2 with the 500", d.Topic, d.Status, d.Attempts, d.LastError, d.ResponseStatus)
		}
	}
	if p, _ := svc.Endpoints(context.Background(), nil, ""); !isActive(p, ep.ID, false) {
		t.Fatalf("the endpoint is still active after 2 FAILED deliveries (WEBHOOK_DISABLE_AFTER 2)")
	}
	// Inactive: nothing is announced to it, and a ping is refused.
	b.announce(t, svc, webhooks.ProductUpdated, "", map[string]any{})
	if n := len(deliveries(t, svc, ep.ID)); n != len(ds) {
		t.Errorf("an inactive endpoint got a delivery")
	}
	if _, err := svc.Ping(context.Background(), ep.ID); err == nil {
		t.Errorf("ping of an inactive endpoint succeeded")
	}

	if _, err := svc.Update(context.Background(), ep.ID, webhooks.EndpointInput{
		URL: ep.URL, Topics: ep.Topics, IsActive: true,
	}); err != nil {
		t.Fatal(err)
	}
	failed := ds[0]
	again, err := svc.Retry(context.Background(), failed.ID)
	if err != nil || again.Status != webhooks.Pending || again.EventID != failed.EventID {
		t.Fatalf("retry = %+v, %v; want PENDING with event %s", again, err, failed.EventID)
	}
	before := len(rcv.requests())
	if runs := deliverAll(t, svc, failed.ID, 5); runs != 1 {
		t.Errorf("the retry took %d runs, want 1", runs)
	}
	got := rcv.requests()
	if len(got) != before+1 || got[len(got)-1].Header.Get(webhooks.HeaderEventID) != failed.EventID {
		t.Fatalf("the retry did not resend event %s", failed.EventID)
	}
	if d := deliveries(t, svc, ep.ID)[0]; d.Status != webhooks.Failed || d.Attempts != 3 {
		t.Errorf("after a failed retry: %s with %d attempts, want FAILED with 3", d.Status, d.Attempts)
	}
	if _, err := svc.Retry(context.Background(), ping.ID); err != nil {
		t.Errorf("retry of a FAILED ping: %v", err)
	}
	if _, err := svc.Retry(context.Background(), ping.ID); err == nil {
		t.Errorf("retry of a PENDING delivery succeeded")
	}
}

func isActive(p *webhooks.EndpointPage, id string, want bool) bool {
	for _, e := range p.Edges {
		if e.Node.ID == id {
			return e.Node.IsActive == want
		}
	}
	return false
}

// Deliveries of one endpoint and order go out in order: a later one waits
// while an earlier one is pending, and goes once the earlier is final.
// Another order's deliveries do not wait.
func TestDeliverKeepsOrderPerOrder(t *testing.T) {
	svc, b := setup(t, webhooks.Config{AllowPrivate: true, MaxAttempts: 3})
	rcv := newReceiver(t, 500)
	ep, _ := endpoint(t, svc, rcv.srv.URL, webhooks.OrderCreated, webhooks.OrderPaid)
	order, other := newOrderID(), newOrderID()
	b.announce(t, svc, webhooks.OrderCreated, order, map[string]any{"n": 1})
	b.announce(t, svc, webhooks.OrderPaid, order, map[string]any{"n": 2})
	b.announce(t, svc, webhooks.OrderCreated, other, map[string]any{"n": 3})
	ds := deliveries(t, svc, ep.ID) // newest first: other, paid, created
	created, paid, unrelated := ds[2], ds[1], ds[0]

	if wait, err := svc.Deliver(context.Background(), paid.ID); wait <= 0 || err != nil {
		t.Fatalf("ORDER_PAID before ORDER_CREATED was sent: wait %s, err %v", wait, err)
	}
	if runs := deliverAll(t, svc, unrelated.ID, 1); runs != 1 || len(rcv.requests()) != 1 {
		t.Fatalf("another order's delivery waited")
	}
	if _, err := svc.Deliver(context.Background(), created.ID); err != nil {
		t.Fatalf("ORDER_CREATED: %v", err)
	}
	deliverAll(t, svc, paid.ID, 1)
	var topics []string
	for _, r := range rcv.requests() {
		topics = append(topics, r.Header.Get(webhooks.HeaderTopic))
	}
	if want := "[ORDER_CREATED ORDER_CREATED ORDER_PAID]"; fmt.Sprint(topics) != want {
		t.Errorf("sent %v, want %s", topics, want)
	}
}

// During a rotation's overlap a delivery carries two signatures, the new
// secret's first, and both verify; after it only the new one.
func TestRotationOverlap(t *testing.T) {
	svc, b := setup(t, webhooks.Config{AllowPrivate: true})
	rcv := newReceiver(t)
	ep, old := endpoint(t, svc, rcv.srv.URL, webhooks.CustomerCreated)
	_, fresh, err := svc.RotateSecret(context.Background(), ep.ID)
	if err != nil || fresh == "" || fresh == old {
		t.Fatalf("rotate: %q, %v", fresh, err)
	}
	send := func() received {
		t.Helper()
		b.announce(t, svc, webhooks.CustomerCreated, "", map[string]any{"id": strconv.Itoa(len(rcv.requests()))})
		deliverAll(t, svc, deliveries(t, svc, ep.ID)[0].ID, 1)
		got := rcv.requests()
		return got[len(got)-1]
	}
	b.clock.add(23 * time.Hour)
	r := send()
	sig := r.Header.Get(webhooks.HeaderSignature)
	atNew, n := verify(sig, r.Body, fresh)
	atOld, _ := verify(sig, r.Body, old)
	if n != 2 || atNew != 0 || atOld != 1 {
		t.Errorf("during the overlap: %q has %d values, new at %d, old at %d; want 2, new first", sig, n, atNew, atOld)
	}
	b.clock.add(2 * time.Hour)
	r = send()
	sig = r.Header.Get(webhooks.HeaderSignature)
	atNew, n = verify(sig, r.Body, fresh)
	if atOld, _ := verify(sig, r.Body, old); n != 1 || atNew != 0 || atOld != -1 {
		t.Errorf("after the overlap: %q has %d values (new at %d, old at %d); want only the new", sig, n, atNew, atOld)
	}
}

// No subscriber, no delivery: Announce does not even render.
func TestAnnounceWithoutSubscribers(t *testing.T) {
	svc, b := setup(t, webhooks.Config{AllowPrivate: true})
	rcv := newReceiver(t)
	ep, _ := endpoint(t, svc, rcv.srv.URL, webhooks.OrderRefunded)
	err := b.db.RunInTx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
		return svc.Announce(ctx, tx, webhooks.InventoryLowStock, "", func(context.Context) (any, error) {
			t.Errorf("rendered an event nobody subscribes to")
			return nil, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(deliveries(t, svc, ep.ID)); n != 0 {
		t.Errorf("deliveries = %d, want 0", n)
	}
}
