package e2e

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

const returnFields = `id returnNumber status customerNote staffNote order { orderNumber }
	lines { orderLine { id } quantity reason } refund { id status amount { amount } lines { quantity restocked } }`

type returnView struct {
	ID           string
	ReturnNumber string
	Status       string
	CustomerNote *string
	StaffNote    *string
	Order        struct{ OrderNumber string }
	Lines        []struct {
		OrderLine struct{ ID string }
		Quantity  int
		Reason    *string
	}
	Refund *struct {
		ID     string
		Status string
		Amount gqlMoney
		Lines  []struct {
			Quantity  int
			Restocked bool
		}
	}
}

type returnResult struct {
	Return     *returnView
	UserErrors []userError
}

// returnRequest asks for a return as token's caller (empty: anonymous).
func (s *e2eServer) returnRequest(t *testing.T, token string, input map[string]any) returnResult {
	t.Helper()
	var out struct{ ReturnRequest returnResult }
	s.gql(t, token, `mutation($input: ReturnRequestInput!) { returnRequest(input: $input) { return { `+returnFields+` }
		userErrors { field message code } } }`, map[string]any{"input": input}, &out)
	return out.ReturnRequest
}

// returnStep runs returnApprove, returnReject or returnReceive as staff;
// vars holds id, and note for the first two.
func (s *e2eServer) returnStep(t *testing.T, staff, field string, vars map[string]any) returnResult {
	t.Helper()
	decl, args := "$id: ID!", "id: $id"
	switch field {
	case "returnApprove":
		decl, args = decl+", $note: String", args+", note: $note"
	case "returnReject":
		decl, args = decl+", $note: String!", args+", note: $note"
	}
	var out map[string]returnResult
	s.gql(t, staff, `mutation(`+decl+`) { `+field+`(`+args+`) { return { `+returnFields+` } userErrors { field message code } } }`, vars, &out)
	return out[field]
}

// staffReturn reads a return as staff.
func (s *e2eServer) staffReturn(t *testing.T, staff, id string) returnView {
	t.Helper()
	var out struct{ Return *returnView }
	s.gql(t, staff, `query($id: ID!) { return(id: $id) { `+returnFields+` } }`, map[string]any{"id": id}, &out)
	if out.Return == nil {
		t.Fatalf("return %s not found", id)
	}
	return *out.Return
}

// guestOrderReturns reads the order's returns and returned quantities as
// the holder of its access token.
func (s *e2eServer) guestOrderReturns(t *testing.T, number, token string) ([]returnView, []int) {
	t.Helper()
	var out struct {
		Order *struct {
			Returns []returnView
			Lines   []struct{ ReturnedQuantity int }
		}
	}
	s.gql(t, "", `query($n: String!, $tok: String) { order(orderNumber: $n, accessToken: $tok) {
		returns { `+returnFields+` } lines { returnedQuantity } } }`, map[string]any{"n": number, "tok": token}, &out)
	if out.Order == nil {
		t.Fatalf("order %s not readable with its token", number)
	}
	var q []int
	for _, l := range out.Order.Lines {
		q = append(q, l.ReturnedQuantity)
	}
	return out.Order.Returns, q
}

// catalogStaff signs in a new STAFF member with CATALOG only (not ORDERS),
// invited by admin.
func catalogStaff(t *testing.T, s *e2eServer, deps e2eDeps, admin string) string {
	t.Helper()
	email := "catalog-" + randHex(6) + "@example.com"
	var inv struct {
		StaffUserCreate struct {
			StaffUser  *struct{ ID string }
			UserErrors []userError
		}
	}
	s.gql(t, admin, `mutation($in: StaffUserCreateInput!) { staffUserCreate(input: $in) { staffUser { id } userErrors { field code } } }`,
		map[string]any{"in": map[string]any{"email": email, "name": "Cataloguer", "role": "STAFF", "permissions": []string{"CATALOG"}}}, &inv)
	if inv.StaffUserCreate.StaffUser == nil {
		t.Fatalf("staffUserCreate: %+v", inv.StaffUserCreate.UserErrors)
	}
	var set struct{ StaffPasswordSet v2Auth }
	s.gql(t, "", `mutation($t: String!, $p: String!) { staffPasswordSet(token: $t, password: $p) { token userErrors { field code } } }`,
		map[string]any{"t": v2MailToken(t, deps, email, "staff account"), "p": "catalog-long-password"}, &set)
	if set.StaffPasswordSet.Token == nil {
		t.Fatalf("staffPasswordSet: %+v", set.StaffPasswordSet.UserErrors)
	}
	return *set.StaffPasswordSet.Token
}

// returnRows counts the order's returns in the database.
func returnRows(t *testing.T, orderID string) int {
	t.Helper()
	var n int
	if err := v2DB(t).QueryRow(context.Background(), `SELECT count(*) FROM returns WHERE order_id = $1`, orderID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func eventTypes(evs []orderEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

var returnNumberRE = regexp.MustCompile(`^RET-[0-9A-HJKMNP-TV-Z]{10}$`)

// TestE2EReturns: a paid 3-line order (10.00, 2 × 25.00, 7.50; tax 10 %,
// shipping 10.00) shipped in two parts. A guest with the access token asks
// to return one unit of line 2; staff approve and receive it: on hand up by
// one with a RETURN row, a refund of 27.50 that SUCCEEDS at stripe-mock,
// the return REFUNDED; the request, approval and refund emails in mailpit;
// each step on the timeline and seen by an orderStatusChanged subscriber.
// More than shipped is RETURN_QUANTITY_EXCEEDED, another shopper's order
// NOT_FOUND with nothing written, and a rejected return emails why.
func TestE2EReturns(t *testing.T) {
	deps := startDeps(t, true)
	srv := startServer(t, "returns", deps.env(t, nil))
	staff := srv.staffLogin(t)
	p1, p2, p3 := srv.createProduct(t, staff, "10.00", 5), srv.createProduct(t, staff, "25.00", 5), srv.createProduct(t, staff, "7.50", 5)
	email := buyerEmail()
	o, tok := srv.paidGuestOrder(t, staff, email, p1.ID, 1, p2.ID, 2, p3.ID, 1)
	s1 := srv.ship(t, staff, o.ID, "1Z-RET-1", "UPS", map[string]int{o.Lines[1].ID: 2})
	if len(s1.UserErrors) > 0 || s1.Order == nil || len(s1.Order.Fulfillments) != 1 {
		t.Fatalf("first shipment: %+v", s1)
	}
	if r := srv.ship(t, staff, o.ID, "1Z-RET-2", "UPS", nil); len(r.UserErrors) > 0 {
		t.Fatalf("second shipment: %+v", r.UserErrors)
	}
	feed := relSubscribe(t, srv, "", "orderStatusChanged",
		`subscription($n: String!, $tok: String) { orderStatusChanged(orderNumber: $n, accessToken: $tok) { orderNumber status paymentStatus missedEventsPossible } }`,
		map[string]any{"n": o.OrderNumber, "tok": tok})
	if first := feed.next(t, 10*time.Second, "the order's current state"); first.OrderNumber != o.OrderNumber {
		t.Fatalf("first message %+v", first)
	}
	// seen waits for the subscriber to see a change after a step.
	seen := func(step string) relEvent {
		t.Helper()
		return feed.next(t, 10*time.Second, step+" published to orderStatusChanged")
	}

	// Another shopper's token, a wrong email, and no proof at all: the same
	// NOT_FOUND as an unknown order, and nothing written.
	other, otherTok := srv.paidGuestOrder(t, staff, buyerEmail(), p1.ID, 1)
	line2 := map[string]any{"orderLineId": o.Lines[1].ID, "quantity": 1, "reason": "Too small"}
	for name, in := range map[string]map[string]any{
		"other token": {"orderNumber": o.OrderNumber, "accessToken": otherTok, "lines": []any{line2}},
		"other email": {"orderNumber": o.OrderNumber, "email": "someone-" + randHex(4) + "@example.com", "lines": []any{line2}},
		"no proof":    {"orderNumber": o.OrderNumber, "lines": []any{line2}},
		"unknown":     {"orderNumber": "ORD-0000000000", "accessToken": tok, "lines": []any{line2}},
	} {
		if r := srv.returnRequest(t, "", in); r.Return != nil || strings.Join(codesOf(r.UserErrors), ",") != "NOT_FOUND input.orderNumber" {
			t.Errorf("%s: %+v", name, r)
		}
	}
	// More than shipped.
	if r := srv.returnRequest(t, "", map[string]any{"orderNumber": o.OrderNumber, "accessToken": tok,
		"lines": []any{map[string]any{"orderLineId": o.Lines[1].ID, "quantity": 3}}}); r.Return != nil ||
		strings.Join(codesOf(r.UserErrors), ",") != "RETURN_QUANTITY_EXCEEDED input.lines.0.quantity" {
		t.Errorf("more than shipped: %+v", r)
	}
	if n := returnRows(t, o.ID) + returnRows(t, other.ID); n != 0 {
		t.Fatalf("%d returns written by refused requests", n)
	}

	// The guest asks, with the token (the email's case does not matter
	// either, but the token is what the storefront keeps).
	req := srv.returnRequest(t, "", map[string]any{"orderNumber": strings.ToLower(o.OrderNumber), "accessToken": tok,
		"lines": []any{line2}, "note": "Sorry"})
	if req.Return == nil || len(req.UserErrors) > 0 {
		t.Fatalf("returnRequest: %+v", req.UserErrors)
	}
	rt := *req.Return
	if !returnNumberRE.MatchString(rt.ReturnNumber) || rt.Status != "REQUESTED" || rt.Order.OrderNumber != o.OrderNumber ||
		len(rt.Lines) != 1 || rt.Lines[0].Quantity != 1 || rt.Refund != nil {
		t.Errorf("requested: %+v", rt)
	}
	seen("returnRequest")
	waitForMail(t, deps.mail, email, 20*time.Second, "Return "+rt.ReturnNumber+" requested", o.OrderNumber)
	if rs, q := srv.guestOrderReturns(t, o.OrderNumber, tok); len(rs) != 1 || rs[0].ID != rt.ID || !slices.Equal(q, []int{0, 1, 0}) {
		t.Errorf("the token holder sees returns %+v, returned quantities %v", rs, q)
	}

	// Receiving before approval is refused; approval, then receipt.
	if r := srv.returnStep(t, staff, "returnReceive", map[string]any{"id": rt.ID}); r.Return != nil ||
		strings.Join(codesOf(r.UserErrors), ",") != "INVALID id" {
		t.Errorf("receive before approval: %+v", r)
	}
	if r := srv.returnStep(t, staff, "returnApprove", map[string]any{"id": rt.ID, "note": "Use the prepaid label"}); r.Return == nil ||
		r.Return.Status != "APPROVED" || r.Return.StaffNote == nil {
		t.Fatalf("approve: %+v", r)
	}
	seen("returnApprove")
	approved := waitForMail(t, deps.mail, email, 20*time.Second, "Return "+rt.ReturnNumber+" approved")
	if full := deps.mail.Message(t, approved.ID); !strings.Contains(full.Text, "Use the prepaid label") {
		t.Errorf("approval email lacks the note:\n%s", full.Text)
	}

	onHand := srv.product(t, staff, p2.ID).InventoryQuantity
	rec := srv.returnStep(t, staff, "returnReceive", map[string]any{"id": rt.ID})
	if rec.Return == nil || rec.Return.Status != "RECEIVED" || rec.Return.Refund == nil || rec.Return.Refund.Amount.Amount != "27.50" ||
		len(rec.Return.Refund.Lines) != 1 || !rec.Return.Refund.Lines[0].Restocked {
		t.Fatalf("receive: %+v", rec)
	}
	// The refund and the receipt each publish the order's status.
	for _, step := range []string{"returnReceive's refund", "returnReceive"} {
		if e := seen(step); e.PaymentStatus != "PARTIALLY_REFUNDED" {
			t.Errorf("after %s the subscriber saw %+v", step, e)
		}
	}
	st := srv.product(t, staff, p2.ID)
	returns := 0
	for _, row := range st.ledger() {
		if row.Type == "RETURN" && row.ReferenceID != nil && *row.ReferenceID == o.ID {
			returns++
		}
	}
	if returns != 1 || st.InventoryQuantity != onHand+1 {
		t.Errorf("%d RETURN rows, on hand %d; want 1, %d", returns, st.InventoryQuantity, onHand+1)
	}
	checkLedger(t, st)

	// The refund job runs at stripe-mock; its success makes the return REFUNDED.
	deadline := time.Now().Add(20 * time.Second)
	got := srv.staffReturn(t, staff, rt.ID)
	for got.Status != "REFUNDED" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		got = srv.staffReturn(t, staff, rt.ID)
	}
	if got.Status != "REFUNDED" || got.Refund == nil || got.Refund.Status != "SUCCEEDED" {
		t.Fatalf("after the refund job: %+v", got)
	}
	seen("the refund's success")
	waitForMail(t, deps.mail, email, 20*time.Second, "Return "+rt.ReturnNumber+": refund of 27.50 USD", o.OrderNumber)
	// A second receipt changes nothing.
	if r := srv.returnStep(t, staff, "returnReceive", map[string]any{"id": rt.ID}); r.Return != nil ||
		strings.Join(codesOf(r.UserErrors), ",") != "INVALID id" {
		t.Errorf("second receipt: %+v", r)
	}
	after := srv.refundOrder(t, staff, o.OrderNumber)
	if len(after.Refunds) != 1 || after.PaymentStatus != "PARTIALLY_REFUNDED" {
		t.Errorf("refunds %+v, payment %s", after.Refunds, after.PaymentStatus)
	}
	types := eventTypes(after.Events)
	for _, want := range []string{"RETURN_REQUESTED", "RETURN_APPROVED", "RETURN_RECEIVED", "RETURN_REFUNDED"} {
		if !slices.Contains(types, want) {
			t.Errorf("timeline %v lacks %s", types, want)
		}
	}

	// node(id) reads the return and its refund for staff; anyone else, a
	// signed-in shopper and staff without ORDERS included, gets NOT_FOUND
	// for the return, the refund and the shipment alike (the shipment's
	// lines are the order's). A reader with the email alone sees no returns.
	nodeQuery := `query($id: ID!) { node(id: $id) { id ... on Refund { amount { amount } status } ... on Return { returnNumber } } }`
	var staffNode struct {
		Node *struct {
			ID, Status, ReturnNumber string
			Amount                   *gqlMoney
		}
	}
	srv.gql(t, staff, nodeQuery, map[string]any{"id": got.Refund.ID}, &staffNode)
	if staffNode.Node == nil || staffNode.Node.ID != got.Refund.ID || staffNode.Node.Amount == nil ||
		staffNode.Node.Amount.Amount != "27.50" || staffNode.Node.Status != "SUCCEEDED" {
		t.Errorf("node(refund id) for staff: %+v", staffNode.Node)
	}
	srv.gql(t, staff, nodeQuery, map[string]any{"id": rt.ID}, &staffNode)
	if staffNode.Node == nil || staffNode.Node.ReturnNumber != rt.ReturnNumber {
		t.Errorf("node(return id) for staff: %+v", staffNode.Node)
	}
	shopper, _ := accRegisterCustomer(t, srv, buyerEmail(), "a-long-password", "Eve")
	for _, caller := range []string{"", shopper, catalogStaff(t, srv, deps, staff)} {
		for _, id := range []string{rt.ID, got.Refund.ID, s1.Order.Fulfillments[0].ID} {
			r := srv.do(t, caller, nodeQuery, map[string]any{"id": id})
			if !slices.Equal(r.codes(), []string{"NOT_FOUND"}) || strings.Contains(string(r.Data), id) {
				t.Errorf("node(%s) for caller %q: %s %v", id, caller, r.Data, r.codes())
			}
		}
	}
	var byEmail struct {
		Order *struct{ Returns []struct{ ID string } }
	}
	srv.gql(t, "", `query($n: String!, $e: String) { order(orderNumber: $n, email: $e) { returns { id } } }`,
		map[string]any{"n": o.OrderNumber, "e": email}, &byEmail)
	if byEmail.Order == nil || len(byEmail.Order.Returns) != 0 {
		t.Errorf("returns read with the email alone: %+v", byEmail.Order)
	}

	// A second return of the other shipped unit, rejected with a reason.
	req2 := srv.returnRequest(t, "", map[string]any{"orderNumber": o.OrderNumber, "email": " " + strings.ToUpper(email) + " ",
		"lines": []any{map[string]any{"orderLineId": o.Lines[1].ID, "quantity": 1}}})
	if req2.Return == nil {
		t.Fatalf("second request: %+v", req2.UserErrors)
	}
	seen("the second returnRequest")
	if r := srv.returnStep(t, staff, "returnReject", map[string]any{"id": req2.Return.ID, "note": "Worn items cannot be returned"}); r.Return == nil ||
		r.Return.Status != "REJECTED" {
		t.Fatalf("reject: %+v", r)
	}
	seen("returnReject")
	rejected := waitForMail(t, deps.mail, email, 20*time.Second, "Return "+req2.Return.ReturnNumber, "not accepted")
	if full := deps.mail.Message(t, rejected.ID); !strings.Contains(full.Text, "Worn items cannot be returned") {
		t.Errorf("rejection email lacks the reason:\n%s", full.Text)
	}
	if types := eventTypes(srv.refundOrder(t, staff, o.OrderNumber).Events); !slices.Contains(types, "RETURN_REJECTED") {
		t.Errorf("timeline %v lacks RETURN_REJECTED", types)
	}

	// The staff queue.
	var list struct {
		Returns struct {
			TotalCount int
			Edges      []struct{ Node struct{ ID, Status string } }
		}
	}
	srv.gql(t, staff, `{ returns(first: 100, status: REJECTED) { totalCount edges { node { id status } } } }`, nil, &list)
	if list.Returns.TotalCount < 1 || !slices.ContainsFunc(list.Returns.Edges, func(e struct{ Node struct{ ID, Status string } }) bool {
		return e.Node.ID == req2.Return.ID
	}) {
		t.Errorf("returns(status: REJECTED): %+v", list.Returns)
	}
	// Anonymous callers may not approve.
	if resp := srv.do(t, "", `mutation($id: ID!) { returnApprove(id: $id) { userErrors { code } } }`, map[string]any{"id": rt.ID}); len(resp.codes()) == 0 {
		t.Error("an anonymous returnApprove was not refused")
	}
}

// TestE2EReturnWindow: with RETURN_WINDOW=2s, a request made after the
// window since the shipment is RETURN_WINDOW_EXPIRED, and nothing is written.
func TestE2EReturnWindow(t *testing.T) {
	deps := startDeps(t, true)
	srv := startServer(t, "return-window", deps.env(t, map[string]string{"RETURN_WINDOW": "2s"}))
	staff := srv.staffLogin(t)
	p := srv.createProduct(t, staff, "10.00", 5)
	o, tok := srv.paidGuestOrder(t, staff, buyerEmail(), p.ID, 1)
	if r := srv.ship(t, staff, o.ID, "1Z-WIN", "UPS", nil); len(r.UserErrors) > 0 {
		t.Fatalf("ship: %+v", r.UserErrors)
	}
	time.Sleep(2500 * time.Millisecond)
	r := srv.returnRequest(t, "", map[string]any{"orderNumber": o.OrderNumber, "accessToken": tok,
		"lines": []any{map[string]any{"orderLineId": o.Lines[0].ID, "quantity": 1}}})
	if r.Return != nil || strings.Join(codesOf(r.UserErrors), ",") != "RETURN_WINDOW_EXPIRED input.lines.0" {
		t.Errorf("after the window: %+v", r)
	}
	if n := returnRows(t, o.ID); n != 0 {
		t.Errorf("%d returns written", n)
	}
}
