package orders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"commerce/internal/apperr"
	"commerce/internal/customers"
	"commerce/internal/payments"
)

// errKeyReused answers a checkout whose idempotency key was already used
// for a different order.
var errKeyReused = apperr.New(apperr.Conflict, "this idempotency key was already used for a different checkout")

// PaymentTimeoutArgs is the job that cancels an order still unpaid at its
// payment timeout.
type PaymentTimeoutArgs struct {
	OrderID string `json:"order_id"`
}

// Kind names the job for River.
func (PaymentTimeoutArgs) Kind() string { return "payment-timeout" }

// PaymentIntentArgs is the job that creates an order's payment intent when
// the attempt right after checkout did not.
type PaymentIntentArgs struct {
	OrderID string `json:"order_id"`
}

// Kind names the job for River.
func (PaymentIntentArgs) Kind() string { return "payment-intent" }

// replayWait bounds how long a replayed checkout waits for the first
// request to store the payment intent it is creating.
const replayWait = 3 * time.Second

// replay answers a checkout whose key was already used with the same input:
// the same order, secret and access token. If the first request is still
// creating the payment intent, it waits a little for it rather than asking
// the provider a second time.
func (s *Service) replay(ctx context.Context, orderID string) (*CheckoutResult, error) {
	deadline := s.now().Add(replayWait)
	for {
		o, err := s.ByID(ctx, orderID)
		if err != nil {
			return nil, err
		}
		if o.PaymentClientSecret != nil || o.Status != Pending || !s.now().Before(deadline) {
			return &CheckoutResult{Order: o, ClientSecret: o.PayableSecret(), AccessToken: s.AccessToken(o.ID)}, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// createIntentAfterCommit tries to create the payment intent right away. A
// failure is logged and left to the PaymentIntentArgs job scheduled in the
// checkout transaction.
func (s *Service) createIntentAfterCommit(ctx context.Context, p *placedOrder) *string {
	secret, err := s.ensureIntent(ctx, p.order, p.customer)
	if err != nil {
		s.log.Warn("create payment intent failed; the retry job will try again", "order_id", p.order.ID, "error", err)
		return nil
	}
	return secret
}

// CreatePaymentIntent creates the order's payment intent if it has none and
// is still waiting for payment. It is the retry path after checkout; safe
// to run any number of times.
func (s *Service) CreatePaymentIntent(ctx context.Context, orderID string) error {
	o, err := s.ByID(ctx, orderID)
	if errors.Is(err, apperr.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if o.PaymentIntentID != nil || o.Status != Pending || o.CustomerID == nil {
		return nil
	}
	c, err := customers.CheckoutCustomerByID(ctx, s.db.Bun, *o.CustomerID)
	if err != nil {
		return fmt.Errorf("load customer of order %s: %w", o.ID, err)
	}
	_, err = s.ensureIntent(ctx, o, c)
	return err
}

// paymentIntentCreatedMessage is the PAYMENT_INTENT_CREATED event's message.
// It names no intent: events are shown to whoever may see the order, and
// the intent id is staff-only (Order.stripePaymentIntentId).
const paymentIntentCreatedMessage = "Payment intent created"

// ensureIntent makes sure the customer exists at the provider and the order
// has a payment intent, then stores both ids in one statement. The
// provider's idempotency keys (from the customer and the order id) make a
// repeat return the same customer and intent.
func (s *Service) ensureIntent(ctx context.Context, o *Order, c *customers.CheckoutCustomer) (*string, error) {
	customerRef := c.StripeCustomerID
	if customerRef == nil {
		ref, err := s.provider.EnsureCustomer(ctx, payments.CustomerRequest{
			CustomerID: c.ID, Email: c.Email, Name: c.FirstName + " " + c.LastName, Phone: c.Phone,
		})
		if err != nil {
			return nil, fmt.Errorf("ensure payment customer: %w", err)
		}
		customerRef = &ref
	}
	intent, err := s.provider.CreateIntent(ctx, payments.IntentRequest{
		OrderID: o.ID, OrderNumber: o.Number, Amount: o.Total, Email: o.Email, CustomerRef: customerRef,
	})
	if err != nil {
		return nil, fmt.Errorf("create payment intent: %w", err)
	}
	// The order's status as the intent is stored: it may have been
	// cancelled since it was read, and then no one else will cancel this
	// intent.
	var status []string
	err = s.db.Bun.NewRaw(`
		WITH c AS (
			UPDATE customers SET stripe_customer_id = ?, updated_at = now()
			WHERE id = ? AND stripe_customer_id IS DISTINCT FROM ?
		), o AS (
			UPDATE orders SET payment_intent_id = ?, payment_client_secret = ?, updated_at = now()
			WHERE id = ? AND payment_intent_id IS NULL RETURNING id, status
		)
		INSERT INTO order_events (order_id, type, message) SELECT id, ?, ? FROM o
		RETURNING (SELECT status FROM o)`,
		*customerRef, c.ID, *customerRef,
		intent.ID, intent.ClientSecret, o.ID,
		EventPaymentIntentCreated, paymentIntentCreatedMessage,
	).Scan(ctx, &status)
	if err != nil {
		return nil, fmt.Errorf("store payment intent: %w", err)
	}
	o.PaymentIntentID, o.PaymentClientSecret = &intent.ID, &intent.ClientSecret
	if len(status) == 1 && Status(status[0]) == Cancelled {
		if err := s.provider.CancelIntent(ctx, intent.ID); err != nil {
			s.log.Warn("cancel the payment intent of an order cancelled while it was created", "order_id", o.ID, "error", err)
		}
		return nil, nil
	}
	return &intent.ClientSecret, nil
}
