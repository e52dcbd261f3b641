package shipping_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"

	"commerce/internal/apperr"
	"commerce/internal/platform/db"
	"commerce/internal/platform/dbtest"
	"commerce/internal/shipping"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }

func ptr[T any](v T) *T { return &v }

// setup returns the service over an empty configuration.
func setup(t *testing.T) (*shipping.Service, *db.DB) {
	t.Helper()
	d := dbtest.DB(t)
	if _, err := d.Bun.ExecContext(context.Background(), `DELETE FROM shipping_zones; DELETE FROM tax_rates`); err != nil {
		t.Fatal(err)
	}
	return shipping.NewService(d, shipping.Config{Currency: "USD", StoreCountry: "US"}), d
}

// rows counts the configuration rows, to see that a refusal wrote nothing.
func rows(t *testing.T, d *db.DB) [3]int {
	t.Helper()
	var n [3]int
	err := d.SQL.QueryRow(`SELECT (SELECT count(*) FROM shipping_zones), (SELECT count(*) FROM shipping_methods),
		(SELECT count(*) FROM tax_rates)`).Scan(&n[0], &n[1], &n[2])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// wantUserError checks that err is a userError of kind at path.
func wantUserError(t *testing.T, err error, kind apperr.Kind, code string, path ...string) {
	t.Helper()
	l, ok := apperr.UserErrors(err)
	if !ok {
		t.Fatalf("error %v, want a userError at %v", err, path)
	}
	for _, e := range l {
		if e.Kind == kind && slices.Equal(e.Field, path) && (code == "" || e.Code == code) {
			return
		}
	}
	t.Fatalf("userErrors %v, want %s %s at %v", l, kind, code, path)
}

func TestBadInputWritesNothing(t *testing.T) {
	svc, d := setup(t)
	ctx := context.Background()
	zone, err := svc.CreateZone(ctx, shipping.ZoneInput{Name: "Domestic", Countries: []string{"us", "CA"}})
	if err != nil {
		t.Fatalf("create zone: %v", err)
	}
	if !slices.Equal(zone.Countries, []string{"CA", "US"}) {
		t.Errorf("countries %v, want [CA US]", zone.Countries)
	}
	if _, err := svc.CreateTaxRate(ctx, shipping.TaxRateInput{Name: "GST", CountryCode: "CA", Rate: "0.05"}); err != nil {
		t.Fatalf("create rate: %v", err)
	}
	before := rows(t, d)
	band := func(min string, max *string, price string) shipping.BandInput {
		return shipping.BandInput{Min: min, Max: max, Price: price}
	}
	method := func(cond shipping.Condition, bands ...shipping.BandInput) shipping.MethodInput {
		return shipping.MethodInput{Name: "M", Condition: cond, Rates: bands, IsActive: true}
	}
	tests := []struct {
		name string
		call func() error
		kind apperr.Kind
		code string
		path []string
	}{
		{"unknown country", func() error {
			_, err := svc.CreateZone(ctx, shipping.ZoneInput{Name: "X", Countries: []string{"DE", "XX"}})
			return err
		}, apperr.Invalid, "", []string{"input", "countries", "1"}},
		{"a country in two zones", func() error {
			_, err := svc.CreateZone(ctx, shipping.ZoneInput{Name: "X", Countries: []string{"DE", "us"}})
			return err
		}, apperr.Conflict, "TAKEN", []string{"input", "countries", "1"}},
		{"a country given twice", func() error {
			_, err := svc.CreateZone(ctx, shipping.ZoneInput{Name: "X", Countries: []string{"DE", "de"}})
			return err
		}, apperr.Invalid, "", []string{"input", "countries", "1"}},
		{"no name", func() error {
			_, err := svc.CreateZone(ctx, shipping.ZoneInput{Name: " ", Countries: []string{"DE"}})
			return err
		}, apperr.Invalid, "", []string{"input", "name"}},
		{"unknown zone", func() error {
			_, err := svc.UpdateZone(ctx, "00000000-0000-4000-8000-000000000000", shipping.ZoneInput{Name: "X", Countries: []string{"DE"}})
			return err
		}, apperr.NotFound, "", []string{"id"}},
		{"malformed zone id", func() error {
			_, err := svc.CreateMethod(ctx, "nope", method(shipping.ConditionNone, band("0", nil, "1.00")))
			return err
		}, apperr.NotFound, "", []string{"zoneId"}},
		{"overlapping bands", func() error {
			_, err := svc.CreateMethod(ctx, zone.ID, method(shipping.ConditionWeight,
				band("0", ptr("1000"), "5.00"), band("500", nil, "9.00")))
			return err
		}, apperr.Invalid, "", []string{"input", "rates", "1", "min"}},
		{"gapped bands", func() error {
			_, err := svc.CreateMethod(ctx, zone.ID, method(shipping.ConditionSubtotal,
				band("50.00", nil, "0.00"), band("0", ptr("49.00"), "5.00")))
			return err
		}, apperr.Invalid, "", []string{"input", "rates", "0", "min"}},
		{"two open bands", func() error {
			_, err := svc.CreateMethod(ctx, zone.ID, method(shipping.ConditionWeight, band("0", nil, "5.00"), band("10", nil, "9.00")))
			return err
		}, apperr.Invalid, "", []string{"input", "rates", "1", "min"}},
		{"max not above min", func() error {
			_, err := svc.CreateMethod(ctx, zone.ID, method(shipping.ConditionWeight, band("10", ptr("10"), "5.00")))
			return err
		}, apperr.Invalid, "", []string{"input", "rates", "0", "max"}},
		{"fractional grams", func() error {
			_, err := svc.CreateMethod(ctx, zone.ID, method(shipping.ConditionWeight, band("0.5", nil, "5.00")))
			return err
		}, apperr.Invalid, "", []string{"input", "rates", "0", "min"}},
		{"negative price", func() error {
			_, err := svc.CreateMethod(ctx, zone.ID, method(shipping.ConditionNone, band("0", nil, "-1.00")))
			return err
		}, apperr.Invalid, "", []string{"input", "rates", "0", "price"}},
		{"NONE with two rates", func() error {
			_, err := svc.CreateMethod(ctx, zone.ID, method(shipping.ConditionNone, band("0", ptr("1"), "1.00"), band("1", nil, "1.00")))
			return err
		}, apperr.Invalid, "", []string{"input", "rates"}},
		{"NONE with a max", func() error {
			_, err := svc.CreateMethod(ctx, zone.ID, method(shipping.ConditionNone, band("0", ptr("5"), "1.00")))
			return err
		}, apperr.Invalid, "", []string{"input", "rates", "0", "min"}},
		{"days the wrong way round", func() error {
			in := method(shipping.ConditionNone, band("0", nil, "1.00"))
			in.MinDays, in.MaxDays = ptr(5), ptr(2)
			_, err := svc.CreateMethod(ctx, zone.ID, in)
			return err
		}, apperr.Invalid, "", []string{"input", "maxDeliveryDays"}},
		{"rate of one", func() error {
			_, err := svc.CreateTaxRate(ctx, shipping.TaxRateInput{Name: "T", CountryCode: "DE", Rate: "1"})
			return err
		}, apperr.Invalid, "", []string{"input", "rate"}},
		{"negative rate", func() error {
			_, err := svc.CreateTaxRate(ctx, shipping.TaxRateInput{Name: "T", CountryCode: "DE", Rate: "-0.1"})
			return err
		}, apperr.Invalid, "", []string{"input", "rate"}},
		{"rate of an unknown country", func() error {
			_, err := svc.CreateTaxRate(ctx, shipping.TaxRateInput{Name: "T", CountryCode: "ZZ", Rate: "0.1"})
			return err
		}, apperr.Invalid, "", []string{"input", "countryCode"}},
		{"a second standard rate of a country", func() error {
			_, err := svc.CreateTaxRate(ctx, shipping.TaxRateInput{Name: "GST 2", CountryCode: "ca", Rate: "0.06"})
			return err
		}, apperr.Conflict, "TAKEN", []string{"input", "countryCode"}},
		{"unknown rate", func() error {
			_, err := svc.DeleteTaxRate(ctx, "00000000-0000-4000-8000-000000000000")
			return err
		}, apperr.NotFound, "", []string{"id"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantUserError(t, tc.call(), tc.kind, tc.code, tc.path...)
			if after := rows(t, d); after != before {
				t.Errorf("rows %v after a refusal, want %v", after, before)
			}
		})
	}
}

func TestDestinationAndDelete(t *testing.T) {
	svc, d := setup(t)
	ctx := context.Background()
	dest, err := svc.Destination(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if dest.HasZones || dest.HasRates || !dest.Estimated || dest.Country != "US" {
		t.Fatalf("unconfigured destination %+v, want nothing configured, estimated for US", dest)
	}
	zone, err := svc.CreateZone(ctx, shipping.ZoneInput{Name: "North America", Countries: []string{"US", "CA"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := svc.CreateMethod(ctx, zone.ID, shipping.MethodInput{Name: "Ground", Condition: shipping.ConditionWeight, IsActive: true,
		Rates: []shipping.BandInput{{Min: "1000", Price: "9.00"}, {Min: "0", Max: ptr("1000"), Price: "5.00"}}, FreeAbove: ptr("100.00")})
	if err != nil {
		t.Fatal(err)
	}
	if m.Bands[0].Min != 0 || m.Bands[1].Min != 1000 || m.FreeAbove.Amount != 100_00 || m.Zone.ID != zone.ID {
		t.Errorf("method %+v: want bands sorted by min, free above 100.00, in its zone", m)
	}
	if _, err := svc.CreateMethod(ctx, zone.ID, shipping.MethodInput{Name: "Off", Condition: shipping.ConditionNone,
		Rates: []shipping.BandInput{{Min: "0", Price: "1.00"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateTaxRate(ctx, shipping.TaxRateInput{Name: "ON HST", CountryCode: "CA", Region: ptr("on"), Rate: "0.13"}); err != nil {
		t.Fatal(err)
	}
	dest, err = svc.Destination(ctx, "ca", "ON")
	if err != nil {
		t.Fatal(err)
	}
	if !dest.HasZones || !dest.HasRates || len(dest.Methods) != 1 || dest.Methods[0].ID != m.ID || len(dest.Rates) != 1 ||
		*dest.Rates[0].Region != "ON" || shipping.FormatRate(dest.Rates[0].Rate) != "0.13" {
		t.Fatalf("destination CA/ON %+v: want the active method and the ON rate", dest)
	}
	if dest, err = svc.Destination(ctx, "FR", ""); err != nil || len(dest.Methods) != 0 || !dest.HasZones {
		t.Fatalf("destination FR %+v, %v: want zones configured and no method", dest, err)
	}
	if _, err := svc.UpdateZone(ctx, zone.ID, shipping.ZoneInput{Name: "US only", Countries: []string{"US"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateZone(ctx, shipping.ZoneInput{Name: "Canada", Countries: []string{"CA"}}); err != nil {
		t.Fatalf("CA left the first zone, a new zone may take it: %v", err)
	}
	if id, err := svc.DeleteZone(ctx, zone.ID); err != nil || id != zone.ID {
		t.Fatalf("delete zone: %q, %v", id, err)
	}
	if n := rows(t, d); n[1] != 0 {
		t.Errorf("%d methods left after deleting their zone, want 0", n[1])
	}
	if _, err := svc.DeleteMethod(ctx, m.ID); !errors.Is(err, apperr.ErrNotFound) {
		t.Errorf("deleting a method of a deleted zone: %v, want NOT_FOUND", err)
	}
}

func TestSeedDemo(t *testing.T) {
	svc, d := setup(t)
	ctx := context.Background()
	n, err := svc.SeedDemo(ctx)
	if err != nil || n != 12 {
		t.Fatalf("SeedDemo = %d, %v; want 12 rows", n, err)
	}
	if got := rows(t, d); got != [3]int{2, 3, 7} {
		t.Errorf("rows %v, want 2 zones, 3 methods, 7 rates", got)
	}
	dest, err := svc.Destination(ctx, "US", "CA")
	if err != nil || len(dest.Methods) != 2 {
		t.Fatalf("the store country's destination %+v, %v: want the two domestic methods", dest, err)
	}
	if again, err := svc.SeedDemo(ctx); err != nil || again != 0 {
		t.Errorf("second SeedDemo = %d, %v; want 0", again, err)
	}
}
