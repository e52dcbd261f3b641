// Package paymentdummy is a payments.Provider for local runs without Stripe
// keys. Every intent it creates is paid a few seconds later: CreateIntent
// schedules a River job (DummyConfirmArgs) whose worker passes
// ConfirmEvent(args) to the same EventHandler a verified webhook reaches,
// so the whole order workflow runs, durably, without a provider.
//
// Its only state is that job's row in river_job. Ids are derived from their
// inputs, so a retry returns the same intent and schedules nothing new.
// CancelIntent cancels the job, so that, as with Stripe, a cancelled intent
// can never succeed.
//
// Why cancel the River job rather than record cancelled intents somewhere
// the worker checks: the job row already is durable state that every replica
// shares and that survives restarts; River's JobCancel locks it against the
// fetch that starts a job, so a job cancelled while waiting is never worked;
// and it needs no table, no migration and no change to the worker. A job
// already running when CancelIntent is called cannot be taken back (River
// only cancels its context); CancelIntent says so with an error rather than
// promise what it cannot know.
package paymentdummy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"commerce/internal/apperr"
	"commerce/internal/jobs/queue"
	"commerce/internal/money"
	"commerce/internal/payments"
)

// DefaultConfirmDelay is how long after CreateIntent the payment succeeds
// when Config.ConfirmDelay is zero.
const DefaultConfirmDelay = 3 * time.Second

// Jobs is the part of a River client the provider uses, outside any
// transaction (CreateIntent runs after the checkout transaction has
// committed): it schedules confirmations, and finds and cancels them. A
// *river.Client[*sql.Tx] satisfies it; an insert-only client is enough.
type Jobs interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	JobCancel(ctx context.Context, jobID int64) (*rivertype.JobRow, error)
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
	jobs  Jobs
	delay time.Duration
	now   func() time.Time
}

var _ payments.Provider = (*Provider)(nil)

// New returns a Provider that schedules its confirmations through jobs.
func New(jobs Jobs, cfg Config) *Provider {
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

// InsertOpts puts the job on River's workflow queue.
func (DummyConfirmArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: queue.Workflow} }

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
// ConfirmDelay. The job is unique by its arguments, in every state but
// discarded, so a retry neither creates another intent nor schedules a
// second confirmation, and the intent of a cancelled job comes back
// canceled instead of being scheduled again. It returns River's error.
func (p *Provider) CreateIntent(ctx context.Context, r payments.IntentRequest) (payments.Intent, error) {
	id := "pi_dummy_" + derive(r.OrderID)
	args := DummyConfirmArgs{
		IntentID:    id,
		OrderID:     r.OrderID,
		OrderNumber: r.OrderNumber,
		Amount:      r.Amount.Amount,
		Currency:    r.Amount.Currency,
	}
	res, err := p.jobs.Insert(ctx, args, &river.InsertOpts{
		ScheduledAt: p.now().Add(p.delay),
		UniqueOpts:  river.UniqueOpts{ByArgs: true, ByState: uniqueStates()},
	})
	if err != nil {
		return payments.Intent{}, fmt.Errorf("schedule dummy payment: %w", err)
	}
	status := payments.IntentRequiresPayment
	if res != nil && res.Job != nil {
		status = statusOf(res.Job.State)
	}
	return payments.Intent{
		ID:           id,
		ClientSecret: id + "_secret_dummy",
		Status:       status,
		Amount:       r.Amount,
	}, nil
}

// uniqueStates are River's default unique states plus cancelled: a
// cancelled confirmation keeps its place, so that a repeated CreateIntent
// cannot schedule a new one for a cancelled intent.
func uniqueStates() []rivertype.JobState {
	return append(rivertype.UniqueOptsByStateDefault(), rivertype.JobStateCancelled)
}

// statusOf is the state of an intent whose confirmation job is in state s.
func statusOf(s rivertype.JobState) payments.IntentStatus {
	switch s {
	case rivertype.JobStateCancelled:
		return payments.IntentCanceled
	case rivertype.JobStateCompleted:
		return payments.IntentSucceeded
	}
	return payments.IntentRequiresPayment
}

// GetIntent returns id awaiting payment, with a zero amount: it does not
// read the confirmation job. The workflow learns of the payment from the
// confirmation event, not from here, and cancels through CancelIntent,
// which is safe to repeat. It never fails.
func (p *Provider) GetIntent(_ context.Context, id string) (payments.Intent, error) {
	return payments.Intent{ID: id, ClientSecret: id + "_secret_dummy", Status: payments.IntentRequiresPayment}, nil
}

// CancelIntent cancels the intent id by cancelling its confirmation job, so
// that, as with Stripe, the intent can no longer succeed: River never works
// a cancelled job, on any replica, and CreateIntent does not schedule it
// again. Cancelling an intent already cancelled, or one without a job (never
// scheduled, or pruned by River after its retention), is not an error, so
// CancelIntent is safe to call twice. It returns an error of kind
// PaymentFailed when the confirmation has run (the intent succeeded), as
// Stripe refuses to cancel a succeeded intent; a plain, retryable error
// while the confirmation is running (River cancels its context; a later
// call tells whether it ran); and River's errors.
func (p *Provider) CancelIntent(ctx context.Context, id string) error {
	filter, err := json.Marshal(map[string]string{"intent_id": id})
	if err != nil {
		return fmt.Errorf("cancel dummy payment %s: %w", id, err)
	}
	// args @> uses River's GIN index on args.
	found, err := p.jobs.JobList(ctx, river.NewJobListParams().
		Kinds(DummyConfirmArgs{}.Kind()).
		Where("args @> @filter::jsonb", river.NamedArgs{"filter": string(filter)}))
	if err != nil {
		return fmt.Errorf("find dummy payment %s: %w", id, err)
	}
	var succeeded, running bool
	for _, job := range found.Jobs {
		row, err := p.jobs.JobCancel(ctx, job.ID)
		if errors.Is(err, river.ErrNotFound) {
			continue // pruned since the list
		}
		if err != nil {
			return fmt.Errorf("cancel dummy payment %s: %w", id, err)
		}
		switch row.State {
		case rivertype.JobStateCompleted:
			succeeded = true
		case rivertype.JobStateRunning:
			running = true
		}
	}
	switch {
	case succeeded:
		return &apperr.Error{Kind: apperr.PaymentFailed, Message: "the payment has already succeeded",
			Err: fmt.Errorf("cancel dummy payment %s: confirmed already", id)}
	case running:
		return fmt.Errorf("cancel dummy payment %s: confirmation running, try again", id)
	}
	return nil
}

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
