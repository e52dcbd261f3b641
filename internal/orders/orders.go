// Package orders owns checkout and the order workflow: the idempotent
// checkout transaction that prices from the catalog and reserves stock, the
// order state machine driven by payment events, payment timeouts and
// cancellations, and the order timeline.
package orders

import (
	"time"

	"commerce/internal/catalog"
	"commerce/internal/customers"
	"commerce/internal/money"
	"commerce/internal/promotions"
)

// Status is where an order is in its life.
type Status string

// The order statuses.
const (
	Pending    Status = "PENDING"
	Processing Status = "PROCESSING"
	Fulfilled  Status = "FULFILLED"
	Cancelled  Status = "CANCELLED"
)

// PaymentStatus is where an order's payment is.
type PaymentStatus string

// The payment statuses.
const (
	PaymentPending           PaymentStatus = "PENDING"
	PaymentPaid              PaymentStatus = "PAID"
	PaymentPartiallyRefunded PaymentStatus = "PARTIALLY_REFUNDED"
	PaymentRefunded          PaymentStatus = "REFUNDED"
	PaymentFailed            PaymentStatus = "FAILED"
)

// FulfillmentStatus is where an order's shipment is.
type FulfillmentStatus string

// The fulfillment statuses.
const (
	Unfulfilled FulfillmentStatus = "UNFULFILLED"
	// PartiallyShipped is an order some of whose units (net of refunded
	// units) are still to ship; its Status stays PROCESSING.
	PartiallyShipped FulfillmentStatus = "PARTIALLY_FULFILLED"
	Shipped          FulfillmentStatus = "FULFILLED"
	Delivered        FulfillmentStatus = "DELIVERED"
)

// Event types of the order timeline.
const (
	EventPlaced               = "PLACED"
	EventStockReserved        = "STOCK_RESERVED"
	EventPaymentIntentCreated = "PAYMENT_INTENT_CREATED"
	EventPaymentFailed        = "PAYMENT_FAILED"
	EventPaid                 = "PAID"
	EventConfirmationQueued   = "CONFIRMATION_QUEUED"
	EventCancelled            = "CANCELLED"
	EventStockReleased        = "STOCK_RELEASED"
	EventRefunded             = "REFUNDED"
	EventRefundRequested      = "REFUND_REQUESTED"
	EventPaymentMismatch      = "PAYMENT_MISMATCH"
	EventEventIgnored         = "PAYMENT_EVENT_IGNORED"
	EventRefundBeforePayment  = "REFUND_BEFORE_PAYMENT"
	EventDiscountApplied      = "DISCOUNT_APPLIED"
)

// Order is a placed order.
type Order struct {
	ID         string
	Number     string
	CustomerID *string
	Email      string
	Subtotal   money.Money
	Tax        money.Money
	Shipping   money.Money
	Discount   money.Money
	Total      money.Money
	Refunded   money.Money
	// ShippingMethodName and TaxLines are the shipping method and the tax
	// by rate as charged at checkout (no method while no zone existed).
	ShippingMethodName *string
	TaxLines           []TaxLine
	// RefundBeforePayment is a refund the provider reported before the
	// payment it refunds (events come in any order); it is applied when
	// the payment arrives.
	RefundBeforePayment money.Money
	Status              Status
	PaymentStatus       PaymentStatus
	FulfillmentStatus   FulfillmentStatus
	PaymentIntentID     *string
	PaymentClientSecret *string
	ShippingAddress     customers.Address
	BillingAddress      customers.Address
	Carrier             *string
	TrackingNumber      *string
	TrackingURL         *string
	ShippedAt           *time.Time
	DeliveredAt         *time.Time
	PaidAt              *time.Time
	CancelledAt         *time.Time
	Notes               *string
	// DiscountAllocations are what each promotion took off; refunds
	// and cancellations use them.
	DiscountAllocations []promotions.Allocation
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// TaxLine is the tax of one rate as an order was charged it.
type TaxLine struct {
	Name string `json:"name"`
	// Rate is the decimal rate as written, "0.19".
	Rate   string      `json:"rate"`
	Amount money.Money `json:"-"`
	// Minor is Amount's minor units as stored.
	Minor int64 `json:"amount"`
}

// PayableSecret is the payment client secret while the order still waits
// for payment; none once it is paid or cancelled.
func (o *Order) PayableSecret() *string {
	if o.Status != Pending || o.PaymentStatus == PaymentPaid {
		return nil
	}
	return o.PaymentClientSecret
}

// Line is an order line, with the name, sku and price at the time of the order.
type Line struct {
	ID        string
	OrderID   string
	Position  int
	ProductID *string
	VariantID *string // nil once the variant was deleted
	SKU       string
	Name      string
	// VariantTitle and SelectedOptions are the variant's as they were when
	// the order was placed.
	VariantTitle    string
	SelectedOptions []catalog.SelectedOption
	Quantity        int
	UnitPrice       money.Money
	LineTotal       money.Money
	// Discount is the line's part of the order's merchandise discount.
	Discount money.Money
	// RefundedQuantity is the units in refunds that are not FAILED,
	// ReturnedQuantity those in returns that are not REJECTED or
	// CANCELLED, and FulfilledQuantity those shipped in fulfilments; read
	// by Service.Lines only.
	RefundedQuantity  int
	ReturnedQuantity  int
	FulfilledQuantity int
}

// Event is one entry of an order's timeline.
type Event struct {
	OrderID     string
	Type        string
	Message     *string
	StaffUserID *string // the staff account that acted; nil when no staff did
	CreatedAt   time.Time
}

// Filter narrows the staff order list.
type Filter struct {
	Status            *Status
	PaymentStatus     *PaymentStatus
	FulfillmentStatus *FulfillmentStatus
	CustomerID        *string
	Email             *string
	CreatedAfter      *time.Time
	CreatedBefore     *time.Time
}

// Page is one page of orders.
type Page struct {
	Orders          []*Order
	Cursors         []string
	HasNextPage     bool
	HasPreviousPage bool
}
