package notify_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"commerce/internal/notify"
)

// TestDeliverCountsAttemptsAgainstTheRowsBudget: the row's budget, not
// the service's current MaxAttempts, decides; and a row whose last counted
// attempt never recorded its outcome becomes FAILED instead of being sent
// beyond its budget.
func TestDeliverCountsAttemptsAgainstTheRowsBudget(t *testing.T) {
	enqueuer, b := setup(t, quietSender(), 2)
	id := enqueue(t, enqueuer, b, lowStock(recipient("budget")))
	// The same database, restarted with a higher NOTIFY_MAX_ATTEMPTS.
	svc, _ := setup(t, smtpSender(t, closedSMTPURL(t)), 5)

	if err := svc.Deliver(context.Background(), id); err == nil {
		t.Fatal("attempt 1 succeeded against a closed port")
	}
	// Attempt 2 was counted, then the process died before its outcome.
	if _, err := b.db.Bun.ExecContext(context.Background(), `UPDATE notifications SET attempts = 2 WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}
	var final *notify.FinalError
	if err := svc.Deliver(context.Background(), id); !errors.As(err, &final) {
		t.Fatalf("Deliver with no attempts left = %v, want a *FinalError", err)
	}
	if s := stateOf(t, b, id); s.Status != notify.Failed || s.Attempts != 2 || !strings.Contains(s.LastError.String, "attempt 2 was not recorded") {
		t.Errorf("after Deliver with no attempts left: %+v", s)
	}
}

// TestSweep: a PENDING row without a live job is requeued for the attempts
// it has left, or failed when it has none; a row with a live job, and a
// final row, are left alone.
func TestSweep(t *testing.T) {
	svc, b := setup(t, quietSender(), 3)
	ctx := context.Background()
	orphan := func(attempts int) string {
		id := enqueue(t, svc, b, lowStock(recipient("sweep")))
		if _, err := b.db.Bun.ExecContext(ctx, `UPDATE notifications SET attempts = ? WHERE id = ?`, attempts, id); err != nil {
			t.Fatal(err)
		}
		if _, err := b.db.Bun.ExecContext(ctx, `UPDATE river_job SET state = 'discarded', finalized_at = now()
			WHERE kind = 'notify-deliver' AND args->>'notification_id' = ?`, id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	withAttempts := orphan(1)
	outOfAttempts := orphan(3)
	live := enqueue(t, svc, b, lowStock(recipient("sweep-live")))

	got, err := svc.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Requeued < 1 || got.Failed < 1 {
		t.Errorf("Sweep = %+v, want at least one requeued and one failed", got)
	}
	if s := stateOf(t, b, withAttempts); s.Status != notify.Pending {
		t.Errorf("requeued row: %+v", s)
	}
	var newJobs, maxAttempts int
	if err := b.db.Bun.QueryRowContext(ctx, `SELECT count(*), coalesce(min(max_attempts), 0) FROM river_job
		WHERE kind = 'notify-deliver' AND args->>'notification_id' = ? AND state = 'available'`, withAttempts).
		Scan(&newJobs, &maxAttempts); err != nil {
		t.Fatal(err)
	}
	if newJobs != 1 || maxAttempts != 2 {
		t.Errorf("requeued row has %d new jobs with %d attempts; want 1 with the 2 left", newJobs, maxAttempts)
	}
	if s := stateOf(t, b, outOfAttempts); s.Status != notify.Failed || !strings.Contains(s.LastError.String, "no attempts left") {
		t.Errorf("row out of attempts: %+v", s)
	}
	if n, _ := jobsFor(t, b, live); n != 1 || stateOf(t, b, live).Status != notify.Pending {
		t.Errorf("row with a live job: %d jobs, %+v", n, stateOf(t, b, live))
	}

	again, err := svc.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again != (notify.Swept{}) {
		t.Errorf("second Sweep = %+v, want nothing left to do", again)
	}
}
