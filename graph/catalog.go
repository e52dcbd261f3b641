package graph

import (
	"context"
	"errors"

	"commerce/graph/model"
	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/catalog"
)

// productConnection lists products and, when the query asks for images,
// fetches the whole page's images in one query up front.
func (r *Resolver) productConnection(ctx context.Context, params catalog.ListParams) (*model.ProductConnection, error) {
	p, err := r.svc.Catalog.List(ctx, params)
	if err != nil {
		return nil, err
	}
	if len(p.Products) > 0 && requested(ctx, "edges", "node", "images") {
		ids := make([]string, len(p.Products))
		for i, prod := range p.Products {
			ids[i] = prod.ID
		}
		imgs, err := r.svc.Catalog.ImagesByProductIDs(ctx, ids)
		if err != nil {
			return nil, err
		}
		l := loadersFrom(ctx)
		for _, id := range ids {
			l.images.Prime(id, imgs[id])
		}
	}
	count := func(ctx context.Context) (int, error) { return r.svc.Catalog.Count(ctx, params.Filter) }
	return toProductConnection(p, params.Filter, count), nil
}

// productBy finds a product by exactly one of id, sku or handle. Inactive
// products are visible to staff only; to others they do not exist.
func (r *Resolver) productBy(ctx context.Context, id, sku, handle *string) (*catalog.Product, error) {
	given := 0
	for _, v := range []*string{id, sku, handle} {
		if v != nil {
			given++
		}
	}
	if given != 1 {
		return nil, apperr.New(apperr.Invalid, "give exactly one of id, sku or handle")
	}
	var p *catalog.Product
	var err error
	switch {
	case id != nil:
		p, err = r.svc.Catalog.ByID(ctx, *id)
	case sku != nil:
		p, err = r.svc.Catalog.BySKU(ctx, *sku)
	default:
		p, err = r.svc.Catalog.ByHandle(ctx, *handle)
	}
	if err != nil {
		return nil, err
	}
	if !p.IsActive && !auth.FromContext(ctx).IsStaff() {
		return nil, apperr.New(apperr.NotFound, "product not found")
	}
	return p, nil
}

// productPayload turns a catalog mutation's result into its payload.
func productPayload(p *catalog.Product, err error) (*model.ProductPayload, error) {
	if ues, ok := userErrors(err); ok {
		return &model.ProductPayload{UserErrors: ues}, nil
	}
	if err != nil {
		return nil, err
	}
	return &model.ProductPayload{Product: toProduct(p), UserErrors: []*model.UserError{}}, nil
}

// toProductImages converts stored images, each with a signed URL that is
// the same all through a TTL window (so browsers and CDNs can cache it).
func (r *Resolver) toProductImages(ctx context.Context, imgs []catalog.Image) ([]*model.ProductImage, error) {
	out := make([]*model.ProductImage, 0, len(imgs))
	if len(imgs) > 0 && r.svc.Images == nil {
		return nil, errors.New("product images have no storage configured")
	}
	for _, img := range imgs {
		u, err := r.svc.Images.URL(ctx, img.StorageKey)
		if err != nil {
			return nil, err
		}
		out = append(out, &model.ProductImage{ID: img.ID, URL: u, AltText: img.AltText, Position: img.Position})
	}
	return out, nil
}

// imagePayload is productPayload for the image mutations. The operation's
// image loader forgets the product, so that its images are read afresh
// after the change even when an earlier field of the operation loaded them.
func imagePayload(ctx context.Context, p *catalog.Product, err error) (*model.ProductPayload, error) {
	if p != nil {
		loadersFrom(ctx).images.Clear(p.ID)
	}
	return productPayload(p, err)
}

// productByID loads a product through the operation's loader; a product
// that no longer exists is NOT_FOUND.
func (r *Resolver) productByID(ctx context.Context, id string) (*model.Product, error) {
	p, err := loadersFrom(ctx).product.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, apperr.New(apperr.NotFound, "product not found")
	}
	return toProduct(p), nil
}
