package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// flashResult is what the flash sale reports besides the latency line.
type flashResult struct {
	placed, refused, paid int
	fiveXX                int
	otherErrs             map[string]int
	problems              []string
}

// runFlashSale lets buyers (500) try to buy one unit each of one of the 3
// flash products (100 units each) at the same moment: cartCreate with the
// line, then checkout; every other placed order is paid through the
// webhook, so that the end state holds both reservations and sales. Then
// it checks the database.
func runFlashSale(ctx context.Context, c *client, dbURL string, buyers int) (*samples, time.Duration, *flashResult, error) {
	fr := &flashResult{otherErrs: map[string]int{}}
	all := newSamples()
	var mu sync.Mutex
	var placed []*placedOrder
	start := make(chan struct{})
	var ready, wg sync.WaitGroup
	for i := range buyers {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			c := c.shopper(i)
			email := fmt.Sprintf("flash-buyer-%04d@bench.test", i)
			lines := []map[string]any{{"sku": flashSKU(i % 3), "quantity": 1}}
			ready.Done()
			<-start
			t0 := time.Now()
			o, err := func() (*placedOrder, error) {
				cartID, err := c.cartCreate(ctx, email, lines)
				if err != nil {
					return nil, err
				}
				return c.checkout(ctx, cartID, nil, email)
			}()
			d := time.Since(t0)
			var payErr error
			if err == nil && i%2 == 0 {
				payErr = c.pay(ctx, o)
			}
			mu.Lock()
			defer mu.Unlock()
			var ue *userError
			switch {
			case err == nil:
				all.add(d)
				placed = append(placed, o)
				fr.placed++
			case errors.As(err, &ue) && ue.Code == "INSUFFICIENT_STOCK":
				all.add(d)
				fr.refused++
			default:
				all.fail(err)
				if is5xx(err) {
					fr.fiveXX++
				}
				fr.otherErrs[errKind(err)]++
			}
			if err == nil && i%2 == 0 {
				if payErr != nil {
					all.fail(payErr)
					if is5xx(payErr) {
						fr.fiveXX++
					}
					fr.otherErrs["pay-"+errKind(payErr)]++
				} else {
					fr.paid++
				}
			}
		}()
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)

	// Paid orders must read back as PAID (the webhook answered 2xx only
	// once the payment was recorded).
	if err := verifyFlash(ctx, dbURL, placed, fr); err != nil {
		return all, elapsed, fr, err
	}
	return all, elapsed, fr, nil
}

// verifyFlash checks stock, ledger and orders of the flash products.
func verifyFlash(ctx context.Context, dbURL string, placed []*placedOrder, fr *flashResult) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	bad := func(format string, args ...any) { fr.problems = append(fr.problems, fmt.Sprintf(format, args...)) }

	// Whole catalog, per variant (stock lives there): nothing negative,
	// ledger equals stock everywhere.
	var negative int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM product_variants WHERE available < 0 OR on_hand < 0 OR reserved < 0`).Scan(&negative); err != nil {
		return err
	}
	if negative > 0 {
		bad("%d variants have negative available/on_hand/reserved", negative)
	}
	rows, err := conn.Query(ctx, `
		SELECT v.sku, v.on_hand, v.reserved, v.available, v.units_sold,
		       coalesce(sum(t.quantity_change), 0)::bigint,
		       coalesce(sum(t.quantity_change) FILTER (WHERE t.type NOT IN ('RESERVATION', 'RELEASE')), 0)::bigint
		FROM product_variants v LEFT JOIN inventory_transactions t ON t.variant_id = v.id
		GROUP BY v.id
		HAVING coalesce(sum(t.quantity_change), 0) <> v.available
		    OR coalesce(sum(t.quantity_change) FILTER (WHERE t.type NOT IN ('RESERVATION', 'RELEASE')), 0) <> v.on_hand
		LIMIT 5`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var sku string
		var onHand, reserved, avail, sold, ledgerAll, ledgerHand int64
		if err := rows.Scan(&sku, &onHand, &reserved, &avail, &sold, &ledgerAll, &ledgerHand); err != nil {
			return err
		}
		bad("ledger mismatch %s: available %d vs ledger %d; on hand %d vs ledger %d", sku, avail, ledgerAll, onHand, ledgerHand)
	}
	rows.Close()
	if rows.Err() != nil {
		return rows.Err()
	}

	// Flash variants: units in live orders = reserved + sold = stock taken.
	rows, err = conn.Query(ctx, `
		SELECT v.sku, v.on_hand, v.reserved, v.available,
		       coalesce((SELECT sum(l.quantity) FROM order_lines l JOIN orders o ON o.id = l.order_id
		                 WHERE l.variant_id = v.id AND o.status <> 'CANCELLED'), 0)::bigint,
		       coalesce((SELECT sum(l.quantity) FROM order_lines l JOIN orders o ON o.id = l.order_id
		                 WHERE l.variant_id = v.id AND o.payment_status = 'PAID'), 0)::bigint,
		       coalesce((SELECT sum(l.quantity) FROM order_lines l JOIN orders o ON o.id = l.order_id
		                 WHERE l.variant_id = v.id AND o.status = 'PENDING'), 0)::bigint
		FROM product_variants v WHERE v.sku LIKE 'FLASH-%' ORDER BY v.sku`)
	if err != nil {
		return err
	}
	var totalOrdered int64
	for rows.Next() {
		var sku string
		var onHand, reserved, avail, ordered, paidQty, pendingQty int64
		if err := rows.Scan(&sku, &onHand, &reserved, &avail, &ordered, &paidQty, &pendingQty); err != nil {
			return err
		}
		totalOrdered += ordered
		sold := flashStock - onHand
		if ordered != reserved+sold {
			bad("%s: %d units in live orders but reserved %d + sold %d = %d", sku, ordered, reserved, sold, reserved+sold)
		}
		if reserved != pendingQty || sold != paidQty {
			bad("%s: reserved %d vs pending orders %d; sold %d vs paid orders %d", sku, reserved, pendingQty, sold, paidQty)
		}
		if ordered > flashStock {
			bad("%s: OVERSOLD: %d units ordered of %d", sku, ordered, flashStock)
		}
	}
	rows.Close()
	if rows.Err() != nil {
		return rows.Err()
	}

	// No lost orders: every order the API confirmed exists, and the
	// database holds no flash order the API did not confirm.
	numbers := make([]string, len(placed))
	for i, o := range placed {
		numbers[i] = o.Number
	}
	var found, dbOrders int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM orders WHERE order_number = ANY($1)`, numbers).Scan(&found); err != nil {
		return err
	}
	if err := conn.QueryRow(ctx, `SELECT count(DISTINCT o.id) FROM orders o JOIN order_lines l ON l.order_id = o.id
		JOIN product_variants v ON v.id = l.variant_id WHERE v.sku LIKE 'FLASH-%'`).Scan(&dbOrders); err != nil {
		return err
	}
	if found != len(placed) {
		bad("lost orders: the API confirmed %d orders, the database has %d of them", len(placed), found)
	}
	if dbOrders != len(placed) {
		bad("the database holds %d flash-sale orders, the API confirmed %d", dbOrders, len(placed))
	}
	if int64(len(placed)) != totalOrdered {
		bad("%d orders placed but %d units ordered (one unit each)", len(placed), totalOrdered)
	}
	// Every buyer wanted one unit and each product had more buyers than
	// stock, so all 300 units must be sold: fewer means a buyer was refused
	// while stock was left.
	if fr.placed != 3*flashStock && len(fr.otherErrs) == 0 {
		bad("placed %d orders, want exactly %d (stock left unsold while buyers were refused)", fr.placed, 3*flashStock)
	}
	// Paid orders read back as PAID.
	var paid int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM orders WHERE order_number = ANY($1) AND payment_status = 'PAID'`, numbers).Scan(&paid); err != nil {
		return err
	}
	if paid != fr.paid {
		bad("%d payments acknowledged, %d orders PAID", fr.paid, paid)
	}
	if fr.fiveXX > 0 {
		bad("%d server errors (5xx or INTERNAL)", fr.fiveXX)
	}
	if len(fr.otherErrs) > 0 {
		var ks []string
		for k, v := range fr.otherErrs {
			ks = append(ks, fmt.Sprintf("%s×%d", k, v))
		}
		sort.Strings(ks)
		bad("unexpected errors: %s", strings.Join(ks, ", "))
	}
	return nil
}
