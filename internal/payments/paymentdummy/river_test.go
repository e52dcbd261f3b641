package paymentdummy_test

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"commerce/internal/apperr"
	"commerce/internal/jobs"
	"commerce/internal/money"
	"commerce/internal/payments"
	"commerce/internal/payments/paymentdummy"
	"commerce/internal/platform/db"
	"commerce/internal/platform/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }

// TestCreateIntentWithRiver checks against River itself that a retried
// CreateIntent leaves exactly one scheduled confirmation.
func TestCreateIntentWithRiver(t *testing.T) {
	d := dbtest.DB(t)
	ins, err := jobs.NewInserter(d)
	if err != nil {
		t.Fatal(err)
	}
	p := paymentdummy.New(ins, paymentdummy.Config{ConfirmDelay: time.Hour})
	ctx := context.Background()
	req := request()
	req.OrderID = "river-" + time.Now().Format(time.RFC3339Nano)
	first, err := p.CreateIntent(ctx, req)
	if err != nil {
		t.Fatalf("CreateIntent: %v", err)
	}
	if _, err := p.CreateIntent(ctx, req); err != nil {
		t.Fatalf("CreateIntent again: %v", err)
	}
	var n int
	var state string
	var at time.Time
	err = d.SQL.QueryRowContext(ctx,
		`SELECT count(*) OVER (), state, scheduled_at FROM river_job WHERE kind = $1 AND args->>'intent_id' = $2`,
		paymentdummy.DummyConfirmArgs{}.Kind(), first.ID).Scan(&n, &state, &at)
	if err != nil {
		t.Fatalf("read job: %v", err)
	}
	if n != 1 || state != "scheduled" {
		t.Errorf("jobs = %d in state %s, want 1 scheduled", n, state)
	}
	if d := time.Until(at); d < 59*time.Minute || d > time.Hour {
		t.Errorf("scheduled in %s, want about 1h", d)
	}
}

// confirmations is the EventHandler behind the test's confirm worker: it
// records what it is handed, as the order service would apply it. With
// hold set it first waits until its context is done or release is closed,
// so a test can act while a confirmation is running.
type confirmations struct {
	hold    bool
	release chan struct{}
	started chan string // intent ids whose confirmation began

	mu  sync.Mutex
	got []payments.Event
}

func (c *confirmations) HandlePaymentEvent(ctx context.Context, e payments.Event) error {
	select {
	case c.started <- e.IntentID:
	default:
	}
	if c.hold {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.release:
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, e)
	return nil
}

// delivered returns the intent ids of the events handled so far.
func (c *confirmations) delivered() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, 0, len(c.got))
	for _, e := range c.got {
		ids = append(ids, e.IntentID)
	}
	return ids
}

// workBundle is what a worker test needs besides the provider.
type workBundle struct {
	db     *db.DB
	events *confirmations
	client *river.Client[*sql.Tx]
}

// workSetup returns a provider whose confirmations are due at once, on the
// production insert-only client, and a River client, not yet started,
// whose confirm worker does what the one in internal/jobs does: hand
// ConfirmEvent(args) to the event handler.
func workSetup(t *testing.T, hold bool) (*paymentdummy.Provider, *workBundle) {
	t.Helper()
	b := &workBundle{db: dbtest.DB(t), events: &confirmations{
		hold: hold, release: make(chan struct{}), started: make(chan string, 16),
	}}
	ins, err := jobs.NewInserter(b.db)
	if err != nil {
		t.Fatal(err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, j *river.Job[paymentdummy.DummyConfirmArgs]) error {
		return b.events.HandlePaymentEvent(ctx, paymentdummy.ConfirmEvent(j.Args))
	}))
	if b.client, err = jobs.NewClient(b.db, workers, nil, 30*time.Second, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	p := paymentdummy.New(ins, paymentdummy.Config{
		ConfirmDelay: time.Millisecond,
		Now:          func() time.Time { return time.Now().Add(-time.Minute) },
	})
	return p, b
}

// start starts the River client; it is stopped, held workers released,
// when the test ends.
func (b *workBundle) start(t *testing.T) {
	t.Helper()
	if err := b.client.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.client.Stop(ctx); err != nil {
			t.Errorf("stop river: %v", err)
		}
	})
	t.Cleanup(func() { close(b.events.release) })
}

// states returns the states of the confirm jobs of intent id, oldest first.
func (b *workBundle) states(t *testing.T, id string) []string {
	t.Helper()
	rows, err := b.db.SQL.QueryContext(context.Background(),
		`SELECT state FROM river_job WHERE kind = $1 AND args->>'intent_id' = $2 ORDER BY id`,
		paymentdummy.DummyConfirmArgs{}.Kind(), id)
	if err != nil {
		t.Fatalf("read jobs: %v", err)
	}
	defer rows.Close()
	var states []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		states = append(states, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return states
}

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// orderRequest is request() for an order of its own.
func orderRequest(name string) payments.IntentRequest {
	r := request()
	r.OrderID = name + "-" + time.Now().Format(time.RFC3339Nano)
	return r
}

// TestCancelledIntentIsNeverConfirmed: once CancelIntent returns, the
// intent's confirmation is never delivered, while another intent's is; a
// second CancelIntent and a repeated CreateIntent change nothing.
func TestCancelledIntentIsNeverConfirmed(t *testing.T) {
	p, b := workSetup(t, false)
	ctx := context.Background()
	cancelReq := orderRequest("cancelled")
	cancelled, err := p.CreateIntent(ctx, cancelReq)
	if err != nil {
		t.Fatalf("CreateIntent: %v", err)
	}
	paid, err := p.CreateIntent(ctx, orderRequest("paid"))
	if err != nil {
		t.Fatalf("CreateIntent: %v", err)
	}
	if err := p.CancelIntent(ctx, cancelled.ID); err != nil {
		t.Fatalf("CancelIntent: %v", err)
	}
	b.start(t)

	final := func(states []string) bool {
		return len(states) == 1 && (states[0] == "cancelled" || states[0] == "completed" || states[0] == "discarded")
	}
	waitFor(t, "both confirm jobs to be finalized", func() bool {
		return final(b.states(t, cancelled.ID)) && final(b.states(t, paid.ID))
	})
	if got := b.events.delivered(); !slices.Equal(got, []string{paid.ID}) {
		t.Errorf("events delivered for %v, want only %s (the cancelled intent %s must not succeed)", got, paid.ID, cancelled.ID)
	}
	if got := b.states(t, cancelled.ID); !slices.Equal(got, []string{"cancelled"}) {
		t.Errorf("cancelled intent's jobs: %v, want [cancelled]", got)
	}

	if err := p.CancelIntent(ctx, cancelled.ID); err != nil {
		t.Errorf("CancelIntent again: %v", err)
	}
	again, err := p.CreateIntent(ctx, cancelReq)
	if err != nil || again.ID != cancelled.ID || again.Status != payments.IntentCanceled {
		t.Errorf("CreateIntent after cancel = %+v, %v; want %s canceled", again, err, cancelled.ID)
	}
	if got := b.states(t, cancelled.ID); !slices.Equal(got, []string{"cancelled"}) {
		t.Errorf("after a repeated CreateIntent the jobs are %v, want [cancelled]: the intent was revived", got)
	}
}

// TestCancelIntentWhileConfirming: a confirmation caught running cannot be
// promised away: CancelIntent says to try again; River cancels the job's
// context, and once the job has stopped CancelIntent succeeds and nothing
// was delivered.
func TestCancelIntentWhileConfirming(t *testing.T) {
	p, b := workSetup(t, true)
	ctx := context.Background()
	b.start(t)
	in, err := p.CreateIntent(ctx, orderRequest("running"))
	if err != nil {
		t.Fatalf("CreateIntent: %v", err)
	}
	select {
	case <-b.events.started:
	case <-time.After(20 * time.Second):
		t.Fatal("the confirmation did not start")
	}
	err = p.CancelIntent(ctx, in.ID)
	if err == nil || apperr.KindOf(err) == apperr.PaymentFailed {
		t.Fatalf("CancelIntent during the confirmation = %v, want a retryable error", err)
	}
	waitFor(t, "CancelIntent to succeed once the job stopped", func() bool {
		err := p.CancelIntent(ctx, in.ID)
		if apperr.KindOf(err) == apperr.PaymentFailed {
			t.Fatalf("CancelIntent = %v: the confirmation went through", err)
		}
		return err == nil
	})
	if got := b.events.delivered(); len(got) != 0 {
		t.Errorf("events delivered for %v, want none", got)
	}
	if got := b.states(t, in.ID); !slices.Equal(got, []string{"cancelled"}) {
		t.Errorf("jobs: %v, want [cancelled]", got)
	}
}

// TestCancelIntentAfterConfirmation: a paid intent cannot be cancelled (as
// Stripe refuses to), however often one asks, and can still be refunded.
func TestCancelIntentAfterConfirmation(t *testing.T) {
	p, b := workSetup(t, false)
	ctx := context.Background()
	b.start(t)
	in, err := p.CreateIntent(ctx, orderRequest("confirmed"))
	if err != nil {
		t.Fatalf("CreateIntent: %v", err)
	}
	waitFor(t, "the confirmation", func() bool { return slices.Equal(b.states(t, in.ID), []string{"completed"}) })
	for i := range 2 {
		if err := p.CancelIntent(ctx, in.ID); apperr.KindOf(err) != apperr.PaymentFailed {
			t.Errorf("CancelIntent #%d of a paid intent = %v, want PAYMENT_FAILED", i+1, err)
		}
	}
	if got := b.events.delivered(); !slices.Equal(got, []string{in.ID}) {
		t.Errorf("events delivered for %v, want %s once", got, in.ID)
	}
	amt := money.New(500, "EUR")
	if rf, err := p.Refund(ctx, in.ID, &amt, "k1"); err != nil || rf.ID != "re_dummy_k1" || rf.Amount != amt {
		t.Errorf("Refund after payment = %+v, %v", rf, err)
	}
}
