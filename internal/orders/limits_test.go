package orders_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/carts"
	"commerce/internal/orders"
)

// wantLimitExceeded checks that err is exactly one LIMIT_EXCEEDED userError
// at path.
func wantLimitExceeded(t *testing.T, err error, path string) {
	t.Helper()
	list, ok := apperr.UserErrors(err)
	if !ok || len(list) != 1 {
		t.Fatalf("got %v, want one LIMIT_EXCEEDED userError", err)
	}
	if got := list[0].UserCode() + " " + strings.Join(list[0].Field, "."); got != "LIMIT_EXCEEDED "+path {
		t.Errorf("userError %q (%s), want LIMIT_EXCEEDED %s", got, list[0].Message, path)
	}
}

// TestCheckoutUnitsPerOrder: an order over MAX_UNITS_PER_ORDER, in one line
// or spread over lines or a cart, is a LIMIT_EXCEEDED userError that
// reserves nothing and does not bind the key; at the limit it is placed.
func TestCheckoutUnitsPerOrder(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	a, b := e.product(t, "1.00", 1000), e.product(t, "1.00", 1000)
	cart, err := e.carts.Create(ctx, []carts.LineInput{{ProductID: ptr(a.ID), Quantity: 60}, {ProductID: ptr(b.ID), Quantity: 41}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fromCart := input()
	fromCart.Lines, fromCart.CartID = nil, &cart.ID
	for _, tc := range []struct {
		name string
		in   orders.CheckoutInput
		path string
	}{
		{"one line", input(line(a, maxUnitsPerOrder+1)), "input.lines"},
		{"two lines of one product", input(line(a, 50), line(a, 51)), "input.lines"},
		{"two products", input(line(a, 100), line(b, 1)), "input.lines"},
		{"a cart", fromCart, "input.cartId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Checkout(ctx, tc.in)
			wantLimitExceeded(t, err, tc.path)
			e.wantStock(t, a.ID, stock{OnHand: 1000, Reserved: 0, Available: 1000})
			e.wantStock(t, b.ID, stock{OnHand: 1000, Reserved: 0, Available: 1000})
			if n := e.count(t, `SELECT count(*) FROM idempotency_keys WHERE key = $1`, tc.in.IdempotencyKey); n != 0 {
				t.Errorf("the refused checkout bound its idempotency key")
			}
		})
	}
	o := e.checkout(t, input(line(a, 99), line(b, 1))).Order
	e.wantStock(t, a.ID, stock{OnHand: 1000, Reserved: 99, Available: 901})
	if n := e.count(t, `SELECT count(*) FROM orders WHERE id = $1`, o.ID); n != 1 {
		t.Errorf("an order of exactly %d units was not placed", maxUnitsPerOrder)
	}
}

// TestCheckoutUnpaidUnits: the units of unpaid orders are bounded per email
// and per client IP (rotating emails from one address hits the IP bound);
// paying or cancelling an order frees its units; a refusal reserves
// nothing.
func TestCheckoutUnpaidUnits(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	p := e.product(t, "1.00", 10_000)
	reserved := 0
	place := func(in orders.CheckoutInput) *orders.Order {
		t.Helper()
		o := e.checkout(t, in).Order
		reserved += int(o.Subtotal.Amount / 100)
		return o
	}
	ipOf := func(in orders.CheckoutInput, ip string) orders.CheckoutInput { in.ClientIP = ip; return in }

	t.Run("per email", func(t *testing.T) {
		email := uniqEmail()
		same := func(q int) orders.CheckoutInput { in := input(line(p, q)); in.Email = email; return in }
		first := place(same(100))
		place(same(100))
		_, err := e.svc.Checkout(ctx, same(1))
		wantLimitExceeded(t, err, "input.lines")
		e.wantStock(t, p.ID, stock{OnHand: 10_000, Reserved: reserved, Available: 10_000 - reserved})
		// Paying one order frees its units for the next checkout.
		e.pay(t, first)
		reserved -= 100
		place(same(100))
		_, err = e.svc.Checkout(ctx, same(1))
		wantLimitExceeded(t, err, "input.lines")
	})

	t.Run("per IP across emails", func(t *testing.T) {
		const ip = "203.0.113.7"
		var held []*orders.Order
		for range 4 {
			held = append(held, place(ipOf(input(line(p, 50)), ip)))
		}
		_, err := e.svc.Checkout(ctx, ipOf(input(line(p, 1)), ip))
		wantLimitExceeded(t, err, "input.lines")
		// Another address is not held back by this one.
		place(ipOf(input(line(p, 50)), "203.0.113.8"))
		// Cancelling an unpaid order frees its units.
		if _, err := e.svc.Cancel(ctx, held[0].ID, nil); err != nil {
			t.Fatal(err)
		}
		reserved -= 50
		place(ipOf(input(line(p, 50)), ip))
		e.wantStock(t, p.ID, stock{OnHand: 10_000 - 100, Reserved: reserved, Available: 10_000 - 100 - reserved})
		if n := e.count(t, `SELECT count(*) FROM orders WHERE client_network = $1`, ip); n != 5 {
			t.Errorf("orders recorded with client network %s: %d, want 5", ip, n)
		}
	})

	// An IPv6 client picks any address of its /64: rotating them is one
	// network.
	t.Run("per IPv6 /64", func(t *testing.T) {
		for i := range 4 {
			place(ipOf(input(line(p, 50)), fmt.Sprintf("2001:db8:7:9:%x::1", i+1)))
		}
		_, err := e.svc.Checkout(ctx, ipOf(input(line(p, 1)), "2001:db8:7:9:ffff:1:2:3"))
		wantLimitExceeded(t, err, "input.lines")
		place(ipOf(input(line(p, 50)), "2001:db8:7:a::1"))
		if n := e.count(t, `SELECT count(*) FROM orders WHERE client_network = '2001:db8:7:9::/64'`); n != 4 {
			t.Errorf("orders recorded with client network 2001:db8:7:9::/64: %d, want 4", n)
		}
	})

	// Concurrent checkouts from one address cannot all slip under the
	// bound: 8 checkouts of 50 units, room for 4.
	t.Run("concurrent", func(t *testing.T) {
		const ip = "198.51.100.20"
		errs := make([]error, 8)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { _, errs[i] = e.svc.Checkout(ctx, ipOf(input(line(p, 50)), ip)) })
		}
		wg.Wait()
		placed := 0
		for _, err := range errs {
			if err == nil {
				placed++
				continue
			}
			wantLimitExceeded(t, err, "input.lines")
		}
		if placed != 4 {
			t.Errorf("%d of 8 concurrent checkouts of 50 units placed, want 4 (MAX_UNPAID_UNITS %d)", placed, maxUnpaidUnits)
		}
		if n := e.count(t, `SELECT coalesce(sum(l.quantity), 0) FROM orders o JOIN order_lines l ON l.order_id = o.id
			WHERE o.client_network = $1 AND o.status = 'PENDING'`, ip); n != 200 {
			t.Errorf("unpaid units from %s: %d, want 200", ip, n)
		}
	})
}

// TestIdempotencyKeyBoundToCaller: another principal replaying a key with
// the same input gets a Conflict, never the first caller's order and
// access token; the first caller still replays its order.
func TestIdempotencyKeyBoundToCaller(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	p := e.product(t, "5.00", 100)
	alice, bob := e.account(t), e.account(t)
	staff := auth.Principal{ID: alice.ID, Role: auth.Staff}
	base := input(line(p, 1))
	as := func(caller auth.Principal) orders.CheckoutInput { in := base; in.Caller = caller; return in }

	first, err := e.svc.Checkout(ctx, as(alice))
	if err != nil {
		t.Fatal(err)
	}
	for name, caller := range map[string]auth.Principal{
		"another customer": bob, "an anonymous caller": {}, "staff with the same id": staff,
	} {
		res, err := e.svc.Checkout(ctx, as(caller))
		if apperr.KindOf(err) != apperr.Conflict || res != nil {
			t.Errorf("%s replaying the key: result %v, error %v; want CONFLICT and no order", name, res, err)
		}
	}
	again, err := e.svc.Checkout(ctx, as(alice))
	if err != nil || again.Order.ID != first.Order.ID || again.AccessToken != first.AccessToken {
		t.Errorf("the first caller's replay: %v, %v; want its order %s", again, err, first.Order.Number)
	}
	e.wantStock(t, p.ID, stock{OnHand: 100, Reserved: 1, Available: 99})

	// A guest's key is bound by its email: another email is another input.
	guest := input(line(p, 1))
	e.checkout(t, guest)
	other := guest
	other.Email = uniqEmail()
	if _, err := e.svc.Checkout(ctx, other); apperr.KindOf(err) != apperr.Conflict {
		t.Errorf("a guest with another email replaying the key: %v, want CONFLICT", err)
	}
	// The client IP is not part of the binding: a shopper whose address
	// changed between retries gets their order.
	moved := guest
	moved.ClientIP = "192.0.2.99"
	if res, err := e.svc.Checkout(ctx, moved); err != nil || res.Order.Email != guest.Email {
		t.Errorf("the same guest from another address: %v, %v; want the replay", res, err)
	}
}
