package paymentdummy_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"commerce/internal/apperr"
	"commerce/internal/money"
	"commerce/internal/payments"
	"commerce/internal/payments/paymentdummy"
)

type inserted struct {
	args river.JobArgs
	opts *river.InsertOpts
}

// recorder is a fake River client: it records what it is asked to insert
// (answering with a job in state insertState), lists listed, and cancels a
// job into the state cancelled maps its id to (gone: not found).
type recorder struct {
	jobs        []inserted
	err         error
	insertState rivertype.JobState
	listed      []*rivertype.JobRow
	listErr     error
	cancelled   map[int64]rivertype.JobState
	cancelCalls []int64
}

func (r *recorder) Insert(_ context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	if r.err != nil {
		return nil, r.err
	}
	r.jobs = append(r.jobs, inserted{args, opts})
	return &rivertype.JobInsertResult{Job: &rivertype.JobRow{State: r.insertState}}, nil
}

func (r *recorder) JobList(context.Context, *river.JobListParams) (*river.JobListResult, error) {
	if r.listErr != nil {
		return nil, r.listErr
	}
	return &river.JobListResult{Jobs: r.listed}, nil
}

func (r *recorder) JobCancel(_ context.Context, id int64) (*rivertype.JobRow, error) {
	r.cancelCalls = append(r.cancelCalls, id)
	state, ok := r.cancelled[id]
	if !ok {
		return nil, river.ErrNotFound
	}
	return &rivertype.JobRow{ID: id, State: state}, nil
}

var now = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func setup(t *testing.T, cfg paymentdummy.Config) (*paymentdummy.Provider, *recorder) {
	t.Helper()
	rec := &recorder{}
	cfg.Now = func() time.Time { return now }
	return paymentdummy.New(rec, cfg), rec
}

func request() payments.IntentRequest {
	return payments.IntentRequest{OrderID: "order-1", OrderNumber: "ORD-0000000001", Amount: money.New(2599, "EUR"), Email: "a@example.com"}
}

func TestCreateIntentSchedulesConfirmation(t *testing.T) {
	tests := []struct {
		name  string
		delay time.Duration
		want  time.Duration
	}{
		{"default delay", 0, paymentdummy.DefaultConfirmDelay},
		{"configured delay", time.Minute, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, rec := setup(t, paymentdummy.Config{ConfirmDelay: tt.delay})
			in, err := p.CreateIntent(context.Background(), request())
			if err != nil {
				t.Fatalf("CreateIntent: %v", err)
			}
			if !strings.HasPrefix(in.ID, "pi_dummy_") || in.ClientSecret != in.ID+"_secret_dummy" ||
				in.Status != payments.IntentRequiresPayment || in.Amount != money.New(2599, "EUR") {
				t.Errorf("intent = %+v", in)
			}
			if len(rec.jobs) != 1 {
				t.Fatalf("%d jobs inserted, want 1", len(rec.jobs))
			}
			job := rec.jobs[0]
			want := paymentdummy.DummyConfirmArgs{IntentID: in.ID, OrderID: "order-1", OrderNumber: "ORD-0000000001", Amount: 2599, Currency: "EUR"}
			if got, ok := job.args.(paymentdummy.DummyConfirmArgs); !ok || got != want {
				t.Errorf("args = %#v, want %#v", job.args, want)
			}
			if job.args.Kind() != "dummy-payment-confirm" {
				t.Errorf("kind = %q", job.args.Kind())
			}
			if job.opts == nil || !job.opts.ScheduledAt.Equal(now.Add(tt.want)) {
				t.Errorf("opts = %+v, want ScheduledAt %v", job.opts, now.Add(tt.want))
			}
			if job.opts != nil && !job.opts.UniqueOpts.ByArgs {
				t.Error("job not unique by args")
			}
			if job.opts != nil && !slices.Contains(job.opts.UniqueOpts.ByState, rivertype.JobStateCancelled) {
				t.Errorf("unique states %v leave out cancelled: a retry would revive a cancelled intent", job.opts.UniqueOpts.ByState)
			}
		})
	}
}

func TestCreateIntentIsDeterministic(t *testing.T) {
	p, rec := setup(t, paymentdummy.Config{})
	a, _ := p.CreateIntent(context.Background(), request())
	b, _ := p.CreateIntent(context.Background(), request())
	if a.ID != b.ID {
		t.Errorf("ids differ for the same order: %s, %s", a.ID, b.ID)
	}
	if rec.jobs[0].args != rec.jobs[1].args {
		t.Error("a retry inserts different args, so uniqueness by args would not hold")
	}
	other := request()
	other.OrderID = "order-2"
	c, _ := p.CreateIntent(context.Background(), other)
	if c.ID == a.ID {
		t.Error("two orders share an intent id")
	}
}

func TestCreateIntentStatusOfExistingJob(t *testing.T) {
	tests := []struct {
		state rivertype.JobState
		want  payments.IntentStatus
	}{
		{rivertype.JobStateScheduled, payments.IntentRequiresPayment},
		{rivertype.JobStateRunning, payments.IntentRequiresPayment},
		{rivertype.JobStateCancelled, payments.IntentCanceled},
		{rivertype.JobStateCompleted, payments.IntentSucceeded},
	}
	for _, tt := range tests {
		t.Run(string(tt.state), func(t *testing.T) {
			p, rec := setup(t, paymentdummy.Config{})
			rec.insertState = tt.state
			in, err := p.CreateIntent(context.Background(), request())
			if err != nil || in.Status != tt.want {
				t.Errorf("CreateIntent = %+v, %v; want status %s", in, err, tt.want)
			}
		})
	}
}

func TestCancelIntent(t *testing.T) {
	failed := errors.New("db down")
	tests := []struct {
		name      string
		listed    []int64
		cancelled map[int64]rivertype.JobState
		listErr   error
		wantErr   bool
		wantKind  apperr.Kind // of the error, when there is one
	}{
		{name: "no job (never scheduled or pruned)"},
		{name: "waiting or cancelled already", listed: []int64{1}, cancelled: map[int64]rivertype.JobState{1: rivertype.JobStateCancelled}},
		{name: "pruned since the list", listed: []int64{1}},
		{name: "confirmed already", listed: []int64{1}, cancelled: map[int64]rivertype.JobState{1: rivertype.JobStateCompleted},
			wantErr: true, wantKind: apperr.PaymentFailed},
		{name: "confirming now", listed: []int64{1}, cancelled: map[int64]rivertype.JobState{1: rivertype.JobStateRunning},
			wantErr: true, wantKind: apperr.Internal},
		{name: "every job is cancelled", listed: []int64{1, 2},
			cancelled: map[int64]rivertype.JobState{1: rivertype.JobStateCancelled, 2: rivertype.JobStateCancelled}},
		{name: "list fails", listErr: failed, wantErr: true, wantKind: apperr.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, rec := setup(t, paymentdummy.Config{})
			for _, id := range tt.listed {
				rec.listed = append(rec.listed, &rivertype.JobRow{ID: id, State: rivertype.JobStateScheduled})
			}
			rec.cancelled, rec.listErr = tt.cancelled, tt.listErr
			err := p.CancelIntent(context.Background(), "pi_dummy_x")
			if (err != nil) != tt.wantErr {
				t.Fatalf("CancelIntent = %v, want error %t", err, tt.wantErr)
			}
			if err != nil && apperr.KindOf(err) != tt.wantKind {
				t.Errorf("error kind %v, want %v (%v)", apperr.KindOf(err), tt.wantKind, err)
			}
			if tt.listErr == nil && !slices.Equal(rec.cancelCalls, tt.listed) {
				t.Errorf("cancelled jobs %v, want %v", rec.cancelCalls, tt.listed)
			}
		})
	}
}

func TestCreateIntentInsertError(t *testing.T) {
	p, rec := setup(t, paymentdummy.Config{})
	rec.err = errors.New("db down")
	if _, err := p.CreateIntent(context.Background(), request()); err == nil {
		t.Fatal("CreateIntent succeeded although the job could not be inserted")
	}
}

func TestConfirmEvent(t *testing.T) {
	args := paymentdummy.DummyConfirmArgs{IntentID: "pi_dummy_x", OrderID: "order-1", OrderNumber: "ORD-1", Amount: 2599, Currency: "EUR"}
	ev := paymentdummy.ConfirmEvent(args)
	want := payments.Event{
		ID: "evt_dummy_pi_dummy_x", Type: payments.IntentSucceededEvent, IntentID: "pi_dummy_x",
		OrderID: "order-1", OrderNumber: "ORD-1", Amount: money.New(2599, "EUR"), Created: ev.Created,
	}
	if ev != want {
		t.Errorf("event = %+v, want %+v", ev, want)
	}
	if time.Since(ev.Created) > time.Minute || ev.Created.IsZero() {
		t.Errorf("created = %v, want now", ev.Created)
	}
}

func TestOtherMethods(t *testing.T) {
	p, _ := setup(t, paymentdummy.Config{})
	ctx := context.Background()
	cus, err := p.EnsureCustomer(ctx, payments.CustomerRequest{CustomerID: "c-1"})
	if err != nil || !strings.HasPrefix(cus, "cus_dummy_") {
		t.Errorf("EnsureCustomer = %q, %v", cus, err)
	}
	if again, _ := p.EnsureCustomer(ctx, payments.CustomerRequest{CustomerID: "c-1"}); again != cus {
		t.Errorf("EnsureCustomer not stable: %q, %q", cus, again)
	}
	in, err := p.GetIntent(ctx, "pi_dummy_x")
	if err != nil || in.ID != "pi_dummy_x" || in.Status != payments.IntentRequiresPayment {
		t.Errorf("GetIntent = %+v, %v", in, err)
	}
	if err := p.CancelIntent(ctx, "pi_dummy_x"); err != nil {
		t.Errorf("CancelIntent = %v", err)
	}
	amt := money.New(500, "EUR")
	rf, err := p.Refund(ctx, "pi_dummy_x", &amt, "k1")
	if err != nil || rf.ID != "re_dummy_k1" || rf.Amount != amt {
		t.Errorf("Refund = %+v, %v", rf, err)
	}
	rf, err = p.Refund(ctx, "pi_dummy_x", nil, "k2")
	if err != nil || rf.ID != "re_dummy_k2" || rf.Amount != (money.Money{}) {
		t.Errorf("full Refund = %+v, %v", rf, err)
	}
}
