package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"commerce/graph/generated"
	"commerce/graph/model"
	"commerce/internal/platform/page"
)

// Query limits. A storefront page of 20 products with every field costs a
// few hundred; the limit leaves room for a staff page of 100 orders with
// their lines while refusing aliases that repeat a list a thousand times.
const (
	complexityLimit = 10000
	depthLimit      = 12
)

// listCost weights a paginated field by the page size asked for, so that
// `first` counts as many times as rows it may return.
func listCost(child int, first *int) int {
	n := page.DefaultFirst
	if first != nil && *first > 0 {
		// Past MaxFirst the resolver refuses the page with BAD_USER_INPUT,
		// which says more than a complexity error would.
		n = min(*first, page.MaxFirst)
	}
	return 1 + child*n
}

// complexity sets the cost of every paginated field.
func complexity() generated.ComplexityRoot {
	var c generated.ComplexityRoot
	c.Query.Products = func(child int, first *int, _ *string, _ *model.ProductFilter, _ *model.ProductSortKey, _ *bool) int {
		return listCost(child, first)
	}
	c.Query.Orders = func(child int, first *int, _ *string, _ *model.OrderFilter) int { return listCost(child, first) }
	c.Query.Customers = func(child int, first *int, _ *string, _ *string) int { return listCost(child, first) }
	c.Query.LowStockProducts = func(child int, first *int, _ *string) int { return listCost(child, first) }
	c.Query.Notifications = func(child int, first *int, _ *string, _ *string, _ *string) int { return listCost(child, first) }
	c.Product.InventoryTransactions = func(child int, first *int, _ *string) int { return listCost(child, first) }
	c.Customer.Orders = func(child int, first *int, _ *string) int { return listCost(child, first) }
	return c
}

// depthLimitExtension refuses operations nested deeper than max fields.
type depthLimitExtension struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimitExtension{}

func (depthLimitExtension) ExtensionName() string                   { return "DepthLimit" }
func (depthLimitExtension) Validate(graphql.ExecutableSchema) error { return nil }

func (d depthLimitExtension) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if depth(oc.Operation.SelectionSet, 0, d.max) > d.max {
		return &gqlerror.Error{
			Message:    "operation is nested too deeply",
			Extensions: map[string]any{"code": codeTooComplex},
		}
	}
	return nil
}

// depth returns the deepest field nesting below set, stopping early once it
// passes limit (so cyclic fragment spreads, refused by validation anyway,
// cannot loop).
func depth(set ast.SelectionSet, level, limit int) int {
	if level > limit {
		return level
	}
	deepest := level
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			d = depth(s.SelectionSet, level+1, limit)
		case *ast.InlineFragment:
			d = depth(s.SelectionSet, level, limit)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				d = depth(s.Definition.SelectionSet, level, limit)
			}
		}
		deepest = max(deepest, d)
	}
	return deepest
}
