package catalog

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"commerce/internal/apperr"
	"commerce/internal/money"
	"commerce/internal/platform/page"
)

// SortKey orders a product list.
type SortKey string

// The sort keys. Each sorts ascending, except RELEVANCE and BEST_SELLING,
// which sort best first.
const (
	SortCreatedAt   SortKey = "CREATED_AT"
	SortPrice       SortKey = "PRICE"
	SortName        SortKey = "NAME"
	SortRelevance   SortKey = "RELEVANCE"
	SortBestSelling SortKey = "BEST_SELLING"
)

const maxSearchLen = 200

// Filter narrows a product list. The zero Filter is every active product.
type Filter struct {
	Category   *string
	Search     *string  // full text over sku, name, category, description; typo-tolerant on the name
	Tags       []string // products carrying every one of these
	MinPrice   *string  // inclusive decimal in the store currency
	MaxPrice   *string  // inclusive decimal in the store currency
	InStock    *bool    // true: available > 0; false: available = 0
	IsFeatured *bool
	// IncludeInactive lists archived products too; the caller decides
	// whether the viewer is staff.
	IncludeInactive bool
	// LowStockOnly keeps products with an active variant whose available
	// quantity is at or below its low-stock threshold.
	LowStockOnly bool
	// Options keeps products with an active variant that has every named
	// option; several values of one name match any of them.
	Options []SelectedOption
	// Categories keeps products in any of these categories.
	Categories []string
}

// Filter list bounds.
const (
	maxFilterOptions    = 20
	maxFilterCategories = 50
)

// ListParams asks for one page of products.
type ListParams struct {
	First   *int // default 20, at most 100
	After   string
	Filter  Filter
	Sort    SortKey // empty: newest first, or RELEVANCE when searching
	Reverse bool
}

// Page is one page of products with a cursor for each.
type Page struct {
	Products        []*Product
	Cursors         []string
	HasNextPage     bool
	HasPreviousPage bool
}

// List returns one page of products in one SQL statement, keyset-paginated
// so that pages stay stable while products are added. Ties break on id.
// It returns an apperr Invalid error when first is outside 0..100, the sort
// key is unknown, or after is not a cursor of this ordering, and an Invalid
// error with a field path (["filter","minPrice"]) for a bad filter.
func (s *Service) List(ctx context.Context, p ListParams) (Page, error) {
	limit, err := page.First(p.First)
	if err != nil {
		return Page{}, err
	}
	l, err := s.listQuery(p, limit)
	if err != nil {
		return Page{}, err
	}
	rows, err := selectPage(ctx, s.db.Bun, l)
	if err != nil {
		return Page{}, fmt.Errorf("list products: %w", err)
	}
	out := Page{HasNextPage: len(rows) > limit, HasPreviousPage: p.After != ""}
	for i := range rows[:min(len(rows), limit)] {
		out.Products = append(out.Products, rows[i].product())
		out.Cursors = append(out.Cursors, page.Encode(cursorKey{
			Order: l.order.String(), Value: rows[i].SortValue, ID: rows[i].ID}))
	}
	return out, nil
}

// Count returns how many products match f. It returns an Invalid error
// with a field path (["filter","minPrice"]) for a bad filter.
func (s *Service) Count(ctx context.Context, f Filter) (int, error) {
	fq, err := s.filterQuery(f)
	if err != nil {
		return 0, err
	}
	n, err := countProducts(ctx, s.db.Bun, fq)
	if err != nil {
		return 0, fmt.Errorf("count products: %w", err)
	}
	return n, nil
}

// listQuery is a validated list request.
type listQuery struct {
	filter filterQuery
	order  ordering
	after  *cursorKey
	limit  int // rows to fetch: one more than the page, to learn hasNextPage
}

// filterQuery is a validated filter.
type filterQuery struct {
	category                      *string
	categories                    []string
	options                       []optionFilter
	search                        string
	tags                          []string
	minPrice, maxPrice            *int64
	inStock, isFeatured           *bool
	includeInactive, lowStockOnly bool
}

func (s *Service) listQuery(p ListParams, limit int) (listQuery, error) {
	f, err := s.filterQuery(p.Filter)
	if err != nil {
		return listQuery{}, err
	}
	o, err := orderingOf(p.Sort, p.Reverse, f.search != "")
	if err != nil {
		return listQuery{}, err
	}
	l := listQuery{filter: f, order: o, limit: limit + 1}
	if p.After != "" {
		if l.after, err = decodeCursor(p.After, o); err != nil {
			return listQuery{}, err
		}
	}
	return l, nil
}

func (s *Service) filterQuery(f Filter) (filterQuery, error) {
	var errs apperr.List
	q := filterQuery{category: f.Category, inStock: f.InStock, isFeatured: f.IsFeatured,
		includeInactive: f.IncludeInactive, lowStockOnly: f.LowStockOnly}
	if f.Search != nil {
		q.search = strings.TrimSpace(*f.Search)
		if utf8.RuneCountInString(q.search) > maxSearchLen || !utf8.ValidString(q.search) || strings.ContainsRune(q.search, 0) {
			errs = append(errs, apperr.InvalidField(apperr.Path("filter", "search"), "must be at most %d characters of text", maxSearchLen))
		}
	}
	for _, t := range f.Tags {
		if t = strings.TrimSpace(t); t != "" {
			q.tags = append(q.tags, t)
		}
	}
	if len(f.Categories) > maxFilterCategories {
		errs = append(errs, apperr.InvalidField(apperr.Path("filter", "categories"), "must be at most %d categories", maxFilterCategories))
	}
	q.categories = f.Categories
	if len(f.Options) > maxFilterOptions {
		errs = append(errs, apperr.InvalidField(apperr.Path("filter", "options"), "must be at most %d options", maxFilterOptions))
	}
	q.options = groupOptions(f.Options)
	q.minPrice = s.filterPrice(f.MinPrice, "minPrice", &errs)
	q.maxPrice = s.filterPrice(f.MaxPrice, "maxPrice", &errs)
	if len(errs) > 0 {
		// A query has no userErrors: the first problem becomes its error.
		return filterQuery{}, errs[0]
	}
	return q, nil
}

// optionFilter is one option name of a filter with the values it accepts.
type optionFilter struct {
	name   string
	values []string
}

// groupOptions groups a filter's options by name, in the order names first
// appear, dropping repeated values.
func groupOptions(opts []SelectedOption) []optionFilter {
	var out []optionFilter
	index := map[string]int{}
	for _, o := range opts {
		name, value := strings.TrimSpace(o.Name), strings.TrimSpace(o.Value)
		i, ok := index[name]
		if !ok {
			i = len(out)
			index[name] = i
			out = append(out, optionFilter{name: name})
		}
		if !slices.Contains(out[i].values, value) {
			out[i].values = append(out[i].values, value)
		}
	}
	return out
}

func (s *Service) filterPrice(v *string, field string, errs *apperr.List) *int64 {
	if v == nil {
		return nil
	}
	m, err := money.Parse(*v, s.cfg.StoreCurrency)
	if err != nil || m.Amount < 0 {
		*errs = append(*errs, apperr.InvalidField(apperr.Path("filter", field),
			"must be a non-negative amount in %s such as 19.99", s.cfg.StoreCurrency))
		return nil
	}
	return &m.Amount
}

// ordering is a sort key and direction.
type ordering struct {
	key  SortKey
	desc bool
}

func (o ordering) String() string {
	if o.desc {
		return string(o.key) + ":desc"
	}
	return string(o.key) + ":asc"
}

// orderingOf resolves the API's sort rules: each key ascending except
// RELEVANCE and BEST_SELLING (best first); no key means newest first, or
// RELEVANCE when searching; RELEVANCE without a search means newest first;
// reverse flips the result.
func orderingOf(key SortKey, reverse, searching bool) (ordering, error) {
	switch {
	case key == "" && searching:
		key = SortRelevance
	case key == "" || (key == SortRelevance && !searching):
		return ordering{key: SortCreatedAt, desc: !reverse}, nil
	}
	if _, ok := sortColumns[key]; !ok {
		return ordering{}, apperr.New(apperr.Invalid, "unknown sort key %q", key)
	}
	bestFirst := key == SortRelevance || key == SortBestSelling
	return ordering{key: key, desc: bestFirst != reverse}, nil
}

// cursorKey is the keyset position after a product: its sort value (as
// Postgres rendered it) and id, tagged with the ordering it belongs to.
type cursorKey struct {
	Order string `json:"o"`
	Value string `json:"v"`
	ID    string `json:"id"`
}

var numericRE = regexp.MustCompile(`^-?[0-9]{1,20}(\.[0-9]{1,20})?$`)

// decodeCursor reads a cursor and checks that its value can be cast to the
// sort column's type, so that a forged cursor is an Invalid error rather
// than an SQL error.
func decodeCursor(c string, o ordering) (*cursorKey, error) {
	var k cursorKey
	if err := page.Decode(c, &k); err != nil {
		return nil, err
	}
	bad := apperr.New(apperr.Invalid, "after is not a cursor of this list and order")
	if k.Order != o.String() {
		return nil, bad
	}
	id, err := uuid.Parse(k.ID)
	if err != nil {
		return nil, bad
	}
	k.ID = id.String()
	switch sortColumns[o.key].cast {
	case "timestamptz":
		var t time.Time
		if t, err = time.Parse(time.RFC3339Nano, k.Value); err == nil && !page.StorableTime(t) {
			err = bad
		}
	case "bigint":
		_, err = strconv.ParseInt(k.Value, 10, 64)
	case "numeric":
		if !numericRE.MatchString(k.Value) {
			err = bad
		}
	default:
		if !utf8.ValidString(k.Value) || strings.ContainsRune(k.Value, 0) {
			err = bad
		}
	}
	if err != nil {
		return nil, bad
	}
	return &k, nil
}
