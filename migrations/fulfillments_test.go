package migrations_test

import (
	"log/slog"
	"testing"
	"time"
)

// fulfillmentsMigration is the migration of shipments in parts.
const fulfillmentsMigration = "20261207600000"

// TestFulfillmentsMigrationBackfills migrates a database to the schema
// before shipments in parts, with a shipped order of two lines, a
// delivered one and an unshipped one, then to the latest schema: each order
// shipped before has one fulfilment holding every unit of every line, with
// the order's tracking, shipping time and delivery; the unshipped one has
// none.
func TestFulfillmentsMigrationBackfills(t *testing.T) {
	ctx, d, exec := openBefore(t, fulfillmentsMigration)
	shipped := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	delivered := shipped.Add(48 * time.Hour)
	for _, o := range []struct {
		id, number, status, shipping string
		tracking, carrier            *string
		shippedAt, deliveredAt       *time.Time
	}{
		{"00000000-0000-0000-0000-0000000000f1", "ORD-SHIPPED", "FULFILLED", "FULFILLED", ptr("1Z-ONE"), ptr("UPS"), &shipped, nil},
		{"00000000-0000-0000-0000-0000000000f2", "ORD-DELIVERED", "FULFILLED", "DELIVERED", ptr("1Z-TWO"), nil, &shipped, &delivered},
		{"00000000-0000-0000-0000-0000000000f3", "ORD-WAITING", "PROCESSING", "UNFULFILLED", nil, nil, nil, nil},
	} {
		exec(`INSERT INTO orders (id, order_number, email, currency, subtotal, tax, shipping_cost, discount, total,
				status, payment_status, fulfillment_status, shipping_address, billing_address,
				tracking_number, carrier, tracking_url, shipped_at, delivered_at, paid_at)
			VALUES ($1, $2, 'buyer@example.com', 'USD', 3000, 0, 0, 0, 3000, $3, 'PAID', $4, '{}', '{}',
				$5::text, $6::text, 'https://track.example.com/' || $5::text, $7, $8, $7)`,
			o.id, o.number, o.status, o.shipping, o.tracking, o.carrier, o.shippedAt, o.deliveredAt)
		exec(`INSERT INTO order_lines (order_id, position, sku, name, quantity, unit_price, line_total) VALUES
			($1, 0, 'A-1', 'Alpha', 2, 1000, 2000), ($1, 1, 'B-1', 'Beta', 1, 1000, 1000)`, o.id)
	}

	if err := d.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("migrate to the latest schema: %v", err)
	}

	type fulfillment struct {
		number, status, tracking, carrier, url string
		shippedAt                              time.Time
		deliveredAt                            *time.Time
		lines                                  string
	}
	rows, err := d.Pool.Query(ctx, `SELECT o.order_number, f.status, coalesce(f.tracking_number, ''), coalesce(f.carrier, ''),
			coalesce(f.tracking_url, ''), f.shipped_at, f.delivered_at,
			(SELECT string_agg(l.sku || '=' || fl.quantity, ',' ORDER BY l.position)
			 FROM fulfillment_lines fl JOIN order_lines l ON l.id = fl.order_line_id WHERE fl.fulfillment_id = f.id)
		FROM fulfillments f JOIN orders o ON o.id = f.order_id ORDER BY o.order_number`)
	if err != nil {
		t.Fatal(err)
	}
	var got []fulfillment
	for rows.Next() {
		var f fulfillment
		if err := rows.Scan(&f.number, &f.status, &f.tracking, &f.carrier, &f.url, &f.shippedAt, &f.deliveredAt, &f.lines); err != nil {
			t.Fatal(err)
		}
		got = append(got, f)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d fulfillments, want one for each of the 2 shipped orders: %+v", len(got), got)
	}
	if f := got[0]; f.number != "ORD-DELIVERED" || f.status != "DELIVERED" || f.tracking != "1Z-TWO" || f.carrier != "" ||
		!f.shippedAt.Equal(shipped) || f.deliveredAt == nil || !f.deliveredAt.Equal(delivered) || f.lines != "A-1=2,B-1=1" {
		t.Errorf("the delivered order's fulfilment = %+v, want DELIVERED with its tracking, times and every unit", f)
	}
	if f := got[1]; f.number != "ORD-SHIPPED" || f.status != "SHIPPED" || f.tracking != "1Z-ONE" || f.carrier != "UPS" ||
		f.url != "https://track.example.com/1Z-ONE" || !f.shippedAt.Equal(shipped) || f.deliveredAt != nil || f.lines != "A-1=2,B-1=1" {
		t.Errorf("the shipped order's fulfilment = %+v, want SHIPPED with its tracking and every unit", f)
	}
}

func ptr[T any](v T) *T { return &v }
