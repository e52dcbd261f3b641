package e2e

// End-to-end regression tests of issue 12's order, payment and marketing
// items against the built binary, over HTTP only: production without
// Stripe keys refuses to start (item 2); reservations are bounded per order
// and per email and client IP (item 5); the abandoned-cart reminder needs
// consent (item 7); a refund that arrives before its payment wins (item 9);
// an idempotency key is bound to its caller (item 12).

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"commerce/internal/platform/stripetest"
	"commerce/internal/platform/testtool"
)

// secRun runs `commerce serve` with env and returns its output once it has
// exited; a process still running after 30s fails the test.
func secRun(t *testing.T, env map[string]string) (exitCode int, output string) {
	t.Helper()
	env = copyEnv(env)
	env["HTTP_ADDR"] = testtool.FreeAddr(t)
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e2eBinary(t), "serve")
	cmd.Env, cmd.Dir = list, t.TempDir()
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("serve did not exit within 30s:\n%s", out)
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("run serve: %v", err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// TestE2EProductionRefusesDummyPayments (item 2): production without Stripe
// keys does not start, naming the variables to set; with the dummy
// provider named and ALLOW_DUMMY_PAYMENTS=true it starts and logs a
// warning. Development keeps the dummy provider by default.
func TestE2EProductionRefusesDummyPayments(t *testing.T) {
	deps := startDeps(t, false)
	prod := func(overrides map[string]string) map[string]string {
		all := map[string]string{"APP_ENV": "production", "PAYMENT_PROVIDER": ""}
		for k, v := range overrides {
			all[k] = v
		}
		return deps.env(t, all)
	}
	for _, tc := range []struct {
		name  string
		env   map[string]string
		names []string
	}{
		{"no Stripe keys", prod(nil), []string{"PAYMENT_PROVIDER", "STRIPE_SECRET_KEY", "ALLOW_DUMMY_PAYMENTS"}},
		{"dummy named without the allowance", prod(map[string]string{"PAYMENT_PROVIDER": "dummy"}), []string{"ALLOW_DUMMY_PAYMENTS"}},
		{"allowance without naming dummy", prod(map[string]string{"ALLOW_DUMMY_PAYMENTS": "true"}), []string{"PAYMENT_PROVIDER"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := secRun(t, tc.env)
			if code == 0 {
				t.Fatalf("serve exited 0, want a refusal:\n%s", out)
			}
			for _, name := range tc.names {
				if !strings.Contains(out, name) {
					t.Errorf("the refusal does not name %s:\n%s", name, out)
				}
			}
			if strings.Contains(out, e2eAuthSecret) {
				t.Errorf("the refusal leaks AUTH_SECRET:\n%s", out)
			}
		})
	}

	srv := startServer(t, "prod-dummy", prod(map[string]string{"PAYMENT_PROVIDER": "dummy", "ALLOW_DUMMY_PAYMENTS": "true"}))
	if !secLogged(srv.out.String(), "WARN", "PAYMENT_PROVIDER=dummy in production") {
		t.Errorf("no WARN about the dummy provider in production:\n%s", srv.out.String())
	}
	dev := startServer(t, "dev-dummy", deps.env(t, map[string]string{"PAYMENT_PROVIDER": ""}))
	if secLogged(dev.out.String(), "WARN", "PAYMENT_PROVIDER=dummy") {
		t.Errorf("development warns about the dummy provider:\n%s", dev.out.String())
	}
}

// secLogged reports whether a JSON log line of level contains msg.
func secLogged(out, level, msg string) bool {
	for _, line := range strings.Split(out, "\n") {
		var rec struct{ Level, Msg string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Level == level && strings.Contains(rec.Msg, msg) {
			return true
		}
	}
	return false
}

// secCheckout posts a one-line checkout from the client address ip (the
// server trusts 127.0.0.1 as a proxy) and returns the payload and errors.
func secCheckout(t *testing.T, s *e2eServer, ip, email, productID string, quantity int) (checkoutResult, gqlResponse) {
	t.Helper()
	r := quotaPost(t, s, http.Header{"X-Forwarded-For": {ip}}, "", checkoutMutation, map[string]any{"input": map[string]any{
		"lines": []any{map[string]any{"productId": productID, "quantity": quantity}}, "email": email,
		"shippingAddress": shippingAddress(), "idempotencyKey": "sec-limit-" + randHex(8),
	}})
	var out struct{ Checkout checkoutResult }
	if len(r.Errors) > 0 || json.Unmarshal(r.Data, &out) != nil {
		t.Fatalf("checkout: %s %+v", r.Data, r.Errors)
	}
	return out.Checkout, r.gqlResponse
}

// secWantLimit checks a LIMIT_EXCEEDED userError at input.lines and no
// order.
func secWantLimit(t *testing.T, what string, c checkoutResult, hint string) {
	t.Helper()
	if c.Order != nil || c.OrderAccessToken != nil || len(c.UserErrors) != 1 {
		t.Fatalf("%s: order %v, userErrors %+v; want one LIMIT_EXCEEDED and no order", what, c.Order, c.UserErrors)
	}
	ue := c.UserErrors[0]
	if ue.Code != "LIMIT_EXCEEDED" || !slices.Equal(ue.Field, []string{"input", "lines"}) || !strings.Contains(ue.Message, hint) {
		t.Errorf("%s: userError %+v, want LIMIT_EXCEEDED at input.lines saying %q", what, ue, hint)
	}
}

// TestE2EReservationLimits (item 5): one checkout reserves at most
// MAX_UNITS_PER_ORDER (the default, 100) units, and unpaid orders hold at
// most MAX_UNPAID_UNITS units per email and per client IP, so rotating
// emails from one address hits the IP bound. A refused checkout reserves
// nothing; a payment frees the units of its order.
func TestE2EReservationLimits(t *testing.T) {
	deps := startDeps(t, true)
	srv := startServer(t, "sec-limits", deps.env(t, map[string]string{
		"MAX_UNPAID_UNITS": "30", "MAX_UNITS_PER_ORDER": "", "TRUSTED_PROXIES": "127.0.0.1/32",
	}))
	staff := srv.staffLogin(t)
	p := srv.createProduct(t, staff, "2.00", 1000)
	// Addresses no other test uses, fresh for every run of this test.
	octet, _ := strconv.ParseUint(randHex(1), 16, 8)
	ipBase := "198.18." + strconv.FormatUint(octet, 10) + "."
	wantAvailable := func(what string, n int) {
		t.Helper()
		if got := srv.product(t, staff, p.ID).AvailableQuantity; got != n {
			t.Errorf("%s: available %d, want %d", what, got, n)
		}
	}

	// Over MAX_UNITS_PER_ORDER: refused, nothing reserved, no order.
	email := buyerEmail()
	c, _ := secCheckout(t, srv, ipBase+"1", email, p.ID, 101)
	secWantLimit(t, "101 units in one order", c, "order fewer units")
	wantAvailable("after the refused order", 1000)
	if n := quotaOrderCount(t, srv, staff, email); n != 0 {
		t.Errorf("%d orders after the refusal, want 0", n)
	}

	// Per email (from different addresses): 20 + 10 held, 1 more refused.
	first, _ := secCheckout(t, srv, ipBase+"2", email, p.ID, 20)
	if first.Order == nil {
		t.Fatalf("first checkout: %+v", first.UserErrors)
	}
	if c, _ := secCheckout(t, srv, ipBase+"3", email, p.ID, 10); c.Order == nil {
		t.Fatalf("second checkout: %+v", c.UserErrors)
	}
	c, _ = secCheckout(t, srv, ipBase+"4", email, p.ID, 1)
	secWantLimit(t, "a 31st unpaid unit for one email", c, "pay for the pending orders")
	wantAvailable("after the email bound", 970)
	// Paying the first order frees its 20 units.
	fulPay(t, srv, staff, *first.Order)
	if c, _ := secCheckout(t, srv, ipBase+"5", email, p.ID, 20); c.Order == nil {
		t.Fatalf("checkout after paying: %+v", c.UserErrors)
	}

	// Per IP: a fresh email per checkout from one address.
	ip := ipBase + "6"
	for i := range 3 {
		if c, _ := secCheckout(t, srv, ip, buyerEmail(), p.ID, 10); c.Order == nil {
			t.Fatalf("checkout %d from %s: %+v", i, ip, c.UserErrors)
		}
	}
	c, _ = secCheckout(t, srv, ip, buyerEmail(), p.ID, 1)
	secWantLimit(t, "a 31st unpaid unit from one address with a fresh email", c, "pay for the pending orders")
	// Another address is not held back.
	if c, _ := secCheckout(t, srv, ipBase+"7", buyerEmail(), p.ID, 10); c.Order == nil {
		t.Fatalf("checkout from another address: %+v", c.UserErrors)
	}
	wantAvailable("at the end", 1000-20-10-20-30-10)
}

// TestE2EAbandonedCartNeedsConsent (item 7): a cart with a stranger's email
// and no marketing opt-in gets no reminder (its job runs and writes
// nothing); with the shopper's opt-in, given with cartEmailUpdate, it does.
func TestE2EAbandonedCartNeedsConsent(t *testing.T) {
	deps := startDeps(t, true)
	srv := startServer(t, "sec-consent", fulEnv(t, deps, nil, map[string]string{"ABANDONED_CART_DELAY": "1s"}))
	staff := srv.staffLogin(t)
	conn := fulConnect(t)
	p := srv.createProduct(t, staff, "12.00", 50)
	const wait = 30 * time.Second

	stranger, consenting := buyerEmail(), buyerEmail()
	s := fulCreateCartWith(t, srv, stranger, map[string]int{p.ID: 1}, false)
	var noArg struct{ CartCreate struct{ Cart *fulCart } }
	strangerToo := buyerEmail()
	srv.gql(t, "", `mutation($l: [CartLineInput!], $e: String) { cartCreate(lines: $l, email: $e) { cart { `+fulCartFields+` } } }`,
		map[string]any{"l": []any{map[string]any{"productId": p.ID, "quantity": 1}}, "e": strangerToo}, &noArg)
	c := fulCreateCartWith(t, srv, buyerEmail(), map[string]int{p.ID: 2}, false)
	var updated struct {
		CartEmailUpdate struct {
			Cart       *fulCart
			UserErrors []userError
		}
	}
	srv.gql(t, "", `mutation($c: ID!, $e: String!) { cartEmailUpdate(cartId: $c, email: $e, marketingOptIn: true) {
		cart { `+fulCartFields+` } userErrors { field message code } } }`, map[string]any{"c": c.ID, "e": consenting}, &updated)
	if updated.CartEmailUpdate.Cart == nil || len(updated.CartEmailUpdate.UserErrors) > 0 {
		t.Fatalf("cartEmailUpdate: %+v", updated.CartEmailUpdate.UserErrors)
	}

	for _, cart := range []struct{ id, email string }{{s.ID, stranger}, {noArg.CartCreate.Cart.ID, strangerToo}} {
		fulWantCompleted(t, "abandoned-cart of "+cart.email, fulWaitJobs(t, conn, "abandoned-cart", "cart_id", cart.id, 1, wait), 1)
		if rows := fulRows(t, conn, "abandoned-cart", cart.email); len(rows) != 0 {
			t.Errorf("abandoned-cart reminder written to %s, who never opted in: %+v", cart.email, rows)
		}
	}
	fulWaitRows(t, conn, "abandoned-cart", consenting, "", "", wait, "one SENT", fulOneSent)
	fulOneMail(t, deps.mail, consenting, "You left something in your cart")
	if mails := fulMails(t, deps.mail, stranger, "You left something in your cart"); len(mails) != 0 {
		t.Errorf("mail to the stranger: %+v", mails)
	}
}

// TestE2ERefundBeforePayment (item 9): Stripe delivers charge.refunded
// before payment_intent.succeeded. The refund is kept and wins: the order
// ends cancelled and REFUNDED, its stock released, and it is neither
// confirmed nor fulfilled.
func TestE2ERefundBeforePayment(t *testing.T) {
	deps := startDeps(t, true)
	srv := startServer(t, "sec-refund", deps.env(t, map[string]string{"FULFILLMENT_REMINDER_DELAY": "1s"}))
	staff := srv.staffLogin(t)
	conn := fulConnect(t)
	p := srv.createProduct(t, staff, "25.00", 10)
	email := buyerEmail()
	o := *srv.checkout(t, email, "sec-refund-"+randHex(8), map[string]int{p.ID: 2}).Order
	view := srv.order(t, staff, o.OrderNumber)
	if view.StripePaymentIntentID == nil {
		t.Fatalf("order %s has no payment intent", o.OrderNumber)
	}
	intent, total := *view.StripePaymentIntentID, cents(t, o.Total.Amount)

	refund := stripetest.ChargeRefundedObject("ch_"+randHex(8), intent, o.ID, o.OrderNumber, total, total, "usd")
	if code := srv.sendEvent(t, "charge.refunded", refund); code != http.StatusOK {
		t.Fatalf("charge.refunded: %d", code)
	}
	if got := srv.order(t, staff, o.OrderNumber); got.Status != "PENDING" || got.PaymentStatus != "PENDING" {
		t.Fatalf("after the early refund: %s/%s, want PENDING/PENDING", got.Status, got.PaymentStatus)
	}
	paid := stripetest.PaymentIntentObject(intent, o.ID, o.OrderNumber, total, "usd")
	if code := srv.sendEvent(t, "payment_intent.succeeded", paid); code != http.StatusOK {
		t.Fatalf("payment_intent.succeeded: %d", code)
	}
	got := srv.order(t, staff, o.OrderNumber)
	if got.Status != "CANCELLED" || got.PaymentStatus != "REFUNDED" {
		t.Fatalf("after the payment: %s/%s, want CANCELLED/REFUNDED; events %v", got.Status, got.PaymentStatus, got.eventTypes())
	}
	if n := got.eventCount("PAID") + got.eventCount("CONFIRMATION_QUEUED"); n != 0 {
		t.Errorf("events %v: the refunded order was paid or confirmed", got.eventTypes())
	}
	state := srv.product(t, staff, p.ID)
	if state.AvailableQuantity != 10 || state.InventoryQuantity != 10 {
		t.Errorf("stock on hand %d, available %d; want 10, 10", state.InventoryQuantity, state.AvailableQuantity)
	}
	checkLedger(t, state)
	if res, _ := fulFulfill(t, srv, staff, o.ID, "1Z999AA10123456784", "UPS"); res.Order != nil || len(res.UserErrors) == 0 {
		t.Errorf("orderFulfill of the refunded order: %+v, want a userError", res)
	}
	for _, kind := range []string{"fulfillment-reminder", "review-request"} {
		if jobs := fulJobs(t, conn, kind, "order_id", o.ID); len(jobs) != 0 {
			t.Errorf("%s jobs for the refunded order: %+v", kind, jobs)
		}
	}
	if rows := fulWhere(fulRows(t, conn, "order-confirmation", email), "order_number", o.OrderNumber); len(rows) != 0 {
		t.Errorf("confirmation written for the refunded order: %+v", rows)
	}
}

// TestE2EIdempotencyKeyBoundToCaller (item 12): another principal replaying
// a checkout's key and input (another customer, an anonymous caller) gets
// CONFLICT, never the order and its access token; the first caller's own
// replay still returns its order.
func TestE2EIdempotencyKeyBoundToCaller(t *testing.T) {
	deps := startDeps(t, true)
	srv := startServer(t, "sec-idem", deps.env(t, nil))
	staff := srv.staffLogin(t)
	p := srv.createProduct(t, staff, "9.00", 20)
	alice := fulCustomerToken(t, srv, buyerEmail(), false)
	bob := fulCustomerToken(t, srv, buyerEmail(), false)
	vars := map[string]any{"input": map[string]any{
		"lines": []any{map[string]any{"productId": p.ID, "quantity": 1}}, "email": buyerEmail(),
		"shippingAddress": shippingAddress(), "idempotencyKey": "sec-idem-" + randHex(8),
	}}
	var first struct{ Checkout checkoutResult }
	srv.gql(t, alice, checkoutMutation, vars, &first)
	if first.Checkout.Order == nil || first.Checkout.OrderAccessToken == nil {
		t.Fatalf("first checkout: %+v", first.Checkout.UserErrors)
	}
	for name, token := range map[string]string{"another customer": bob, "an anonymous caller": "", "staff": staff} {
		r := srv.do(t, token, checkoutMutation, vars)
		if !slices.Equal(r.codes(), []string{"CONFLICT"}) {
			t.Errorf("%s replaying the key: errors %+v, want CONFLICT", name, r.Errors)
		}
		if raw := string(r.Data); strings.Contains(raw, first.Checkout.Order.OrderNumber) ||
			strings.Contains(raw, *first.Checkout.OrderAccessToken) {
			t.Errorf("%s replaying the key got the first caller's order: %s", name, raw)
		}
	}
	var again struct{ Checkout checkoutResult }
	srv.gql(t, alice, checkoutMutation, vars, &again)
	if again.Checkout.Order == nil || again.Checkout.Order.ID != first.Checkout.Order.ID ||
		again.Checkout.OrderAccessToken == nil || *again.Checkout.OrderAccessToken != *first.Checkout.OrderAccessToken {
		t.Errorf("the first caller's replay: %+v, want order %s", again.Checkout, first.Checkout.Order.OrderNumber)
	}
	if got := srv.product(t, staff, p.ID).AvailableQuantity; got != 19 {
		t.Errorf("available %d, want 19: one order reserved", got)
	}
}
