package orders_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"commerce/internal/money"
	"commerce/internal/orders"
	"commerce/internal/payments"
)

func wantStatus(t *testing.T, o *orders.Order, status orders.Status, payment orders.PaymentStatus) {
	t.Helper()
	if o.Status != status || o.PaymentStatus != payment {
		t.Errorf("order %s: got %s/%s, want %s/%s", o.Number, o.Status, o.PaymentStatus, status, payment)
	}
}

func TestHandlePaymentEvent(t *testing.T) {
	e := setup(t)
	ctx := context.Background()

	t.Run("succeeded pays the order", func(t *testing.T) {
		p := e.product(t, "30.00", 10)
		o := e.order(t, p, 2) // 60.00 + 6.00 tax + 10.00 shipping
		e.pay(t, o)

		got := e.byID(t, o.ID)
		wantStatus(t, got, orders.Processing, orders.PaymentPaid)
		if got.PaidAt == nil {
			t.Errorf("paid_at not set")
		}
		if got.PayableSecret() != nil {
			t.Errorf("a paid order still offers its client secret")
		}
		e.wantStock(t, p.ID, stock{OnHand: 8, Reserved: 0, Available: 8})
		e.wantLedger(t, o.ID, "RESERVATION -2", "RELEASE +2", "SALE -2")
		e.checkLedger(t, p.ID)
		c := e.customer(t, o.Email)
		if c.TotalOrders != 1 || c.TotalSpent != o.Total.Amount {
			t.Errorf("customer stats: %d orders, %d spent; want 1, %d", c.TotalOrders, c.TotalSpent, o.Total.Amount)
		}
		if n := e.notifications(t, "order-confirmation", o); n != 1 {
			t.Errorf("order-confirmation notifications: got %d, want 1", n)
		}
		if n := e.count(t, `SELECT count(*) FROM notifications WHERE template = 'order-confirmation' AND recipient = $1`, o.Email); n != 1 {
			t.Errorf("order-confirmation to %s: got %d, want 1", o.Email, n)
		}
		for kind, delay := range map[string]time.Duration{"fulfillment-reminder": reminderDelay, "review-request": reviewDelay} {
			if n := e.jobs(t, kind, o.ID); n != 1 {
				t.Errorf("%s jobs: got %d, want 1", kind, n)
				continue
			}
			e.wantJobDelay(t, kind, o.ID, delay)
		}
		e.wantEvents(t, o.ID, orders.EventPlaced, orders.EventStockReserved, orders.EventPaymentIntentCreated,
			orders.EventPaid, orders.EventConfirmationQueued)
	})

	t.Run("the same event 5 times is applied once", func(t *testing.T) {
		p := e.product(t, "30.00", 10)
		o := e.order(t, p, 1)
		ev := event(payments.IntentSucceededEvent, o)
		for range 5 {
			e.handle(t, ev)
		}
		wantStatus(t, e.byID(t, o.ID), orders.Processing, orders.PaymentPaid)
		if n := count(e.events(t, o.ID), orders.EventPaid); n != 1 {
			t.Errorf("PAID events: got %d, want 1", n)
		}
		c := e.customer(t, o.Email)
		if c.TotalOrders != 1 || c.TotalSpent != o.Total.Amount {
			t.Errorf("customer stats: %d orders, %d spent; want 1, %d", c.TotalOrders, c.TotalSpent, o.Total.Amount)
		}
		e.wantStock(t, p.ID, stock{OnHand: 9, Reserved: 0, Available: 9})
		e.wantLedger(t, o.ID, "RESERVATION -1", "RELEASE +1", "SALE -1")
		if n := e.notifications(t, "order-confirmation", o); n != 1 {
			t.Errorf("order-confirmation notifications: got %d, want 1", n)
		}
		if n := e.jobs(t, "fulfillment-reminder", o.ID); n != 1 {
			t.Errorf("fulfillment-reminder jobs: got %d, want 1", n)
		}
		if n := e.count(t, `SELECT count(*) FROM payment_events WHERE id = $1`, ev.ID); n != 1 {
			t.Errorf("payment_events rows of the event: got %d, want 1", n)
		}

		// Another success event for the paid order changes nothing either.
		e.pay(t, o)
		if c := e.customer(t, o.Email); c.TotalOrders != 1 {
			t.Errorf("a second success event counted the purchase again: %d orders", c.TotalOrders)
		}
		e.wantLedger(t, o.ID, "RESERVATION -1", "RELEASE +1", "SALE -1")
	})

	t.Run("payment_failed after succeeded stays PAID", func(t *testing.T) {
		p := e.product(t, "30.00", 10)
		o := e.order(t, p, 1)
		e.pay(t, o)
		failed := event(payments.IntentFailedEvent, o)
		failed.FailureMessage = "Your card was declined."
		e.handle(t, failed)
		wantStatus(t, e.byID(t, o.ID), orders.Processing, orders.PaymentPaid)
		if n := count(e.events(t, o.ID), orders.EventPaymentFailed); n != 0 {
			t.Errorf("PAYMENT_FAILED events on a paid order: %d", n)
		}
		if n := e.notifications(t, "payment-failed", o); n != 0 {
			t.Errorf("payment-failed notifications for a paid order: %d", n)
		}
		e.wantStock(t, p.ID, stock{OnHand: 9, Reserved: 0, Available: 9})
	})

	t.Run("payment_failed then succeeded ends PAID", func(t *testing.T) {
		p := e.product(t, "30.00", 10)
		o := e.order(t, p, 1)
		failed := event(payments.IntentFailedEvent, o)
		failed.FailureMessage = "Your card was declined."
		e.handle(t, failed)

		mid := e.byID(t, o.ID)
		wantStatus(t, mid, orders.Pending, orders.PaymentFailed)
		if mid.PayableSecret() == nil {
			t.Errorf("a failed attempt withdrew the client secret; the shopper must be able to retry")
		}
		e.wantStock(t, p.ID, stock{OnHand: 10, Reserved: 1, Available: 9})
		if n := e.notifications(t, "payment-failed", o); n != 1 {
			t.Errorf("payment-failed notifications: got %d, want 1", n)
		}
		if n := count(e.events(t, o.ID), orders.EventPaymentFailed); n != 1 {
			t.Errorf("PAYMENT_FAILED events: got %d, want 1", n)
		}

		e.pay(t, o)
		wantStatus(t, e.byID(t, o.ID), orders.Processing, orders.PaymentPaid)
		e.wantStock(t, p.ID, stock{OnHand: 9, Reserved: 0, Available: 9})
		e.wantLedger(t, o.ID, "RESERVATION -1", "RELEASE +1", "SALE -1")
	})

	t.Run("unknown order changes nothing", func(t *testing.T) {
		unknown := "5d1c0f7e-1111-4222-8333-444455556666"
		ordersBefore := e.count(t, `SELECT count(*) FROM orders`)
		stateBefore := e.count(t, `SELECT count(*) FROM orders WHERE status <> 'PENDING' OR payment_status <> 'PENDING'`)
		ev := payments.Event{ID: uniq("evt"), Type: payments.IntentSucceededEvent, IntentID: "pi_unknown",
			OrderID: unknown, Amount: money.New(10_00, currency)}
		if err := e.svc.HandlePaymentEvent(ctx, ev); err != nil {
			t.Fatalf("event for an unknown order: got %v, want nil (recorded and ignored)", err)
		}
		if n := e.count(t, `SELECT count(*) FROM payment_events WHERE id = $1`, ev.ID); n != 1 {
			t.Errorf("the event was not recorded")
		}
		if n := e.count(t, `SELECT count(*) FROM orders`); n != ordersBefore {
			t.Errorf("orders: %d before, %d after", ordersBefore, n)
		}
		if n := e.count(t, `SELECT count(*) FROM orders WHERE status <> 'PENDING' OR payment_status <> 'PENDING'`); n != stateBefore {
			t.Errorf("orders not pending: %d before, %d after", stateBefore, n)
		}
		if n := e.count(t, `SELECT count(*) FROM river_job WHERE args->>'order_id' = $1`, unknown); n != 0 {
			t.Errorf("jobs for the unknown order: %d", n)
		}
		// Without any order reference at all.
		ev2 := payments.Event{ID: uniq("evt"), Type: payments.IntentSucceededEvent, Amount: money.New(10_00, currency)}
		if err := e.svc.HandlePaymentEvent(ctx, ev2); err != nil {
			t.Errorf("event without an order reference: %v", err)
		}
	})

	mismatch := func(t *testing.T, change func(ev *payments.Event)) {
		t.Helper()
		p := e.product(t, "30.00", 10)
		o := e.order(t, p, 1)
		ev := event(payments.IntentSucceededEvent, o)
		change(&ev)
		e.handle(t, ev)

		got := e.byID(t, o.ID)
		wantStatus(t, got, orders.Pending, orders.PaymentPending)
		if got.PaidAt != nil || got.PaymentIntentID == nil || *got.PaymentIntentID != *o.PaymentIntentID {
			t.Errorf("order changed: paid_at %v, intent %v (was %s)", got.PaidAt, got.PaymentIntentID, *o.PaymentIntentID)
		}
		e.wantStock(t, p.ID, stock{OnHand: 10, Reserved: 1, Available: 9})
		e.wantLedger(t, o.ID, "RESERVATION -1")
		e.wantEvents(t, o.ID, orders.EventPlaced, orders.EventStockReserved, orders.EventPaymentIntentCreated,
			orders.EventPaymentMismatch)
		if n := e.count(t, `SELECT count(*) FROM river_job WHERE kind = 'payment-refund' AND args->>'order_id' = $1
			AND args->>'intent_id' = $2 AND (args->>'amount')::bigint = $3`, o.ID, ev.IntentID, ev.Amount.Amount); n != 1 {
			t.Errorf("payment-refund jobs for intent %s of %d: got %d, want 1", ev.IntentID, ev.Amount.Amount, n)
		}
		if c := e.customer(t, o.Email); c.TotalOrders != 0 {
			t.Errorf("the mismatched payment was counted for the customer")
		}
		if n := e.notifications(t, "order-confirmation", o); n != 0 {
			t.Errorf("order-confirmation for a mismatched payment")
		}
	}
	t.Run("success for another intent is refunded", func(t *testing.T) {
		mismatch(t, func(ev *payments.Event) { ev.IntentID = "pi_someone_elses" })
	})
	t.Run("payment_failed for another intent is ignored", func(t *testing.T) {
		p := e.product(t, "30.00", 10)
		o := e.order(t, p, 1)
		ev := event(payments.IntentFailedEvent, o)
		ev.IntentID = "pi_someone_elses"
		e.handle(t, ev)
		wantStatus(t, e.byID(t, o.ID), orders.Pending, orders.PaymentPending)
		e.wantEvents(t, o.ID, orders.EventPlaced, orders.EventStockReserved, orders.EventPaymentIntentCreated,
			orders.EventEventIgnored)
		if n := e.notifications(t, "payment-failed", o); n != 0 {
			t.Errorf("payment-failed notification for another intent's failure")
		}
		if n := e.jobs(t, "payment-refund", o.ID); n != 0 {
			t.Errorf("payment-refund job for a failure")
		}
	})
	t.Run("success of the wrong amount is refunded", func(t *testing.T) {
		mismatch(t, func(ev *payments.Event) { ev.Amount.Amount-- })
	})
	t.Run("success in the wrong currency is refunded", func(t *testing.T) {
		mismatch(t, func(ev *payments.Event) { ev.Amount.Currency = "EUR" })
	})

	t.Run("charge.refunded partial then full", func(t *testing.T) {
		p := e.product(t, "30.00", 10)
		o := e.order(t, p, 1) // 30.00 + 3.00 + 10.00 = 43.00
		e.pay(t, o)
		refund := func(amount int64) {
			ev := event(payments.ChargeRefundedEvent, o)
			ev.Amount = money.New(amount, currency)
			e.handle(t, ev)
		}
		refund(10_00)
		got := e.byID(t, o.ID)
		wantStatus(t, got, orders.Processing, orders.PaymentPartiallyRefunded)
		if got.Refunded.Amount != 10_00 {
			t.Errorf("refunded: got %s, want 10.00", got.Refunded)
		}
		refund(o.Total.Amount)
		got = e.byID(t, o.ID)
		wantStatus(t, got, orders.Processing, orders.PaymentRefunded)
		if got.Refunded.Amount != o.Total.Amount {
			t.Errorf("refunded: got %s, want %s", got.Refunded, o.Total)
		}
		// An older, smaller refund event arriving late does not move it back.
		refund(10_00)
		if got := e.byID(t, o.ID); got.PaymentStatus != orders.PaymentRefunded || got.Refunded.Amount != o.Total.Amount {
			t.Errorf("a late partial refund moved the order back to %s, %s", got.PaymentStatus, got.Refunded)
		}
		e.wantStock(t, p.ID, stock{OnHand: 9, Reserved: 0, Available: 9})
		e.wantLedger(t, o.ID, "RESERVATION -1", "RELEASE +1", "SALE -1")
		if n := count(e.events(t, o.ID), orders.EventRefunded); n != 2 {
			t.Errorf("REFUNDED events: got %d, want 2", n)
		}
	})

	t.Run("charge.refunded on an unpaid order is ignored", func(t *testing.T) {
		p := e.product(t, "30.00", 10)
		o := e.order(t, p, 1)
		ev := event(payments.ChargeRefundedEvent, o)
		e.handle(t, ev)
		wantStatus(t, e.byID(t, o.ID), orders.Pending, orders.PaymentPending)
	})

	t.Run("success after cancellation re-reserves when stock allows", func(t *testing.T) {
		p := e.product(t, "30.00", 5)
		o := e.order(t, p, 2)
		if _, err := e.svc.Cancel(ctx, o.ID, nil); err != nil {
			t.Fatal(err)
		}
		e.wantStock(t, p.ID, stock{OnHand: 5, Reserved: 0, Available: 5})
		e.pay(t, o)
		got := e.byID(t, o.ID)
		wantStatus(t, got, orders.Processing, orders.PaymentPaid)
		if got.CancelledAt != nil {
			t.Errorf("cancelled_at still set on the revived order")
		}
		e.wantStock(t, p.ID, stock{OnHand: 3, Reserved: 0, Available: 3})
		e.wantLedger(t, o.ID, "RESERVATION -2", "RELEASE +2", "RESERVATION -2", "RELEASE +2", "SALE -2")
		e.checkLedger(t, p.ID)
		if n := e.jobs(t, "payment-refund", o.ID); n != 0 {
			t.Errorf("payment-refund jobs: got %d, want 0", n)
		}
		if c := e.customer(t, o.Email); c.TotalOrders != 1 || c.TotalSpent != o.Total.Amount {
			t.Errorf("customer stats: %d orders, %d spent", c.TotalOrders, c.TotalSpent)
		}
		if n := e.notifications(t, "order-confirmation", o); n != 1 {
			t.Errorf("order-confirmation notifications: got %d, want 1", n)
		}
	})

	t.Run("success after cancellation refunds when the stock is gone", func(t *testing.T) {
		p := e.product(t, "30.00", 2)
		o := e.order(t, p, 2)
		if _, err := e.svc.Cancel(ctx, o.ID, nil); err != nil {
			t.Fatal(err)
		}
		other := e.order(t, p, 1) // someone else takes one of the two units
		e.pay(t, o)

		got := e.byID(t, o.ID)
		wantStatus(t, got, orders.Cancelled, orders.PaymentRefunded)
		if got.Refunded.Amount != o.Total.Amount {
			t.Errorf("refunded: got %s, want %s", got.Refunded, o.Total)
		}
		e.wantStock(t, p.ID, stock{OnHand: 2, Reserved: 1, Available: 1})
		e.wantLedger(t, o.ID, "RESERVATION -2", "RELEASE +2")
		e.wantLedger(t, other.ID, "RESERVATION -1")
		e.checkLedger(t, p.ID)
		if n := e.count(t, `SELECT count(*) FROM river_job WHERE kind = 'payment-refund' AND args->>'order_id' = $1
			AND (args->>'amount')::bigint = $2`, o.ID, o.Total.Amount); n != 1 {
			t.Errorf("payment-refund jobs of the whole total: got %d, want 1", n)
		}
		if n := e.notifications(t, "order-failed-inventory", o); n != 1 {
			t.Errorf("order-failed-inventory notifications: got %d, want 1", n)
		}
		if c := e.customer(t, o.Email); c.TotalOrders != 0 {
			t.Errorf("a refunded payment was counted for the customer")
		}
		if n := count(e.events(t, o.ID), orders.EventRefundRequested); n != 1 {
			t.Errorf("REFUND_REQUESTED events: got %d, want 1", n)
		}
	})
}

// The timeline is shown to whoever may see the order (a guest with the
// email or access token), so no event names a provider id: the intent id
// is staff-only (stripePaymentIntentId) and the client secret is not for
// every viewer either.
func TestEventsNameNoProviderIDs(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const otherIntent = "pi_someone_elses"
	tests := []struct {
		name string
		act  func(t *testing.T, o *orders.Order)
	}{
		{"placed", func(*testing.T, *orders.Order) {}},
		{"paid, refunded, cancelled", func(t *testing.T, o *orders.Order) {
			e.pay(t, o)
			ev := event(payments.ChargeRefundedEvent, o)
			ev.Amount.Amount = 5_00
			e.handle(t, ev)
			if _, err := e.svc.Cancel(ctx, o.ID, ptr("changed my mind")); err != nil {
				t.Fatalf("cancel: %v", err)
			}
		}},
		{"failed, then paid", func(t *testing.T, o *orders.Order) {
			ev := event(payments.IntentFailedEvent, o)
			ev.FailureMessage = "Your card was declined."
			e.handle(t, ev)
			e.pay(t, o)
		}},
		{"success for another intent", func(t *testing.T, o *orders.Order) {
			ev := event(payments.IntentSucceededEvent, o)
			ev.IntentID = otherIntent
			e.handle(t, ev)
		}},
		{"failure for another intent", func(t *testing.T, o *orders.Order) {
			ev := event(payments.IntentFailedEvent, o)
			ev.IntentID = otherIntent
			e.handle(t, ev)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := e.order(t, e.product(t, "30.00", 10), 1)
			tc.act(t, o)
			secrets := []string{*o.PaymentIntentID, *o.PaymentClientSecret, otherIntent, "pi_", "_secret_"}
			evs, err := e.svc.Events(ctx, []string{o.ID})
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs[0] {
				if ev.Message == nil {
					continue
				}
				for _, s := range secrets {
					if strings.Contains(*ev.Message, s) {
						t.Errorf("%s event message %q names %q", ev.Type, *ev.Message, s)
					}
				}
			}
			if got := e.byID(t, o.ID).PaymentIntentID; got == nil || *got != *o.PaymentIntentID {
				t.Errorf("stripePaymentIntentId = %v, want %s", got, *o.PaymentIntentID)
			}
		})
	}
}
