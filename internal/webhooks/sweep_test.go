package webhooks_test

import (
	"context"
	"testing"

	"commerce/internal/webhooks"
)

// A PENDING delivery whose job River gave up on gets a new job when it has
// attempts left, and becomes FAILED when it has none; a delivery with a
// live job is left alone.
func TestSweepRequeuesOrFailsOrphans(t *testing.T) {
	svc, b := setup(t, webhooks.Config{AllowPrivate: true, MaxAttempts: 3})
	rcv := newReceiver(t)
	ep, _ := endpoint(t, svc, rcv.srv.URL, webhooks.ReturnRequested)
	for range 3 {
		b.announce(t, svc, webhooks.ReturnRequested, "", map[string]any{})
	}
	ds := deliveries(t, svc, ep.ID) // newest first
	live, requeue, fail := ds[0], ds[1], ds[2]
	for _, d := range []*webhooks.Delivery{requeue, fail} {
		if _, err := b.db.SQL.Exec(`DELETE FROM river_job WHERE kind = 'webhook-deliver' AND args->>'delivery_id' = $1`, d.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.db.SQL.Exec(`UPDATE webhook_deliveries SET attempts = max_attempts WHERE id = $1`, fail.ID); err != nil {
		t.Fatal(err)
	}
	// Other tests of the package leave orphans of their own: judge ours.
	if _, err := svc.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	jobs := func(id string) int {
		var n int
		if err := b.db.SQL.QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'webhook-deliver' AND args->>'delivery_id' = $1
			AND state IN ('available', 'scheduled', 'retryable')`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := jobs(requeue.ID); n != 1 {
		t.Errorf("the orphan with attempts left has %d jobs, want 1", n)
	}
	if n := jobs(live.ID); n != 1 {
		t.Errorf("the live delivery has %d jobs, want still 1", n)
	}
	got := deliveries(t, svc, ep.ID)
	if got[2].Status != webhooks.Failed || got[2].LastError == nil {
		t.Errorf("the orphan out of attempts is %s (%v), want FAILED with a reason", got[2].Status, got[2].LastError)
	}
	if got[1].Status != webhooks.Pending || got[0].Status != webhooks.Pending {
		t.Errorf("the others are %s and %s, want PENDING", got[1].Status, got[0].Status)
	}
}
