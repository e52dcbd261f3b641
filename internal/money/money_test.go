package money

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in       string
		currency string
		want     int64
		err      error
	}{
		{"19.99", "USD", 1999, nil},
		{"0", "USD", 0, nil},
		{"0.5", "USD", 50, nil},
		{"10", "USD", 1000, nil},
		{"-3.10", "USD", -310, nil},
		{".25", "USD", 25, nil},
		{"1.230", "USD", 123, nil},
		{"1200", "JPY", 1200, nil},
		{"1.5", "JPY", 0, ErrPrecision},
		{"1.234", "KWD", 1234, nil},
		{"1.999", "USD", 0, ErrPrecision},
		{"abc", "USD", 0, ErrSyntax},
		{"", "USD", 0, ErrSyntax},
		{".", "USD", 0, ErrSyntax},
		{"1e5", "USD", 0, ErrSyntax},
		{"1,000.00", "USD", 0, ErrSyntax},
		{"--1", "USD", 0, ErrSyntax},
		{"99999999999999999999", "USD", 0, ErrRange},
	}
	for _, tt := range tests {
		t.Run(tt.in+"_"+tt.currency, func(t *testing.T) {
			got, err := Parse(tt.in, tt.currency)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Parse(%q) error = %v, want %v", tt.in, err, tt.err)
			}
			if err == nil && got.Amount != tt.want {
				t.Fatalf("Parse(%q) = %d, want %d", tt.in, got.Amount, tt.want)
			}
		})
	}
}

func TestDecimal(t *testing.T) {
	tests := []struct {
		m    Money
		want string
	}{
		{New(1000, "USD"), "10.00"},
		{New(0, "USD"), "0.00"},
		{New(553, "USD"), "5.53"},
		{New(5, "USD"), "0.05"},
		{New(-310, "USD"), "-3.10"},
		{New(1200, "JPY"), "1200"},
		{New(1234, "KWD"), "1.234"},
	}
	for _, tt := range tests {
		if got := tt.m.Decimal(); got != tt.want {
			t.Errorf("%d %s Decimal() = %q, want %q", tt.m.Amount, tt.m.Currency, got, tt.want)
		}
	}
}

func TestMulRate(t *testing.T) {
	tests := []struct {
		amount, num, den, want int64
	}{
		{5525, 1, 10, 553}, // 552.5 rounds half up
		{5524, 1, 10, 552}, // 552.4 rounds down
		{1000, 10, 100, 100},
		{-5525, 1, 10, -553}, // half away from zero
		{3, 825, 10000, 0},
		{0, 1, 10, 0},
	}
	for _, tt := range tests {
		if got := New(tt.amount, "USD").MulRate(tt.num, tt.den).Amount; got != tt.want {
			t.Errorf("%d × %d/%d = %d, want %d", tt.amount, tt.num, tt.den, got, tt.want)
		}
	}
}

func TestParseRate(t *testing.T) {
	num, den, err := ParseRate("0.0825")
	if err != nil || num != 825 || den != 10000 {
		t.Fatalf("ParseRate = %d/%d, %v", num, den, err)
	}
	for _, bad := range []string{"", "-0.1", "abc", "1e-2"} {
		if _, _, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) accepted", bad)
		}
	}
}

func TestAddCurrencyMix(t *testing.T) {
	if _, err := New(1, "USD").Add(New(1, "EUR")); !errors.Is(err, ErrCurrencyMix) {
		t.Fatalf("Add across currencies: %v", err)
	}
}
