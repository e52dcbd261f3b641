package migrations_test

import (
	"context"
	"io/fs"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/uptrace/bun/migrate"

	"commerce/internal/platform/db"
	"commerce/internal/platform/dbtest"
	"commerce/migrations"
)

// variantsMigration is the first migration of product variants.
const variantsMigration = "20261207100000"

// TestVariantsMigrationKeepsV1Data migrates a database to the last v1
// schema, fills it as a running v1 shop would (stock, reservations of a
// pending order, a paid order, a cart, the ledger), migrates it to the
// latest schema and checks that every product became one default variant
// carrying its sku, prices and stock, that every ledger row, cart line and
// order line points at it, and that the ledger invariants of DESIGN.md hold
// per variant.
func TestVariantsMigrationKeepsV1Data(t *testing.T) {
	ctx, d, exec := openBefore(t, variantsMigration)

	// Three v1 products: A has 10 on hand, 2 reserved by a pending order
	// and 3 sold to a paid order; B has no stock; C is archived.
	exec(`INSERT INTO products (id, sku, handle, name, currency, price, compare_at_price, cost_price, on_hand, reserved,
			low_stock_threshold, weight_grams, length_mm, is_active, units_sold) VALUES
		('00000000-0000-0000-0000-00000000000a', 'A-1', 'a', 'Alpha', 'USD', 1000, 1500, 400, 10, 2, 5, 250, 30, true, 3),
		('00000000-0000-0000-0000-00000000000b', 'B-1', 'b', 'Beta', 'USD', 500, NULL, NULL, 0, 0, 10, NULL, NULL, true, 0),
		('00000000-0000-0000-0000-00000000000c', 'C-1', 'c', 'Gamma', 'USD', 700, NULL, NULL, 4, 0, 10, NULL, NULL, false, 0)`)
	exec(`INSERT INTO inventory_transactions (product_id, sku, quantity_change, type, reference_id) VALUES
		('00000000-0000-0000-0000-00000000000a', 'A-1', 13, 'RESTOCK', NULL),
		('00000000-0000-0000-0000-00000000000a', 'A-1', -3, 'RESERVATION', 'paid'),
		('00000000-0000-0000-0000-00000000000a', 'A-1', 3, 'RELEASE', 'paid'),
		('00000000-0000-0000-0000-00000000000a', 'A-1', -3, 'SALE', 'paid'),
		('00000000-0000-0000-0000-00000000000a', 'A-1', -2, 'RESERVATION', 'pending'),
		('00000000-0000-0000-0000-00000000000c', 'C-1', 4, 'RESTOCK', NULL)`)
	exec(`INSERT INTO customers (id, email, first_name, last_name, currency) VALUES
		('00000000-0000-0000-0000-0000000000c1', 'buyer@example.com', 'Bea', 'Buyer', 'USD')`)
	for _, o := range []struct{ id, number, status, payment string }{
		{"00000000-0000-0000-0000-0000000000e1", "ORD-PAID", "PROCESSING", "PAID"},
		{"00000000-0000-0000-0000-0000000000e2", "ORD-PENDING", "PENDING", "PENDING"},
	} {
		exec(`INSERT INTO orders (id, order_number, customer_id, email, currency, subtotal, tax, shipping_cost, discount, total,
				status, payment_status, fulfillment_status, shipping_address, billing_address)
			VALUES ($1, $2, '00000000-0000-0000-0000-0000000000c1', 'buyer@example.com', 'USD', 3000, 0, 0, 0, 3000,
				$3, $4, 'UNFULFILLED', '{}', '{}')`, o.id, o.number, o.status, o.payment)
	}
	exec(`INSERT INTO order_lines (order_id, position, product_id, sku, name, quantity, unit_price, line_total) VALUES
		('00000000-0000-0000-0000-0000000000e1', 0, '00000000-0000-0000-0000-00000000000a', 'A-1', 'Alpha', 3, 1000, 3000),
		('00000000-0000-0000-0000-0000000000e2', 0, '00000000-0000-0000-0000-00000000000a', 'A-1', 'Alpha', 2, 1000, 2000)`)
	exec(`INSERT INTO carts (id, currency) VALUES ('00000000-0000-0000-0000-0000000000ca', 'USD')`)
	exec(`INSERT INTO cart_lines (cart_id, product_id, quantity) VALUES
		('00000000-0000-0000-0000-0000000000ca', '00000000-0000-0000-0000-00000000000a', 1),
		('00000000-0000-0000-0000-0000000000ca', '00000000-0000-0000-0000-00000000000b', 2)`)

	if err := d.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("migrate to the latest schema: %v", err)
	}

	type variant struct {
		product, sku, title, options                        string
		price, onHand, reserved, available, threshold, sold int64
		compareAt, cost                                     *int64
		weight, length                                      *int32
		active                                              bool
	}
	rows, err := d.Pool.Query(ctx, `SELECT product_id::text, sku, title, selected_options::text, price, on_hand, reserved,
			available, low_stock_threshold, units_sold, compare_at_price, cost_price, weight_grams, length_mm, is_active
		FROM product_variants ORDER BY sku`)
	if err != nil {
		t.Fatal(err)
	}
	var got []variant
	for rows.Next() {
		var v variant
		if err := rows.Scan(&v.product, &v.sku, &v.title, &v.options, &v.price, &v.onHand, &v.reserved, &v.available,
			&v.threshold, &v.sold, &v.compareAt, &v.cost, &v.weight, &v.length, &v.active); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d variants, want one for each of the 3 products: %+v", len(got), got)
	}
	a := got[0]
	if a.sku != "A-1" || a.title != "Default" || a.options != "[]" || a.price != 1000 || a.onHand != 10 || a.reserved != 2 ||
		a.available != 8 || a.threshold != 5 || a.sold != 3 || a.compareAt == nil || *a.compareAt != 1500 ||
		a.cost == nil || *a.cost != 400 || a.weight == nil || *a.weight != 250 || a.length == nil || *a.length != 30 || !a.active {
		t.Errorf("A's default variant = %+v, want A's sku, prices, stock, threshold and measures", a)
	}
	if b := got[1]; b.sku != "B-1" || b.onHand != 0 || b.price != 500 || b.compareAt != nil {
		t.Errorf("B's default variant = %+v", b)
	}
	if c := got[2]; c.sku != "C-1" || c.onHand != 4 || !c.active {
		t.Errorf("C's default variant = %+v, want 4 on hand and active (the product is what is archived)", c)
	}

	// Every ledger row, cart line and order line names its product's variant.
	for _, q := range []string{
		`SELECT count(*) FROM inventory_transactions t JOIN product_variants v ON v.id = t.variant_id WHERE v.product_id <> t.product_id`,
		`SELECT count(*) FROM inventory_transactions WHERE variant_id IS NULL`,
		`SELECT count(*) FROM cart_lines l JOIN product_variants v ON v.id = l.variant_id WHERE v.product_id <> l.product_id`,
		`SELECT count(*) FROM order_lines WHERE variant_id IS NULL OR variant_title <> 'Default' OR selected_options <> '[]' OR id IS NULL`,
		`SELECT count(*) FROM order_lines l JOIN product_variants v ON v.id = l.variant_id WHERE v.product_id <> l.product_id`,
	} {
		var n int
		if err := d.Pool.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
		if n != 0 {
			t.Errorf("%d rows break: %s", n, q)
		}
	}
	var cartLines int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM cart_lines`).Scan(&cartLines); err != nil || cartLines != 2 {
		t.Errorf("cart lines after the migration: %d (%v), want 2", cartLines, err)
	}

	// The ledger invariants, per variant: the sum of all rows is available;
	// without RESERVATION and RELEASE rows, on hand.
	var broken []string
	inv, err := d.Pool.Query(ctx, `SELECT v.sku FROM product_variants v
		LEFT JOIN inventory_transactions t ON t.variant_id = v.id
		GROUP BY v.id, v.sku, v.available, v.on_hand
		HAVING coalesce(sum(t.quantity_change), 0) <> v.available
		    OR coalesce(sum(t.quantity_change) FILTER (WHERE t.type NOT IN ('RESERVATION', 'RELEASE')), 0) <> v.on_hand`)
	if err != nil {
		t.Fatal(err)
	}
	for inv.Next() {
		var sku string
		if err := inv.Scan(&sku); err != nil {
			t.Fatal(err)
		}
		broken = append(broken, sku)
	}
	if len(broken) > 0 {
		t.Errorf("the ledger no longer adds up for %v", broken)
	}

	// The product keeps its summary of its variants: the lowest and highest
	// price and the first active variant's sku, for lists.
	var price, maxPrice int64
	var sku string
	var hasOptions bool
	if err := d.Pool.QueryRow(ctx, `SELECT price, max_price, sku, has_options FROM products WHERE id = '00000000-0000-0000-0000-00000000000a'`).
		Scan(&price, &maxPrice, &sku, &hasOptions); err != nil || price != 1000 || maxPrice != 1000 || sku != "A-1" || hasOptions {
		t.Errorf("A's summary after the migration: price %d, max %d, sku %q, options %v (%v); want 1000, 1000, A-1, false",
			price, maxPrice, sku, hasOptions, err)
	}
}

// migrateBefore applies River's migrations and the service's migrations
// whose names sort before first.
// openBefore opens an empty database migrated up to, not including, the
// migration first, and returns it with the test's context and an exec that
// fails the test on error; the database closes when the test ends.
func openBefore(t *testing.T, first string) (context.Context, *db.DB, func(sql string, args ...any)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	d, err := db.Open(ctx, dbtest.EmptyURL(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	migrateBefore(ctx, t, d, first)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := d.Pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%v\n%s", err, sql)
		}
	}
	return ctx, d, exec
}

func migrateBefore(ctx context.Context, t *testing.T, d *db.DB, first string) {
	t.Helper()
	rm, err := rivermigrate.New(riverdatabasesql.New(d.SQL), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rm.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		t.Fatal(err)
	}
	older := fstest.MapFS{}
	err = fs.WalkDir(migrations.Files(), ".", func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(path, ".sql") || path >= first {
			return err
		}
		b, err := fs.ReadFile(migrations.Files(), path)
		older[path] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ms := migrate.NewMigrations()
	if err := ms.Discover(older); err != nil {
		t.Fatal(err)
	}
	m := migrate.NewMigrator(d.Bun, ms, migrate.WithMarkAppliedOnSuccess(true))
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Migrate(ctx); err != nil {
		t.Fatalf("migrate to the v1 schema: %v", err)
	}
}
