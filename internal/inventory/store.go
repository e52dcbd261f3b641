package inventory

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// transactionRow is the storage row of the ledger. id, seq and created_at
// are zero on insert, hence DEFAULT, and filled in by RETURNING.
type transactionRow struct {
	bun.BaseModel `bun:"table:inventory_transactions"`

	ID             string    `bun:"id,pk,type:uuid,nullzero"`
	Seq            int64     `bun:"seq,nullzero"`
	ProductID      string    `bun:"product_id,type:uuid"`
	SKU            string    `bun:"sku"`
	QuantityChange int       `bun:"quantity_change"`
	Type           string    `bun:"type"`
	ReferenceID    *string   `bun:"reference_id"`
	Notes          *string   `bun:"notes"`
	CreatedAt      time.Time `bun:"created_at,nullzero"`
}

func (r transactionRow) transaction() Transaction {
	return Transaction{ID: r.ID, Seq: r.Seq, ProductID: r.ProductID, SKU: r.SKU, QuantityChange: r.QuantityChange,
		Type: TxType(r.Type), ReferenceID: r.ReferenceID, Notes: r.Notes, CreatedAt: r.CreatedAt}
}

// stockRow is what the stock UPDATE returns.
type stockRow struct {
	ID         string     `bun:"id"`
	SKU        string     `bun:"sku"`
	Name       string     `bun:"name"`
	OnHand     int        `bun:"on_hand"`
	Reserved   int        `bun:"reserved"`
	Available  int        `bun:"available"`
	Threshold  int        `bun:"low_stock_threshold"`
	AlertedAt  *time.Time `bun:"low_stock_alerted_at"`
	AlertFired bool       `bun:"alert_fired"`
}

// updateStockSQL moves a product's counters in one statement. The WHERE
// clause refuses any change that would leave on hand below reserved or
// reserved below zero, so concurrent changes can never oversell. The SET
// expressions see the old row, so the low-stock decision (available crossing
// from above the threshold to at or below it, at most once per 24 h) is made
// there; a fired alert is stamped with statement_timestamp(), which differs
// between statements of one transaction, so RETURNING can tell that it fired
// now rather than earlier in the same transaction.
//
// Arguments: ?0 product id, ?1 on-hand delta, ?2 reserved delta, ?3 units sold delta.
const updateStockSQL = `
UPDATE products AS p SET
    on_hand = p.on_hand + ?1,
    reserved = p.reserved + ?2,
    units_sold = p.units_sold + ?3,
    low_stock_alerted_at = CASE
        WHEN p.available > p.low_stock_threshold
         AND p.available + ?1 - ?2 <= p.low_stock_threshold
         AND (p.low_stock_alerted_at IS NULL
              OR p.low_stock_alerted_at < statement_timestamp() - interval '24 hours')
        THEN statement_timestamp()
        ELSE p.low_stock_alerted_at
    END,
    updated_at = now()
WHERE p.id = ?0
  AND p.on_hand + ?1 >= p.reserved + ?2
  AND p.reserved + ?2 >= 0
RETURNING p.id, p.sku, p.name, p.on_hand, p.reserved, p.available, p.low_stock_threshold,
    p.low_stock_alerted_at,
    coalesce(p.low_stock_alerted_at = statement_timestamp(), false) AS alert_fired`

// updateStock applies d to the product. ok is false when no row matched:
// the product is missing or the change would take stock below zero.
func updateStock(ctx context.Context, idb bun.IDB, productID string, d deltas) (r Result, alertedAt time.Time, ok bool, err error) {
	var rows []stockRow
	if err := idb.NewRaw(updateStockSQL, productID, d.onHand, d.reserved, d.sold).Scan(ctx, &rows); err != nil {
		return Result{}, time.Time{}, false, err
	}
	if len(rows) == 0 {
		return Result{}, time.Time{}, false, nil
	}
	s := rows[0]
	r = Result{ProductID: s.ID, SKU: s.SKU, Name: s.Name, OnHand: s.OnHand, Reserved: s.Reserved,
		Available: s.Available, Threshold: s.Threshold, LowStockCrossed: s.AlertFired}
	if s.AlertedAt != nil {
		alertedAt = *s.AlertedAt
	}
	return r, alertedAt, true, nil
}

// productExists tells a missing product from a refused change.
func productExists(ctx context.Context, idb bun.IDB, productID string) (bool, error) {
	return idb.NewSelect().Table("products").Where("id = ?", productID).Exists(ctx)
}

// insertTransactions writes the ledger rows in one INSERT and returns them
// with their ids, sequence numbers and timestamps.
func insertTransactions(ctx context.Context, idb bun.IDB, txs []Transaction) ([]Transaction, error) {
	rows := make([]transactionRow, len(txs))
	for i, t := range txs {
		rows[i] = transactionRow{ProductID: t.ProductID, SKU: t.SKU, QuantityChange: t.QuantityChange,
			Type: string(t.Type), ReferenceID: t.ReferenceID, Notes: t.Notes}
	}
	if _, err := idb.NewInsert().Model(&rows).Returning("*").Exec(ctx); err != nil {
		return nil, err
	}
	out := make([]Transaction, len(rows))
	for i, r := range rows {
		out[i] = r.transaction()
	}
	return out, nil
}

// selectTransactions returns up to limit ledger rows of a product, newest
// first, with seq below beforeSeq when it is positive.
func selectTransactions(ctx context.Context, idb bun.IDB, productID string, beforeSeq int64, limit int) ([]Transaction, error) {
	var rows []transactionRow
	q := idb.NewSelect().Model(&rows).
		Where("product_id = ?", productID).
		OrderExpr("seq DESC").
		Limit(int64(limit))
	if beforeSeq > 0 {
		q = q.Where("seq < ?", beforeSeq)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, err
	}
	out := make([]Transaction, len(rows))
	for i, r := range rows {
		out[i] = r.transaction()
	}
	return out, nil
}

// countTransactions counts a product's ledger rows.
func countTransactions(ctx context.Context, idb bun.IDB, productID string) (int, error) {
	n, err := idb.NewSelect().Table("inventory_transactions").Where("product_id = ?", productID).Count(ctx)
	return int(n), err
}
