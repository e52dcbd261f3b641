package orders_test

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"commerce/internal/apperr"
	"commerce/internal/carts"
	"commerce/internal/catalog"
	"commerce/internal/orders"
	"commerce/internal/payments"
)

var orderNumber = regexp.MustCompile(`^ORD-[0-9A-HJKMNP-TV-Z]{10}$`)

func TestCheckoutFromLines(t *testing.T) {
	e := setup(t)
	type item struct {
		price string
		unit  int64 // the catalog price in cents
		qty   int
	}
	cases := []struct {
		name                                string
		items                               []item
		subtotal, tax, shipping, totalCents int64
	}{
		{"half a cent of tax rounds up", []item{{"0.05", 5, 1}}, 5, 1, 10_00, 10_06},
		{"tax rounds half-up, flat shipping", []item{{"33.35", 33_35, 1}}, 33_35, 3_34, 10_00, 46_69},
		{"just under the threshold pays shipping", []item{{"99.99", 99_99, 1}}, 99_99, 10_00, 10_00, 119_99},
		{"at the threshold ships free", []item{{"50.00", 50_00, 2}}, 100_00, 10_00, 0, 110_00},
		{"several products", []item{{"19.99", 19_99, 3}, {"0.05", 5, 1}, {"120.00", 120_00, 2}}, 300_02, 30_00, 0, 330_02},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			const onHand = 20
			var products []*catalog.Product
			in := input()
			in.Email = "  " + uniq("Shopper") + "@Example.COM " // normalised to lower case
			for _, it := range tc.items {
				p := e.product(t, it.price, onHand)
				products = append(products, p)
				in.Lines = append(in.Lines, line(p, it.qty))
			}
			createBefore, customersBefore := e.provider.createIntent.Load(), e.provider.ensureCustomer.Load()

			res := e.checkout(t, in)
			o := res.Order

			if !orderNumber.MatchString(o.Number) {
				t.Errorf("order number %q does not match %s", o.Number, orderNumber)
			}
			if o.Status != orders.Pending || o.PaymentStatus != orders.PaymentPending || o.FulfillmentStatus != orders.Unfulfilled {
				t.Errorf("statuses: got %s/%s/%s, want PENDING/PENDING/UNFULFILLED", o.Status, o.PaymentStatus, o.FulfillmentStatus)
			}
			got := [4]int64{o.Subtotal.Amount, o.Tax.Amount, o.Shipping.Amount, o.Total.Amount}
			want := [4]int64{tc.subtotal, tc.tax, tc.shipping, tc.totalCents}
			if got != want || o.Total.Currency != currency || o.Discount.Amount != 0 {
				t.Errorf("subtotal/tax/shipping/total: got %v %s (discount %d), want %v USD", got, o.Total.Currency, o.Discount.Amount, want)
			}
			if res.AccessToken != token(o.ID) {
				t.Errorf("access token: got %q, want base64url(HMAC-SHA256(secret, \"order:\"+id)) = %q", res.AccessToken, token(o.ID))
			}
			if e.svc.AccessToken(o.ID) != res.AccessToken {
				t.Errorf("AccessToken(id) = %q differs from the checkout's %q", e.svc.AccessToken(o.ID), res.AccessToken)
			}
			if res.ClientSecret == nil || o.PaymentClientSecret == nil || *res.ClientSecret != *o.PaymentClientSecret {
				t.Errorf("client secret: result %v, order %v; want the same non-empty secret", res.ClientSecret, o.PaymentClientSecret)
			}
			if n := e.provider.createIntent.Load() - createBefore; n != 1 {
				t.Errorf("CreateIntent calls: got %d, want 1", n)
			}
			if n := e.provider.ensureCustomer.Load() - customersBefore; n != 1 {
				t.Errorf("EnsureCustomer calls for a new customer: got %d, want 1", n)
			}

			// Stored order and lines, priced from the catalog.
			stored := e.byID(t, o.ID)
			if stored.Total != o.Total || stored.Number != o.Number || stored.Email != o.Email {
				t.Errorf("stored order differs from the returned one: %+v vs %+v", stored, o)
			}
			if stored.PaymentIntentID == nil || *stored.PaymentIntentID != *o.PaymentIntentID {
				t.Errorf("stored intent id %v, want %v", stored.PaymentIntentID, *o.PaymentIntentID)
			}
			if stored.BillingAddress.Line1 != address().Line1 {
				t.Errorf("billing address defaults to the shipping address: got %+v", stored.BillingAddress)
			}
			ls, err := e.svc.Lines(ctx, []string{o.ID})
			if err != nil {
				t.Fatal(err)
			}
			if len(ls[0]) != len(tc.items) {
				t.Fatalf("order lines: got %d, want %d", len(ls[0]), len(tc.items))
			}
			for i, l := range ls[0] {
				p, it := products[i], tc.items[i]
				if l.ProductID == nil || *l.ProductID != p.ID || l.SKU != p.SKU || l.Name != p.Name ||
					l.Quantity != it.qty || l.UnitPrice.Amount != it.unit || l.LineTotal.Amount != it.unit*int64(it.qty) {
					t.Errorf("line %d: got %+v, want product %s (%s, %q) × %d at %d", i, l, p.ID, p.SKU, p.Name, it.qty, it.unit)
				}
			}

			// Stock: reserved, not taken; one RESERVATION row per product.
			var wantRows []string
			for i, p := range products {
				q := tc.items[i].qty
				e.wantStock(t, p.ID, stock{OnHand: onHand, Reserved: q, Available: onHand - q})
				e.checkLedger(t, p.ID)
				wantRows = append(wantRows, "RESERVATION "+signed(-q))
			}
			gotRows := e.ledger(t, o.ID)
			if len(gotRows) != len(wantRows) || !sameMultiset(gotRows, wantRows) {
				t.Errorf("ledger rows of the order: got %q, want %q", gotRows, wantRows)
			}

			// Customer by email, names and phone from the shipping address.
			c := e.customer(t, o.Email)
			if o.CustomerID == nil || *o.CustomerID != c.ID {
				t.Errorf("order customer %v, want %s", o.CustomerID, c.ID)
			}
			if c.FirstName != "Ada" || c.LastName != "Lovelace" || c.Phone == nil || *c.Phone != "+12025550123" {
				t.Errorf("customer: got %s %s phone %v, want Ada Lovelace +12025550123", c.FirstName, c.LastName, c.Phone)
			}
			if c.TotalOrders != 0 || c.TotalSpent != 0 {
				t.Errorf("customer stats before payment: %d orders, %d spent; want 0, 0", c.TotalOrders, c.TotalSpent)
			}

			e.wantEvents(t, o.ID, orders.EventPlaced, orders.EventStockReserved, orders.EventPaymentIntentCreated)
			if n := e.jobs(t, "payment-timeout", o.ID); n != 1 {
				t.Errorf("payment-timeout jobs: got %d, want 1", n)
			} else {
				e.wantJobDelay(t, "payment-timeout", o.ID, paymentTimeout)
			}
			if n := e.jobs(t, "payment-intent", o.ID); n != 1 {
				t.Errorf("payment-intent jobs: got %d, want 1", n)
			}
			if n := e.count(t, `SELECT count(*) FROM idempotency_keys WHERE key = $1 AND order_id = $2`, in.IdempotencyKey, o.ID); n != 1 {
				t.Errorf("idempotency key rows bound to the order: got %d, want 1", n)
			}
		})
	}
}

func signed(n int) string {
	if n >= 0 {
		return "+" + itoa(n)
	}
	return "-" + itoa(-n)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func sameMultiset(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestCheckoutFromCart(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	a := e.product(t, "10.00", 10)
	b := e.product(t, "5.00", 10)
	cart, err := e.carts.Create(ctx, []carts.LineInput{
		{ProductID: ptr(a.ID), Quantity: 2},
		{SKU: ptr(b.SKU), Quantity: 3},
	}, nil, nil)
	if err != nil {
		t.Fatalf("create cart: %v", err)
	}
	// The price changes after the cart was filled: checkout charges the new one.
	if _, err := e.catalog.Update(ctx, a.ID, catalog.UpdateInput{Price: ptr("12.50")}); err != nil {
		t.Fatalf("change price: %v", err)
	}

	in := input()
	in.Lines = nil
	in.CartID = &cart.ID
	res := e.checkout(t, in)
	o := res.Order

	// 2 × 12.50 + 3 × 5.00 = 40.00; tax 4.00; shipping 10.00.
	if o.Subtotal.Amount != 40_00 || o.Tax.Amount != 4_00 || o.Shipping.Amount != 10_00 || o.Total.Amount != 54_00 {
		t.Errorf("totals: got subtotal %s tax %s shipping %s total %s, want 40.00 4.00 10.00 54.00 (at the new price)",
			o.Subtotal, o.Tax, o.Shipping, o.Total)
	}
	ls, err := e.svc.Lines(ctx, []string{o.ID})
	if err != nil {
		t.Fatal(err)
	}
	prices := map[string]int64{}
	for _, l := range ls[0] {
		prices[*l.ProductID] = l.UnitPrice.Amount
	}
	if prices[a.ID] != 12_50 || prices[b.ID] != 5_00 {
		t.Errorf("unit prices: got %v, want %s at 1250 and %s at 500", prices, a.ID, b.ID)
	}
	e.wantStock(t, a.ID, stock{OnHand: 10, Reserved: 2, Available: 8})
	e.wantStock(t, b.ID, stock{OnHand: 10, Reserved: 3, Available: 7})
	e.wantEvents(t, o.ID, orders.EventPlaced, orders.EventStockReserved, orders.EventPaymentIntentCreated)
	if e.jobs(t, "payment-timeout", o.ID) != 1 || e.jobs(t, "payment-intent", o.ID) != 1 {
		t.Errorf("jobs: payment-timeout %d, payment-intent %d; want 1 each",
			e.jobs(t, "payment-timeout", o.ID), e.jobs(t, "payment-intent", o.ID))
	}

	c, err := e.carts.ByID(ctx, cart.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != carts.StatusCompleted || c.CompletedOrderID == nil || *c.CompletedOrderID != o.ID {
		t.Errorf("cart after checkout: status %s, order %v; want COMPLETED with order %s", c.Status, c.CompletedOrderID, o.ID)
	}

	// The same key again is a replay of the same order, not a CART_COMPLETED.
	again, err := e.svc.Checkout(ctx, in)
	if err != nil {
		t.Fatalf("replay of the cart checkout: %v", err)
	}
	if again.Order.ID != o.ID {
		t.Errorf("replay: got order %s, want %s", again.Order.ID, o.ID)
	}

	// A second checkout of the cart with another key is refused; nothing moves.
	in2 := in
	in2.IdempotencyKey = uniq("key")
	_, err = e.svc.Checkout(ctx, in2)
	wantUserErrors(t, err, "CART_COMPLETED input.cartId")
	e.wantStock(t, a.ID, stock{OnHand: 10, Reserved: 2, Available: 8})
	if n := e.count(t, `SELECT count(*) FROM orders WHERE cart_id = $1`, cart.ID); n != 1 {
		t.Errorf("orders of the cart: got %d, want 1", n)
	}
	if n := e.count(t, `SELECT count(*) FROM idempotency_keys WHERE key = $1`, in2.IdempotencyKey); n != 0 {
		t.Errorf("the refused checkout bound its key")
	}
}

func TestCheckoutValidation(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	p := e.product(t, "10.00", 5)
	archived := e.product(t, "10.00", 5)
	if _, err := e.catalog.Archive(ctx, archived.ID); err != nil {
		t.Fatal(err)
	}
	cart, err := e.carts.Create(ctx, []carts.LineInput{{ProductID: ptr(p.ID), Quantity: 1}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		change func(in *orders.CheckoutInput)
		want   []string
	}{
		{"both cartId and lines", func(in *orders.CheckoutInput) { in.CartID = &cart.ID },
			[]string{"INVALID input.cartId"}},
		{"neither cartId nor lines", func(in *orders.CheckoutInput) { in.Lines = nil },
			[]string{"INVALID input.lines"}},
		{"bad email", func(in *orders.CheckoutInput) { in.Email = "not-an-email" },
			[]string{"INVALID input.email"}},
		{"missing address fields", func(in *orders.CheckoutInput) {
			in.ShippingAddress.FirstName, in.ShippingAddress.City, in.ShippingAddress.PostalCode = "", " ", ""
		}, []string{"INVALID input.shippingAddress.firstName", "INVALID input.shippingAddress.city", "INVALID input.shippingAddress.postalCode"}},
		{"bad country", func(in *orders.CheckoutInput) { in.ShippingAddress.CountryCode = "USA" },
			[]string{"INVALID input.shippingAddress.countryCode"}},
		{"bad billing address", func(in *orders.CheckoutInput) {
			b := address()
			b.Line1 = ""
			in.BillingAddress = &b
		}, []string{"INVALID input.billingAddress.line1"}},
		{"quantity 0", func(in *orders.CheckoutInput) { in.Lines[0].Quantity = 0 },
			[]string{"INVALID input.lines.0.quantity"}},
		{"quantity 1001", func(in *orders.CheckoutInput) { in.Lines[0].Quantity = 1001 },
			[]string{"INVALID input.lines.0.quantity"}},
		{"unknown product id", func(in *orders.CheckoutInput) { in.Lines[0].ProductID = ptr("7b0c3c4e-9d43-4b8e-9a55-0e0c3f1b2a10") },
			[]string{"NOT_FOUND input.lines.0.productId"}},
		{"unknown sku", func(in *orders.CheckoutInput) { in.Lines[0] = orders.LineInput{SKU: ptr("NO-SUCH-SKU"), Quantity: 1} },
			[]string{"NOT_FOUND input.lines.0.sku"}},
		{"inactive product", func(in *orders.CheckoutInput) { in.Lines[0] = line(archived, 1) },
			[]string{"NOT_FOUND input.lines.0.productId"}},
		{"every bad line is named", func(in *orders.CheckoutInput) {
			in.Lines = append(in.Lines, orders.LineInput{SKU: ptr("NO-SUCH-SKU"), Quantity: 1}, line(archived, 1))
		}, []string{"NOT_FOUND input.lines.1.sku", "NOT_FOUND input.lines.2.productId"}},
		{"unknown discount code", func(in *orders.CheckoutInput) { in.DiscountCodes = []string{"NO-SUCH-CODE"} },
			[]string{"DISCOUNT_CODE_INVALID input.discountCodes.0"}},
		{"empty idempotency key", func(in *orders.CheckoutInput) { in.IdempotencyKey = "  " },
			[]string{"INVALID input.idempotencyKey"}},
		{"not enough stock", func(in *orders.CheckoutInput) { in.Lines[0].Quantity = 6 },
			[]string{"INSUFFICIENT_STOCK input.lines.0.quantity"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := input(line(p, 1))
			tc.change(&in)
			ordersBefore := e.count(t, `SELECT count(*) FROM orders`)
			_, err := e.svc.Checkout(ctx, in)
			wantUserErrors(t, err, tc.want...)
			if n := e.count(t, `SELECT count(*) FROM orders`); n != ordersBefore {
				t.Errorf("orders: %d before, %d after a refused checkout", ordersBefore, n)
			}
			if n := e.count(t, `SELECT count(*) FROM idempotency_keys WHERE key = $1`, in.IdempotencyKey); n != 0 {
				t.Errorf("the refused checkout bound its idempotency key")
			}
			e.wantStock(t, p.ID, stock{OnHand: 5, Reserved: 0, Available: 5})
			if n := e.count(t, `SELECT count(*) FROM customers WHERE email = lower($1)`, in.Email); n != 0 {
				t.Errorf("the refused checkout created a customer")
			}
		})
	}

	// A userError attempt does not bind the key: the same key with the input
	// fixed then places the order. Both an error found before the
	// transaction and one found inside it (after the key was claimed).
	for _, tc := range []struct {
		name string
		qty  int
	}{{"invalid quantity", 0}, {"insufficient stock", 6}} {
		t.Run("key not bound after "+tc.name, func(t *testing.T) {
			in := input(line(p, tc.qty))
			if _, err := e.svc.Checkout(ctx, in); err == nil {
				t.Fatal("checkout with a bad quantity succeeded")
			}
			in.Lines = []orders.LineInput{line(p, 1)}
			res, err := e.svc.Checkout(ctx, in)
			if err != nil {
				t.Fatalf("the same key with a fixed input: %v", err)
			}
			if res.Order.Total.Amount != 21_00 {
				t.Errorf("total: got %s, want 21.00", res.Order.Total)
			}
			// Put the unit back for the next case.
			if _, err := e.svc.Cancel(ctx, res.Order.ID, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestConcurrentCheckoutsDoNotOversell(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const onHand, buyers = 50, 200
	p := e.product(t, "10.00", onHand)

	// Watch available stock while the checkouts run.
	stop := make(chan struct{})
	var minSeen atomic.Int64
	minSeen.Store(onHand)
	var watcher sync.WaitGroup
	watcher.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			var avail int64
			if err := e.db.SQL.QueryRow(`SELECT available FROM product_variants WHERE product_id = $1`, p.ID).Scan(&avail); err == nil && avail < minSeen.Load() {
				minSeen.Store(avail)
			}
		}
	})

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		placed   []*orders.Order
		short    int
		unexpect []error
	)
	for range buyers {
		wg.Go(func() {
			res, err := e.svc.Checkout(ctx, input(line(p, 1)))
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				placed = append(placed, res.Order)
				return
			}
			if l, ok := apperr.UserErrors(err); ok && len(l) == 1 && l[0].Kind == apperr.InsufficientStock &&
				equalPath(l[0].Field, "input", "lines", "0", "quantity") {
				short++
				return
			}
			unexpect = append(unexpect, err)
		})
	}
	wg.Wait()
	close(stop)
	watcher.Wait()

	for _, err := range unexpect {
		t.Errorf("unexpected checkout error: %v", err)
	}
	if len(placed) != onHand || short != buyers-onHand {
		t.Fatalf("got %d orders and %d INSUFFICIENT_STOCK userErrors, want %d and %d", len(placed), short, onHand, buyers-onHand)
	}
	if m := minSeen.Load(); m < 0 {
		t.Errorf("available stock went negative: %d", m)
	}
	if n := e.count(t, `SELECT count(DISTINCT order_id) FROM order_lines WHERE product_id = $1`, p.ID); n != onHand {
		t.Errorf("order rows for the product: got %d, want %d", n, onHand)
	}
	e.wantStock(t, p.ID, stock{OnHand: onHand, Reserved: onHand, Available: 0})
	e.checkLedger(t, p.ID)

	// Every order pays.
	var payErrs atomic.Int64
	for _, o := range placed {
		wg.Go(func() {
			if err := e.svc.HandlePaymentEvent(ctx, event(payments.IntentSucceededEvent, o)); err != nil {
				payErrs.Add(1)
				t.Errorf("pay %s: %v", o.Number, err)
			}
		})
	}
	wg.Wait()
	if payErrs.Load() > 0 {
		t.FailNow()
	}
	if n := e.count(t, `SELECT count(*) FROM orders o JOIN order_lines l ON l.order_id = o.id
		WHERE l.product_id = $1 AND o.status = 'PROCESSING' AND o.payment_status = 'PAID'`, p.ID); n != onHand {
		t.Errorf("paid orders: got %d, want %d", n, onHand)
	}
	e.wantStock(t, p.ID, stock{OnHand: 0, Reserved: 0, Available: 0})
	all, withoutReservations := e.ledgerSums(t, p.ID)
	if all != 0 || withoutReservations != 0 {
		t.Errorf("ledger sums: all rows %d (want 0 = available), without RESERVATION/RELEASE %d (want 0 = on hand)", all, withoutReservations)
	}
}

func equalPath(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func TestCheckoutIdempotency(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	p := e.product(t, "25.00", 100)
	key, email := uniq("key"), uniqEmail()
	build := func(qty int) orders.CheckoutInput { // a fresh input per request, as GraphQL builds them
		in := input(line(p, qty))
		in.Email, in.IdempotencyKey = email, key
		return in
	}
	createBefore := e.provider.createIntent.Load()

	const requests = 20
	results := make([]*orders.CheckoutResult, requests)
	errs := make([]error, requests)
	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() { results[i], errs[i] = e.svc.Checkout(ctx, build(2)) })
	}
	wg.Wait()

	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	first := results[0]
	if first.ClientSecret == nil {
		t.Errorf("request 0 has no client secret")
	}
	for i, r := range results {
		if r.Order.ID != first.Order.ID || r.Order.Number != first.Order.Number || r.AccessToken != first.AccessToken {
			t.Errorf("request %d: order %s %s token %s; request 0: %s %s %s", i,
				r.Order.ID, r.Order.Number, r.AccessToken, first.Order.ID, first.Order.Number, first.AccessToken)
		}
		if r.ClientSecret != nil && first.ClientSecret != nil && *r.ClientSecret != *first.ClientSecret {
			t.Errorf("request %d: client secret %q, request 0: %q", i, *r.ClientSecret, *first.ClientSecret)
		}
		if r.ClientSecret == nil {
			t.Logf("request %d came back without a client secret", i)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM orders WHERE email = $1`, email); n != 1 {
		t.Errorf("order rows: got %d, want 1", n)
	}
	if n := e.provider.createIntent.Load() - createBefore; n != 1 {
		t.Errorf("CreateIntent calls: got %d, want exactly 1", n)
	}
	e.wantStock(t, p.ID, stock{OnHand: 100, Reserved: 2, Available: 98})

	// The same key with another input is a conflict, and changes nothing.
	_, err := e.svc.Checkout(ctx, build(3))
	if apperr.KindOf(err) != apperr.Conflict {
		t.Errorf("same key, other input: got %v (kind %s), want CONFLICT", err, apperr.KindOf(err))
	}
	if !errors.Is(err, apperr.ErrConflict) {
		t.Errorf("errors.Is(err, apperr.ErrConflict) = false for %v", err)
	}
	e.wantStock(t, p.ID, stock{OnHand: 100, Reserved: 2, Available: 98})
	if n := e.count(t, `SELECT count(*) FROM orders WHERE email = $1`, email); n != 1 {
		t.Errorf("order rows after the conflict: got %d, want 1", n)
	}
}

func TestCheckoutWhenProviderIsDown(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	p := e.product(t, "10.00", 5)
	e.provider.failCreate.Store(true)
	res, err := e.svc.Checkout(ctx, input(line(p, 1)))
	if err != nil {
		t.Fatalf("checkout while the provider is down: %v", err)
	}
	o := res.Order
	if res.ClientSecret != nil || o.PaymentIntentID != nil {
		t.Errorf("got secret %v intent %v, want none while the provider is down", res.ClientSecret, o.PaymentIntentID)
	}
	e.wantStock(t, p.ID, stock{OnHand: 5, Reserved: 1, Available: 4})
	e.wantEvents(t, o.ID, orders.EventPlaced, orders.EventStockReserved)
	if n := e.jobs(t, "payment-intent", o.ID); n != 1 {
		t.Errorf("payment-intent retry jobs: got %d, want 1", n)
	}

	// The retry job creates the intent once the provider is back.
	e.provider.failCreate.Store(false)
	before := e.provider.createIntent.Load()
	if err := e.svc.CreatePaymentIntent(ctx, o.ID); err != nil {
		t.Fatalf("CreatePaymentIntent: %v", err)
	}
	stored := e.byID(t, o.ID)
	if stored.PaymentIntentID == nil || stored.PaymentClientSecret == nil {
		t.Fatalf("after the retry: intent %v secret %v, want both", stored.PaymentIntentID, stored.PaymentClientSecret)
	}
	e.wantEvents(t, o.ID, orders.EventPlaced, orders.EventStockReserved, orders.EventPaymentIntentCreated)
	// Running it again does nothing.
	if err := e.svc.CreatePaymentIntent(ctx, o.ID); err != nil {
		t.Fatalf("CreatePaymentIntent again: %v", err)
	}
	if n := e.provider.createIntent.Load() - before; n != 1 {
		t.Errorf("CreateIntent calls by the retry path: got %d, want 1", n)
	}
	// An unknown order is nothing to do.
	if err := e.svc.CreatePaymentIntent(ctx, "3f2b8a9e-0000-4000-8000-000000000000"); err != nil {
		t.Errorf("CreatePaymentIntent of an unknown order: %v", err)
	}

	// An order that never got an intent times out without asking the provider.
	e.provider.failCreate.Store(true)
	res, err = e.svc.Checkout(ctx, input(line(p, 2)))
	e.provider.failCreate.Store(false)
	if err != nil {
		t.Fatalf("checkout while the provider is down: %v", err)
	}
	gets, cancels := e.provider.getIntent.Load(), e.provider.cancelIntent.Load()
	if recheck, err := e.svc.PaymentTimeout(ctx, res.Order.ID); err != nil || recheck != 0 {
		t.Fatalf("PaymentTimeout: %s, %v", recheck, err)
	}
	if e.provider.getIntent.Load() != gets || e.provider.cancelIntent.Load() != cancels {
		t.Errorf("the provider was asked about an order without an intent")
	}
	wantStatus(t, e.byID(t, res.Order.ID), orders.Cancelled, orders.PaymentPending)
	e.wantStock(t, p.ID, stock{OnHand: 5, Reserved: 1, Available: 4})
	// Nor does the retry job create one for the cancelled order.
	before = e.provider.createIntent.Load()
	if err := e.svc.CreatePaymentIntent(ctx, res.Order.ID); err != nil {
		t.Errorf("CreatePaymentIntent of a cancelled order: %v", err)
	}
	if e.provider.createIntent.Load() != before {
		t.Errorf("an intent was created for a cancelled order")
	}

	// An order cancelled while its intent is being created: the intent is
	// stored (so it is on record) and cancelled at the provider, as the
	// cancellation could not do it, and no secret is handed out.
	e.provider.failCreate.Store(true)
	res, err = e.svc.Checkout(ctx, input(line(p, 1)))
	e.provider.failCreate.Store(false)
	if err != nil {
		t.Fatalf("checkout while the provider is down: %v", err)
	}
	cancelMeanwhile := func() {
		if _, err := e.svc.Cancel(ctx, res.Order.ID, nil); err != nil {
			t.Errorf("cancel during intent creation: %v", err)
		}
	}
	e.provider.beforeCreate.Store(&cancelMeanwhile)
	defer e.provider.beforeCreate.Store(nil)
	cancels = e.provider.cancelIntent.Load()
	if err := e.svc.CreatePaymentIntent(ctx, res.Order.ID); err != nil {
		t.Fatalf("CreatePaymentIntent racing a cancellation: %v", err)
	}
	if n := e.provider.cancelIntent.Load() - cancels; n != 1 {
		t.Errorf("CancelIntent calls for the intent of an order cancelled meanwhile: %d, want 1", n)
	}
	o = e.byID(t, res.Order.ID)
	wantStatus(t, o, orders.Cancelled, orders.PaymentPending)
	if o.PaymentIntentID == nil || o.PayableSecret() != nil {
		t.Errorf("intent %v, payable secret %v; want the intent stored and no secret for a cancelled order", o.PaymentIntentID, o.PayableSecret())
	}
}
