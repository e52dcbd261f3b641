package carts

import (
	"context"
	"fmt"

	"commerce/internal/catalog"
	"commerce/internal/money"
	"commerce/internal/pricing"
)

// PricedLine is a cart line at the current catalog price.
type PricedLine struct {
	Line
	Variant   *catalog.SaleVariant
	UnitPrice money.Money
	LineTotal money.Money
}

// Priced is a cart priced at the current catalog prices.
type Priced struct {
	Lines  []PricedLine
	Totals pricing.Totals
}

// Price prices the cart at the current catalog prices, loading the line
// variants in one query, with no discount. Lines whose variant is gone, or
// is now sold in another currency than the cart's, are left out: they
// cannot be bought. It returns an error only when the variants cannot be
// loaded or an amount overflows.
func (s *Service) Price(ctx context.Context, c *Cart, cfg pricing.Config) (Priced, error) {
	variants, err := s.lineVariants(ctx, c)
	if err != nil {
		return Priced{}, err
	}
	out := Priced{Lines: make([]PricedLine, 0, len(c.Lines))}
	lines := make([]pricing.Line, 0, len(c.Lines))
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
		lines = append(lines, pl)
		out.Lines = append(out.Lines, PricedLine{Line: l, Variant: v, UnitPrice: pl.UnitPrice, LineTotal: total})
	}
	totals, err := pricing.Compute(cfg, c.Currency, lines, money.Zero(c.Currency))
	if err != nil {
		return Priced{}, fmt.Errorf("price cart: %w", err)
	}
	out.Totals = totals
	return out, nil
}

// lineVariants returns the variant of each of the cart's lines, nil where
// it is gone, in one query.
func (s *Service) lineVariants(ctx context.Context, c *Cart) ([]*catalog.SaleVariant, error) {
	out := make([]*catalog.SaleVariant, len(c.Lines))
	if len(c.Lines) == 0 {
		return out, nil
	}
	refs := make([]catalog.LineRef, len(c.Lines))
	for i := range c.Lines {
		refs[i] = catalog.LineRef{VariantID: &c.Lines[i].VariantID}
	}
	loaded, err := s.products.ForSale(ctx, refs)
	if err != nil {
		return nil, fmt.Errorf("load cart variants: %w", err)
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
