// Package shipping owns shipping zones, their methods and the tax rates by
// destination, and prices a cart or an order for its address (Price, a pure
// function over what one statement loaded, see Destination).
//
// A zone groups countries (a country is in at most one zone); each method
// of a zone is priced by one rate (NONE), by weight bands in grams (WEIGHT)
// or by subtotal bands after discounts (SUBTOTAL); a band's min is
// inclusive and its max exclusive. While no zone exists shipping keeps the
// v1 rule of pricing.Config; while no tax rate exists tax does too.
//
// Tax rates are set per country and per region (Address.region, matched
// case-insensitively); both levels apply and add up, and at each level a
// rate of the line's tax class wins over the standard one.
package shipping

import (
	"time"

	"commerce/internal/money"
	"commerce/internal/pricing"
)

// Condition is what a method's bands are measured on.
type Condition string

// The conditions of a method.
const (
	ConditionNone     Condition = "NONE"     // one rate whatever the cart
	ConditionWeight   Condition = "WEIGHT"   // bands of grams
	ConditionSubtotal Condition = "SUBTOTAL" // bands of the subtotal after discounts, in minor units
)

// Band is one rate of a method: Price for a measure in [Min, Max); a nil
// Max has no upper bound. Min and Max are grams or minor units.
type Band struct {
	Min   int64  `json:"min"`
	Max   *int64 `json:"max"`
	Price int64  `json:"price"`
}

// contains reports whether v falls in the band.
func (b Band) contains(v int64) bool { return v >= b.Min && (b.Max == nil || v < *b.Max) }

// Zone is a group of countries served by the same methods.
type Zone struct {
	ID        string
	Name      string
	Countries []string
	Methods   []*Method
	CreatedAt time.Time
}

// Method is a way to ship to the countries of a zone.
type Method struct {
	ID        string
	ZoneID    string
	Zone      *Zone // the zone with its methods, as loaded together
	Name      string
	Carrier   *string
	Condition Condition
	Bands     []Band
	// FreeAbove is the subtotal after discounts at or above which the
	// method is free; nil never.
	FreeAbove *money.Money
	MinDays   *int
	MaxDays   *int
	IsActive  bool
	Currency  string
}

// TaxRate is a tax rate of a country, or of a region of it.
type TaxRate struct {
	ID          string
	Name        string
	CountryCode string
	Region      *string // nil: the country rate
	TaxClass    *string // nil: the standard class
	Rate        pricing.Rate
	// AppliesToShipping: the rate also taxes shipping (as a standard-class
	// rate: shipping has no tax class).
	AppliesToShipping bool
}

// Quote is what a method charges for a cart.
type Quote struct {
	Method *Method
	Price  money.Money
}

// Destination is the configuration that prices a cart for one address:
// whether any zone and any tax rate exist (else the v1 rules stand), the
// active methods of the zone serving the country and the country's rates.
type Destination struct {
	Country   string
	Region    string
	HasZones  bool
	HasRates  bool
	Methods   []*Method
	Rates     []TaxRate
	Estimated bool // no address yet: priced for STORE_COUNTRY
}
