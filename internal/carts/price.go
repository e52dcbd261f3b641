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
	Product   *catalog.Product
	UnitPrice money.Money
	LineTotal money.Money
}

// Priced is a cart priced at the current catalog prices.
type Priced struct {
	Lines  []PricedLine
	Totals pricing.Totals
}

// Price prices the cart at the current catalog prices, loading the line
// products in one ByIDs call, with no discount. Lines whose product is gone,
// or is now sold in another currency than the cart's, are left out: they
// cannot be bought. It returns an error only when the products cannot be
// loaded or an amount overflows.
func (s *Service) Price(ctx context.Context, c *Cart, cfg pricing.Config) (Priced, error) {
	ids := make([]string, len(c.Lines))
	for i, l := range c.Lines {
		ids[i] = l.ProductID
	}
	var products []*catalog.Product
	if len(ids) > 0 {
		var err error
		if products, err = s.products.ByIDs(ctx, ids); err != nil {
			return Priced{}, fmt.Errorf("load cart products: %w", err)
		}
	}
	out := Priced{Lines: make([]PricedLine, 0, len(c.Lines))}
	lines := make([]pricing.Line, 0, len(c.Lines))
	for i, l := range c.Lines {
		p := products[i]
		if p == nil || p.Price.Currency != c.Currency {
			continue
		}
		pl := pricing.Line{UnitPrice: p.Price, Quantity: l.Quantity}
		total, err := pricing.LineTotal(pl)
		if err != nil {
			return Priced{}, fmt.Errorf("price cart line %s: %w", l.ID, err)
		}
		lines = append(lines, pl)
		out.Lines = append(out.Lines, PricedLine{Line: l, Product: p, UnitPrice: p.Price, LineTotal: total})
	}
	totals, err := pricing.Compute(cfg, c.Currency, lines, money.Zero(c.Currency))
	if err != nil {
		return Priced{}, fmt.Errorf("price cart: %w", err)
	}
	out.Totals = totals
	return out, nil
}
