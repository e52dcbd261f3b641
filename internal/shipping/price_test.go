package shipping

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"commerce/internal/apperr"
	"commerce/internal/money"
	"commerce/internal/pricing"
)

func usd(a int64) money.Money { return money.New(a, "USD") }
func ptr[T any](v T) *T       { return &v }

// v1: 10 % tax, free shipping from 100.00, else 10.00.
var v1 = pricing.Config{TaxRate: pricing.Rate{Num: 10, Den: 100}, FreeShippingThreshold: usd(100_00), FlatShippingRate: usd(10_00)}

func flat(id, name string, price int64, currency string) *Method {
	return &Method{ID: id, Name: name, Condition: ConditionNone, Bands: []Band{{Min: 0, Price: price}}, IsActive: true, Currency: currency}
}

func rate(country, region, class, name string, num, den int64, shipping bool) TaxRate {
	r := TaxRate{Name: name, CountryCode: country, Rate: pricing.Rate{Num: num, Den: den}, AppliesToShipping: shipping}
	if region != "" {
		r.Region = &region
	}
	if class != "" {
		r.TaxClass = &class
	}
	return r
}

func item(price int64, qty int, currency string) Item {
	return Item{UnitPrice: money.New(price, currency), Quantity: qty}
}

type taxLine struct {
	name, rate string
	amount     int64
}

func TestPrice(t *testing.T) {
	standard := flat("m-std", "Standard", 5_00, "USD")
	express := flat("m-exp", "Express", 15_00, "USD")
	weightBands := &Method{ID: "m-w", Name: "By weight", Condition: ConditionWeight, IsActive: true, Currency: "USD",
		Bands: []Band{{Min: 0, Max: ptr[int64](1000), Price: 5_00}, {Min: 1000, Max: ptr[int64](5000), Price: 9_00}, {Min: 5000, Price: 20_00}}}
	freeAbove := &Method{ID: "m-f", Name: "Standard", Condition: ConditionNone, Bands: []Band{{Price: 5_00}},
		FreeAbove: ptr(usd(50_00)), IsActive: true, Currency: "USD"}
	us := func(region string, rates ...TaxRate) Destination {
		return Destination{Country: "US", Region: region, HasZones: true, HasRates: true,
			Methods: []*Method{standard, express}, Rates: rates}
	}
	eu := func(country string, methods []*Method, rates ...TaxRate) Destination {
		return Destination{Country: country, HasZones: true, HasRates: true, Methods: methods, Rates: rates}
	}
	de := []TaxRate{rate("DE", "", "", "DE VAT", 19, 100, true), rate("DE", "", "reduced", "DE VAT reduced", 7, 100, false)}
	incl := v1
	incl.PricesIncludeTax = true

	tests := []struct {
		name     string
		cfg      pricing.Config
		currency string
		items    []Item
		discount int64
		dest     Destination
		method   string
		want     pricing.Totals
		lines    []taxLine
		charged  string   // method charged, "" none
		quotes   []string // method ids, in order
	}{
		{
			name: "unconfigured keeps the v1 rules", cfg: v1, currency: "USD",
			items: []Item{item(19_99, 2, "USD")}, dest: Destination{Country: "US"},
			want:  pricing.Totals{Subtotal: usd(39_98), Discount: usd(0), Tax: usd(4_00), Shipping: usd(10_00), Total: usd(53_98)},
			lines: []taxLine{{"Tax", "0.10", 4_00}},
		},
		{
			name: "US with a state rate, express chosen", cfg: v1, currency: "USD",
			items: []Item{item(100_00, 1, "USD")}, method: "m-exp",
			dest: us("ca", rate("US", "CA", "", "CA sales tax", 725, 10000, false), rate("US", "NY", "", "NY sales tax", 4, 100, false)),
			// 7.25 % of 100.00; shipping not taxed
			want:    pricing.Totals{Subtotal: usd(100_00), Discount: usd(0), Tax: usd(7_25), Shipping: usd(15_00), Total: usd(122_25)},
			lines:   []taxLine{{"CA sales tax", "0.0725", 7_25}},
			charged: "m-exp", quotes: []string{"m-std", "m-exp"},
		},
		{
			name: "US none chosen charges the cheapest", cfg: v1, currency: "USD",
			items: []Item{item(10_00, 1, "USD")}, dest: us("TX"),
			want:    pricing.Totals{Subtotal: usd(10_00), Discount: usd(0), Tax: usd(0), Shipping: usd(5_00), Total: usd(15_00)},
			lines:   []taxLine{},
			charged: "m-std", quotes: []string{"m-std", "m-exp"},
		},
		{
			name: "Canada GST and PST both shown, GST on shipping", cfg: v1, currency: "USD",
			items: []Item{item(100_00, 1, "USD")},
			dest: Destination{Country: "CA", Region: "BC", HasZones: true, HasRates: true,
				Methods: []*Method{flat("m-ca", "Canada Post", 10_00, "USD")},
				Rates:   []TaxRate{rate("CA", "", "", "GST", 5, 100, true), rate("CA", "BC", "", "PST", 7, 100, false)}},
			// GST 5.00 + 0.50 on shipping; PST 7.00
			want:    pricing.Totals{Subtotal: usd(100_00), Discount: usd(0), Tax: usd(12_50), Shipping: usd(10_00), Total: usd(122_50)},
			lines:   []taxLine{{"GST", "0.05", 5_50}, {"PST", "0.07", 7_00}},
			charged: "m-ca", quotes: []string{"m-ca"},
		},
		{
			name: "Germany standard and reduced class on one cart", cfg: v1, currency: "USD",
			items: []Item{item(50_00, 1, "USD"), {UnitPrice: usd(20_00), Quantity: 2, TaxClass: "Reduced"}},
			dest:  eu("DE", []*Method{flat("m-de", "DHL", 0, "USD")}, de...),
			// 19 % of 50.00 = 9.50; 7 % of 40.00 = 2.80; free shipping
			want:    pricing.Totals{Subtotal: usd(90_00), Discount: usd(0), Tax: usd(12_30), Shipping: usd(0), Total: usd(102_30)},
			lines:   []taxLine{{"DE VAT", "0.19", 9_50}, {"DE VAT reduced", "0.07", 2_80}},
			charged: "m-de", quotes: []string{"m-de"},
		},
		{
			name: "a country with no rate has no tax", cfg: v1, currency: "USD",
			items: []Item{item(50_00, 1, "USD")},
			dest:  eu("FR", []*Method{flat("m-fr", "La Poste", 8_00, "USD")}, de...),
			want:  pricing.Totals{Subtotal: usd(50_00), Discount: usd(0), Tax: usd(0), Shipping: usd(8_00), Total: usd(58_00)},
			lines: []taxLine{}, charged: "m-fr", quotes: []string{"m-fr"},
		},
		{
			name: "shipping taxed", cfg: v1, currency: "USD",
			items: []Item{item(10_00, 1, "USD")},
			dest:  eu("DE", []*Method{flat("m-de", "DHL", 4_90, "USD")}, de...),
			// 1.90 + 0.931 → 2.831: per line and rate, 1.90 + 0.93
			want:  pricing.Totals{Subtotal: usd(10_00), Discount: usd(0), Tax: usd(2_83), Shipping: usd(4_90), Total: usd(17_73)},
			lines: []taxLine{{"DE VAT", "0.19", 2_83}}, charged: "m-de", quotes: []string{"m-de"},
		},
		{
			name: "shipping not taxed", cfg: v1, currency: "USD",
			items: []Item{item(10_00, 1, "USD")},
			dest:  eu("DE", []*Method{flat("m-de", "DHL", 4_90, "USD")}, rate("DE", "", "", "DE VAT", 19, 100, false)),
			want:  pricing.Totals{Subtotal: usd(10_00), Discount: usd(0), Tax: usd(1_90), Shipping: usd(4_90), Total: usd(16_80)},
			lines: []taxLine{{"DE VAT", "0.19", 1_90}}, charged: "m-de", quotes: []string{"m-de"},
		},
		{
			name: "prices include tax: extracted, total is prices + shipping − discount", cfg: incl, currency: "USD",
			items: []Item{item(119_00, 1, "USD"), {UnitPrice: usd(10_70), Quantity: 1, TaxClass: "reduced"}}, discount: 0,
			dest: eu("DE", []*Method{flat("m-de", "DHL", 5_95, "USD")}, de...),
			// 119.00 holds 19.00; 10.70 holds 0.70; shipping 5.95 holds 0.95
			want:  pricing.Totals{Subtotal: usd(129_70), Discount: usd(0), Tax: usd(20_65), Shipping: usd(5_95), Total: usd(135_65)},
			lines: []taxLine{{"DE VAT", "0.19", 19_95}, {"DE VAT reduced", "0.07", 70}}, charged: "m-de", quotes: []string{"m-de"},
		},
		{
			name: "prices include tax with a discount spread over the lines", cfg: incl, currency: "USD",
			items: []Item{item(119_00, 1, "USD")}, discount: 11_90,
			dest: eu("DE", []*Method{flat("m-de", "DHL", 0, "USD")}, de...),
			// 107.10 paid holds 17.10
			want:  pricing.Totals{Subtotal: usd(119_00), Discount: usd(11_90), Tax: usd(17_10), Shipping: usd(0), Total: usd(107_10)},
			lines: []taxLine{{"DE VAT", "0.19", 17_10}}, charged: "m-de", quotes: []string{"m-de"},
		},
		{
			name: "free above: at the threshold", cfg: v1, currency: "USD",
			items: []Item{item(50_00, 1, "USD")}, dest: eu("DE", []*Method{freeAbove}),
			want:  pricing.Totals{Subtotal: usd(50_00), Discount: usd(0), Tax: usd(0), Shipping: usd(0), Total: usd(50_00)},
			lines: []taxLine{}, charged: "m-f", quotes: []string{"m-f"},
		},
		{
			name: "free above: one cent below", cfg: v1, currency: "USD",
			items: []Item{item(49_99, 1, "USD")}, dest: eu("DE", []*Method{freeAbove}),
			want:  pricing.Totals{Subtotal: usd(49_99), Discount: usd(0), Tax: usd(0), Shipping: usd(5_00), Total: usd(54_99)},
			lines: []taxLine{}, charged: "m-f", quotes: []string{"m-f"},
		},
		{
			name: "free above is judged after discounts", cfg: v1, currency: "USD",
			items: []Item{item(60_00, 1, "USD")}, discount: 10_01, dest: eu("DE", []*Method{freeAbove}),
			want:  pricing.Totals{Subtotal: usd(60_00), Discount: usd(10_01), Tax: usd(0), Shipping: usd(5_00), Total: usd(54_99)},
			lines: []taxLine{}, charged: "m-f", quotes: []string{"m-f"},
		},
		{
			name: "zero-decimal currency", cfg: pricing.Config{TaxRate: pricing.Rate{Num: 0, Den: 1},
				FreeShippingThreshold: money.New(5000, "JPY"), FlatShippingRate: money.New(500, "JPY")},
			currency: "JPY", items: []Item{item(1205, 1, "JPY"), item(300, 2, "JPY")},
			dest: Destination{Country: "JP", HasZones: true, HasRates: true, Methods: []*Method{flat("m-jp", "Yamato", 800, "JPY")},
				Rates: []TaxRate{rate("JP", "", "", "JCT", 10, 100, true)}},
			// 120.5 → 121, 60, shipping 80
			want: pricing.Totals{Subtotal: money.New(1805, "JPY"), Discount: money.New(0, "JPY"), Tax: money.New(261, "JPY"),
				Shipping: money.New(800, "JPY"), Total: money.New(2866, "JPY")},
			lines: []taxLine{{"JCT", "0.10", 261}}, charged: "m-jp", quotes: []string{"m-jp"},
		},
		{
			name: "rates without zones: v1 shipping, destination tax", cfg: v1, currency: "USD",
			items: []Item{item(20_00, 1, "USD")},
			dest:  Destination{Country: "DE", HasRates: true, Rates: de},
			// the flat 10.00 is taxed too: DE VAT applies to shipping
			want:  pricing.Totals{Subtotal: usd(20_00), Discount: usd(0), Tax: usd(5_70), Shipping: usd(10_00), Total: usd(35_70)},
			lines: []taxLine{{"DE VAT", "0.19", 5_70}},
		},
		{
			name: "zones without rates: method shipping, v1 tax", cfg: v1, currency: "USD",
			items: []Item{item(20_00, 1, "USD")}, dest: Destination{Country: "US", HasZones: true, Methods: []*Method{express}},
			want:  pricing.Totals{Subtotal: usd(20_00), Discount: usd(0), Tax: usd(2_00), Shipping: usd(15_00), Total: usd(37_00)},
			lines: []taxLine{{"Tax", "0.10", 2_00}}, charged: "m-exp", quotes: []string{"m-exp"},
		},
		{
			name: "unserved country", cfg: v1, currency: "USD",
			items: []Item{item(20_00, 1, "USD")}, dest: Destination{Country: "BR", HasZones: true},
			want:  pricing.Totals{Subtotal: usd(20_00), Discount: usd(0), Tax: usd(2_00), Shipping: usd(0), Total: usd(22_00)},
			lines: []taxLine{{"Tax", "0.10", 2_00}}, quotes: []string{},
		},
		{
			name: "a chosen method that no longer serves is not charged", cfg: v1, currency: "USD",
			items: []Item{item(20_00, 1, "USD")}, method: "m-gone",
			dest:  Destination{Country: "US", HasZones: true, Methods: []*Method{express}},
			want:  pricing.Totals{Subtotal: usd(20_00), Discount: usd(0), Tax: usd(2_00), Shipping: usd(15_00), Total: usd(37_00)},
			lines: []taxLine{{"Tax", "0.10", 2_00}}, charged: "m-exp", quotes: []string{"m-exp"},
		},
	}
	for _, grams := range []struct {
		grams int64
		price int64
	}{{0, 5_00}, {999, 5_00}, {1000, 9_00}, {4999, 9_00}, {5000, 20_00}} {
		tests = append(tests, struct {
			name     string
			cfg      pricing.Config
			currency string
			items    []Item
			discount int64
			dest     Destination
			method   string
			want     pricing.Totals
			lines    []taxLine
			charged  string
			quotes   []string
		}{
			name: fmt.Sprintf("weight band edge %d g", grams.grams), cfg: v1, currency: "USD",
			// two units of half the weight: weights add up over quantities
			items: []Item{{UnitPrice: usd(1_00), Quantity: 1, Grams: grams.grams - grams.grams/2}, {UnitPrice: usd(1_00), Quantity: 1, Grams: grams.grams / 2}},
			dest:  Destination{Country: "US", HasZones: true, Methods: []*Method{weightBands}},
			want: pricing.Totals{Subtotal: usd(2_00), Discount: usd(0), Tax: usd(20), Shipping: usd(grams.price),
				Total: usd(2_20 + grams.price)},
			lines: []taxLine{{"Tax", "0.10", 20}}, charged: "m-w", quotes: []string{"m-w"},
		})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Price(Request{Config: tc.cfg, Currency: tc.currency, Items: tc.items,
				Discount: money.New(tc.discount, tc.currency), Dest: tc.dest, MethodID: tc.method})
			if err != nil {
				t.Fatalf("Price: %v", err)
			}
			if res.Totals != tc.want {
				t.Errorf("totals =\n  %+v\nwant\n  %+v", res.Totals, tc.want)
			}
			got := []taxLine{}
			for _, l := range res.TaxLines {
				got = append(got, taxLine{l.Name, FormatRate(l.Rate), l.Amount.Amount})
			}
			if !slices.Equal(got, tc.lines) {
				t.Errorf("tax lines = %v, want %v", got, tc.lines)
			}
			charged := ""
			if res.Charged != nil {
				charged = res.Charged.Method.ID
			}
			if charged != tc.charged {
				t.Errorf("charged %q, want %q", charged, tc.charged)
			}
			var quotes []string
			for _, q := range res.Quotes {
				quotes = append(quotes, q.Method.ID)
			}
			if !slices.Equal(quotes, tc.quotes) {
				t.Errorf("quotes %v, want %v", quotes, tc.quotes)
			}
		})
	}
}

func TestPriceEstimateHidesQuotes(t *testing.T) {
	d := Destination{Country: "US", HasZones: true, Estimated: true, Methods: []*Method{flat("a", "A", 3_00, "USD"), flat("b", "B", 4_00, "USD")}}
	res, err := Price(Request{Config: v1, Currency: "USD", Items: []Item{item(1_00, 1, "USD")}, Discount: usd(0), Dest: d})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Quotes) != 0 || res.Charged == nil || res.Shipping != usd(3_00) {
		t.Fatalf("estimate: quotes %v, charged %v, shipping %s; want no quotes and the cheapest charged", res.Quotes, res.Charged, res.Shipping)
	}
}

// A free-shipping promotion waives the charged method's price and its tax,
// keeps the quotes (a storefront still shows them), and waives the v1 flat
// rate where no zone exists.
func TestPriceFreeShipping(t *testing.T) {
	express := flat("m-exp", "Express", 15_00, "USD")
	zoned := Destination{Country: "US", Region: "CA", HasZones: true, HasRates: true, Methods: []*Method{express},
		Rates: []TaxRate{rate("US", "CA", "", "CA", 10, 100, true)}}
	res, err := Price(Request{Config: v1, Currency: "USD", Items: []Item{item(40_00, 1, "USD")}, Discount: usd(0),
		Dest: zoned, MethodID: "m-exp", FreeShipping: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Shipping != usd(0) || res.Tax != usd(4_00) || res.Total != usd(44_00) || len(res.Quotes) != 1 || res.Quotes[0].Price != usd(15_00) {
		t.Errorf("zoned: shipping %s tax %s total %s quotes %+v; want 0.00, 4.00 (none on shipping), 44.00 and the express quote",
			res.Shipping, res.Tax, res.Total, res.Quotes)
	}
	res, err = Price(Request{Config: v1, Currency: "USD", Items: []Item{item(40_00, 1, "USD")}, Discount: usd(0), FreeShipping: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Shipping != usd(0) || res.Total != usd(44_00) {
		t.Errorf("unconfigured: shipping %s total %s; want 0.00 and 44.00", res.Shipping, res.Total)
	}
}

func TestCheckoutError(t *testing.T) {
	one := []*Method{flat("a", "A", 3_00, "USD")}
	two := append(one, flat("b", "B", 4_00, "USD"))
	tests := []struct {
		name     string
		dest     Destination
		method   string
		explicit bool
		code     string // "" no error
		field    []string
	}{
		{name: "unconfigured", dest: Destination{Country: "US"}},
		{name: "unserved", dest: Destination{Country: "BR", HasZones: true}, code: "SHIPPING_UNAVAILABLE",
			field: []string{"input", "shippingAddress", "countryCode"}},
		{name: "single method picked", dest: Destination{Country: "US", HasZones: true, Methods: one}},
		{name: "two methods none chosen", dest: Destination{Country: "US", HasZones: true, Methods: two},
			code: "SHIPPING_METHOD_REQUIRED", field: []string{"input", "shippingMethodId"}},
		{name: "two methods one chosen", dest: Destination{Country: "US", HasZones: true, Methods: two}, method: "b", explicit: true},
		{name: "the cart's stale method counts as none", dest: Destination{Country: "US", HasZones: true, Methods: two}, method: "gone",
			code: "SHIPPING_METHOD_REQUIRED", field: []string{"input", "shippingMethodId"}},
		{name: "a named method that cannot serve", dest: Destination{Country: "US", HasZones: true, Methods: one}, method: "gone", explicit: true,
			code: "SHIPPING_METHOD_UNAVAILABLE", field: []string{"input", "shippingMethodId"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Price(Request{Config: v1, Currency: "USD", Items: []Item{item(1_00, 1, "USD")}, Discount: usd(0),
				Dest: tc.dest, MethodID: tc.method})
			if err != nil {
				t.Fatal(err)
			}
			err = res.CheckoutError(tc.explicit)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("CheckoutError = %v, want none", err)
				}
				return
			}
			var e *apperr.Error
			if !errors.As(err, &e) || e.Code != tc.code || !slices.Equal(e.Field, tc.field) {
				t.Fatalf("CheckoutError = %#v, want %s at %v", err, tc.code, tc.field)
			}
		})
	}
}

func TestFormatRate(t *testing.T) {
	for _, tc := range []struct {
		r    pricing.Rate
		want string
	}{{pricing.Rate{Num: 19, Den: 100}, "0.19"}, {pricing.Rate{Num: 825, Den: 10000}, "0.0825"}, {pricing.Rate{Num: 0, Den: 1}, "0"},
		{pricing.Rate{Num: 5, Den: 10}, "0.5"}} {
		if got := FormatRate(tc.r); got != tc.want {
			t.Errorf("FormatRate(%v) = %q, want %q", tc.r, got, tc.want)
		}
	}
}
