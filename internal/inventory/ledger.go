// Package inventory owns the stock ledger: every change to a variant's
// on-hand or reserved quantity is a conditional UPDATE of the variant with
// an INSERT of its ledger rows (one statement for all the lines of an
// order, see ApplyAll), so stock can never go negative and the ledger
// always adds up (the sum of all rows is available; the sum without
// RESERVATION and RELEASE rows is on hand). It also detects low stock and
// enqueues the low-stock alert in the same transaction.
package inventory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/notify"
	"commerce/internal/realtime"
)

// TxType is the kind of a ledger row.
type TxType string

// The ledger row types.
const (
	Sale        TxType = "SALE"
	Restock     TxType = "RESTOCK"
	Adjustment  TxType = "ADJUSTMENT"
	Return      TxType = "RETURN"
	Reservation TxType = "RESERVATION"
	Release     TxType = "RELEASE"
)

// MaxQuantity bounds the size of one change so that stock sums stay far
// from integer overflow.
const MaxQuantity = 1_000_000

// Transaction is one row of the stock ledger.
type Transaction struct {
	ID             string
	Seq            int64
	ProductID      string
	VariantID      string
	SKU            string
	QuantityChange int
	Type           TxType
	ReferenceID    *string
	Notes          *string
	CreatedAt      time.Time
}

// Change is one stock movement of one variant.
//
// Quantity is always positive for RESERVATION, RELEASE and SALE, and signed
// (never zero) for RESTOCK, ADJUSTMENT and RETURN.
type Change struct {
	VariantID   string
	Type        TxType
	Quantity    int
	ReferenceID *string
	Notes       *string
}

// Result is a variant's stock after a change.
type Result struct {
	VariantID    string
	ProductID    string
	SKU          string
	Name         string // the product's
	VariantTitle string
	OnHand       int
	Reserved     int
	Available    int
	Threshold    int
	// LowStockCrossed is true when this change took available from above the
	// threshold to at or below it and an alert fired (at most once per
	// variant per 24 h). Callers publish the live alert after commit.
	LowStockCrossed bool
	// Transaction is the ledger row of the change's own type (for a SALE, the
	// SALE row; the RELEASE row written with it is not returned).
	Transaction *Transaction
}

// Notifier enqueues a notification inside the caller's transaction.
type Notifier interface {
	Enqueue(ctx context.Context, tx bun.Tx, m notify.Message) error
}

// Config holds the inventory settings.
type Config struct {
	// LowStockEmail receives low-stock alerts and the daily inventory
	// report; empty disables both.
	LowStockEmail string
	// Live publishes low-stock alerts to live subscribers after the
	// adjustment that caused them commits; nil publishes nothing.
	Live realtime.Publisher
	// Webhooks announces INVENTORY_LOW_STOCK in the transaction of the
	// change that crossed the threshold; nil announces nothing.
	Webhooks Announcer
}

// Ledger applies stock changes inside a caller's transaction.
type Ledger struct {
	notifier Notifier
	cfg      Config
}

// NewLedger returns a Ledger that sends low-stock alerts through n (which
// may be nil when no alerts are wanted).
func NewLedger(n Notifier, cfg Config) *Ledger {
	return &Ledger{notifier: n, cfg: cfg}
}

// Apply performs one stock change inside tx: one conditional UPDATE of the
// variant, one INSERT of its ledger rows, and, when a low-stock alert fires
// and a recipient is configured, the notification enqueue. It returns an
// apperr NotFound error when the variant does not exist (or the id is not a
// UUID), InsufficientStock when the change would take on hand below reserved
// or reserved below zero, and Invalid when the change itself is malformed.
// Those three leave tx unchanged and usable (a checkout may go on to find
// every short line); after any other error the caller must roll back.
func (l *Ledger) Apply(ctx context.Context, tx bun.Tx, c Change) (Result, error) {
	d, err := deltasOf(c)
	if err != nil {
		return Result{}, err
	}
	id, err := uuid.Parse(c.VariantID)
	if err != nil {
		return Result{}, errVariantNotFound()
	}
	c.VariantID = id.String()
	res, alertedAt, ok, err := updateStock(ctx, tx, c.VariantID, d)
	if err != nil {
		return Result{}, fmt.Errorf("apply stock change: %w", err)
	}
	if !ok {
		return Result{}, missingOrShort(ctx, tx, c.VariantID)
	}
	rows, err := insertTransactions(ctx, tx, ledgerRows(c, res))
	if err != nil {
		return Result{}, fmt.Errorf("write stock ledger: %w", err)
	}
	res.Transaction = &rows[len(rows)-1]
	if res.LowStockCrossed {
		if err := l.alert(ctx, tx, res, alertedAt); err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

// deltas is how one change moves the variant's counters.
type deltas struct {
	onHand, reserved, sold int
}

func deltasOf(c Change) (deltas, error) {
	q := c.Quantity
	if q == 0 || q > MaxQuantity || q < -MaxQuantity {
		return deltas{}, apperr.New(apperr.Invalid, "quantity must be non-zero and at most %d in size", MaxQuantity)
	}
	switch c.Type {
	case Restock, Adjustment, Return:
		return deltas{onHand: q}, nil
	}
	if q < 0 {
		return deltas{}, apperr.New(apperr.Invalid, "quantity of a %s must be positive", c.Type)
	}
	switch c.Type {
	case Reservation:
		return deltas{reserved: q}, nil
	case Release:
		return deltas{reserved: -q}, nil
	case Sale:
		return deltas{onHand: -q, reserved: -q, sold: q}, nil
	}
	return deltas{}, apperr.New(apperr.Invalid, "unknown inventory transaction type %q", c.Type)
}

// ledgerRows returns the rows a change writes: a SALE is the release of its
// reservation followed by the sale, so that both ledger sums stay true.
func ledgerRows(c Change, r Result) []Transaction {
	row := Transaction{ProductID: r.ProductID, VariantID: c.VariantID, SKU: r.SKU, Type: c.Type, QuantityChange: c.Quantity,
		ReferenceID: c.ReferenceID, Notes: c.Notes}
	switch c.Type {
	case Reservation, Sale:
		row.QuantityChange = -c.Quantity
	}
	if c.Type != Sale {
		return []Transaction{row}
	}
	release := row
	release.Type, release.QuantityChange = Release, c.Quantity
	return []Transaction{release, row}
}

func errVariantNotFound() error { return apperr.New(apperr.NotFound, "variant not found") }

func missingOrShort(ctx context.Context, idb bun.IDB, variantID string) error {
	exists, err := variantExists(ctx, idb, variantID)
	switch {
	case err != nil:
		return fmt.Errorf("apply stock change: %w", err)
	case !exists:
		return errVariantNotFound()
	default:
		return apperr.New(apperr.InsufficientStock, "not enough stock")
	}
}

func (l *Ledger) alert(ctx context.Context, tx bun.Tx, r Result, at time.Time) error {
	realtime.Add(ctx, realtime.TopicLowStock, realtime.LowStock{
		ProductID: r.ProductID, VariantID: r.VariantID, AvailableQuantity: r.Available, Threshold: r.Threshold, Timestamp: at,
	})
	if err := l.announceLowStock(ctx, tx, r, at); err != nil {
		return err
	}
	if l.notifier == nil || l.cfg.LowStockEmail == "" {
		return nil
	}
	m := notify.Message{
		Channel:  notify.Email,
		To:       l.cfg.LowStockEmail,
		Template: "low-stock-alert",
		Data: map[string]any{
			"product_id":         r.ProductID,
			"variant_id":         r.VariantID,
			"product_name":       r.Name,
			"variant_title":      r.VariantTitle,
			"sku":                r.SKU,
			"available_quantity": r.Available,
			"threshold":          r.Threshold,
		},
		DedupeKey: "low-stock:" + r.VariantID + ":" + at.UTC().Format(time.RFC3339Nano),
	}
	if err := l.notifier.Enqueue(ctx, tx, m); err != nil {
		return fmt.Errorf("enqueue low-stock alert: %w", err)
	}
	return nil
}

// ApplyAll performs several stock changes inside tx as one statement (see
// applyAllSQL): it locks every variant in id order, checks every change,
// and then either moves all the counters and writes all the ledger rows or
// does nothing. A checkout's reservation, a payment's sale and a
// cancellation's release therefore cost one round trip per order whatever
// its number of lines, and callers need not sort the changes (InIDOrder is
// kept for the readers of the ledger's order of rows).
//
// When some changes cannot be made, ApplyAll returns failed: for each such
// change, its index and its apperr error (NotFound, InsufficientStock,
// Invalid). It judges every change, so that a checkout can name every short
// line, and then writes nothing, so tx stays usable (a caller returning the
// userError rolls back anyway). Changes of one variant are judged together,
// by their sum; each of them then gets the variant's stock after all of
// them. Any other error means roll back.
func (l *Ledger) ApplyAll(ctx context.Context, tx bun.Tx, changes []Change) (results []Result, failed map[int]error, err error) {
	var b batch
	ids := make([]string, len(changes)) // canonical, "" for a malformed change
	for i, c := range changes {
		d, err := deltasOf(c)
		if err == nil {
			if id, perr := uuid.Parse(c.VariantID); perr == nil {
				ids[i] = id.String()
			} else {
				err = errVariantNotFound()
			}
		}
		if err != nil {
			failed = setFailed(failed, i, err)
			continue
		}
		c.VariantID = ids[i]
		b.add(c, d)
	}
	// With a malformed change the others are still judged (a dry run), so
	// that every problem is reported at once.
	out, err := b.apply(ctx, tx, len(failed) == 0)
	if err != nil {
		return nil, nil, fmt.Errorf("apply stock changes: %w", err)
	}
	for i, id := range ids {
		if id == "" {
			continue
		}
		switch v := out.variants[id]; {
		case !v.Found:
			failed = setFailed(failed, i, errVariantNotFound())
		case !v.OK:
			failed = setFailed(failed, i, apperr.New(apperr.InsufficientStock, "not enough stock"))
		}
	}
	if len(failed) > 0 {
		return nil, failed, nil
	}
	if len(out.ledger) != len(b.rowVariants) {
		return nil, nil, fmt.Errorf("apply stock changes: %d ledger rows written, %d expected", len(out.ledger), len(b.rowVariants))
	}
	results = make([]Result, len(changes))
	next := 0
	alerted := make(map[string]bool)
	for i, c := range changes {
		v := out.variants[ids[i]]
		results[i] = v.result()
		next += len(ledgerRows(c, Result{}))
		t := out.ledger[next-1].transaction()
		results[i].Transaction = &t
		// One alert per variant that crossed its threshold, however many
		// changes it had.
		if results[i].LowStockCrossed && !alerted[v.ID] {
			alerted[v.ID] = true
			if err := l.alert(ctx, tx, results[i], *v.AlertedAt); err != nil {
				return nil, nil, err
			}
		}
	}
	return results, nil, nil
}

// InIDOrder sorts changes by variant id and returns them, so that the
// ledger rows of one call come in variant order.
func InIDOrder(changes []Change) []Change {
	slices.SortStableFunc(changes, func(a, b Change) int { return strings.Compare(a.VariantID, b.VariantID) })
	return changes
}

func setFailed(m map[int]error, i int, err error) map[int]error {
	if m == nil {
		m = make(map[int]error)
	}
	m[i] = err
	return m
}
