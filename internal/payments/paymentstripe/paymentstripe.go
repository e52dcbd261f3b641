// Package paymentstripe is the Stripe payments.Provider, on stripe-go v76.
// Each Provider owns its client.API and backends; nothing touches
// stripe-go's package-level key or backends, so several providers (and
// tests against stripe-mock) coexist in one process.
package paymentstripe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"commerce/internal/apperr"
	"commerce/internal/money"
	"commerce/internal/payments"
)

// DefaultTimeout bounds one HTTP attempt when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// maxNetworkRetries is how often stripe-go retries a request that failed in
// a way Stripe calls retryable; idempotency keys make the retries safe.
const maxNetworkRetries = 2

// Config configures a Provider.
type Config struct {
	SecretKey string        // STRIPE_SECRET_KEY
	APIBase   string        // STRIPE_API_BASE; empty: Stripe's API
	Timeout   time.Duration // per HTTP attempt; zero: DefaultTimeout
	// Log receives stripe-go's own messages (retries, request errors) at
	// debug level; nil discards them. Errors are returned to the caller
	// either way.
	Log *slog.Logger
	// Transport carries the HTTP requests (the tracing transport); nil:
	// http.DefaultTransport.
	Transport http.RoundTripper
}

// Provider creates customers, payment intents and refunds in Stripe.
type Provider struct {
	api *client.API
}

var _ payments.Provider = (*Provider)(nil)

// New returns a Provider for cfg. It makes no network call.
func New(cfg Config) *Provider {
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	bc := &stripe.BackendConfig{
		HTTPClient:        &http.Client{Timeout: timeout, Transport: cfg.Transport},
		MaxNetworkRetries: stripe.Int64(maxNetworkRetries),
		LeveledLogger:     leveledLogger{log: cfg.Log},
	}
	if cfg.APIBase != "" {
		bc.URL = stripe.String(strings.TrimRight(cfg.APIBase, "/"))
	}
	api := &client.API{}
	api.Init(cfg.SecretKey, &stripe.Backends{
		API:     stripe.GetBackendWithConfig(stripe.APIBackend, bc),
		Connect: stripe.GetBackendWithConfig(stripe.ConnectBackend, bc),
		Uploads: stripe.GetBackendWithConfig(stripe.UploadsBackend, bc),
	})
	return &Provider{api: api}
}

// EnsureCustomer creates the Stripe customer of c (idempotency key
// "customer-"+CustomerID, so a retry within Stripe's 24 h key window returns
// the same customer) and returns its id. It returns an error of kind
// PaymentFailed when Stripe refuses the request, and a plain, retryable
// error when Stripe cannot be reached or fails.
func (p *Provider) EnsureCustomer(ctx context.Context, c payments.CustomerRequest) (string, error) {
	params := &stripe.CustomerParams{}
	if c.Email != "" {
		params.Email = stripe.String(c.Email)
	}
	if c.Name != "" {
		params.Name = stripe.String(c.Name)
	}
	if c.Phone != nil && *c.Phone != "" {
		params.Phone = stripe.String(*c.Phone)
	}
	params.Context = ctx
	params.AddMetadata("customer_id", c.CustomerID)
	params.SetIdempotencyKey("customer-" + c.CustomerID)
	cus, err := p.api.Customers.New(params)
	if err != nil {
		return "", mapErr("create customer", err)
	}
	return cus.ID, nil
}

// CreateIntent creates the order's PaymentIntent with automatic payment
// methods, metadata order_id and order_number, and the idempotency key
// "pi-"+OrderID, so a retry returns the same intent. It returns an error of
// kind PaymentFailed when Stripe refuses the request (an amount below the
// minimum, an unsupported currency), and a plain, retryable error when
// Stripe cannot be reached or fails.
func (p *Provider) CreateIntent(ctx context.Context, r payments.IntentRequest) (payments.Intent, error) {
	params := &stripe.PaymentIntentParams{
		Amount:   stripe.Int64(r.Amount.Amount),
		Currency: stripe.String(strings.ToLower(r.Amount.Currency)),
		AutomaticPaymentMethods: &stripe.PaymentIntentAutomaticPaymentMethodsParams{
			Enabled: stripe.Bool(true),
		},
	}
	if r.Email != "" {
		params.ReceiptEmail = stripe.String(r.Email)
	}
	if r.CustomerRef != nil && *r.CustomerRef != "" {
		params.Customer = stripe.String(*r.CustomerRef)
	}
	params.Context = ctx
	params.AddMetadata("order_id", r.OrderID)
	params.AddMetadata("order_number", r.OrderNumber)
	params.SetIdempotencyKey("pi-" + r.OrderID)
	pi, err := p.api.PaymentIntents.New(params)
	if err != nil {
		return payments.Intent{}, mapErr("create payment intent", err)
	}
	return intent(pi), nil
}

// GetIntent reads the intent id. It returns an error of kind PaymentFailed
// when Stripe refuses the request (an unknown id), and a plain, retryable
// error when Stripe cannot be reached or fails.
func (p *Provider) GetIntent(ctx context.Context, id string) (payments.Intent, error) {
	params := &stripe.PaymentIntentParams{}
	params.Context = ctx
	pi, err := p.api.PaymentIntents.Get(id, params)
	if err != nil {
		return payments.Intent{}, mapErr("get payment intent", err)
	}
	return intent(pi), nil
}

// CancelIntent cancels the intent id as abandoned. An intent that is
// already canceled is not an error. It returns an error of kind
// PaymentFailed when Stripe refuses (e.g. the intent has succeeded), and a
// plain, retryable error when Stripe cannot be reached or fails.
func (p *Provider) CancelIntent(ctx context.Context, id string) error {
	params := &stripe.PaymentIntentCancelParams{
		CancellationReason: stripe.String(string(stripe.PaymentIntentCancellationReasonAbandoned)),
	}
	params.Context = ctx
	_, err := p.api.PaymentIntents.Cancel(id, params)
	if err == nil {
		return nil
	}
	if p.alreadyCanceled(ctx, id, err) {
		return nil
	}
	return mapErr("cancel payment intent", err)
}

// alreadyCanceled tells whether err is Stripe refusing to cancel an intent
// because it is canceled already.
func (p *Provider) alreadyCanceled(ctx context.Context, id string, err error) bool {
	se, ok := errors.AsType[*stripe.Error](err)
	if !ok || se.Code != stripe.ErrorCodePaymentIntentUnexpectedState {
		return false
	}
	if se.PaymentIntent != nil && se.PaymentIntent.Status != "" {
		return se.PaymentIntent.Status == stripe.PaymentIntentStatusCanceled
	}
	cur, getErr := p.GetIntent(ctx, id)
	return getErr == nil && cur.Status == payments.IntentCanceled
}

// Refund refunds amount (nil: all that is left) of the intent intentID,
// with key as the idempotency key. The returned amount is what Stripe
// refunded, in the refund's currency. It returns an error of kind
// PaymentFailed when Stripe refuses (more than is left, an unpaid intent),
// and a plain, retryable error when Stripe cannot be reached or fails.
func (p *Provider) Refund(ctx context.Context, intentID string, amount *money.Money, key string) (payments.Refund, error) {
	params := &stripe.RefundParams{PaymentIntent: stripe.String(intentID)}
	if amount != nil {
		params.Amount = stripe.Int64(amount.Amount)
	}
	params.Context = ctx
	params.SetIdempotencyKey(key)
	rf, err := p.api.Refunds.New(params)
	if err != nil {
		return payments.Refund{}, mapErr("refund payment", err)
	}
	return payments.Refund{ID: rf.ID, Amount: minor(rf.Amount, rf.Currency)}, nil
}

func intent(pi *stripe.PaymentIntent) payments.Intent {
	return payments.Intent{
		ID:           pi.ID,
		ClientSecret: pi.ClientSecret,
		Status:       payments.IntentStatus(pi.Status),
		Amount:       minor(pi.Amount, pi.Currency),
	}
}

func minor(amount int64, c stripe.Currency) money.Money {
	return money.New(amount, strings.ToUpper(string(c)))
}

// mapErr wraps a stripe-go error. Stripe refusing the request itself (a card
// error, or an invalid request other than authentication, permission, rate
// limit or idempotency problems) becomes an apperr PaymentFailed whose
// message is safe to show; the Stripe error stays the cause, for the log.
// Everything else (network, timeouts, 5xx, a bad key) stays a plain error:
// retrying or fixing the configuration may help, the shopper cannot.
func mapErr(op string, err error) error {
	se, ok := errors.AsType[*stripe.Error](err)
	if !ok {
		return fmt.Errorf("stripe %s: %w", op, err)
	}
	switch {
	case se.Type == stripe.ErrorTypeCard:
		return &apperr.Error{Kind: apperr.PaymentFailed, Message: cardMessage(se),
			Err: fmt.Errorf("stripe %s: %w", op, err)}
	case se.Type == stripe.ErrorTypeInvalidRequest && refusal(se.HTTPStatusCode):
		return &apperr.Error{Kind: apperr.PaymentFailed, Message: "the payment provider refused the request",
			Err: fmt.Errorf("stripe %s: %w", op, err)}
	}
	return fmt.Errorf("stripe %s: %w", op, err)
}

// refusal tells whether an HTTP status means Stripe refused this request
// for what it asks, not for who asks or how often.
func refusal(status int) bool {
	switch status {
	case http.StatusBadRequest, http.StatusPaymentRequired, http.StatusNotFound:
		return true
	}
	return false
}

// cardMessage is Stripe's card error message, which Stripe writes for the
// cardholder ("Your card was declined."), or a generic one.
func cardMessage(se *stripe.Error) string {
	if se.Msg != "" {
		return se.Msg
	}
	return "the card was declined"
}

// leveledLogger forwards stripe-go's messages to slog at debug level (the
// errors it logs are returned to the caller too), or drops them.
type leveledLogger struct{ log *slog.Logger }

func (l leveledLogger) Debugf(format string, v ...any) { l.put(format, v) }
func (l leveledLogger) Infof(format string, v ...any)  { l.put(format, v) }
func (l leveledLogger) Warnf(format string, v ...any)  { l.put(format, v) }
func (l leveledLogger) Errorf(format string, v ...any) { l.put(format, v) }

func (l leveledLogger) put(format string, v []any) {
	if l.log == nil {
		return
	}
	l.log.Debug("stripe-go: " + fmt.Sprintf(format, v...))
}
