package carts_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/carts"
	"commerce/internal/catalog"
	"commerce/internal/inventory"
	"commerce/internal/jobs"
	"commerce/internal/money"
	"commerce/internal/notify"
	"commerce/internal/platform/db"
	"commerce/internal/platform/dbtest"
	"commerce/internal/pricing"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }

type testBundle struct {
	db      *db.DB
	catalog *catalog.Service
	lookup  *countingLookup
	now     time.Time // the carts' clock
}

// countingLookup counts ForSale calls and hides the products in hidden,
// with their variants, as if they had vanished.
type countingLookup struct {
	*catalog.Service
	mu      sync.Mutex
	forSale int
	hidden  map[string]bool
}

func (l *countingLookup) ForSale(ctx context.Context, refs []catalog.LineRef) ([]catalog.SaleVariant, error) {
	l.mu.Lock()
	l.forSale++
	l.mu.Unlock()
	vs, err := l.Service.ForSale(ctx, refs)
	return slices.DeleteFunc(vs, func(v catalog.SaleVariant) bool { return l.hidden[v.ProductID] }), err
}

// reminderWait is the abandoned-cart delay of the tests' service.
const reminderWait = 24 * time.Hour

// setup returns a cart service that schedules abandoned-cart reminders
// reminderWait after b.now and queues them through a real notify service
// (jobs go to the River tables; no worker runs them).
func setup(t *testing.T) (*carts.Service, *testBundle) {
	t.Helper()
	d := dbtest.DB(t)
	inserter, err := jobs.NewInserter(d)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	notifier, err := notify.NewService(d, inserter, notify.LogSender{Log: log}, notify.LogSender{Log: log},
		notify.Config{MaxAttempts: 3, RetryBase: time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	cat := catalog.NewService(d, inventory.NewService(d, nil, inventory.Config{}).Ledger(), catalog.Config{StoreCurrency: "USD"})
	b := &testBundle{db: d, catalog: cat, lookup: &countingLookup{Service: cat, hidden: map[string]bool{}},
		now: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	svc := carts.NewService(d, b.lookup, notifier, inserter, carts.Config{
		Currency: "USD", AbandonedCartWait: reminderWait, StorefrontURL: "https://shop.example.com/",
		Now: func() time.Time { return b.now },
	})
	return svc, b
}

func ptr[T any](v T) *T { return &v }

// newProduct creates a product at price (in USD unless currency is given).
func newProduct(t *testing.T, b *testBundle, price string, mod ...func(*catalog.CreateInput)) *catalog.Product {
	t.Helper()
	u := strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	in := catalog.CreateInput{SKU: ptr("CART-" + u), Name: "Cart item " + u, Price: ptr(price)}
	for _, f := range mod {
		f(&in)
	}
	p, err := b.catalog.Create(context.Background(), in)
	if err != nil {
		t.Fatalf("create product: %v", err)
	}
	return p
}

func byID(p *catalog.Product, qty int) carts.LineInput {
	return carts.LineInput{ProductID: ptr(p.ID), Quantity: qty}
}

func bySKU(sku string, qty int) carts.LineInput {
	return carts.LineInput{SKU: ptr(sku), Quantity: qty}
}

func mustCreate(t *testing.T, svc *carts.Service, lines ...carts.LineInput) *carts.Cart {
	t.Helper()
	c, err := svc.Create(context.Background(), lines, nil, nil)
	if err != nil {
		t.Fatalf("create cart: %v", err)
	}
	return c
}

// contents describes a cart's lines as "productID×qty" in order.
func contents(c *carts.Cart) []string {
	out := make([]string, len(c.Lines))
	for i, l := range c.Lines {
		out[i] = fmt.Sprintf("%s×%d", l.ProductID, l.Quantity)
	}
	return out
}

func wantContents(t *testing.T, c *carts.Cart, want ...string) {
	t.Helper()
	if got := contents(c); !slices.Equal(got, want) {
		t.Fatalf("lines = %v, want %v", got, want)
	}
}

func line(p *catalog.Product, qty int) string { return fmt.Sprintf("%s×%d", p.ID, qty) }

// stored is what the database holds for a cart: its lines, email and
// updated_at, so that a test can tell that nothing was written.
func stored(t *testing.T, svc *carts.Service, id string) string {
	t.Helper()
	c, err := svc.ByID(context.Background(), id)
	if err != nil {
		t.Fatalf("load cart: %v", err)
	}
	email := "<nil>"
	if c.Email != nil {
		email = *c.Email
	}
	return fmt.Sprintf("%v %s %s %s", contents(c), email, c.Status, c.UpdatedAt)
}

func cartCount(t *testing.T, b *testBundle) int {
	t.Helper()
	var n int
	if err := b.db.Bun.QueryRowContext(context.Background(), "SELECT count(*) FROM carts").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// wantUserErrors checks that err is exactly the listed userErrors, given
// as "KIND path.to.field" (or "CODE path" for a code other than the kind's).
func wantUserErrors(t *testing.T, err error, want ...string) {
	t.Helper()
	list, ok := apperr.UserErrors(err)
	if !ok {
		t.Fatalf("want userErrors %v, got %v", want, err)
	}
	got := make([]string, len(list))
	for i, e := range list {
		got[i] = e.UserCode() + " " + strings.Join(e.Field, ".")
	}
	if !slices.Equal(got, want) {
		t.Fatalf("userErrors = %q, want %q (%v)", got, want, err)
	}
}

func TestCreate(t *testing.T) {
	svc, b := setup(t)
	mug := newProduct(t, b, "12.50")
	tea := newProduct(t, b, "60.00")

	tests := []struct {
		name      string
		lines     []carts.LineInput
		email     *string
		wantLines []string
		wantEmail *string
	}{
		{name: "no lines", wantLines: []string{}},
		{name: "by id", lines: []carts.LineInput{byID(mug, 2), byID(tea, 1)}, wantLines: []string{line(mug, 2), line(tea, 1)}},
		{name: "by sku, any case", lines: []carts.LineInput{bySKU(strings.ToLower(tea.SKU), 3)}, wantLines: []string{line(tea, 3)}},
		{name: "uppercase id", lines: []carts.LineInput{{ProductID: ptr(strings.ToUpper(mug.ID)), Quantity: 1}}, wantLines: []string{line(mug, 1)}},
		{name: "same product twice merges", lines: []carts.LineInput{byID(mug, 2), byID(tea, 1), bySKU(mug.SKU, 3)},
			wantLines: []string{line(mug, 5), line(tea, 1)}},
		{name: "email normalised", email: ptr("  Ann@Example.COM "), wantLines: []string{}, wantEmail: ptr("ann@example.com")},
		{name: "blank email is none", email: ptr("  "), wantLines: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := svc.Create(context.Background(), tt.lines, tt.email, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := uuid.Parse(c.ID); err != nil || c.Currency != "USD" || c.Status != carts.StatusActive {
				t.Fatalf("cart = %+v", c)
			}
			wantContents(t, c, tt.wantLines...)
			if (c.Email == nil) != (tt.wantEmail == nil) || c.Email != nil && *c.Email != *tt.wantEmail {
				t.Fatalf("email = %v, want %v", c.Email, tt.wantEmail)
			}
			again, err := svc.ByID(context.Background(), c.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantContents(t, again, tt.wantLines...)
		})
	}
}

func TestCreateValidation(t *testing.T) {
	svc, b := setup(t)
	mug := newProduct(t, b, "12.50")
	archived := newProduct(t, b, "5.00", func(in *catalog.CreateInput) { in.IsActive = ptr(false) })
	euro := newProduct(t, b, "5.00", func(in *catalog.CreateInput) { in.CurrencyCode = ptr("EUR") })
	tooMany := make([]carts.LineInput, carts.MaxLinesPerRequest+1)
	for i := range tooMany {
		tooMany[i] = byID(mug, 1)
	}

	tests := []struct {
		name  string
		lines []carts.LineInput
		email *string
		want  []string
	}{
		{name: "quantity 0", lines: []carts.LineInput{byID(mug, 1), byID(mug, 0)}, want: []string{"INVALID lines.1.quantity"}},
		{name: "quantity 1001", lines: []carts.LineInput{byID(mug, 1001)}, want: []string{"INVALID lines.0.quantity"}},
		{name: "neither id nor sku", lines: []carts.LineInput{{Quantity: 1}}, want: []string{"INVALID lines.0.productId"}},
		{name: "both id and sku", lines: []carts.LineInput{{ProductID: ptr(mug.ID), SKU: ptr(mug.SKU), Quantity: 1}},
			want: []string{"INVALID lines.0.productId"}},
		{name: "unknown id", lines: []carts.LineInput{byID(mug, 1), {ProductID: ptr(uuid.NewString()), Quantity: 1}},
			want: []string{"NOT_FOUND lines.1.productId"}},
		{name: "malformed id", lines: []carts.LineInput{{ProductID: ptr("nope"), Quantity: 1}}, want: []string{"NOT_FOUND lines.0.productId"}},
		{name: "unknown sku", lines: []carts.LineInput{bySKU("NO-SUCH-SKU", 1)}, want: []string{"NOT_FOUND lines.0.sku"}},
		{name: "inactive product", lines: []carts.LineInput{bySKU(archived.SKU, 1), byID(archived, 1)},
			want: []string{"NOT_FOUND lines.0.sku", "NOT_FOUND lines.1.productId"}},
		{name: "foreign currency", lines: []carts.LineInput{byID(euro, 1), bySKU(euro.SKU, 1)},
			want: []string{"INVALID lines.0.productId", "INVALID lines.1.sku"}},
		{name: "bad email", email: ptr("not-an-email"), want: []string{"INVALID email"}},
		{name: "too many lines", lines: tooMany, want: []string{"INVALID lines"}},
		{name: "same product over 1000", lines: []carts.LineInput{byID(mug, 600), bySKU(mug.SKU, 401)},
			want: []string{"INVALID lines.1.quantity"}},
		{name: "every problem at once", email: ptr("x@"),
			lines: []carts.LineInput{byID(mug, 0), {Quantity: 1}, bySKU("NO-SUCH-SKU", 2), byID(euro, 1)},
			want: []string{"INVALID email", "INVALID lines.0.quantity", "INVALID lines.1.productId",
				"NOT_FOUND lines.2.sku", "INVALID lines.3.productId"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := cartCount(t, b)
			c, err := svc.Create(context.Background(), tt.lines, tt.email, nil)
			if c != nil {
				t.Fatalf("got a cart %+v", c)
			}
			wantUserErrors(t, err, tt.want...)
			if after := cartCount(t, b); after != before {
				t.Fatalf("carts %d -> %d: something was written", before, after)
			}
		})
	}
}

func TestAddLines(t *testing.T) {
	svc, b := setup(t)
	mug := newProduct(t, b, "12.50", func(in *catalog.CreateInput) { in.InventoryQuantity = ptr(1) })
	tea := newProduct(t, b, "60.00")
	ctx := context.Background()

	t.Run("adds to the product's line", func(t *testing.T) {
		c := mustCreate(t, svc, byID(mug, 2))
		after, err := svc.AddLines(ctx, c.ID, []carts.LineInput{byID(tea, 1), bySKU(mug.SKU, 3)})
		if err != nil {
			t.Fatal(err)
		}
		wantContents(t, after, line(mug, 5), line(tea, 1))
		if after.Lines[0].ID != c.Lines[0].ID {
			t.Fatalf("line id changed: %s -> %s", c.Lines[0].ID, after.Lines[0].ID)
		}
		if !after.UpdatedAt.After(c.UpdatedAt) {
			t.Fatalf("updated_at not touched: %s -> %s", c.UpdatedAt, after.UpdatedAt)
		}
	})
	t.Run("more than in stock is allowed", func(t *testing.T) {
		c := mustCreate(t, svc)
		after, err := svc.AddLines(ctx, c.ID, []carts.LineInput{byID(mug, 50)})
		if err != nil {
			t.Fatal(err)
		}
		wantContents(t, after, line(mug, 50))
	})

	full := make([]carts.LineInput, carts.MaxLinesPerCart)
	for i := range full {
		full[i] = byID(newProduct(t, b, "1.00"), 1)
	}
	tests := []struct {
		name   string
		start  []carts.LineInput
		cartID func(c *carts.Cart) string
		lines  []carts.LineInput
		want   []string
	}{
		{name: "sum over 1000", start: []carts.LineInput{byID(mug, 999)}, lines: []carts.LineInput{byID(tea, 1), byID(mug, 2)},
			want: []string{"INVALID lines.1.quantity"}},
		{name: "sum over 1000 across request lines", start: []carts.LineInput{byID(mug, 500)},
			lines: []carts.LineInput{bySKU(mug.SKU, 500), byID(mug, 1)}, want: []string{"INVALID lines.1.quantity"}},
		{name: "bad lines", start: []carts.LineInput{byID(mug, 1)},
			lines: []carts.LineInput{byID(tea, 1), bySKU("NO-SUCH-SKU", 1), {Quantity: 0}},
			want:  []string{"NOT_FOUND lines.1.sku", "INVALID lines.2.quantity", "INVALID lines.2.productId"}},
		{name: "cart holds 100 products", start: full, lines: []carts.LineInput{byID(tea, 1)}, want: []string{"INVALID lines"}},
		{name: "a product already in a full cart is fine", start: full, lines: []carts.LineInput{full[0]}},
		{name: "unknown cart", cartID: func(*carts.Cart) string { return uuid.NewString() }, lines: []carts.LineInput{byID(tea, 1)},
			want: []string{"NOT_FOUND cartId"}},
		{name: "malformed cart id", cartID: func(*carts.Cart) string { return "cart-1" }, lines: []carts.LineInput{byID(tea, 1)},
			want: []string{"NOT_FOUND cartId"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustCreate(t, svc, tt.start...)
			id := c.ID
			if tt.cartID != nil {
				id = tt.cartID(c)
			}
			before := stored(t, svc, c.ID)
			_, err := svc.AddLines(ctx, id, tt.lines)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantUserErrors(t, err, tt.want...)
			if after := stored(t, svc, c.ID); after != before {
				t.Fatalf("cart changed:\n%s\n%s", before, after)
			}
		})
	}
}

func TestUpdateLines(t *testing.T) {
	svc, b := setup(t)
	mug := newProduct(t, b, "12.50")
	tea := newProduct(t, b, "60.00")
	ctx := context.Background()
	other := mustCreate(t, svc, byID(mug, 1))

	tests := []struct {
		name    string
		updates func(c *carts.Cart) []carts.LineUpdate
		want    []string // lines after, when no error
		errs    []string
	}{
		{name: "set quantities", updates: func(c *carts.Cart) []carts.LineUpdate {
			return []carts.LineUpdate{{ID: c.Lines[0].ID, Quantity: 7}, {ID: strings.ToUpper(c.Lines[1].ID), Quantity: 1000}}
		}, want: []string{line(mug, 7), line(tea, 1000)}},
		{name: "0 removes", updates: func(c *carts.Cart) []carts.LineUpdate {
			return []carts.LineUpdate{{ID: c.Lines[0].ID, Quantity: 0}, {ID: c.Lines[1].ID, Quantity: 4}}
		}, want: []string{line(tea, 4)}},
		{name: "unknown, malformed and foreign line ids", updates: func(c *carts.Cart) []carts.LineUpdate {
			return []carts.LineUpdate{{ID: c.Lines[0].ID, Quantity: 3}, {ID: uuid.NewString(), Quantity: 1},
				{ID: "x", Quantity: 1}, {ID: other.Lines[0].ID, Quantity: 1}}
		}, errs: []string{"NOT_FOUND lines.1.id", "NOT_FOUND lines.2.id", "NOT_FOUND lines.3.id"}},
		{name: "bad quantities", updates: func(c *carts.Cart) []carts.LineUpdate {
			return []carts.LineUpdate{{ID: c.Lines[0].ID, Quantity: -1}, {ID: c.Lines[1].ID, Quantity: 1001}}
		}, errs: []string{"INVALID lines.0.quantity", "INVALID lines.1.quantity"}},
		{name: "line twice", updates: func(c *carts.Cart) []carts.LineUpdate {
			return []carts.LineUpdate{{ID: c.Lines[0].ID, Quantity: 1}, {ID: c.Lines[0].ID, Quantity: 0}}
		}, errs: []string{"INVALID lines.1.id"}},
		{name: "too many", updates: func(c *carts.Cart) []carts.LineUpdate {
			return slices.Repeat([]carts.LineUpdate{{ID: c.Lines[0].ID, Quantity: 1}}, carts.MaxLinesPerRequest+1)
		}, errs: []string{"INVALID lines"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustCreate(t, svc, byID(mug, 2), byID(tea, 1))
			before := stored(t, svc, c.ID)
			after, err := svc.UpdateLines(ctx, c.ID, tt.updates(c))
			if tt.errs != nil {
				wantUserErrors(t, err, tt.errs...)
				if now := stored(t, svc, c.ID); now != before {
					t.Fatalf("cart changed:\n%s\n%s", before, now)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantContents(t, after, tt.want...)
		})
	}
	_, err := svc.UpdateLines(ctx, uuid.NewString(), nil)
	wantUserErrors(t, err, "NOT_FOUND cartId")
}

func TestRemoveLines(t *testing.T) {
	svc, b := setup(t)
	mug := newProduct(t, b, "12.50")
	tea := newProduct(t, b, "60.00")
	ctx := context.Background()

	c := mustCreate(t, svc, byID(mug, 2), byID(tea, 1))
	before := stored(t, svc, c.ID)
	_, err := svc.RemoveLines(ctx, c.ID, []string{c.Lines[0].ID, uuid.NewString(), "bad"})
	wantUserErrors(t, err, "NOT_FOUND lineIds.1", "NOT_FOUND lineIds.2")
	if now := stored(t, svc, c.ID); now != before {
		t.Fatalf("cart changed:\n%s\n%s", before, now)
	}

	after, err := svc.RemoveLines(ctx, c.ID, []string{c.Lines[0].ID, c.Lines[0].ID})
	if err != nil {
		t.Fatal(err)
	}
	wantContents(t, after, line(tea, 1))

	_, err = svc.RemoveLines(ctx, "nope", []string{c.Lines[1].ID})
	wantUserErrors(t, err, "NOT_FOUND cartId")
}

func TestUpdateEmail(t *testing.T) {
	svc, _ := setup(t)
	ctx := context.Background()
	c := mustCreate(t, svc)

	tests := []struct {
		name, cartID, email, want string
		errs                      []string
	}{
		{name: "normalised", cartID: c.ID, email: " Bob@Example.org", want: "bob@example.org"},
		{name: "replaced", cartID: c.ID, email: "carol@example.org", want: "carol@example.org"},
		{name: "invalid", cartID: c.ID, email: "bob at example", errs: []string{"INVALID email"}},
		{name: "empty", cartID: c.ID, email: "", errs: []string{"INVALID email"}},
		{name: "unknown cart", cartID: uuid.NewString(), email: "bob@example.org", errs: []string{"NOT_FOUND cartId"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := stored(t, svc, c.ID)
			got, err := svc.UpdateEmail(ctx, tt.cartID, tt.email, nil)
			if tt.errs != nil {
				wantUserErrors(t, err, tt.errs...)
				if now := stored(t, svc, c.ID); now != before {
					t.Fatalf("cart changed:\n%s\n%s", before, now)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Email == nil || *got.Email != tt.want {
				t.Fatalf("email = %v, want %s", got.Email, tt.want)
			}
		})
	}
}

func TestByIDNotFound(t *testing.T) {
	svc, _ := setup(t)
	for _, id := range []string{uuid.NewString(), "not-a-uuid", ""} {
		_, err := svc.ByID(context.Background(), id)
		var e *apperr.Error
		if !errors.As(err, &e) || e.Kind != apperr.NotFound || e.Field != nil {
			t.Fatalf("ByID(%q) = %v, want a NotFound error without field", id, err)
		}
	}
}

func TestCompletedCartRefusesChanges(t *testing.T) {
	svc, b := setup(t)
	mug := newProduct(t, b, "12.50")
	ctx := context.Background()
	c := mustCreate(t, svc, byID(mug, 2))
	orderID := uuid.NewString()

	complete := func() error {
		return b.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			was, err := svc.Complete(ctx, tx, c.ID, orderID)
			if err == nil && was.Status != carts.StatusActive {
				t.Errorf("Complete returned the cart as %s, want it as it was (ACTIVE)", was.Status)
			}
			return err
		})
	}
	if err := complete(); err != nil {
		t.Fatal(err)
	}
	before := stored(t, svc, c.ID)

	changes := map[string]func() error{
		"add": func() error { _, err := svc.AddLines(ctx, c.ID, []carts.LineInput{byID(mug, 1)}); return err },
		"update": func() error {
			_, err := svc.UpdateLines(ctx, c.ID, []carts.LineUpdate{{ID: c.Lines[0].ID, Quantity: 1}})
			return err
		},
		"remove":         func() error { _, err := svc.RemoveLines(ctx, c.ID, []string{c.Lines[0].ID}); return err },
		"email":          func() error { _, err := svc.UpdateEmail(ctx, c.ID, "a@example.com", nil); return err },
		"complete again": complete,
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			err := change()
			wantUserErrors(t, err, "CART_COMPLETED cartId")
			if !carts.IsCompleted(err) || apperr.KindOf(err) != apperr.Invalid {
				t.Fatalf("IsCompleted(%v) = false", err)
			}
			if now := stored(t, svc, c.ID); now != before {
				t.Fatalf("cart changed:\n%s\n%s", before, now)
			}
		})
	}
	got, err := svc.ByID(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != carts.StatusCompleted || got.CompletedOrderID == nil || *got.CompletedOrderID != orderID {
		t.Fatalf("cart = %+v", got)
	}
	err = b.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		_, err := svc.Complete(ctx, tx, uuid.NewString(), orderID)
		return err
	})
	wantUserErrors(t, err, "NOT_FOUND cartId")
}

func TestPrice(t *testing.T) {
	svc, b := setup(t)
	mug := newProduct(t, b, "12.50")
	tea := newProduct(t, b, "60.00")
	gone := newProduct(t, b, "99.00")
	usd := func(s string) money.Money {
		m, err := money.Parse(s, "USD")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	cfg := pricing.Config{TaxRate: pricing.Rate{Num: 1, Den: 10}, FreeShippingThreshold: usd("100.00"), FlatShippingRate: usd("10.00")}

	c := mustCreate(t, svc, byID(mug, 2), byID(gone, 1), byID(tea, 1))
	b.lookup.hidden[gone.ID] = true
	calls := b.lookup.forSale
	p, err := svc.Price(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := b.lookup.forSale - calls; n != 1 {
		t.Fatalf("ForSale called %d times, want 1", n)
	}
	if len(p.Lines) != 2 || p.Lines[0].ProductID != mug.ID || p.Lines[1].ProductID != tea.ID {
		t.Fatalf("priced lines = %+v", p.Lines)
	}
	if p.Lines[0].UnitPrice != usd("12.50") || p.Lines[0].LineTotal != usd("25.00") || p.Lines[1].LineTotal != usd("60.00") ||
		p.Lines[0].Variant.ProductID != mug.ID || p.Lines[0].Variant.SKU != mug.SKU || p.Lines[0].VariantID != p.Lines[0].Variant.ID {
		t.Fatalf("priced lines = %+v", p.Lines)
	}
	want := pricing.Totals{Subtotal: usd("85.00"), Discount: usd("0.00"), Tax: usd("8.50"), Shipping: usd("10.00"), Total: usd("103.50")}
	if p.Totals != want {
		t.Fatalf("totals = %+v, want %+v", p.Totals, want)
	}
}

func TestConcurrentAddLines(t *testing.T) {
	svc, b := setup(t)
	mug := newProduct(t, b, "12.50")
	c := mustCreate(t, svc)

	const n = 10
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := svc.AddLines(context.Background(), c.ID, []carts.LineInput{byID(mug, 3)})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := svc.ByID(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantContents(t, got, line(mug, 3*n))
}

// variantsOf returns a product's variants (inactive ones too) by title.
func variantsOf(t *testing.T, b *testBundle, p *catalog.Product) map[string]*catalog.Variant {
	t.Helper()
	vs, err := b.catalog.VariantsByProductIDs(context.Background(), []string{p.ID}, true)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*catalog.Variant{}
	for _, v := range vs[p.ID] {
		out[v.Title] = v
	}
	return out
}

func TestVariantLines(t *testing.T) {
	svc, b := setup(t)
	ctx := context.Background()
	u := strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	shirt, err := b.catalog.Create(ctx, catalog.CreateInput{Name: "Shirt " + u,
		Options: []catalog.OptionInput{{Name: "Color", Values: []string{"Red", "Blue", "Green"}}},
		Variants: []catalog.VariantInput{
			{SKU: "RED-" + u, Price: "10.00", SelectedOptions: []catalog.SelectedOption{{Name: "Color", Value: "Red"}}},
			{SKU: "BLUE-" + u, Price: "12.00", SelectedOptions: []catalog.SelectedOption{{Name: "Color", Value: "Blue"}}},
			{SKU: "GREEN-" + u, Price: "12.00", IsActive: ptr(false),
				SelectedOptions: []catalog.SelectedOption{{Name: "Color", Value: "Green"}}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	v := variantsOf(t, b, shirt)
	red, blue, green := v["Red"], v["Blue"], v["Green"]
	byVariant := func(v *catalog.Variant, qty int) carts.LineInput {
		return carts.LineInput{VariantID: ptr(v.ID), Quantity: qty}
	}
	variantLines := func(c *carts.Cart) []string {
		out := make([]string, len(c.Lines))
		for i, l := range c.Lines {
			if l.ProductID != shirt.ID {
				t.Fatalf("line %+v of another product", l)
			}
			out[i] = fmt.Sprintf("%s×%d", l.VariantID, l.Quantity)
		}
		return out
	}

	// One line per variant: the same variant by id or sku adds to its
	// line, two variants of one product are two lines.
	c := mustCreate(t, svc, byVariant(red, 2), bySKU(strings.ToLower(blue.SKU), 1), byVariant(red, 1))
	want := []string{red.ID + "×3", blue.ID + "×1"}
	if got := variantLines(c); !slices.Equal(got, want) {
		t.Fatalf("lines = %v, want %v", got, want)
	}
	c, err = svc.AddLines(ctx, c.ID, []carts.LineInput{bySKU(red.SKU, 4), {VariantID: ptr(strings.ToUpper(blue.ID)), Quantity: 1}})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{red.ID + "×7", blue.ID + "×2"}
	if got := variantLines(c); !slices.Equal(got, want) {
		t.Fatalf("lines after adding = %v, want %v", got, want)
	}
	p, err := svc.Price(ctx, c, pricing.Config{TaxRate: pricing.Rate{Num: 0, Den: 1}, FreeShippingThreshold: money.Zero("USD"), FlatShippingRate: money.Zero("USD")})
	if err != nil || p.Totals.Subtotal.Amount != 7*1000+2*1200 {
		t.Fatalf("priced %+v, %v: want each variant at its own price", p.Totals, err)
	}

	refused := []struct {
		name  string
		lines []carts.LineInput
		want  []string
	}{
		{"product with several active variants", []carts.LineInput{byID(shirt, 1)}, []string{"VARIANT_REQUIRED lines.0.productId"}},
		{"inactive variant by id", []carts.LineInput{byVariant(red, 1), byVariant(green, 1)}, []string{"NOT_FOUND lines.1.variantId"}},
		{"inactive variant by sku", []carts.LineInput{bySKU(green.SKU, 1)}, []string{"NOT_FOUND lines.0.sku"}},
		{"unknown variant", []carts.LineInput{{VariantID: ptr(uuid.NewString()), Quantity: 1}}, []string{"NOT_FOUND lines.0.variantId"}},
		{"malformed variant id", []carts.LineInput{{VariantID: ptr("red"), Quantity: 1}}, []string{"NOT_FOUND lines.0.variantId"}},
		{"a product id given as variant id", []carts.LineInput{{VariantID: ptr(shirt.ID), Quantity: 1}}, []string{"NOT_FOUND lines.0.variantId"}},
		{"variant and sku", []carts.LineInput{{VariantID: ptr(red.ID), SKU: ptr(red.SKU), Quantity: 1}}, []string{"INVALID lines.0.productId"}},
		{"variant and product", []carts.LineInput{{VariantID: ptr(red.ID), ProductID: ptr(shirt.ID), Quantity: 1}}, []string{"INVALID lines.0.productId"}},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			before := stored(t, svc, c.ID)
			_, err := svc.AddLines(ctx, c.ID, tt.lines)
			wantUserErrors(t, err, tt.want...)
			if after := stored(t, svc, c.ID); after != before {
				t.Fatalf("cart changed:\n%s\n%s", before, after)
			}
		})
	}

	// With one active variant left, the product's id names it.
	if _, _, err := b.catalog.ArchiveVariant(ctx, blue.ID); err != nil {
		t.Fatal(err)
	}
	byProduct := mustCreate(t, svc, byID(shirt, 2))
	if got := variantLines(byProduct); !slices.Equal(got, []string{red.ID + "×2"}) {
		t.Fatalf("lines by product = %v, want the red variant's", got)
	}
}
