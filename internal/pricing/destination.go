package pricing

import (
	"fmt"
	"math/big"

	"commerce/internal/money"
)

// TaxRate is one tax rate of the destination that applies to a line or to
// shipping. Rates with the same Name and Rate make one TaxLine.
type TaxRate struct {
	Name string
	Rate Rate
}

// TaxLine is the tax of one rate over the whole cart or order, shipping
// included when the rate taxes it.
type TaxLine struct {
	Name   string
	Rate   Rate
	Amount money.Money
}

// Rules are the destination's part of pricing: the shipping method charged
// and the tax rates configured for the address. The zero value keeps the
// v1 rules of Config.
type Rules struct {
	// Shipping is the price of the shipping method charged; nil keeps the
	// v1 rule (FlatShippingRate below FreeShippingThreshold). A cart with
	// no lines ships for nothing either way.
	Shipping *money.Money
	// Taxed says tax rates are configured: each line is taxed by its
	// Line.Taxes and shipping by ShippingTaxes, per line and rate, rounded
	// half-up. False keeps the v1 rule (TaxRate on subtotal − discount).
	Taxed         bool
	ShippingTaxes []TaxRate
}

// Breakdown is Totals with the tax split by rate.
type Breakdown struct {
	Totals
	// TaxLines are in the order the rates first appear (lines first, then
	// shipping), one per name and rate, zero amounts left out.
	TaxLines []TaxLine
}

// ComputeFor prices lines like Compute, under the destination's rules r.
// With cfg.PricesIncludeTax the prices (and the shipping price) already
// hold their tax, which is extracted instead of added: the total is then
// subtotal − discount + shipping. The discount is spread over the lines in
// proportion to their totals (the remainder, a few minor units, on the
// first lines) so that each line is taxed on what is actually paid for it.
// It returns the errors of Compute.
func ComputeFor(cfg Config, currency string, lines []Line, discount money.Money, r Rules) (Breakdown, error) {
	t, err := Compute(cfg, currency, lines, discount)
	if err != nil {
		return Breakdown{}, err
	}
	if r.Shipping != nil {
		if r.Shipping.Currency != currency || r.Shipping.Amount < 0 {
			return Breakdown{}, fmt.Errorf("pricing: shipping %s: %w", r.Shipping, money.ErrCurrencyMix)
		}
		t.Shipping = money.Zero(currency)
		if len(lines) > 0 {
			t.Shipping = *r.Shipping
		}
	}
	base := money.New(t.Subtotal.Amount-t.Discount.Amount, currency)
	var taxLines taxLines
	if r.Taxed {
		if err := taxByLine(cfg, &taxLines, lines, t, r); err != nil {
			return Breakdown{}, err
		}
	} else {
		amount, err := taxAmount(base.Amount, cfg.TaxRate, []TaxRate{{Rate: cfg.TaxRate}}, cfg.PricesIncludeTax)
		if err != nil {
			return Breakdown{}, err
		}
		taxLines.add(TaxRate{Name: "Tax", Rate: cfg.TaxRate}, money.New(amount, currency))
	}
	t.Tax = money.Zero(currency)
	for _, l := range taxLines {
		if t.Tax, err = t.Tax.Add(l.Amount); err != nil {
			return Breakdown{}, fmt.Errorf("pricing: tax: %w", err)
		}
	}
	t.Total, err = base.Add(t.Shipping)
	if err == nil && !cfg.PricesIncludeTax {
		t.Total, err = t.Total.Add(t.Tax)
	}
	if err != nil {
		return Breakdown{}, fmt.Errorf("pricing: total: %w", err)
	}
	return Breakdown{Totals: t, TaxLines: taxLines.nonZero()}, nil
}

// taxByLine adds the tax of every line (on its share of subtotal −
// discount) and of shipping, per line and rate.
func taxByLine(cfg Config, out *taxLines, lines []Line, t Totals, r Rules) error {
	currency := t.Subtotal.Currency
	shares := discountShares(lines, t)
	for i, l := range lines {
		lt, _ := lineTotal(l) // Compute has checked every line
		base := lt.Amount - shares[i]
		for _, rate := range l.Taxes {
			amount, err := taxAmount(base, rate.Rate, l.Taxes, cfg.PricesIncludeTax)
			if err != nil {
				return err
			}
			out.add(rate, money.New(amount, currency))
		}
	}
	for _, rate := range r.ShippingTaxes {
		amount, err := taxAmount(t.Shipping.Amount, rate.Rate, r.ShippingTaxes, cfg.PricesIncludeTax)
		if err != nil {
			return err
		}
		out.add(rate, money.New(amount, currency))
	}
	return nil
}

// discountShares spreads t.Discount over the lines in proportion to their
// totals; the shares add up to the discount exactly.
func discountShares(lines []Line, t Totals) []int64 {
	shares := make([]int64, len(lines))
	if t.Discount.Amount == 0 || t.Subtotal.Amount == 0 {
		return shares
	}
	left := t.Discount.Amount
	for i, l := range lines {
		lt, _ := lineTotal(l)
		shares[i] = mulDivDown(t.Discount.Amount, lt.Amount, t.Subtotal.Amount)
		left -= shares[i]
	}
	for i := 0; left > 0; i = (i + 1) % len(lines) {
		lt, _ := lineTotal(lines[i])
		if shares[i] < lt.Amount {
			shares[i]++
			left--
		}
	}
	return shares
}

// taxAmount is base × rate rounded half-up, or, when base includes the tax
// of all rates, the part of base that rate is: base × rate / (1 + Σ all).
func taxAmount(base int64, rate Rate, all []TaxRate, included bool) (int64, error) {
	if rate.Num < 0 || rate.Den <= 0 {
		return 0, fmt.Errorf("pricing: invalid tax rate %d/%d", rate.Num, rate.Den)
	}
	num, den := big.NewInt(rate.Num), big.NewInt(rate.Den)
	if included {
		// rate / (1 + Σ n_j/d_j) = n·Π d / (d·(Π d + Σ n_j·Π d/d_j))
		prod := big.NewInt(1)
		for _, r := range all {
			if r.Rate.Num < 0 || r.Rate.Den <= 0 {
				return 0, fmt.Errorf("pricing: invalid tax rate %d/%d", r.Rate.Num, r.Rate.Den)
			}
			prod.Mul(prod, big.NewInt(r.Rate.Den))
		}
		sum := new(big.Int).Set(prod)
		for _, r := range all {
			part := new(big.Int).Quo(prod, big.NewInt(r.Rate.Den))
			sum.Add(sum, part.Mul(part, big.NewInt(r.Rate.Num)))
		}
		num.Mul(num, prod)
		den.Mul(den, sum)
	}
	v, ok := roundHalfUp(new(big.Int).Mul(big.NewInt(base), num), den)
	if !ok {
		return 0, fmt.Errorf("pricing: tax: %w", money.ErrRange)
	}
	return v, nil
}

// mulDivDown is a × b / c rounded down, for 0 ≤ b ≤ c, c > 0.
func mulDivDown(a, b, c int64) int64 {
	p := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
	return p.Quo(p, big.NewInt(c)).Int64()
}

// roundHalfUp is p / d for p ≥ 0, d > 0, rounded half-up; false when the
// result does not fit int64.
func roundHalfUp(p, d *big.Int) (int64, bool) {
	q, r := new(big.Int).QuoRem(p, d, new(big.Int))
	if r.Lsh(r, 1).Cmp(d) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64(), q.IsInt64()
}

// taxLines accumulates tax per name and rate in first-seen order.
type taxLines []TaxLine

func (ls *taxLines) add(r TaxRate, amount money.Money) {
	for i := range *ls {
		l := &(*ls)[i]
		if l.Name == r.Name && l.Rate.Num*r.Rate.Den == r.Rate.Num*l.Rate.Den {
			l.Amount.Amount += amount.Amount
			return
		}
	}
	*ls = append(*ls, TaxLine{Name: r.Name, Rate: r.Rate, Amount: amount})
}

func (ls taxLines) nonZero() []TaxLine {
	out := []TaxLine{}
	for _, l := range ls {
		if l.Amount.Amount != 0 {
			out = append(out, l)
		}
	}
	return out
}
