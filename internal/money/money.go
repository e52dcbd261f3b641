// Package money holds amounts as integer minor units of an ISO 4217
// currency. No float ever touches an amount: parsing and printing work on
// decimal strings, arithmetic on int64.
package money

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Money is an amount in minor units (cents for USD) of a currency.
type Money struct {
	Amount   int64
	Currency string
}

// Errors returned by Parse and the arithmetic helpers.
var (
	ErrUnknownCurrency = errors.New("unknown currency")
	ErrSyntax          = errors.New("not a decimal number")
	ErrPrecision       = errors.New("more decimals than the currency allows")
	ErrRange           = errors.New("amount out of range")
	ErrCurrencyMix     = errors.New("amounts in different currencies")
)

// exponents lists the ISO 4217 minor-unit digits that are not 2.
var exponents = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
	"PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}

// known lists the other ISO 4217 currencies in use (two minor digits).
var known = strings.Fields(`AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD
BTN BWP BYN BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD
MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN
QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SYP SZL THB TJS TMT TOP TRY TTD TWD
TZS UAH USD UZS VES WST XCD YER ZAR ZMW ZWL`)

var twoDigit = func() map[string]bool {
	m := make(map[string]bool, len(known))
	for _, c := range known {
		m[c] = true
	}
	return m
}()

// NormalizeCurrency upper-cases and checks an ISO 4217 code.
func NormalizeCurrency(code string) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(code))
	if _, ok := exponents[c]; ok || twoDigit[c] {
		return c, nil
	}
	return "", fmt.Errorf("%w: %q", ErrUnknownCurrency, code)
}

// Digits returns the number of minor digits of a currency (2 when unknown).
func Digits(currency string) int {
	if d, ok := exponents[currency]; ok {
		return d
	}
	return 2
}

// New returns an amount of minor units.
func New(amount int64, currency string) Money { return Money{Amount: amount, Currency: currency} }

// Zero returns a zero amount of the currency.
func Zero(currency string) Money { return Money{Currency: currency} }

// maxAmount bounds parsed amounts far below int64 so that sums of many
// lines and multiplications by quantities cannot overflow.
const maxAmount = 1_000_000_000_000_00 // 10^14 minor units

// Parse reads a decimal string ("19.99", "-5", "0.5") in the currency's
// minor units. It refuses exponents, thousands separators, and more decimals
// than the currency has.
func Parse(s, currency string) (Money, error) {
	digits := Digits(currency)
	str := strings.TrimSpace(s)
	neg := false
	if strings.HasPrefix(str, "-") {
		neg, str = true, str[1:]
	} else if strings.HasPrefix(str, "+") {
		str = str[1:]
	}
	intPart, frac, _ := strings.Cut(str, ".")
	if intPart+frac == "" || !allDigits(intPart) || !allDigits(frac) {
		return Money{}, ErrSyntax
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > digits {
		return Money{}, ErrPrecision
	}
	intPart = strings.TrimLeft(intPart, "0")
	if len(intPart) > 15 {
		return Money{}, ErrRange
	}
	var v int64
	for _, r := range intPart {
		v = v*10 + int64(r-'0')
	}
	for i := 0; i < digits; i++ {
		v *= 10
		if i < len(frac) {
			v += int64(frac[i] - '0')
		}
	}
	if v > maxAmount {
		return Money{}, ErrRange
	}
	if neg {
		v = -v
	}
	return Money{Amount: v, Currency: currency}, nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Decimal prints the amount with exactly the currency's minor digits:
// "10.00", "0.05", "-3.10", "1200" for JPY.
func (m Money) Decimal() string {
	digits := Digits(m.Currency)
	sign := ""
	a := m.Amount
	if a < 0 {
		sign = "-"
	}
	u := uint64(a)
	if a < 0 {
		u = uint64(-(a + 1)) + 1 // safe for MinInt64
	}
	s := fmt.Sprintf("%0*d", digits+1, u)
	if digits == 0 {
		return sign + s
	}
	return sign + s[:len(s)-digits] + "." + s[len(s)-digits:]
}

// String prints "10.00 USD".
func (m Money) String() string { return m.Decimal() + " " + m.Currency }

// IsZero reports whether the amount is zero.
func (m Money) IsZero() bool { return m.Amount == 0 }

// Add returns m + o; both must be in the same currency.
func (m Money) Add(o Money) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, ErrCurrencyMix
	}
	if (o.Amount > 0 && m.Amount > math.MaxInt64-o.Amount) || (o.Amount < 0 && m.Amount < math.MinInt64-o.Amount) {
		return Money{}, ErrRange
	}
	return Money{Amount: m.Amount + o.Amount, Currency: m.Currency}, nil
}

// Sub returns m - o; both must be in the same currency.
func (m Money) Sub(o Money) (Money, error) {
	return m.Add(Money{Amount: -o.Amount, Currency: o.Currency})
}

// Mul returns m × n (a quantity).
func (m Money) Mul(n int64) (Money, error) {
	if n != 0 && (m.Amount > math.MaxInt64/abs(n) || m.Amount < math.MinInt64/abs(n)) {
		return Money{}, ErrRange
	}
	return Money{Amount: m.Amount * n, Currency: m.Currency}, nil
}

// MulRate returns m × rate rounded half away from zero to the minor unit,
// where rate is a fraction given as numerator/denominator (e.g. 1/10 for
// 10 %), so that tax is computed without floats.
func (m Money) MulRate(num, den int64) Money {
	if den == 0 {
		return Money{Currency: m.Currency}
	}
	p := m.Amount * num
	q := p / den
	r := p % den
	if abs(r)*2 >= abs(den) {
		if (p < 0) != (den < 0) {
			q--
		} else {
			q++
		}
	}
	return Money{Amount: q, Currency: m.Currency}
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// ParseRate reads a non-negative decimal rate such as "0.10" or "0.0825" as
// a fraction num/den, exact to its written digits.
func ParseRate(s string) (num, den int64, err error) {
	str := strings.TrimSpace(s)
	intPart, frac, _ := strings.Cut(str, ".")
	if str == "" || !allDigits(intPart) || !allDigits(frac) || len(frac) > 9 || len(intPart) > 6 || intPart+frac == "" {
		return 0, 0, fmt.Errorf("%w: %q", ErrSyntax, s)
	}
	den = 1
	for range frac {
		den *= 10
	}
	for _, r := range intPart + frac {
		num = num*10 + int64(r-'0')
	}
	return num, den, nil
}
