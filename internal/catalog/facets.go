package catalog

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/money"
)

// The facet keys: a product's category, its tags, and each option name.
const (
	facetCategory = "category"
	facetTag      = "tag"
	facetOption   = "option:"
)

// Facet bounds.
const (
	maxFacetKeys      = 20
	maxFacetValues    = 100
	defaultFacetValue = 20
)

// FacetValue is one value of a facet and how many products have it.
type FacetValue struct {
	Value string
	Count int
}

// Facet groups the values of one key over a filtered set of products.
type Facet struct {
	Key    string
	Label  string
	Values []FacetValue
}

// FacetParams asks for the facets of a filtered set.
type FacetParams struct {
	Filter    Filter
	Keys      []string // nil: every facet
	MaxValues *int     // values per facet, 1..100, default 20
}

// Facets counts, over every product matching the filter (not one page),
// the products with each category, tag and option value. Counts are
// disjunctive: each facet is counted with every filter except its own, so
// that choosing Color=Red still shows how many products are Blue. Values
// with a count of 0 are left out; values sort by count descending, then
// value. Facets come in the order category, tag, then options by name;
// keys restricts them. One SQL statement.
func (s *Service) Facets(ctx context.Context, p FacetParams) ([]Facet, error) {
	f, err := s.filterQuery(p.Filter)
	if err != nil {
		return nil, err
	}
	maxValues := defaultFacetValue
	if p.MaxValues != nil {
		if *p.MaxValues < 1 || *p.MaxValues > maxFacetValues {
			return nil, apperr.New(apperr.Invalid, "maxValues must be between 1 and %d", maxFacetValues)
		}
		maxValues = *p.MaxValues
	}
	if len(p.Keys) > maxFacetKeys {
		return nil, apperr.New(apperr.Invalid, "keys must be at most %d", maxFacetKeys)
	}
	want := func(key string) bool { return p.Keys == nil || slices.Contains(p.Keys, key) }
	query, args := facetSQL(f, want, p.Keys)
	if query == "" {
		return []Facet{}, nil
	}
	var rows []struct {
		Key   string `bun:"key"`
		Value string `bun:"value"`
		Count int    `bun:"n"`
	}
	if err := s.db.Bun.NewRaw(query, args...).Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("count facets: %w", err)
	}
	byKey := map[string]*Facet{}
	var out []*Facet
	for _, r := range rows {
		if !want(r.Key) {
			continue
		}
		fc := byKey[r.Key]
		if fc == nil {
			fc = &Facet{Key: r.Key, Label: facetLabel(r.Key)}
			byKey[r.Key] = fc
			out = append(out, fc)
		}
		fc.Values = append(fc.Values, FacetValue{Value: r.Value, Count: r.Count})
	}
	slices.SortFunc(out, func(a, b *Facet) int { return cmp.Compare(facetRank(a.Key), facetRank(b.Key)) })
	facets := make([]Facet, len(out))
	for i, fc := range out {
		slices.SortFunc(fc.Values, func(a, b FacetValue) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Value, b.Value))
		})
		fc.Values = fc.Values[:min(len(fc.Values), maxValues)]
		facets[i] = *fc
	}
	return facets, nil
}

// facetRank orders facets: category, tag, then options by name.
func facetRank(key string) string {
	switch key {
	case facetCategory:
		return "0"
	case facetTag:
		return "1"
	}
	return "2" + key
}

func facetLabel(key string) string {
	switch key {
	case facetCategory:
		return "Category"
	case facetTag:
		return "Tag"
	}
	return strings.TrimPrefix(key, facetOption)
}

// facetSQL is the one statement that counts every wanted facet: a UNION
// ALL of one grouped count per facet, each over the products matching
// every filter but the facet's own. Option facets of names the filter does
// not mention share one branch; each filtered name has its own.
func facetSQL(f filterQuery, want func(string) bool, keys []string) (string, []any) {
	var parts []string
	var args []any
	from, fromArgs := filteredFrom(f)
	// branch adds one grouped count: sql with {from}, {join} (joinArgs its
	// arguments) and {where}, every filter but the facet except's; extra
	// are the arguments of what follows {where}.
	branch := func(sql, except, join string, joinArgs []any, extra ...any) {
		w := f.where(except)
		parts = append(parts, strings.NewReplacer("{from}", from, "{join}", join, "{where}", w.sql()).Replace(sql))
		args = append(append(append(append(args, fromArgs...), joinArgs...), w.args...), extra...)
	}
	if want(facetCategory) {
		branch(`SELECT 'category' AS key, p.category AS value, count(*) AS n FROM {from}
			WHERE {where} AND p.category IS NOT NULL GROUP BY p.category`, facetCategory, "", nil)
	}
	if want(facetTag) {
		branch(`SELECT 'tag' AS key, t.tag AS value, count(*) AS n FROM {from}, unnest(p.tags) AS t(tag)
			WHERE {where} GROUP BY t.tag`, facetTag, "", nil)
	}
	// Option facets count products with an active variant that has the
	// value and meets the variant conditions, the facet's own excepted.
	filtered := make([]string, 0, len(f.options))
	for _, o := range f.options {
		filtered = append(filtered, o.name)
	}
	optionBranch := func(except string, nameCond string, nameArgs ...any) {
		v := f.variantWhere("ov", except)
		branch(`SELECT 'option:' || e.name AS key, e.value AS value, count(DISTINCT p.id) AS n
			FROM {from} {join} WHERE {where} AND `+nameCond+` GROUP BY e.name, e.value`, except,
			`JOIN product_variants AS ov ON ov.product_id = p.id AND ov.is_active AND `+v.sql()+`
			CROSS JOIN LATERAL jsonb_to_recordset(ov.selected_options) AS e(name text, value text)`, v.args, nameArgs...)
	}
	wantsOtherOptions := keys == nil
	for _, k := range keys {
		if strings.HasPrefix(k, facetOption) && !slices.Contains(filtered, strings.TrimPrefix(k, facetOption)) {
			wantsOtherOptions = true
		}
	}
	if wantsOtherOptions {
		if len(filtered) == 0 {
			optionBranch(facetNone, "true")
		} else {
			optionBranch(facetNone, "e.name NOT IN (?)", bun.List(filtered))
		}
	}
	for _, name := range filtered {
		if want(facetOption + name) {
			optionBranch(facetOption+name, "e.name = ?", name)
		}
	}
	if len(parts) == 0 {
		return "", nil
	}
	return strings.Join(parts, "\nUNION ALL\n"), args
}

// filteredFrom is the FROM of a statement over the products f filters,
// with its arguments. The search joins with CROSS JOIN, not a comma, so
// that the JOINs that follow, which bind tighter than a comma, can see p.
func filteredFrom(f filterQuery) (string, []any) {
	if f.search == "" {
		return "products AS p", nil
	}
	return "products AS p CROSS JOIN " + searchFromSQL, []any{f.search, f.search}
}

// PriceRange is the lowest and highest price of a set of variants.
type PriceRange struct {
	Min, Max money.Money
}

// PriceRange returns the lowest and highest price of the active variants
// that match the filter (of the products matching it); nil when none does.
// One SQL statement.
func (s *Service) PriceRange(ctx context.Context, filter Filter) (*PriceRange, error) {
	f, err := s.filterQuery(filter)
	if err != nil {
		return nil, err
	}
	from, args := filteredFrom(f)
	v := f.variantWhere("rv", facetNone)
	w := f.where(facetNone)
	args = append(args, v.args...)
	args = append(args, w.args...)
	var row struct {
		Min      *int64  `bun:"min"`
		Max      *int64  `bun:"max"`
		Currency *string `bun:"currency"`
	}
	err = s.db.Bun.NewRaw(`SELECT min(rv.price) AS min, max(rv.price) AS max, min(rv.currency) AS currency
		FROM `+from+`
		JOIN product_variants AS rv ON rv.product_id = p.id AND rv.is_active AND `+v.sql()+`
		WHERE `+w.sql(), args...).Scan(ctx, &row)
	if err != nil {
		return nil, fmt.Errorf("price range: %w", err)
	}
	if row.Min == nil {
		return nil, nil
	}
	return &PriceRange{Min: money.New(*row.Min, *row.Currency), Max: money.New(*row.Max, *row.Currency)}, nil
}
