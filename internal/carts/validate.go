package carts

import (
	"context"
	"fmt"
	"strings"

	"commerce/internal/apperr"
	"commerce/internal/catalog"
)

// wanted is a request line whose product has been found.
type wanted struct {
	index     int    // position in the request
	field     string // "productId" or "sku": where the product was named
	productID string
	quantity  int
}

// resolveLines checks request lines and finds their products: one ByIDs
// call for the ids, one BySKU call per distinct sku. It returns an
// apperr.List of every problem found, with paths under ["lines", i].
func (s *Service) resolveLines(ctx context.Context, in []LineInput) ([]wanted, error) {
	if len(in) > MaxLinesPerRequest {
		return nil, apperr.InvalidField(apperr.Path("lines"), "at most %d lines per request", MaxLinesPerRequest)
	}
	// errs holds the problems of each line, so that they are reported in
	// line order whichever pass found them.
	errs := make([]apperr.List, len(in))
	out := make([]wanted, len(in))
	var ids []string
	for i, l := range in {
		out[i] = wanted{index: i, quantity: l.Quantity}
		if l.Quantity < 1 || l.Quantity > MaxQuantity {
			errs[i].Add(apperr.InvalidField(apperr.Path("lines", i, "quantity"), "must be between 1 and %d", MaxQuantity))
		}
		id, sku := trimmed(l.ProductID), trimmed(l.SKU)
		switch {
		case (id == "") == (sku == ""):
			errs[i].Add(apperr.InvalidField(apperr.Path("lines", i, "productId"), "give exactly one of productId or sku"))
		case id != "":
			out[i].field = "productId"
			ids = append(ids, id)
		default:
			out[i].field = "sku"
		}
	}
	products, err := s.lookup(ctx, in, out, ids)
	if err != nil {
		return nil, err
	}
	for i := range out {
		w := &out[i]
		if w.field == "" {
			continue
		}
		p := products[i]
		switch {
		case p == nil || !p.IsActive:
			errs[i].Add(apperr.Field(apperr.NotFound, apperr.Path("lines", i, w.field), "product not found"))
		case p.Price.Currency != s.currency:
			errs[i].Add(apperr.InvalidField(apperr.Path("lines", i, w.field),
				"is sold in %s, not in the store currency %s", p.Price.Currency, s.currency))
		default:
			w.productID = p.ID
		}
	}
	var all apperr.List
	for _, l := range errs {
		all = append(all, l...)
	}
	if err := all.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// lookup returns the product of each line named by id or sku, nil where
// there is none; ids are the product ids of the lines named by id, in order.
func (s *Service) lookup(ctx context.Context, in []LineInput, lines []wanted, ids []string) ([]*catalog.Product, error) {
	out := make([]*catalog.Product, len(lines))
	var byID []*catalog.Product
	if len(ids) > 0 {
		var err error
		if byID, err = s.products.ByIDs(ctx, ids); err != nil {
			return nil, fmt.Errorf("load products: %w", err)
		}
	}
	bySKU := map[string]*catalog.Product{}
	next := 0
	for i, w := range lines {
		switch w.field {
		case "productId":
			out[i] = byID[next]
			next++
		case "sku":
			key := strings.ToLower(trimmed(in[i].SKU))
			p, seen := bySKU[key]
			if !seen {
				var err error
				p, err = s.products.BySKU(ctx, key)
				if apperr.KindOf(err) == apperr.NotFound {
					p, err = nil, nil
				}
				if err != nil {
					return nil, fmt.Errorf("load product by sku: %w", err)
				}
				bySKU[key] = p
			}
			out[i] = p
		}
	}
	return out, nil
}

// batch is a list of ids (of products or lines) with a quantity each.
type batch struct {
	ids        []string
	quantities []int
}

// plan merges the request lines per product and checks them against the
// cart's current lines: no product may exceed MaxQuantity units and the
// cart may not exceed MaxLinesPerCart products. The lines are read under
// the cart's row lock, so the check holds when the batch runs.
func plan(current []lineRow, lines []wanted) (batch, error) {
	total := make(map[string]int, len(current)+len(lines))
	for _, l := range current {
		total[l.ProductID] = l.Quantity
	}
	var u batch
	pos := map[string]int{}
	var errs apperr.List
	for _, w := range lines {
		before := total[w.productID]
		total[w.productID] = before + w.quantity
		if before <= MaxQuantity && before+w.quantity > MaxQuantity {
			errs.Add(apperr.InvalidField(apperr.Path("lines", w.index, "quantity"),
				"would bring this product to %d in the cart, more than %d", before+w.quantity, MaxQuantity))
		}
		if i, ok := pos[w.productID]; ok {
			u.quantities[i] += w.quantity
			continue
		}
		pos[w.productID] = len(u.ids)
		u.ids = append(u.ids, w.productID)
		u.quantities = append(u.quantities, w.quantity)
	}
	if len(total) > MaxLinesPerCart {
		errs.Add(apperr.InvalidField(apperr.Path("lines"), "a cart holds at most %d different products", MaxLinesPerCart))
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
