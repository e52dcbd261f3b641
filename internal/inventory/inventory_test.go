package inventory_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/inventory"
	"commerce/internal/notify"
	"commerce/internal/platform/db"
	"commerce/internal/platform/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }

// recordingNotifier records the messages enqueued through it.
type recordingNotifier struct {
	mu   sync.Mutex
	msgs []notify.Message
}

func (n *recordingNotifier) Enqueue(_ context.Context, _ bun.Tx, m notify.Message) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.msgs = append(n.msgs, m)
	return nil
}

func (n *recordingNotifier) messages() []notify.Message {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.msgs)
}

var _ inventory.Notifier = (*recordingNotifier)(nil)

type testBundle struct {
	db       *db.DB
	notifier *recordingNotifier
}

func setup(t *testing.T) (*inventory.Service, *testBundle) {
	t.Helper()
	b := &testBundle{db: dbtest.DB(t), notifier: &recordingNotifier{}}
	return inventory.NewService(b.db, b.notifier, inventory.Config{LowStockEmail: "stock@example.com"}), b
}

// newProduct inserts a product with one default variant and no stock, and
// returns the ids of the product and of its variant.
func newProduct(t *testing.T, b *testBundle, threshold int) (productID, variantID string) {
	t.Helper()
	sku := "SKU-" + uuid.NewString()
	err := b.db.Bun.QueryRowContext(context.Background(), `
		WITH p AS (INSERT INTO products (handle, name, currency, price)
		           VALUES (?, ?, 'USD', 1000) RETURNING id)
		INSERT INTO product_variants (product_id, sku, title, currency, price, low_stock_threshold, position)
		SELECT id, ?, 'Default', 'USD', 1000, ?, 0 FROM p RETURNING product_id, id`,
		strings.ToLower(sku), "Test "+sku, sku, threshold).Scan(&productID, &variantID)
	if err != nil {
		t.Fatal(err)
	}
	return productID, variantID
}

// addVariant inserts another variant of a product, with no stock, and
// returns its id.
func addVariant(t *testing.T, b *testBundle, productID string, active bool) string {
	t.Helper()
	sku := "SKU-" + uuid.NewString()
	var id string
	err := b.db.Bun.QueryRowContext(context.Background(), `
		INSERT INTO product_variants (product_id, sku, title, option_key, currency, price, position, is_active)
		SELECT ?, ?, ?, ?, 'USD', 1000, count(*), ? FROM product_variants WHERE product_id = ?
		RETURNING id`, productID, sku, sku, sku, active, productID).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

type stock struct{ onHand, reserved, available int }

// stockOf reads a variant's counters.
func stockOf(t *testing.T, b *testBundle, variantID string) stock {
	t.Helper()
	var s stock
	err := b.db.Bun.QueryRowContext(context.Background(),
		"SELECT on_hand, reserved, available FROM product_variants WHERE id = ?", variantID).Scan(&s.onHand, &s.reserved, &s.available)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkLedger asserts both ledger invariants against the variant's counters.
func checkLedger(t *testing.T, b *testBundle, id string) {
	t.Helper()
	var all, physical int
	err := b.db.Bun.QueryRowContext(context.Background(), `
		SELECT coalesce(sum(quantity_change), 0),
		       coalesce(sum(quantity_change) FILTER (WHERE type NOT IN ('RESERVATION', 'RELEASE')), 0)
		FROM inventory_transactions WHERE variant_id = ?`, id).Scan(&all, &physical)
	if err != nil {
		t.Fatal(err)
	}
	s := stockOf(t, b, id)
	if all != s.available || physical != s.onHand {
		t.Fatalf("ledger sums %d/%d, want available %d / on hand %d", all, physical, s.available, s.onHand)
	}
}

func apply(t *testing.T, svc *inventory.Service, b *testBundle, c inventory.Change) (inventory.Result, error) {
	t.Helper()
	var res inventory.Result
	err := b.db.RunInTx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
		var err error
		res, err = svc.Ledger().Apply(ctx, tx, c)
		return err
	})
	return res, err
}

func mustApply(t *testing.T, svc *inventory.Service, b *testBundle, c inventory.Change) inventory.Result {
	t.Helper()
	res, err := apply(t, svc, b, c)
	if err != nil {
		t.Fatalf("apply %s %d: %v", c.Type, c.Quantity, err)
	}
	return res
}

func wantUserError(t *testing.T, err error, kind apperr.Kind, path ...string) {
	t.Helper()
	list, ok := apperr.UserErrors(err)
	if !ok {
		t.Fatalf("want a %s userError at %v, got %v", kind, path, err)
	}
	for _, e := range list {
		if e.Kind == kind && slices.Equal(e.Field, path) {
			return
		}
	}
	t.Fatalf("want a %s userError at %v, got %v", kind, path, err)
}

func TestAdjustConcurrentDecrementsNeverOversell(t *testing.T) {
	svc, b := setup(t)
	ctx := context.Background()
	pid, id := newProduct(t, b, 0)
	if _, err := svc.Adjust(ctx, inventory.AdjustInput{ProductID: pid, QuantityChange: 20, Type: inventory.Restock}); err != nil {
		t.Fatal(err)
	}

	var ok, short, other int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, err := svc.Adjust(ctx, inventory.AdjustInput{VariantID: id, QuantityChange: -1, Type: inventory.Adjustment})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, apperr.ErrInsufficientStock):
				short++
			default:
				other++
				t.Errorf("unexpected error: %v", err)
			}
		})
	}
	wg.Wait()

	if ok != 20 || short != 30 || other != 0 {
		t.Fatalf("successes %d, insufficient %d, other %d; want 20, 30, 0", ok, short, other)
	}
	if s := stockOf(t, b, id); s.onHand != 0 || s.available != 0 {
		t.Fatalf("stock %+v, want 0", s)
	}
	checkLedger(t, b, id)
}

func TestApplyKeepsLedgerInvariants(t *testing.T) {
	svc, b := setup(t)
	_, id := newProduct(t, b, 0)
	steps := []struct {
		typ      inventory.TxType
		qty      int
		wantErr  apperr.Kind
		want     stock
		wantRows []int // quantity changes of the rows this step writes
	}{
		{typ: inventory.Restock, qty: 10, want: stock{10, 0, 10}, wantRows: []int{10}},
		{typ: inventory.Reservation, qty: 3, want: stock{10, 3, 7}, wantRows: []int{-3}},
		{typ: inventory.Reservation, qty: 2, want: stock{10, 5, 5}, wantRows: []int{-2}},
		{typ: inventory.Release, qty: 1, want: stock{10, 4, 6}, wantRows: []int{1}},
		{typ: inventory.Sale, qty: 2, want: stock{8, 2, 6}, wantRows: []int{2, -2}},
		{typ: inventory.Return, qty: 1, want: stock{9, 2, 7}},
		{typ: inventory.Adjustment, qty: -1, want: stock{8, 2, 6}},
		{typ: inventory.Reservation, qty: 7, wantErr: apperr.InsufficientStock, want: stock{8, 2, 6}},
		{typ: inventory.Release, qty: 3, wantErr: apperr.InsufficientStock, want: stock{8, 2, 6}},
		{typ: inventory.Sale, qty: 3, wantErr: apperr.InsufficientStock, want: stock{8, 2, 6}},
		{typ: inventory.Adjustment, qty: -7, wantErr: apperr.InsufficientStock, want: stock{8, 2, 6}},
		{typ: inventory.Sale, qty: 2, want: stock{6, 0, 6}},
		{typ: inventory.Adjustment, qty: -6, want: stock{0, 0, 0}},
		{typ: inventory.Reservation, qty: -1, wantErr: apperr.Invalid, want: stock{0, 0, 0}},
		{typ: "GIFT", qty: 1, wantErr: apperr.Invalid, want: stock{0, 0, 0}},
	}
	for i, st := range steps {
		t.Run(fmt.Sprintf("%d_%s_%d", i, st.typ, st.qty), func(t *testing.T) {
			res, err := apply(t, svc, b, inventory.Change{VariantID: id, Type: st.typ, Quantity: st.qty})
			if st.wantErr != apperr.Internal {
				if apperr.KindOf(err) != st.wantErr {
					t.Fatalf("want %s, got %v", st.wantErr, err)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if got := (stock{res.OnHand, res.Reserved, res.Available}); got != st.want {
				t.Fatalf("result %+v, want %+v", got, st.want)
			}
			if got := stockOf(t, b, id); got != st.want {
				t.Fatalf("stock %+v, want %+v", got, st.want)
			}
			checkLedger(t, b, id)
			if st.wantRows != nil {
				checkLastRows(t, b, id, st.wantRows)
			}
		})
	}
}

func checkLastRows(t *testing.T, b *testBundle, id string, want []int) {
	t.Helper()
	var got []int
	err := b.db.Bun.NewRaw(`SELECT quantity_change FROM (
		SELECT quantity_change, seq FROM inventory_transactions WHERE variant_id = ? ORDER BY seq DESC LIMIT ?) r
		ORDER BY seq`, id, len(want)).Scan(context.Background(), &got)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("last ledger rows %v, want %v", got, want)
	}
}

func TestApplyUnknownProduct(t *testing.T) {
	svc, b := setup(t)
	for _, id := range []string{uuid.NewString(), "not-a-uuid"} {
		if _, err := apply(t, svc, b, inventory.Change{VariantID: id, Type: inventory.Restock, Quantity: 1}); !errors.Is(err, apperr.ErrNotFound) {
			t.Fatalf("%s: want NotFound, got %v", id, err)
		}
	}
}

func TestLowStockAlert(t *testing.T) {
	svc, b := setup(t)
	_, id := newProduct(t, b, 5)
	mustApply(t, svc, b, inventory.Change{VariantID: id, Type: inventory.Restock, Quantity: 10})

	steps := []struct {
		name      string
		typ       inventory.TxType
		qty       int
		rewind    bool // move low_stock_alerted_at back 25 h first
		wantFired bool
	}{
		{name: "crossing to the threshold fires", typ: inventory.Reservation, qty: 5, wantFired: true},
		{name: "staying below does not fire", typ: inventory.Reservation, qty: 1},
		{name: "going above does not fire", typ: inventory.Release, qty: 3},
		{name: "crossing again within 24h does not fire", typ: inventory.Reservation, qty: 3},
		{name: "going above after 25h", typ: inventory.Release, qty: 3, rewind: true},
		{name: "crossing after 25h fires again", typ: inventory.Adjustment, qty: -3, wantFired: true},
	}
	fired := 0
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.rewind {
				rewindAlert(t, b, id)
			}
			res := mustApply(t, svc, b, inventory.Change{VariantID: id, Type: st.typ, Quantity: st.qty})
			if res.LowStockCrossed != st.wantFired {
				t.Fatalf("LowStockCrossed = %v, want %v (available %d)", res.LowStockCrossed, st.wantFired, res.Available)
			}
			if st.wantFired {
				fired++
			}
			msgs := messagesFor(b, id)
			if len(msgs) != fired {
				t.Fatalf("%d alerts enqueued, want %d", len(msgs), fired)
			}
			if st.wantFired {
				checkAlert(t, msgs[len(msgs)-1], res)
			}
		})
	}
	checkLedger(t, b, id)
}

func rewindAlert(t *testing.T, b *testBundle, id string) {
	t.Helper()
	_, err := b.db.Bun.ExecContext(context.Background(),
		"UPDATE product_variants SET low_stock_alerted_at = low_stock_alerted_at - interval '25 hours' WHERE id = ?", id)
	if err != nil {
		t.Fatal(err)
	}
}

func messagesFor(b *testBundle, id string) []notify.Message {
	var out []notify.Message
	for _, m := range b.notifier.messages() {
		if m.Data["variant_id"] == id {
			out = append(out, m)
		}
	}
	return out
}

func checkAlert(t *testing.T, m notify.Message, res inventory.Result) {
	t.Helper()
	if m.Channel != notify.Email || m.To != "stock@example.com" || m.Template != "low-stock-alert" {
		t.Fatalf("alert %+v", m)
	}
	if m.Data["sku"] != res.SKU || m.Data["product_name"] != res.Name ||
		m.Data["available_quantity"] != res.Available || m.Data["threshold"] != res.Threshold {
		t.Fatalf("alert data %+v, result %+v", m.Data, res)
	}
	if m.Data["product_id"] != res.ProductID || m.Data["variant_title"] != res.VariantTitle {
		t.Fatalf("alert data %+v, result %+v", m.Data, res)
	}
	if !strings.HasPrefix(m.DedupeKey, "low-stock:"+res.VariantID+":") {
		t.Fatalf("dedupe key %q", m.DedupeKey)
	}
}

func TestLowStockFiresOncePerTransaction(t *testing.T) {
	svc, b := setup(t)
	_, id := newProduct(t, b, 5)
	mustApply(t, svc, b, inventory.Change{VariantID: id, Type: inventory.Restock, Quantity: 10})

	var fired []bool
	err := b.db.RunInTx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
		for _, c := range []inventory.Change{
			{VariantID: id, Type: inventory.Reservation, Quantity: 6},
			{VariantID: id, Type: inventory.Release, Quantity: 6},
			{VariantID: id, Type: inventory.Reservation, Quantity: 6},
		} {
			res, err := svc.Ledger().Apply(ctx, tx, c)
			if err != nil {
				return err
			}
			fired = append(fired, res.LowStockCrossed)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fired, []bool{true, false, false}) {
		t.Fatalf("fired %v, want only the first", fired)
	}
	if n := len(messagesFor(b, id)); n != 1 {
		t.Fatalf("%d alerts, want 1", n)
	}
}

func TestLowStockWithoutRecipientEnqueuesNothing(t *testing.T) {
	_, b := setup(t)
	svc := inventory.NewService(b.db, b.notifier, inventory.Config{})
	_, id := newProduct(t, b, 5)
	mustApply(t, svc, b, inventory.Change{VariantID: id, Type: inventory.Restock, Quantity: 6})
	res := mustApply(t, svc, b, inventory.Change{VariantID: id, Type: inventory.Reservation, Quantity: 2})
	if !res.LowStockCrossed {
		t.Fatal("crossing not reported")
	}
	if n := len(messagesFor(b, id)); n != 0 {
		t.Fatalf("%d alerts enqueued without a recipient", n)
	}
}

func TestAdjustValidation(t *testing.T) {
	svc, b := setup(t)
	id, vid := newProduct(t, b, 0)
	long := strings.Repeat("x", 1001)
	tests := []struct {
		name string
		in   inventory.AdjustInput
		kind apperr.Kind
		path []string
	}{
		{"malformed product id", inventory.AdjustInput{ProductID: "nope", QuantityChange: 1, Type: inventory.Restock},
			apperr.NotFound, []string{"input", "productId"}},
		{"unknown product", inventory.AdjustInput{ProductID: uuid.NewString(), QuantityChange: 1, Type: inventory.Restock},
			apperr.NotFound, []string{"input", "productId"}},
		{"zero change", inventory.AdjustInput{ProductID: id, Type: inventory.Restock},
			apperr.Invalid, []string{"input", "quantityChange"}},
		{"huge change", inventory.AdjustInput{ProductID: id, QuantityChange: 2_000_000, Type: inventory.Restock},
			apperr.Invalid, []string{"input", "quantityChange"}},
		{"reservation by hand", inventory.AdjustInput{ProductID: id, QuantityChange: 1, Type: inventory.Reservation},
			apperr.Invalid, []string{"input", "type"}},
		{"notes too long", inventory.AdjustInput{ProductID: id, QuantityChange: 1, Type: inventory.Restock, Notes: &long},
			apperr.Invalid, []string{"input", "notes"}},
		{"reference too long", inventory.AdjustInput{ProductID: id, QuantityChange: 1, Type: inventory.Restock, ReferenceID: &long},
			apperr.Invalid, []string{"input", "referenceId"}},
		{"below zero", inventory.AdjustInput{ProductID: id, QuantityChange: -1, Type: inventory.Adjustment},
			apperr.InsufficientStock, []string{"input", "quantityChange"}},
		{"variant below zero", inventory.AdjustInput{VariantID: vid, QuantityChange: -1, Type: inventory.Adjustment},
			apperr.InsufficientStock, []string{"input", "quantityChange"}},
		{"malformed variant id", inventory.AdjustInput{VariantID: "nope", QuantityChange: 1, Type: inventory.Restock},
			apperr.NotFound, []string{"input", "variantId"}},
		{"unknown variant", inventory.AdjustInput{VariantID: uuid.NewString(), QuantityChange: 1, Type: inventory.Restock},
			apperr.NotFound, []string{"input", "variantId"}},
		{"variant and product", inventory.AdjustInput{VariantID: vid, ProductID: id, QuantityChange: 1, Type: inventory.Restock},
			apperr.Invalid, []string{"input", "variantId"}},
		{"neither variant nor product", inventory.AdjustInput{QuantityChange: 1, Type: inventory.Restock},
			apperr.Invalid, []string{"input", "variantId"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.Adjust(context.Background(), tt.in)
			wantUserError(t, err, tt.kind, tt.path...)
			if n, err := svc.CountTransactions(context.Background(), id); err != nil || n != 0 {
				t.Fatalf("ledger rows %d (%v), want none written", n, err)
			}
		})
	}
}

// TestAdjustByProduct checks that a product id names the product's only
// active variant, and that a product with several needs the variant.
func TestAdjustByProduct(t *testing.T) {
	svc, b := setup(t)
	ctx := context.Background()
	pid, first := newProduct(t, b, 0)
	retired := addVariant(t, b, pid, false)
	res, err := svc.Adjust(ctx, inventory.AdjustInput{ProductID: pid, QuantityChange: 4, Type: inventory.Restock})
	if err != nil || res.VariantID != first {
		t.Fatalf("adjust by product with one active variant: %+v, %v; want variant %s", res, err, first)
	}
	if s := stockOf(t, b, retired); s != (stock{}) {
		t.Fatalf("inactive variant's stock %+v, want untouched", s)
	}

	second := addVariant(t, b, pid, true)
	_, err = svc.Adjust(ctx, inventory.AdjustInput{ProductID: pid, QuantityChange: 1, Type: inventory.Restock})
	list, ok := apperr.UserErrors(err)
	if !ok || len(list) != 1 || list[0].Code != "VARIANT_REQUIRED" || !slices.Equal(list[0].Field, []string{"input", "productId"}) {
		t.Fatalf("adjust by product with two active variants: want VARIANT_REQUIRED at input.productId, got %v", err)
	}
	res, err = svc.Adjust(ctx, inventory.AdjustInput{VariantID: second, QuantityChange: 2, Type: inventory.Restock})
	if err != nil || res.VariantID != second || res.OnHand != 2 {
		t.Fatalf("adjust by variant: %+v, %v", res, err)
	}
	if got := []stock{stockOf(t, b, first), stockOf(t, b, second)}; got[0] != (stock{4, 0, 4}) || got[1] != (stock{2, 0, 2}) {
		t.Fatalf("stock %+v, want each variant's own", got)
	}
	for _, id := range []string{first, second, retired} {
		checkLedger(t, b, id)
	}
	if n, err := svc.CountTransactions(ctx, pid); err != nil || n != 2 {
		t.Fatalf("product ledger rows %d (%v), want 2", n, err)
	}
}

func TestAdjustReportsAllProblems(t *testing.T) {
	svc, _ := setup(t)
	_, err := svc.Adjust(context.Background(), inventory.AdjustInput{ProductID: "x", Type: inventory.Sale})
	list, ok := apperr.UserErrors(err)
	if !ok || len(list) != 3 {
		t.Fatalf("want 3 userErrors, got %v", err)
	}
}

func TestAdjustReturnsTransaction(t *testing.T) {
	svc, b := setup(t)
	id, vid := newProduct(t, b, 0)
	ref, notes := "PO-1", "  delivery  "
	res, err := svc.Adjust(context.Background(), inventory.AdjustInput{ProductID: id, QuantityChange: 7,
		Type: inventory.Restock, ReferenceID: &ref, Notes: &notes})
	if err != nil {
		t.Fatal(err)
	}
	tx := res.Transaction
	if res.OnHand != 7 || res.Available != 7 || tx == nil || tx.ID == "" || tx.Seq == 0 || tx.CreatedAt.IsZero() ||
		tx.QuantityChange != 7 || tx.Type != inventory.Restock || *tx.ReferenceID != "PO-1" || *tx.Notes != "delivery" ||
		res.VariantID != vid || res.ProductID != id || tx.VariantID != vid || tx.ProductID != id {
		t.Fatalf("result %+v, transaction %+v", res, tx)
	}
}

func TestTransactionsPages(t *testing.T) {
	svc, b := setup(t)
	ctx := context.Background()
	pid, id := newProduct(t, b, 0)
	for i := 1; i <= 5; i++ {
		mustApply(t, svc, b, inventory.Change{VariantID: id, Type: inventory.Restock, Quantity: i})
	}
	two := 2
	var got []int
	after := ""
	for pageNo := 0; ; pageNo++ {
		page, err := svc.Transactions(ctx, pid, &two, after)
		if err != nil {
			t.Fatal(err)
		}
		if page.HasPreviousPage != (pageNo > 0) {
			t.Fatalf("page %d: hasPreviousPage %v", pageNo, page.HasPreviousPage)
		}
		for _, tx := range page.Transactions {
			got = append(got, tx.QuantityChange)
		}
		if !page.HasNextPage {
			break
		}
		after = page.Cursors[len(page.Cursors)-1]
	}
	if !slices.Equal(got, []int{5, 4, 3, 2, 1}) {
		t.Fatalf("transactions %v, want newest first", got)
	}
	if n, err := svc.CountTransactions(ctx, pid); err != nil || n != 5 {
		t.Fatalf("count %d, %v", n, err)
	}
	if n, err := svc.CountVariantTransactions(ctx, id); err != nil || n != 5 {
		t.Fatalf("variant count %d, %v", n, err)
	}

	tooMany, negative := 101, -1
	for name, call := range map[string]func() error{
		"first above 100": func() error { _, err := svc.Transactions(ctx, pid, &tooMany, ""); return err },
		"first negative":  func() error { _, err := svc.Transactions(ctx, pid, &negative, ""); return err },
		"bad cursor":      func() error { _, err := svc.Transactions(ctx, pid, nil, "!!"); return err },
		"foreign cursor":  func() error { _, err := svc.Transactions(ctx, pid, nil, "eyJpZCI6IngifQ"); return err },
	} {
		if err := call(); !errors.Is(err, apperr.ErrInvalid) {
			t.Errorf("%s: want Invalid, got %v", name, err)
		}
	}
}

func TestApplyStatementBudget(t *testing.T) {
	svc, b := setup(t)
	_, id := newProduct(t, b, 5)
	mustApply(t, svc, b, inventory.Change{VariantID: id, Type: inventory.Restock, Quantity: 10})
	steps := []struct {
		name string
		c    inventory.Change
	}{
		{"reservation", inventory.Change{VariantID: id, Type: inventory.Reservation, Quantity: 1}},
		{"reservation firing an alert", inventory.Change{VariantID: id, Type: inventory.Reservation, Quantity: 5}},
		{"sale writing two ledger rows", inventory.Change{VariantID: id, Type: inventory.Sale, Quantity: 1}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			ctx, counter := db.WithStatementCounter(context.Background())
			err := b.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
				_, err := svc.Ledger().Apply(ctx, tx, st.c)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if n := counter.Count(); n != 2 {
				t.Fatalf("%d statements, want 2 (the notifier's own not included)", n)
			}
		})
	}
	checkLedger(t, b, id)
}
