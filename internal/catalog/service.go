package catalog

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/inventory"
	"commerce/internal/platform/db"
	"commerce/internal/webhooks"
)

// Unique indexes whose violations are the caller's to fix.
const (
	skuKey    = "product_variants_sku_key"
	handleKey = "products_handle_key"
)

// handleAttempts bounds retries when two products race for the same
// generated handle.
const handleAttempts = 3

// Create validates in and inserts the product with its options and
// variants, recording each variant's opening stock as a RESTOCK in the
// ledger, all in one transaction. It returns an apperr.List of every
// Invalid field at once (nothing is written then), a TAKEN userError at the
// sku's path when a sku (compared case-insensitively) exists, and one at
// ["input","handle"] when an explicit handle exists.
func (s *Service) Create(ctx context.Context, in CreateInput) (*Product, error) {
	n, errs := s.validateCreate(in)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	skuPath := func(i int) []string {
		if in.Options == nil {
			return inputPath("sku")
		}
		return inputPath("variants", i, "sku")
	}
	generate := n.product.Handle == ""
	for attempt := 1; ; attempt++ {
		var p *Product
		err := s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			var err error
			if p, err = s.insert(ctx, tx, n, generate); err != nil {
				return err
			}
			return s.announce(ctx, tx, webhooks.ProductCreated, p)
		})
		if err == nil {
			return p, nil
		}
		if !generate || attempt == handleAttempts || !db.IsUniqueViolation(err, handleKey) {
			return nil, writeError("create product", err, s.skuOwner(ctx, n.variants, skuPath))
		}
	}
}

// insert writes a validated new product and returns it as read back.
func (s *Service) insert(ctx context.Context, tx bun.Tx, n newProduct, generate bool) (*Product, error) {
	r := n.product
	if generate {
		h, err := freeHandle(ctx, tx, baseHandle(r.Name, n.variants[0].SKU))
		if err != nil {
			return nil, err
		}
		r.Handle = h
	}
	if err := insertProduct(ctx, tx, &r); err != nil {
		return nil, err
	}
	for i := range n.options {
		n.options[i].ProductID = r.ID
	}
	if err := insertOptions(ctx, tx, n.options); err != nil {
		return nil, err
	}
	if err := s.insertVariants(ctx, tx, r.ID, 0, n.variants, n.stock); err != nil {
		return nil, err
	}
	return s.reread(ctx, tx, r.ID)
}

// insertVariants inserts a product's new variants from position first on,
// records their opening stock and updates the product's price.
func (s *Service) insertVariants(ctx context.Context, tx bun.Tx, productID string, first int, rows []variantRow, stock []int) error {
	for i := range rows {
		rows[i].ProductID, rows[i].Position = productID, first+i
	}
	if err := insertVariants(ctx, tx, rows); err != nil {
		return err
	}
	notes := "Opening stock"
	var changes []inventory.Change
	for i, q := range stock {
		if q > 0 {
			changes = append(changes, inventory.Change{VariantID: rows[i].ID, Type: inventory.Restock, Quantity: q, Notes: &notes})
		}
	}
	if len(changes) > 0 {
		if _, failed, err := s.ledger.ApplyAll(ctx, tx, inventory.InIDOrder(changes)); err != nil || len(failed) > 0 {
			return fmt.Errorf("record opening stock: %w %v", err, failed)
		}
	}
	return syncProductSummary(ctx, tx, productID)
}

// reread returns a product as it now is inside tx.
func (s *Service) reread(ctx context.Context, tx bun.Tx, id string) (*Product, error) {
	r, err := selectProduct(ctx, tx, false, "p.id = ?", id)
	if err != nil {
		return nil, err
	}
	return r.product(), nil
}

// skuOwner returns the userError path of the new variant whose sku a
// TAKEN error is about: the first whose sku now exists.
func (s *Service) skuOwner(ctx context.Context, rows []variantRow, path func(int) []string) []string {
	for i, r := range rows {
		if exists, err := s.db.Bun.NewSelect().Table("product_variants").
			Where("lower(sku) = lower(?)", r.SKU).Exists(ctx); err == nil && exists {
			return path(i)
		}
	}
	return path(0)
}

// writeError turns unique violations into TAKEN userErrors; skuPath is the
// path of the sku field at fault.
func writeError(action string, err error, skuPath []string) error {
	var ae *apperr.Error
	var list apperr.List
	switch {
	case db.IsUniqueViolation(err, skuKey):
		return apperr.Taken(skuPath, "sku")
	case db.IsUniqueViolation(err, handleKey):
		return apperr.Taken(apperr.Path("input", "handle"), "handle")
	case errors.As(err, &list), errors.As(err, &ae):
		return err
	}
	return fmt.Errorf("%s: %w", action, err)
}

// Update changes the given fields of a product in one transaction; the
// fields of its variant act on its only active variant. It returns a
// NotFound userError at ["id"] for an unknown or malformed id, an
// apperr.List of every Invalid field at once (nothing is written then), a
// VARIANT_REQUIRED userError at the first variant field given for
// a product with several active variants, and a TAKEN userError at
// ["input","handle"] when the new handle exists.
func (s *Service) Update(ctx context.Context, id string, in UpdateInput) (*Product, error) {
	key, ok := canonicalID(id)
	if !ok {
		return nil, notFoundAt("id")
	}
	var p *Product
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		r, err := selectProduct(ctx, tx, true, "p.id = ?", key)
		if db.IsNoRows(err) {
			return notFoundAt("id")
		}
		if err != nil {
			return err
		}
		errs := applyUpdate(r, in)
		var v *variantRow
		if vf := in.variantFields(); vf.given() {
			if v, err = onlyActiveVariant(ctx, tx, key, inputPath(vf.first())); err != nil {
				return err
			}
			applyVariantFields(v, vf, inputPath, &errs)
		}
		if len(errs) > 0 {
			return errs
		}
		if err := updateProduct(ctx, tx, r); err != nil {
			return err
		}
		if v != nil {
			if err := updateVariant(ctx, tx, v); err != nil {
				return err
			}
			if err := syncProductSummary(ctx, tx, key); err != nil {
				return err
			}
		}
		if p, err = s.reread(ctx, tx, key); err != nil {
			return err
		}
		return s.announce(ctx, tx, webhooks.ProductUpdated, p)
	})
	if err != nil {
		return nil, writeError("update product", err, inputPath("sku"))
	}
	return p, nil
}

// onlyActiveVariant returns a product's one active variant, or a
// VARIANT_REQUIRED userError at path when it has several.
func onlyActiveVariant(ctx context.Context, idb bun.IDB, productID string, path []string) (*variantRow, error) {
	rows, err := selectVariants(ctx, idb, "v.product_id = ? AND v.is_active", productID)
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 {
		return nil, apperr.Coded("VARIANT_REQUIRED", path,
			"the product has %d active variants: change the variant with productVariantUpdate", len(rows))
	}
	return &rows[0], nil
}

// Archive deactivates a product so that it leaves the storefront (a
// PRODUCT_UPDATED webhook); orders and the ledger keep referring to it and
// its variants. It returns a NotFound userError at ["id"] for an unknown or
// malformed id.
func (s *Service) Archive(ctx context.Context, id string) (*Product, error) {
	key, ok := canonicalID(id)
	if !ok {
		return nil, notFoundAt("id")
	}
	var p *Product
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		found, err := archiveProduct(ctx, tx, key)
		if err != nil {
			return err
		}
		if !found {
			return notFoundAt("id")
		}
		if p, err = s.reread(ctx, tx, key); err != nil {
			return err
		}
		return s.announce(ctx, tx, webhooks.ProductUpdated, p)
	})
	if err != nil {
		return nil, writeError("archive product", err, nil)
	}
	return p, nil
}

// ByID returns a product, active or not. It returns an apperr NotFound
// error for an unknown or malformed id.
func (s *Service) ByID(ctx context.Context, id string) (*Product, error) {
	key, ok := canonicalID(id)
	if !ok {
		return nil, errNotFound()
	}
	return s.one(ctx, "p.id = ?", key)
}

// BySKU returns the product of the variant with the sku, compared
// case-insensitively. It returns an apperr NotFound error when there is none.
func (s *Service) BySKU(ctx context.Context, sku string) (*Product, error) {
	return s.one(ctx, "p.id = (SELECT product_id FROM product_variants WHERE lower(sku) = lower(?))", sku)
}

// ByHandle returns the product with the handle. It returns an apperr
// NotFound error when there is none.
func (s *Service) ByHandle(ctx context.Context, handle string) (*Product, error) {
	return s.one(ctx, "p.handle = ?", handle)
}

func (s *Service) one(ctx context.Context, where string, arg any) (*Product, error) {
	r, err := selectProduct(ctx, s.db.Bun, false, where, arg)
	if db.IsNoRows(err) {
		return nil, errNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("load product: %w", err)
	}
	return r.product(), nil
}

// ByIDs returns the products in the order of ids, nil where there is none,
// in one query; malformed ids are simply not found. It is the batch
// function of the product dataloader.
func (s *Service) ByIDs(ctx context.Context, ids []string) ([]*Product, error) {
	out := make([]*Product, len(ids))
	keys := canonicalIDs(ids)
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := selectByIDs(ctx, s.db.Bun, keys)
	if err != nil {
		return nil, fmt.Errorf("load products: %w", err)
	}
	byID := make(map[string]*productRow, len(rows))
	for i := range rows {
		byID[rows[i].ID] = &rows[i]
	}
	for i, id := range ids {
		if key, ok := canonicalID(id); ok && byID[key] != nil {
			out[i] = byID[key].product()
		}
	}
	return out, nil
}

// ImagesByProductIDs returns the images of each product, by position, in
// one query, keyed by the ids as given; products without images (and
// malformed ids) have no entry.
func (s *Service) ImagesByProductIDs(ctx context.Context, ids []string) (map[string][]Image, error) {
	out := make(map[string][]Image, len(ids))
	keys := canonicalIDs(ids)
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := selectImages(ctx, s.db.Bun, keys)
	if err != nil {
		return nil, fmt.Errorf("load product images: %w", err)
	}
	byProduct := make(map[string][]Image, len(keys))
	for _, r := range rows {
		byProduct[r.ProductID] = append(byProduct[r.ProductID], r.image())
	}
	for _, id := range ids {
		if key, ok := canonicalID(id); ok && len(byProduct[key]) > 0 {
			out[id] = byProduct[key]
		}
	}
	return out, nil
}

// Categories returns the distinct categories of active products, sorted.
func (s *Service) Categories(ctx context.Context) ([]string, error) {
	cats, err := selectCategories(ctx, s.db.Bun)
	if err != nil {
		return nil, fmt.Errorf("list categories: %w", err)
	}
	if cats == nil {
		cats = []string{}
	}
	return cats, nil
}

// canonicalID returns the lowercase hyphenated form of a UUID.
func canonicalID(id string) (string, bool) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

func canonicalIDs(ids []string) []string {
	keys := make([]string, 0, len(ids))
	for _, id := range ids {
		if key, ok := canonicalID(id); ok {
			keys = append(keys, key)
		}
	}
	return keys
}

func errNotFound() error { return apperr.New(apperr.NotFound, "product not found") }

func notFoundAt(field string) error {
	return apperr.Field(apperr.NotFound, apperr.Path(field), "product not found")
}
