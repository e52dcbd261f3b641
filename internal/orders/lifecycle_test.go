package orders_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/money"
	"commerce/internal/orders"
	"commerce/internal/payments"
)

func TestPaymentTimeout(t *testing.T) {
	e := setup(t)
	ctx := context.Background()

	t.Run("an unpaid order is cancelled, once", func(t *testing.T) {
		p := e.product(t, "30.00", 10)
		o := e.order(t, p, 3)
		cancelsBefore := e.provider.cancelIntent.Load()

		recheck, err := e.svc.PaymentTimeout(ctx, o.ID)
		if err != nil || recheck != 0 {
			t.Fatalf("PaymentTimeout: recheck %s, err %v; want 0, nil", recheck, err)
		}
		if n := e.provider.cancelIntent.Load() - cancelsBefore; n != 1 {
			t.Errorf("CancelIntent calls: got %d, want 1", n)
		}
		got := e.byID(t, o.ID)
		wantStatus(t, got, orders.Cancelled, orders.PaymentPending)
		if got.Notes == nil || *got.Notes != "Payment timeout" || got.CancelledAt == nil {
			t.Errorf("notes %v, cancelled_at %v; want \"Payment timeout\" and a time", got.Notes, got.CancelledAt)
		}
		e.wantStock(t, p.ID, stock{OnHand: 10, Reserved: 0, Available: 10})
		e.wantLedger(t, o.ID, "RESERVATION -3", "RELEASE +3")
		e.checkLedger(t, p.ID)
		if n := e.notifications(t, "payment-timeout", o); n != 1 {
			t.Errorf("payment-timeout notifications: got %d, want 1", n)
		}
		wantEvents := []string{orders.EventPlaced, orders.EventStockReserved, orders.EventPaymentIntentCreated,
			orders.EventStockReleased, orders.EventCancelled}
		e.wantEvents(t, o.ID, wantEvents...)

		// The job runs again (a retry): nothing more happens.
		recheck, err = e.svc.PaymentTimeout(ctx, o.ID)
		if err != nil || recheck != 0 {
			t.Fatalf("second PaymentTimeout: recheck %s, err %v; want 0, nil", recheck, err)
		}
		if n := e.provider.cancelIntent.Load() - cancelsBefore; n != 1 {
			t.Errorf("CancelIntent calls after a second run: got %d, want 1", n)
		}
		e.wantLedger(t, o.ID, "RESERVATION -3", "RELEASE +3")
		e.wantStock(t, p.ID, stock{OnHand: 10, Reserved: 0, Available: 10})
		if n := e.notifications(t, "payment-timeout", o); n != 1 {
			t.Errorf("payment-timeout notifications after a second run: got %d, want 1", n)
		}
		e.wantEvents(t, o.ID, wantEvents...)
	})

	t.Run("a paid order is left alone", func(t *testing.T) {
		p := e.product(t, "30.00", 10)
		o := e.order(t, p, 1)
		e.pay(t, o)
		cancelsBefore, getsBefore := e.provider.cancelIntent.Load(), e.provider.getIntent.Load()
		recheck, err := e.svc.PaymentTimeout(ctx, o.ID)
		if err != nil || recheck != 0 {
			t.Fatalf("PaymentTimeout: recheck %s, err %v; want 0, nil", recheck, err)
		}
		if e.provider.cancelIntent.Load() != cancelsBefore || e.provider.getIntent.Load() != getsBefore {
			t.Errorf("the provider was asked about a paid order")
		}
		wantStatus(t, e.byID(t, o.ID), orders.Processing, orders.PaymentPaid)
		e.wantStock(t, p.ID, stock{OnHand: 9, Reserved: 0, Available: 9})
		e.wantLedger(t, o.ID, "RESERVATION -1", "RELEASE +1", "SALE -1")
		if n := e.notifications(t, "payment-timeout", o); n != 0 {
			t.Errorf("payment-timeout notification for a paid order")
		}
	})

	t.Run("an order whose payment failed is cancelled", func(t *testing.T) {
		p := e.product(t, "30.00", 10)
		o := e.order(t, p, 1)
		e.handle(t, event(payments.IntentFailedEvent, o))
		if _, err := e.svc.PaymentTimeout(ctx, o.ID); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, e.byID(t, o.ID), orders.Cancelled, orders.PaymentFailed)
		e.wantStock(t, p.ID, stock{OnHand: 10, Reserved: 0, Available: 10})
	})

	t.Run("an intent still processing is looked at again later", func(t *testing.T) {
		p := e.product(t, "30.00", 10)
		o := e.order(t, p, 1)
		processing := payments.IntentProcessing
		e.provider.intentStatus.Store(&processing)
		defer e.provider.intentStatus.Store(nil)
		cancelsBefore := e.provider.cancelIntent.Load()
		recheck, err := e.svc.PaymentTimeout(ctx, o.ID)
		if err != nil || recheck <= 0 {
			t.Fatalf("PaymentTimeout: recheck %s, err %v; want a positive recheck delay", recheck, err)
		}
		if e.provider.cancelIntent.Load() != cancelsBefore {
			t.Errorf("a processing intent was cancelled")
		}
		wantStatus(t, e.byID(t, o.ID), orders.Pending, orders.PaymentPending)
		e.wantStock(t, p.ID, stock{OnHand: 10, Reserved: 1, Available: 9})
	})

	t.Run("an unknown order is nothing to do", func(t *testing.T) {
		if recheck, err := e.svc.PaymentTimeout(ctx, "0e9f6c55-2f0a-4c51-9b8e-2d7f1c3a4b5c"); err != nil || recheck != 0 {
			t.Errorf("PaymentTimeout of an unknown order: %s, %v", recheck, err)
		}
	})
}

func TestCancel(t *testing.T) {
	e := setup(t)
	ctx := context.Background()

	t.Run("pending: reservations released", func(t *testing.T) {
		p := e.product(t, "30.00", 10)
		o := e.order(t, p, 4)
		cancelsBefore := e.provider.cancelIntent.Load()
		got, err := e.svc.Cancel(ctx, o.ID, ptr("  customer called  "))
		if err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		wantStatus(t, got, orders.Cancelled, orders.PaymentPending)
		if got.Notes == nil || *got.Notes != "Cancelled by staff: customer called" || got.CancelledAt == nil {
			t.Errorf("notes %v, cancelled_at %v", got.Notes, got.CancelledAt)
		}
		e.wantStock(t, p.ID, stock{OnHand: 10, Reserved: 0, Available: 10})
		e.wantLedger(t, o.ID, "RESERVATION -4", "RELEASE +4")
		e.checkLedger(t, p.ID)
		if n := e.provider.cancelIntent.Load() - cancelsBefore; n != 1 {
			t.Errorf("CancelIntent calls: got %d, want 1", n)
		}
		if n := e.jobs(t, "payment-refund", o.ID); n != 0 {
			t.Errorf("payment-refund jobs for an unpaid order: %d", n)
		}
		if n := count(e.events(t, o.ID), orders.EventCancelled); n != 1 {
			t.Errorf("CANCELLED events: got %d, want 1", n)
		}
	})

	t.Run("paid: stock returned and payment refunded", func(t *testing.T) {
		p := e.product(t, "30.00", 10)
		o := e.order(t, p, 4)
		e.pay(t, o)
		e.wantStock(t, p.ID, stock{OnHand: 6, Reserved: 0, Available: 6})
		got, err := e.svc.Cancel(ctx, o.ID, nil)
		if err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		wantStatus(t, got, orders.Cancelled, orders.PaymentRefunded)
		if got.Refunded.Amount != o.Total.Amount {
			t.Errorf("refunded: got %s, want %s", got.Refunded, o.Total)
		}
		e.wantStock(t, p.ID, stock{OnHand: 10, Reserved: 0, Available: 10})
		if c := e.customer(t, o.Email); c.TotalOrders != 1 || c.TotalSpent != 0 {
			t.Errorf("customer stats after the refund: %d orders, %d spent; want 1, 0", c.TotalOrders, c.TotalSpent)
		}
		e.wantLedger(t, o.ID, "RESERVATION -4", "RELEASE +4", "SALE -4", "RETURN +4")
		e.checkLedger(t, p.ID)
		if n := e.count(t, `SELECT count(*) FROM river_job WHERE kind = 'payment-refund' AND args->>'order_id' = $1
			AND args->>'intent_id' = $2 AND (args->>'amount')::bigint = $3`, o.ID, *o.PaymentIntentID, o.Total.Amount); n != 1 {
			t.Errorf("payment-refund jobs of the total: got %d, want 1", n)
		}
	})

	t.Run("partially refunded: refunds what is left", func(t *testing.T) {
		p := e.product(t, "30.00", 10)
		o := e.order(t, p, 1)
		e.pay(t, o)
		ev := event(payments.ChargeRefundedEvent, o)
		ev.Amount = money.New(10_00, currency)
		e.handle(t, ev)
		e.handle(t, ev) // delivered twice: counted once
		if c := e.customer(t, o.Email); c.TotalSpent != o.Total.Amount-10_00 {
			t.Errorf("customer's total spent after a refund of 10.00: %d, want %d", c.TotalSpent, o.Total.Amount-10_00)
		}
		if _, err := e.svc.Cancel(ctx, o.ID, nil); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		if c := e.customer(t, o.Email); c.TotalOrders != 1 || c.TotalSpent != 0 {
			t.Errorf("customer stats after the rest was refunded: %d orders, %d spent; want 1, 0", c.TotalOrders, c.TotalSpent)
		}
		if n := e.count(t, `SELECT count(*) FROM river_job WHERE kind = 'payment-refund' AND args->>'order_id' = $1
			AND (args->>'amount')::bigint = $2`, o.ID, o.Total.Amount-10_00); n != 1 {
			t.Errorf("payment-refund jobs of the rest (%d): got %d, want 1", o.Total.Amount-10_00, n)
		}
		e.wantStock(t, p.ID, stock{OnHand: 10, Reserved: 0, Available: 10})
	})

	t.Run("fully refunded at the provider, then cancelled", func(t *testing.T) {
		p := e.product(t, "30.00", 5)
		o := e.order(t, p, 1)
		e.pay(t, o)
		ev := event(payments.ChargeRefundedEvent, o)
		e.handle(t, ev) // the whole total, refunded from the Stripe dashboard
		wantStatus(t, e.byID(t, o.ID), orders.Processing, orders.PaymentRefunded)
		other := e.order(t, p, 2) // another shopper's reservation
		e.wantStock(t, p.ID, stock{OnHand: 4, Reserved: 2, Available: 2})

		got, err := e.svc.Cancel(ctx, o.ID, nil)
		if err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		wantStatus(t, got, orders.Cancelled, orders.PaymentRefunded)
		// The other order's reservation must stay whole; the sold unit may
		// come back to on hand, but nothing is "released".
		if s := e.stock(t, p.ID); s.Reserved != 2 {
			t.Errorf("other order's reservation: reserved %d after the cancel, want 2 (%v)", s.Reserved, s)
		}
		for _, r := range e.ledger(t, o.ID) {
			if strings.HasPrefix(r, "RELEASE") && r != "RELEASE +1" {
				t.Errorf("unexpected ledger row %s", r)
			}
		}
		if n := count(e.ledger(t, o.ID), "RELEASE +1"); n != 1 {
			t.Errorf("the cancel released stock the paid order did not hold: ledger %q", e.ledger(t, o.ID))
		}
		e.checkLedger(t, p.ID)
		e.wantLedger(t, other.ID, "RESERVATION -2")
		if n := e.jobs(t, "payment-refund", o.ID); n != 0 {
			t.Errorf("a refund job for an order refunded in full already: %d", n)
		}
	})

	t.Run("refused", func(t *testing.T) {
		p := e.product(t, "30.00", 10)
		fulfilled := e.order(t, p, 1)
		e.pay(t, fulfilled)
		if _, err := e.db.SQL.Exec(`UPDATE orders SET status = 'FULFILLED', fulfillment_status = 'FULFILLED',
			shipped_at = now() WHERE id = $1`, fulfilled.ID); err != nil {
			t.Fatal(err)
		}
		cancelled := e.order(t, p, 1)
		if _, err := e.svc.Cancel(ctx, cancelled.ID, nil); err != nil {
			t.Fatal(err)
		}
		before := e.stock(t, p.ID)
		for _, tc := range []struct {
			name, id string
			want     string
		}{
			{"fulfilled", fulfilled.ID, "INVALID id"},
			{"cancelled", cancelled.ID, "INVALID id"},
			{"unknown", "6a1f5b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b", "NOT_FOUND id"},
			{"malformed", "not-a-uuid", "NOT_FOUND id"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := e.svc.Cancel(ctx, tc.id, nil)
				wantUserErrors(t, err, tc.want)
			})
		}
		if got := e.stock(t, p.ID); got != before {
			t.Errorf("refused cancels moved stock: %v -> %v", before, got)
		}
		if got := e.byID(t, fulfilled.ID); got.Status != orders.Fulfilled || got.PaymentStatus != orders.PaymentPaid {
			t.Errorf("fulfilled order changed to %s/%s", got.Status, got.PaymentStatus)
		}
		if n := e.jobs(t, "payment-refund", fulfilled.ID); n != 0 {
			t.Errorf("refund job for a refused cancel")
		}
	})
}

func TestRefund(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	p := e.product(t, "30.00", 10)
	o := e.order(t, p, 1)
	e.pay(t, o)
	if _, err := e.svc.Cancel(ctx, o.ID, nil); err != nil {
		t.Fatal(err)
	}
	// Run what the payment-refund job carries.
	var args orders.RefundArgs
	if err := e.db.SQL.QueryRow(`SELECT args->>'order_id', args->>'intent_id', (args->>'amount')::bigint,
		args->>'currency', args->>'key' FROM river_job WHERE kind = 'payment-refund' AND args->>'order_id' = $1`, o.ID).
		Scan(&args.OrderID, &args.IntentID, &args.Amount, &args.Currency, &args.Key); err != nil {
		t.Fatalf("read refund job: %v", err)
	}
	if err := e.svc.Refund(ctx, args); err != nil {
		t.Fatalf("Refund: %v", err)
	}
	call := e.provider.lastRefund.Load()
	if call == nil || call.IntentID != *o.PaymentIntentID || call.Amount == nil || *call.Amount != o.Total || call.Key == "" {
		t.Errorf("provider refund: got %+v, want intent %s, amount %s and a key", call, *o.PaymentIntentID, o.Total)
	}
}

func TestLookup(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	p := e.product(t, "30.00", 10)
	res := e.checkout(t, input(line(p, 1)))
	o := res.Order
	otherOrder := e.order(t, p, 1)
	other := *otherOrder.CustomerID

	anonymous := auth.Principal{}
	for _, tc := range []struct {
		name   string
		p      auth.Principal
		number string
		email  *string
		token  *string
	}{
		{"staff", auth.Principal{ID: "staff-1", Role: auth.Staff}, o.Number, nil, nil},
		{"admin", auth.Principal{ID: "admin-1", Role: auth.Admin}, o.Number, nil, nil},
		{"owner", auth.Principal{ID: *o.CustomerID, Role: auth.Customer}, o.Number, nil, nil},
		{"email", anonymous, o.Number, ptr(o.Email), nil},
		{"email in other case with spaces", anonymous, o.Number, ptr("  " + strings.ToUpper(o.Email) + " "), nil},
		{"access token", anonymous, o.Number, nil, ptr(res.AccessToken)},
		{"number in lower case", anonymous, strings.ToLower(o.Number), nil, ptr(res.AccessToken)},
	} {
		t.Run("found by "+tc.name, func(t *testing.T) {
			got, err := e.svc.Lookup(ctx, tc.p, tc.number, tc.email, tc.token)
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if got.ID != o.ID {
				t.Errorf("got order %s, want %s", got.ID, o.ID)
			}
		})
	}

	var first error
	for _, tc := range []struct {
		name   string
		p      auth.Principal
		number string
		email  *string
		token  *string
	}{
		{"nothing", anonymous, o.Number, nil, nil},
		{"wrong email", anonymous, o.Number, ptr("someone@example.com"), nil},
		{"empty email", anonymous, o.Number, ptr(""), nil},
		{"wrong token", anonymous, o.Number, nil, ptr(token(otherOrder.ID))},
		{"empty token", anonymous, o.Number, nil, ptr("")},
		{"another customer", auth.Principal{ID: other, Role: auth.Customer}, o.Number, nil, nil},
		{"unknown number", auth.Principal{ID: "staff-1", Role: auth.Staff}, "ORD-0000000000", nil, nil},
		{"unknown number with its token", anonymous, "ORD-0000000000", nil, ptr(res.AccessToken)},
	} {
		t.Run("not found with "+tc.name, func(t *testing.T) {
			got, err := e.svc.Lookup(ctx, tc.p, tc.number, tc.email, tc.token)
			if err == nil {
				t.Fatalf("Lookup returned order %s", got.Number)
			}
			if !errors.Is(err, apperr.ErrNotFound) {
				t.Errorf("got %v, want NOT_FOUND", err)
			}
			if first == nil {
				first = err
			} else if err.Error() != first.Error() {
				t.Errorf("error %q differs from %q: a lookup must not tell failures apart", err, first)
			}
		})
	}
}

func TestList(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	p := e.product(t, "30.00", 20)
	email := uniqEmail()
	var placed []*orders.Order
	for range 3 {
		in := input(line(p, 1))
		in.Email = email
		placed = append(placed, e.checkout(t, in).Order)
		time.Sleep(2 * time.Millisecond) // distinct created_at
	}
	e.pay(t, placed[1])

	two := 2
	page1, err := e.svc.List(ctx, orders.Filter{Email: ptr(strings.ToUpper(email))}, &two, "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(page1.Orders) != 2 || !page1.HasNextPage || page1.HasPreviousPage ||
		page1.Orders[0].ID != placed[2].ID || page1.Orders[1].ID != placed[1].ID {
		t.Fatalf("first page: %d orders, next %v, previous %v; want the two newest and a next page",
			len(page1.Orders), page1.HasNextPage, page1.HasPreviousPage)
	}
	page2, err := e.svc.List(ctx, orders.Filter{Email: &email}, &two, page1.Cursors[1])
	if err != nil {
		t.Fatalf("List after a cursor: %v", err)
	}
	if len(page2.Orders) != 1 || page2.HasNextPage || !page2.HasPreviousPage || page2.Orders[0].ID != placed[0].ID {
		t.Errorf("second page: %d orders, next %v; want the oldest only", len(page2.Orders), page2.HasNextPage)
	}
	paid := orders.PaymentPaid
	got, err := e.svc.List(ctx, orders.Filter{Email: &email, PaymentStatus: &paid}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Orders) != 1 || got.Orders[0].ID != placed[1].ID {
		t.Errorf("paid filter: got %d orders, want the paid one", len(got.Orders))
	}
	if n, err := e.svc.Count(ctx, orders.Filter{CustomerID: placed[0].CustomerID}); err != nil || n != 3 {
		t.Errorf("Count by customer: %d, %v; want 3", n, err)
	}
	if _, err := e.svc.List(ctx, orders.Filter{}, nil, "garbage"); apperr.KindOf(err) != apperr.Invalid {
		t.Errorf("bad cursor: got %v, want INVALID", err)
	}
	// Well-formed cursors that List never wrote are Invalid too, never an
	// SQL error.
	for _, c := range craftedCursors {
		if _, err := e.svc.List(ctx, orders.Filter{Email: &email}, &two, c); apperr.KindOf(err) != apperr.Invalid {
			t.Errorf("crafted cursor %q: got %v, want INVALID", c, err)
		}
	}
}

// craftedCursors are well-formed cursors (base64url JSON of the right
// shape) that no list wrote: an id that is not a UUID, a missing or
// unstorable time.
var craftedCursors = func() []string {
	var out []string
	for _, key := range []string{
		`{"c":"2026-01-01T00:00:00Z","i":"nope"}`,
		`{"c":"2026-01-01T00:00:00Z","i":null}`,
		`{"c":"2026-01-01T00:00:00Z"}`,
		`{}`,
		`{"i":"5d1c0f7e-1111-4222-8333-444455556666"}`,
		`{"c":"0000-06-01T00:00:00Z","i":"5d1c0f7e-1111-4222-8333-444455556666"}`,
	} {
		out = append(out, base64.RawURLEncoding.EncodeToString([]byte(key)))
	}
	return out
}()
