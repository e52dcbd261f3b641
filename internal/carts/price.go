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
	Product   *catalog.Product
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

// item is what shipping and tax need of a line: its price, quantity,
// weight and tax class, all taken from the product here.
func item(p *catalog.Product, quantity int) shipping.Item {
	it := shipping.Item{UnitPrice: p.Price, Quantity: quantity}
	if p.WeightGrams != nil {
		it.Grams = int64(*p.WeightGrams)
	}
	if p.TaxClass != nil {
		it.TaxClass = *p.TaxClass
	}
	return it
}

// Price prices the cart at the current catalog prices, loading the line
// products in one ByIDs call and its destination in one statement, with no
// discount. Lines whose product is gone, or is now sold in another currency
// than the cart's, are left out: they cannot be bought. It returns an error
// only when the products cannot be loaded or an amount overflows.
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
	items := make([]shipping.Item, 0, len(c.Lines))
	for i, l := range c.Lines {
		p := products[i]
		if p == nil || p.Price.Currency != c.Currency {
			continue
		}
		total, err := pricing.LineTotal(pricing.Line{UnitPrice: p.Price, Quantity: l.Quantity})
		if err != nil {
			return Priced{}, fmt.Errorf("price cart line %s: %w", l.ID, err)
		}
		items = append(items, item(p, l.Quantity))
		out.Lines = append(out.Lines, PricedLine{Line: l, Product: p, UnitPrice: p.Price, LineTotal: total})
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
