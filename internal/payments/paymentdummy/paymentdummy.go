// Package paymentdummy is a payments.Provider for local runs without Stripe
// keys. Every intent it creates is paid a few seconds later: CreateIntent
// schedules a River job (DummyConfirmArgs) whose worker passes
// ConfirmEvent(args) to the same EventHandler a verified webhook reaches,
// so the whole order workflow runs, durably, without a provider.
//
// It keeps no state. Ids are derived from their inputs, so a retry returns
// the same intent and schedules nothing new.
package paymentdummy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"commerce/internal/money"
	"commerce/internal/payments"
)

// DefaultConfirmDelay is how long after CreateIntent the payment succeeds
// when Config.ConfirmDelay is zero.
const DefaultConfirmDelay = 3 * time.Second

// Inserter inserts River jobs outside a transaction: CreateIntent runs
// after the checkout transaction has committed. A *river.Client[*sql.Tx]
// satisfies it.
type Inserter interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Config configures a Provider.
type Config struct {
	// ConfirmDelay is how long after CreateIntent the payment succeeds;
	// zero: DefaultConfirmDelay.
	ConfirmDelay time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Provider pretends to be a payment provider that accepts every payment.
type Provider struct {
	jobs  Inserter
	delay time.Duration
	now   func() time.Time
}

var _ payments.Provider = (*Provider)(nil)

// New returns a Provider that schedules its confirmations through jobs.
func New(jobs Inserter, cfg Config) *Provider {
	p := &Provider{jobs: jobs, delay: cfg.ConfirmDelay, now: cfg.Now}
	if p.delay <= 0 {
		p.delay = DefaultConfirmDelay
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p
}

// DummyConfirmArgs is the River job that confirms a dummy payment. Its
// worker calls handler.HandlePaymentEvent(ctx, ConfirmEvent(args)).
type DummyConfirmArgs struct {
	IntentID    string `json:"intent_id"`
	OrderID     string `json:"order_id"`
	OrderNumber string `json:"order_number"`
	Amount      int64  `json:"amount"` // minor units
	Currency    string `json:"currency"`
}

// Kind names the job for River.
func (DummyConfirmArgs) Kind() string { return "dummy-payment-confirm" }

// ConfirmEvent returns the payment_intent.succeeded event the job of a
// confirms: id "evt_dummy_"+IntentID (so working the job twice records the
// event once), the full amount received, created now.
func ConfirmEvent(a DummyConfirmArgs) payments.Event {
	return payments.Event{
		ID:          "evt_dummy_" + a.IntentID,
		Type:        payments.IntentSucceededEvent,
		IntentID:    a.IntentID,
		OrderID:     a.OrderID,
		OrderNumber: a.OrderNumber,
		Amount:      money.New(a.Amount, a.Currency),
		Created:     time.Now().UTC(),
	}
}

// EnsureCustomer returns "cus_dummy_" + an id derived from CustomerID. It
// never fails.
func (p *Provider) EnsureCustomer(_ context.Context, c payments.CustomerRequest) (string, error) {
	return "cus_dummy_" + derive(c.CustomerID), nil
}

// CreateIntent returns the order's intent, "pi_dummy_" + an id derived from
// the order id, awaiting payment, and schedules its confirmation in
// ConfirmDelay. The job is unique by its arguments, so a retry neither
// creates another intent nor schedules a second confirmation. It returns the
// inserter's error.
func (p *Provider) CreateIntent(ctx context.Context, r payments.IntentRequest) (payments.Intent, error) {
	id := "pi_dummy_" + derive(r.OrderID)
	args := DummyConfirmArgs{
		IntentID:    id,
		OrderID:     r.OrderID,
		OrderNumber: r.OrderNumber,
		Amount:      r.Amount.Amount,
		Currency:    r.Amount.Currency,
	}
	_, err := p.jobs.Insert(ctx, args, &river.InsertOpts{
		ScheduledAt: p.now().Add(p.delay),
		UniqueOpts:  river.UniqueOpts{ByArgs: true},
	})
	if err != nil {
		return payments.Intent{}, fmt.Errorf("schedule dummy payment: %w", err)
	}
	return payments.Intent{
		ID:           id,
		ClientSecret: id + "_secret_dummy",
		Status:       payments.IntentRequiresPayment,
		Amount:       r.Amount,
	}, nil
}

// GetIntent returns id awaiting payment, with a zero amount: the provider
// keeps no state, so it cannot know whether the confirmation ran or what
// was asked. The workflow learns of the payment from the confirmation
// event, not from here. It never fails.
func (p *Provider) GetIntent(_ context.Context, id string) (payments.Intent, error) {
	return payments.Intent{ID: id, ClientSecret: id + "_secret_dummy", Status: payments.IntentRequiresPayment}, nil
}

// CancelIntent does nothing and returns nil. A confirmation already
// scheduled still runs; the workflow treats it as a payment arriving after
// cancellation, as it would with Stripe.
func (p *Provider) CancelIntent(context.Context, string) error { return nil }

// Refund returns refund "re_dummy_" + key of amount. With amount nil (all
// that is left) the provider cannot know the sum and returns zero money
// without a currency. It never fails.
func (p *Provider) Refund(_ context.Context, _ string, amount *money.Money, key string) (payments.Refund, error) {
	rf := payments.Refund{ID: "re_dummy_" + key}
	if amount != nil {
		rf.Amount = *amount
	}
	return rf, nil
}

// derive turns our id into a short, stable, provider-style id.
func derive(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:12])
}
