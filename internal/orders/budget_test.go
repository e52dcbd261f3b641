package orders_test

import (
	"context"
	"testing"

	"commerce/internal/carts"
	"commerce/internal/catalog"
	"commerce/internal/orders"
	"commerce/internal/payments"
	"commerce/internal/platform/db"
	"commerce/internal/promotions"
)

// Statement budgets (issue 20): a checkout of a 3-line cart, including the
// after-commit storage of the payment intent, at most 10 statements; the
// payment_intent.succeeded event at most 8, whatever the number of lines.
// BEGIN and COMMIT are not counted. Both measure a shop without webhook
// subscribers of their topics (no test of this package leaves one behind).
//
// The checkout's 9 today: the key's claim (with the advisory locks of the
// reservation limits), the cart's completion (its lock), one load of the
// variants with the cart's lines, the destination and the unpaid units,
// one reservation of every line with its ledger rows, the buyer, the order
// with its lines and events, the webhook subscribers' lookup, the River
// jobs, and after commit the payment intent. Before issue 20 it was 18: the
// cart and its lines, the lock and the count of the limits, the order, its
// lines and its events were apart, and every line cost its own UPDATE.
// The payment's 8 were 8 + one per line.
//
// Outbound webhooks (issue 19) cost each of them one statement: the lookup
// of the active endpoints subscribed to ORDER_CREATED, ORDER_PAID. With
// subscribers, rendering the order (2) and writing the deliveries and their
// jobs (2) come on top, inside the same transaction.
func TestStatementBudgets(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const lines = 3
	const checkoutBudget, paymentBudget = 10, 8

	// Warm up: River's first insert on a client checks the schema version.
	warm := e.order(t, e.product(t, "1.00", 5), 1)
	e.pay(t, warm)

	var products []*catalog.Product
	var cartLines []carts.LineInput
	for i := range lines {
		p := e.product(t, "10.00", 10)
		products = append(products, p)
		cartLines = append(cartLines, carts.LineInput{ProductID: ptr(p.ID), Quantity: i + 1})
	}
	cart, err := e.carts.Create(ctx, cartLines, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := input()
	in.Lines, in.CartID = nil, &cart.ID

	cctx, checkoutCount := db.WithStatementCounter(ctx)
	res, err := e.svc.Checkout(cctx, in)
	if err != nil {
		t.Fatalf("checkout: %v", err)
	}
	if res.ClientSecret == nil {
		t.Fatalf("checkout stored no payment intent; the count would miss its statement")
	}
	t.Logf("checkout of a %d-line cart (new customer, intent stored after commit): %d statements (budget %d)",
		lines, checkoutCount.Count(), checkoutBudget)
	if n := checkoutCount.Count(); n > checkoutBudget {
		t.Errorf("checkout of a %d-line cart: %d statements, budget %d", lines, n, checkoutBudget)
	}

	pctx, paymentCount := db.WithStatementCounter(ctx)
	if err := e.svc.HandlePaymentEvent(pctx, event(payments.IntentSucceededEvent, res.Order)); err != nil {
		t.Fatalf("payment: %v", err)
	}
	t.Logf("payment_intent.succeeded of a %d-line order: %d statements (budget %d)", lines, paymentCount.Count(), paymentBudget)
	if n := paymentCount.Count(); n > paymentBudget {
		t.Errorf("payment of a %d-line order: %d statements, budget %d", lines, n, paymentBudget)
	}
	if got := e.byID(t, res.Order.ID); got.PaymentStatus != orders.PaymentPaid {
		t.Errorf("the measured payment did not pay the order: %s", got.PaymentStatus)
	}
	for i, p := range products {
		e.wantStock(t, p.ID, stock{OnHand: 10 - (i + 1), Reserved: 0, Available: 10 - (i + 1)})
	}

	// A replayed checkout is cheap too.
	rctx, replayCount := db.WithStatementCounter(ctx)
	if _, err := e.svc.Checkout(rctx, in); err != nil {
		t.Fatalf("replay: %v", err)
	}
	t.Logf("replayed checkout: %d statements", replayCount.Count())

	// Promotions (issue 15): a code with a usage and a per-customer limit
	// costs two statements, loading the promotions and taking the uses.
	limit := 10
	promos := promotions.NewService(e.db, "USD")
	if _, err := promos.Create(ctx, promotions.PromotionInput{Name: "Budget", Code: ptr(uniq("BUDGET")),
		ValueType: promotions.Percentage, Value: "10", UsageLimit: &limit, PerCustomerLimit: &limit, IsActive: true}); err != nil {
		t.Fatalf("create promotion: %v", err)
	}
	page, err := promos.List(ctx, ptr(1), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	coded, err := e.carts.Create(ctx, cartLines, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	in = input()
	in.Lines, in.CartID, in.DiscountCodes = nil, &coded.ID, []string{*page.Promotions[0].Code}
	dctx, discountCount := db.WithStatementCounter(ctx)
	res, err = e.svc.Checkout(dctx, in)
	if err != nil {
		t.Fatalf("checkout with a code: %v", err)
	}
	t.Logf("checkout of a %d-line cart with a code: %d statements (budget %d)", lines, discountCount.Count(), checkoutBudget+2)
	if n := discountCount.Count(); n > checkoutBudget+2 {
		t.Errorf("checkout of a %d-line cart with a code: %d statements, budget %d", lines, n, checkoutBudget+2)
	}
	if res.Order.Discount.Amount != 6_00 || len(res.Order.DiscountAllocations) != 1 {
		t.Errorf("discount %s, allocations %+v; want 6.00 from one promotion", res.Order.Discount, res.Order.DiscountAllocations)
	}
}
