// Package pricing prices a cart or an order with pure functions over
// money.Money (integer minor units, no floats).
//
// Compute follows the "Totals" rule of the order workflow:
//
//	subtotal = Σ unit price × quantity
//	discount = the given discount clamped to [0, subtotal]
//	tax      = TaxRate × (subtotal − discount), rounded half-up to the minor unit
//	shipping = 0 with no lines or when subtotal ≥ FreeShippingThreshold
//	           (judged before the discount), else FlatShippingRate; not taxed
//	total    = subtotal − discount + tax + shipping
//
// Every amount must be in the requested currency (errors wrap
// money.ErrCurrencyMix) and any overflow of int64 minor units is reported as
// a wrapped money.ErrRange.
package pricing
