package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"commerce/internal/apperr"
	"commerce/internal/catalog"
	"commerce/internal/platform/db"
	"commerce/internal/platform/page"
)

// fixture is a category of its own holding products A..F, so that list
// tests see only their own rows.
type fixture struct {
	category string
	token    string
	bySKU    map[string]*catalog.Product
}

type fixtureItem struct {
	label, name, description, price string
	tags                            []string
	stock, threshold, sold          int
	featured, inactive              bool
}

// listFixture creates, in this order (so oldest first):
//
//	A Aurora Wireless Headphones 149.99  audio,wireless  stock 40  featured  sold 50
//	B Studio Headphone Stand      25.00  audio,desk      stock 0             sold 5
//	C Travel Case                 19.00  travel          stock 8 ≤ 10        sold 120 (headphones in description)
//	D bamboo Desk Lamp            45.00  desk,lighting   stock 15  featured  sold 0
//	E Ceramic Mug                 12.50  kitchen         stock 100           sold 30
//	F Zebra Print Mug              9.00  kitchen         stock 5 (archived)
func listFixture(t *testing.T, svc *catalog.Service, b *testBundle) *fixture {
	t.Helper()
	f := &fixture{category: "List " + unique(), token: unique(), bySKU: map[string]*catalog.Product{}}
	items := []fixtureItem{
		{"A", "Aurora Wireless Headphones", "Over-ear noise cancelling.", "149.99", []string{"audio", "wireless"}, 40, 10, 50, true, false},
		{"B", "Studio Headphone Stand", "Walnut stand for your desk.", "25.00", []string{"audio", "desk"}, 0, 5, 5, false, false},
		{"C", "Travel Case", "Hard shell case that fits most headphones.", "19.00", []string{"travel"}, 8, 10, 120, false, false},
		{"D", "bamboo Desk Lamp", "Warm light for late evenings.", "45.00", []string{"desk", "lighting"}, 15, 10, 0, true, false},
		{"E", "Ceramic Mug", "Holds 350 ml of coffee.", "12.50", []string{"kitchen"}, 100, 10, 30, false, false},
		{"F", "Zebra Print Mug", "Discontinued.", "9.00", []string{"kitchen"}, 5, 10, 0, false, true},
	}
	for _, it := range items {
		p := mustCreate(t, svc, catalog.CreateInput{
			SKU: ptr(it.label + "-" + f.token), Name: it.name, Description: &it.description, Price: &it.price,
			Category: &f.category, Tags: it.tags, InventoryQuantity: &it.stock, LowStockThreshold: &it.threshold,
			IsFeatured: &it.featured, IsActive: ptr(!it.inactive),
		})
		f.bySKU[p.SKU] = p
		if _, err := b.db.Bun.ExecContext(context.Background(), "UPDATE products SET units_sold = ? WHERE id = ?", it.sold, p.ID); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// labels lists the fixture labels of a page.
func labels(p catalog.Page) string {
	var out []string
	for _, pr := range p.Products {
		label, _, _ := strings.Cut(pr.SKU, "-")
		out = append(out, label)
	}
	return strings.Join(out, "")
}

func sorted(s string) string {
	r := []rune(s)
	slices.Sort(r)
	return string(r)
}

func TestListFilters(t *testing.T) {
	svc, b := setup(t)
	f := listFixture(t, svc, b)
	tests := []struct {
		name   string
		filter catalog.Filter
		want   string // labels, in any order
	}{
		{"category only", catalog.Filter{}, "ABCDE"},
		{"one tag", catalog.Filter{Tags: []string{"audio"}}, "AB"},
		{"every tag must match", catalog.Filter{Tags: []string{"audio", "wireless"}}, "A"},
		{"min price inclusive", catalog.Filter{MinPrice: ptr("19.00")}, "ABCD"},
		{"max price inclusive", catalog.Filter{MaxPrice: ptr("19")}, "CE"},
		{"price range", catalog.Filter{MinPrice: ptr("20"), MaxPrice: ptr("50.00")}, "BD"},
		{"in stock", catalog.Filter{InStock: ptr(true)}, "ACDE"},
		{"out of stock", catalog.Filter{InStock: ptr(false)}, "B"},
		{"featured", catalog.Filter{IsFeatured: ptr(true)}, "AD"},
		{"not featured", catalog.Filter{IsFeatured: ptr(false)}, "BCE"},
		{"include inactive", catalog.Filter{IncludeInactive: true}, "ABCDEF"},
		{"low stock", catalog.Filter{LowStockOnly: true}, "BC"},
		{"search in name and description", catalog.Filter{Search: ptr("headphones")}, "ABC"},
		{"search by sku", catalog.Filter{Search: ptr("e-" + f.token)}, "E"},
		{"search and stock", catalog.Filter{Search: ptr("headphones"), InStock: ptr(false)}, "B"},
		{"blank search is no search", catalog.Filter{Search: ptr("  ")}, "ABCDE"},
		{"nothing", catalog.Filter{Search: ptr("xylophone")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.filter.Category = &f.category
			p, err := svc.List(context.Background(), catalog.ListParams{Filter: tt.filter})
			if err != nil {
				t.Fatal(err)
			}
			if got := sorted(labels(p)); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			n, err := svc.Count(context.Background(), tt.filter)
			if err != nil || n != len(tt.want) {
				t.Fatalf("count %d (%v), want %d", n, err, len(tt.want))
			}
		})
	}
}

func TestListSortKeys(t *testing.T) {
	svc, b := setup(t)
	f := listFixture(t, svc, b)
	tests := []struct {
		sort    catalog.SortKey
		reverse bool
		search  string
		want    string
	}{
		{"", false, "", "EDCBA"}, // newest first
		{"", true, "", "ABCDE"},
		{catalog.SortCreatedAt, false, "", "ABCDE"},
		{catalog.SortCreatedAt, true, "", "EDCBA"},
		{catalog.SortPrice, false, "", "ECBDA"},
		{catalog.SortPrice, true, "", "ADBCE"},
		{catalog.SortName, false, "", "ADEBC"}, // case-insensitive: aurora, bamboo, ceramic, studio, travel
		{catalog.SortName, true, "", "CBEDA"},
		{catalog.SortBestSelling, false, "", "CAEBD"},
		{catalog.SortBestSelling, true, "", "DBEAC"},
		{catalog.SortRelevance, false, "", "EDCBA"}, // nothing to rank: newest first
		{catalog.SortPrice, false, "headphones", "CBA"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s reverse=%v search=%q", tt.sort, tt.reverse, tt.search), func(t *testing.T) {
			filter := catalog.Filter{Category: &f.category}
			if tt.search != "" {
				filter.Search = &tt.search
			}
			p, err := svc.List(context.Background(), catalog.ListParams{Filter: filter, Sort: tt.sort, Reverse: tt.reverse})
			if err != nil {
				t.Fatal(err)
			}
			if got := labels(p); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSearchRankingAndTypos(t *testing.T) {
	svc, b := setup(t)
	f := listFixture(t, svc, b)
	tests := []struct {
		search  string
		sort    catalog.SortKey
		reverse bool
		check   func(got string) bool
		want    string
	}{
		{"headphones", "", false, func(got string) bool { return sorted(got[:2]) == "AB" && got[2:] == "C" }, "A and B (name) before C (description)"},
		{"headphones", catalog.SortRelevance, true, func(got string) bool { return got[0] == 'C' }, "C first when reversed"},
		{"hedphones", "", false, func(got string) bool { return strings.HasPrefix(got, "A") }, "the typo still finds A first"},
		{"wireless hedphones", "", false, func(got string) bool { return strings.HasPrefix(got, "A") }, "a typo beside a good word finds A"},
		{"ceramic mugs", "", false, func(got string) bool { return got == "E" }, "stemming finds E only"},
		{"desk lamp", "", false, func(got string) bool { return strings.HasPrefix(got, "D") }, "both words in D's name"},
	}
	for _, tt := range tests {
		t.Run(tt.search, func(t *testing.T) {
			p, err := svc.List(context.Background(), catalog.ListParams{
				Filter: catalog.Filter{Category: &f.category, Search: &tt.search}, Sort: tt.sort, Reverse: tt.reverse})
			if err != nil {
				t.Fatal(err)
			}
			if got := labels(p); got == "" || !tt.check(got) {
				t.Fatalf("got %q, want %s", got, tt.want)
			}
		})
	}
}

// collect pages through a list, calling between after each page.
func collect(t *testing.T, svc *catalog.Service, params catalog.ListParams, between func(pageNo int)) []*catalog.Product {
	t.Helper()
	var all []*catalog.Product
	for pageNo := 0; pageNo < 50; pageNo++ {
		p, err := svc.List(context.Background(), params)
		if err != nil {
			t.Fatal(err)
		}
		if p.HasPreviousPage != (pageNo > 0) || len(p.Cursors) != len(p.Products) {
			t.Fatalf("page %d: hasPreviousPage %v, %d cursors for %d products", pageNo, p.HasPreviousPage, len(p.Cursors), len(p.Products))
		}
		all = append(all, p.Products...)
		if !p.HasNextPage {
			return all
		}
		params.After = p.Cursors[len(p.Cursors)-1]
		between(pageNo)
	}
	t.Fatal("too many pages")
	return nil
}

func TestListPaginationIsStableWhileRowsAreAdded(t *testing.T) {
	svc, _ := setup(t)
	tests := []struct {
		name  string
		sort  catalog.SortKey
		price func(i int) string
	}{
		{"newest first", "", func(i int) string { return fmt.Sprintf("%d.00", i+1) }},
		{"by price", catalog.SortPrice, func(i int) string { return fmt.Sprintf("%d.00", (i%4)+1) }}, // ties break on id
		{"by name", catalog.SortName, func(int) string { return "1.00" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			category := "Pages " + unique()
			originals := map[string]bool{}
			add := func(i int) {
				in := validInput()
				in.Category, in.Price, in.Name = &category, ptr(tt.price(i)), fmt.Sprintf("Item %02d %s", i%7, unique())
				originals[mustCreate(t, svc, in).ID] = i < 10
			}
			for i := range 10 {
				add(i)
			}
			added := 10
			params := catalog.ListParams{First: ptr(3), Filter: catalog.Filter{Category: &category}, Sort: tt.sort}
			all := collect(t, svc, params, func(int) {
				for range 2 {
					add(added)
					added++
				}
			})
			seen := map[string]bool{}
			for _, p := range all {
				if seen[p.ID] {
					t.Fatalf("%s (%s) listed twice", p.Name, p.ID)
				}
				seen[p.ID] = true
			}
			for id, original := range originals {
				if original && !seen[id] {
					t.Fatalf("original product %s skipped", id)
				}
			}
			checkOrder(t, tt.sort, all)
		})
	}
}

// checkOrder asserts that products are in (sort value, id) order.
func checkOrder(t *testing.T, sort catalog.SortKey, ps []*catalog.Product) {
	t.Helper()
	ok := slices.IsSortedFunc(ps, func(a, b *catalog.Product) int {
		switch sort {
		case catalog.SortPrice:
			if c := a.Price.Amount - b.Price.Amount; c != 0 {
				return int(c)
			}
		case catalog.SortName:
			if c := strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c != 0 {
				return c
			}
		default: // newest first
			if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(b.ID, a.ID)
		}
		return strings.Compare(a.ID, b.ID)
	})
	if !ok {
		t.Fatalf("products out of %q order", sort)
	}
}

func TestListIsOneStatement(t *testing.T) {
	svc, b := setup(t)
	f := listFixture(t, svc, b)
	search := "headphones"
	params := catalog.ListParams{First: ptr(1), Filter: catalog.Filter{
		Category: &f.category, Search: &search, Tags: []string{"audio"}, MinPrice: ptr("1"), InStock: ptr(true),
	}}
	first, err := svc.List(context.Background(), params)
	if err != nil || len(first.Products) != 1 {
		t.Fatalf("first page %v, %v", labels(first), err)
	}
	params.After = first.Cursors[0]

	ctx, counter := db.WithStatementCounter(context.Background())
	if _, err := svc.List(ctx, params); err != nil {
		t.Fatal(err)
	}
	if n := counter.Count(); n != 1 {
		t.Fatalf("list ran %d statements, want 1", n)
	}
	if _, err := svc.Count(ctx, params.Filter); err != nil {
		t.Fatal(err)
	}
	if n := counter.Count(); n != 2 {
		t.Fatalf("list and count ran %d statements, want 2", n)
	}
}

func TestListPageSize(t *testing.T) {
	svc, b := setup(t)
	f := listFixture(t, svc, b)
	filter := catalog.Filter{Category: &f.category}
	for _, tt := range []struct {
		first    *int
		want     int
		wantNext bool
	}{{nil, 5, false}, {ptr(0), 0, true}, {ptr(2), 2, true}, {ptr(5), 5, false}, {ptr(100), 5, false}} {
		p, err := svc.List(context.Background(), catalog.ListParams{First: tt.first, Filter: filter})
		if err != nil || len(p.Products) != tt.want || p.HasNextPage != tt.wantNext {
			t.Fatalf("first %v: %d products, next %v, %v", tt.first, len(p.Products), p.HasNextPage, err)
		}
	}
}

func TestListErrors(t *testing.T) {
	svc, b := setup(t)
	f := listFixture(t, svc, b)
	ctx := context.Background()
	byPrice, err := svc.List(ctx, catalog.ListParams{First: ptr(1), Filter: catalog.Filter{Category: &f.category}, Sort: catalog.SortPrice})
	if err != nil {
		t.Fatal(err)
	}
	priceCursor := byPrice.Cursors[0]
	forged := page.Encode(map[string]string{"o": "PRICE:asc", "v": "1; DROP TABLE products", "id": f.bySKU["A-"+f.token].ID})

	tests := []struct {
		name   string
		params catalog.ListParams
		path   []string // nil: an Invalid error without a field
	}{
		{"first above 100", catalog.ListParams{First: ptr(101)}, nil},
		{"negative first", catalog.ListParams{First: ptr(-1)}, nil},
		{"garbage cursor", catalog.ListParams{After: "%%%"}, nil},
		{"cursor of another order", catalog.ListParams{After: priceCursor, Sort: catalog.SortName}, nil},
		{"cursor of the reversed order", catalog.ListParams{After: priceCursor, Sort: catalog.SortPrice, Reverse: true}, nil},
		{"forged cursor value", catalog.ListParams{After: forged, Sort: catalog.SortPrice}, nil},
		{"unknown sort key", catalog.ListParams{Sort: "POPULARITY"}, nil},
		{"malformed min price", catalog.ListParams{Filter: catalog.Filter{MinPrice: ptr("abc")}}, []string{"filter", "minPrice"}},
		{"negative max price", catalog.ListParams{Filter: catalog.Filter{MaxPrice: ptr("-1")}}, []string{"filter", "maxPrice"}},
		{"search too long", catalog.ListParams{Filter: catalog.Filter{Search: ptr(strings.Repeat("q", 201))}}, []string{"filter", "search"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.List(ctx, tt.params)
			if !errors.Is(err, apperr.ErrInvalid) {
				t.Fatalf("want Invalid, got %v", err)
			}
			if tt.path != nil {
				wantUserError(t, err, apperr.Invalid, "", tt.path...)
			}
		})
	}
	if _, err := svc.List(ctx, catalog.ListParams{After: priceCursor, Sort: catalog.SortPrice,
		Filter: catalog.Filter{Category: &f.category}}); err != nil {
		t.Fatalf("the genuine cursor: %v", err)
	}
}
