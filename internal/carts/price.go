package carts

import (
	"context"
	"fmt"

	"commerce/internal/catalog"
	"commerce/internal/money"
	"commerce/internal/pricing"
	"commerce/internal/promotions"
	"commerce/internal/shipping"
)

// PricedLine is a cart line at the current catalog price.
type PricedLine struct {
	Line
	Variant   *catalog.SaleVariant
	UnitPrice money.Money
	LineTotal money.Money
	// Discount is the line's part of the merchandise discount.
	Discount money.Money
}

// Priced is a cart priced at the current catalog prices for its
// destination.
type Priced struct {
	Lines  []PricedLine
	Totals pricing.Totals
	// Shipping holds the quotes, the chosen method and the tax lines.
	Shipping shipping.Result
	// TaxIsEstimate: the cart has no address, it is priced for STORE_COUNTRY.
	TaxIsEstimate bool
	// Allocations are the promotions that apply and what each takes off.
	Allocations []promotions.Allocation
	// problems are the cart's codes that do not apply (now).
	problems []promotions.Problem
}

// Destinations loads the shipping and tax configuration of an address
// (shipping.Service); "" country is the estimate for STORE_COUNTRY.
type Destinations interface {
	Destination(ctx context.Context, country, region string) (shipping.Destination, error)
}

var _ Destinations = (*shipping.Service)(nil)

// WithShipping prices carts for their destination with d; without it they
// keep the v1 rules of pricing.Config.
func (s *Service) WithShipping(d Destinations) *Service {
	s.destinations = d
	return s
}

// Price prices the cart at the current catalog prices for its destination,
// loading the line variants in one query and the destination in one
// statement, with the promotions that apply to it now: the automatic ones
// and those of its codes (a code that no longer applies is left out, so the
// cart shows what checkout would charge). Lines whose variant is gone, or
// is now sold in another currency than the cart's, are left out: they
// cannot be bought. It returns an error only when the variants, the
// destination or the promotions cannot be loaded or an amount overflows.
func (s *Service) Price(ctx context.Context, c *Cart, cfg pricing.Config) (Priced, error) {
	return s.price(ctx, c, cfg, nil)
}

// price prices the cart, checking its codes against the per-customer
// limits of uses when uses is not nil.
func (s *Service) price(ctx context.Context, c *Cart, cfg pricing.Config, uses map[string]int) (Priced, error) {
	variants, err := s.lineVariants(ctx, c)
	if err != nil {
		return Priced{}, err
	}
	out := Priced{Lines: make([]PricedLine, 0, len(c.Lines))}
	items := make([]shipping.Item, 0, len(c.Lines))
	lines := make([]pricing.Line, 0, len(c.Lines))
	in := promotions.Input{Codes: c.DiscountCodes, Now: s.now(), CustomerUses: uses}
	for i, l := range c.Lines {
		v := variants[i]
		if v == nil || v.Currency != c.Currency {
			continue
		}
		pl := pricing.Line{UnitPrice: v.UnitPrice(), Quantity: l.Quantity}
		total, err := pricing.LineTotal(pl)
		if err != nil {
			return Priced{}, fmt.Errorf("price cart line %s: %w", l.ID, err)
		}
		items = append(items, v.ShippingItem(l.Quantity))
		lines = append(lines, pl)
		in.Lines = append(in.Lines, promotions.Line{ProductID: v.ProductID, Category: v.Category, Tags: v.Tags})
		out.Lines = append(out.Lines, PricedLine{Line: l, Variant: v, UnitPrice: pl.UnitPrice, LineTotal: total})
	}
	dest, err := s.destination(ctx, c)
	if err != nil {
		return Priced{}, err
	}
	if in.Promotions, err = s.promos.ForPricing(ctx, s.db.Bun, c.DiscountCodes); err != nil {
		return Priced{}, fmt.Errorf("price cart: %w", err)
	}
	req := shipping.Request{Config: cfg, Currency: c.Currency, Items: items, Dest: dest}
	if c.ShippingMethodID != nil {
		req.MethodID = *c.ShippingMethodID
	}
	p, err := promotions.Price(c.Currency, lines, in, func(discount money.Money, free bool) (pricing.Totals, error) {
		req.Discount, req.FreeShipping = discount, free
		r, err := shipping.Price(req)
		out.Shipping = r
		return r.Totals, err
	})
	if err != nil {
		return Priced{}, fmt.Errorf("price cart: %w", err)
	}
	for i := range out.Lines {
		out.Lines[i].Discount = money.New(p.Result.LineDiscounts[i], c.Currency)
	}
	out.Totals, out.Allocations, out.problems = p.Totals, p.Result.Allocations, p.Result.Problems
	out.TaxIsEstimate = dest.Estimated && (dest.HasRates || dest.HasZones)
	return out, nil
}

// lineVariants returns the variant of each of the cart's lines, nil where
// it is gone, in one query, or none when the request loaded them all
// already (WithVariantMemo).
func (s *Service) lineVariants(ctx context.Context, c *Cart) ([]*catalog.SaleVariant, error) {
	out := make([]*catalog.SaleVariant, len(c.Lines))
	if len(c.Lines) == 0 {
		return out, nil
	}
	ids := make([]string, len(c.Lines))
	refs := make([]catalog.LineRef, len(c.Lines))
	for i := range c.Lines {
		ids[i] = c.Lines[i].VariantID
		refs[i] = catalog.LineRef{VariantID: &c.Lines[i].VariantID}
	}
	loaded, ok := recalled(ctx, ids)
	if !ok {
		var err error
		if loaded, err = s.products.ForSale(ctx, refs); err != nil {
			return nil, fmt.Errorf("load cart variants: %w", err)
		}
	}
	byID := make(map[string]*catalog.SaleVariant, len(loaded))
	for i := range loaded {
		byID[loaded[i].ID] = &loaded[i]
	}
	for i, l := range c.Lines {
		out[i] = byID[l.VariantID]
	}
	return out, nil
}

// destination is the configuration the cart is priced for: its address's,
// else the estimate for STORE_COUNTRY; unconfigured without WithShipping.
func (s *Service) destination(ctx context.Context, c *Cart) (shipping.Destination, error) {
	if s.destinations == nil {
		return shipping.Destination{}, nil
	}
	country, region := "", ""
	if a := c.ShippingAddress; a != nil {
		country = a.CountryCode
		if a.Region != nil {
			region = *a.Region
		}
	}
	d, err := s.destinations.Destination(ctx, country, region)
	if err != nil {
		return shipping.Destination{}, fmt.Errorf("price cart: %w", err)
	}
	return d, nil
}
