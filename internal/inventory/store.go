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
	VariantID      string    `bun:"variant_id,type:uuid"`
	SKU            string    `bun:"sku"`
	QuantityChange int       `bun:"quantity_change"`
	Type           string    `bun:"type"`
	ReferenceID    *string   `bun:"reference_id"`
	Notes          *string   `bun:"notes"`
	CreatedAt      time.Time `bun:"created_at,nullzero"`
}

func (r transactionRow) transaction() Transaction {
	return Transaction{ID: r.ID, Seq: r.Seq, ProductID: r.ProductID, VariantID: r.VariantID, SKU: r.SKU, QuantityChange: r.QuantityChange,
		Type: TxType(r.Type), ReferenceID: r.ReferenceID, Notes: r.Notes, CreatedAt: r.CreatedAt}
}

// stockRow is what the stock UPDATE returns.
type stockRow struct {
	ID         string     `bun:"id"`
	ProductID  string     `bun:"product_id"`
	SKU        string     `bun:"sku"`
	Title      string     `bun:"title"`
	Name       string     `bun:"name"`
	OnHand     int        `bun:"on_hand"`
	Reserved   int        `bun:"reserved"`
	Available  int        `bun:"available"`
	Threshold  int        `bun:"low_stock_threshold"`
	AlertedAt  *time.Time `bun:"low_stock_alerted_at"`
	AlertFired bool       `bun:"alert_fired"`
}

// updateStockSQL moves a variant's counters in one statement. The WHERE
// clause refuses any change that would leave on hand below reserved or
// reserved below zero, so concurrent changes can never oversell. The SET
// expressions see the old row, so the low-stock decision (available crossing
// from above the threshold to at or below it, at most once per 24 h) is made
// there; a fired alert is stamped with statement_timestamp(), which differs
// between statements of one transaction, so RETURNING can tell that it fired
// now rather than earlier in the same transaction. A sale also counts on the
// product's units_sold (BEST_SELLING), in the same round trip.
//
// Arguments: ?0 variant id, ?1 on-hand delta, ?2 reserved delta, ?3 units sold delta.
const updateStockSQL = `
WITH v AS (
    UPDATE product_variants AS v SET
        on_hand = v.on_hand + ?1,
        reserved = v.reserved + ?2,
        units_sold = v.units_sold + ?3,
        low_stock_alerted_at = CASE
            WHEN v.available > v.low_stock_threshold
             AND v.available + ?1 - ?2 <= v.low_stock_threshold
             AND (v.low_stock_alerted_at IS NULL
                  OR v.low_stock_alerted_at < statement_timestamp() - interval '24 hours')
            THEN statement_timestamp()
            ELSE v.low_stock_alerted_at
        END,
        updated_at = now()
    WHERE v.id = ?0
      AND v.on_hand + ?1 >= v.reserved + ?2
      AND v.reserved + ?2 >= 0
    RETURNING v.id, v.product_id, v.sku, v.title, v.on_hand, v.reserved, v.available, v.low_stock_threshold,
        v.low_stock_alerted_at,
        coalesce(v.low_stock_alerted_at = statement_timestamp(), false) AS alert_fired
), sold AS (
    UPDATE products AS p SET units_sold = p.units_sold + ?3
    FROM v WHERE p.id = v.product_id AND ?3 <> 0
)
SELECT v.*, p.name FROM v JOIN products AS p ON p.id = v.product_id`

// updateStock applies d to the variant. ok is false when no row matched:
// the variant is missing or the change would take stock below zero.
func updateStock(ctx context.Context, idb bun.IDB, variantID string, d deltas) (r Result, alertedAt time.Time, ok bool, err error) {
	var rows []stockRow
	if err := idb.NewRaw(updateStockSQL, variantID, d.onHand, d.reserved, d.sold).Scan(ctx, &rows); err != nil {
		return Result{}, time.Time{}, false, err
	}
	if len(rows) == 0 {
		return Result{}, time.Time{}, false, nil
	}
	s := rows[0]
	r = Result{VariantID: s.ID, ProductID: s.ProductID, SKU: s.SKU, Name: s.Name, VariantTitle: s.Title,
		OnHand: s.OnHand, Reserved: s.Reserved, Available: s.Available, Threshold: s.Threshold,
		LowStockCrossed: s.AlertFired}
	if s.AlertedAt != nil {
		alertedAt = *s.AlertedAt
	}
	return r, alertedAt, true, nil
}

// variantExists tells a missing variant from a refused change.
func variantExists(ctx context.Context, idb bun.IDB, variantID string) (bool, error) {
	return idb.NewSelect().Table("product_variants").Where("id = ?", variantID).Exists(ctx)
}

// activeVariantsOf returns the ids of a product's active variants.
func activeVariantsOf(ctx context.Context, idb bun.IDB, productID string) ([]string, error) {
	var ids []string
	err := idb.NewSelect().Table("product_variants").Column("id").
		Where("product_id = ? AND is_active", productID).Scan(ctx, &ids)
	return ids, err
}

// insertTransactions writes the ledger rows in one INSERT and returns them
// with their ids, sequence numbers and timestamps.
func insertTransactions(ctx context.Context, idb bun.IDB, txs []Transaction) ([]Transaction, error) {
	rows := make([]transactionRow, len(txs))
	for i, t := range txs {
		rows[i] = transactionRow{ProductID: t.ProductID, VariantID: t.VariantID, SKU: t.SKU, QuantityChange: t.QuantityChange,
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

// selectTransactions returns up to limit ledger rows of a product or a
// variant (owner is the column: product_id or variant_id), newest first,
// with seq below beforeSeq when it is positive.
func selectTransactions(ctx context.Context, idb bun.IDB, owner ledgerOwner, id string, beforeSeq int64, limit int) ([]Transaction, error) {
	var rows []transactionRow
	q := idb.NewSelect().Model(&rows).
		Where("? = ?", bun.Ident(string(owner)), id).
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

// ledgerOwner is the column that names whose ledger rows to read.
type ledgerOwner string

// The owners of ledger rows: a product (all its variants) or a variant.
const (
	ofProduct ledgerOwner = "product_id"
	ofVariant ledgerOwner = "variant_id"
)

// countTransactions counts the ledger rows of a product or a variant.
func countTransactions(ctx context.Context, idb bun.IDB, owner ledgerOwner, id string) (int, error) {
	n, err := idb.NewSelect().Table("inventory_transactions").Where("? = ?", bun.Ident(string(owner)), id).Count(ctx)
	return int(n), err
}
