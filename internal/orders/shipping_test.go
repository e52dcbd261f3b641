package orders_test

import (
	"context"
	"testing"

	"commerce/internal/apperr"
	"commerce/internal/carts"
	"commerce/internal/money"
	"commerce/internal/orders"
	"commerce/internal/platform/db"
	"commerce/internal/shipping"
)

// configureShipping gives the package database a zone of GB with two
// methods and GB's standard and regional rates, removed again when the test
// ends (the other tests of the package check out unconfigured). It returns
// the express method's id.
func configureShipping(t *testing.T, e *env) (*shipping.Service, string) {
	t.Helper()
	ctx := context.Background()
	sh := shipping.NewService(e.db, shipping.Config{Currency: currency, StoreCountry: "GB"})
	z, err := sh.CreateZone(ctx, shipping.ZoneInput{Name: "UK", Countries: []string{"GB"}})
	if err != nil {
		t.Fatalf("create zone: %v", err)
	}
	t.Cleanup(func() {
		_, _ = sh.DeleteZone(context.Background(), z.ID)
		if _, err := e.db.Bun.ExecContext(context.Background(), `DELETE FROM tax_rates`); err != nil {
			t.Errorf("remove the tax rates: %v", err)
		}
	})
	if _, err := sh.CreateMethod(ctx, z.ID, shipping.MethodInput{Name: "Standard", Condition: shipping.ConditionNone,
		Rates: []shipping.BandInput{{Min: "0", Price: "4.00"}}, IsActive: true}); err != nil {
		t.Fatalf("create method: %v", err)
	}
	express, err := sh.CreateMethod(ctx, z.ID, shipping.MethodInput{Name: "Express", Condition: shipping.ConditionWeight,
		Rates: []shipping.BandInput{{Min: "0", Price: "9.00"}}, IsActive: true})
	if err != nil {
		t.Fatalf("create method: %v", err)
	}
	for _, in := range []shipping.TaxRateInput{
		{Name: "VAT", CountryCode: "GB", Rate: "0.20", AppliesToShipping: true},
		{Name: "VAT reduced", CountryCode: "GB", TaxClass: ptr("reduced"), Rate: "0.05"},
	} {
		if _, err := sh.CreateTaxRate(ctx, in); err != nil {
			t.Fatalf("create rate: %v", err)
		}
	}
	return sh, express.ID
}

// TestCheckoutBudgetWithShipping: with zones and rates configured a
// checkout of a 3-line cart costs at most 2 statements more than the
// unconfigured budget (it costs none: the destination is read with the
// products).
func TestCheckoutBudgetWithShipping(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	_, express := configureShipping(t, e)
	const lines, budget = 3, 18 + 2

	warm := input(orders.LineInput{ProductID: &e.product(t, "1.00", 5).ID, Quantity: 1})
	warm.ShippingMethodID = &express
	if _, err := e.svc.Checkout(ctx, warm); err != nil {
		t.Fatalf("warm-up checkout: %v", err)
	}
	var cartLines []carts.LineInput
	for i := range lines {
		cartLines = append(cartLines, carts.LineInput{ProductID: ptr(e.product(t, "10.00", 10).ID), Quantity: i + 1})
	}
	cart, err := e.carts.Create(ctx, cartLines, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := input()
	in.Lines, in.CartID, in.ShippingMethodID = nil, &cart.ID, &express
	cctx, count := db.WithStatementCounter(ctx)
	res, err := e.svc.Checkout(cctx, in)
	if err != nil {
		t.Fatalf("checkout: %v", err)
	}
	t.Logf("checkout of a %d-line cart with zones and rates: %d statements (budget %d)", lines, count.Count(), budget)
	if n := count.Count(); n > budget {
		t.Errorf("checkout with zones and rates: %d statements, budget %d", n, budget)
	}
	// 60.00 + 9.00 express; VAT 20 % of both = 13.80
	o := res.Order
	if o.Shipping != money.New(9_00, currency) || o.Tax != money.New(13_80, currency) || o.Total != money.New(82_80, currency) ||
		o.ShippingMethodName == nil || *o.ShippingMethodName != "Express" || len(o.TaxLines) != 1 || o.TaxLines[0].Rate != "0.20" {
		t.Errorf("order shipping %s, tax %s, total %s, method %v, tax lines %+v; want 9.00, 13.80, 82.80, Express, one VAT 0.20",
			o.Shipping, o.Tax, o.Total, o.ShippingMethodName, o.TaxLines)
	}
}

// TestCheckoutShippingErrorsWriteNothing: without a method chosen among
// two, or to an unserved country, checkout is a userError and no order.
func TestCheckoutShippingErrorsWriteNothing(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	configureShipping(t, e)
	p := e.product(t, "10.00", 5)
	for _, tc := range []struct {
		name, country, code string
	}{{"two methods none chosen", "GB", "SHIPPING_METHOD_REQUIRED"}, {"unserved country", "FR", "SHIPPING_UNAVAILABLE"}} {
		t.Run(tc.name, func(t *testing.T) {
			in := input(orders.LineInput{ProductID: &p.ID, Quantity: 1})
			in.ShippingAddress.CountryCode = tc.country
			_, err := e.svc.Checkout(ctx, in)
			if l, ok := apperr.UserErrors(err); !ok || len(l) != 1 || l[0].Code != tc.code {
				t.Fatalf("checkout error %v, want %s", err, tc.code)
			}
			e.wantStock(t, p.ID, stock{OnHand: 5, Reserved: 0, Available: 5})
		})
	}
}
