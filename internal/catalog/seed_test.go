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
		categories, featured, onSale, low, soldOut, withOptions, ledgerMismatches, priceMismatches int
	}
	// Stock, prices and the ledger are per variant; a product's price is
	// its lowest active variant price.
	err = b.db.Bun.QueryRowContext(ctx, `
		SELECT count(DISTINCT p.category),
		       count(DISTINCT p.id) FILTER (WHERE p.is_featured),
		       count(*) FILTER (WHERE v.compare_at_price > v.price),
		       count(*) FILTER (WHERE v.available <= v.low_stock_threshold),
		       count(*) FILTER (WHERE v.available = 0),
		       count(DISTINCT p.id) FILTER (WHERE v.option_key <> ''),
		       count(*) FILTER (WHERE v.on_hand <> (SELECT coalesce(sum(quantity_change), 0)
		                                            FROM inventory_transactions t WHERE t.variant_id = v.id)),
		       count(DISTINCT p.id) FILTER (WHERE p.price <> (SELECT min(price) FROM product_variants m
		                                                      WHERE m.product_id = p.id AND m.is_active))
		FROM products p JOIN product_variants v ON v.product_id = p.id`).Scan(&stats.categories, &stats.featured,
		&stats.onSale, &stats.low, &stats.soldOut, &stats.withOptions, &stats.ledgerMismatches, &stats.priceMismatches)
	if err != nil {
		t.Fatal(err)
	}
	if stats.categories < 6 || stats.featured < 5 || stats.onSale < 5 || stats.low < 5 || stats.soldOut < 2 ||
		stats.withOptions < 2 || stats.ledgerMismatches != 0 || stats.priceMismatches != 0 {
		t.Fatalf("demo catalog %+v", stats)
	}

	again, err := svc.SeedDemo(ctx)
	if err != nil || again != 0 {
		t.Fatalf("second seed created %d (%v), want 0", again, err)
	}
}
