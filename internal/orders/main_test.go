package orders_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/carts"
	"commerce/internal/catalog"
	"commerce/internal/customers"
	"commerce/internal/inventory"
	"commerce/internal/jobs"
	"commerce/internal/money"
	"commerce/internal/notify"
	"commerce/internal/orders"
	"commerce/internal/payments"
	"commerce/internal/payments/paymentstripe"
	"commerce/internal/platform/db"
	"commerce/internal/platform/dbtest"
	"commerce/internal/platform/stripetest"
	"commerce/internal/pricing"
	"commerce/internal/webhooks"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }

// Configuration of the service under test.
const (
	currency       = "USD"
	paymentTimeout = time.Hour
	reminderDelay  = 2 * time.Hour
	reviewDelay    = 168 * time.Hour
	// The reservation limits at their defaults (MAX_UNITS_PER_ORDER,
	// MAX_UNPAID_UNITS), so that every test, the statement budget included,
	// runs the checks production runs.
	maxUnitsPerOrder = 100
	maxUnpaidUnits   = 200
)

// secret is the AUTH_SECRET the order access tokens are signed with.
var secret = []byte("0123456789abcdef0123456789abcdef")

// recordingProvider is the real Stripe provider, talking to a private
// stripe-mock, that counts the calls made to it and can be told to fail
// or to report an intent status.
type recordingProvider struct {
	inner payments.Provider

	ensureCustomer, createIntent, getIntent, cancelIntent, refund atomic.Int64

	failCreate   atomic.Bool                           // CreateIntent fails as if Stripe were down
	beforeCreate atomic.Pointer[func()]                // CreateIntent calls this first when set
	intentStatus atomic.Pointer[payments.IntentStatus] // GetIntent reports this status when set
	lastRefund   atomic.Pointer[refundCall]
	failRefund   atomic.Pointer[error] // Refund returns this error when set
}

type refundCall struct {
	IntentID string
	Amount   *money.Money
	Key      string
}

var errProviderDown = errors.New("stripe is down (injected)")

func (p *recordingProvider) EnsureCustomer(ctx context.Context, c payments.CustomerRequest) (string, error) {
	p.ensureCustomer.Add(1)
	return p.inner.EnsureCustomer(ctx, c)
}

func (p *recordingProvider) CreateIntent(ctx context.Context, r payments.IntentRequest) (payments.Intent, error) {
	p.createIntent.Add(1)
	if f := p.beforeCreate.Load(); f != nil {
		(*f)()
	}
	if p.failCreate.Load() {
		return payments.Intent{}, errProviderDown
	}
	return p.inner.CreateIntent(ctx, r)
}

func (p *recordingProvider) GetIntent(ctx context.Context, id string) (payments.Intent, error) {
	p.getIntent.Add(1)
	in, err := p.inner.GetIntent(ctx, id)
	if s := p.intentStatus.Load(); s != nil && err == nil {
		in.Status = *s
	}
	return in, err
}

func (p *recordingProvider) CancelIntent(ctx context.Context, id string) error {
	p.cancelIntent.Add(1)
	return p.inner.CancelIntent(ctx, id)
}

func (p *recordingProvider) Refund(ctx context.Context, intentID string, amount *money.Money, key string) (payments.Refund, error) {
	p.refund.Add(1)
	p.lastRefund.Store(&refundCall{IntentID: intentID, Amount: amount, Key: key})
	if err := p.failRefund.Load(); err != nil {
		return payments.Refund{}, *err
	}
	return p.inner.Refund(ctx, intentID, amount, key)
}

// env is the order service and everything around it.
type env struct {
	svc      *orders.Service
	db       *db.DB
	catalog  *catalog.Service
	carts    *carts.Service
	provider *recordingProvider
	notify   *notify.Service
	webhooks *webhooks.Service
	inserter *river.Client[*sql.Tx]
}

// setup wires the order service as server.go does, against the package
// database, a private stripe-mock and LogSender senders. Jobs are only
// inserted; tests assert on river_job rows.
func setup(t testing.TB) *env {
	t.Helper()
	return setupWith(t, func(*orders.Config) {})
}

// setupWith is setup with the configuration changed by configure.
func setupWith(t testing.TB, configure func(*orders.Config)) *env {
	t.Helper()
	d := dbtest.DB(t)
	log := slog.New(slog.DiscardHandler)
	inserter, err := jobs.NewInserter(d)
	if err != nil {
		t.Fatalf("jobs.NewInserter: %v", err)
	}
	ns, err := notify.NewService(d, inserter, notify.LogSender{Log: log}, notify.LogSender{Log: log},
		notify.Config{MaxAttempts: 3, RetryBase: time.Second}, log)
	if err != nil {
		t.Fatalf("notify.NewService: %v", err)
	}
	hooks, err := webhooks.NewService(d, inserter, webhooks.Config{
		Timeout: time.Second, MaxAttempts: 3, RetryBase: time.Second, DisableAfter: 5, AllowPrivate: true,
	}, log)
	if err != nil {
		t.Fatalf("webhooks.NewService: %v", err)
	}
	inv := inventory.NewService(d, ns, inventory.Config{})
	cat := catalog.NewService(d, inv.Ledger(), catalog.Config{StoreCurrency: currency})
	cs := carts.NewService(d, cat, ns, inserter, carts.Config{Currency: currency})
	mock := stripetest.Start(t)
	rp := &recordingProvider{inner: paymentstripe.New(paymentstripe.Config{SecretKey: stripetest.SecretKey, APIBase: mock.URL()})}
	cfg := orders.Config{
		Currency: currency,
		Pricing: pricing.Config{
			TaxRate:               pricing.Rate{Num: 10, Den: 100},
			FreeShippingThreshold: money.New(100_00, currency),
			FlatShippingRate:      money.New(10_00, currency),
		},
		PaymentTimeout:      paymentTimeout,
		FulfillmentReminder: reminderDelay,
		ReviewRequest:       reviewDelay,
		AccessSecret:        secret,
		MaxUnitsPerOrder:    maxUnitsPerOrder,
		MaxUnpaidUnits:      maxUnpaidUnits,
	}
	configure(&cfg)
	svc := orders.NewService(orders.Deps{
		DB: d, Ledger: inv.Ledger(), Carts: cs, Provider: rp, Notify: ns, Jobs: inserter, Webhooks: hooks, Log: log,
	}, cfg)
	return &env{svc: svc, db: d, catalog: cat, carts: cs, provider: rp, notify: ns, webhooks: hooks, inserter: inserter}
}

// --- inputs ---

func uniq(prefix string) string { return prefix + "-" + strings.ToLower(rand.Text()[:12]) }

func uniqEmail() string { return uniq("buyer") + "@example.com" }

// account creates a registered customer account and returns its owner
// signed in.
func (e *env) account(t testing.TB) auth.Principal {
	t.Helper()
	var id string
	err := e.db.SQL.QueryRow(`INSERT INTO customers (email, first_name, last_name, password_hash, currency, kind)
		VALUES ($1, 'Account', 'Owner', 'not-a-real-hash', $2, 'ACCOUNT') RETURNING id`, uniqEmail(), currency).
		Scan(&id)
	if err != nil {
		t.Fatalf("create an account: %v", err)
	}
	return auth.Principal{ID: id, Role: auth.Customer}
}

// product creates an active product at price with stock units on hand and
// no low-stock alerts.
func (e *env) product(t testing.TB, price string, stock int) *catalog.Product {
	t.Helper()
	threshold := 0
	p, err := e.catalog.Create(context.Background(), catalog.CreateInput{
		SKU: ptr(uniq("SKU")), Name: uniq("Product"), Price: &price,
		InventoryQuantity: &stock, LowStockThreshold: &threshold,
	})
	if err != nil {
		t.Fatalf("create product at %s with stock %d: %v", price, stock, err)
	}
	return p
}

func ptr[T any](v T) *T { return &v }

func line(p *catalog.Product, q int) orders.LineInput {
	return orders.LineInput{ProductID: ptr(p.ID), Quantity: q}
}

func address() customers.Address {
	return customers.Address{
		FirstName: "Ada", LastName: "Lovelace", Line1: "12 St James's Square", City: "London",
		PostalCode: "SW1Y 4JH", CountryCode: "gb", Phone: ptr("+1 (202) 555-0123"),
	}
}

// input is a valid checkout of lines with a fresh email and key.
func input(lines ...orders.LineInput) orders.CheckoutInput {
	return orders.CheckoutInput{Lines: lines, Email: uniqEmail(), ShippingAddress: address(), IdempotencyKey: uniq("key")}
}

// checkout places an order and fails the test on any error.
func (e *env) checkout(t *testing.T, in orders.CheckoutInput) *orders.CheckoutResult {
	t.Helper()
	res, err := e.svc.Checkout(context.Background(), in)
	if err != nil {
		t.Fatalf("checkout: %v", err)
	}
	if res.Order.PaymentIntentID == nil {
		t.Fatalf("checkout: order %s has no payment intent", res.Order.Number)
	}
	return res
}

// order places an order of q units of p.
func (e *env) order(t *testing.T, p *catalog.Product, q int) *orders.Order {
	t.Helper()
	return e.checkout(t, input(line(p, q))).Order
}

// event is a provider event about o: its intent, its total.
func event(typ payments.EventType, o *orders.Order) payments.Event {
	intent := ""
	if o.PaymentIntentID != nil {
		intent = *o.PaymentIntentID
	}
	return payments.Event{ID: uniq("evt"), Type: typ, IntentID: intent, OrderID: o.ID, OrderNumber: o.Number,
		Amount: o.Total, Created: time.Now()}
}

func (e *env) handle(t *testing.T, ev payments.Event) {
	t.Helper()
	if err := e.svc.HandlePaymentEvent(context.Background(), ev); err != nil {
		t.Fatalf("HandlePaymentEvent(%s %s): %v", ev.Type, ev.ID, err)
	}
}

func (e *env) pay(t *testing.T, o *orders.Order) {
	t.Helper()
	e.handle(t, event(payments.IntentSucceededEvent, o))
}

// --- reads ---

func (e *env) byID(t *testing.T, id string) *orders.Order {
	t.Helper()
	o, err := e.svc.ByID(context.Background(), id)
	if err != nil {
		t.Fatalf("read order %s: %v", id, err)
	}
	return o
}

type stock struct{ OnHand, Reserved, Available int }

func (s stock) String() string {
	return fmt.Sprintf("on hand %d, reserved %d, available %d", s.OnHand, s.Reserved, s.Available)
}

// stock reads the counters of a product's one variant (every product the
// tests make with e.product has exactly one).
func (e *env) stock(t *testing.T, productID string) stock {
	t.Helper()
	var s stock
	var variants int
	err := e.db.SQL.QueryRow(`SELECT coalesce(sum(on_hand), 0), coalesce(sum(reserved), 0), coalesce(sum(available), 0), count(*)
		FROM product_variants WHERE product_id = $1`, productID).
		Scan(&s.OnHand, &s.Reserved, &s.Available, &variants)
	if err != nil || variants != 1 {
		t.Fatalf("read stock of %s: %d variants, %v", productID, variants, err)
	}
	return s
}

func (e *env) wantStock(t *testing.T, productID string, want stock) {
	t.Helper()
	if got := e.stock(t, productID); got != want {
		t.Errorf("stock of product %s: got %v, want %v", productID, got, want)
	}
}

// ledgerSums returns the sum of all ledger rows of the product and the sum
// without RESERVATION and RELEASE rows.
func (e *env) ledgerSums(t *testing.T, productID string) (all, onHand int) {
	t.Helper()
	err := e.db.SQL.QueryRow(`SELECT coalesce(sum(quantity_change), 0),
		coalesce(sum(quantity_change) FILTER (WHERE type NOT IN ('RESERVATION', 'RELEASE')), 0)
		FROM inventory_transactions WHERE product_id = $1`, productID).Scan(&all, &onHand)
	if err != nil {
		t.Fatalf("sum ledger of %s: %v", productID, err)
	}
	return all, onHand
}

// checkLedger asserts the ledger invariants of DESIGN.md for the product.
func (e *env) checkLedger(t *testing.T, productID string) {
	t.Helper()
	s := e.stock(t, productID)
	all, onHand := e.ledgerSums(t, productID)
	if all != s.Available {
		t.Errorf("ledger of %s: sum of all rows %d != available %d", productID, all, s.Available)
	}
	if onHand != s.OnHand {
		t.Errorf("ledger of %s: sum without RESERVATION/RELEASE %d != on hand %d", productID, onHand, s.OnHand)
	}
}

// ledger returns the order's ledger rows as "TYPE qty" in the order written.
func (e *env) ledger(t *testing.T, orderID string) []string {
	t.Helper()
	rows, err := e.db.SQL.Query(`SELECT type, quantity_change FROM inventory_transactions
		WHERE reference_id = $1 ORDER BY seq`, orderID)
	if err != nil {
		t.Fatalf("read ledger of order %s: %v", orderID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var typ string
		var q int
		if err := rows.Scan(&typ, &q); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %+d", typ, q))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (e *env) wantLedger(t *testing.T, orderID string, want ...string) {
	t.Helper()
	if got := e.ledger(t, orderID); !slices.Equal(got, want) {
		t.Errorf("ledger rows of order %s:\n got %q\nwant %q", orderID, got, want)
	}
}

func (e *env) events(t *testing.T, orderID string) []string {
	t.Helper()
	evs, err := e.svc.Events(context.Background(), []string{orderID})
	if err != nil {
		t.Fatalf("events of %s: %v", orderID, err)
	}
	var out []string
	for _, ev := range evs[0] {
		out = append(out, ev.Type)
	}
	return out
}

func (e *env) wantEvents(t *testing.T, orderID string, want ...string) {
	t.Helper()
	if got := e.events(t, orderID); !slices.Equal(got, want) {
		t.Errorf("events of order %s:\n got %v\nwant %v", orderID, got, want)
	}
}

func count(evs []string, typ string) int {
	n := 0
	for _, e := range evs {
		if e == typ {
			n++
		}
	}
	return n
}

func (e *env) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.SQL.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// jobs counts the River jobs of kind about the order.
func (e *env) jobs(t *testing.T, kind, orderID string) int {
	t.Helper()
	return e.count(t, `SELECT count(*) FROM river_job WHERE kind = $1 AND args->>'order_id' = $2`, kind, orderID)
}

// jobDelay is how far after its creation the job of kind about the order
// is scheduled.
func (e *env) jobDelay(t *testing.T, kind, orderID string) time.Duration {
	t.Helper()
	var secs float64
	err := e.db.SQL.QueryRow(`SELECT extract(epoch FROM scheduled_at - created_at) FROM river_job
		WHERE kind = $1 AND args->>'order_id' = $2`, kind, orderID).Scan(&secs)
	if err != nil {
		t.Fatalf("read %s job of %s: %v", kind, orderID, err)
	}
	return time.Duration(secs * float64(time.Second))
}

func (e *env) wantJobDelay(t *testing.T, kind, orderID string, want time.Duration) {
	t.Helper()
	if got := e.jobDelay(t, kind, orderID); got < want-time.Minute || got > want+time.Minute {
		t.Errorf("%s job of order %s scheduled %s after creation, want about %s", kind, orderID, got, want)
	}
}

// notifications counts the notifications of template about the order.
func (e *env) notifications(t *testing.T, template string, o *orders.Order) int {
	t.Helper()
	return e.count(t, `SELECT count(*) FROM notifications WHERE template = $1 AND data->>'order_number' = $2`,
		template, o.Number)
}

type customerRow struct {
	ID, FirstName, LastName string
	Phone                   *string
	TotalOrders             int
	TotalSpent              int64
}

func (e *env) customer(t *testing.T, email string) customerRow {
	t.Helper()
	var c customerRow
	err := e.db.SQL.QueryRow(`SELECT id, first_name, last_name, phone, total_orders, total_spent
		FROM customers WHERE email = $1`, strings.ToLower(email)).
		Scan(&c.ID, &c.FirstName, &c.LastName, &c.Phone, &c.TotalOrders, &c.TotalSpent)
	if err != nil {
		t.Fatalf("read customer %s: %v", email, err)
	}
	return c
}

// token is the access token DESIGN.md defines, computed independently.
func token(orderID string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("order:" + orderID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// --- errors ---

// userErrors renders err's userErrors as sorted "KIND a.b.c" strings, or
// fails the test when err carries none.
func userErrors(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		t.Fatal("got no error, want userErrors")
	}
	list, ok := apperr.UserErrors(err)
	if !ok {
		t.Fatalf("got %v (%T), want userErrors", err, err)
	}
	out := make([]string, len(list))
	for i, e := range list {
		out[i] = e.UserCode() + " " + strings.Join(e.Field, ".")
	}
	sort.Strings(out)
	return out
}

func wantUserErrors(t *testing.T, err error, want ...string) {
	t.Helper()
	got := userErrors(t, err)
	want = slices.Clone(want)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("userErrors:\n got %q\nwant %q\n(error: %v)", got, want, err)
	}
}
