package orders_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"commerce/internal/apperr"
	"commerce/internal/catalog"
	"commerce/internal/orders"
)

// shirt creates a product with options Color {Red, Blue} × Size {S, M, L}
// and its six variants, each with stock(title) units and no low-stock
// alerts; the variants come back by title ("Red / S").
func (e *env) shirt(t testing.TB, stock func(title string) int) (*catalog.Product, map[string]*catalog.Variant) {
	t.Helper()
	ctx := context.Background()
	token := uniq("SHIRT")
	in := catalog.CreateInput{Name: token, Options: []catalog.OptionInput{
		{Name: "Color", Values: []string{"Red", "Blue"}}, {Name: "Size", Values: []string{"S", "M", "L"}}}}
	for i, color := range []string{"Red", "Blue"} {
		for j, size := range []string{"S", "M", "L"} {
			in.Variants = append(in.Variants, catalog.VariantInput{SKU: fmt.Sprintf("%s-%s-%s", token, color, size),
				SelectedOptions: []catalog.SelectedOption{{Name: "Color", Value: color}, {Name: "Size", Value: size}},
				Price:           fmt.Sprintf("%d.00", 10+3*i+j), InventoryQuantity: ptr(stock(color + " / " + size)),
				LowStockThreshold: ptr(0)})
		}
	}
	p, err := e.catalog.Create(ctx, in)
	if err != nil {
		t.Fatalf("create a product with variants: %v", err)
	}
	vs, err := e.catalog.VariantsByProductIDs(ctx, []string{p.ID}, true)
	if err != nil || len(vs[p.ID]) != 6 {
		t.Fatalf("variants %v, %v", vs, err)
	}
	out := map[string]*catalog.Variant{}
	for _, v := range vs[p.ID] {
		out[v.Title] = v
	}
	return p, out
}

// variantStock reads a variant's counters.
func (e *env) variantStock(t *testing.T, variantID string) stock {
	t.Helper()
	var s stock
	err := e.db.SQL.QueryRow(`SELECT on_hand, reserved, available FROM product_variants WHERE id = $1`, variantID).
		Scan(&s.OnHand, &s.Reserved, &s.Available)
	if err != nil {
		t.Fatalf("read stock of variant %s: %v", variantID, err)
	}
	return s
}

// checkVariantLedgers asserts the ledger invariants of DESIGN.md for every
// variant of the product: the sum of its rows is available, the sum
// without RESERVATION and RELEASE rows is on hand, and nothing is negative.
func (e *env) checkVariantLedgers(t *testing.T, productID string) {
	t.Helper()
	if n := e.count(t, `SELECT count(*) FROM product_variants v
		WHERE v.product_id = $1 AND (v.on_hand < 0 OR v.reserved < 0 OR v.available < 0
		   OR v.available <> (SELECT coalesce(sum(quantity_change), 0) FROM inventory_transactions t WHERE t.variant_id = v.id)
		   OR v.on_hand <> (SELECT coalesce(sum(quantity_change), 0) FROM inventory_transactions t
		                    WHERE t.variant_id = v.id AND t.type NOT IN ('RESERVATION', 'RELEASE')))`, productID); n != 0 {
		t.Errorf("%d variants of %s whose ledger does not add up or whose stock is negative", n, productID)
	}
}

// TestCheckoutVariants buys two variants of one product and checks that
// stock, the ledger and the order lines move per variant while the other
// four variants stay untouched.
func TestCheckoutVariants(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	p, v := e.shirt(t, func(string) int { return 5 })
	redS, blueL := v["Red / S"], v["Blue / L"]

	// A product with several variants needs the variant.
	_, err := e.svc.Checkout(ctx, input(line(p, 1)))
	if l, ok := apperr.UserErrors(err); !ok || len(l) != 1 || l[0].UserCode() != "VARIANT_REQUIRED" ||
		!equalPath(l[0].Field, "input", "lines", "0", "productId") {
		t.Fatalf("checkout by product id: want VARIANT_REQUIRED at input.lines.0.productId, got %v", err)
	}

	o := e.checkout(t, input(
		orders.LineInput{VariantID: ptr(redS.ID), Quantity: 2},
		orders.LineInput{SKU: ptr(strings.ToLower(blueL.SKU)), Quantity: 1},
		orders.LineInput{VariantID: ptr(strings.ToUpper(redS.ID)), Quantity: 1},
	)).Order
	if o.Subtotal.Amount != 3*10_00+15_00 {
		t.Errorf("subtotal %s, want 3 × 10.00 + 15.00", o.Subtotal)
	}
	ls, err := e.svc.Lines(ctx, []string{o.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls[0]) != 2 {
		t.Fatalf("order lines %+v, want one per variant", ls[0])
	}
	for i, want := range []struct {
		v   *catalog.Variant
		qty int
	}{{redS, 3}, {blueL, 1}} {
		l := ls[0][i]
		if l.ID == "" || l.VariantID == nil || *l.VariantID != want.v.ID || l.ProductID == nil || *l.ProductID != p.ID ||
			l.SKU != want.v.SKU || l.Name != p.Name || l.VariantTitle != want.v.Title ||
			!slices.Equal(l.SelectedOptions, want.v.SelectedOptions) || l.Quantity != want.qty || l.UnitPrice != want.v.Price {
			t.Errorf("line %d: got %+v, want %s × %d", i, l, want.v.Title, want.qty)
		}
	}

	wantStocks := func(moved map[string]stock) {
		t.Helper()
		for title, variant := range v {
			want, ok := moved[title]
			if !ok {
				want = stock{OnHand: 5, Available: 5}
			}
			if got := e.variantStock(t, variant.ID); got != want {
				t.Errorf("stock of %s: got %v, want %v", title, got, want)
			}
		}
		e.checkVariantLedgers(t, p.ID)
	}
	wantStocks(map[string]stock{"Red / S": {OnHand: 5, Reserved: 3, Available: 2}, "Blue / L": {OnHand: 5, Reserved: 1, Available: 4}})

	// A later price change leaves the order's snapshot as it was.
	if _, _, err := e.catalog.UpdateVariant(ctx, redS.ID, catalog.VariantUpdateInput{Price: ptr("99.00")}); err != nil {
		t.Fatal(err)
	}
	e.pay(t, o)
	wantStocks(map[string]stock{"Red / S": {OnHand: 2, Available: 2}, "Blue / L": {OnHand: 4, Available: 4}})
	if got := e.ledger(t, o.ID); !sameMultiset(got, []string{"RESERVATION -3", "RESERVATION -1", "RELEASE +3", "SALE -3", "RELEASE +1", "SALE -1"}) {
		t.Errorf("ledger rows of the order: %q", got)
	}
	ls, err = e.svc.Lines(ctx, []string{o.ID})
	if err != nil || ls[0][0].UnitPrice.Amount != 10_00 || ls[0][0].VariantTitle != "Red / S" {
		t.Errorf("line after the price change: %+v, %v", ls[0][0], err)
	}
	if n := e.count(t, `SELECT units_sold FROM products WHERE id = $1`, p.ID); n != 4 {
		t.Errorf("units sold of the product: %d, want 4", n)
	}
}

// TestConcurrentCheckoutsPerVariant is the flash-sale guarantee per
// variant: 200 buyers of one unit of a variant with stock 50 and, at the
// same time, 100 buyers of a sibling with stock 30 get exactly 50 and 30
// orders, the rest INSUFFICIENT_STOCK, and the ledger adds up per variant.
func TestConcurrentCheckoutsPerVariant(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	p, v := e.shirt(t, func(title string) int { return map[string]int{"Red / M": 50, "Blue / M": 30}[title] })
	hot, sibling := v["Red / M"], v["Blue / M"]

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		placed   = map[string]int{}
		short    = map[string]int{}
		unexpect []error
	)
	buy := func(variantID string) {
		res, err := e.svc.Checkout(ctx, input(orders.LineInput{VariantID: ptr(variantID), Quantity: 1}))
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			placed[variantID]++
			if res.Order.Total.Amount == 0 {
				unexpect = append(unexpect, fmt.Errorf("order %s at 0", res.Order.Number))
			}
			return
		}
		if l, ok := apperr.UserErrors(err); ok && len(l) == 1 && l[0].Kind == apperr.InsufficientStock &&
			equalPath(l[0].Field, "input", "lines", "0", "quantity") {
			short[variantID]++
			return
		}
		unexpect = append(unexpect, err)
	}
	for i := range 300 {
		id := hot.ID
		if i%3 == 2 {
			id = sibling.ID
		}
		wg.Go(func() { buy(id) })
	}
	wg.Wait()

	for _, err := range unexpect {
		t.Errorf("unexpected checkout error: %v", err)
	}
	if placed[hot.ID] != 50 || short[hot.ID] != 150 || placed[sibling.ID] != 30 || short[sibling.ID] != 70 {
		t.Fatalf("orders %v, INSUFFICIENT_STOCK %v; want 50/150 of %s and 30/70 of %s", placed, short, hot.Title, sibling.Title)
	}
	for id, n := range map[string]int{hot.ID: 50, sibling.ID: 30} {
		if got := e.variantStock(t, id); got != (stock{OnHand: n, Reserved: n}) {
			t.Errorf("stock of %s: %v, want all %d reserved", id, got, n)
		}
		if got := e.count(t, `SELECT count(DISTINCT order_id) FROM order_lines WHERE variant_id = $1`, id); got != n {
			t.Errorf("orders of %s: %d, want %d", id, got, n)
		}
	}
	for title, other := range v {
		if other.ID != hot.ID && other.ID != sibling.ID {
			if got := e.variantStock(t, other.ID); got != (stock{}) {
				t.Errorf("stock of %s, bought by nobody: %v", title, got)
			}
		}
	}
	e.checkVariantLedgers(t, p.ID)
}
