package paymentdummy_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"commerce/internal/money"
	"commerce/internal/payments"
	"commerce/internal/payments/paymentdummy"
)

type inserted struct {
	args river.JobArgs
	opts *river.InsertOpts
}

// recorder is an Inserter that records what it is asked to insert.
type recorder struct {
	jobs []inserted
	err  error
}

func (r *recorder) Insert(_ context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	if r.err != nil {
		return nil, r.err
	}
	r.jobs = append(r.jobs, inserted{args, opts})
	return &rivertype.JobInsertResult{Job: &rivertype.JobRow{}}, nil
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
