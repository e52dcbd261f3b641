package shipping

import (
	"context"
	"fmt"
	"slices"
)

// demoInternational are the countries of the demo's international zone
// (less the store's own, which is domestic).
var demoInternational = []string{"AU", "CA", "DE", "ES", "FR", "GB", "IE", "IT", "JP", "NL", "US"}

// SeedDemo gives a store without shipping zones and tax rates the demo
// configuration of `make run`, so that carts show quotes: a domestic zone
// (STORE_COUNTRY) with Standard by weight and Express, an international
// zone with one method by subtotal that is free from 150.00, and a few tax
// rates (US states, Canada's GST and Ontario's HST, German VAT with its
// reduced class, UK VAT on shipping too). It does nothing when a zone or a
// rate exists. It returns how many zones, methods and rates it created,
// and the first error otherwise.
func (s *Service) SeedDemo(ctx context.Context) (int, error) {
	zones, err := s.Zones(ctx)
	if err != nil {
		return 0, err
	}
	rates, err := s.TaxRates(ctx)
	if err != nil || len(zones) > 0 || len(rates) > 0 {
		return 0, err
	}
	created := 0
	domestic, err := s.CreateZone(ctx, ZoneInput{Name: "Domestic", Countries: []string{s.cfg.StoreCountry}})
	if err != nil {
		return created, fmt.Errorf("seed demo zone: %w", err)
	}
	abroad := slices.DeleteFunc(slices.Clone(demoInternational), func(c string) bool { return c == s.cfg.StoreCountry })
	international, err := s.CreateZone(ctx, ZoneInput{Name: "International", Countries: abroad})
	if err != nil {
		return created, fmt.Errorf("seed demo zone: %w", err)
	}
	created += 2
	days := func(n int) *int { return &n }
	str := func(s string) *string { return &s }
	methods := []struct {
		zone string
		in   MethodInput
	}{
		{domestic.ID, MethodInput{Name: "Standard", Carrier: str("USPS"), Condition: ConditionWeight, IsActive: true,
			MinDays: days(3), MaxDays: days(5), FreeAbove: str("100.00"),
			Rates: []BandInput{{Min: "0", Max: str("1000"), Price: "5.00"}, {Min: "1000", Max: str("5000"), Price: "9.00"}, {Min: "5000", Price: "19.00"}}}},
		{domestic.ID, MethodInput{Name: "Express", Carrier: str("UPS"), Condition: ConditionNone, IsActive: true,
			MinDays: days(1), MaxDays: days(2), Rates: []BandInput{{Min: "0", Price: "15.00"}}}},
		{international.ID, MethodInput{Name: "International", Carrier: str("DHL"), Condition: ConditionSubtotal, IsActive: true,
			MinDays: days(5), MaxDays: days(10), FreeAbove: str("150.00"),
			Rates: []BandInput{{Min: "0", Max: str("50.00"), Price: "25.00"}, {Min: "50.00", Price: "18.00"}}}},
	}
	for _, m := range methods {
		if _, err := s.CreateMethod(ctx, m.zone, m.in); err != nil {
			return created, fmt.Errorf("seed demo method %q: %w", m.in.Name, err)
		}
		created++
	}
	for _, in := range []TaxRateInput{
		{Name: "CA sales tax", CountryCode: "US", Region: str("CA"), Rate: "0.0725"},
		{Name: "NY sales tax", CountryCode: "US", Region: str("NY"), Rate: "0.04", AppliesToShipping: true},
		{Name: "GST", CountryCode: "CA", Rate: "0.05", AppliesToShipping: true},
		{Name: "HST", CountryCode: "CA", Region: str("ON"), Rate: "0.08", AppliesToShipping: true},
		{Name: "DE VAT", CountryCode: "DE", Rate: "0.19", AppliesToShipping: true},
		{Name: "DE VAT reduced", CountryCode: "DE", TaxClass: str("reduced"), Rate: "0.07"},
		{Name: "UK VAT", CountryCode: "GB", Rate: "0.20", AppliesToShipping: true},
	} {
		if _, err := s.CreateTaxRate(ctx, in); err != nil {
			return created, fmt.Errorf("seed demo tax rate %q: %w", in.Name, err)
		}
		created++
	}
	return created, nil
}
