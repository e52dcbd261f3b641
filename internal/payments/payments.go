// Package payments is the boundary to the payment provider: a Provider
// interface that paymentstripe (Stripe) and paymentdummy (local runs)
// implement, and the webhook endpoint that verifies provider events and
// hands them, as provider-neutral Events, to an EventHandler (the orders
// service), which records and applies each event exactly once.
package payments

import (
	"context"
	"time"

	"commerce/internal/money"
)

// IntentStatus is the provider's state of a payment intent.
type IntentStatus string

// The intent states the order workflow reacts to.
const (
	IntentRequiresPayment IntentStatus = "requires_payment_method"
	IntentRequiresAction  IntentStatus = "requires_action"
	IntentProcessing      IntentStatus = "processing"
	IntentSucceeded       IntentStatus = "succeeded"
	IntentCanceled        IntentStatus = "canceled"
)

// CustomerRequest asks for the provider-side customer of one of ours.
type CustomerRequest struct {
	CustomerID string // ours; the idempotency key derives from it
	Email      string
	Name       string
	Phone      *string
}

// IntentRequest asks for a payment intent for an order.
type IntentRequest struct {
	OrderID     string // exactly Order.id as the API shows it; metadata order_id
	OrderNumber string // metadata order_number
	Amount      money.Money
	Email       string  // receipt email
	CustomerRef *string // provider customer id, when known
}

// Intent is a provider payment intent.
type Intent struct {
	ID           string
	ClientSecret string
	Status       IntentStatus
	Amount       money.Money
}

// Refund is a refund made through the provider.
type Refund struct {
	ID     string
	Amount money.Money
}

// Provider is a payment provider. Every method that creates something takes
// or derives an idempotency key, so that a retry never charges or refunds
// twice.
type Provider interface {
	// EnsureCustomer returns the provider's customer id for our customer,
	// creating it once (idempotency key from CustomerID).
	EnsureCustomer(ctx context.Context, c CustomerRequest) (string, error)
	// CreateIntent creates the order's payment intent (idempotency key from
	// the order id, so a retry returns the same intent).
	CreateIntent(ctx context.Context, r IntentRequest) (Intent, error)
	// GetIntent reads an intent's current state.
	GetIntent(ctx context.Context, id string) (Intent, error)
	// CancelIntent cancels an unpaid intent.
	CancelIntent(ctx context.Context, id string) error
	// Refund refunds amount (nil: everything left) of a paid intent; key
	// makes the refund idempotent.
	Refund(ctx context.Context, intentID string, amount *money.Money, key string) (Refund, error)
}

// EventType is what happened to a payment.
type EventType string

// The events the order workflow handles. Other provider events are
// acknowledged and ignored.
const (
	IntentSucceededEvent EventType = "payment_intent.succeeded"
	IntentFailedEvent    EventType = "payment_intent.payment_failed"
	ChargeRefundedEvent  EventType = "charge.refunded"
	// RefundUpdatedEvent reports a change of one refund; the workflow acts
	// on a refund of ours that failed after the provider accepted it.
	RefundUpdatedEvent EventType = "refund.updated"
)

// Event is a verified provider event, reduced to what the workflow needs.
type Event struct {
	ID          string // the provider's event id; applying it twice is a no-op
	Type        EventType
	IntentID    string
	OrderID     string // from metadata order_id; may be empty
	OrderNumber string // from metadata order_number; may be empty
	// Amount is what the event is about: the amount received for a success,
	// the total refunded so far for a refund.
	Amount         money.Money
	FailureMessage string
	// RefundID and RefundStatus are the refund's, for RefundUpdatedEvent
	// ("pending", "succeeded", "failed", "canceled", ...).
	RefundID     string
	RefundStatus string
	Created      time.Time
}

// EventHandler applies verified events. It returns nil once the event is
// durably recorded (applied, or recorded and ignored); an error makes the
// webhook answer 5xx so the provider delivers it again.
type EventHandler interface {
	HandlePaymentEvent(ctx context.Context, e Event) error
}
