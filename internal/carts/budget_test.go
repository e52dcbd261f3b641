package carts_test

import (
	"context"
	"testing"

	"commerce/internal/carts"
	"commerce/internal/money"
	"commerce/internal/platform/db"
	"commerce/internal/pricing"
)

// TestCartStatementBudgets holds the cart's writes to their statements
// (BEGIN and COMMIT not counted), for a shopper with an email, whose
// changes schedule the abandoned-cart reminder (one River insert):
// creating a cart with lines is the variants' load, one INSERT of the cart
// with its lines, and the reminder; adding lines is the variants' load, the
// cart's lock, one upsert of all lines that checks the cart's bounds
// itself (no read of the lines before the write), the touch that returns
// the cart with its lines, and the reminder; a change of the email is the
// lock, the update, the touch and the reminder. Before issue 20 they were
// 5, 7 and 6 (every change read the lines twice).
func TestCartStatementBudgets(t *testing.T) {
	svc, b := setup(t)
	ctx := context.Background()
	var lines []carts.LineInput
	for range 3 {
		lines = append(lines, byID(newProduct(t, b, "3.00"), 1))
	}
	email := "budget@example.com"

	cctx, created := db.WithStatementCounter(ctx)
	c, err := svc.Create(cctx, lines, &email, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := created.Count(); n > 3 {
		t.Errorf("cart created with 3 lines: %d statements, budget 3", n)
	}
	actx, added := db.WithStatementCounter(ctx)
	if _, err := svc.AddLines(actx, c.ID, lines); err != nil {
		t.Fatal(err)
	}
	if n := added.Count(); n > 5 {
		t.Errorf("3 lines added: %d statements, budget 5", n)
	}
	// Pricing the cart for the answer reuses the variants the change loaded
	// (the GraphQL mutations run in carts.WithVariantMemo).
	mctx := carts.WithVariantMemo(ctx)
	c2, err := svc.Create(mctx, lines, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := pricing.Config{TaxRate: pricing.Rate{Num: 1, Den: 10}, FreeShippingThreshold: money.New(100_00, "USD"), FlatShippingRate: money.New(5_00, "USD")}
	loads := func() int {
		b.lookup.mu.Lock()
		defer b.lookup.mu.Unlock()
		return b.lookup.forSale
	}
	before := loads()
	if _, err := svc.Price(mctx, c2, cfg); err != nil {
		t.Fatal(err)
	}
	if n := loads() - before; n != 0 {
		t.Errorf("pricing right after the change loaded the variants %d times, want 0", n)
	}
	if _, err := svc.Price(ctx, c2, cfg); err != nil {
		t.Fatal(err)
	}
	if n := loads() - before; n != 1 {
		t.Errorf("pricing in another request loaded the variants %d times, want 1", n)
	}

	ectx, emailed := db.WithStatementCounter(ctx)
	if _, err := svc.UpdateEmail(ectx, c.ID, "budget2@example.com", nil); err != nil {
		t.Fatal(err)
	}
	if n := emailed.Count(); n > 4 {
		t.Errorf("email changed: %d statements, budget 4", n)
	}
	t.Logf("create with 3 lines: %d statements; add 3 lines: %d; change the email: %d", created.Count(), added.Count(), emailed.Count())
}
