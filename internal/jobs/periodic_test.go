package jobs_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"commerce/internal/inventory"
	"commerce/internal/jobs"
	"commerce/internal/notify"
	"commerce/internal/platform/dbtest"
)

func TestCronSchedule(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) // 07:00 in New York
	tests := []struct {
		name string
		expr string
		loc  *time.Location
		want time.Time
	}{
		{"default in UTC", "0 9 * * *", time.UTC, time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)},
		{"in the store's zone", "0 9 * * *", ny, time.Date(2026, 11, 25, 9, 0, 0, 0, ny)},
		{"the expression's own zone wins", "CRON_TZ=Asia/Tokyo 0 9 * * *", ny, time.Date(2026, 11, 26, 9, 0, 0, 0, tokyo)},
		{"descriptor", "@daily", ny, time.Date(2026, 11, 26, 0, 0, 0, 0, ny)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := jobs.CronSchedule(tc.expr, tc.loc)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Next(from); !got.Equal(tc.want) {
				t.Errorf("Next(%s) = %s, want %s", from, got, tc.want)
			}
		})
	}
	if _, err := jobs.CronSchedule("0 25 * * *", time.UTC); err == nil {
		t.Error("an hour of 25 parsed")
	}
}

// TestDailyReportRunsOnceAcrossReplicas starts two worker clients, as two
// replicas would, each with the daily report set to run at start: only the
// elected leader enqueues it, and one report is sent. (It builds its own
// clients: the one setup starts, without periodic jobs, could win the
// election.)
func TestDailyReportRunsOnceAcrossReplicas(t *testing.T) {
	b := &bundle{db: dbtest.DB(t)}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
	inserter, err := jobs.NewInserter(b.db)
	if err != nil {
		t.Fatal(err)
	}
	quiet := notify.LogSender{Log: slog.New(slog.DiscardHandler)}
	svc, err := notify.NewService(b.db, inserter, quiet, quiet, notify.Config{MaxAttempts: 3, RetryBase: time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	recipient := "stock-" + uuid.NewString()[:8] + "@example.com"
	inv := inventory.NewService(b.db, svc, inventory.Config{LowStockEmail: recipient})
	sku := "LOW-" + uuid.NewString()[:8]
	if _, err := b.db.Bun.ExecContext(context.Background(), `
		WITH p AS (INSERT INTO products (handle, name, currency, price)
		           VALUES (?, 'Linen shirt', 'USD', 3900) RETURNING id)
		INSERT INTO product_variants (product_id, sku, title, currency, price, on_hand, low_stock_threshold, position)
		SELECT id, ?, 'Default', 'USD', 3900, 2, 5, 0 FROM p`, strings.ToLower(sku), sku); err != nil {
		t.Fatal(err)
	}

	for range 2 {
		workers := river.NewWorkers()
		if err := jobs.Register(workers, jobs.Deps{Notify: svc, Inventory: inv, JobTimeout: 30 * time.Second}); err != nil {
			t.Fatal(err)
		}
		report, err := jobs.DailyReport("0 9 * * *", time.UTC, &river.PeriodicJobOpts{RunOnStart: true})
		if err != nil {
			t.Fatal(err)
		}
		client, err := jobs.NewClient(b.db, workers, []*river.PeriodicJob{report}, 30*time.Second, log)
		if err != nil {
			t.Fatal(err)
		}
		if err := client.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := client.Stop(ctx); err != nil {
				t.Errorf("stop river: %v", err)
			}
		})
	}

	date := time.Now().UTC().Format(time.DateOnly)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var completed int
		err := b.db.Bun.QueryRowContext(context.Background(), `
			SELECT count(*) FROM river_job
			WHERE kind = 'daily-inventory-report' AND args->>'date' = ? AND state = 'completed'`, date).Scan(&completed)
		if err != nil {
			t.Fatal(err)
		}
		if completed > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no daily report job completed: %s", dumpJobs(t, b))
		}
		time.Sleep(50 * time.Millisecond)
	}
	var jobCount int
	if err := b.db.Bun.QueryRowContext(context.Background(),
		`SELECT count(*) FROM river_job WHERE kind = 'daily-inventory-report' AND args->>'date' = ?`, date).Scan(&jobCount); err != nil {
		t.Fatal(err)
	}
	p, err := svc.List(context.Background(), notify.Filter{To: recipient, Template: "daily-inventory-report"}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if jobCount != 1 || len(p.Edges) != 1 {
		t.Fatalf("%d report jobs and %d notifications, want 1 and 1", jobCount, len(p.Edges))
	}
	if d := p.Edges[0].Node.Data; d["date"] != date || !strings.Contains(jsonString(t, d["low_stock_products"]), sku) {
		t.Errorf("report data = %v", d)
	}
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// dumpJobs describes the River jobs, for a failure message.
func dumpJobs(t *testing.T, b *bundle) string {
	t.Helper()
	rows, err := b.db.Bun.QueryContext(context.Background(), `SELECT kind, state, args::text, coalesce(errors::text, '') FROM river_job ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var kind, state, args, errs string
		if err := rows.Scan(&kind, &state, &args, &errs); err != nil {
			t.Fatal(err)
		}
		out = append(out, kind+" "+state+" "+args+" "+errs)
	}
	var leader string
	_ = b.db.Bun.QueryRowContext(context.Background(), `SELECT coalesce(string_agg(leader_id || ' ' || elected_at::text || ' ' || expires_at::text || ' now ' || now()::text, ';'), 'none') FROM river_leader`).Scan(&leader)
	return strings.Join(out, "\n") + "\nleader: " + leader
}
