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
	skuKey    = "products_sku_key"
	handleKey = "products_handle_key"
)

// handleAttempts bounds retries when two products race for the same
// generated handle.
const handleAttempts = 3

// Create validates in and inserts the product, recording opening stock as a
// RESTOCK in the ledger in the same transaction. It returns an apperr.List
// of every Invalid field at once (nothing is written then), a TAKEN userError
// at ["input","sku"] when the sku (compared case-insensitively) exists, and
// one at ["input","handle"] when an explicit handle exists.
func (s *Service) Create(ctx context.Context, in CreateInput) (*Product, error) {
	r, stock, errs := s.validateCreate(in)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	generate := r.Handle == ""
	for attempt := 1; ; attempt++ {
		row := r
		err := s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			if err := s.insert(ctx, tx, &row, stock, generate); err != nil {
				return err
			}
			return s.announce(ctx, tx, webhooks.ProductCreated, row.product())
		})
		if err == nil {
			return row.product(), nil
		}
		if !generate || attempt == handleAttempts || !db.IsUniqueViolation(err, handleKey) {
			return nil, writeError("create product", err)
		}
	}
}

func (s *Service) insert(ctx context.Context, tx bun.Tx, r *productRow, stock int, generate bool) error {
	if generate {
		h, err := freeHandle(ctx, tx, baseHandle(r.Name, r.SKU))
		if err != nil {
			return err
		}
		r.Handle = h
	}
	if err := insertProduct(ctx, tx, r); err != nil {
		return err
	}
	if stock == 0 {
		return nil
	}
	notes := "Opening stock"
	res, err := s.ledger.Apply(ctx, tx, inventory.Change{ProductID: r.ID, Type: inventory.Restock, Quantity: stock, Notes: &notes})
	if err != nil {
		return fmt.Errorf("record opening stock: %w", err)
	}
	r.OnHand, r.Reserved, r.Available = res.OnHand, res.Reserved, res.Available
	return nil
}

// writeError turns unique violations into TAKEN userErrors.
func writeError(action string, err error) error {
	var ae *apperr.Error
	var list apperr.List
	switch {
	case db.IsUniqueViolation(err, skuKey):
		return apperr.Taken(apperr.Path("input", "sku"), "sku")
	case db.IsUniqueViolation(err, handleKey):
		return apperr.Taken(apperr.Path("input", "handle"), "handle")
	case errors.As(err, &list), errors.As(err, &ae):
		return err
	}
	return fmt.Errorf("%s: %w", action, err)
}

// Update changes the given fields of a product in one transaction. It
// returns a NotFound userError at ["id"] for an unknown or malformed id, an
// apperr.List of every Invalid field at once (nothing is written then), and
// a TAKEN userError at ["input","handle"] when the new handle exists.
func (s *Service) Update(ctx context.Context, id string, in UpdateInput) (*Product, error) {
	key, ok := canonicalID(id)
	if !ok {
		return nil, notFoundAt("id")
	}
	var r *productRow
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		r, err = selectProduct(ctx, tx, true, "p.id = ?", key)
		if db.IsNoRows(err) {
			return notFoundAt("id")
		}
		if err != nil {
			return err
		}
		if errs := applyUpdate(r, in); len(errs) > 0 {
			return errs
		}
		if err := updateProduct(ctx, tx, r); err != nil {
			return err
		}
		return s.announce(ctx, tx, webhooks.ProductUpdated, r.product())
	})
	if err != nil {
		return nil, writeError("update product", err)
	}
	return r.product(), nil
}

// Archive deactivates a product so that it leaves the storefront (a
// PRODUCT_UPDATED webhook); orders and the ledger keep referring to it. It returns a NotFound userError at
// ["id"] for an unknown or malformed id.
func (s *Service) Archive(ctx context.Context, id string) (*Product, error) {
	key, ok := canonicalID(id)
	if !ok {
		return nil, notFoundAt("id")
	}
	var r *productRow
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if r, err = archiveProduct(ctx, tx, key); err != nil || r == nil {
			return err
		}
		return s.announce(ctx, tx, webhooks.ProductUpdated, r.product())
	})
	if err != nil {
		return nil, fmt.Errorf("archive product: %w", err)
	}
	if r == nil {
		return nil, notFoundAt("id")
	}
	return r.product(), nil
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

// BySKU returns the product with the sku, compared case-insensitively. It
// returns an apperr NotFound error when there is none.
func (s *Service) BySKU(ctx context.Context, sku string) (*Product, error) {
	return s.one(ctx, "lower(p.sku) = lower(?)", sku)
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
