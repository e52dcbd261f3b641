package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

const (
	numProducts  = 10_000
	numCustomers = 1_000
	flashStock   = 100 // per flash-sale product; 3 products → 300 units
)

var categories = []string{
	"Kitchen", "Garden", "Bedroom", "Bathroom", "Office", "Outdoor", "Camping", "Cycling", "Running", "Yoga",
	"Fishing", "Climbing", "Travel", "Luggage", "Audio", "Cameras", "Lighting", "Storage", "Cleaning", "Tools",
	"Paint", "Plumbing", "Electrical", "Flooring", "Pets", "Aquarium", "Toys", "Puzzles", "Books", "Stationery",
	"Art", "Music", "Baking", "Coffee", "Tea", "Wine", "Grilling", "Picnic", "Beach", "Winter",
	"Skiing", "Swimming", "Tennis", "Golf", "Fitness", "Wellness", "Skincare", "Jewelry", "Watches", "Footwear",
}

var adjectives = []string{
	"classic", "modern", "rustic", "compact", "deluxe", "sturdy", "portable", "vintage", "elegant", "rugged",
	"lightweight", "premium", "handmade", "foldable", "waterproof", "cozy", "sleek", "organic", "bright", "quiet",
}

var materials = []string{
	"oak", "walnut", "bamboo", "steel", "copper", "ceramic", "linen", "cotton", "wool", "leather",
	"glass", "marble", "granite", "canvas", "silicone", "titanium", "aluminum", "cedar", "velvet", "porcelain",
}

var nouns = []string{
	"chair", "table", "lamp", "kettle", "blanket", "backpack", "bottle", "knife", "skillet", "mug",
	"pillow", "basket", "shelf", "stool", "bowl", "teapot", "lantern", "jacket", "helmet", "hammock",
	"tent", "speaker", "headphones", "camera", "tripod", "notebook", "pen", "easel", "guitar", "drum",
	"grinder", "press", "grill", "cooler", "umbrella", "towel", "sled", "racket", "glove", "mat",
	"watch", "ring", "necklace", "boots", "sneakers", "sandals", "planter", "shovel", "rake", "hose",
}

var tagWords = []string{
	"sale", "new", "bestseller", "eco", "gift", "limited", "bundle", "clearance", "featured", "exclusive",
	"summer", "winter", "kids", "pro", "travel",
}

// seed fills the catalog and the customers with COPY. Every product's
// variant gets a RESTOCK ledger row of its opening stock, so that the ledger invariants
// (sum of all rows = available, without RESERVATION/RELEASE = on hand) hold
// from the start.
func seed(ctx context.Context, dbURL string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	r := rng(42)
	now := time.Now()
	// Each product has one default variant, which holds its sku, price and
	// stock; the product keeps the summary the catalog keeps of its
	// variants (price range, the first active variant's sku and threshold).
	products := make([][]any, 0, numProducts+3)
	variants := make([][]any, 0, numProducts+3)
	add := func(sku, handle, name, desc string, price int64, cat string, tags []string, onHand, threshold int,
		featured bool, created time.Time) {
		id := uuid.NewString()
		products = append(products, []any{id, handle, name, desc, "USD", price, price, sku, threshold, cat, tags, featured, created, created})
		variants = append(variants, []any{id, sku, "Default", "USD", price, onHand, threshold, 0, created, created})
	}
	for i := range numProducts {
		a, m, n := adjectives[r.IntN(len(adjectives))], materials[r.IntN(len(materials))], nouns[r.IntN(len(nouns))]
		name := fmt.Sprintf("%s %s %s", title(a), title(m), title(n))
		cat := categories[i%len(categories)]
		desc := fmt.Sprintf("A %s %s made of %s, part of our %s range. Pairs well with a %s %s.",
			a, n, m, strings.ToLower(cat), adjectives[r.IntN(len(adjectives))], nouns[r.IntN(len(nouns))])
		tags := []string{tagWords[r.IntN(len(tagWords))]}
		if r.IntN(2) == 0 {
			if t := tagWords[r.IntN(len(tagWords))]; t != tags[0] {
				tags = append(tags, t)
			}
		}
		onHand := 20 + r.IntN(480)
		if soldOut(i) {
			onHand = 0 // some sold out, so inStock filters mean something
		}
		price := int64(199 + r.IntN(49_800))
		sku := fmt.Sprintf("BN-%05d", i)
		handle := fmt.Sprintf("%s-%s-%s-%05d", a, m, n, i)
		created := now.Add(-time.Duration(r.IntN(365*24*3600)) * time.Second)
		add(sku, handle, name, desc, price, cat, tags, onHand, 10, r.IntN(10) == 0, created)
	}
	for i := range 3 {
		add(flashSKU(i), fmt.Sprintf("flash-sale-item-%d", i), fmt.Sprintf("Flash Sale Item %d", i),
			"Limited stock, one day only.", 2999, "Flash Sale", []string{"sale"}, flashStock, 5, true, now)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"products"}, []string{"id", "handle", "name", "description", "currency",
		"price", "max_price", "sku", "low_stock_threshold", "category", "tags", "is_featured", "created_at", "updated_at"},
		pgx.CopyFromRows(products)); err != nil {
		return fmt.Errorf("copy products: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"product_variants"}, []string{"product_id", "sku", "title", "currency",
		"price", "on_hand", "low_stock_threshold", "position", "created_at", "updated_at"}, pgx.CopyFromRows(variants)); err != nil {
		return fmt.Errorf("copy product variants: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO inventory_transactions (product_id, variant_id, sku, quantity_change, type, notes, created_at)
		SELECT product_id, id, sku, on_hand, 'RESTOCK', 'bench seed', created_at FROM product_variants
		WHERE on_hand > 0 ORDER BY created_at`); err != nil {
		return fmt.Errorf("seed ledger: %w", err)
	}
	crow := make([][]any, 0, numCustomers)
	for i := range numCustomers {
		created := now.Add(-time.Duration(r.IntN(365*24*3600)) * time.Second)
		crow = append(crow, []any{customerEmail(i), title(nouns[i%len(nouns)]), fmt.Sprintf("Shopper%04d", i), "USD", i%3 == 0, created, created})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"customers"},
		[]string{"email", "first_name", "last_name", "currency", "marketing_opt_in", "created_at", "updated_at"},
		pgx.CopyFromRows(crow)); err != nil {
		return fmt.Errorf("copy customers: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	// VACUUM, not only ANALYZE: after a bulk load the GIN indexes (full
	// text, trigram, tags) hold every row in their pending list, which each
	// search then scans linearly (a 10,000-product search measured 69 ms
	// instead of 1.3 ms). Autovacuum would get there; the benchmark
	// measures the steady state.
	_, err = conn.Exec(ctx, "VACUUM ANALYZE")
	return err
}

// soldOut marks the 5% of products seeded without stock (checkouts avoid
// them).
func soldOut(i int) bool { return i%20 == 19 }

func flashSKU(i int) string      { return fmt.Sprintf("FLASH-%d", i) }
func customerEmail(i int) string { return fmt.Sprintf("shopper%04d@bench.test", i) }

func title(s string) string { return strings.ToUpper(s[:1]) + s[1:] }
