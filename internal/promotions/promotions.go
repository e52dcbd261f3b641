// Package promotions owns promotions and discount codes: their settings,
// their store, and the pure evaluation that turns a cart's lines, its codes,
// the customer's email and the time into discount allocations.
//
// A promotion with a code applies when the code is given; one without a
// code applies automatically to every eligible cart. Usage limits are exact
// under any concurrency: checkout takes a use with a conditional update in
// its transaction (Take), like stock, and a cancelled or timed-out order
// gives it back (GiveBack).
package promotions

import (
	"time"
)

// ValueType is how a promotion discounts.
type ValueType string

// The value types of the contract.
const (
	Percentage   ValueType = "PERCENTAGE"
	FixedAmount  ValueType = "FIXED_AMOUNT"
	FreeShipping ValueType = "FREE_SHIPPING"
)

// The userError codes of discount codes.
const (
	CodeInvalid       = "DISCOUNT_CODE_INVALID"
	CodeExpired       = "DISCOUNT_CODE_EXPIRED"
	CodeUsageLimit    = "DISCOUNT_USAGE_LIMIT_REACHED"
	CodeCustomerLimit = "DISCOUNT_CUSTOMER_LIMIT_REACHED"
	CodeNotCombinable = "DISCOUNT_NOT_COMBINABLE"
	percentScale      = 100 * 100 // a percentage is stored in hundredths of a percent
	// MaxCodes bounds the codes of one cart or checkout.
	MaxCodes = 5
)

// Target is which lines a promotion applies to: a line matching any
// category, tag or product. All empty is every line.
type Target struct {
	Categories []string
	Tags       []string
	ProductIDs []string
}

// All reports whether every line is eligible.
func (t Target) All() bool {
	return len(t.Categories) == 0 && len(t.Tags) == 0 && len(t.ProductIDs) == 0
}

// Promotion is a promotion as stored.
type Promotion struct {
	ID   string
	Name string
	// Code is upper-case; nil for an automatic promotion.
	Code      *string
	ValueType ValueType
	// Value is in hundredths of a percent for PERCENTAGE (1000 = 10 %), in
	// minor units of Currency for FIXED_AMOUNT, and 0 for FREE_SHIPPING.
	Value    int64
	Currency string
	Target   Target
	// MinimumSubtotal is in minor units of Currency, of the eligible lines
	// before discounts.
	MinimumSubtotal  *int64
	StartsAt, EndsAt *time.Time
	UsageLimit       *int
	PerCustomerLimit *int
	TimesUsed        int
	Combines         bool
	IsActive         bool
	ArchivedAt       *time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Limited reports whether a checkout must take a use of p in its
// transaction: it has a usage or a per-customer limit.
func (p *Promotion) Limited() bool { return p.UsageLimit != nil || p.PerCustomerLimit != nil }

// inSchedule reports whether now is within [StartsAt, EndsAt).
func (p *Promotion) inSchedule(now time.Time) bool {
	return (p.StartsAt == nil || !now.Before(*p.StartsAt)) && (p.EndsAt == nil || now.Before(*p.EndsAt))
}

// live reports whether p may apply at all: active and not archived.
func (p *Promotion) live() bool { return p.IsActive && p.ArchivedAt == nil }

// usedUp reports whether p's usage limit is reached.
func (p *Promotion) usedUp() bool { return p.UsageLimit != nil && p.TimesUsed >= *p.UsageLimit }

// Allocation is what one promotion takes off a cart or an order.
type Allocation struct {
	PromotionID   string    `json:"promotionId"`
	PromotionName string    `json:"promotionName"`
	Code          *string   `json:"code,omitempty"`
	ValueType     ValueType `json:"valueType"`
	// Amount is in minor units: the merchandise discount, or for
	// FREE_SHIPPING the shipping it waives.
	Amount int64 `json:"amount"`
	// UseTaken says that checkout took a use of the promotion (it has a
	// limit), which a cancellation gives back.
	UseTaken bool `json:"useTaken,omitempty"`
}
