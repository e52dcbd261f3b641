package graph

import (
	"context"
	"strings"

	"commerce/graph/model"
	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/catalog"
)

// productVariants returns a product's variants in position order: all of
// them for staff, the active ones for everyone else.
func (r *Resolver) productVariants(ctx context.Context, productID string) ([]*catalog.Variant, error) {
	all, err := loadersFrom(ctx).variants.Load(ctx, productID)
	if err != nil {
		return nil, err
	}
	if auth.FromContext(ctx).IsStaff() {
		return all, nil
	}
	active := make([]*catalog.Variant, 0, len(all))
	for _, v := range all {
		if v.IsActive {
			active = append(active, v)
		}
	}
	return active, nil
}

// variantWithOptions returns the active variant whose values match sel
// exactly (one per option, names and values case-insensitively), or nil.
func variantWithOptions(variants []*catalog.Variant, sel []*model.SelectedOptionInput) *catalog.Variant {
	for _, v := range variants {
		if v.IsActive && sameOptions(v.SelectedOptions, sel) {
			return v
		}
	}
	return nil
}

func sameOptions(have []catalog.SelectedOption, want []*model.SelectedOptionInput) bool {
	if len(have) != len(want) {
		return false
	}
	for _, h := range have {
		n := 0
		for _, w := range want {
			if strings.EqualFold(strings.TrimSpace(w.Name), h.Name) && strings.EqualFold(strings.TrimSpace(w.Value), h.Value) {
				n++
			}
		}
		if n != 1 {
			return false
		}
	}
	return true
}

// variantBy finds a variant by exactly one of id or sku. An unknown one is
// NOT_FOUND, and so, to everyone but staff, is an inactive variant or one
// of an inactive product.
func (r *Resolver) variantBy(ctx context.Context, id, sku *string) (*model.ProductVariant, error) {
	if (id == nil) == (sku == nil) {
		return nil, apperr.New(apperr.Invalid, "give exactly one of id or sku")
	}
	v, err := r.visibleVariant(ctx, id, sku)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, apperr.New(apperr.NotFound, "variant not found")
	}
	return toVariant(v), nil
}

// visibleVariant returns the variant with the id or sku if the caller may
// see it, else nil.
func (r *Resolver) visibleVariant(ctx context.Context, id, sku *string) (*catalog.Variant, error) {
	var v *catalog.Variant
	var err error
	if id != nil {
		v, err = loadersFrom(ctx).variant.Load(ctx, *id)
	} else {
		v, err = r.svc.Catalog.VariantBySKU(ctx, *sku)
		if apperr.KindOf(err) == apperr.NotFound {
			v, err = nil, nil
		}
	}
	if err != nil || v == nil || auth.FromContext(ctx).IsStaff() {
		return v, err
	}
	p, err := loadersFrom(ctx).product.Load(ctx, v.ProductID)
	if err != nil || !v.IsActive || p == nil || !p.IsActive {
		return nil, err
	}
	return v, nil
}

// variantByID loads a variant through the operation's loader; one that no
// longer exists is NOT_FOUND.
func (r *Resolver) variantByID(ctx context.Context, id string) (*model.ProductVariant, error) {
	v, err := loadersFrom(ctx).variant.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, apperr.New(apperr.NotFound, "variant not found")
	}
	return toVariant(v), nil
}

// variantPayload turns a variant mutation's result into its payload.
func variantPayload(ctx context.Context, v *catalog.Variant, p *catalog.Product, err error) (*model.ProductVariantPayload, error) {
	if ues, ok := userErrors(err); ok {
		return &model.ProductVariantPayload{UserErrors: ues}, nil
	}
	if err != nil {
		return nil, err
	}
	forgetVariants(ctx, p.ID)
	return &model.ProductVariantPayload{Variant: toVariant(v), Product: toProduct(p), UserErrors: []*model.UserError{}}, nil
}

// variantsPayload is productPayload for the mutations that change a
// product's variants or options.
func variantsPayload(ctx context.Context, p *catalog.Product, err error) (*model.ProductPayload, error) {
	if p != nil {
		forgetVariants(ctx, p.ID)
	}
	return productPayload(p, err)
}

// forgetVariants makes the operation's loaders read a product's variants
// and options afresh after a change, even when an earlier field of the
// operation loaded them.
func forgetVariants(ctx context.Context, productID string) {
	l := loadersFrom(ctx)
	l.variants.Clear(productID)
	l.options.Clear(productID)
}

func toProductOptions(opts []catalog.Option) []*model.ProductOption {
	out := make([]*model.ProductOption, len(opts))
	for i, o := range opts {
		out[i] = &model.ProductOption{ID: o.ID, Name: o.Name, Position: o.Position, Values: o.Values}
	}
	return out
}

func toFacets(fs []catalog.Facet) []*model.Facet {
	out := make([]*model.Facet, len(fs))
	for i, f := range fs {
		values := make([]*model.FacetValue, len(f.Values))
		for j, v := range f.Values {
			values[j] = &model.FacetValue{Value: v.Value, Count: v.Count}
		}
		out[i] = &model.Facet{Key: f.Key, Label: f.Label, Values: values}
	}
	return out
}

func toVariantConnection(p catalog.VariantPage, count func(ctx context.Context) (int, error)) *model.ProductVariantConnection {
	edges := make([]*model.ProductVariantEdge, len(p.Variants))
	for i, v := range p.Variants {
		edges[i] = &model.ProductVariantEdge{Node: toVariant(v), Cursor: p.Cursors[i]}
	}
	return &model.ProductVariantConnection{Edges: edges, PageInfo: toPageInfo(p.HasNextPage, p.HasPreviousPage, p.Cursors), Count: count}
}
