package promotions

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	"commerce/internal/money"
	"commerce/internal/pricing"
)

// Line is a cart or order line as evaluation sees it.
type Line struct {
	ProductID string
	Category  *string
	Tags      []string
	// Total is the line's total before discounts, in minor units.
	Total int64
}

// Input is everything evaluation looks at; it reads no clock and no
// database, so that a cart and its checkout evaluate alike.
type Input struct {
	Lines []Line
	// Codes are the codes given, as typed; they match case-insensitively.
	Codes []string
	// Promotions are the candidates: the automatic ones and those of the
	// codes (Service.ForPricing loads them). Automatic ones apply in order.
	Promotions []Promotion
	// Shipping is what shipping costs before any promotion, in minor units.
	Shipping int64
	Now      time.Time
	// CustomerUses is how many uses the customer holds of each promotion
	// (Service.CustomerUses), nil when unknown: checkout leaves the
	// per-customer limit to Take.
	CustomerUses map[string]int
}

// Problem is a code that cannot apply: Index is its position in
// Input.Codes, Code a userError code of the contract.
type Problem struct {
	Index   int
	Code    string
	Message string
}

// Result is what the promotions take off.
type Result struct {
	// Allocations are the promotions that apply, in the order they were
	// considered (automatic ones first, then codes as given).
	Allocations []Allocation
	// LineDiscounts holds each line's merchandise discount, parallel to
	// Input.Lines; they sum to Discount.
	LineDiscounts []int64
	// Discount is the merchandise discount, in minor units.
	Discount int64
	// FreeShipping says that shipping is waived.
	FreeShipping bool
	// Problems are the codes that cannot apply; the codes whose minimum is
	// not met are in Pending instead (a cart keeps them).
	Problems []Problem
	Pending  []int
}

// candidate is a promotion that applies, with what it would take off.
type candidate struct {
	p      *Promotion
	code   *string
	lines  []int64 // per line, merchandise; nil for FREE_SHIPPING
	amount int64
}

// NormalizeCode is the stored form of a code: trimmed and upper-case.
func NormalizeCode(code string) string { return strings.ToUpper(strings.TrimSpace(code)) }

// Evaluate applies the contract's rules: codes are checked (unknown,
// archived or inactive is DISCOUNT_CODE_INVALID; outside the schedule
// DISCOUNT_CODE_EXPIRED; used up DISCOUNT_USAGE_LIMIT_REACHED; two codes of
// which one does not combine DISCOUNT_NOT_COMBINABLE; a minimum not met
// keeps the code pending), then the applicable promotions stack: those that
// combine all apply, each on the line totals before any discount, the sum
// capped at the line; a promotion that does not combine applies alone, and
// the set giving the largest discount (combinables together, or one that
// does not combine) wins, the earlier on a tie.
func Evaluate(in Input) Result {
	res := Result{LineDiscounts: make([]int64, len(in.Lines))}
	byCode := make(map[string]*Promotion)
	var automatic []*Promotion
	for i := range in.Promotions {
		p := &in.Promotions[i]
		switch {
		case p.Code == nil:
			automatic = append(automatic, p)
		case p.ArchivedAt == nil:
			byCode[*p.Code] = p
		}
	}

	var cands []candidate
	for _, p := range automatic {
		if !p.live() || !p.inSchedule(in.Now) || p.usedUp() {
			continue
		}
		if c, ok := compute(p, nil, in); ok {
			cands = append(cands, c)
		}
	}
	seen := make(map[string]bool)
	var firstCode *Promotion
	for i, raw := range in.Codes {
		code := NormalizeCode(raw)
		if seen[code] {
			continue
		}
		seen[code] = true
		p := byCode[code]
		switch {
		case p == nil || !p.live():
			res.Problems = append(res.Problems, Problem{i, CodeInvalid, "this discount code is not valid"})
			continue
		case !p.inSchedule(in.Now):
			res.Problems = append(res.Problems, Problem{i, CodeExpired, "this discount code has expired or has not started"})
			continue
		case p.usedUp():
			res.Problems = append(res.Problems, Problem{i, CodeUsageLimit, "this discount code has been used up"})
			continue
		case p.PerCustomerLimit != nil && in.CustomerUses[p.ID] >= *p.PerCustomerLimit:
			res.Problems = append(res.Problems, Problem{i, CodeCustomerLimit, "this discount code has already been used with this email"})
			continue
		case firstCode != nil && (!firstCode.Combines || !p.Combines):
			res.Problems = append(res.Problems, Problem{i, CodeNotCombinable,
				fmt.Sprintf("%s cannot be combined with %s", code, *firstCode.Code)})
			continue
		}
		if firstCode == nil {
			firstCode = p
		}
		c, ok := compute(p, p.Code, in)
		if !ok {
			res.Pending = append(res.Pending, i)
			continue
		}
		cands = append(cands, c)
	}

	for _, c := range pick(cands) {
		a := Allocation{PromotionID: c.p.ID, PromotionName: c.p.Name, Code: c.code, ValueType: c.p.ValueType}
		if c.lines == nil {
			if res.FreeShipping || c.amount == 0 {
				continue // shipping is waived once, and only when it costs something
			}
			res.FreeShipping, a.Amount = true, c.amount
		}
		for i, d := range c.lines {
			d = min(d, in.Lines[i].Total-res.LineDiscounts[i])
			res.LineDiscounts[i] += d
			a.Amount += d
		}
		res.Discount += a.Amount * btoi(c.lines != nil)
		if a.Amount > 0 {
			res.Allocations = append(res.Allocations, a)
		}
	}
	return res
}

// pick chooses the promotions that apply together.
func pick(cands []candidate) []candidate {
	var combined []candidate
	var sum int64
	for _, c := range cands {
		if c.p.Combines {
			combined = append(combined, c)
			sum += c.amount
		}
	}
	best, bestAmount := combined, sum
	for _, c := range cands {
		if !c.p.Combines && (best == nil || c.amount > bestAmount) {
			best, bestAmount = []candidate{c}, c.amount
		}
	}
	return best
}

// compute works out what p takes off, per line; ok is false when the
// eligible lines' subtotal is below p's minimum or nothing is eligible.
func compute(p *Promotion, code *string, in Input) (candidate, bool) {
	c := candidate{p: p, code: code}
	var eligible []int
	var subtotal int64
	for i, l := range in.Lines {
		if p.Target.matches(l) {
			eligible = append(eligible, i)
			subtotal += l.Total
		}
	}
	if len(eligible) == 0 || (p.MinimumSubtotal != nil && subtotal < *p.MinimumSubtotal) {
		return c, false
	}
	switch p.ValueType {
	case FreeShipping:
		c.amount = in.Shipping
		return c, true
	case Percentage:
		c.lines = make([]int64, len(in.Lines))
		for _, i := range eligible {
			c.lines[i] = mulDiv(in.Lines[i].Total, p.Value, percentScale, true)
			c.amount += c.lines[i]
		}
	case FixedAmount:
		c.lines = make([]int64, len(in.Lines))
		c.amount = min(p.Value, subtotal)
		allocate(c.lines, eligible, in.Lines, c.amount, subtotal)
	}
	return c, true
}

// allocate shares amount among the eligible lines in proportion to their
// totals: each gets the floor of its share, then the leftover minor units
// go one by one to the largest lines (the earlier on a tie), so that the
// shares sum to amount exactly.
func allocate(out []int64, eligible []int, lines []Line, amount, subtotal int64) {
	if subtotal == 0 {
		return
	}
	left := amount
	for _, i := range eligible {
		out[i] = mulDiv(lines[i].Total, amount, subtotal, false)
		left -= out[i]
	}
	order := slices.Clone(eligible)
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case lines[a].Total > lines[b].Total:
			return -1
		case lines[a].Total < lines[b].Total:
			return 1
		}
		return a - b
	})
	for k := 0; left > 0; k = (k + 1) % len(order) {
		out[order[k]]++
		left--
	}
}

// mulDiv returns a × b / d for non-negative a, b and positive d, without
// overflowing in between, rounded half-up or down; the result fits as it is
// at most a (b ≤ d) in every use here.
func mulDiv(a, b, d int64, halfUp bool) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if halfUp {
		var carry uint64
		lo, carry = bits.Add64(lo, uint64(d/2), 0)
		hi += carry
	}
	q, _ := bits.Div64(hi, lo, uint64(d))
	return int64(q)
}

// matches reports whether the line is eligible: any category, tag or
// product matches, or the target is every line.
func (t Target) matches(l Line) bool {
	if t.All() {
		return true
	}
	if slices.Contains(t.ProductIDs, l.ProductID) {
		return true
	}
	for _, c := range t.Categories {
		if l.Category != nil && strings.EqualFold(c, *l.Category) {
			return true
		}
	}
	for _, tag := range t.Tags {
		if slices.ContainsFunc(l.Tags, func(s string) bool { return strings.EqualFold(s, tag) }) {
			return true
		}
	}
	return false
}

func btoi(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// Priced is lines priced with their promotions.
type Priced struct {
	Totals pricing.Totals
	Result Result
}

// Totaler computes the totals of the lines being priced for a discount,
// with the shipping waived when freeShipping: the store's totals rule for
// the cart's destination (shipping.Price), which puts tax on the discounted
// amounts.
type Totaler func(discount money.Money, freeShipping bool) (pricing.Totals, error)

// Price prices lines in currency with the promotions of in (whose Lines
// and Shipping it fills from lines): totals computes the totals once
// without a discount, to learn the shipping the promotions may waive, and
// once more with what the promotions take off when they take anything.
func Price(currency string, lines []pricing.Line, in Input, totals Totaler) (Priced, error) {
	if len(in.Lines) != len(lines) {
		return Priced{}, fmt.Errorf("promotions: %d lines to price, %d described", len(lines), len(in.Lines))
	}
	before, err := totals(money.Zero(currency), false)
	if err != nil {
		return Priced{}, err
	}
	in.Lines = slices.Clone(in.Lines)
	for i, l := range lines {
		t, err := pricing.LineTotal(l)
		if err != nil {
			return Priced{}, err
		}
		in.Lines[i].Total = t.Amount
	}
	in.Shipping = before.Shipping.Amount
	res := Evaluate(in)
	if res.Discount == 0 && !res.FreeShipping {
		return Priced{Totals: before, Result: res}, nil
	}
	after, err := totals(money.New(res.Discount, currency), res.FreeShipping)
	if err != nil {
		return Priced{}, err
	}
	return Priced{Totals: after, Result: res}, nil
}
