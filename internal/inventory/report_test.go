package inventory_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"commerce/internal/inventory"
	"commerce/internal/notify"
)

// reportSetup returns an inventory service whose report goes through a
// real notify service to a recipient no other test uses. The report covers
// the whole catalog, so it first retires every product other tests made.
func reportSetup(t *testing.T) (*inventory.Service, *testBundle, string) {
	t.Helper()
	_, b := setup(t)
	if _, err := b.db.Bun.ExecContext(context.Background(), `UPDATE products SET is_active = false WHERE is_active`); err != nil {
		t.Fatal(err)
	}
	inserter, err := river.NewClient(riverdatabasesql.New(b.db.SQL), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	n, err := notify.NewService(b.db, inserter, notify.LogSender{Log: log}, notify.LogSender{Log: log},
		notify.Config{MaxAttempts: 3, RetryBase: time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	to := "report-" + uuid.NewString()[:8] + "@example.com"
	return inventory.NewService(b.db, n, inventory.Config{LowStockEmail: to}), b, to
}

// stocked inserts an active product named name with one variant with
// available stock and a threshold, and returns the variant's sku.
func stocked(t *testing.T, b *testBundle, name string, available, threshold int) string {
	t.Helper()
	sku := "RPT-" + uuid.NewString()[:8]
	_, err := b.db.Bun.ExecContext(context.Background(), `
		WITH p AS (INSERT INTO products (handle, name, currency, price) VALUES (?, ?, 'USD', 1000) RETURNING id)
		INSERT INTO product_variants (product_id, sku, title, currency, price, on_hand, low_stock_threshold, position)
		SELECT id, ?, 'Default', 'USD', 1000, ?, ?, 0 FROM p`, strings.ToLower(sku), name, sku, available, threshold)
	if err != nil {
		t.Fatal(err)
	}
	return sku
}

// variantOf inserts a variant titled title of the product of the variant
// with sku, with available stock and a threshold, and returns its sku.
func variantOf(t *testing.T, b *testBundle, sku, title string, available, threshold int, active bool) string {
	t.Helper()
	own := "RPT-" + uuid.NewString()[:8]
	_, err := b.db.Bun.ExecContext(context.Background(), `
		INSERT INTO product_variants (product_id, sku, title, option_key, currency, price, on_hand,
		                              low_stock_threshold, position, is_active)
		SELECT product_id, ?, ?, ?, 'USD', 1000, ?, ?, position + 1, ? FROM product_variants WHERE sku = ?`,
		own, title, title, available, threshold, active, sku)
	if err != nil {
		t.Fatal(err)
	}
	return own
}

// reports returns the data of the daily reports of date.
func reports(t *testing.T, b *testBundle, date string) []string {
	t.Helper()
	rows, err := b.db.Bun.QueryContext(context.Background(),
		`SELECT data::text FROM notifications WHERE template = 'daily-inventory-report' AND dedupe_key = ?`, "daily-report:"+date)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSendDailyReport(t *testing.T) {
	svc, b, to := reportSetup(t)
	ctx := context.Background()

	// Nothing low: the job runs and writes nothing (an inactive variant
	// does not count).
	plenty := stocked(t, b, "Plenty", 50, 5)
	variantOf(t, b, plenty, "Retired", 0, 5, false)
	if err := svc.SendDailyReport(ctx, "2026-11-24"); err != nil {
		t.Fatal(err)
	}
	if got := reports(t, b, "2026-11-24"); len(got) != 0 {
		t.Fatalf("a report with nothing low: %v", got)
	}

	low := stocked(t, b, "Linen shirt", 3, 5)
	at := stocked(t, b, "Canvas tote", 5, 5)
	out := stocked(t, b, "Wool socks", 0, 2)
	large := variantOf(t, b, plenty, "Large", 1, 5, true)
	retired := stocked(t, b, "Old hat", 0, 5)
	if _, err := b.db.Bun.ExecContext(ctx, `UPDATE products SET is_active = false
		WHERE id = (SELECT product_id FROM product_variants WHERE sku = ?)`, retired); err != nil {
		t.Fatal(err)
	}
	// Twice, as a retry or a second replica would.
	for range 2 {
		if err := svc.SendDailyReport(ctx, "2026-11-25"); err != nil {
			t.Fatal(err)
		}
	}
	got := reports(t, b, "2026-11-25")
	if len(got) != 1 {
		t.Fatalf("%d reports, want 1", len(got))
	}
	var data struct {
		Date     string `json:"date"`
		Count    int    `json:"low_stock_count"`
		Products []struct {
			Name      string `json:"name"`
			Variant   string `json:"variant"`
			SKU       string `json:"sku"`
			Available int    `json:"available_quantity"`
			Threshold int    `json:"threshold"`
		} `json:"low_stock_products"`
	}
	if err := json.Unmarshal([]byte(got[0]), &data); err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, p := range data.Products {
		listed = append(listed, p.SKU)
	}
	if data.Date != "2026-11-25" || data.Count != 4 || strings.Join(listed, ",") != strings.Join([]string{out, large, low, at}, ",") ||
		data.Products[2].Name != "Linen shirt" || data.Products[2].Variant != "Default" ||
		data.Products[2].Available != 3 || data.Products[2].Threshold != 5 ||
		data.Products[1].Name != "Plenty" || data.Products[1].Variant != "Large" {
		t.Errorf("report = %s", got[0])
	}
	if n := countTo(t, b, to); n != 1 {
		t.Errorf("%d notifications to %s, want 1", n, to)
	}
}

func TestSendDailyReportRefusesBadDates(t *testing.T) {
	svc, _, _ := reportSetup(t)
	for _, d := range []string{"", "25/11/2026", "2026-13-01"} {
		if err := svc.SendDailyReport(context.Background(), d); err == nil {
			t.Errorf("date %q accepted", d)
		}
	}
}

func countTo(t *testing.T, b *testBundle, to string) int {
	t.Helper()
	var n int
	if err := b.db.Bun.QueryRowContext(context.Background(), `SELECT count(*) FROM notifications WHERE recipient = ?`, to).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
