package orders

import (
	"context"
	"slices"
	"strings"

	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/promotions"
)

// discounted is a checkout priced with its promotions.
type discounted struct {
	priced promotions.Priced
	promos []promotions.Promotion
	// path is where a problem of an allocation's promotion is reported.
	path func(a promotions.Allocation) []string
}

// discounts prices the checkout's lines with the promotions that apply: the
// automatic ones, the cart's codes and the input's. A code that does not
// apply is a userError (at ["input", "cartId"] for the cart's, at
// ["input", "discountCodes", i] for the input's), so that the shopper is
// never charged other than the cart showed; a code whose minimum is not
// met is ignored, as the cart showed no discount for it. totals computes
// the order's totals for a discount. Without codes and automatic
// promotions it asks the database nothing.
func (s *Service) discounts(ctx context.Context, tx bun.Tx, in CheckoutInput, cartCodes []string, lines pricedLines, totals promotions.Totaler) (*discounted, error) {
	codes := append(slices.Clone(cartCodes), in.DiscountCodes...)
	codePath := func(i int) []string {
		if i < len(cartCodes) {
			return apperr.Path("input", "cartId")
		}
		return apperr.Path("input", "discountCodes", i-len(cartCodes))
	}
	promos, err := s.promos.ForPricing(ctx, tx, codes)
	if err != nil {
		return nil, err
	}
	pin := promotions.Input{Codes: codes, Promotions: promos, Now: s.now(), Lines: make([]promotions.Line, len(lines))}
	for i, l := range lines {
		pin.Lines[i] = promotions.Line{ProductID: l.variant.ProductID, Category: l.variant.Category, Tags: l.variant.Tags}
	}
	p, err := promotions.Price(s.cfg.Currency, lines.pricingLines(), pin, totals)
	if err != nil {
		return nil, apperr.InvalidField(apperr.Path("input"), "the order total is out of range")
	}
	if err := promotions.Problems(p.Result.Problems, codePath); err != nil {
		return nil, err
	}
	path := func(a promotions.Allocation) []string {
		if a.Code != nil {
			if i := slices.IndexFunc(codes, func(c string) bool { return promotions.NormalizeCode(c) == *a.Code }); i >= 0 {
				return codePath(i)
			}
		}
		return apperr.Path("input")
	}
	return &discounted{priced: p, promos: promos, path: path}, nil
}

// normalizeCodes bounds and canonicalises the input's discount codes, so
// that the same order asked for twice hashes the same.
func normalizeCodes(in *CheckoutInput) error {
	if len(in.DiscountCodes) > promotions.MaxCodes {
		return apperr.InvalidField(apperr.Path("input", "discountCodes"), "at most %d codes", promotions.MaxCodes)
	}
	codes := make([]string, len(in.DiscountCodes))
	for i, c := range in.DiscountCodes {
		codes[i] = promotions.NormalizeCode(c)
	}
	if len(codes) > 0 {
		in.DiscountCodes = codes
	}
	return nil
}

// discountMessage names the codes and automatic promotions of an order,
// for its DISCOUNT_APPLIED event.
func discountMessage(allocs []promotions.Allocation) string {
	names := make([]string, len(allocs))
	for i, a := range allocs {
		names[i] = a.PromotionName
		if a.Code != nil {
			names[i] = *a.Code
		}
	}
	return "Discounts applied: " + strings.Join(names, ", ")
}
