package carts

import (
	"context"
	"sync"

	"commerce/internal/catalog"
)

// variantMemo remembers the variants loaded for sale during one request.
type variantMemo struct {
	mu   sync.Mutex
	byID map[string]catalog.SaleVariant
}

type memoKey struct{}

// WithVariantMemo returns a context in which the variants that a cart
// change loads (to check the lines it adds) are remembered, so that
// pricing the cart for the change's answer does not load them again: a
// cart create or add of new variants then loads the catalog once. The
// price shown is the one read at the start of the request, milliseconds
// before; checkout prices from the catalog again in its own transaction.
// Use it for one request only.
func WithVariantMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, memoKey{}, &variantMemo{byID: map[string]catalog.SaleVariant{}})
}

// remember records loaded variants in ctx's memo, if it has one.
func remember(ctx context.Context, loaded []catalog.SaleVariant) {
	m, ok := ctx.Value(memoKey{}).(*variantMemo)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range loaded {
		m.byID[v.ID] = v
	}
}

// recalled returns the remembered variants of ids when ctx's memo has all
// of them.
func recalled(ctx context.Context, ids []string) ([]catalog.SaleVariant, bool) {
	m, ok := ctx.Value(memoKey{}).(*variantMemo)
	if !ok {
		return nil, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]catalog.SaleVariant, 0, len(ids))
	for _, id := range ids {
		v, ok := m.byID[id]
		if !ok {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}
