package graph

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

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
	c.Query.Returns = func(child int, first *int, _ *string, _ *model.ReturnStatus) int { return listCost(child, first) }
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
// cannot loop). __Type.ofType adds no level: it is one object, never a
// list, so a chain of them costs nothing, and the standard introspection
// query that GraphiQL and other clients send to draw their documentation
// follows it eight deep.
func depth(set ast.SelectionSet, level, limit int) int {
	if level > limit {
		return level
	}
	deepest := level
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			next := level + 1
			if s.Name == "ofType" && s.ObjectDefinition != nil && s.ObjectDefinition.Name == "__Type" {
				next = level
			}
			d = depth(s.SelectionSet, next, limit)
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

// Document limits, checked before gqlgen validates a document: validation
// compares fields that share a response name pairwise (the
// OverlappingFieldsCanBeMerged rule), so its cost grows with the square of
// a document's selections, and a 1 MiB body of repeated fields kept a core
// busy for minutes. maxTokens bounds the parse; maxSelections bounds
// validation to a few tens of milliseconds on the worst shapes measured
// (one name repeated, fragments spread side by side, identical subtrees
// nested). The largest operation of our storefront, admin and tests has
// about 100 tokens and 50 selections.
//
// maxDocumentBytes bounds the text itself, which tokens do not (a long
// string or comment is one token): gqlgen's query cache and the persisted
// queries each keep up to a thousand documents, so this bounds their
// memory to tens of MiB.
//
// maxSameResponseName bounds how many fields one selection set (its
// fragments and the sets of same-named parent fields merged in, as
// validation merges them) may select under one response name: within the
// selection limit, a thousand fields answering to one name that cannot be
// merged made validation report every conflicting pair (a quarter of a
// million errors and a 66 MB answer from a 13 KB document). Real documents
// repeat a name only where fragments overlap, a few times at most.
const (
	maxTokens           = 10_000
	maxSelections       = 1_000
	maxDocumentBytes    = 64 << 10
	maxSameResponseName = 8
)

// documentLimits refuses, with QUERY_TOO_COMPLEX and before gqlgen parses
// and validates it, a document of more than maxDocumentBytes bytes,
// maxTokens tokens, maxSelections selections or more than
// maxSameResponseName fields under one response name; a document that does
// not parse gets the parser's GRAPHQL_PARSE_FAILED here, so that gqlgen never parses an
// unbounded one. It runs before the persisted-query extension, so a
// document is refused before it is stored under its hash, and a request
// that names a stored hash alone brings a document that passed. A
// document in gqlgen's query cache has passed and is not parsed again.
type documentLimits struct {
	cache graphql.Cache[*ast.QueryDocument]
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = documentLimits{}

func (documentLimits) ExtensionName() string                   { return "DocumentLimits" }
func (documentLimits) Validate(graphql.ExecutableSchema) error { return nil }

func (d documentLimits) MutateOperationParameters(ctx context.Context, params *graphql.RawParams) *gqlerror.Error {
	if params.Query == "" {
		return nil
	}
	if len(params.Query) > maxDocumentBytes {
		return tooComplex(fmt.Sprintf("the document is longer than %d KiB: send long values as variables", maxDocumentBytes>>10))
	}
	if _, ok := d.cache.Get(ctx, params.Query); ok {
		return nil
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: params.Query}, maxTokens)
	if err != nil {
		var perr *gqlerror.Error
		if !errors.As(err, &perr) {
			perr = gqlerror.Errorf("the query does not parse")
		}
		// The parser's only refusal that is not about syntax.
		if strings.HasPrefix(perr.Message, "exceeded token limit") {
			return tooComplex(fmt.Sprintf("the document has more than %d tokens", maxTokens))
		}
		errcode.Set(perr, errcode.ParseFailed)
		return perr
	}
	if selections(doc, maxSelections) > maxSelections {
		return tooComplex(fmt.Sprintf("the document has more than %d selections (fields and fragments, counted where each fragment is spread)", maxSelections))
	}
	if name, ok := repeatedResponseName(doc, maxSameResponseName); ok {
		return tooComplex(fmt.Sprintf("a selection set has more than %d fields named %.40q (aliases and fragments included)", maxSameResponseName, name))
	}
	return nil
}

// repeatedResponseName finds a response name (alias, else field name)
// selected more than limit times in one selection set of doc, where the set
// includes its inline fragments and spread fragments, and the sub-selections
// of same-named fields count as one set, as validation merges them. It
// runs after the selection limit, which bounds its work.
func repeatedResponseName(doc *ast.QueryDocument, limit int) (string, bool) {
	var sets []ast.SelectionSet
	for _, op := range doc.Operations {
		sets = append(sets, op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		sets = append(sets, f.SelectionSet)
	}
	for _, set := range sets {
		if name, ok := repeatedIn(doc, []ast.SelectionSet{set}, limit); ok {
			return name, true
		}
	}
	return "", false
}

// repeatedIn checks the merged selection set made of sets, then the merged
// sub-selections of each response name in it.
func repeatedIn(doc *ast.QueryDocument, sets []ast.SelectionSet, limit int) (string, bool) {
	byName := map[string][]ast.SelectionSet{}
	var names []string // in document order, for a stable answer
	var flatten func(set ast.SelectionSet, spreading map[string]bool)
	flatten = func(set ast.SelectionSet, spreading map[string]bool) {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				name := s.Alias
				if name == "" {
					name = s.Name
				}
				if _, seen := byName[name]; !seen {
					names = append(names, name)
				}
				byName[name] = append(byName[name], s.SelectionSet)
			case *ast.InlineFragment:
				flatten(s.SelectionSet, spreading)
			case *ast.FragmentSpread:
				def := doc.Fragments.ForName(s.Name)
				if def == nil || spreading[s.Name] { // unknown or a cycle: validation refuses both
					continue
				}
				spreading[s.Name] = true
				flatten(def.SelectionSet, spreading)
				delete(spreading, s.Name)
			}
		}
	}
	for _, set := range sets {
		flatten(set, map[string]bool{})
	}
	for _, name := range names {
		if len(byName[name]) > limit {
			return name, true
		}
	}
	for _, name := range names {
		var children []ast.SelectionSet
		for _, set := range byName[name] {
			if len(set) > 0 {
				children = append(children, set)
			}
		}
		if len(children) == 0 {
			continue
		}
		if n, ok := repeatedIn(doc, children, limit); ok {
			return n, true
		}
	}
	return "", false
}

func tooComplex(message string) *gqlerror.Error {
	return &gqlerror.Error{Message: message, Extensions: map[string]any{"code": codeTooComplex}}
}

// selections counts the fields, inline fragments and fragment spreads of
// every operation and fragment definition of doc, as validation walks
// them: a spread counts once plus the selections of the fragment it names,
// so a small document whose fragments spread one another many times counts
// as large as it is. Counting stops a little past limit; a fragment cycle
// (which validation refuses) is counted once.
func selections(doc *ast.QueryDocument, limit int) int {
	c := selectionCounter{doc: doc, limit: limit, fragments: map[string]int{}}
	n := 0
	for _, op := range doc.Operations {
		n = c.add(n, c.count(op.SelectionSet))
	}
	for _, f := range doc.Fragments {
		n = c.add(n, c.fragment(f.Name))
	}
	return n
}

type selectionCounter struct {
	doc       *ast.QueryDocument
	limit     int
	fragments map[string]int // counted fragments; -1 while being counted
}

// add sums without passing limit+1, so that fragments that multiply cannot
// overflow.
func (c *selectionCounter) add(a, b int) int { return min(a+b, c.limit+1) }

func (c *selectionCounter) count(set ast.SelectionSet) int {
	n := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			n = c.add(n, c.add(1, c.count(s.SelectionSet)))
		case *ast.InlineFragment:
			n = c.add(n, c.add(1, c.count(s.SelectionSet)))
		case *ast.FragmentSpread:
			n = c.add(n, c.add(1, c.fragment(s.Name)))
		}
		if n > c.limit {
			return n
		}
	}
	return n
}

func (c *selectionCounter) fragment(name string) int {
	if n, ok := c.fragments[name]; ok {
		return max(n, 0)
	}
	def := c.doc.Fragments.ForName(name)
	if def == nil {
		return 0
	}
	c.fragments[name] = -1
	n := c.count(def.SelectionSet)
	c.fragments[name] = n
	return n
}

// expensiveRootFields are the root fields that cost far more than a read
// (a bcrypt hash, a reservation, a scheduled email) or that guess a
// secret, with how many of each one operation may hold (aliases and
// fragment spreads included): one registration, one login of each kind,
// one checkout and one cart, three order lookups by email or access
// token, enough for a page showing an order in a few places, and one
// return request (it guesses an order's email or token like a lookup, and
// each one locks the order and may write and email; one request lists all
// the lines to return). The quotas bound them per client over time; these
// bound one request. Introspection is here too: the complexity limit does
// not weigh it, so each __schema alias lists the whole schema; 142 of them
// (10 KB) took 1.2 s of CPU and answered 10 MB. A client's documentation
// pane asks one __schema, and a tool asks a few __type.
var expensiveRootFields = map[string]int{
	"customerRegister": 1,
	"customerLogin":    1,
	"staffLogin":       1,
	"checkout":         1,
	"cartCreate":       1,
	orderLookupField:   3,
	"returnRequest":    1,
	"__schema":         1,
	"__type":           10,
}

// orderLookupField counts as expensive only with an email or an access
// token: an owner's or a staff member's lookup guesses nothing.
const orderLookupField = "order"

// rootFieldLimits refuses, with QUERY_TOO_COMPLEX and before any resolver
// runs, an operation that selects an expensive root field more times than
// expensiveRootFields allows.
type rootFieldLimits struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = rootFieldLimits{}

func (rootFieldLimits) ExtensionName() string                   { return "RootFieldLimits" }
func (rootFieldLimits) Validate(graphql.ExecutableSchema) error { return nil }

func (rootFieldLimits) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	counts := map[string]int{}
	for _, f := range rootFields(oc) {
		if f.Name == orderLookupField && f.Arguments.ForName("email") == nil && f.Arguments.ForName("accessToken") == nil {
			continue
		}
		if limit, ok := expensiveRootFields[f.Name]; ok {
			counts[f.Name]++
			if counts[f.Name] > limit {
				return tooComplex(fmt.Sprintf("an operation may select %s at most %d times; send the others in separate requests", f.Name, limit))
			}
		}
	}
	return nil
}

// rootFields are the root fields an operation runs, as gqlgen collects
// them: fragments expanded, @skip and @include applied, and fields with the
// same response name merged into one.
func rootFields(oc *graphql.OperationContext) []*ast.Field {
	var root string
	switch oc.Operation.Operation {
	case ast.Mutation:
		root = "Mutation"
	case ast.Subscription:
		root = "Subscription"
	default:
		root = "Query"
	}
	collected := graphql.CollectFields(oc, oc.Operation.SelectionSet, []string{root})
	out := make([]*ast.Field, len(collected))
	for i, f := range collected {
		out[i] = f.Field
	}
	return out
}

// RootFieldNames are the names (not the aliases) of the root fields an
// operation runs, for its metrics label: unlike the operation name, which
// the client chooses, they are bounded by the schema.
func RootFieldNames(oc *graphql.OperationContext) []string {
	fields := rootFields(oc)
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.Name
	}
	return out
}
