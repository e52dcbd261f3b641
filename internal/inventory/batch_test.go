package inventory_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/inventory"
)

// TestApplyAllIsAllOrNothing: one statement judges a batch and applies all
// of it or none. A short line and a missing variant are each named and
// nothing moves; a batch that fits moves every counter, writes the ledger
// rows in the changes' order (a SALE as RELEASE then SALE), counts units
// sold, and fires one low-stock alert for a variant with two changes.
func TestApplyAllIsAllOrNothing(t *testing.T) {
	svc, b := setup(t)
	ctx := context.Background()
	_, a := newProduct(t, b, 0)
	_, low := newProduct(t, b, 5)
	mustApply(t, svc, b, inventory.Change{VariantID: a, Type: inventory.Restock, Quantity: 4})
	mustApply(t, svc, b, inventory.Change{VariantID: low, Type: inventory.Restock, Quantity: 8})

	run := func(changes []inventory.Change) (results []inventory.Result, failed map[int]error) {
		t.Helper()
		err := b.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			var err error
			results, failed, err = svc.Ledger().ApplyAll(ctx, tx, changes)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return results, failed
	}

	_, failed := run([]inventory.Change{
		{VariantID: low, Type: inventory.Reservation, Quantity: 2},
		{VariantID: a, Type: inventory.Reservation, Quantity: 5},
		{VariantID: uuid.NewString(), Type: inventory.Reservation, Quantity: 1},
	})
	if len(failed) != 2 || !errors.Is(failed[1], apperr.ErrInsufficientStock) || apperr.KindOf(failed[2]) != apperr.NotFound {
		t.Fatalf("failed %v; want line 1 short and line 2 not found", failed)
	}
	if got := stockOf(t, b, a); got.reserved != 0 {
		t.Fatalf("a refused batch reserved %d of a", got.reserved)
	}
	if got := stockOf(t, b, low); got.reserved != 0 {
		t.Fatalf("a refused batch reserved %d of the other variant", got.reserved)
	}

	results, failed := run([]inventory.Change{
		{VariantID: low, Type: inventory.Reservation, Quantity: 2},
		{VariantID: a, Type: inventory.Reservation, Quantity: 4},
		{VariantID: low, Type: inventory.Reservation, Quantity: 1},
	})
	if len(failed) != 0 {
		t.Fatalf("failed %v", failed)
	}
	if r := results[0]; r.Available != 5 || r.Reserved != 3 || !r.LowStockCrossed || r.Transaction.QuantityChange != -2 {
		t.Fatalf("result of the first change %+v", r)
	}
	if r := results[1]; r.Available != 0 || r.Reserved != 4 || r.Transaction.VariantID != a {
		t.Fatalf("result of the second change %+v", r)
	}
	if n := len(messagesFor(b, low)); n != 1 {
		t.Fatalf("%d low-stock alerts for the variant with two changes, want 1", n)
	}
	if results[0].Transaction.Seq >= results[1].Transaction.Seq || results[1].Transaction.Seq >= results[2].Transaction.Seq {
		t.Fatalf("ledger rows out of the changes' order: %d, %d, %d",
			results[0].Transaction.Seq, results[1].Transaction.Seq, results[2].Transaction.Seq)
	}

	results, failed = run([]inventory.Change{{VariantID: a, Type: inventory.Sale, Quantity: 4}})
	if len(failed) != 0 || results[0].OnHand != 0 || results[0].Reserved != 0 || results[0].Transaction.Type != inventory.Sale {
		t.Fatalf("sale: %+v, failed %v", results, failed)
	}
	var sold, variantSold int
	if err := b.db.Bun.QueryRowContext(ctx, `SELECT p.units_sold, v.units_sold FROM product_variants v
		JOIN products p ON p.id = v.product_id WHERE v.id = ?`, a).Scan(&sold, &variantSold); err != nil {
		t.Fatal(err)
	}
	if sold != 4 || variantSold != 4 {
		t.Fatalf("units sold: product %d, variant %d; want 4", sold, variantSold)
	}
	checkLedger(t, b, a)
	checkLedger(t, b, low)
}
