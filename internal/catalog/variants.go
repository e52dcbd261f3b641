package catalog

import (
	"context"
	"fmt"
	"strings"

	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/platform/db"
	"commerce/internal/platform/page"
	"commerce/internal/webhooks"
)

// CreateVariants adds variants to a product with one value of each of its
// options, after its existing variants, with their opening stock, in one
// transaction under the product's row lock. Paths start at ["variants"].
// It returns a NotFound userError at ["productId"] for an unknown product,
// an apperr.List of every problem (VARIANT_EXISTS for a combination the
// product has, TAKEN for a sku that exists) and writes nothing then.
func (s *Service) CreateVariants(ctx context.Context, productID string, in []VariantInput) (*Product, error) {
	key, ok := canonicalID(productID)
	if !ok {
		return nil, notFoundAt("productId")
	}
	at := under("variants")
	if len(in) == 0 {
		return nil, apperr.InvalidField(at(), "give 1..%d variants", maxVariants)
	}
	var rows []variantRow
	var p *Product
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		r, err := selectProduct(ctx, tx, true, "p.id = ?", key)
		if db.IsNoRows(err) {
			return notFoundAt("productId")
		}
		if err != nil {
			return err
		}
		options, err := selectOptions(ctx, tx, []string{key})
		if err != nil {
			return err
		}
		existing, err := selectVariants(ctx, tx, "v.product_id = ?", key)
		if err != nil {
			return err
		}
		if len(existing)+len(in) > maxVariants {
			return apperr.InvalidField(at(), "a product has at most %d variants; it has %d", maxVariants, len(existing))
		}
		keys := make(map[string]bool, len(existing))
		for _, v := range existing {
			keys[v.OptionKey] = true
		}
		var errs apperr.List
		var stock []int
		rows, stock = checkVariants(in, options, r.Currency, keys, at, &errs)
		s.checkImages(ctx, tx, key, rows, in, at, &errs)
		if err := errs.Err(); err != nil {
			return err
		}
		if err := s.insertVariants(ctx, tx, key, len(existing), rows, stock); err != nil {
			return err
		}
		if p, err = s.reread(ctx, tx, key); err != nil {
			return err
		}
		return s.announce(ctx, tx, webhooks.ProductUpdated, p)
	})
	if err != nil {
		return nil, writeError("create variants", err, s.skuOwner(ctx, rows, func(i int) []string { return at(i, "sku") }))
	}
	return p, nil
}

// checkImages sets each new variant's image, which must be one of the
// product's.
func (s *Service) checkImages(ctx context.Context, idb bun.IDB, productID string, rows []variantRow, in []VariantInput, at pathFunc, errs *apperr.List) {
	for i := range rows {
		if in[i].ImageID == nil {
			continue
		}
		id, ok := s.imageOf(ctx, idb, productID, *in[i].ImageID)
		if !ok {
			*errs = append(*errs, apperr.Field(apperr.NotFound, at(i, "imageId"), "the product has no such image"))
			continue
		}
		rows[i].ImageID = &id
	}
}

// imageOf returns the canonical id of one of the product's images.
func (s *Service) imageOf(ctx context.Context, idb bun.IDB, productID, imageID string) (string, bool) {
	key, ok := canonicalID(imageID)
	if !ok {
		return "", false
	}
	pid, err := imageProductID(ctx, idb, key)
	return key, err == nil && pid == productID
}

// UpdateVariant changes the given fields of a variant in one transaction
// under its product's row lock. It returns a NotFound userError at ["id"]
// for an unknown variant, LAST_VARIANT at ["input","isActive"] when it
// would deactivate the product's last active variant, and an apperr.List of
// every Invalid field (nothing is written then).
func (s *Service) UpdateVariant(ctx context.Context, id string, in VariantUpdateInput) (*Variant, *Product, error) {
	return s.changeVariant(ctx, id, func(ctx context.Context, tx bun.Tx, v *variantRow, siblings []variantRow) error {
		var errs apperr.List
		applyVariantFields(v, variantFields{SKU: in.SKU, Price: in.Price, CompareAtPrice: in.CompareAtPrice,
			CostPrice: in.CostPrice, LowStockThreshold: in.LowStockThreshold, WeightGrams: in.WeightGrams,
			Dimensions: in.Dimensions, Clear: in.Clear}, inputPath, &errs)
		if in.ImageID != nil {
			if img, ok := s.imageOf(ctx, tx, v.ProductID, *in.ImageID); ok {
				v.ImageID = &img
			} else {
				errs = append(errs, apperr.Field(apperr.NotFound, inputPath("imageId"), "the product has no such image"))
			}
		}
		for _, c := range in.Clear {
			if c == "imageId" {
				v.ImageID = nil
			}
		}
		if in.IsActive != nil {
			if !*in.IsActive && v.IsActive && activeCount(siblings) == 1 {
				errs = append(errs, lastVariant(inputPath("isActive")))
			}
			v.IsActive = *in.IsActive
		}
		if in.Position != nil && *in.Position < 0 {
			errs = append(errs, apperr.InvalidField(inputPath("position"), "must not be negative"))
		}
		if err := errs.Err(); err != nil {
			return err
		}
		if err := updateVariant(ctx, tx, v); err != nil {
			return err
		}
		if in.Position != nil {
			return setVariantOrder(ctx, tx, v.ProductID, moveTo(siblings, v.ID, *in.Position))
		}
		return nil
	})
}

// ArchiveVariant deactivates a variant: it is no longer for sale, and
// orders and the ledger keep referring to it. It returns a NotFound
// userError at ["id"] for an unknown variant and LAST_VARIANT at ["id"] for
// the product's last active variant.
func (s *Service) ArchiveVariant(ctx context.Context, id string) (*Variant, *Product, error) {
	return s.changeVariant(ctx, id, func(ctx context.Context, tx bun.Tx, v *variantRow, siblings []variantRow) error {
		if !v.IsActive {
			return nil
		}
		if activeCount(siblings) == 1 {
			return lastVariant(apperr.Path("id"))
		}
		v.IsActive = false
		return updateVariant(ctx, tx, v)
	})
}

// changeVariant runs change on a variant, with its product's variants in
// position order, under the product's row lock, then updates the
// product's price and announces the product's change.
func (s *Service) changeVariant(ctx context.Context, id string,
	change func(ctx context.Context, tx bun.Tx, v *variantRow, siblings []variantRow) error) (*Variant, *Product, error) {
	key, ok := canonicalID(id)
	if !ok {
		return nil, nil, variantNotFoundAt("id")
	}
	var v *Variant
	var p *Product
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		r, err := selectProduct(ctx, tx, true, "p.id = (SELECT product_id FROM product_variants WHERE id = ?)", key)
		if db.IsNoRows(err) {
			return variantNotFoundAt("id")
		}
		if err != nil {
			return err
		}
		siblings, err := selectVariants(ctx, tx, "v.product_id = ?", r.ID)
		if err != nil {
			return err
		}
		var row *variantRow
		for i := range siblings {
			if siblings[i].ID == key {
				row = &siblings[i]
			}
		}
		if err := change(ctx, tx, row, siblings); err != nil {
			return err
		}
		if err := syncProductSummary(ctx, tx, r.ID); err != nil {
			return err
		}
		rows, err := selectVariants(ctx, tx, "v.id = ?", key)
		if err != nil {
			return err
		}
		v = rows[0].variant()
		if p, err = s.reread(ctx, tx, r.ID); err != nil {
			return err
		}
		return s.announce(ctx, tx, webhooks.ProductUpdated, p)
	})
	if err != nil {
		return nil, nil, writeError("change variant", err, inputPath("sku"))
	}
	return v, p, nil
}

func activeCount(rows []variantRow) int {
	n := 0
	for _, r := range rows {
		if r.IsActive {
			n++
		}
	}
	return n
}

// moveTo returns the ids of rows (in position order) with id moved to the
// 0-based place to, or last when to is beyond the end.
func moveTo(rows []variantRow, id string, to int) []string {
	ids := make([]string, 0, len(rows))
	for _, r := range rows {
		if r.ID != id {
			ids = append(ids, r.ID)
		}
	}
	to = min(to, len(ids))
	return append(ids[:to], append([]string{id}, ids[to:]...)...)
}

func lastVariant(path []string) *apperr.Error {
	return apperr.Coded("LAST_VARIANT", path, "this is the product's last active variant: archive the product instead")
}

// AddOptionValues adds values to one of a product's options; existing
// variants are unchanged. It returns a NotFound userError at ["productId"]
// or ["optionName"], and Invalid at ["values", i] for a blank, too long or
// duplicate value (nothing is written then).
func (s *Service) AddOptionValues(ctx context.Context, productID, optionName string, values []string) (*Product, error) {
	key, ok := canonicalID(productID)
	if !ok {
		return nil, notFoundAt("productId")
	}
	var p *Product
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if _, err := selectProduct(ctx, tx, true, "p.id = ?", key); db.IsNoRows(err) {
			return notFoundAt("productId")
		} else if err != nil {
			return err
		}
		options, err := selectOptions(ctx, tx, []string{key})
		if err != nil {
			return err
		}
		var o *optionRow
		for i := range options {
			if strings.EqualFold(options[i].Name, strings.TrimSpace(optionName)) {
				o = &options[i]
			}
		}
		if o == nil {
			return apperr.Field(apperr.NotFound, apperr.Path("optionName"), "the product has no option %q", strings.TrimSpace(optionName))
		}
		var errs apperr.List
		added := checkOptionValues(values, o.Values, under("values"), &errs)
		if err := errs.Err(); err != nil {
			return err
		}
		o.Values = append(o.Values, added...)
		if err := updateOptionValues(ctx, tx, o); err != nil {
			return err
		}
		if p, err = s.reread(ctx, tx, key); err != nil {
			return err
		}
		return s.announce(ctx, tx, webhooks.ProductUpdated, p)
	})
	if err != nil {
		return nil, writeError("add option values", err, nil)
	}
	return p, nil
}

// VariantsByProductIDs returns each product's variants in position order,
// in one query, keyed by the ids as given; inactive variants only when
// withInactive. It is the batch function of the variants loader.
func (s *Service) VariantsByProductIDs(ctx context.Context, ids []string, withInactive bool) (map[string][]*Variant, error) {
	out := make(map[string][]*Variant, len(ids))
	keys := canonicalIDs(ids)
	if len(keys) == 0 {
		return out, nil
	}
	where := "v.product_id IN (?)"
	if !withInactive {
		where += " AND v.is_active"
	}
	rows, err := selectVariants(ctx, s.db.Bun, where, bun.List(keys))
	if err != nil {
		return nil, fmt.Errorf("load variants: %w", err)
	}
	byProduct := make(map[string][]*Variant, len(keys))
	for i := range rows {
		byProduct[rows[i].ProductID] = append(byProduct[rows[i].ProductID], rows[i].variant())
	}
	for _, id := range ids {
		if key, ok := canonicalID(id); ok {
			out[id] = byProduct[key]
		}
	}
	return out, nil
}

// VariantsByIDs returns the variants in the order of ids, nil where there
// is none, in one query; malformed ids are simply not found. It is the
// batch function of the variant loader.
func (s *Service) VariantsByIDs(ctx context.Context, ids []string) ([]*Variant, error) {
	out := make([]*Variant, len(ids))
	keys := canonicalIDs(ids)
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := selectVariants(ctx, s.db.Bun, "v.id IN (?)", bun.List(keys))
	if err != nil {
		return nil, fmt.Errorf("load variants: %w", err)
	}
	byID := make(map[string]*variantRow, len(rows))
	for i := range rows {
		byID[rows[i].ID] = &rows[i]
	}
	for i, id := range ids {
		if key, ok := canonicalID(id); ok && byID[key] != nil {
			out[i] = byID[key].variant()
		}
	}
	return out, nil
}

// VariantBySKU returns the variant with the sku, compared
// case-insensitively. It returns an apperr NotFound error when there is none.
func (s *Service) VariantBySKU(ctx context.Context, sku string) (*Variant, error) {
	rows, err := selectVariants(ctx, s.db.Bun, "lower(v.sku) = lower(?)", strings.TrimSpace(sku))
	if err != nil {
		return nil, fmt.Errorf("load variant: %w", err)
	}
	if len(rows) == 0 {
		return nil, apperr.New(apperr.NotFound, "variant not found")
	}
	return rows[0].variant(), nil
}

// OptionsByProductIDs returns each product's options in position order, in
// one query, keyed by the ids as given. It is the batch function of the
// options loader.
func (s *Service) OptionsByProductIDs(ctx context.Context, ids []string) (map[string][]Option, error) {
	out := make(map[string][]Option, len(ids))
	keys := canonicalIDs(ids)
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := selectOptions(ctx, s.db.Bun, keys)
	if err != nil {
		return nil, fmt.Errorf("load options: %w", err)
	}
	byProduct := make(map[string][]Option, len(keys))
	for _, r := range rows {
		byProduct[r.ProductID] = append(byProduct[r.ProductID], r.option())
	}
	for _, id := range ids {
		if key, ok := canonicalID(id); ok {
			out[id] = byProduct[key]
		}
	}
	return out, nil
}

// VariantPage is one page of variants.
type VariantPage struct {
	Variants        []*Variant
	Cursors         []string
	HasNextPage     bool
	HasPreviousPage bool
}

// lowStockCursor is the keyset position in the low-stock list.
type lowStockCursor struct {
	Available int    `json:"a"`
	ID        string `json:"id"`
}

// LowStockVariants returns active variants of active products whose
// available stock is at or below their threshold, least available first
// (ties by id). It returns an apperr Invalid error for a bad first or after.
func (s *Service) LowStockVariants(ctx context.Context, first *int, after string) (VariantPage, error) {
	limit, err := page.First(first)
	if err != nil {
		return VariantPage{}, err
	}
	q := s.db.Bun.NewSelect().Model((*variantRow)(nil)).ColumnExpr("?TableColumns, v.available").
		Where(lowStockWhere).
		OrderExpr("v.available, v.id").Limit(int64(limit + 1))
	if after != "" {
		var c lowStockCursor
		if err := page.Decode(after, &c); err != nil {
			return VariantPage{}, err
		}
		if _, ok := canonicalID(c.ID); !ok {
			return VariantPage{}, apperr.New(apperr.Invalid, "after is not a cursor of this list")
		}
		q = q.Where("(v.available, v.id) > (?, ?::uuid)", c.Available, c.ID)
	}
	var rows []variantRow
	if err := q.Scan(ctx, &rows); err != nil {
		return VariantPage{}, fmt.Errorf("list low-stock variants: %w", err)
	}
	out := VariantPage{HasNextPage: len(rows) > limit, HasPreviousPage: after != ""}
	for i := range rows[:min(len(rows), limit)] {
		out.Variants = append(out.Variants, rows[i].variant())
		out.Cursors = append(out.Cursors, page.Encode(lowStockCursor{Available: rows[i].Available, ID: rows[i].ID}))
	}
	return out, nil
}

// CountLowStockVariants counts the variants of LowStockVariants.
func (s *Service) CountLowStockVariants(ctx context.Context) (int, error) {
	n, err := s.db.Bun.NewSelect().Model((*variantRow)(nil)).Where(lowStockWhere).Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("count low-stock variants: %w", err)
	}
	return int(n), nil
}

// lowStockWhere selects active variants of active products at or below
// their threshold (served by product_variants_low_stock_idx).
const lowStockWhere = `v.is_active AND v.available <= v.low_stock_threshold
	AND EXISTS (SELECT 1 FROM products AS p WHERE p.id = v.product_id AND p.is_active)`

func variantNotFoundAt(field string) error {
	return apperr.Field(apperr.NotFound, apperr.Path(field), "variant not found")
}
