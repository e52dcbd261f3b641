package shipping

import (
	"cmp"
	"math/big"
	"slices"
	"strings"

	"commerce/internal/apperr"
	"commerce/internal/money"
	"commerce/internal/pricing"
)

// Item is one line to price: its price and quantity, and what shipping and
// tax look at, the weight of one unit in grams (0 when unknown) and the tax
// class ("" for the standard class).
type Item struct {
	UnitPrice money.Money
	Quantity  int
	Grams     int64
	TaxClass  string
}

// Request is everything Price needs; nothing is loaded while pricing.
type Request struct {
	Config   pricing.Config
	Currency string
	Items    []Item
	Discount money.Money
	Dest     Destination
	// MethodID is the method chosen for the cart or the checkout; "" none.
	MethodID string
	// FreeShipping waives the shipping charged (a free-shipping
	// promotion); the quotes keep their prices.
	FreeShipping bool
}

// Result is a cart or an order priced for its destination.
type Result struct {
	pricing.Breakdown
	// Quotes are the methods that can serve the address and contents,
	// cheapest first; none while the address is an estimate.
	Quotes []Quote
	// Chosen is the method of Request.MethodID while it can serve the cart.
	Chosen *Method
	// Charged is the quote in the totals: the chosen one, else the only
	// one, else the cheapest; nil when no zone exists or none serves.
	Charged *Quote
	// Unavailable: zones exist and no method serves the destination.
	Unavailable bool
}

// Price prices the items for the destination: the quotes of the methods
// serving it, the shipping charged, and tax by the destination's rates (the
// v1 rules of req.Config where no zone, or no rate, exists). It returns
// pricing's errors (currency mix, out of range).
func Price(req Request) (Result, error) {
	var res Result
	lines := make([]pricing.Line, len(req.Items))
	var grams int64
	for i, it := range req.Items {
		lines[i] = pricing.Line{UnitPrice: it.UnitPrice, Quantity: it.Quantity}
		grams += max(it.Grams, 0) * int64(max(it.Quantity, 0))
	}
	// The bands are judged on the subtotal after discounts: price the
	// merchandise alone first.
	merch, err := pricing.Compute(pricing.Config{TaxRate: pricing.Rate{Num: 0, Den: 1},
		FreeShippingThreshold: money.Zero(req.Currency), FlatShippingRate: money.Zero(req.Currency)},
		req.Currency, lines, req.Discount)
	if err != nil {
		return Result{}, err
	}
	var rules pricing.Rules
	if req.FreeShipping {
		zero := money.Zero(req.Currency)
		rules.Shipping = &zero
	}
	if req.Dest.HasZones {
		quotes := QuotesFor(req.Dest.Methods, grams, money.New(merch.Subtotal.Amount-merch.Discount.Amount, req.Currency))
		res.Unavailable = len(quotes) == 0
		res.Charged, res.Chosen = charge(quotes, req.MethodID)
		zero := money.Zero(req.Currency)
		rules.Shipping = &zero
		if res.Charged != nil && !req.FreeShipping {
			rules.Shipping = &res.Charged.Price
		}
		if !req.Dest.Estimated {
			res.Quotes = quotes
		}
	}
	if req.Dest.HasRates {
		rules.Taxed = true
		for i, it := range req.Items {
			lines[i].Taxes = lineTaxes(req.Dest, it.TaxClass)
		}
		rules.ShippingTaxes = shippingTaxes(req.Dest)
	}
	if res.Breakdown, err = pricing.ComputeFor(req.Config, req.Currency, lines, req.Discount, rules); err != nil {
		return Result{}, err
	}
	return res, nil
}

// charge picks the quote to charge: the chosen method while it serves the
// cart, else the only quote, else the cheapest.
func charge(quotes []Quote, methodID string) (charged *Quote, chosen *Method) {
	for i := range quotes {
		if methodID != "" && quotes[i].Method.ID == methodID {
			return &quotes[i], quotes[i].Method
		}
	}
	if len(quotes) > 0 {
		return &quotes[0], nil
	}
	return nil, nil
}

// CheckoutError is why the result cannot be checked out, nil when it can:
// SHIPPING_UNAVAILABLE when zones exist and none serves the address,
// SHIPPING_METHOD_UNAVAILABLE when explicit (the checkout input named a
// method) and that method cannot serve the cart, SHIPPING_METHOD_REQUIRED
// when several methods serve it and none was chosen. A method remembered
// by the cart that no longer applies counts as none chosen.
func (r Result) CheckoutError(explicit bool) error {
	switch {
	case r.Unavailable:
		return &apperr.Error{Kind: apperr.Invalid, Code: "SHIPPING_UNAVAILABLE",
			Field: apperr.Path("input", "shippingAddress", "countryCode"), Message: "we do not ship to this country"}
	case explicit && r.Chosen == nil:
		return errMethodUnavailable(apperr.Path("input", "shippingMethodId"))
	case r.Chosen == nil && len(r.Quotes) > 1:
		return &apperr.Error{Kind: apperr.Invalid, Code: "SHIPPING_METHOD_REQUIRED",
			Field: apperr.Path("input", "shippingMethodId"), Message: "choose one of the shipping methods"}
	}
	return nil
}

// errMethodUnavailable is the userError of a method that cannot serve the
// cart or its address.
func errMethodUnavailable(path []string) error {
	return &apperr.Error{Kind: apperr.Invalid, Code: "SHIPPING_METHOD_UNAVAILABLE", Field: path,
		Message: "this shipping method cannot deliver this cart to this address"}
}

// QuotesFor returns the quotes of the active methods that can serve a cart
// of grams whose subtotal after discounts is subtotal, cheapest first (ties
// by name).
func QuotesFor(methods []*Method, grams int64, subtotal money.Money) []Quote {
	quotes := []Quote{}
	for _, m := range methods {
		if p, ok := m.quote(grams, subtotal); ok {
			quotes = append(quotes, Quote{Method: m, Price: p})
		}
	}
	slices.SortStableFunc(quotes, func(a, b Quote) int {
		return cmp.Or(cmp.Compare(a.Price.Amount, b.Price.Amount), strings.Compare(a.Method.Name, b.Method.Name),
			strings.Compare(a.Method.ID, b.Method.ID))
	})
	return quotes
}

// quote is the method's price for the cart, false when the cart is in none
// of its bands or the method is inactive or in another currency.
func (m *Method) quote(grams int64, subtotal money.Money) (money.Money, bool) {
	if !m.IsActive || m.Currency != subtotal.Currency {
		return money.Money{}, false
	}
	var measure int64
	switch m.Condition {
	case ConditionWeight:
		measure = grams
	case ConditionSubtotal:
		measure = subtotal.Amount
	}
	for _, b := range m.Bands {
		if !b.contains(measure) {
			continue
		}
		if m.FreeAbove != nil && subtotal.Amount >= m.FreeAbove.Amount {
			return money.Zero(subtotal.Currency), true
		}
		return money.New(b.Price, subtotal.Currency), true
	}
	return money.Money{}, false
}

// lineTaxes are the rates that tax a line of class at the destination: the
// country rate and the region rate, each of the class when there is one,
// else the standard one.
func lineTaxes(d Destination, class string) []pricing.TaxRate {
	var out []pricing.TaxRate
	for _, region := range d.levels() {
		if r := pick(d, region, class); r != nil {
			out = append(out, pricing.TaxRate{Name: r.Name, Rate: r.Rate})
		}
	}
	return out
}

// shippingTaxes are the standard rates of the destination that tax
// shipping.
func shippingTaxes(d Destination) []pricing.TaxRate {
	var out []pricing.TaxRate
	for _, region := range d.levels() {
		if r := pick(d, region, ""); r != nil && r.AppliesToShipping {
			out = append(out, pricing.TaxRate{Name: r.Name, Rate: r.Rate})
		}
	}
	return out
}

// levels are the country level ("") and, with a region, the region's.
func (d Destination) levels() []string {
	if d.Region == "" {
		return []string{""}
	}
	return []string{"", d.Region}
}

// pick returns the rate of the level (region "" for the country) for the
// class, else the level's standard rate, else nil.
func pick(d Destination, region, class string) *TaxRate {
	var standard *TaxRate
	for i := range d.Rates {
		r := &d.Rates[i]
		if r.CountryCode != d.Country || !sameLevel(r.Region, region) {
			continue
		}
		switch {
		case r.TaxClass == nil:
			standard = r
		case class != "" && strings.EqualFold(*r.TaxClass, class):
			return r
		}
	}
	return standard
}

func sameLevel(rateRegion *string, region string) bool {
	if rateRegion == nil {
		return region == ""
	}
	return region != "" && strings.EqualFold(*rateRegion, region)
}

// FormatRate prints a rate as a decimal string with the digits it was
// written with ("0.19", "0.0825"); rates are parsed from decimals, so their
// denominator is a power of ten.
func FormatRate(r pricing.Rate) string {
	if r.Den <= 0 {
		return "0"
	}
	digits, p := 0, int64(1)
	for p < r.Den && digits < 18 {
		p *= 10
		digits++
	}
	if p != r.Den {
		digits = 9
	}
	return big.NewRat(r.Num, r.Den).FloatString(digits)
}
