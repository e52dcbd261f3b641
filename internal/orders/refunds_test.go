package orders_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"commerce/internal/apperr"
	"commerce/internal/money"
	"commerce/internal/orders"
	"commerce/internal/payments"
)

// paidOrder places and pays an order of 1 × 10.00, 2 × 25.00 and
// 1 × 7.50: subtotal 67.50, tax 10 % 6.75, shipping 10.00, total 84.25.
// What the goods were paid (74.25) spreads over the lines by their totals:
// 11.00, 55.00 and 8.25.
func (e *env) paidOrder(t *testing.T) (*orders.Order, []*orders.Line) {
	t.Helper()
	p1, p2, p3 := e.product(t, "10.00", 5), e.product(t, "25.00", 5), e.product(t, "7.50", 5)
	o := e.checkout(t, input(line(p1, 1), line(p2, 2), line(p3, 1))).Order
	if o.Total.Amount != 84_25 {
		t.Fatalf("total %s, want 84.25 USD", o.Total)
	}
	e.pay(t, o)
	ls, err := e.svc.Lines(context.Background(), []string{o.ID})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*orders.Line, len(ls[0]))
	for i := range ls[0] {
		out[i] = &ls[0][i]
	}
	return e.byID(t, o.ID), out
}

// refundJob reads the refund job queued for a refund.
func (e *env) refundJob(t *testing.T, refundID string) orders.RefundArgs {
	t.Helper()
	var raw []byte
	err := e.db.SQL.QueryRow(`SELECT args FROM river_job WHERE kind = 'payment-refund' AND args->>'refund_id' = $1`, refundID).Scan(&raw)
	if err != nil {
		t.Fatalf("read the refund job of %s: %v", refundID, err)
	}
	var a orders.RefundArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

func (e *env) refunds(t *testing.T, orderID string) []orders.Refund {
	t.Helper()
	rs, err := e.svc.Refunds(context.Background(), []string{orderID})
	if err != nil {
		t.Fatal(err)
	}
	return rs[0]
}

func amount(s string) *string { return &s }

// TestRefundLines: a refund of one unit with restock is what the unit was
// paid (tax share included), restocks it with a RETURN row, reserves the
// amount (PARTIALLY_REFUNDED), takes it off the customer's total spent and
// queues the provider call, which marks it SUCCEEDED and emails the
// customer. The rest with shipping refunds exactly what is left
// (REFUNDED, nothing refundable); a further refund is REFUND_EXCEEDS_PAID.
func TestRefundLines(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	o, ls := e.paidOrder(t)
	spent := e.customer(t, o.Email).TotalSpent

	got, rf, err := e.svc.CreateRefund(ctx, o.ID, orders.RefundInput{
		Lines:          []orders.RefundLineInput{{OrderLineID: ls[1].ID, Quantity: 1, Restock: true}},
		Reason:         ptr("Damaged"),
		NotifyCustomer: true, IdempotencyKey: "r1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if rf.Amount != money.New(27_50, currency) || rf.Status != orders.RefundPending || len(rf.Lines) != 1 || !rf.Lines[0].Restocked {
		t.Errorf("refund %+v, want 27.50 USD PENDING of one restocked line", rf)
	}
	wantStatus(t, got, orders.Processing, orders.PaymentPartiallyRefunded)
	if got.Refundable() != money.New(56_75, currency) {
		t.Errorf("refundable %s, want 56.75 USD", got.Refundable())
	}
	if l := e.ledger(t, o.ID); count(l, "RETURN +1") != 1 || l[len(l)-1] != "RETURN +1" {
		t.Errorf("ledger rows %q, want one RETURN +1 last", l)
	}
	e.wantStock(t, *ls[1].ProductID, stock{OnHand: 4, Reserved: 0, Available: 4})
	if c := e.customer(t, o.Email); c.TotalSpent != spent-27_50 {
		t.Errorf("total spent %d, want %d", c.TotalSpent, spent-27_50)
	}
	lines, _ := e.svc.Lines(ctx, []string{o.ID})
	if lines[0][1].RefundedQuantity != 1 || lines[0][0].RefundedQuantity != 0 {
		t.Errorf("refunded quantities %d, %d; want 0, 1", lines[0][0].RefundedQuantity, lines[0][1].RefundedQuantity)
	}

	job := e.refundJob(t, rf.ID)
	if job.Amount != 27_50 || job.Key != "refund-"+rf.ID || job.IntentID != *o.PaymentIntentID {
		t.Errorf("refund job %+v", job)
	}
	if err := e.svc.Refund(ctx, job); err != nil {
		t.Fatal(err)
	}
	if rs := e.refunds(t, o.ID); rs[0].Status != orders.RefundSucceeded || rs[0].ProcessedAt == nil {
		t.Errorf("after the job: %+v, want SUCCEEDED", rs[0])
	}
	if n := e.notifications(t, "order-refunded", o); n != 1 {
		t.Errorf("%d order-refunded emails, want 1", n)
	}
	// A retried job changes nothing and does not call the provider again.
	calls := e.provider.refund.Load()
	if err := e.svc.Refund(ctx, job); err != nil || e.provider.refund.Load() != calls {
		t.Errorf("retried job: %v, %d provider calls", err, e.provider.refund.Load()-calls)
	}

	// The same key returns the same refund.
	_, again, err := e.svc.CreateRefund(ctx, o.ID, orders.RefundInput{Amount: amount("1.00"), IdempotencyKey: "r1"})
	if err != nil || again.ID != rf.ID {
		t.Errorf("same key: %v, %v; want refund %s", again, err, rf.ID)
	}

	got, rest, err := e.svc.CreateRefund(ctx, o.ID, orders.RefundInput{
		Lines: []orders.RefundLineInput{
			{OrderLineID: ls[0].ID, Quantity: 1}, {OrderLineID: ls[1].ID, Quantity: 1}, {OrderLineID: ls[2].ID, Quantity: 1},
		},
		IncludeShipping: true, IdempotencyKey: "r2",
	})
	if err != nil {
		t.Fatal(err)
	}
	if rest.Amount != money.New(56_75, currency) || !rest.IncludesShipping {
		t.Errorf("the rest: %s (shipping %v), want 56.75 USD with shipping", rest.Amount, rest.IncludesShipping)
	}
	wantStatus(t, got, orders.Processing, orders.PaymentRefunded)
	if got.Refundable().Amount != 0 || got.Refunded != o.Total {
		t.Errorf("refundable %s, refunded %s", got.Refundable(), got.Refunded)
	}
	_, _, err = e.svc.CreateRefund(ctx, o.ID, orders.RefundInput{Amount: amount("0.01"), IdempotencyKey: "r3"})
	wantUserErrors(t, err, "REFUND_EXCEEDS_PAID input.amount")
	if n := len(e.refunds(t, o.ID)); n != 2 {
		t.Errorf("%d refunds, want 2", n)
	}
}

// TestRefundInputErrors: each bad input is a userError at its field, and
// nothing is written.
func TestRefundInputErrors(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	o, ls := e.paidOrder(t)
	unpaid := e.order(t, e.product(t, "5.00", 3), 1)
	tests := []struct {
		name, id string
		in       orders.RefundInput
		want     string
	}{
		{"unknown order", "00000000-0000-0000-0000-000000000000", orders.RefundInput{Amount: amount("1")}, "NOT_FOUND id"},
		{"malformed order id", "nope", orders.RefundInput{Amount: amount("1")}, "NOT_FOUND id"},
		{"unpaid order", unpaid.ID, orders.RefundInput{Amount: amount("1")}, "INVALID id"},
		{"no lines, no amount", o.ID, orders.RefundInput{}, "INVALID input.amount"},
		{"zero amount", o.ID, orders.RefundInput{Amount: amount("0")}, "INVALID input.amount"},
		{"bad amount", o.ID, orders.RefundInput{Amount: amount("1.234")}, "INVALID input.amount"},
		{"over the total", o.ID, orders.RefundInput{Amount: amount("84.26")}, "REFUND_EXCEEDS_PAID input.amount"},
		{"unknown line", o.ID, orders.RefundInput{Lines: []orders.RefundLineInput{{OrderLineID: unpaid.ID, Quantity: 1}}}, "NOT_FOUND input.lines.0.orderLineId"},
		{"too many units", o.ID, orders.RefundInput{Lines: []orders.RefundLineInput{{OrderLineID: ls[1].ID, Quantity: 3}}}, "INVALID input.lines.0.quantity"},
		{"no units", o.ID, orders.RefundInput{Lines: []orders.RefundLineInput{{OrderLineID: ls[1].ID}}}, "INVALID input.lines.0.quantity"},
		{"a line twice", o.ID, orders.RefundInput{Lines: []orders.RefundLineInput{{OrderLineID: ls[1].ID, Quantity: 1}, {OrderLineID: ls[1].ID, Quantity: 1}}}, "INVALID input.lines.1.orderLineId"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.IdempotencyKey = fmt.Sprint("k", i)
			_, _, err := e.svc.CreateRefund(ctx, tc.id, tc.in)
			wantUserErrors(t, err, tc.want)
		})
	}
	_, _, err := e.svc.CreateRefund(ctx, o.ID, orders.RefundInput{Amount: amount("1")})
	wantUserErrors(t, err, "INVALID input.idempotencyKey")
	// The keys of a cancellation's and a return's refund are not staff's
	// to take: the cancellation would then fail on a duplicate key, and a
	// return would be linked to another refund.
	for _, key := range []string{"cancel-" + o.ID, "return-" + o.ID} {
		_, _, err = e.svc.CreateRefund(ctx, o.ID, orders.RefundInput{Amount: amount("1"), IdempotencyKey: key})
		wantUserErrors(t, err, "INVALID input.idempotencyKey")
	}
	if n := len(e.refunds(t, o.ID)); n != 0 {
		t.Errorf("%d refunds written by bad input", n)
	}
	wantStatus(t, e.byID(t, o.ID), orders.Processing, orders.PaymentPaid)
}

// TestRefundConcurrent: ten refunds of the whole refundable amount at once
// with different keys: exactly one is written; ten with the same key: one
// refund, returned to all.
func TestRefundConcurrent(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	run := func(o *orders.Order, key func(i int) string) (ids []string, exceeded int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Go(func() {
				_, rf, err := e.svc.CreateRefund(ctx, o.ID, orders.RefundInput{Amount: amount("84.25"), IdempotencyKey: key(i)})
				mu.Lock()
				defer mu.Unlock()
				var ae *apperr.Error
				switch {
				case err == nil:
					ids = append(ids, rf.ID)
				case errors.As(err, &ae) && ae.UserCode() == "REFUND_EXCEEDS_PAID":
					exceeded++
				default:
					t.Errorf("refund %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		return ids, exceeded
	}
	o, _ := e.paidOrder(t)
	ids, exceeded := run(o, func(i int) string { return fmt.Sprint("key-", i) })
	if len(ids) != 1 || exceeded != 9 {
		t.Errorf("different keys: %d refunds, %d REFUND_EXCEEDS_PAID; want 1, 9", len(ids), exceeded)
	}
	o2, _ := e.paidOrder(t)
	ids, exceeded = run(o2, func(int) string { return "same" })
	if len(ids) != 10 || exceeded != 0 || len(e.refunds(t, o2.ID)) != 1 {
		t.Errorf("same key: %d answers, %d exceeded, %d refunds; want 10, 0, 1", len(ids), exceeded, len(e.refunds(t, o2.ID)))
	}
	for _, id := range ids {
		if id != ids[0] {
			t.Errorf("same key answered refunds %s and %s", ids[0], id)
		}
	}
}

// TestRefundFails: a refund the provider refuses ends FAILED and frees its
// amount (status, refundable, total spent); one whose provider stays
// unreachable is retried, and failed after the last attempt.
func TestRefundFails(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		err     error
		gaveUp  bool
		retried bool
	}{
		{"refused", &apperr.Error{Kind: apperr.PaymentFailed, Message: "Charge already refunded."}, false, false},
		{"unreachable", errors.New("connection refused"), true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, _ := e.paidOrder(t)
			spent := e.customer(t, o.Email).TotalSpent
			_, rf, err := e.svc.CreateRefund(ctx, o.ID, orders.RefundInput{Amount: amount("20.00"), IdempotencyKey: "k"})
			if err != nil {
				t.Fatal(err)
			}
			e.provider.failRefund.Store(&tc.err)
			defer e.provider.failRefund.Store(nil)
			job := e.refundJob(t, rf.ID)
			err = e.svc.Refund(ctx, job)
			if tc.retried != (err != nil) {
				t.Fatalf("job error %v, want retried %v", err, tc.retried)
			}
			if tc.gaveUp {
				if e.refunds(t, o.ID)[0].Status != orders.RefundPending {
					t.Error("a refund failed before its last attempt")
				}
				if err := e.svc.RefundGaveUp(ctx, job, err); err == nil {
					t.Error("RefundGaveUp hid the cause")
				}
			}
			got := e.byID(t, o.ID)
			wantStatus(t, got, orders.Processing, orders.PaymentPaid)
			if rs := e.refunds(t, o.ID); rs[0].Status != orders.RefundFailed || got.Refundable() != o.Total {
				t.Errorf("refund %s, refundable %s; want FAILED, %s", rs[0].Status, got.Refundable(), o.Total)
			}
			if c := e.customer(t, o.Email); c.TotalSpent != spent {
				t.Errorf("total spent %d, want %d again", c.TotalSpent, spent)
			}
			if n := count(e.events(t, o.ID), orders.EventRefundFailed); n != 1 {
				t.Errorf("%d REFUND_FAILED events", n)
			}
		})
	}
}

// TestProviderRefundEvents: a charge.refunded for refunds we made changes
// nothing; one reporting more records the difference as a refund without
// lines, once; a refund.updated saying our refund failed frees its amount.
func TestProviderRefundEvents(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	o, _ := e.paidOrder(t)
	_, rf, err := e.svc.CreateRefund(ctx, o.ID, orders.RefundInput{Amount: amount("20.00"), IdempotencyKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	refunded := func(total int64) {
		ev := event(payments.ChargeRefundedEvent, o)
		ev.Amount = money.New(total, currency)
		e.handle(t, ev)
	}
	refunded(20_00) // ours, before the job ran
	if err := e.svc.Refund(ctx, e.refundJob(t, rf.ID)); err != nil {
		t.Fatal(err)
	}
	refunded(20_00) // ours again, after
	if rs := e.refunds(t, o.ID); len(rs) != 1 || e.byID(t, o.ID).Refunded.Amount != 20_00 {
		t.Fatalf("%d refunds, refunded %s; want ours only", len(rs), e.byID(t, o.ID).Refunded)
	}
	refunded(35_00) // 15.00 more in the dashboard
	refunded(35_00)
	rs := e.refunds(t, o.ID)
	if len(rs) != 2 || rs[1].Amount != money.New(15_00, currency) || len(rs[1].Lines) != 0 || rs[1].Status != orders.RefundSucceeded {
		t.Fatalf("refunds %+v, want ours and a dashboard refund of 15.00 without lines", rs)
	}
	got := e.byID(t, o.ID)
	wantStatus(t, got, orders.Processing, orders.PaymentPartiallyRefunded)
	if got.Refunded.Amount != 35_00 {
		t.Errorf("refunded %s, want 35.00 USD", got.Refunded)
	}

	// Our refund fails after Stripe accepted it: refund.updated frees its
	// amount, once; a change of a refund we do not know is ignored.
	var providerID string
	if err := e.db.SQL.QueryRow(`SELECT provider_refund_id FROM refunds WHERE id = $1`, rf.ID).Scan(&providerID); err != nil {
		t.Fatal(err)
	}
	updated := func(id, status string) {
		ev := event(payments.RefundUpdatedEvent, o)
		ev.OrderID, ev.OrderNumber, ev.RefundID, ev.RefundStatus = "", "", id, status
		e.handle(t, ev)
	}
	updated("re_unknown", "failed")
	updated(providerID, "succeeded")
	if rs := e.refunds(t, o.ID); rs[0].Status != orders.RefundSucceeded {
		t.Fatalf("after refund.updated succeeded/unknown: %s", rs[0].Status)
	}
	updated(providerID, "failed")
	updated(providerID, "failed")
	got = e.byID(t, o.ID)
	if rs := e.refunds(t, o.ID); rs[0].Status != orders.RefundFailed || got.Refunded.Amount != 15_00 {
		t.Errorf("after refund.updated failed: %s, refunded %s; want FAILED, 15.00 USD", rs[0].Status, got.Refunded)
	}
	if n := count(e.events(t, o.ID), orders.EventRefundFailed); n != 1 {
		t.Errorf("%d REFUND_FAILED events, want 1", n)
	}
}

// TestCancelPaidRefunds: cancelling a paid order refunds what is left
// through a refund row of its unrefunded units, restocked.
func TestCancelPaidRefunds(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	o, ls := e.paidOrder(t)
	if _, _, err := e.svc.CreateRefund(ctx, o.ID, orders.RefundInput{
		Lines: []orders.RefundLineInput{{OrderLineID: ls[1].ID, Quantity: 1}}, IdempotencyKey: "k",
	}); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.Cancel(ctx, o.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, got, orders.Cancelled, orders.PaymentRefunded)
	rs := e.refunds(t, o.ID)
	if len(rs) != 2 || rs[1].Amount != money.New(56_75, currency) || len(rs[1].Lines) != 3 {
		t.Fatalf("refunds %+v, want a cancellation refund of 56.75 over 3 lines", rs)
	}
	if job := e.refundJob(t, rs[1].ID); job.Amount != 56_75 {
		t.Errorf("cancellation refund job %+v", job)
	}
	// Every unit is back: 1 + 2 + 1, the one refunded without restock too.
	for _, l := range ls {
		e.wantStock(t, *l.ProductID, stock{OnHand: 5, Reserved: 0, Available: 5})
	}
}
