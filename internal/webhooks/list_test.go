package webhooks_test

import (
	"context"
	"strings"
	"testing"

	"github.com/uptrace/bun"

	"commerce/internal/webhooks"
)

// Pending counts the webhook outbox's backlog, which the metrics export as
// outbox_pending{outbox="webhooks"}: a delivery waits until it is sent.
// The count is made at every scrape, so it must be able to read the
// partial index of PENDING rows rather than the whole table.
func TestPending(t *testing.T) {
	svc, b := setup(t, webhooks.Config{AllowPrivate: true})
	ctx := context.Background()
	before, err := svc.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Endpoints the package's other tests left active may hear the events
	// too: the count must grow by every delivery the events made.
	rcv := newReceiver(t)
	ep, _ := endpoint(t, svc, rcv.srv.URL+"/hook", webhooks.ReturnRequested)
	number := "ORD-PENDING-" + newOrderID()
	b.announce(t, svc, webhooks.ReturnRequested, newOrderID(), map[string]any{"orderNumber": number})
	b.announce(t, svc, webhooks.ReturnRequested, newOrderID(), map[string]any{"orderNumber": number})
	var made int
	if err := b.db.Bun.QueryRowContext(ctx, "SELECT count(*) FROM webhook_deliveries WHERE body LIKE '%' || ? || '%'", number).Scan(&made); err != nil {
		t.Fatal(err)
	}
	if made < 2 {
		t.Fatalf("the two events made %d deliveries, want at least 2 (one each to the test's endpoint)", made)
	}
	if n, err := svc.Pending(ctx); err != nil || n != before+made {
		t.Fatalf("pending after two events: %d %v, want %d", n, err, before+made)
	}
	if _, err := svc.Deliver(ctx, deliveries(t, svc, ep.ID)[0].ID); err != nil {
		t.Fatal(err)
	}
	if n, err := svc.Pending(ctx); err != nil || n != before+made-1 {
		t.Errorf("pending after one delivery: %d %v, want %d", n, err, before+made-1)
	}

	// With sequential scans priced out, the plan shows whether an index
	// can answer the count (the test tables are too small to need one).
	var plan []string
	err = b.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, "EXPLAIN SELECT count(*) FROM webhook_deliveries WHERE status = 'PENDING'")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				return err
			}
			plan = append(plan, line)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if p := strings.Join(plan, "\n"); !strings.Contains(p, "webhook_deliveries_pending_idx") {
		t.Errorf("the backlog count does not use the partial index:\n%s", p)
	}
}
