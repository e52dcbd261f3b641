package orders_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"

	"commerce/internal/apperr"
	"commerce/internal/catalog"
	"commerce/internal/orders"
	"commerce/internal/payments"
)

// TestConcurrentMultiLineCheckouts is the guarantee of the one-statement
// reservation for orders of several lines: 60 buyers at once, each of 3 of
// 4 products in a shuffled line order, over 30 units each (45 wanted).
// Every checkout either reserves all its lines or none (INSUFFICIENT_STOCK
// naming only the short lines); none fails otherwise, which a deadlock
// (lines locked in input order) would; stock and ledger add up. Then the
// placed orders are paid or cancelled at once, the sale and the release
// also one statement per order in id order.
func TestConcurrentMultiLineCheckouts(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const onHand, buyers = 30, 60
	var ps []*catalog.Product
	for range 4 {
		ps = append(ps, e.product(t, "5.00", onHand))
	}

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		placed   []*orders.Order
		refused  int
		unexpect []error
	)
	for b := range buyers {
		skip := b % 4
		var lines []orders.LineInput
		for i, p := range ps {
			if i != skip {
				lines = append(lines, line(p, 1))
			}
		}
		rand.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
		wg.Go(func() {
			res, err := e.svc.Checkout(ctx, input(lines...))
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				placed = append(placed, res.Order)
				return
			}
			l, ok := apperr.UserErrors(err)
			if !ok || len(l) == 0 {
				unexpect = append(unexpect, err)
				return
			}
			for _, ue := range l {
				if ue.Kind != apperr.InsufficientStock {
					unexpect = append(unexpect, err)
					return
				}
			}
			refused++
		})
	}
	wg.Wait()
	for _, err := range unexpect {
		t.Errorf("unexpected checkout error: %v", err)
	}
	if len(placed)+refused != buyers || len(placed) < onHand {
		t.Fatalf("%d placed, %d refused of %d buyers; want at least %d placed (3 of 4 products per order)",
			len(placed), refused, buyers, onHand)
	}
	for _, p := range ps {
		units := e.count(t, `SELECT coalesce(sum(quantity), 0) FROM order_lines WHERE product_id = $1`, p.ID)
		if got := e.stock(t, p.ID); got.Reserved != units || got.OnHand != onHand || got.Available < 0 {
			t.Errorf("stock of %s: %v, %d units in orders", p.ID, got, units)
		}
		e.checkLedger(t, p.ID)
	}
	for _, o := range placed {
		if n := e.count(t, `SELECT count(*) FROM inventory_transactions WHERE reference_id = $1 AND type = 'RESERVATION'`, o.ID); n != 3 {
			t.Errorf("order %s has %d reservations, want all 3 lines reserved", o.Number, n)
		}
	}

	for i, o := range placed {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				err = e.svc.HandlePaymentEvent(ctx, event(payments.IntentSucceededEvent, o))
			} else {
				_, err = e.svc.Cancel(ctx, o.ID, nil)
			}
			if err != nil {
				t.Errorf("pay or cancel %s: %v", o.Number, err)
			}
		})
	}
	wg.Wait()
	for _, p := range ps {
		sold := e.count(t, `SELECT coalesce(sum(l.quantity), 0) FROM order_lines l JOIN orders o ON o.id = l.order_id
			WHERE l.product_id = $1 AND o.payment_status = 'PAID'`, p.ID)
		e.wantStock(t, p.ID, stock{OnHand: onHand - sold, Reserved: 0, Available: onHand - sold})
		e.checkLedger(t, p.ID)
	}
}
