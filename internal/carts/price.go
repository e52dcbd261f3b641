package carts

import (
	"context"
	"fmt"

	"commerce/internal/catalog"
	"commerce/internal/money"
	"commerce/internal/pricing"
	"commerce/internal/shipping"
)

// PricedLine is a cart line at the current catalog price.
type PricedLine struct {
	Line
	Variant   *catalog.SaleVariant
	UnitPrice money.Money
	LineTotal money.Money
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

// Price prices the cart at the current catalog prices, loading the line
// variants in one query and its destination in one statement, with no
// discount. Lines whose variant is gone, or is now sold in another currency
// than the cart's, are left out: they cannot be bought. It returns an error
// only when the variants cannot be loaded or an amount overflows.
func (s *Service) Price(ctx context.Context, c *Cart, cfg pricing.Config) (Priced, error) {
	variants, err := s.lineVariants(ctx, c)
	if err != nil {
		return Priced{}, err
	}
	out := Priced{Lines: make([]PricedLine, 0, len(c.Lines))}
	items := make([]shipping.Item, 0, len(c.Lines))
	for i, l := range c.Lines {
		v := variants[i]
		if v == nil || v.Currency != c.Currency {
			continue
		}
		total, err := pricing.LineTotal(pricing.Line{UnitPrice: v.UnitPrice(), Quantity: l.Quantity})
		if err != nil {
			return Priced{}, fmt.Errorf("price cart line %s: %w", l.ID, err)
		}
		items = append(items, v.ShippingItem(l.Quantity))
		out.Lines = append(out.Lines, PricedLine{Line: l, Variant: v, UnitPrice: v.UnitPrice(), LineTotal: total})
	}
	dest, err := s.destination(ctx, c)
	if err != nil {
		return Priced{}, err
	}
	req := shipping.Request{Config: cfg, Currency: c.Currency, Items: items, Discount: money.Zero(c.Currency), Dest: dest}
	if c.ShippingMethodID != nil {
		req.MethodID = *c.ShippingMethodID
	}
	if out.Shipping, err = shipping.Price(req); err != nil {
		return Priced{}, fmt.Errorf("price cart: %w", err)
	}
	out.Totals = out.Shipping.Totals
	out.TaxIsEstimate = dest.Estimated && (dest.HasRates || dest.HasZones)
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
