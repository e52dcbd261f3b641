package inventory

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// transactionRow is the storage row of the ledger. id, seq and created_at
// are zero on insert, hence DEFAULT, and filled in by RETURNING. The json
// tags read the rows applyAllSQL returns.
type transactionRow struct {
	bun.BaseModel `bun:"table:inventory_transactions"`

	ID             string    `bun:"id,pk,type:uuid,nullzero" json:"id"`
	Seq            int64     `bun:"seq,nullzero" json:"seq"`
	ProductID      string    `bun:"product_id,type:uuid" json:"product_id"`
	VariantID      string    `bun:"variant_id,type:uuid" json:"variant_id"`
	SKU            string    `bun:"sku" json:"sku"`
	QuantityChange int       `bun:"quantity_change" json:"quantity_change"`
	Type           string    `bun:"type" json:"type"`
	ReferenceID    *string   `bun:"reference_id" json:"reference_id"`
	Notes          *string   `bun:"notes" json:"notes"`
	CreatedAt      time.Time `bun:"created_at,nullzero" json:"created_at"`
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

// applyAllSQL applies the changes of one ApplyAll call in one statement.
//
// Lock order. A plain UPDATE … FROM unnest(…) locks rows in whatever order
// its plan visits them (a hash join visits them in hash order), so two
// orders sharing two variants could lock them in opposite orders and
// deadlock. Here the rows are locked first, by the "locked" CTE: a SELECT …
// ORDER BY id FOR UPDATE puts its LockRows node above the Sort, so it locks
// in id order, waiting where another transaction holds a row. It is
// MATERIALIZED, and the UPDATE depends on it only through an uncorrelated
// scalar subquery (an InitPlan, evaluated once before the UPDATE writes its
// first row), so every lock is held before any row is written. In READ
// COMMITTED a row locked after a wait is returned as its newest committed
// version, and the UPDATE, finding its snapshot's version superseded, moves
// to that same newest version (EvalPlanQual); the verdict and the UPDATE
// therefore see the same counters, and nobody can change them in between.
// The products whose units_sold a sale counts are locked the same way, in
// id order, before they are written.
//
// All or nothing. "verdict" judges every variant by the sum of its changes
// (on hand stays at or above reserved, reserved at or above zero; a missing
// variant fails). The UPDATE runs only when every variant passes and ?4 (not
// a dry run) holds; otherwise it writes nothing, and neither does the ledger
// INSERT, which joins the updated rows.
//
// Low-stock alerts are decided as in updateStockSQL.
//
// Arguments: ?0 variant ids, ?1 on-hand deltas, ?2 reserved deltas, ?3 sold
// deltas (one element per change); ?4 apply; ?5–?9 the ledger rows in order:
// variant ids, quantity changes, types, reference ids, notes.
//
// It returns one row: the verdict and the new stock of every variant, and
// the ledger rows written, in seq order, which is their order in ?5–?9 (the
// INSERT's SELECT is ordered, and seq is drawn row by row).
const applyAllSQL = `
WITH input AS (
    SELECT u.id, sum(u.on_hand)::int AS on_hand, sum(u.reserved)::int AS reserved, sum(u.sold)::int AS sold
    FROM unnest(?0::uuid[], ?1::int[], ?2::int[], ?3::int[]) AS u (id, on_hand, reserved, sold)
    GROUP BY u.id
), locked AS MATERIALIZED (
    SELECT v.id, v.on_hand, v.reserved FROM product_variants AS v
    WHERE v.id IN (SELECT id FROM input)
    ORDER BY v.id
    FOR UPDATE
), verdict AS MATERIALIZED (
    SELECT i.id, l.id IS NOT NULL AS found,
        coalesce(l.on_hand + i.on_hand >= l.reserved + i.reserved AND l.reserved + i.reserved >= 0, false) AS ok
    FROM input AS i LEFT JOIN locked AS l ON l.id = i.id
), v AS (
    UPDATE product_variants AS v SET
        on_hand = v.on_hand + i.on_hand,
        reserved = v.reserved + i.reserved,
        units_sold = v.units_sold + i.sold,
        low_stock_alerted_at = CASE
            WHEN v.available > v.low_stock_threshold
             AND v.available + i.on_hand - i.reserved <= v.low_stock_threshold
             AND (v.low_stock_alerted_at IS NULL
                  OR v.low_stock_alerted_at < statement_timestamp() - interval '24 hours')
            THEN statement_timestamp()
            ELSE v.low_stock_alerted_at
        END,
        updated_at = now()
    FROM input AS i
    WHERE v.id = i.id AND ?4 AND (SELECT bool_and(ok) FROM verdict)
    RETURNING v.id, v.product_id, v.sku, v.title, v.on_hand, v.reserved, v.available, v.low_stock_threshold,
        v.low_stock_alerted_at, coalesce(v.low_stock_alerted_at = statement_timestamp(), false) AS alert_fired, i.sold
), sold_products AS MATERIALIZED (
    SELECT p.id FROM products AS p
    WHERE p.id IN (SELECT product_id FROM v WHERE sold <> 0)
    ORDER BY p.id
    FOR UPDATE
), sold AS (
    UPDATE products AS p SET units_sold = p.units_sold + s.sold
    FROM (SELECT product_id, sum(sold) AS sold FROM v GROUP BY product_id) AS s
    WHERE p.id = s.product_id AND s.sold <> 0 AND (SELECT count(*) FROM sold_products) > 0
), ledger AS (
    INSERT INTO inventory_transactions (product_id, variant_id, sku, quantity_change, type, reference_id, notes)
    SELECT v.product_id, v.id, v.sku, r.quantity_change, r.type, r.reference_id, r.notes
    FROM unnest(?5::uuid[], ?6::int[], ?7::text[], ?8::text[], ?9::text[]) WITH ORDINALITY
        AS r (variant_id, quantity_change, type, reference_id, notes, n)
    JOIN v ON v.id = r.variant_id
    ORDER BY r.n
    RETURNING id, seq, product_id, variant_id, sku, quantity_change, type, reference_id, notes, created_at
)
SELECT
    (SELECT json_agg(json_build_object('id', d.id, 'found', d.found, 'ok', d.ok, 'product_id', v.product_id,
        'sku', v.sku, 'title', v.title, 'name', p.name, 'on_hand', v.on_hand, 'reserved', v.reserved,
        'available', v.available, 'low_stock_threshold', v.low_stock_threshold,
        'low_stock_alerted_at', v.low_stock_alerted_at, 'alert_fired', v.alert_fired))
     FROM verdict AS d LEFT JOIN v ON v.id = d.id LEFT JOIN products AS p ON p.id = v.product_id) AS variants,
    (SELECT coalesce(json_agg(t ORDER BY t.seq), '[]') FROM ledger AS t) AS ledger`

// batch is the input of applyAllSQL, built change by change.
type batch struct {
	ids                     []string
	onHand, reserved, sold  []int
	rowVariants             []string
	rowQuantities           []int
	rowTypes                []string
	rowReferences, rowNotes []*string
}

func (b *batch) add(c Change, d deltas) {
	b.ids = append(b.ids, c.VariantID)
	b.onHand, b.reserved, b.sold = append(b.onHand, d.onHand), append(b.reserved, d.reserved), append(b.sold, d.sold)
	for _, t := range ledgerRows(c, Result{}) {
		b.rowVariants = append(b.rowVariants, c.VariantID)
		b.rowQuantities = append(b.rowQuantities, t.QuantityChange)
		b.rowTypes = append(b.rowTypes, string(t.Type))
		b.rowReferences, b.rowNotes = append(b.rowReferences, t.ReferenceID), append(b.rowNotes, t.Notes)
	}
}

// batchVariant is a variant's verdict and, when the batch was applied, its
// stock after it.
type batchVariant struct {
	ID         string     `json:"id"`
	Found      bool       `json:"found"`
	OK         bool       `json:"ok"`
	ProductID  string     `json:"product_id"`
	SKU        string     `json:"sku"`
	Title      string     `json:"title"`
	Name       string     `json:"name"`
	OnHand     int        `json:"on_hand"`
	Reserved   int        `json:"reserved"`
	Available  int        `json:"available"`
	Threshold  int        `json:"low_stock_threshold"`
	AlertedAt  *time.Time `json:"low_stock_alerted_at"`
	AlertFired bool       `json:"alert_fired"`
}

func (v batchVariant) result() Result {
	return Result{VariantID: v.ID, ProductID: v.ProductID, SKU: v.SKU, Name: v.Name, VariantTitle: v.Title,
		OnHand: v.OnHand, Reserved: v.Reserved, Available: v.Available, Threshold: v.Threshold,
		LowStockCrossed: v.AlertFired && v.AlertedAt != nil}
}

// batchResult is what applyAllSQL returns: the variants by id, and the
// ledger rows written (none unless every change was made).
type batchResult struct {
	variants map[string]batchVariant
	ledger   []transactionRow
}

// apply runs the batch: when apply is false, or some change cannot be
// made, it only judges the changes.
func (b *batch) apply(ctx context.Context, idb bun.IDB, apply bool) (batchResult, error) {
	out := batchResult{variants: make(map[string]batchVariant, len(b.ids))}
	if len(b.ids) == 0 {
		return out, nil
	}
	var raw struct {
		Variants []byte `bun:"variants"`
		Ledger   []byte `bun:"ledger"`
	}
	err := idb.NewRaw(applyAllSQL, pgdialect.Array(b.ids), pgdialect.Array(b.onHand), pgdialect.Array(b.reserved),
		pgdialect.Array(b.sold), apply, pgdialect.Array(b.rowVariants), pgdialect.Array(b.rowQuantities),
		pgdialect.Array(b.rowTypes), pgdialect.Array(b.rowReferences), pgdialect.Array(b.rowNotes)).Scan(ctx, &raw)
	if err != nil {
		return out, err
	}
	var variants []batchVariant
	if err := json.Unmarshal(raw.Variants, &variants); err != nil {
		return out, fmt.Errorf("decode stock: %w", err)
	}
	for _, v := range variants {
		out.variants[v.ID] = v
	}
	if err := json.Unmarshal(raw.Ledger, &out.ledger); err != nil {
		return out, fmt.Errorf("decode ledger rows: %w", err)
	}
	return out, nil
}
