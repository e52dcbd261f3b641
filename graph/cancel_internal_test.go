package graph

import (
	"context"
	"errors"
	"testing"

	"github.com/99designs/gqlgen/graphql"
)

// stopWhenGone runs a root field while its request's context lives and
// skips it, null with the context's error, once the client has gone.
//
// Why not over the wire: gqlgen looks at the context nowhere between root
// fields and not at all in introspection, so 142 aliased __schema kept a
// core busy for 1.2 s after their client had left. The limits now refuse
// that request (at most one __schema per operation), and no request they
// accept costs enough CPU for a test on the built binary to tell a
// cancelled one from a complete one (999 aliases of categories, the
// costliest found, take about 0.1 s; TestE2EEdgeCPUBound measures them).
// gqlgen checks the context only before an operation starts, and its
// resolvers run concurrently, so a test through the handler cannot end a
// request between two root fields either; this test calls the middleware
// as gqlgen does for each root field.
func TestStopWhenGone(t *testing.T) {
	for _, gone := range []bool{false, true} {
		ctx, leave := context.WithCancel(context.Background())
		ctx = graphql.WithResponseContext(ctx, graphql.DefaultErrorPresenter, graphql.DefaultRecover)
		if gone {
			leave()
		}
		ran := false
		got := stopWhenGone(ctx, func(context.Context) graphql.Marshaler {
			ran = true
			return graphql.MarshalString("ran")
		})
		errs := graphql.GetErrors(ctx)
		switch {
		case gone && (ran || got != graphql.Null || len(errs) != 1 || !errors.Is(errs[0], context.Canceled)):
			t.Errorf("after the client left: ran %v, result %v, errors %v; want skipped, null, context canceled", ran, got, errs)
		case !gone && (!ran || len(errs) != 0):
			t.Errorf("while the client waits: ran %v, errors %v; want run", ran, errs)
		}
		leave()
	}
}
