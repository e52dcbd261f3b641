package pricing

import (
	"errors"
	"math"
	"testing"

	"commerce/internal/money"
)

func usd(a int64) money.Money { return money.New(a, "USD") }
func jpy(a int64) money.Money { return money.New(a, "JPY") }

// usdCfg: 10 % tax, free shipping from 100.00, else 10.00.
var usdCfg = Config{TaxRate: Rate{10, 100}, FreeShippingThreshold: usd(100_00), FlatShippingRate: usd(10_00)}

// jpyCfg: 10 % tax, free shipping from ¥5000, else ¥500.
var jpyCfg = Config{TaxRate: Rate{10, 100}, FreeShippingThreshold: jpy(5000), FlatShippingRate: jpy(500)}

func TestCompute(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		currency string
		lines    []Line
		discount money.Money
		want     Totals
		wantErr  error // nil: success; errAny: any error; else errors.Is target
	}{
		{
			name: "empty", cfg: usdCfg, currency: "USD", discount: usd(0),
			want: Totals{Subtotal: usd(0), Discount: usd(0), Tax: usd(0), Shipping: usd(0), Total: usd(0)},
		},
		{
			name: "one line", cfg: usdCfg, currency: "USD", discount: usd(0),
			lines: []Line{{UnitPrice: usd(19_99), Quantity: 2}},
			want:  Totals{Subtotal: usd(39_98), Discount: usd(0), Tax: usd(4_00), Shipping: usd(10_00), Total: usd(53_98)},
		},
		{
			name: "several lines", cfg: usdCfg, currency: "USD", discount: usd(0),
			lines: []Line{{UnitPrice: usd(10_00), Quantity: 3}, {UnitPrice: usd(2_50), Quantity: 4}, {UnitPrice: usd(75_01), Quantity: 1}},
			// 30.00 + 10.00 + 75.01 = 115.01; tax 11.501 → 11.50; free shipping
			want: Totals{Subtotal: usd(115_01), Discount: usd(0), Tax: usd(11_50), Shipping: usd(0), Total: usd(126_51)},
		},
		{
			name: "tax rounds half up", cfg: usdCfg, currency: "USD", discount: usd(0),
			lines: []Line{{UnitPrice: usd(55_25), Quantity: 1}},
			// 5.525 → 5.53
			want: Totals{Subtotal: usd(55_25), Discount: usd(0), Tax: usd(5_53), Shipping: usd(10_00), Total: usd(70_78)},
		},
		{
			name: "exactly at free-shipping threshold", cfg: usdCfg, currency: "USD", discount: usd(0),
			lines: []Line{{UnitPrice: usd(100_00), Quantity: 1}},
			want:  Totals{Subtotal: usd(100_00), Discount: usd(0), Tax: usd(10_00), Shipping: usd(0), Total: usd(110_00)},
		},
		{
			name: "one cent below free-shipping threshold", cfg: usdCfg, currency: "USD", discount: usd(0),
			lines: []Line{{UnitPrice: usd(99_99), Quantity: 1}},
			// tax 9.999 → 10.00
			want: Totals{Subtotal: usd(99_99), Discount: usd(0), Tax: usd(10_00), Shipping: usd(10_00), Total: usd(119_99)},
		},
		{
			name: "discount reduces tax, not free shipping", cfg: usdCfg, currency: "USD", discount: usd(20_00),
			lines: []Line{{UnitPrice: usd(100_00), Quantity: 1}},
			// taxed on 80.00; shipping judged on the 100.00 subtotal
			want: Totals{Subtotal: usd(100_00), Discount: usd(20_00), Tax: usd(8_00), Shipping: usd(0), Total: usd(88_00)},
		},
		{
			name: "discount larger than subtotal is clamped", cfg: usdCfg, currency: "USD", discount: usd(500_00),
			lines: []Line{{UnitPrice: usd(30_00), Quantity: 1}},
			want:  Totals{Subtotal: usd(30_00), Discount: usd(30_00), Tax: usd(0), Shipping: usd(10_00), Total: usd(10_00)},
		},
		{
			name: "negative discount is clamped to zero", cfg: usdCfg, currency: "USD", discount: usd(-5_00),
			lines: []Line{{UnitPrice: usd(30_00), Quantity: 1}},
			want:  Totals{Subtotal: usd(30_00), Discount: usd(0), Tax: usd(3_00), Shipping: usd(10_00), Total: usd(43_00)},
		},
		{
			name: "JPY has no minor digits", cfg: jpyCfg, currency: "JPY", discount: jpy(0),
			lines: []Line{{UnitPrice: jpy(1205), Quantity: 1}, {UnitPrice: jpy(300), Quantity: 2}},
			// 1805 × 10 % = 180.5 → 181; below ¥5000 → ¥500 shipping
			want: Totals{Subtotal: jpy(1805), Discount: jpy(0), Tax: jpy(181), Shipping: jpy(500), Total: jpy(2486)},
		},
		{
			name: "line in another currency", cfg: usdCfg, currency: "USD", discount: usd(0),
			lines:   []Line{{UnitPrice: usd(10_00), Quantity: 1}, {UnitPrice: money.New(10_00, "EUR"), Quantity: 1}},
			wantErr: money.ErrCurrencyMix,
		},
		{
			name: "discount in another currency", cfg: usdCfg, currency: "USD", discount: money.New(1_00, "EUR"),
			lines:   []Line{{UnitPrice: usd(10_00), Quantity: 1}},
			wantErr: money.ErrCurrencyMix,
		},
		{
			name: "config in another currency", cfg: usdCfg, currency: "JPY", discount: jpy(0),
			lines:   []Line{{UnitPrice: jpy(1000), Quantity: 1}},
			wantErr: money.ErrCurrencyMix,
		},
		{
			name: "zero quantity", cfg: usdCfg, currency: "USD", discount: usd(0),
			lines:   []Line{{UnitPrice: usd(10_00), Quantity: 0}},
			wantErr: errAny,
		},
		{
			name: "negative quantity", cfg: usdCfg, currency: "USD", discount: usd(0),
			lines:   []Line{{UnitPrice: usd(10_00), Quantity: -1}},
			wantErr: errAny,
		},
		{
			name: "negative unit price", cfg: usdCfg, currency: "USD", discount: usd(0),
			lines:   []Line{{UnitPrice: usd(-1_00), Quantity: 1}},
			wantErr: errAny,
		},
		{
			name: "unknown currency", cfg: usdCfg, currency: "usd", discount: usd(0),
			wantErr: money.ErrUnknownCurrency,
		},
		{
			name: "tax rate with zero denominator", cfg: Config{FreeShippingThreshold: usd(100_00), FlatShippingRate: usd(10_00)},
			currency: "USD", discount: usd(0),
			wantErr: errAny,
		},
		{
			name: "line total overflows", cfg: usdCfg, currency: "USD", discount: usd(0),
			lines:   []Line{{UnitPrice: usd(math.MaxInt64 / 2), Quantity: 3}},
			wantErr: money.ErrRange,
		},
		{
			name: "subtotal overflows", cfg: usdCfg, currency: "USD", discount: usd(0),
			lines:   []Line{{UnitPrice: usd(math.MaxInt64 - 1), Quantity: 1}, {UnitPrice: usd(2), Quantity: 1}},
			wantErr: money.ErrRange,
		},
		{
			name: "tax overflows", cfg: usdCfg, currency: "USD", discount: usd(0),
			lines:   []Line{{UnitPrice: usd(math.MaxInt64 / 5), Quantity: 1}}, // base × 10 overflows int64
			wantErr: money.ErrRange,
		},
		{
			name: "total overflows", cfg: Config{TaxRate: Rate{0, 1}, FreeShippingThreshold: usd(math.MaxInt64), FlatShippingRate: usd(10_00)},
			currency: "USD", discount: usd(0),
			lines:   []Line{{UnitPrice: usd(math.MaxInt64 - 5), Quantity: 1}},
			wantErr: money.ErrRange,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Compute(tc.cfg, tc.currency, tc.lines, tc.discount)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Compute: unexpected error %v", err)
			case tc.wantErr == nil:
				if got != tc.want {
					t.Fatalf("Compute =\n  %+v\nwant\n  %+v", got, tc.want)
				}
			case err == nil:
				t.Fatalf("Compute = %+v, want error", got)
			case tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("Compute error %v, want %v", err, tc.wantErr)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestLineTotal(t *testing.T) {
	tests := []struct {
		name    string
		line    Line
		want    money.Money
		wantErr error
	}{
		{name: "unit × quantity", line: Line{UnitPrice: usd(3_33), Quantity: 3}, want: usd(9_99)},
		{name: "zero quantity", line: Line{UnitPrice: usd(3_33), Quantity: 0}, wantErr: errAny},
		{name: "negative quantity", line: Line{UnitPrice: usd(3_33), Quantity: -2}, wantErr: errAny},
		{name: "overflow", line: Line{UnitPrice: usd(math.MaxInt64 / 2), Quantity: 3}, wantErr: money.ErrRange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LineTotal(tc.line)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("LineTotal: unexpected error %v", err)
			case tc.wantErr == nil && got != tc.want:
				t.Fatalf("LineTotal = %v, want %v", got, tc.want)
			case tc.wantErr != nil && err == nil:
				t.Fatalf("LineTotal = %v, want error", got)
			case tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("LineTotal error %v, want %v", err, tc.wantErr)
			}
		})
	}
}
