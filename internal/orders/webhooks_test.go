package orders_test

import (
	"context"
	"encoding/json"
	"testing"

	"commerce/internal/apperr"
	"commerce/internal/orders"
	"commerce/internal/payments"
	"commerce/internal/webhooks"
)

// The webhook deliveries of the order workflow are written in its
// transactions: a checkout and a payment each leave one delivery to a
// subscriber, with the order as it stood after the change; a checkout
// that rolls back leaves none; an unsubscribed topic leaves none.
func TestOrderWebhooks(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	ep, _, err := e.webhooks.Create(ctx, webhooks.EndpointInput{
		URL: "http://127.0.0.1:1/hook", Topics: []webhooks.Topic{webhooks.OrderCreated, webhooks.OrderPaid}, IsActive: true,
	})
	if err != nil {
		t.Fatalf("create endpoint: %v", err)
	}
	// No other test of the package may see a subscriber (statement budgets).
	t.Cleanup(func() { _ = e.webhooks.Delete(context.Background(), ep.ID) })

	p := e.product(t, "12.30", 2)
	_, err = e.svc.Checkout(ctx, input(line(p, 3)))
	if ues, ok := apperr.UserErrors(err); !ok || len(ues) != 1 || ues[0].Kind != apperr.InsufficientStock {
		t.Fatalf("checkout of 3 of 2: %v, want insufficient stock", err)
	}
	if got := e.deliveries(t, ep.ID); len(got) != 0 {
		t.Fatalf("a rolled-back checkout left %d deliveries", len(got))
	}

	o := e.order(t, p, 1)
	e.pay(t, o)
	e.handle(t, event(payments.IntentFailedEvent, o)) // ignored for a paid order, and no subscribed topic
	got := e.deliveries(t, ep.ID)
	if len(got) != 2 {
		t.Fatalf("deliveries after checkout and payment = %d, want 2", len(got))
	}
	// Newest first.
	for i, want := range []struct {
		topic  webhooks.Topic
		status orders.PaymentStatus
	}{{webhooks.OrderPaid, orders.PaymentPaid}, {webhooks.OrderCreated, orders.PaymentPending}} {
		d := got[i]
		var body struct {
			ID    string         `json:"id"`
			Topic webhooks.Topic `json:"topic"`
			Data  struct {
				ID            string `json:"id"`
				OrderNumber   string `json:"orderNumber"`
				PaymentStatus string `json:"paymentStatus"`
				Total         struct {
					Amount       string `json:"amount"`
					CurrencyCode string `json:"currencyCode"`
				} `json:"total"`
				Lines []struct {
					SKU      string `json:"sku"`
					Quantity int    `json:"quantity"`
				} `json:"lines"`
			} `json:"data"`
		}
		if err := json.Unmarshal(d.Body, &body); err != nil {
			t.Fatalf("delivery %d body: %v", i, err)
		}
		if d.Topic != want.topic || body.Topic != want.topic || body.ID != d.EventID || d.Status != webhooks.Pending {
			t.Errorf("delivery %d: topic %s/%s, event %s/%s, status %s", i, d.Topic, body.Topic, d.EventID, body.ID, d.Status)
		}
		if body.Data.ID != o.ID || body.Data.OrderNumber != o.Number || body.Data.PaymentStatus != string(want.status) ||
			body.Data.Total.Amount != o.Total.Decimal() || body.Data.Total.CurrencyCode != o.Total.Currency ||
			len(body.Data.Lines) != 1 || body.Data.Lines[0].SKU != p.SKU || body.Data.Lines[0].Quantity != 1 {
			t.Errorf("delivery %d data = %+v, want order %s %s paid %s total %s", i, body.Data, o.ID, o.Number, want.status, o.Total)
		}
	}
	for _, d := range got {
		if n := e.count(t, `SELECT count(*) FROM river_job WHERE kind = 'webhook-deliver' AND queue = 'webhooks'
			AND args->>'delivery_id' = $1`, d.ID); n != 1 {
			t.Errorf("delivery %s has %d jobs on the webhooks queue, want 1", d.ID, n)
		}
	}
}

// deliveries lists an endpoint's deliveries, newest first.
func (e *env) deliveries(t *testing.T, endpointID string) []*webhooks.Delivery {
	t.Helper()
	p, err := e.webhooks.Deliveries(context.Background(), endpointID, "", nil, "")
	if err != nil {
		t.Fatalf("list deliveries: %v", err)
	}
	out := make([]*webhooks.Delivery, len(p.Edges))
	for i, ed := range p.Edges {
		out[i] = ed.Node
	}
	return out
}

// Every shipment is announced as ORDER_FULFILLED, its fulfillmentStatus
// telling a partial one from the last; ORDER_DELIVERED comes once, when the
// last shipment of a fully shipped order arrives.
func TestShipmentWebhooks(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	ep, _, err := e.webhooks.Create(ctx, webhooks.EndpointInput{
		URL: "http://127.0.0.1:1/hook", Topics: []webhooks.Topic{webhooks.OrderFulfilled, webhooks.OrderDelivered}, IsActive: true,
	})
	if err != nil {
		t.Fatalf("create endpoint: %v", err)
	}
	t.Cleanup(func() { _ = e.webhooks.Delete(context.Background(), ep.ID) })

	o, ls := e.paidOrder(t)
	e.ship(t, o.ID, "1Z-A", orders.FulfillLineInput{OrderLineID: ls[0].ID, Quantity: 1})
	e.ship(t, o.ID, "1Z-B")
	fs := e.fulfillments(t, o.ID)
	for _, f := range fs {
		if _, err := e.svc.MarkFulfillmentDelivered(ctx, f.ID); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, d := range e.deliveries(t, ep.ID) {
		var body struct {
			Data struct {
				FulfillmentStatus string `json:"fulfillmentStatus"`
				TrackingNumber    string `json:"trackingNumber"`
			} `json:"data"`
		}
		if err := json.Unmarshal(d.Body, &body); err != nil {
			t.Fatal(err)
		}
		got = append(got, string(d.Topic)+" "+body.Data.FulfillmentStatus+" "+body.Data.TrackingNumber)
	}
	// Newest first.
	want := []string{"ORDER_DELIVERED DELIVERED 1Z-B", "ORDER_FULFILLED FULFILLED 1Z-B", "ORDER_FULFILLED PARTIALLY_FULFILLED 1Z-A"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("deliveries %q, want %q", got, want)
	}
}
