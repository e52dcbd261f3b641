package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"commerce/internal/platform/stripetest"
)

// refundFields are what the after-sale tests read of an order.
const refundOrderFields = `id orderNumber status paymentStatus stripePaymentIntentId customer { id }
	total { amount currencyCode } refundedAmount { amount } refundableAmount { amount }
	lines { id sku quantity refundedQuantity }
	refunds { id amount { amount } status includesShipping reason lines { orderLine { id } quantity restocked } }
	events { type message }`

type refundView struct {
	ID               string
	Amount           gqlMoney
	Status           string
	IncludesShipping bool
	Reason           *string
	Lines            []struct {
		OrderLine struct{ ID string }
		Quantity  int
		Restocked bool
	}
}

type refundOrder struct {
	ID                    string
	OrderNumber           string
	Status                string
	PaymentStatus         string
	StripePaymentIntentID *string
	Customer              *struct{ ID string }
	Total                 gqlMoney
	RefundedAmount        gqlMoney
	RefundableAmount      gqlMoney
	Lines                 []struct {
		ID               string
		SKU              string
		Quantity         int
		RefundedQuantity int
	}
	Refunds []refundView
	Events  []orderEvent
}

type refundResult struct {
	Order      *refundOrder
	Refund     *refundView
	UserErrors []userError
}

const orderRefundMutation = `mutation($id: ID!, $input: OrderRefundInput!) { orderRefund(id: $id, input: $input) {
	order { ` + refundOrderFields + ` } refund { id amount { amount } status includesShipping reason
	lines { orderLine { id } quantity restocked } } userErrors { field message code } } }`

func (s *e2eServer) refundOrder(t *testing.T, staff, number string) refundOrder {
	t.Helper()
	var out struct{ Order *refundOrder }
	s.gql(t, staff, `query($n: String!) { order(orderNumber: $n) { `+refundOrderFields+` } }`, map[string]any{"n": number}, &out)
	if out.Order == nil {
		t.Fatalf("order %s not found", number)
	}
	return *out.Order
}

func (s *e2eServer) orderRefund(t *testing.T, staff, orderID string, input map[string]any) refundResult {
	t.Helper()
	var out struct{ OrderRefund refundResult }
	s.gql(t, staff, orderRefundMutation, map[string]any{"id": orderID, "input": input}, &out)
	return out.OrderRefund
}

// paidOrderOf places an order of the products in this order (id →
// quantity pairs) and pays it through the signed Stripe webhook.
func (s *e2eServer) paidOrderOf(t *testing.T, staff, email string, lines ...any) refundOrder {
	t.Helper()
	o, _ := s.paidGuestOrder(t, staff, email, lines...)
	return o
}

// paidGuestOrder is paidOrderOf that also returns the order's access token.
func (s *e2eServer) paidGuestOrder(t *testing.T, staff, email string, lines ...any) (refundOrder, string) {
	t.Helper()
	var in []map[string]any
	for i := 0; i < len(lines); i += 2 {
		in = append(in, map[string]any{"productId": lines[i], "quantity": lines[i+1]})
	}
	var co struct{ Checkout checkoutResult }
	s.gql(t, "", checkoutMutation, map[string]any{"input": map[string]any{
		"lines": in, "email": email, "shippingAddress": shippingAddress(), "idempotencyKey": "e2e-as-" + randHex(8),
	}}, &co)
	if co.Checkout.Order == nil || co.Checkout.OrderAccessToken == nil || len(co.Checkout.UserErrors) > 0 {
		t.Fatalf("checkout: %+v", co.Checkout.UserErrors)
	}
	o := s.waitOrder(t, staff, co.Checkout.Order.OrderNumber, 10*time.Second, "with an intent", func(o e2eOrder) bool {
		return o.StripePaymentIntentID != nil
	})
	obj := stripetest.PaymentIntentObject(*o.StripePaymentIntentID, o.ID, o.OrderNumber, cents(t, o.Total.Amount), "usd")
	if code := s.sendEvent(t, "payment_intent.succeeded", obj); code != http.StatusOK {
		t.Fatalf("payment_intent.succeeded: %d", code)
	}
	s.waitOrder(t, staff, o.OrderNumber, 10*time.Second, "PAID", func(o e2eOrder) bool { return o.PaymentStatus == "PAID" })
	return s.refundOrder(t, staff, o.OrderNumber), *co.Checkout.OrderAccessToken
}

// waitRefunds polls the order until every refund is out of PENDING.
func (s *e2eServer) waitRefunds(t *testing.T, staff, number string) refundOrder {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		o := s.refundOrder(t, staff, number)
		done := true
		for _, r := range o.Refunds {
			done = done && r.Status != "PENDING"
		}
		if done {
			// Read again: the order's fields and its refunds come from
			// separate statements, so the read that saw the refund end may
			// have read the order just before the job's commit.
			return s.refundOrder(t, staff, number)
		}
		if time.Now().After(deadline) {
			t.Fatalf("refunds of %s still pending: %+v", number, o.Refunds)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func codesOf(ues []userError) []string {
	out := make([]string, len(ues))
	for i, u := range ues {
		out[i] = u.Code + " " + strings.Join(u.Field, ".")
	}
	return out
}

// TestE2ERefunds: a paid 3-line order (10.00, 2 × 25.00, 7.50; tax 10 %,
// shipping 10.00: 84.25). One unit of line 2 refunded with restock is what
// it was paid, 27.50 (tax share included): PARTIALLY_REFUNDED, one RETURN
// row, on hand up by one, totalSpent down, the refund SUCCEEDED at
// stripe-mock and its email in mailpit. The rest with shipping (56.75):
// REFUNDED, refundableAmount 0; a further refund is REFUND_EXCEEDS_PAID.
// A charge.refunded for those refunds changes nothing.
func TestE2ERefunds(t *testing.T) {
	deps := startDeps(t, true)
	srv := startServer(t, "refunds", deps.env(t, nil))
	staff := srv.staffLogin(t)
	p1, p2, p3 := srv.createProduct(t, staff, "10.00", 5), srv.createProduct(t, staff, "25.00", 5), srv.createProduct(t, staff, "7.50", 5)
	email := buyerEmail()
	o := srv.paidOrderOf(t, staff, email, p1.ID, 1, p2.ID, 2, p3.ID, 1)
	if o.Total.Amount != "84.25" || o.RefundableAmount.Amount != "84.25" || o.RefundedAmount.Amount != "0.00" {
		t.Fatalf("paid order: total %s, refundable %s, refunded %s", o.Total.Amount, o.RefundableAmount.Amount, o.RefundedAmount.Amount)
	}
	spent := func() string {
		var out struct{ Customer struct{ TotalSpent gqlMoney } }
		srv.gql(t, staff, `query($id: ID!) { customer(id: $id) { totalSpent { amount } } }`, map[string]any{"id": o.Customer.ID}, &out)
		return out.Customer.TotalSpent.Amount
	}
	if got := spent(); got != "84.25" {
		t.Fatalf("totalSpent %s after payment", got)
	}
	onHand := srv.product(t, staff, p2.ID).InventoryQuantity

	r := srv.orderRefund(t, staff, o.ID, map[string]any{
		"lines":  []any{map[string]any{"orderLineId": o.Lines[1].ID, "quantity": 1, "restock": true}},
		"reason": "Arrived broken", "idempotencyKey": "first",
	})
	if r.Refund == nil || len(r.UserErrors) > 0 {
		t.Fatalf("orderRefund: %+v", r.UserErrors)
	}
	if r.Refund.Amount.Amount != "27.50" || r.Order.PaymentStatus != "PARTIALLY_REFUNDED" || r.Order.RefundableAmount.Amount != "56.75" {
		t.Errorf("refund %s, order %s, refundable %s; want 27.50, PARTIALLY_REFUNDED, 56.75",
			r.Refund.Amount.Amount, r.Order.PaymentStatus, r.Order.RefundableAmount.Amount)
	}
	if len(r.Refund.Lines) != 1 || r.Refund.Lines[0].OrderLine.ID != o.Lines[1].ID || !r.Refund.Lines[0].Restocked ||
		r.Order.Lines[1].RefundedQuantity != 1 {
		t.Errorf("refund lines %+v, line 2 refunded quantity %d", r.Refund.Lines, r.Order.Lines[1].RefundedQuantity)
	}
	st := srv.product(t, staff, p2.ID)
	returns := 0
	for _, row := range st.ledger() {
		if row.Type == "RETURN" && row.ReferenceID != nil && *row.ReferenceID == o.ID {
			returns++
			if row.QuantityChange != 1 {
				t.Errorf("RETURN row of %d", row.QuantityChange)
			}
		}
	}
	if returns != 1 || st.InventoryQuantity != onHand+1 {
		t.Errorf("%d RETURN rows, on hand %d; want 1, %d", returns, st.InventoryQuantity, onHand+1)
	}
	checkLedger(t, st)
	if got := spent(); got != "56.75" {
		t.Errorf("totalSpent %s after the refund, want 56.75", got)
	}
	got := srv.waitRefunds(t, staff, o.OrderNumber)
	if got.Refunds[0].Status != "SUCCEEDED" {
		t.Fatalf("refund at stripe-mock: %s", got.Refunds[0].Status)
	}
	msg := waitForMail(t, deps.mail, email, 20*time.Second, "Refund of 27.50 USD", o.OrderNumber)
	if full := deps.mail.Message(t, msg.ID); !strings.Contains(full.Text, "Arrived broken") {
		t.Errorf("refund email does not give the reason:\n%s", full.Text)
	}

	// The same key again: the same refund, nothing new.
	if again := srv.orderRefund(t, staff, o.ID, map[string]any{"amount": "1.00", "idempotencyKey": "first"}); again.Refund == nil ||
		again.Refund.ID != r.Refund.ID || len(again.Order.Refunds) != 1 {
		t.Errorf("same key: %+v", again)
	}

	rest := srv.orderRefund(t, staff, o.ID, map[string]any{
		"lines": []any{
			map[string]any{"orderLineId": o.Lines[0].ID, "quantity": 1},
			map[string]any{"orderLineId": o.Lines[1].ID, "quantity": 1},
			map[string]any{"orderLineId": o.Lines[2].ID, "quantity": 1},
		},
		"includeShipping": true, "notifyCustomer": false, "idempotencyKey": "rest",
	})
	if rest.Refund == nil || len(rest.UserErrors) > 0 {
		t.Fatalf("refund of the rest: %+v", rest.UserErrors)
	}
	if rest.Refund.Amount.Amount != "56.75" || !rest.Refund.IncludesShipping || rest.Order.PaymentStatus != "REFUNDED" ||
		rest.Order.RefundableAmount.Amount != "0.00" || rest.Order.RefundedAmount.Amount != "84.25" {
		t.Errorf("the rest: %s (shipping %v), order %s, refundable %s, refunded %s", rest.Refund.Amount.Amount,
			rest.Refund.IncludesShipping, rest.Order.PaymentStatus, rest.Order.RefundableAmount.Amount, rest.Order.RefundedAmount.Amount)
	}
	over := srv.orderRefund(t, staff, o.ID, map[string]any{"amount": "0.01", "idempotencyKey": "more"})
	if over.Refund != nil || strings.Join(codesOf(over.UserErrors), ",") != "REFUND_EXCEEDS_PAID input.amount" {
		t.Errorf("a further refund: %+v", over)
	}
	srv.waitRefunds(t, staff, o.OrderNumber)

	// Stripe reports what we refunded: nothing changes.
	ch := stripetest.ChargeRefundedObject("ch_"+randHex(6), *o.StripePaymentIntentID, o.ID, o.OrderNumber, 84_25, 84_25, "usd")
	if code := srv.sendEvent(t, "charge.refunded", ch); code != http.StatusOK {
		t.Fatalf("charge.refunded: %d", code)
	}
	after := srv.refundOrder(t, staff, o.OrderNumber)
	if len(after.Refunds) != 2 || after.RefundedAmount.Amount != "84.25" || after.PaymentStatus != "REFUNDED" {
		t.Errorf("after charge.refunded of our refunds: %d refunds, refunded %s, %s", len(after.Refunds), after.RefundedAmount.Amount, after.PaymentStatus)
	}
	if got := spent(); got != "0.00" {
		t.Errorf("totalSpent %s after refunding everything, want 0.00", got)
	}

	// Anonymous callers may not refund.
	if resp := srv.do(t, "", orderRefundMutation, map[string]any{"id": o.ID, "input": map[string]any{"amount": "1", "idempotencyKey": "x"}}); len(resp.codes()) == 0 {
		t.Error("an anonymous orderRefund was not refused")
	}
}

// TestE2ERefundConcurrentAndDashboard: ten refunds of the whole refundable
// amount at once with different keys: one succeeds, nine are
// REFUND_EXCEEDS_PAID; ten with the same key: one refund. A refund made in
// Stripe's dashboard (charge.refunded beyond ours) is recorded as a refund
// without lines.
func TestE2ERefundConcurrentAndDashboard(t *testing.T) {
	deps := startDeps(t, true)
	srv := startServer(t, "refund-race", deps.env(t, nil))
	staff := srv.staffLogin(t)
	p := srv.createProduct(t, staff, "30.00", 50)

	race := func(o refundOrder, key func(int) string) (ok, exceeded int, ids map[string]bool) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		ids = map[string]bool{}
		for i := range 10 {
			wg.Go(func() {
				r := srv.orderRefund(t, staff, o.ID, map[string]any{"amount": o.RefundableAmount.Amount, "idempotencyKey": key(i)})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case r.Refund != nil:
					ok++
					ids[r.Refund.ID] = true
				case len(r.UserErrors) == 1 && r.UserErrors[0].Code == "REFUND_EXCEEDS_PAID":
					exceeded++
				default:
					t.Errorf("refund %d: %+v", i, r.UserErrors)
				}
			})
		}
		wg.Wait()
		return ok, exceeded, ids
	}
	o := srv.paidOrderOf(t, staff, buyerEmail(), p.ID, 1)
	if ok, exceeded, _ := race(o, func(i int) string { return fmt.Sprint("k", i) }); ok != 1 || exceeded != 9 {
		t.Errorf("different keys: %d refunds, %d REFUND_EXCEEDS_PAID; want 1, 9", ok, exceeded)
	}
	if got := srv.refundOrder(t, staff, o.OrderNumber); len(got.Refunds) != 1 || got.RefundableAmount.Amount != "0.00" {
		t.Errorf("after the race: %d refunds, refundable %s", len(got.Refunds), got.RefundableAmount.Amount)
	}
	o2 := srv.paidOrderOf(t, staff, buyerEmail(), p.ID, 1)
	if ok, _, ids := race(o2, func(int) string { return "same" }); ok != 10 || len(ids) != 1 {
		t.Errorf("same key: %d answers naming %d refunds; want 10 naming 1", ok, len(ids))
	}
	if got := srv.refundOrder(t, staff, o2.OrderNumber); len(got.Refunds) != 1 {
		t.Errorf("same key: %d refunds", len(got.Refunds))
	}

	o3 := srv.paidOrderOf(t, staff, buyerEmail(), p.ID, 1)
	ch := stripetest.ChargeRefundedObject("ch_"+randHex(6), *o3.StripePaymentIntentID, o3.ID, o3.OrderNumber,
		cents(t, o3.Total.Amount), 5_00, "usd")
	for range 2 { // Stripe may deliver it twice, as two events
		if code := srv.sendEvent(t, "charge.refunded", ch); code != http.StatusOK {
			t.Fatalf("charge.refunded: %d", code)
		}
	}
	got := srv.refundOrder(t, staff, o3.OrderNumber)
	if len(got.Refunds) != 1 || got.Refunds[0].Amount.Amount != "5.00" || len(got.Refunds[0].Lines) != 0 ||
		got.Refunds[0].Status != "SUCCEEDED" || got.PaymentStatus != "PARTIALLY_REFUNDED" || got.RefundedAmount.Amount != "5.00" {
		t.Errorf("dashboard refund: %+v, order %s, refunded %s", got.Refunds, got.PaymentStatus, got.RefundedAmount.Amount)
	}
}

// TestE2ERefundProviderFails: Stripe refuses the refund (an answer in its
// error shape, from a proxy in front of stripe-mock): the refund ends
// FAILED and its amount is refundable again.
func TestE2ERefundProviderFails(t *testing.T) {
	deps := startDeps(t, true)
	u, err := url.Parse(deps.stripe.URL())
	if err != nil {
		t.Fatal(err)
	}
	var refuse atomic.Bool
	rp := httputil.NewSingleHostReverseProxy(u)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse.Load() && r.Method == http.MethodPost && r.URL.Path == "/v1/refunds" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = fmt.Fprint(w, `{"error":{"type":"invalid_request_error","code":"charge_already_refunded",`+
				`"message":"Charge ch_1 has already been refunded."}}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	srv := startServer(t, "refund-fails", deps.env(t, map[string]string{"STRIPE_API_BASE": proxy.URL}))
	staff := srv.staffLogin(t)
	p := srv.createProduct(t, staff, "30.00", 5)
	o := srv.paidOrderOf(t, staff, buyerEmail(), p.ID, 1)

	refuse.Store(true)
	r := srv.orderRefund(t, staff, o.ID, map[string]any{"amount": "12.00", "idempotencyKey": "k"})
	if r.Refund == nil || r.Order.RefundableAmount.Amount == o.RefundableAmount.Amount {
		t.Fatalf("refund: %+v", r)
	}
	got := srv.waitRefunds(t, staff, o.OrderNumber)
	if got.Refunds[0].Status != "FAILED" || got.RefundableAmount.Amount != o.Total.Amount || got.PaymentStatus != "PAID" ||
		got.RefundedAmount.Amount != "0.00" {
		t.Errorf("after the refusal: refund %s, refundable %s, %s, refunded %s", got.Refunds[0].Status,
			got.RefundableAmount.Amount, got.PaymentStatus, got.RefundedAmount.Amount)
	}
	failed := 0
	for _, e := range got.Events {
		if e.Type == "REFUND_FAILED" {
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("%d REFUND_FAILED events", failed)
	}
}
