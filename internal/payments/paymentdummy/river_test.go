package paymentdummy_test

import (
	"context"
	"os"
	"testing"
	"time"

	"commerce/internal/jobs"
	"commerce/internal/payments/paymentdummy"
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
