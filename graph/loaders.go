package graph

import (
	"context"
	"time"

	"github.com/vikstrous/dataloadgen"

	"commerce/internal/customers"
)

// loaders batch the per-object lookups of one operation into one query per
// kind. They live for one operation (AroundOperations), so a websocket
// subscription never serves stale rows from an old cache.
type loaders struct {
	customer *dataloadgen.Loader[string, *customers.Customer]
}

type loadersKey struct{}

// loaderWait is how long a loader gathers keys before it queries.
const loaderWait = 2 * time.Millisecond

func withLoaders(ctx context.Context, r *Resolver) context.Context {
	l := &loaders{
		customer: dataloadgen.NewLoader(keyed(r.customers.ByIDs), dataloadgen.WithWait(loaderWait)),
	}
	return context.WithValue(ctx, loadersKey{}, l)
}

func loadersFrom(ctx context.Context) *loaders {
	return ctx.Value(loadersKey{}).(*loaders)
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
