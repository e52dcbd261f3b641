package jobs_test

// Tests of the outbox accounting (issue 21): whichever way an attempt's
// bookkeeping goes wrong, every notification ends SENT or FAILED, never
// PENDING without a live delivery job.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"commerce/internal/auth"
	"commerce/internal/carts"
	"commerce/internal/inventory"
	"commerce/internal/jobs"
	"commerce/internal/jobs/queue"
	"commerce/internal/notify"
	"commerce/internal/orders"
	"commerce/internal/payments/paymentdummy"
	"commerce/internal/platform/dbtest"
	"commerce/internal/webhooks"
)

// stubSender is an EmailSender that fails (retryably) while fail is set
// and counts its sends.
type stubSender struct {
	fail  atomic.Bool
	sends atomic.Int32
}

func (s *stubSender) SendEmail(context.Context, notify.OutgoingEmail) error {
	s.sends.Add(1)
	if s.fail.Load() {
		return errors.New("stub: 421 try again later")
	}
	return nil
}

// refuseWrites makes the database refuse writes to the notifications whose
// ids are in the table outbox_refused: with outcomeOnly, the writes of an
// outcome (SENT, an error, FAILED) but not the counting of an attempt;
// otherwise every write. It is the database going away mid-attempt, on
// the wire: the service sees the error Postgres sends. The trigger is
// dropped on cleanup.
func refuseWrites(t *testing.T, b *bundle, outcomeOnly bool) {
	t.Helper()
	ctx := context.Background()
	cond := "true"
	if outcomeOnly {
		cond = "NEW.attempts = OLD.attempts"
	}
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS outbox_refused (id uuid PRIMARY KEY)`,
		`CREATE OR REPLACE FUNCTION outbox_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF ` + cond + ` AND EXISTS (SELECT 1 FROM outbox_refused WHERE id = NEW.id) THEN
				RAISE EXCEPTION 'test: the database refuses this write';
			END IF;
			RETURN NEW;
		END $$`,
		`CREATE OR REPLACE TRIGGER outbox_refuse BEFORE UPDATE ON notifications
		 FOR EACH ROW EXECUTE FUNCTION outbox_refuse()`,
	} {
		if _, err := b.db.Bun.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, stmt := range []string{
			`DROP TRIGGER IF EXISTS outbox_refuse ON notifications`,
			`DROP FUNCTION IF EXISTS outbox_refuse()`,
			`DROP TABLE IF EXISTS outbox_refused`,
		} {
			if _, err := b.db.Bun.ExecContext(context.Background(), stmt); err != nil {
				t.Error(err)
			}
		}
	})
}

// rowState is a notification and what River holds for it.
type rowState struct {
	status    notify.Status
	attempts  int
	max       int
	lastError string
	liveJobs  int    // available, scheduled, running, retryable or pending
	jobStates string // every job's state, oldest first
}

func stateOfRow(t *testing.T, b *bundle, id string) rowState {
	t.Helper()
	var s rowState
	err := b.db.Bun.QueryRowContext(context.Background(), `
		SELECT n.status, n.attempts, n.max_attempts, coalesce(n.last_error, ''),
		       count(j.id) FILTER (WHERE j.state IN ('available', 'scheduled', 'running', 'retryable', 'pending')),
		       coalesce(string_agg(j.state::text, ',' ORDER BY j.id), '')
		FROM notifications n
		LEFT JOIN river_job j ON j.kind = 'notify-deliver' AND j.args->>'notification_id' = n.id::text
		WHERE n.id = ?
		GROUP BY n.id`, id).
		Scan(&s.status, &s.attempts, &s.max, &s.lastError, &s.liveJobs, &s.jobStates)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitSettled waits until notification id is final with no live job, or
// PENDING with none (what only the sweeper can fix), and returns it.
func waitSettled(t *testing.T, b *bundle, id string, timeout time.Duration) rowState {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := stateOfRow(t, b, id)
		if s.liveJobs == 0 && s.jobStates != "" {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("notification %s not settled within %s: %+v", id, timeout, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sweptTotal reads notify_outbox_swept_total{outcome} from reg.
func sweptTotal(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "notify_outbox_swept_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestOutboxBookkeepingWriteFails: the database refuses the writes of an
// attempt (its outcome, or everything) while River goes through all of
// the job's attempts, then comes back. River discards the job; the row,
// whose attempts were counted before each send, is left PENDING without a
// job only until the sweeper fails it (no attempts left) or requeues it
// (attempts left), and the requeued job delivers it.
func TestOutboxBookkeepingWriteFails(t *testing.T) {
	tests := []struct {
		name        string
		outcomeOnly bool // the counting of an attempt gets through
		sendFails   bool
		// after River gave up
		wantAttempts int
		wantSends    int32
		// after the sweep
		wantSwept  string
		wantStatus notify.Status
		wantError  string
	}{
		{"failed sends, their errors not recorded", true, true, 2, 2, "failed", notify.Failed, "outcome of the last attempt was not recorded"},
		{"successful sends, SENT not recorded", true, false, 2, 2, "failed", notify.Failed, "outcome of the last attempt was not recorded"},
		{"no write at all, nothing sent", false, false, 0, 0, "requeued", notify.Sent, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := &bundle{db: dbtest.DB(t)}
			refuseWrites(t, b, tc.outcomeOnly)
			reg := prometheus.NewRegistry()
			sender := &stubSender{}
			sender.fail.Store(tc.sendFails)
			svc := newService(t, b, sender, 2, reg)
			// The row exists before the workers start, so its first
			// attempt already meets the refusal.
			id := enqueue(t, svc, b)
			if _, err := b.db.Bun.ExecContext(context.Background(), `INSERT INTO outbox_refused (id) VALUES (?)`, id); err != nil {
				t.Fatal(err)
			}
			startWorkers(t, b, svc, nil)

			s := waitSettled(t, b, id, 30*time.Second)
			if s.status != notify.Pending || s.attempts != tc.wantAttempts || s.jobStates != "discarded" {
				t.Fatalf("after River gave up: %+v, want PENDING with %d attempts counted and the job discarded", s, tc.wantAttempts)
			}
			if n := sender.sends.Load(); n != tc.wantSends {
				t.Errorf("%d sends, want %d", n, tc.wantSends)
			}

			// The database is back.
			if _, err := b.db.Bun.ExecContext(context.Background(), `DELETE FROM outbox_refused`); err != nil {
				t.Fatal(err)
			}
			sender.fail.Store(false)
			if _, err := svc.Sweep(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := sweptTotal(t, reg, tc.wantSwept); got < 1 {
				t.Errorf("notify_outbox_swept_total{outcome=%q} = %v, want at least 1", tc.wantSwept, got)
			}
			deadline := time.Now().Add(30 * time.Second)
			for s = stateOfRow(t, b, id); s.status == notify.Pending || s.liveJobs > 0; s = stateOfRow(t, b, id) {
				if s.status == notify.Pending && s.liveJobs == 0 {
					t.Fatalf("after the sweep: PENDING without a live job: %+v", s)
				}
				if time.Now().After(deadline) {
					t.Fatalf("after the sweep: not final within 30s: %+v", s)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if s.status != tc.wantStatus || !strings.Contains(s.lastError, tc.wantError) || s.attempts > s.max {
				t.Errorf("after the sweep: %+v, want %s with error %q", s, tc.wantStatus, tc.wantError)
			}
		})
	}
}

// TestOutboxBudgetFixedAtEnqueue: NOTIFY_MAX_ATTEMPTS changes between the
// enqueue and the delivery (a restart with a new value). The notification
// keeps the budget it was enqueued with, the same one its job got, so the
// worker's verdict and River's agree: FAILED after exactly that many
// attempts, the job cancelled rather than discarded.
func TestOutboxBudgetFixedAtEnqueue(t *testing.T) {
	for _, now := range []int{1, 6} {
		t.Run(fmt.Sprintf("enqueued with 3, delivered with %d", now), func(t *testing.T) {
			b := &bundle{db: dbtest.DB(t)}
			sender := &stubSender{}
			sender.fail.Store(true)
			id := enqueue(t, newService(t, b, sender, 3, nil), b)
			startWorkers(t, b, newService(t, b, sender, now, nil), nil)

			s := waitSettled(t, b, id, 30*time.Second)
			if s.status != notify.Failed || s.attempts != 3 || s.max != 3 || s.jobStates != "cancelled" {
				t.Errorf("outcome = %+v, want FAILED after 3 of 3 attempts, the job cancelled", s)
			}
		})
	}
}

// TestOutboxSweeperRunsPeriodically: a notification whose job vanished
// (deleted by hand) is requeued by the leader's periodic sweep and sent.
func TestOutboxSweeperRunsPeriodically(t *testing.T) {
	b := &bundle{db: dbtest.DB(t)}
	sender := &stubSender{}
	reg := prometheus.NewRegistry()
	svc := newService(t, b, sender, 3, reg)
	id := enqueue(t, svc, b)
	if _, err := b.db.Bun.ExecContext(context.Background(),
		`DELETE FROM river_job WHERE kind = 'notify-deliver' AND args->>'notification_id' = ?`, id); err != nil {
		t.Fatal(err)
	}
	startWorkers(t, b, svc, []*river.PeriodicJob{jobs.NotifySweep(time.Second, &river.PeriodicJobOpts{RunOnStart: true})})

	deadline := time.Now().Add(30 * time.Second)
	s := stateOfRow(t, b, id)
	for ; s.status != notify.Sent; s = stateOfRow(t, b, id) {
		if time.Now().After(deadline) {
			t.Fatalf("not sent within 30s: %+v\n%s", s, dumpJobs(t, b))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s.attempts != 1 || sender.sends.Load() != 1 || sweptTotal(t, reg, "requeued") < 1 {
		t.Errorf("outcome = %+v after %d sends, %v requeued", s, sender.sends.Load(), sweptTotal(t, reg, "requeued"))
	}
}

// TestJobKindsNameTheirQueue: every job kind is inserted on the queue of
// its concern, so a hung provider cannot hold up the order workflow.
func TestJobKindsNameTheirQueue(t *testing.T) {
	tests := []struct {
		args interface {
			river.JobArgs
			river.JobArgsWithInsertOpts
		}
		want string
	}{
		{orders.PaymentTimeoutArgs{}, queue.Workflow},
		{orders.PaymentIntentArgs{}, queue.Workflow},
		{orders.RefundArgs{}, queue.Workflow},
		{orders.FulfillmentReminderArgs{}, queue.Workflow},
		{orders.ReviewRequestArgs{}, queue.Workflow},
		{orders.DeliveryConfirmationArgs{}, queue.Workflow},
		{paymentdummy.DummyConfirmArgs{}, queue.Workflow},
		{carts.AbandonedCartArgs{}, queue.Workflow},
		{notify.DeliverArgs{}, queue.Notify},
		{inventory.DailyReportArgs{}, queue.Periodic},
		{notify.SweepArgs{}, queue.Periodic},
		{auth.SweepArgs{}, queue.Periodic},
		{webhooks.DeliverArgs{}, queue.Webhooks},
		{webhooks.SweepArgs{}, queue.Periodic},
	}
	for _, tc := range tests {
		if got := tc.args.InsertOpts().Queue; got != tc.want {
			t.Errorf("%s: queue %q, want %q", tc.args.Kind(), got, tc.want)
		}
	}
}

// TestDefaultQueueStillWorked: a job queued on River's default queue, as
// every job was before queues by concern (or as a replica of that version
// inserts during a rolling upgrade), is still worked.
func TestDefaultQueueStillWorked(t *testing.T) {
	b := &bundle{db: dbtest.DB(t)}
	sender := &stubSender{}
	svc := newService(t, b, sender, 3, nil)
	id := enqueue(t, svc, b)
	if _, err := b.db.Bun.ExecContext(context.Background(), `UPDATE river_job SET queue = ?
		WHERE kind = 'notify-deliver' AND args->>'notification_id' = ?`, river.QueueDefault, id); err != nil {
		t.Fatal(err)
	}
	startWorkers(t, b, svc, nil)
	if s := waitSettled(t, b, id, 30*time.Second); s.status != notify.Sent || s.jobStates != "completed" {
		t.Errorf("outcome = %+v, want SENT by the job on the default queue", s)
	}
}
