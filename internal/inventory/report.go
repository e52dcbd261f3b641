package inventory

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"commerce/internal/jobs/queue"
	"commerce/internal/notify"
)

// DailyReportArgs is the periodic job that sends the daily inventory
// report of Date (YYYY-MM-DD in the store's time zone, fixed when the job
// is enqueued, so a retry reports the same day).
type DailyReportArgs struct {
	Date string `json:"date"`
}

// Kind names the job for River.
func (DailyReportArgs) Kind() string { return "daily-inventory-report" }

// InsertOpts puts the job on River's periodic queue.
func (DailyReportArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: queue.Periodic} }

// maxReportProducts bounds the products listed in one report; the count
// still tells how many there are.
const maxReportProducts = 500

// LowStockProduct is an active variant of an active product at or below
// its low-stock threshold, judged on available stock.
type LowStockProduct struct {
	Name      string `bun:"name"`
	Variant   string `bun:"title"`
	SKU       string `bun:"sku"`
	Available int    `bun:"available"`
	Threshold int    `bun:"low_stock_threshold"`
}

// SendDailyReport emails Config.LowStockEmail the daily-inventory-report of
// date (YYYY-MM-DD) listing every active product at or below its
// threshold, fewest available first, when there is at least one. The
// dedupe key "daily-report:" + date makes a second run, on a retry or
// another replica, a no-op. Without a recipient or notifier it does
// nothing. It returns an error for a malformed date and database errors as
// they come.
func (s *Service) SendDailyReport(ctx context.Context, date string) error {
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		return fmt.Errorf("daily inventory report: date %q is not YYYY-MM-DD", date)
	}
	if s.notifier == nil || s.cfg.LowStockEmail == "" {
		return nil
	}
	return s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		products, total, err := selectLowStock(ctx, tx, maxReportProducts)
		if err != nil {
			return fmt.Errorf("daily inventory report: %w", err)
		}
		if total == 0 {
			return nil
		}
		list := make([]map[string]any, len(products))
		for i, p := range products {
			list[i] = map[string]any{"name": p.Name, "variant": p.Variant, "sku": p.SKU,
				"available_quantity": p.Available, "threshold": p.Threshold}
		}
		return s.notifier.Enqueue(ctx, tx, notify.Message{
			Channel: notify.Email, To: s.cfg.LowStockEmail, Template: "daily-inventory-report",
			DedupeKey: "daily-report:" + date,
			Data:      map[string]any{"date": date, "low_stock_count": total, "low_stock_products": list},
		})
	})
}

// selectLowStock returns up to limit active variants of active products at
// or below their threshold, fewest available first, and how many there are
// in all.
func selectLowStock(ctx context.Context, idb bun.IDB, limit int) ([]LowStockProduct, int, error) {
	var rows []struct {
		LowStockProduct
		Total int `bun:"total"`
	}
	err := idb.NewRaw(`
		SELECT p.name, v.title, v.sku, v.available, v.low_stock_threshold, count(*) OVER () AS total
		FROM product_variants AS v JOIN products AS p ON p.id = v.product_id
		WHERE v.is_active AND v.available <= v.low_stock_threshold AND p.is_active
		ORDER BY v.available, lower(p.name), v.position, v.id
		LIMIT ?`, limit).Scan(ctx, &rows)
	if err != nil || len(rows) == 0 {
		return nil, 0, err
	}
	out := make([]LowStockProduct, len(rows))
	for i, r := range rows {
		out[i] = r.LowStockProduct
	}
	return out, rows[0].Total, nil
}
