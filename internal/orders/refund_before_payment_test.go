package orders_test

import (
	"context"
	"testing"

	"commerce/internal/money"
	"commerce/internal/orders"
	"commerce/internal/payments"
)

// TestRefundBeforePayment: Stripe does not guarantee the order of events.
// A charge.refunded seen before payment_intent.succeeded is kept and
// applied when the payment arrives: a full refund leaves the order
// cancelled and REFUNDED with its stock released, nothing sold, no
// confirmation or fulfilment, and the customer's totals untouched; a
// partial one leaves it paid and PARTIALLY_REFUNDED with net totals.
func TestRefundBeforePayment(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	refund := func(o *orders.Order, amount int64) {
		t.Helper()
		ev := event(payments.ChargeRefundedEvent, o)
		ev.Amount = money.New(amount, currency)
		e.handle(t, ev)
	}
	nothingSold := func(t *testing.T, o *orders.Order) {
		t.Helper()
		for _, kind := range []string{"fulfillment-reminder", "review-request"} {
			if n := e.jobs(t, kind, o.ID); n != 0 {
				t.Errorf("%d %s jobs for a refunded order", n, kind)
			}
		}
		if n := e.notifications(t, "order-confirmation", o); n != 0 {
			t.Errorf("%d confirmation emails for a refunded order", n)
		}
		if c := e.customer(t, o.Email); c.TotalOrders != 0 || c.TotalSpent != 0 {
			t.Errorf("customer totals %d orders, %d spent; want 0, 0", c.TotalOrders, c.TotalSpent)
		}
	}

	t.Run("full refund, then the payment", func(t *testing.T) {
		p := e.product(t, "30.00", 10)
		o := e.order(t, p, 2)
		refund(o, o.Total.Amount)
		got := e.byID(t, o.ID)
		wantStatus(t, got, orders.Pending, orders.PaymentPending)
		if got.RefundBeforePayment != o.Total {
			t.Errorf("refund kept: %s, want %s", got.RefundBeforePayment, o.Total)
		}
		e.pay(t, o)
		got = e.byID(t, o.ID)
		wantStatus(t, got, orders.Cancelled, orders.PaymentRefunded)
		if got.Refunded != o.Total || got.FulfillmentStatus != orders.Unfulfilled || got.PaidAt != nil {
			t.Errorf("refunded %s, fulfillment %s, paid at %v; want %s, UNFULFILLED, never paid", got.Refunded, got.FulfillmentStatus, got.PaidAt, o.Total)
		}
		e.wantStock(t, p.ID, stock{OnHand: 10, Reserved: 0, Available: 10})
		e.wantLedger(t, o.ID, "RESERVATION -2", "RELEASE +2")
		e.checkLedger(t, p.ID)
		nothingSold(t, o)
		// Staff cannot ship it.
		if _, err := e.svc.Fulfill(ctx, o.ID, orders.FulfillInput{TrackingNumber: "1Z999"}); err == nil {
			t.Errorf("a refunded, cancelled order was fulfilled")
		}
		// A repeated success changes nothing.
		e.pay(t, o)
		wantStatus(t, e.byID(t, o.ID), orders.Cancelled, orders.PaymentRefunded)
		e.wantLedger(t, o.ID, "RESERVATION -2", "RELEASE +2")
	})

	t.Run("full refund, timeout, then the payment", func(t *testing.T) {
		p := e.product(t, "30.00", 10)
		o := e.order(t, p, 1)
		refund(o, o.Total.Amount)
		if _, err := e.svc.PaymentTimeout(ctx, o.ID); err != nil {
			t.Fatal(err)
		}
		e.pay(t, o)
		wantStatus(t, e.byID(t, o.ID), orders.Cancelled, orders.PaymentRefunded)
		// No second reservation: the payment was refunded already.
		e.wantLedger(t, o.ID, "RESERVATION -1", "RELEASE +1")
		e.wantStock(t, p.ID, stock{OnHand: 10, Reserved: 0, Available: 10})
		nothingSold(t, o)
	})

	t.Run("partial refund, then the payment", func(t *testing.T) {
		p := e.product(t, "30.00", 10)
		o := e.order(t, p, 1) // 43.00
		refund(o, 5_00)
		refund(o, 10_00) // amount_refunded is cumulative: the larger one counts
		refund(o, 5_00)  // an older event arriving late does not lower it
		e.pay(t, o)
		got := e.byID(t, o.ID)
		wantStatus(t, got, orders.Processing, orders.PaymentPartiallyRefunded)
		if got.Refunded.Amount != 10_00 {
			t.Errorf("refunded %s, want 10.00", got.Refunded)
		}
		e.wantLedger(t, o.ID, "RESERVATION -1", "RELEASE +1", "SALE -1")
		if c := e.customer(t, o.Email); c.TotalOrders != 1 || c.TotalSpent != o.Total.Amount-10_00 {
			t.Errorf("customer totals %d orders, %d spent; want 1, %d", c.TotalOrders, c.TotalSpent, o.Total.Amount-10_00)
		}
	})
}
