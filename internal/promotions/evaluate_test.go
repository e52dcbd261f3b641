package promotions

import (
	"reflect"
	"testing"
	"time"

	"commerce/internal/money"
	"commerce/internal/pricing"
)

var now = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func pct(id string, v int64) Promotion {
	return Promotion{ID: id, Name: id, ValueType: Percentage, Value: v * 100, Currency: "USD", IsActive: true}
}

func fixed(id string, v int64) Promotion {
	return Promotion{ID: id, Name: id, ValueType: FixedAmount, Value: v, Currency: "USD", IsActive: true}
}

func ship(id string) Promotion {
	return Promotion{ID: id, Name: id, ValueType: FreeShipping, Currency: "USD", IsActive: true}
}

func coded(p Promotion, code string) Promotion { p.Code = &code; return p }

func combining(p Promotion) Promotion { p.Combines = true; return p }

func lines(totals ...int64) []Line {
	out := make([]Line, len(totals))
	for i, t := range totals {
		out[i] = Line{ProductID: string(rune('a' + i)), Total: t}
	}
	return out
}

type alloc struct {
	id     string
	amount int64
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name     string
		in       Input
		allocs   []alloc
		lineDisc []int64
		discount int64
		freeShip bool
		problems []string // codes, in order
		pending  []int
	}{
		{
			name: "percentage rounds half-up per line",
			// 10.05 × 10 % = 1.005 → 1.01; 0.15 × 10 % = 0.015 → 0.02
			in:       Input{Lines: lines(10_05, 15), Promotions: []Promotion{pct("p", 10)}},
			allocs:   []alloc{{"p", 1_03}},
			lineDisc: []int64{1_01, 2}, discount: 1_03,
		},
		{
			name:     "percentage with decimals",
			in:       Input{Lines: lines(100_00), Promotions: []Promotion{{ID: "p", Name: "p", ValueType: Percentage, Value: 1250, IsActive: true}}},
			allocs:   []alloc{{"p", 12_50}},
			lineDisc: []int64{12_50}, discount: 12_50,
		},
		{
			name:     "100 % is the whole line",
			in:       Input{Lines: lines(33_33), Promotions: []Promotion{pct("p", 100)}},
			allocs:   []alloc{{"p", 33_33}},
			lineDisc: []int64{33_33}, discount: 33_33,
		},
		{
			name: "fixed amount allocated in proportion, remainder to the largest lines",
			// 10.00 over 3 equal lines: 3.33 each, 1 cent left to the first (tie: earlier)
			in:       Input{Lines: lines(5_00, 5_00, 5_00), Promotions: []Promotion{fixed("f", 10_00)}},
			allocs:   []alloc{{"f", 10_00}},
			lineDisc: []int64{3_34, 3_33, 3_33}, discount: 10_00,
		},
		{
			name: "fixed remainder goes to the largest line first",
			// 1.00 over 1.00/2.00/4.00 (7.00): floors 14, 28, 57 = 99; 1 left → the 4.00 line
			in:       Input{Lines: lines(1_00, 2_00, 4_00), Promotions: []Promotion{fixed("f", 1_00)}},
			allocs:   []alloc{{"f", 1_00}},
			lineDisc: []int64{14, 28, 58}, discount: 1_00,
		},
		{
			name:     "fixed amount capped at the eligible subtotal",
			in:       Input{Lines: lines(3_00, 4_00), Promotions: []Promotion{fixed("f", 50_00)}},
			allocs:   []alloc{{"f", 7_00}},
			lineDisc: []int64{3_00, 4_00}, discount: 7_00,
		},
		{
			name: "only eligible lines, by category, tag or product (a union)",
			in: Input{Lines: []Line{
				{ProductID: "a", Category: ptr("Shoes"), Total: 10_00},
				{ProductID: "b", Tags: []string{"Sale"}, Total: 20_00},
				{ProductID: "c", Total: 30_00},
				{ProductID: "d", Category: ptr("hats"), Total: 40_00},
			}, Promotions: []Promotion{func() Promotion {
				p := pct("p", 10)
				p.Target = Target{Categories: []string{"shoes"}, Tags: []string{"sale"}, ProductIDs: []string{"c"}}
				return p
			}()}},
			allocs:   []alloc{{"p", 6_00}},
			lineDisc: []int64{1_00, 2_00, 3_00, 0}, discount: 6_00,
		},
		{
			name: "minimum met on the eligible lines",
			in: Input{Lines: lines(30_00, 20_00), Promotions: []Promotion{func() Promotion {
				p := pct("p", 10)
				p.MinimumSubtotal = ptr(int64(50_00))
				return p
			}()}},
			allocs:   []alloc{{"p", 5_00}},
			lineDisc: []int64{3_00, 2_00}, discount: 5_00,
		},
		{
			name: "a code whose minimum is not met is pending, not a problem",
			in: Input{Lines: lines(49_99), Codes: []string{"welcome10"}, Promotions: []Promotion{func() Promotion {
				p := coded(pct("p", 10), "WELCOME10")
				p.MinimumSubtotal = ptr(int64(50_00))
				return p
			}()}},
			lineDisc: []int64{0}, pending: []int{0},
		},
		{
			name: "codes match case-insensitively and a repeated code counts once",
			in: Input{Lines: lines(10_00), Codes: []string{" save5 ", "SAVE5"},
				Promotions: []Promotion{coded(fixed("f", 5_00), "SAVE5")}},
			allocs:   []alloc{{"f", 5_00}},
			lineDisc: []int64{5_00}, discount: 5_00,
		},
		{
			name: "unknown, inactive and archived codes are invalid",
			in: Input{Lines: lines(10_00), Codes: []string{"NOPE", "OFF", "OLD"}, Promotions: []Promotion{
				func() Promotion { p := coded(pct("off", 10), "OFF"); p.IsActive = false; return p }(),
				func() Promotion { p := coded(pct("old", 10), "OLD"); p.ArchivedAt = &now; return p }(),
			}},
			lineDisc: []int64{0}, problems: []string{CodeInvalid, CodeInvalid, CodeInvalid},
		},
		{
			name: "schedule edges: startsAt is included, endsAt excluded",
			in: Input{Lines: lines(10_00), Codes: []string{"STARTS", "ENDS", "LATER"}, Now: now, Promotions: []Promotion{
				combining(func() Promotion { p := coded(pct("s", 10), "STARTS"); p.StartsAt = &now; return p }()),
				func() Promotion { p := coded(pct("e", 10), "ENDS"); p.EndsAt = &now; return p }(),
				func() Promotion {
					p := coded(pct("l", 10), "LATER")
					p.StartsAt = ptr(now.Add(time.Nanosecond))
					return p
				}(),
			}},
			allocs:   []alloc{{"s", 1_00}},
			lineDisc: []int64{1_00}, discount: 1_00, problems: []string{CodeExpired, CodeExpired},
		},
		{
			name: "a used-up code",
			in: Input{Lines: lines(10_00), Codes: []string{"X"}, Promotions: []Promotion{
				func() Promotion { p := coded(pct("x", 10), "X"); p.UsageLimit, p.TimesUsed = ptr(5), 5; return p }(),
			}},
			lineDisc: []int64{0}, problems: []string{CodeUsageLimit},
		},
		{
			name: "a code the customer has used up",
			in: Input{Lines: lines(10_00), Codes: []string{"ONCE"}, CustomerUses: map[string]int{"o": 1}, Promotions: []Promotion{
				func() Promotion { p := coded(pct("o", 10), "ONCE"); p.PerCustomerLimit = ptr(1); return p }(),
			}},
			lineDisc: []int64{0}, problems: []string{CodeCustomerLimit},
		},
		{
			name: "two codes of which one does not combine",
			in: Input{Lines: lines(10_00), Codes: []string{"A", "B"}, Promotions: []Promotion{
				combining(coded(pct("a", 10), "A")), coded(pct("b", 20), "B"),
			}},
			allocs:   []alloc{{"a", 1_00}},
			lineDisc: []int64{1_00}, discount: 1_00, problems: []string{CodeNotCombinable},
		},
		{
			name: "combinable promotions each on the totals before discounts, summed",
			in: Input{Lines: lines(10_00), Codes: []string{"A", "B"}, Promotions: []Promotion{
				combining(coded(pct("a", 10), "A")), combining(coded(pct("b", 20), "B")),
			}},
			allocs:   []alloc{{"a", 1_00}, {"b", 2_00}},
			lineDisc: []int64{3_00}, discount: 3_00,
		},
		{
			name: "combined discounts are capped at the line",
			in: Input{Lines: lines(10_00), Codes: []string{"A"}, Promotions: []Promotion{
				combining(pct("auto", 80)), combining(coded(fixed("a", 5_00), "A")),
			}},
			allocs:   []alloc{{"auto", 8_00}, {"a", 2_00}},
			lineDisc: []int64{10_00}, discount: 10_00,
		},
		{
			name: "automatic free shipping vs a non-combinable 20 % code: the larger wins (the code)",
			in: Input{Lines: lines(80_00), Shipping: 10_00, Codes: []string{"TWENTY"}, Promotions: []Promotion{
				ship("fs"), coded(pct("twenty", 20), "TWENTY"),
			}},
			allocs:   []alloc{{"twenty", 16_00}},
			lineDisc: []int64{16_00}, discount: 16_00,
		},
		{
			name: "the larger wins: free shipping over a small code",
			in: Input{Lines: lines(20_00), Shipping: 10_00, Codes: []string{"TWENTY"}, Promotions: []Promotion{
				ship("fs"), coded(pct("twenty", 20), "TWENTY"),
			}},
			allocs:   []alloc{{"fs", 10_00}},
			lineDisc: []int64{0}, freeShip: true,
		},
		{
			name: "a combinable free shipping vs a non-combinable code: still the larger wins",
			in: Input{Lines: lines(80_00), Shipping: 10_00, Codes: []string{"TWENTY"}, Promotions: []Promotion{
				combining(ship("fs")), coded(pct("twenty", 20), "TWENTY"),
			}},
			allocs:   []alloc{{"twenty", 16_00}},
			lineDisc: []int64{16_00}, discount: 16_00,
		},
		{
			name: "both combinable: both apply",
			in: Input{Lines: lines(80_00), Shipping: 10_00, Codes: []string{"TWENTY"}, Promotions: []Promotion{
				combining(ship("fs")), combining(coded(pct("twenty", 20), "TWENTY")),
			}},
			allocs:   []alloc{{"fs", 10_00}, {"twenty", 16_00}},
			lineDisc: []int64{16_00}, discount: 16_00, freeShip: true,
		},
		{
			name:     "free shipping when shipping is already free takes nothing off",
			in:       Input{Lines: lines(80_00), Promotions: []Promotion{ship("fs")}},
			lineDisc: []int64{0},
		},
		{
			name: "inactive, expired and used-up automatic promotions are skipped",
			in: Input{Lines: lines(10_00), Now: now, Promotions: []Promotion{
				func() Promotion { p := pct("off", 10); p.IsActive = false; return p }(),
				func() Promotion { p := pct("ended", 10); p.EndsAt = ptr(now.Add(-time.Hour)); return p }(),
				func() Promotion { p := pct("used", 10); p.UsageLimit = ptr(0); return p }(),
			}},
			lineDisc: []int64{0},
		},
		{
			name: "zero-decimal currency: whole yen",
			in: Input{Lines: []Line{{ProductID: "a", Total: 1005}, {ProductID: "b", Total: 995}}, Promotions: []Promotion{
				{ID: "p", Name: "p", ValueType: Percentage, Value: 1500, Currency: "JPY", IsActive: true}}},
			// 150.75 → 151, 149.25 → 149
			allocs:   []alloc{{"p", 300}},
			lineDisc: []int64{151, 149}, discount: 300,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Evaluate(tt.in)
			var got []alloc
			for _, a := range res.Allocations {
				got = append(got, alloc{a.PromotionID, a.Amount})
			}
			if !reflect.DeepEqual(got, tt.allocs) {
				t.Errorf("allocations %v, want %v", got, tt.allocs)
			}
			if !reflect.DeepEqual(res.LineDiscounts, tt.lineDisc) {
				t.Errorf("line discounts %v, want %v", res.LineDiscounts, tt.lineDisc)
			}
			var sum int64
			for _, d := range res.LineDiscounts {
				sum += d
			}
			if res.Discount != tt.discount || sum != res.Discount {
				t.Errorf("discount %d (lines sum %d), want %d", res.Discount, sum, tt.discount)
			}
			if res.FreeShipping != tt.freeShip {
				t.Errorf("free shipping %v, want %v", res.FreeShipping, tt.freeShip)
			}
			var probs []string
			for _, p := range res.Problems {
				probs = append(probs, p.Code)
			}
			if !reflect.DeepEqual(probs, tt.problems) {
				t.Errorf("problems %v, want %v", probs, tt.problems)
			}
			if !reflect.DeepEqual(res.Pending, tt.pending) {
				t.Errorf("pending %v, want %v", res.Pending, tt.pending)
			}
		})
	}
}

func TestPrice(t *testing.T) {
	usd := func(a int64) money.Money { return money.New(a, "USD") }
	cfg := pricing.Config{TaxRate: pricing.Rate{Num: 10, Den: 100}, FreeShippingThreshold: usd(100_00), FlatShippingRate: usd(10_00)}
	pl := []pricing.Line{{UnitPrice: usd(30_00), Quantity: 1}, {UnitPrice: usd(25_05), Quantity: 1}}
	desc := []Line{{ProductID: "a"}, {ProductID: "b"}}
	// totals is the store's v1 rule, with the shipping waived when free.
	totals := func(discount money.Money, free bool) (pricing.Totals, error) {
		var rules pricing.Rules
		if free {
			zero := usd(0)
			rules.Shipping = &zero
		}
		b, err := pricing.ComputeFor(cfg, "USD", pl, discount, rules)
		return b.Totals, err
	}

	t.Run("tax on the discounted amount", func(t *testing.T) {
		// 55.05, 10 %: 3.00 + 2.51 (2.505 half-up) = 5.51; tax 10 % of 49.54 = 4.954 → 4.95; shipping 10.00
		got, err := Price("USD", pl, Input{Lines: desc, Promotions: []Promotion{pct("p", 10)}}, totals)
		if err != nil {
			t.Fatal(err)
		}
		want := pricing.Totals{Subtotal: usd(55_05), Discount: usd(5_51), Tax: usd(4_95), Shipping: usd(10_00), Total: usd(64_49)}
		if got.Totals != want {
			t.Errorf("totals %+v, want %+v", got.Totals, want)
		}
	})
	t.Run("free shipping waives the shipping", func(t *testing.T) {
		got, err := Price("USD", pl, Input{Lines: desc, Promotions: []Promotion{ship("fs")}}, totals)
		if err != nil {
			t.Fatal(err)
		}
		// tax 5.505 → 5.51
		want := pricing.Totals{Subtotal: usd(55_05), Discount: usd(0), Tax: usd(5_51), Shipping: usd(0), Total: usd(60_56)}
		if got.Totals != want || got.Result.Allocations[0].Amount != 10_00 {
			t.Errorf("totals %+v, allocations %+v", got.Totals, got.Result.Allocations)
		}
	})
	t.Run("no promotions: the plain totals", func(t *testing.T) {
		got, err := Price("USD", pl, Input{Lines: desc}, totals)
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := pricing.Compute(cfg, "USD", pl, usd(0))
		if got.Totals != plain {
			t.Errorf("totals %+v, want %+v", got.Totals, plain)
		}
	})
}
