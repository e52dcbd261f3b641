package orders_test

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/money"
	"commerce/internal/orders"
)

// shipAgo ships units of the order through Fulfill, then dates the
// shipment ago in the past.
func (e *env) shipAgo(t *testing.T, orderID string, ago time.Duration, units map[string]int) {
	t.Helper()
	var lines []orders.FulfillLineInput
	for id, q := range units {
		lines = append(lines, orders.FulfillLineInput{OrderLineID: id, Quantity: q})
	}
	e.ship(t, orderID, uniq("TRK"), lines...)
	if _, err := e.db.SQL.Exec(`UPDATE fulfillments SET shipped_at = now() - make_interval(secs => $2)
		WHERE id = (SELECT id FROM fulfillments WHERE order_id = $1 ORDER BY shipped_at DESC, id DESC LIMIT 1)`,
		orderID, ago.Seconds()); err != nil {
		t.Fatal(err)
	}
}

func returnLine(l *orders.Line, q int) orders.ReturnLineInput {
	return orders.ReturnLineInput{OrderLineID: l.ID, Quantity: q}
}

// guestReturn asks, as the guest holding the order's access token, to
// return lines of o.
func (e *env) guestReturn(o *orders.Order, lines ...orders.ReturnLineInput) (*orders.Return, error) {
	return e.svc.RequestReturn(context.Background(), auth.Principal{}, orders.ReturnRequestInput{OrderNumber: o.Number,
		AccessToken: ptr(token(o.ID)), Lines: lines})
}

// approvedReturn is guestReturn then ApproveReturn, failing the test on
// either error.
func (e *env) approvedReturn(t *testing.T, o *orders.Order, lines ...orders.ReturnLineInput) *orders.Return {
	t.Helper()
	r, err := e.guestReturn(o, lines...)
	if err != nil {
		t.Fatal(err)
	}
	if r, err = e.svc.ApproveReturn(context.Background(), r.ID, nil); err != nil {
		t.Fatal(err)
	}
	return r
}

func (e *env) returnedQuantities(t *testing.T, orderID string) []int {
	t.Helper()
	ls, err := e.svc.Lines(context.Background(), []string{orderID})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int, len(ls[0]))
	for i, l := range ls[0] {
		out[i] = l.ReturnedQuantity
	}
	return out
}

var returnNumber = regexp.MustCompile(`^RET-[0-9A-HJKMNP-TV-Z]{10}$`)

// TestReturnFlow: a guest with the access token asks to return one unit of
// line 2; staff approve and receive it (restock and refund): one RETURN
// row, the refund of what the unit was paid (27.50), and once the provider
// confirms, the return is REFUNDED. Each step has its event and its email
// (return-refunded instead of order-refunded).
func TestReturnFlow(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	o, ls := e.paidOrder(t)
	e.shipAgo(t, o.ID, time.Hour, map[string]int{ls[0].ID: 1, ls[1].ID: 2, ls[2].ID: 1})

	r, err := e.svc.RequestReturn(ctx, auth.Principal{}, orders.ReturnRequestInput{
		OrderNumber: " " + strings.ToLower(o.Number) + " ", AccessToken: ptr(token(o.ID)),
		Lines: []orders.ReturnLineInput{{OrderLineID: strings.ToUpper(ls[1].ID), Quantity: 1, Reason: ptr("  Too small ")}},
		Note:  ptr("Sorry"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !returnNumber.MatchString(r.Number) || r.Status != orders.ReturnRequested || r.OrderID != o.ID ||
		len(r.Lines) != 1 || r.Lines[0].OrderLineID != ls[1].ID || *r.Lines[0].Reason != "Too small" || *r.CustomerNote != "Sorry" {
		t.Errorf("return %+v", r)
	}
	if got := e.returnedQuantities(t, o.ID); got[1] != 1 || got[0] != 0 {
		t.Errorf("returned quantities %v", got)
	}
	if n := e.notifications(t, "return-requested", o); n != 1 {
		t.Errorf("%d return-requested emails", n)
	}

	// Receiving before approval is refused.
	_, err = e.svc.ReceiveReturn(ctx, r.ID, true, true)
	wantUserErrors(t, err, "INVALID id")

	r, err = e.svc.ApproveReturn(ctx, r.ID, ptr("Use the label"))
	if err != nil || r.Status != orders.ReturnApproved || *r.StaffNote != "Use the label" {
		t.Fatalf("approve: %+v, %v", r, err)
	}
	before := e.stock(t, *ls[1].ProductID)
	r, err = e.svc.ReceiveReturn(ctx, r.ID, true, true)
	if err != nil || r.Status != orders.ReturnReceived || r.RefundID == nil {
		t.Fatalf("receive: %+v, %v", r, err)
	}
	rs := e.refunds(t, o.ID)
	if len(rs) != 1 || rs[0].ID != *r.RefundID || rs[0].Amount != money.New(27_50, currency) || len(rs[0].Lines) != 1 ||
		!rs[0].Lines[0].Restocked || rs[0].Lines[0].Quantity != 1 {
		t.Errorf("refunds %+v", rs)
	}
	if after := e.stock(t, *ls[1].ProductID); after.OnHand != before.OnHand+1 {
		t.Errorf("on hand %d, want %d", after.OnHand, before.OnHand+1)
	}
	if l := e.ledger(t, o.ID); count(l, "RETURN +1") != 1 {
		t.Errorf("ledger %q, want one RETURN +1", l)
	}
	// A second receipt is refused: the refund is not made twice.
	_, err = e.svc.ReceiveReturn(ctx, r.ID, true, true)
	wantUserErrors(t, err, "INVALID id")

	job := e.refundJob(t, *r.RefundID)
	if job.Key != "refund-"+*r.RefundID {
		t.Errorf("job key %s", job.Key)
	}
	if err := e.svc.Refund(ctx, job); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.ReturnsByIDs(ctx, []string{r.ID})
	if err != nil || got[0].Status != orders.ReturnRefunded {
		t.Errorf("after the refund: %+v, %v", got[0], err)
	}
	for tmpl, want := range map[string]int{"return-approved": 1, "return-refunded": 1, "order-refunded": 0} {
		if n := e.notifications(t, tmpl, o); n != want {
			t.Errorf("%d %s emails, want %d", n, tmpl, want)
		}
	}
	evs := e.events(t, o.ID)
	for _, typ := range []string{orders.EventReturnRequested, orders.EventReturnApproved, orders.EventReturnReceived, orders.EventReturnRefunded} {
		if count(evs, typ) != 1 {
			t.Errorf("events %q lack one %s", evs, typ)
		}
	}
	byOrder, err := e.svc.Returns(ctx, []string{o.ID, o.ID})
	if err != nil || len(byOrder[0]) != 1 || byOrder[0][0].ID != r.ID {
		t.Errorf("returns of the order: %+v, %v", byOrder, err)
	}
}

// TestReturnRequestRules: someone else's order is NOT_FOUND whatever they
// hold and writes nothing; units beyond those shipped (or in another
// return) are RETURN_QUANTITY_EXCEEDED; a line shipped longer ago than the
// window is RETURN_WINDOW_EXPIRED; a rejected return frees its units.
func TestReturnRequestRules(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	o, ls := e.paidOrder(t)
	e.shipAgo(t, o.ID, 31*24*time.Hour, map[string]int{ls[2].ID: 1})
	e.shipAgo(t, o.ID, time.Hour, map[string]int{ls[1].ID: 1})
	req := func(p auth.Principal, email, tok *string, lines ...orders.ReturnLineInput) (*orders.Return, error) {
		return e.svc.RequestReturn(ctx, p, orders.ReturnRequestInput{OrderNumber: o.Number, Email: email, AccessToken: tok, Lines: lines})
	}
	email := ptr(" " + strings.ToUpper(o.Email) + " ")

	for name, try := range map[string]func() error{
		"nothing": func() error { _, err := req(auth.Principal{}, nil, nil, returnLine(ls[1], 1)); return err },
		"wrong email": func() error {
			_, err := req(auth.Principal{}, ptr("x@example.com"), nil, returnLine(ls[1], 1))
			return err
		},
		"wrong token":   func() error { _, err := req(auth.Principal{}, nil, ptr("nope"), returnLine(ls[1], 1)); return err },
		"other shopper": func() error { _, err := req(e.account(t), nil, nil, returnLine(ls[1], 1)); return err },
		"unknown number": func() error {
			_, err := e.svc.RequestReturn(ctx, auth.Principal{}, orders.ReturnRequestInput{OrderNumber: "ORD-0000000000",
				Email: email, Lines: []orders.ReturnLineInput{returnLine(ls[1], 1)}})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) { wantUserErrors(t, try(), "NOT_FOUND input.orderNumber") })
	}
	if n := e.count(t, `SELECT count(*) FROM returns WHERE order_id = $1`, o.ID); n != 0 {
		t.Fatalf("%d returns written by refused requests", n)
	}

	_, err := req(auth.Principal{}, email, nil, returnLine(ls[1], 2))
	wantUserErrors(t, err, "RETURN_QUANTITY_EXCEEDED input.lines.0.quantity")
	_, err = req(auth.Principal{}, email, nil, returnLine(ls[1], 1), returnLine(ls[0], 1))
	wantUserErrors(t, err, "RETURN_QUANTITY_EXCEEDED input.lines.1.quantity")
	_, err = req(auth.Principal{}, email, nil, returnLine(ls[2], 1))
	wantUserErrors(t, err, "RETURN_WINDOW_EXPIRED input.lines.0")
	_, err = req(auth.Principal{}, email, nil, returnLine(ls[1], 1), returnLine(ls[1], 1))
	wantUserErrors(t, err, "INVALID input.lines.1.orderLineId")
	_, err = req(auth.Principal{}, email, nil)
	wantUserErrors(t, err, "INVALID input.lines")
	if n := e.count(t, `SELECT count(*) FROM returns WHERE order_id = $1`, o.ID); n != 0 {
		t.Fatalf("%d returns written by refused requests", n)
	}

	staff := auth.Principal{ID: "00000000-0000-0000-0000-000000000001", Role: auth.Admin}
	r, err := req(staff, nil, nil, returnLine(ls[1], 1))
	if err != nil {
		t.Fatal(err)
	}
	_, err = req(auth.Principal{}, email, nil, returnLine(ls[1], 1))
	wantUserErrors(t, err, "RETURN_QUANTITY_EXCEEDED input.lines.0.quantity")
	_, err = e.svc.RejectReturn(ctx, r.ID, "  ")
	wantUserErrors(t, err, "INVALID note")
	if r, err = e.svc.RejectReturn(ctx, r.ID, "Worn"); err != nil || r.Status != orders.ReturnRejected {
		t.Fatalf("reject: %+v, %v", r, err)
	}
	if n := e.notifications(t, "return-rejected", o); n != 1 {
		t.Errorf("%d return-rejected emails", n)
	}
	_, err = e.svc.ApproveReturn(ctx, r.ID, nil)
	wantUserErrors(t, err, "INVALID id")
	if _, err := req(auth.Principal{}, email, nil, returnLine(ls[1], 1)); err != nil {
		t.Errorf("after the rejection: %v", err)
	}
	_, err = e.svc.ApproveReturn(ctx, "00000000-0000-0000-0000-000000000000", nil)
	wantUserErrors(t, err, "NOT_FOUND id")
}

// TestReturnConcurrent: ten requests at once for one unit each of a line
// that shipped two: two returns, eight RETURN_QUANTITY_EXCEEDED.
func TestReturnConcurrent(t *testing.T) {
	e := setup(t)
	o, ls := e.paidOrder(t)
	e.shipAgo(t, o.ID, time.Hour, map[string]int{ls[1].ID: 2})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, exceeded := 0, 0
	for range 10 {
		wg.Go(func() {
			_, err := e.guestReturn(o, returnLine(ls[1], 1))
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else if ae, _ := apperr.UserErrors(err); len(ae) == 1 && ae[0].UserCode() == "RETURN_QUANTITY_EXCEEDED" {
				exceeded++
			} else {
				t.Errorf("request: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 2 || exceeded != 8 {
		t.Errorf("%d returns, %d exceeded; want 2, 8", ok, exceeded)
	}
}

// TestReturnReceiveWithoutRefund: received without restock nor refund, a
// return is RECEIVED for good: no refund, no ledger row. Units refunded
// before the return are not refunded again; with restock they go back to
// stock all the same. The staff list filters by status and counts.
func TestReturnReceiveWithoutRefund(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	o, ls := e.paidOrder(t)
	e.shipAgo(t, o.ID, time.Hour, map[string]int{ls[0].ID: 1, ls[1].ID: 2})
	r := e.approvedReturn(t, o, returnLine(ls[0], 1))
	if r, err := e.svc.ReceiveReturn(ctx, r.ID, false, false); err != nil || r.Status != orders.ReturnReceived || r.RefundID != nil {
		t.Fatalf("receive: %+v, %v", r, err)
	}
	if n := len(e.refunds(t, o.ID)); n != 0 || count(e.ledger(t, o.ID), "RETURN +1") != 0 {
		t.Errorf("%d refunds, ledger %q", n, e.ledger(t, o.ID))
	}

	if _, _, err := e.svc.CreateRefund(ctx, o.ID, orders.RefundInput{
		Lines: []orders.RefundLineInput{{OrderLineID: ls[1].ID, Quantity: 1}}, IdempotencyKey: "before"}); err != nil {
		t.Fatal(err)
	}
	r2 := e.approvedReturn(t, o, returnLine(ls[1], 2))
	r2, err := e.svc.ReceiveReturn(ctx, r2.ID, true, true)
	if err != nil || r2.RefundID == nil {
		t.Fatalf("receive: %+v, %v", r2, err)
	}
	rs := e.refunds(t, o.ID)
	if len(rs) != 2 || rs[1].Lines[0].Quantity != 1 || rs[1].Amount != money.New(27_50, currency) {
		t.Errorf("the return's refund %+v", rs[len(rs)-1])
	}
	if l := e.ledger(t, o.ID); count(l, "RETURN +1") != 2 {
		t.Errorf("ledger %q, want two RETURN +1", l)
	}

	st := orders.ReturnReceived
	p, err := e.svc.ListReturns(ctx, &st, ptr(1), "")
	if err != nil || len(p.Returns) != 1 || !p.HasNextPage {
		t.Fatalf("list: %+v, %v", p, err)
	}
	next, err := e.svc.ListReturns(ctx, &st, ptr(50), p.Cursors[0])
	if err != nil || len(next.Returns) == 0 || next.Returns[0].ID == p.Returns[0].ID {
		t.Errorf("next page: %+v, %v", next, err)
	}
	if n, err := e.svc.CountReturns(ctx, &st); err != nil || n < 2 {
		t.Errorf("count %d, %v", n, err)
	}
}

// TestReturnOfPartlyShippedOrder: the refund of a returned unit is of a
// shipped unit, so it holds back none of the units still to ship: the order
// stays PARTIALLY_FULFILLED and the rest ships.
func TestReturnOfPartlyShippedOrder(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	o, ls := e.paidOrder(t)
	e.shipAgo(t, o.ID, time.Hour, map[string]int{ls[1].ID: 1})
	r := e.approvedReturn(t, o, returnLine(ls[1], 1))
	if r, err := e.svc.ReceiveReturn(ctx, r.ID, true, true); err != nil || r.RefundID == nil {
		t.Fatalf("receive: %+v, %v", r, err)
	}
	if got := e.byID(t, o.ID); got.FulfillmentStatus != orders.PartiallyShipped || got.Status != orders.Processing {
		t.Errorf("after the return's refund: %s, %s; want PROCESSING, PARTIALLY_FULFILLED", got.Status, got.FulfillmentStatus)
	}
	if got := e.ship(t, o.ID, "TRK-REST"); got.FulfillmentStatus != orders.Shipped {
		t.Errorf("after shipping the rest: %s", got.FulfillmentStatus)
	}
	if got := e.shippedUnits(t, o.ID); got[1] != 2 {
		t.Errorf("shipped units %v, want both units of line 2", got)
	}
}

// TestReturnByOwner: the signed-in owner asks without email or token;
// another signed-in customer gets NOT_FOUND.
func TestReturnByOwner(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	owner := e.account(t)
	in := input(line(e.product(t, "10.00", 5), 1))
	in.Caller = owner
	o := e.checkout(t, in).Order
	e.pay(t, o)
	e.ship(t, o.ID, "TRK-OWN")
	ls, err := e.svc.Lines(ctx, []string{o.ID})
	if err != nil {
		t.Fatal(err)
	}
	req := orders.ReturnRequestInput{OrderNumber: o.Number, Lines: []orders.ReturnLineInput{returnLine(&ls[0][0], 1)}}
	_, err = e.svc.RequestReturn(ctx, e.account(t), req)
	wantUserErrors(t, err, "NOT_FOUND input.orderNumber")
	if r, err := e.svc.RequestReturn(ctx, owner, req); err != nil || r.Status != orders.ReturnRequested {
		t.Errorf("the owner's request: %+v, %v", r, err)
	}
}

// TestReturnWindowPerUnit: a line shipped in two parts, one older than the
// window: its old unit may not be returned along with the recent one
// (RETURN_WINDOW_EXPIRED, nothing written); the recent one may.
func TestReturnWindowPerUnit(t *testing.T) {
	e := setup(t)
	o, ls := e.paidOrder(t)
	e.shipAgo(t, o.ID, 31*24*time.Hour, map[string]int{ls[1].ID: 1})
	e.shipAgo(t, o.ID, time.Hour, map[string]int{ls[1].ID: 1})
	req := func(q int) error {
		_, err := e.guestReturn(o, returnLine(ls[1], q))
		return err
	}
	wantUserErrors(t, req(2), "RETURN_WINDOW_EXPIRED input.lines.0")
	if n := e.count(t, `SELECT count(*) FROM returns WHERE order_id = $1`, o.ID); n != 0 {
		t.Fatalf("%d returns written by a refused request", n)
	}
	if err := req(1); err != nil {
		t.Fatalf("the unit shipped within the window: %v", err)
	}
}

// TestReturnReceiveConcurrent: five receipts of one approved return at
// once: one receives it, four are INVALID; one refund, one RETURN row.
func TestReturnReceiveConcurrent(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	o, ls := e.paidOrder(t)
	e.shipAgo(t, o.ID, time.Hour, map[string]int{ls[1].ID: 2})
	r := e.approvedReturn(t, o, returnLine(ls[1], 1))
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, refused := 0, 0
	for range 5 {
		wg.Go(func() {
			_, err := e.svc.ReceiveReturn(ctx, r.ID, true, true)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else if ae, _ := apperr.UserErrors(err); len(ae) == 1 && ae[0].UserCode() == "INVALID" {
				refused++
			} else {
				t.Errorf("receive: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || refused != 4 {
		t.Errorf("%d receipts, %d refused; want 1, 4", ok, refused)
	}
	if rs := e.refunds(t, o.ID); len(rs) != 1 || rs[0].Amount != money.New(27_50, currency) {
		t.Errorf("refunds %+v, want one of 27.50", rs)
	}
	if l := e.ledger(t, o.ID); count(l, "RETURN +1") != 1 {
		t.Errorf("ledger %q, want one RETURN +1", l)
	}
}

// TestReturnOfUnitsRestockedByARefund: both shipped units of a line were
// refunded with restock before their return came back; receiving the
// return with restock puts nothing back a second time.
func TestReturnOfUnitsRestockedByARefund(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	o, ls := e.paidOrder(t)
	e.shipAgo(t, o.ID, time.Hour, map[string]int{ls[1].ID: 2})
	if _, _, err := e.svc.CreateRefund(ctx, o.ID, orders.RefundInput{IdempotencyKey: "goodwill",
		Lines: []orders.RefundLineInput{{OrderLineID: ls[1].ID, Quantity: 2, Restock: true}}}); err != nil {
		t.Fatal(err)
	}
	before := e.stock(t, *ls[1].ProductID)
	r := e.approvedReturn(t, o, returnLine(ls[1], 2))
	if r, err := e.svc.ReceiveReturn(ctx, r.ID, true, true); err != nil || r.Status != orders.ReturnReceived || r.RefundID != nil {
		t.Fatalf("receive: %+v, %v", r, err)
	}
	if after := e.stock(t, *ls[1].ProductID); after.OnHand != before.OnHand {
		t.Errorf("on hand %d after the receipt, want %d: the refund restocked these units already", after.OnHand, before.OnHand)
	}
}
