package graph

import (
	"context"
	"time"

	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vikstrous/dataloadgen"

	"commerce/internal/apperr"
	"commerce/internal/catalog"
	"commerce/internal/customers"
	"commerce/internal/orders"
)

// loaders batch the per-object lookups of one operation into one query per
// kind. They live for one operation (AroundOperations), so a websocket
// subscription never serves stale rows from an old cache.
type loaders struct {
	customer *dataloadgen.Loader[string, *customers.Customer]
	product  *dataloadgen.Loader[string, *catalog.Product]
	images   *dataloadgen.Loader[string, []catalog.Image]
	// variants holds each product's variants, inactive ones included:
	// resolvers leave those out for everyone but staff.
	variants *dataloadgen.Loader[string, []*catalog.Variant]
	variant  *dataloadgen.Loader[string, *catalog.Variant]
	options  *dataloadgen.Loader[string, []catalog.Option]
	lines    *dataloadgen.Loader[string, []orders.Line]
	events   *dataloadgen.Loader[string, []orders.Event]
	refunds  *dataloadgen.Loader[string, []orders.Refund]
	// fulfillments holds each order's shipments.
	fulfillments *dataloadgen.Loader[string, []orders.Fulfillment]
	// order and returns serve returns: a return's order, an order's returns.
	order   *dataloadgen.Loader[string, *orders.Order]
	returns *dataloadgen.Loader[string, []*orders.Return]

	// streamEnd is why a subscription's stream ended early; the error
	// presenter shows it instead of the null element that ends the stream.
	streamEnd atomic.Pointer[apperr.Error]
}

type loadersKey struct{}

// loaderWait is how long a loader gathers keys before it queries.
const loaderWait = 2 * time.Millisecond

func withLoaders(ctx context.Context, r *Resolver) context.Context {
	l := &loaders{
		customer: dataloadgen.NewLoader(keyed(r.svc.Customers.ByIDs), dataloadgen.WithWait(loaderWait)),
		product:  dataloadgen.NewLoader(keyed(r.svc.Catalog.ByIDs), dataloadgen.WithWait(loaderWait)),
		images:   dataloadgen.NewLoader(keyed(inKeyOrder(r.svc.Catalog.ImagesByProductIDs)), dataloadgen.WithWait(loaderWait)),
		variants: dataloadgen.NewLoader(keyed(inKeyOrder(func(ctx context.Context, ids []string) (map[string][]*catalog.Variant, error) {
			return r.svc.Catalog.VariantsByProductIDs(ctx, ids, true)
		})), dataloadgen.WithWait(loaderWait)),
		variant:      dataloadgen.NewLoader(keyed(r.svc.Catalog.VariantsByIDs), dataloadgen.WithWait(loaderWait)),
		options:      dataloadgen.NewLoader(keyed(inKeyOrder(r.svc.Catalog.OptionsByProductIDs)), dataloadgen.WithWait(loaderWait)),
		lines:        dataloadgen.NewLoader(keyed(r.svc.Orders.Lines), dataloadgen.WithWait(loaderWait)),
		events:       dataloadgen.NewLoader(keyed(r.svc.Orders.Events), dataloadgen.WithWait(loaderWait)),
		refunds:      dataloadgen.NewLoader(keyed(r.svc.Orders.Refunds), dataloadgen.WithWait(loaderWait)),
		fulfillments: dataloadgen.NewLoader(keyed(r.svc.Orders.Fulfillments), dataloadgen.WithWait(loaderWait)),
		order:        dataloadgen.NewLoader(keyed(r.svc.Orders.ByIDs), dataloadgen.WithWait(loaderWait)),
		returns:      dataloadgen.NewLoader(keyed(r.svc.Orders.Returns), dataloadgen.WithWait(loaderWait)),
	}
	return context.WithValue(ctx, loadersKey{}, l)
}

func loadersFrom(ctx context.Context) *loaders {
	return ctx.Value(loadersKey{}).(*loaders)
}

// streamEnded returns why the operation's subscription stream ended early,
// if it did.
func streamEnded(ctx context.Context) *apperr.Error {
	if l, ok := ctx.Value(loadersKey{}).(*loaders); ok {
		return l.streamEnd.Load()
	}
	return nil
}

// keyed adapts a service's "values in key order" batch function to the
// loader's signature.
func keyed[V any](fetch func(ctx context.Context, ids []string) ([]V, error)) func(ctx context.Context, ids []string) ([]V, []error) {
	return func(ctx context.Context, ids []string) ([]V, []error) {
		vs, err := fetch(ctx, ids)
		if err != nil {
			return nil, []error{err}
		}
		return vs, nil
	}
}

// inKeyOrder adapts a batch function that returns a map to one that returns
// values in key order (the zero value where the map has none).
func inKeyOrder[V any](fetch func(ctx context.Context, ids []string) (map[string]V, error)) func(ctx context.Context, ids []string) ([]V, error) {
	return func(ctx context.Context, ids []string) ([]V, error) {
		m, err := fetch(ctx, ids)
		if err != nil {
			return nil, err
		}
		out := make([]V, len(ids))
		for i, id := range ids {
			out[i] = m[id]
		}
		return out, nil
	}
}

// requested reports whether the current field's selection reaches the
// field path (e.g. "edges", "node", "images"), so a list resolver can
// fetch what its children need in one query up front.
func requested(ctx context.Context, path ...string) bool {
	oc := graphql.GetOperationContext(ctx)
	fields := graphql.CollectFieldsCtx(ctx, nil)
	for _, name := range path {
		var next []graphql.CollectedField
		found := false
		for _, f := range fields {
			if f.Name == name {
				found = true
				next = append(next, graphql.CollectFields(oc, f.Selections, nil)...)
			}
		}
		if !found {
			return false
		}
		fields = next
	}
	return true
}
