package inventory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/platform/db"
	"commerce/internal/platform/page"
	"commerce/internal/realtime"
)

// Length caps of free-text ledger fields.
const (
	maxReferenceLen = 200
	maxNotesLen     = 1000
)

// Service is the staff-facing side of the ledger: manual adjustments, the
// transaction history and the daily low-stock report.
type Service struct {
	db       *db.DB
	ledger   *Ledger
	notifier Notifier
	cfg      Config
}

// NewService returns a Service whose ledger sends low-stock alerts, and
// which sends the daily report, through n (nil for none).
func NewService(d *db.DB, n Notifier, cfg Config) *Service {
	return &Service{db: d, ledger: NewLedger(n, cfg), notifier: n, cfg: cfg}
}

// Ledger returns the ledger, for packages that change stock inside their
// own transactions (catalog's opening stock, checkout, payments).
func (s *Service) Ledger() *Ledger { return s.ledger }

// AdjustInput is a manual stock change by staff, of the variant VariantID
// or of the only active variant of the product ProductID (one of the two).
type AdjustInput struct {
	VariantID      string
	ProductID      string
	QuantityChange int
	Type           TxType // RESTOCK, ADJUSTMENT or RETURN
	ReferenceID    *string
	Notes          *string
}

// Adjust applies a manual stock change in its own transaction and returns
// the variant's new stock and the ledger row. It returns an apperr.List of
// userErrors for invalid input (NotFound at ["input","variantId"] or
// ["input","productId"] for a malformed id, Invalid at the offending field
// otherwise), a NotFound userError for an unknown variant or product,
// VARIANT_REQUIRED at ["input","productId"] for a product without exactly
// one active variant, and an InsufficientStock userError at
// ["input","quantityChange"] when the change would take stock below zero or
// below what is reserved.
func (s *Service) Adjust(ctx context.Context, in AdjustInput) (*Result, error) {
	in.ReferenceID, in.Notes = trimmedOrNil(in.ReferenceID), trimmedOrNil(in.Notes)
	if err := validateAdjust(in); err != nil {
		return nil, err
	}
	target := apperr.Path("input", "variantId")
	if in.VariantID == "" {
		target = apperr.Path("input", "productId")
	}
	var res Result
	ctx, batch := realtime.WithBatch(ctx)
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		variantID := in.VariantID
		if variantID == "" {
			ids, err := activeVariantsOf(ctx, tx, in.ProductID)
			if err != nil {
				return err
			}
			switch len(ids) {
			case 0:
				return errVariantNotFound()
			case 1:
				variantID = ids[0]
			default:
				return apperr.Coded("VARIANT_REQUIRED", target, "the product has %d active variants: give variantId", len(ids))
			}
		}
		var err error
		res, err = s.ledger.Apply(ctx, tx, Change{VariantID: variantID, Type: in.Type,
			Quantity: in.QuantityChange, ReferenceID: in.ReferenceID, Notes: in.Notes})
		return err
	})
	if err == nil {
		if live := s.ledger.cfg.Live; live != nil && batch.Len() > 0 {
			live.Publish(ctx, batch)
		}
		return &res, nil
	}
	var ae *apperr.Error
	switch {
	case errors.As(err, &ae) && ae.Field != nil:
		return nil, err
	case apperr.KindOf(err) == apperr.NotFound:
		return nil, apperr.Field(apperr.NotFound, target, "not found")
	case apperr.KindOf(err) == apperr.InsufficientStock:
		return nil, apperr.Field(apperr.InsufficientStock, apperr.Path("input", "quantityChange"),
			"stock cannot go below zero or below what is reserved")
	}
	return nil, fmt.Errorf("adjust stock: %w", err)
}

func validateAdjust(in AdjustInput) error {
	var errs apperr.List
	switch {
	case (in.VariantID == "") == (in.ProductID == ""):
		errs = append(errs, apperr.InvalidField(apperr.Path("input", "variantId"), "give exactly one of variantId or productId"))
	case in.VariantID != "":
		if _, err := uuid.Parse(in.VariantID); err != nil {
			errs = append(errs, apperr.Field(apperr.NotFound, apperr.Path("input", "variantId"), "variant not found"))
		}
	default:
		if _, err := uuid.Parse(in.ProductID); err != nil {
			errs = append(errs, apperr.Field(apperr.NotFound, apperr.Path("input", "productId"), "product not found"))
		}
	}
	if in.QuantityChange == 0 || in.QuantityChange > MaxQuantity || in.QuantityChange < -MaxQuantity {
		errs = append(errs, apperr.InvalidField(apperr.Path("input", "quantityChange"),
			"must be non-zero and between -%d and %d", MaxQuantity, MaxQuantity))
	}
	switch in.Type {
	case Restock, Adjustment, Return:
	default:
		errs = append(errs, apperr.InvalidField(apperr.Path("input", "type"), "must be RESTOCK, ADJUSTMENT or RETURN"))
	}
	if in.ReferenceID != nil && utf8.RuneCountInString(*in.ReferenceID) > maxReferenceLen {
		errs = append(errs, apperr.InvalidField(apperr.Path("input", "referenceId"), "must be at most %d characters", maxReferenceLen))
	}
	if in.Notes != nil && utf8.RuneCountInString(*in.Notes) > maxNotesLen {
		errs = append(errs, apperr.InvalidField(apperr.Path("input", "notes"), "must be at most %d characters", maxNotesLen))
	}
	return errs.Err()
}

func trimmedOrNil(s *string) *string {
	if s == nil {
		return nil
	}
	t := strings.TrimSpace(*s)
	if t == "" {
		return nil
	}
	return &t
}

// TxPage is one page of a product's ledger, newest first.
type TxPage struct {
	Transactions    []Transaction
	Cursors         []string
	HasNextPage     bool
	HasPreviousPage bool
}

// Transactions returns a page of a product's ledger rows (of all its
// variants), newest first. first defaults to 20 when nil. It returns an
// apperr Invalid error when first is outside 0..100 or after is not a
// cursor of this listing, and NotFound when productID is not a UUID; an
// unknown product has no rows.
func (s *Service) Transactions(ctx context.Context, productID string, first *int, after string) (TxPage, error) {
	return s.transactions(ctx, ofProduct, productID, first, after)
}

// VariantTransactions is Transactions of one variant.
func (s *Service) VariantTransactions(ctx context.Context, variantID string, first *int, after string) (TxPage, error) {
	return s.transactions(ctx, ofVariant, variantID, first, after)
}

func (s *Service) transactions(ctx context.Context, owner ledgerOwner, id string, first *int, after string) (TxPage, error) {
	limit, err := page.First(first)
	if err != nil {
		return TxPage{}, err
	}
	if _, err := uuid.Parse(id); err != nil {
		return TxPage{}, apperr.New(apperr.NotFound, "not found")
	}
	before, err := decodeSeqCursor(after)
	if err != nil {
		return TxPage{}, err
	}
	rows, err := selectTransactions(ctx, s.db.Bun, owner, id, before, limit+1)
	if err != nil {
		return TxPage{}, fmt.Errorf("list inventory transactions: %w", err)
	}
	p := TxPage{HasNextPage: len(rows) > limit, HasPreviousPage: after != ""}
	p.Transactions = rows[:min(len(rows), limit)]
	for _, t := range p.Transactions {
		p.Cursors = append(p.Cursors, page.Encode(seqCursor{Seq: t.Seq}))
	}
	return p, nil
}

// CountTransactions returns how many ledger rows a product has. It returns
// an apperr NotFound error when productID is not a UUID.
func (s *Service) CountTransactions(ctx context.Context, productID string) (int, error) {
	return s.countTransactions(ctx, ofProduct, productID)
}

// CountVariantTransactions returns how many ledger rows a variant has.
func (s *Service) CountVariantTransactions(ctx context.Context, variantID string) (int, error) {
	return s.countTransactions(ctx, ofVariant, variantID)
}

func (s *Service) countTransactions(ctx context.Context, owner ledgerOwner, id string) (int, error) {
	if _, err := uuid.Parse(id); err != nil {
		return 0, apperr.New(apperr.NotFound, "not found")
	}
	n, err := countTransactions(ctx, s.db.Bun, owner, id)
	if err != nil {
		return 0, fmt.Errorf("count inventory transactions: %w", err)
	}
	return n, nil
}

// seqCursor is the keyset position in a product's ledger.
type seqCursor struct {
	Seq int64 `json:"seq"`
}

// decodeSeqCursor returns 0 for an empty cursor.
func decodeSeqCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	var k seqCursor
	if err := page.Decode(c, &k); err != nil {
		return 0, err
	}
	if k.Seq <= 0 {
		return 0, apperr.New(apperr.Invalid, "after is not a valid cursor")
	}
	return k.Seq, nil
}
