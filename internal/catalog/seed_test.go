package catalog_test

import (
	"context"
	"testing"
)

func TestSeedDemo(t *testing.T) {
	svc, b := setup(t)
	ctx := context.Background()
	if _, err := b.db.Bun.ExecContext(ctx, "TRUNCATE products CASCADE"); err != nil {
		t.Fatal(err)
	}

	created, err := svc.SeedDemo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if created < 60 {
		t.Fatalf("seeded %d products, want at least 60", created)
	}
	var stats struct {
		categories, featured, onSale, low, soldOut, ledgerMismatches int
	}
	err = b.db.Bun.QueryRowContext(ctx, `
		SELECT count(DISTINCT category),
		       count(*) FILTER (WHERE is_featured),
		       count(*) FILTER (WHERE compare_at_price > price),
		       count(*) FILTER (WHERE available <= low_stock_threshold),
		       count(*) FILTER (WHERE available = 0),
		       count(*) FILTER (WHERE on_hand <> (SELECT coalesce(sum(quantity_change), 0)
		                                          FROM inventory_transactions t WHERE t.product_id = p.id))
		FROM products p`).Scan(&stats.categories, &stats.featured, &stats.onSale, &stats.low, &stats.soldOut, &stats.ledgerMismatches)
	if err != nil {
		t.Fatal(err)
	}
	if stats.categories < 6 || stats.featured < 5 || stats.onSale < 5 || stats.low < 5 || stats.soldOut < 2 || stats.ledgerMismatches != 0 {
		t.Fatalf("demo catalog %+v", stats)
	}

	again, err := svc.SeedDemo(ctx)
	if err != nil || again != 0 {
		t.Fatalf("second seed created %d (%v), want 0", again, err)
	}
}
