package carts

import (
	"context"
	"fmt"
	"strings"

	"commerce/internal/apperr"
	"commerce/internal/catalog"
)

// wanted is a request line whose variant has been found.
type wanted struct {
	index     int // position in the request
	variantID string
	productID string
	quantity  int
}

// resolveLines checks request lines and finds their variants in one query.
// It returns an apperr.List of every problem found, with paths under
// ["lines", i], in line order.
func (s *Service) resolveLines(ctx context.Context, in []LineInput) ([]wanted, error) {
	if len(in) > MaxLinesPerRequest {
		return nil, apperr.InvalidField(apperr.Path("lines"), "at most %d lines per request", MaxLinesPerRequest)
	}
	var errs apperr.List
	refs := make([]catalog.LineRef, 0, len(in))
	named := make([]bool, len(in))
	for i, l := range in {
		n := 0
		for _, given := range []bool{l.VariantID != nil, trimmed(l.ProductID) != "", trimmed(l.SKU) != ""} {
			if given {
				n++
			}
		}
		if named[i] = n == 1; named[i] {
			refs = append(refs, l.ref())
		}
	}
	variants, err := s.products.ForSale(ctx, refs)
	if err != nil {
		return nil, fmt.Errorf("load variants: %w", err)
	}
	remember(ctx, variants)
	out := make([]wanted, len(in))
	for i, l := range in {
		out[i] = wanted{index: i, quantity: l.Quantity}
		if l.Quantity < 1 || l.Quantity > MaxQuantity {
			errs = append(errs, apperr.InvalidField(apperr.Path("lines", i, "quantity"), "must be between 1 and %d", MaxQuantity))
		}
		if !named[i] {
			errs = append(errs, apperr.InvalidField(apperr.Path("lines", i, "productId"), "give exactly one of variantId, sku or productId"))
		} else {
			v, err := catalog.ResolveForSale(variants, l.ref(), s.currency, func(field string) []string { return apperr.Path("lines", i, field) })
			if err != nil {
				errs.Add(err)
			} else {
				out[i].variantID, out[i].productID = v.ID, v.ProductID
			}
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// batch is a list of ids (of variants or lines) with a quantity each, and
// for variants their products' ids.
type batch struct {
	ids        []string
	productIDs []string
	quantities []int
}

// plan merges the request lines per variant and checks them against the
// cart's current lines: no variant may exceed MaxQuantity units and the
// cart may not exceed MaxLinesPerCart variants. The lines are read under
// the cart's row lock, so the check holds when the batch runs.
func plan(current []lineRow, lines []wanted) (batch, error) {
	total := make(map[string]int, len(current)+len(lines))
	for _, l := range current {
		total[l.VariantID] = l.Quantity
	}
	var u batch
	pos := map[string]int{}
	var errs apperr.List
	for _, w := range lines {
		before := total[w.variantID]
		total[w.variantID] = before + w.quantity
		if before <= MaxQuantity && before+w.quantity > MaxQuantity {
			errs.Add(apperr.InvalidField(apperr.Path("lines", w.index, "quantity"),
				"would bring this variant to %d in the cart, more than %d", before+w.quantity, MaxQuantity))
		}
		if i, ok := pos[w.variantID]; ok {
			u.quantities[i] += w.quantity
			continue
		}
		pos[w.variantID] = len(u.ids)
		u.ids = append(u.ids, w.variantID)
		u.productIDs = append(u.productIDs, w.productID)
		u.quantities = append(u.quantities, w.quantity)
	}
	if len(total) > MaxLinesPerCart {
		errs.Add(apperr.InvalidField(apperr.Path("lines"), "a cart holds at most %d different variants", MaxLinesPerCart))
	}
	return u, errs.Err()
}

// lineUpdates checks updates against the cart's lines and splits them into
// quantities to set and lines to delete.
func lineUpdates(current []lineRow, updates []LineUpdate) (set batch, remove []string, err error) {
	if len(updates) > MaxLinesPerRequest {
		return set, nil, apperr.InvalidField(apperr.Path("lines"), "at most %d lines per request", MaxLinesPerRequest)
	}
	have := make(map[string]bool, len(current))
	for _, l := range current {
		have[l.ID] = true
	}
	seen := make(map[string]bool, len(updates))
	var errs apperr.List
	for i, u := range updates {
		if u.Quantity < 0 || u.Quantity > MaxQuantity {
			errs.Add(apperr.InvalidField(apperr.Path("lines", i, "quantity"), "must be between 0 and %d", MaxQuantity))
		}
		id, ok := canonicalID(u.ID)
		switch {
		case !ok || !have[id]:
			errs.Add(apperr.Field(apperr.NotFound, apperr.Path("lines", i, "id"), "cart line not found"))
			continue
		case seen[id]:
			errs.Add(apperr.InvalidField(apperr.Path("lines", i, "id"), "appears more than once"))
			continue
		}
		seen[id] = true
		if u.Quantity == 0 {
			remove = append(remove, id)
		} else {
			set.ids = append(set.ids, id)
			set.quantities = append(set.quantities, u.Quantity)
		}
	}
	return set, remove, errs.Err()
}

// lineRemovals checks line ids against the cart's lines; an id given twice
// is removed once.
func lineRemovals(current []lineRow, lineIDs []string) ([]string, error) {
	if len(lineIDs) > MaxLinesPerRequest {
		return nil, apperr.InvalidField(apperr.Path("lineIds"), "at most %d line ids per request", MaxLinesPerRequest)
	}
	have := make(map[string]bool, len(current))
	for _, l := range current {
		have[l.ID] = true
	}
	var errs apperr.List
	ids := make([]string, 0, len(lineIDs))
	for i, raw := range lineIDs {
		id, ok := canonicalID(raw)
		if !ok || !have[id] {
			errs.Add(apperr.Field(apperr.NotFound, apperr.Path("lineIds", i), "cart line not found"))
			continue
		}
		ids = append(ids, id)
	}
	return ids, errs.Err()
}

func trimmed(s *string) string {
	if s == nil {
		return ""
	}
	return strings.TrimSpace(*s)
}
