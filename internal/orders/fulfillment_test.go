package orders_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"commerce/internal/apperr"
	"commerce/internal/orders"
)

// ship fulfils units of an order and fails the test on any error.
func (e *env) ship(t *testing.T, orderID, tracking string, lines ...orders.FulfillLineInput) *orders.Order {
	t.Helper()
	in := orders.FulfillInput{TrackingNumber: tracking, Carrier: ptr("UPS"), NotifyCustomer: true}
	if len(lines) > 0 {
		in.Lines = lines
	}
	o, err := e.svc.Fulfill(context.Background(), orderID, in)
	if err != nil {
		t.Fatalf("fulfil %s with %s: %v", orderID, tracking, err)
	}
	return o
}

func (e *env) fulfillments(t *testing.T, orderID string) []orders.Fulfillment {
	t.Helper()
	fs, err := e.svc.Fulfillments(context.Background(), []string{orderID})
	if err != nil {
		t.Fatal(err)
	}
	return fs[0]
}

// shippedUnits reads each line's fulfilledQuantity, in line order.
func (e *env) shippedUnits(t *testing.T, orderID string) []int {
	t.Helper()
	ls, err := e.svc.Lines(context.Background(), []string{orderID})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int, len(ls[0]))
	for i, l := range ls[0] {
		out[i] = l.FulfilledQuantity
	}
	return out
}

func wantShipping(t *testing.T, o *orders.Order, status orders.Status, shipping orders.FulfillmentStatus) {
	t.Helper()
	if o.Status != status || o.FulfillmentStatus != shipping {
		t.Errorf("order %s: got %s/%s, want %s/%s", o.Number, o.Status, o.FulfillmentStatus, status, shipping)
	}
}

// TestFulfillInParts: a 3-line order ships in two fulfilments. After the
// first it is PROCESSING / PARTIALLY_FULFILLED with the first's tracking
// on its v1 fields, one email and one SMS for that shipment, and no
// delivery follow-up yet; the second (lines omitted) ships the rest: it is
// FULFILLED with the second's tracking, and the follow-up is scheduled.
// Delivering one shipment leaves the order FULFILLED; delivering both
// makes it DELIVERED.
func TestFulfillInParts(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	o, ls := e.paidOrder(t)

	first := e.ship(t, o.ID, "1Z-FIRST", orders.FulfillLineInput{OrderLineID: ls[0].ID, Quantity: 1},
		orders.FulfillLineInput{OrderLineID: ls[1].ID, Quantity: 1})
	wantShipping(t, first, orders.Processing, orders.PartiallyShipped)
	if deref(first.TrackingNumber) != "1Z-FIRST" || first.ShippedAt == nil {
		t.Errorf("after the first shipment: tracking %q shipped %v", deref(first.TrackingNumber), first.ShippedAt)
	}
	if got := e.shippedUnits(t, o.ID); fmt.Sprint(got) != "[1 1 0]" {
		t.Errorf("fulfilledQuantity after the first shipment %v, want [1 1 0]", got)
	}
	if n, sms, jobs := e.notifications(t, "order-shipped", o), e.notifications(t, "order-shipped-sms", o),
		e.jobs(t, "delivery-confirmation", o.ID); n != 1 || sms != 1 || jobs != 0 {
		t.Errorf("after the first shipment: %d emails, %d SMS, %d follow-ups; want 1, 1, 0", n, sms, jobs)
	}

	second := e.ship(t, o.ID, "1Z-SECOND")
	wantShipping(t, second, orders.Fulfilled, orders.Shipped)
	if deref(second.TrackingNumber) != "1Z-SECOND" || !second.ShippedAt.After(*first.ShippedAt) {
		t.Errorf("after the second shipment: tracking %q shipped %v (first %v)", deref(second.TrackingNumber), second.ShippedAt, first.ShippedAt)
	}
	if got := e.shippedUnits(t, o.ID); fmt.Sprint(got) != "[1 2 1]" {
		t.Errorf("fulfilledQuantity after the second shipment %v, want [1 2 1]", got)
	}
	fs := e.fulfillments(t, o.ID)
	if len(fs) != 2 || deref(fs[0].TrackingNumber) != "1Z-FIRST" || deref(fs[1].TrackingNumber) != "1Z-SECOND" ||
		fmt.Sprint(fs[1].Lines) != fmt.Sprint([]orders.FulfillmentLine{{OrderLineID: ls[1].ID, Quantity: 1}, {OrderLineID: ls[2].ID, Quantity: 1}}) {
		t.Fatalf("fulfillments %+v, want the first then the second with 1 of line 2 and 1 of line 3", fs)
	}
	var shipped []string
	rows, err := e.db.SQL.Query(`SELECT data->'lines'->0->>'name' FROM notifications WHERE template = 'order-shipped'
		AND data->>'order_number' = $1 ORDER BY created_at`, o.Number)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		shipped = append(shipped, s)
	}
	if len(shipped) != 2 || shipped[0] != ls[0].Name || shipped[1] != ls[1].Name {
		t.Errorf("the shipping emails list first %v, want %s then %s", shipped, ls[0].Name, ls[1].Name)
	}
	// Each SMS lists its own shipment's units too.
	var texts []string
	if err := e.db.Bun.NewRaw(`SELECT coalesce(data->>'units', '') FROM notifications WHERE template = 'order-shipped-sms'
		AND data->>'order_number' = ? ORDER BY created_at`, o.Number).Scan(ctx, &texts); err != nil {
		t.Fatal(err)
	}
	want := []string{"1 x " + ls[0].Name + ", 1 x " + ls[1].Name, "1 x " + ls[1].Name + ", 1 x " + ls[2].Name}
	if fmt.Sprint(texts) != fmt.Sprint(want) {
		t.Errorf("the shipping SMS list %q, want %q", texts, want)
	}
	if n := e.jobs(t, "delivery-confirmation", o.ID); n != 1 {
		t.Errorf("%d delivery follow-ups after the last shipment, want 1", n)
	}
	if c := count(e.events(t, o.ID), orders.EventFulfilled); c != 2 {
		t.Errorf("%d FULFILLED events, want 2", c)
	}

	_, err = e.svc.Fulfill(ctx, o.ID, orders.FulfillInput{TrackingNumber: "1Z-THIRD"})
	wantUserErrors(t, err, "INVALID id")

	got, err := e.svc.MarkFulfillmentDelivered(ctx, fs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	wantShipping(t, got, orders.Fulfilled, orders.Shipped)
	if got.DeliveredAt != nil {
		t.Errorf("deliveredAt %v with a shipment on its way", got.DeliveredAt)
	}
	_, err = e.svc.MarkFulfillmentDelivered(ctx, fs[0].ID)
	wantUserErrors(t, err, "INVALID id")
	_, err = e.svc.MarkFulfillmentDelivered(ctx, o.ID)
	wantUserErrors(t, err, "NOT_FOUND id")
	got, err = e.svc.MarkFulfillmentDelivered(ctx, fs[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	wantShipping(t, got, orders.Fulfilled, orders.Delivered)
	if got.DeliveredAt == nil {
		t.Error("deliveredAt not set once every shipment arrived")
	}
	for _, f := range e.fulfillments(t, o.ID) {
		if f.Status != orders.ShipmentDelivered || f.DeliveredAt == nil {
			t.Errorf("fulfillment %s is %s (delivered %v), want DELIVERED", f.ID, f.Status, f.DeliveredAt)
		}
	}
}

// TestFulfillInputErrors: bad lines are userErrors at their path, and
// nothing is written.
func TestFulfillInputErrors(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	o, ls := e.paidOrder(t)
	unpaid := e.order(t, e.product(t, "5.00", 3), 1)
	l := func(id string, q int) orders.FulfillLineInput {
		return orders.FulfillLineInput{OrderLineID: id, Quantity: q}
	}
	tests := []struct {
		name, id string
		lines    []orders.FulfillLineInput
		want     string
	}{
		{"unknown order", "00000000-0000-0000-0000-000000000000", nil, "NOT_FOUND id"},
		{"unpaid order", unpaid.ID, nil, "INVALID id"},
		{"an empty list", o.ID, []orders.FulfillLineInput{}, "INVALID input.lines"},
		{"unknown line", o.ID, []orders.FulfillLineInput{l(unpaid.ID, 1)}, "NOT_FOUND input.lines.0.orderLineId"},
		{"malformed line id", o.ID, []orders.FulfillLineInput{l("nope", 1)}, "NOT_FOUND input.lines.0.orderLineId"},
		{"more than ordered", o.ID, []orders.FulfillLineInput{l(ls[1].ID, 3)}, "INVALID input.lines.0.quantity"},
		{"no units", o.ID, []orders.FulfillLineInput{l(ls[1].ID, 0)}, "INVALID input.lines.0.quantity"},
		{"negative units", o.ID, []orders.FulfillLineInput{l(ls[0].ID, 1), l(ls[1].ID, -1)}, "INVALID input.lines.1.quantity"},
		{"a line twice", o.ID, []orders.FulfillLineInput{l(ls[1].ID, 1), l(ls[1].ID, 1)}, "INVALID input.lines.1.orderLineId"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Fulfill(ctx, tc.id, orders.FulfillInput{TrackingNumber: "1Z", Lines: tc.lines})
			wantUserErrors(t, err, tc.want)
		})
	}
	if fs := e.fulfillments(t, o.ID); len(fs) != 0 {
		t.Errorf("%d fulfillments written by bad input", len(fs))
	}
	wantShipping(t, e.byID(t, o.ID), orders.Processing, orders.Unfulfilled)

	// Over-shipping what is left after a first shipment.
	e.ship(t, o.ID, "1Z-ONE", l(ls[1].ID, 1))
	_, err := e.svc.Fulfill(ctx, o.ID, orders.FulfillInput{TrackingNumber: "1Z-TWO", Lines: []orders.FulfillLineInput{l(ls[1].ID, 2)}})
	wantUserErrors(t, err, "INVALID input.lines.0.quantity")
	if got := e.shippedUnits(t, o.ID); fmt.Sprint(got) != "[0 1 0]" {
		t.Errorf("fulfilledQuantity %v after an over-shipment was refused, want [0 1 0]", got)
	}
}

// TestFulfillConcurrent: ten shipments of one unit of a 2-unit line at
// once: the order's lock lets exactly two through.
func TestFulfillConcurrent(t *testing.T) {
	e := setup(t)
	o, ls := e.paidOrder(t)
	var mu sync.Mutex
	var wg sync.WaitGroup
	ok, refused := 0, 0
	for i := range 10 {
		wg.Go(func() {
			_, err := e.svc.Fulfill(context.Background(), o.ID, orders.FulfillInput{TrackingNumber: fmt.Sprint("1Z-", i),
				Lines: []orders.FulfillLineInput{{OrderLineID: ls[1].ID, Quantity: 1}}})
			mu.Lock()
			defer mu.Unlock()
			var ae *apperr.Error
			switch {
			case err == nil:
				ok++
			case errors.As(err, &ae) && ae.Kind == apperr.Invalid:
				refused++
			default:
				t.Errorf("fulfil %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if ok != 2 || refused != 8 {
		t.Errorf("%d shipments went through, %d refused; want 2, 8", ok, refused)
	}
	if got := e.shippedUnits(t, o.ID); fmt.Sprint(got) != "[0 2 0]" {
		t.Errorf("fulfilledQuantity %v, want [0 2 0]", got)
	}
	wantShipping(t, e.byID(t, o.ID), orders.Processing, orders.PartiallyShipped)
}

// TestFulfillRefundedUnits: refunded units are never shipped. A partly
// refunded order ships the rest (and is FULFILLED with it); a partly
// shipped order whose rest is refunded is FULFILLED by the refund; an
// order refunded in full has nothing to ship.
func TestFulfillRefundedUnits(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	refund := func(o *orders.Order, key string, lines ...orders.RefundLineInput) {
		t.Helper()
		if _, _, err := e.svc.CreateRefund(ctx, o.ID, orders.RefundInput{Lines: lines, IdempotencyKey: key}); err != nil {
			t.Fatalf("refund: %v", err)
		}
	}

	t.Run("refunded before shipping", func(t *testing.T) {
		o, ls := e.paidOrder(t)
		refund(o, "r1", orders.RefundLineInput{OrderLineID: ls[1].ID, Quantity: 1})
		_, err := e.svc.Fulfill(ctx, o.ID, orders.FulfillInput{TrackingNumber: "1Z",
			Lines: []orders.FulfillLineInput{{OrderLineID: ls[1].ID, Quantity: 2}}})
		wantUserErrors(t, err, "INVALID input.lines.0.quantity")
		got := e.ship(t, o.ID, "1Z-REST")
		wantShipping(t, got, orders.Fulfilled, orders.Shipped)
		wantStatus(t, got, orders.Fulfilled, orders.PaymentPartiallyRefunded)
		if units := e.shippedUnits(t, o.ID); fmt.Sprint(units) != "[1 1 1]" {
			t.Errorf("fulfilledQuantity %v, want [1 1 1]", units)
		}
	})

	t.Run("the rest refunded after a shipment", func(t *testing.T) {
		o, ls := e.paidOrder(t)
		e.ship(t, o.ID, "1Z-PART", orders.FulfillLineInput{OrderLineID: ls[0].ID, Quantity: 1},
			orders.FulfillLineInput{OrderLineID: ls[1].ID, Quantity: 2})
		refund(o, "r2", orders.RefundLineInput{OrderLineID: ls[2].ID, Quantity: 1})
		got := e.byID(t, o.ID)
		wantShipping(t, got, orders.Fulfilled, orders.Shipped)
		if n := e.jobs(t, "delivery-confirmation", o.ID); n != 1 {
			t.Errorf("%d delivery follow-ups, want 1", n)
		}
		_, err := e.svc.Fulfill(ctx, o.ID, orders.FulfillInput{TrackingNumber: "1Z-MORE"})
		wantUserErrors(t, err, "INVALID id")
	})

	t.Run("refunded in full", func(t *testing.T) {
		o, ls := e.paidOrder(t)
		if _, _, err := e.svc.CreateRefund(ctx, o.ID, orders.RefundInput{IncludeShipping: true, IdempotencyKey: "all",
			Lines: []orders.RefundLineInput{{OrderLineID: ls[0].ID, Quantity: 1}, {OrderLineID: ls[1].ID, Quantity: 2},
				{OrderLineID: ls[2].ID, Quantity: 1}}}); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.Fulfill(ctx, o.ID, orders.FulfillInput{TrackingNumber: "1Z"})
		wantUserErrors(t, err, "INVALID id")
		wantShipping(t, e.byID(t, o.ID), orders.Processing, orders.Unfulfilled)
	})
}

// TestMarkDeliveredPartlyShipped: orderMarkDelivered on a partly shipped
// order delivers its shipments and leaves it PARTIALLY_FULFILLED without
// deliveredAt; a second call has nothing to deliver, and orderCancel is
// refused. Once the rest ships and arrives, the order is DELIVERED.
func TestMarkDeliveredPartlyShipped(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	o, ls := e.paidOrder(t)
	_, err := e.svc.MarkDelivered(ctx, o.ID)
	wantUserErrors(t, err, "INVALID id")
	e.ship(t, o.ID, "1Z-A", orders.FulfillLineInput{OrderLineID: ls[0].ID, Quantity: 1})
	got, err := e.svc.MarkDelivered(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantShipping(t, got, orders.Processing, orders.PartiallyShipped)
	if got.DeliveredAt != nil {
		t.Errorf("deliveredAt %v on a partly shipped order", got.DeliveredAt)
	}
	if fs := e.fulfillments(t, o.ID); len(fs) != 1 || fs[0].Status != orders.ShipmentDelivered {
		t.Errorf("fulfillments %+v, want one DELIVERED", fs)
	}
	_, err = e.svc.MarkDelivered(ctx, o.ID)
	wantUserErrors(t, err, "INVALID id")
	// A partly shipped order is not cancelled (its shipped units are with
	// the customer): nothing is refunded or restocked.
	_, err = e.svc.Cancel(ctx, o.ID, ptr("too late"))
	wantUserErrors(t, err, "INVALID id")
	if got := e.byID(t, o.ID); got.Status != orders.Processing || got.PaymentStatus != orders.PaymentPaid || len(e.refunds(t, o.ID)) != 0 {
		t.Errorf("after a refused cancel: %s, %s, %d refunds", got.Status, got.PaymentStatus, len(e.refunds(t, o.ID)))
	}

	e.ship(t, o.ID, "1Z-B")
	got, err = e.svc.MarkDelivered(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantShipping(t, got, orders.Fulfilled, orders.Delivered)
	if got.DeliveredAt == nil {
		t.Error("deliveredAt not set")
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestShippingFollowUps: the fulfilment reminder lists what is left to
// ship of a partly shipped, partly refunded order and is not sent for one
// with nothing left; the delivery follow-up waits for the last shipment.
func TestShippingFollowUps(t *testing.T) {
	const warehouse = "warehouse@example.com"
	e := setupWith(t, func(c *orders.Config) { c.WarehouseEmail = warehouse })
	ctx := context.Background()

	o, ls := e.paidOrder(t)
	e.ship(t, o.ID, "1Z-PART", orders.FulfillLineInput{OrderLineID: ls[1].ID, Quantity: 1})
	if _, _, err := e.svc.CreateRefund(ctx, o.ID, orders.RefundInput{IdempotencyKey: "r",
		Lines: []orders.RefundLineInput{{OrderLineID: ls[2].ID, Quantity: 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SendFulfillmentReminder(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	var left int
	var lines, partial string
	err := e.db.SQL.QueryRow(`SELECT (data->>'units_left')::int, data->>'partial',
			(SELECT string_agg((l->>'quantity') || ' x ' || (l->>'name'), ', ') FROM jsonb_array_elements(data->'lines') l)
		FROM notifications WHERE template = 'fulfillment-reminder' AND recipient = $1 AND data->>'order_number' = $2`,
		warehouse, o.Number).Scan(&left, &partial, &lines)
	if err != nil {
		t.Fatalf("read the reminder: %v", err)
	}
	if want := fmt.Sprintf("1 x %s, 1 x %s", ls[0].Name, ls[1].Name); left != 2 || partial != "true" || lines != want {
		t.Errorf("reminder: %d units left, partial %s, lines %q; want 2, true, %q", left, partial, lines, want)
	}
	if err := e.svc.SendDeliveryConfirmation(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	if n := e.notifications(t, "delivery-confirmation", o); n != 0 {
		t.Errorf("%d delivery follow-ups while units are left to ship, want 0", n)
	}
	e.ship(t, o.ID, "1Z-REST")
	if err := e.svc.SendDeliveryConfirmation(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	if n := e.notifications(t, "delivery-confirmation", o); n != 1 {
		t.Errorf("%d delivery follow-ups after the last shipment, want 1", n)
	}

	// Nothing left to ship: every unit refunded.
	gone, gls := e.paidOrder(t)
	if _, _, err := e.svc.CreateRefund(ctx, gone.ID, orders.RefundInput{IdempotencyKey: "all",
		Lines: []orders.RefundLineInput{{OrderLineID: gls[0].ID, Quantity: 1}, {OrderLineID: gls[1].ID, Quantity: 2},
			{OrderLineID: gls[2].ID, Quantity: 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SendFulfillmentReminder(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	if n := e.notifications(t, "fulfillment-reminder", gone); n != 0 {
		t.Errorf("%d reminders for an order with nothing left to ship, want 0", n)
	}
}
