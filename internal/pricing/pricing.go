package pricing

import (
	"fmt"
	"math"

	"commerce/internal/money"
)

// Rate is a non-negative fraction Num/Den (10/100 for 10 %). Den must be
// positive; use Rate{0, 1} for no tax.
type Rate struct{ Num, Den int64 }

// Config holds the store's pricing settings. Its amounts are in the store
// currency.
type Config struct {
	TaxRate               Rate
	FreeShippingThreshold money.Money // subtotal at or above ships free
	FlatShippingRate      money.Money // otherwise
	// PricesIncludeTax (PRICES_INCLUDE_TAX): catalog and shipping prices
	// hold their tax, which ComputeFor extracts instead of adding.
	PricesIncludeTax bool
}

// Line is one priced line of a cart or an order.
type Line struct {
	UnitPrice money.Money
	Quantity  int
	// Taxes are the destination's rates that tax this line, when rates
	// are configured (see Rules.Taxed); Compute ignores them.
	Taxes []TaxRate
}

// Totals is the priced breakdown of a cart or an order, all in one currency.
type Totals struct {
	Subtotal, Discount, Tax, Shipping, Total money.Money
}

// LineTotal returns UnitPrice × Quantity. Quantity must be positive and the
// unit price must not be negative.
func LineTotal(l Line) (money.Money, error) {
	t, err := lineTotal(l)
	if err != nil {
		return money.Money{}, fmt.Errorf("pricing: %w", err)
	}
	return t, nil
}

func lineTotal(l Line) (money.Money, error) {
	if l.Quantity <= 0 {
		return money.Money{}, fmt.Errorf("quantity %d must be positive", l.Quantity)
	}
	if l.UnitPrice.Amount < 0 {
		return money.Money{}, fmt.Errorf("negative unit price %s", l.UnitPrice)
	}
	t, err := l.UnitPrice.Mul(int64(l.Quantity))
	if err != nil {
		return money.Money{}, fmt.Errorf("%s × %d: %w", l.UnitPrice, l.Quantity, err)
	}
	return t, nil
}

// Compute prices lines in currency with an optional discount (zero until
// discount codes exist). The discount must be in currency too (pass
// money.Zero(currency) for none); it is clamped to [0, subtotal].
func Compute(cfg Config, currency string, lines []Line, discount money.Money) (Totals, error) {
	if c, err := money.NormalizeCurrency(currency); err != nil || c != currency {
		return Totals{}, fmt.Errorf("pricing: currency %q: %w", currency, money.ErrUnknownCurrency)
	}
	if cfg.FreeShippingThreshold.Currency != currency || cfg.FlatShippingRate.Currency != currency {
		return Totals{}, fmt.Errorf("pricing: store prices in %s/%s, not %s: %w",
			cfg.FreeShippingThreshold.Currency, cfg.FlatShippingRate.Currency, currency, money.ErrCurrencyMix)
	}
	if cfg.TaxRate.Num < 0 || cfg.TaxRate.Den <= 0 {
		return Totals{}, fmt.Errorf("pricing: invalid tax rate %d/%d", cfg.TaxRate.Num, cfg.TaxRate.Den)
	}
	if discount.Currency != currency {
		return Totals{}, fmt.Errorf("pricing: discount in %q, not %s: %w", discount.Currency, currency, money.ErrCurrencyMix)
	}

	subtotal := money.Zero(currency)
	for i, l := range lines {
		if l.UnitPrice.Currency != currency {
			return Totals{}, fmt.Errorf("pricing: line %d in %q, not %s: %w", i, l.UnitPrice.Currency, currency, money.ErrCurrencyMix)
		}
		lt, err := lineTotal(l)
		if err != nil {
			return Totals{}, fmt.Errorf("pricing: line %d: %w", i, err)
		}
		if subtotal, err = subtotal.Add(lt); err != nil {
			return Totals{}, fmt.Errorf("pricing: subtotal: %w", err)
		}
	}

	disc := discount
	if disc.Amount < 0 {
		disc = money.Zero(currency)
	}
	if disc.Amount > subtotal.Amount {
		disc = subtotal
	}
	base := money.New(subtotal.Amount-disc.Amount, currency) // 0 ≤ base ≤ subtotal

	// MulRate multiplies before dividing and does not check for overflow.
	if n := cfg.TaxRate.Num; n != 0 && base.Amount > math.MaxInt64/n {
		return Totals{}, fmt.Errorf("pricing: tax: %w", money.ErrRange)
	}
	tax := base.MulRate(cfg.TaxRate.Num, cfg.TaxRate.Den)

	shipping := money.Zero(currency)
	if len(lines) > 0 && subtotal.Amount < cfg.FreeShippingThreshold.Amount {
		shipping = cfg.FlatShippingRate
	}

	total, err := base.Add(tax)
	if err == nil {
		total, err = total.Add(shipping)
	}
	if err != nil {
		return Totals{}, fmt.Errorf("pricing: total: %w", err)
	}
	return Totals{Subtotal: subtotal, Discount: disc, Tax: tax, Shipping: shipping, Total: total}, nil
}
