package carts_test

import (
	"context"
	"slices"
	"testing"

	"commerce/internal/apperr"
	"commerce/internal/carts"
	"commerce/internal/catalog"
	"commerce/internal/customers"
	"commerce/internal/money"
	"commerce/internal/pricing"
	"commerce/internal/shipping"
)

var v1 = pricing.Config{TaxRate: pricing.Rate{Num: 10, Den: 100}, FreeShippingThreshold: money.New(100_00, "USD"),
	FlatShippingRate: money.New(10_00, "USD")}

func usAddress() customers.Address {
	return customers.Address{FirstName: "Grace", LastName: "Hopper", Line1: "1 Navy Way", City: "Arlington",
		PostalCode: "22201", CountryCode: "us"}
}

// TestShippingAddressAndMethod: an address gives the cart quotes; a method
// is chosen among them, and stops being charged when the cart's weight
// leaves its band; bad input is a userError that writes nothing.
func TestShippingAddressAndMethod(t *testing.T) {
	svc, b := setup(t)
	ctx := context.Background()
	if _, err := b.db.Bun.ExecContext(ctx, `DELETE FROM shipping_zones; DELETE FROM tax_rates`); err != nil {
		t.Fatal(err)
	}
	sh := shipping.NewService(b.db, shipping.Config{Currency: "USD", StoreCountry: "US"})
	svc.WithShipping(sh)
	t.Cleanup(func() { _, _ = b.db.Bun.ExecContext(context.Background(), `DELETE FROM shipping_zones`) })

	p := newProduct(t, b, "10.00", func(in *catalog.CreateInput) { in.WeightGrams = ptr(400) })
	c, err := svc.Create(ctx, []carts.LineInput{byID(p, 1)}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Unconfigured: no quotes, and no method can be chosen.
	if _, err := svc.SetShippingMethod(ctx, c.ID, "00000000-0000-4000-8000-000000000000", v1); !hasCode(err, "SHIPPING_METHOD_UNAVAILABLE", "shippingMethodId") {
		t.Errorf("a method in an unconfigured store: %v, want SHIPPING_METHOD_UNAVAILABLE", err)
	}

	zone, err := sh.CreateZone(ctx, shipping.ZoneInput{Name: "US", Countries: []string{"US"}})
	if err != nil {
		t.Fatal(err)
	}
	light, err := sh.CreateMethod(ctx, zone.ID, shipping.MethodInput{Name: "Letter", Condition: shipping.ConditionWeight, IsActive: true,
		Rates: []shipping.BandInput{{Min: "0", Max: ptr("1000"), Price: "2.00"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sh.CreateMethod(ctx, zone.ID, shipping.MethodInput{Name: "Parcel", Condition: shipping.ConditionNone, IsActive: true,
		Rates: []shipping.BandInput{{Min: "0", Price: "6.00"}}}); err != nil {
		t.Fatal(err)
	}

	bad := usAddress()
	bad.CountryCode = "USA"
	if _, err := svc.SetShippingAddress(ctx, c.ID, bad); !hasCode(err, "", "address", "countryCode") {
		t.Errorf("a bad address: %v, want a userError at address.countryCode", err)
	}
	if got, _ := svc.ByID(ctx, c.ID); got.ShippingAddress != nil {
		t.Errorf("a refused address was written: %+v", got.ShippingAddress)
	}
	if c, err = svc.SetShippingAddress(ctx, c.ID, usAddress()); err != nil {
		t.Fatal(err)
	}
	if c, err = svc.SetShippingMethod(ctx, c.ID, light.ID, v1); err != nil {
		t.Fatal(err)
	}
	priced, err := svc.Price(ctx, c, v1)
	if err != nil {
		t.Fatal(err)
	}
	if priced.Shipping.Chosen == nil || priced.Totals.Shipping != money.New(2_00, "USD") || priced.TaxIsEstimate {
		t.Fatalf("chosen %v, shipping %s, estimate %v; want Letter at 2.00 for the address", priced.Shipping.Chosen, priced.Totals.Shipping, priced.TaxIsEstimate)
	}

	// Three units weigh 1200 g: the letter no longer applies and is not charged.
	if c, err = svc.UpdateLines(ctx, c.ID, []carts.LineUpdate{{ID: c.Lines[0].ID, Quantity: 3}}); err != nil {
		t.Fatal(err)
	}
	if priced, err = svc.Price(ctx, c, v1); err != nil {
		t.Fatal(err)
	}
	if priced.Shipping.Chosen != nil || priced.Totals.Shipping != money.New(6_00, "USD") || len(priced.Shipping.Quotes) != 1 {
		t.Errorf("a heavier cart: chosen %v, shipping %s, %d quotes; want none chosen, Parcel at 6.00 charged", priced.Shipping.Chosen,
			priced.Totals.Shipping, len(priced.Shipping.Quotes))
	}
	if _, err := svc.SetShippingMethod(ctx, c.ID, light.ID, v1); !hasCode(err, "SHIPPING_METHOD_UNAVAILABLE", "shippingMethodId") {
		t.Errorf("choosing a method that cannot serve the cart: %v, want SHIPPING_METHOD_UNAVAILABLE", err)
	}
}

func hasCode(err error, code string, path ...string) bool {
	l, ok := apperr.UserErrors(err)
	return ok && slices.ContainsFunc(l, func(e *apperr.Error) bool {
		return (code == "" || e.Code == code) && slices.Equal(e.Field, path)
	})
}
