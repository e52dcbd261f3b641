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
	"commerce/internal/inventory"
	"commerce/internal/platform/db"
	"commerce/internal/platform/dbtest"
)

// facetCatalog creates, in a database of its own (facets and price ranges
// count the whole catalog), the products:
//
//	Tee     Apparel      cotton,summer  Color{Red,Blue,Green} Size{S,M}
//	        Red/S 10.00 ×5, Red/M 12.00 ×0, Blue/S 11.00 ×3, Green/M 99.00 ×9 (inactive)
//	Hoodie  Apparel      cotton,winter  Color{Black,Red} Size{M,L}
//	        Black/M 40.00 ×2, Black/L 45.00 ×0, Red/L 1.00 ×1 (inactive)
//	Mug     Kitchen      ceramic        no options: 8.00 ×10
//	Cap     Apparel      summer         Color{Blue}: Blue 15.00 ×0
//	Old tee Apparel      cotton,summer  Color{Red} Size{S}: Red/S 5.00 ×4 (product archived)
//	Socks   Accessories  cotton         Size{S,M,L}: S 6.00 ×1, M 6.50 ×1, L 7.00 ×0
//
// so that the inactive variants (Green, the red hoodie, the cheapest and
// the dearest prices) and the archived product would each change a count
// or a bound if they were counted.
func facetCatalog(t *testing.T) *catalog.Service {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, dbtest.FreshURL(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	svc := catalog.NewService(d, inventory.NewLedger(nil, inventory.Config{}), catalog.Config{StoreCurrency: "USD"})

	type v struct {
		values []string
		price  string
		stock  int
		off    bool
	}
	create := func(name, category string, tags []string, options []catalog.OptionInput, vs ...v) {
		in := catalog.CreateInput{Name: name, Category: &category, Tags: tags, Options: options}
		for i, x := range vs {
			var so []catalog.SelectedOption
			for j, val := range x.values {
				so = append(so, catalog.SelectedOption{Name: options[j].Name, Value: val})
			}
			in.Variants = append(in.Variants, catalog.VariantInput{SKU: fmt.Sprintf("%s-%d", strings.ToUpper(name[:3]), i),
				SelectedOptions: so, Price: x.price, InventoryQuantity: ptr(x.stock), IsActive: ptr(!x.off)})
		}
		if options == nil {
			in.SKU, in.Price, in.InventoryQuantity, in.Variants = &in.Variants[0].SKU, &in.Variants[0].Price, ptr(vs[0].stock), nil
		}
		if _, err := svc.Create(ctx, in); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	opt := func(name string, values ...string) catalog.OptionInput {
		return catalog.OptionInput{Name: name, Values: values}
	}
	create("Tee", "Apparel", []string{"cotton", "summer"}, []catalog.OptionInput{opt("Color", "Red", "Blue", "Green"), opt("Size", "S", "M")},
		v{[]string{"Red", "S"}, "10.00", 5, false}, v{[]string{"Red", "M"}, "12.00", 0, false},
		v{[]string{"Blue", "S"}, "11.00", 3, false}, v{[]string{"Green", "M"}, "99.00", 9, true})
	create("Hoodie", "Apparel", []string{"cotton", "winter"}, []catalog.OptionInput{opt("Color", "Black", "Red"), opt("Size", "M", "L")},
		v{[]string{"Black", "M"}, "40.00", 2, false}, v{[]string{"Black", "L"}, "45.00", 0, false},
		v{[]string{"Red", "L"}, "1.00", 1, true})
	create("Mug", "Kitchen", []string{"ceramic"}, nil, v{nil, "8.00", 10, false})
	create("Cap", "Apparel", []string{"summer"}, []catalog.OptionInput{opt("Color", "Blue")}, v{[]string{"Blue"}, "15.00", 0, false})
	create("Old tee", "Apparel", []string{"cotton", "summer"}, []catalog.OptionInput{opt("Color", "Red"), opt("Size", "S")},
		v{[]string{"Red", "S"}, "5.00", 4, false})
	old, err := svc.BySKU(ctx, "OLD-0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Archive(ctx, old.ID); err != nil {
		t.Fatal(err)
	}
	create("Socks", "Accessories", []string{"cotton"}, []catalog.OptionInput{opt("Size", "S", "M", "L")},
		v{[]string{"S"}, "6.00", 1, false}, v{[]string{"M"}, "6.50", 1, false}, v{[]string{"L"}, "7.00", 0, false})
	return svc
}

// facetString renders facets as "key(label): value n, value n; ...".
func facetString(fs []catalog.Facet) string {
	out := make([]string, len(fs))
	for i, f := range fs {
		vals := make([]string, len(f.Values))
		for j, v := range f.Values {
			vals[j] = fmt.Sprintf("%s %d", v.Value, v.Count)
		}
		out[i] = fmt.Sprintf("%s(%s): %s", f.Key, f.Label, strings.Join(vals, ", "))
	}
	return strings.Join(out, "; ")
}

func TestFacets(t *testing.T) {
	svc := facetCatalog(t)
	ctx := context.Background()
	colors := func(values ...string) []catalog.SelectedOption {
		var out []catalog.SelectedOption
		for _, v := range values {
			out = append(out, catalog.SelectedOption{Name: "Color", Value: v})
		}
		return out
	}
	const (
		allCategories = "category(Category): Apparel 3, Accessories 1, Kitchen 1"
		allTags       = "tag(Tag): cotton 3, summer 2, ceramic 1, winter 1"
		allColors     = "option:Color(Color): Blue 2, Black 1, Red 1"
		allSizes      = "option:Size(Size): M 3, L 2, S 2"
	)
	tests := []struct {
		name     string
		filter   catalog.Filter
		products string // names of the matching products, sorted
		facets   string
		price    string // "min..max", "" when none
	}{
		{"no filter", catalog.Filter{}, "Cap Hoodie Mug Socks Tee",
			strings.Join([]string{allCategories, allTags, allColors, allSizes}, "; "), "6.00..45.00"},
		{"one colour: its own facet counts as if unfiltered", catalog.Filter{Options: colors("Red")}, "Tee",
			"category(Category): Apparel 1; tag(Tag): cotton 1, summer 1; " + allColors + "; option:Size(Size): M 1, S 1", "10.00..12.00"},
		{"two colours are either", catalog.Filter{Options: colors("Red", "Blue")}, "Cap Tee",
			"category(Category): Apparel 2; tag(Tag): summer 2, cotton 1; " + allColors + "; option:Size(Size): M 1, S 1", "10.00..15.00"},
		{"two option names hold for one variant", catalog.Filter{Options: append(colors("Red"), catalog.SelectedOption{Name: "Size", Value: "L"})},
			"", "option:Color(Color): Black 1; option:Size(Size): M 1, S 1", ""},
		{"a value only an inactive variant has", catalog.Filter{Options: colors("Green")}, "", allColors, ""},
		{"categories are any of", catalog.Filter{Categories: []string{"Apparel", "Kitchen"}}, "Cap Hoodie Mug Tee",
			allCategories + "; tag(Tag): cotton 2, summer 2, ceramic 1, winter 1; " + allColors + "; option:Size(Size): M 2, L 1, S 1", "8.00..45.00"},
		{"category keeps its v1 meaning", catalog.Filter{Category: ptr("Accessories")}, "Socks",
			allCategories + "; tag(Tag): cotton 1; option:Size(Size): L 1, M 1, S 1", "6.00..7.00"},
		{"a tag: its own facet counts as if unfiltered", catalog.Filter{Tags: []string{"cotton"}}, "Hoodie Socks Tee",
			"category(Category): Apparel 2, Accessories 1; " + allTags + "; option:Color(Color): Black 1, Blue 1, Red 1; " + allSizes, "6.00..45.00"},
		{"in stock and a colour on one variant", catalog.Filter{InStock: ptr(true), Options: colors("Blue")}, "Tee",
			"category(Category): Apparel 1; tag(Tag): cotton 1, summer 1; option:Color(Color): Black 1, Blue 1, Red 1; option:Size(Size): S 1", "11.00..11.00"},
		{"a price range on the variants", catalog.Filter{MinPrice: ptr("11"), MaxPrice: ptr("15.00")}, "Cap Tee",
			"category(Category): Apparel 2; tag(Tag): summer 2, cotton 1; option:Color(Color): Blue 2, Red 1; option:Size(Size): M 1, S 1", "11.00..15.00"},
		{"out of stock", catalog.Filter{InStock: ptr(false)}, "Cap",
			"category(Category): Apparel 1; tag(Tag): summer 1; option:Color(Color): Blue 1", "15.00..15.00"},
		{"search", catalog.Filter{Search: ptr("tee")}, "Tee",
			"category(Category): Apparel 1; tag(Tag): cotton 1, summer 1; option:Color(Color): Blue 1, Red 1; option:Size(Size): M 1, S 1", "10.00..12.00"},
		{"search by a variant's sku", catalog.Filter{Search: ptr("hoo-1")}, "Hoodie",
			"category(Category): Apparel 1; tag(Tag): cotton 1, winter 1; option:Color(Color): Black 1; option:Size(Size): L 1, M 1", "40.00..45.00"},
		{"nothing", catalog.Filter{Categories: []string{"Garden"}}, "", allCategories, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := svc.List(ctx, catalog.ListParams{Filter: tt.filter})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, pr := range p.Products {
				names = append(names, pr.Name)
			}
			slices.Sort(names)
			if got := strings.Join(names, " "); got != tt.products {
				t.Fatalf("products %q, want %q", got, tt.products)
			}
			if n, err := svc.Count(ctx, tt.filter); err != nil || n != len(names) {
				t.Fatalf("count %d (%v), want %d", n, err, len(names))
			}

			cctx, counter := db.WithStatementCounter(ctx)
			fs, err := svc.Facets(cctx, catalog.FacetParams{Filter: tt.filter})
			if err != nil {
				t.Fatal(err)
			}
			if got := facetString(fs); got != tt.facets {
				t.Fatalf("facets\n got %s\nwant %s", got, tt.facets)
			}
			pr, err := svc.PriceRange(cctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if pr != nil {
				got = pr.Min.Decimal() + ".." + pr.Max.Decimal()
				if pr.Min.Currency != "USD" || pr.Max.Currency != "USD" {
					t.Fatalf("price range currency %s/%s", pr.Min.Currency, pr.Max.Currency)
				}
			}
			if got != tt.price {
				t.Fatalf("price range %q, want %q", got, tt.price)
			}
			if n := counter.Count(); n != 2 {
				t.Fatalf("facets and price range ran %d statements, want 1 each", n)
			}
		})
	}
}

func TestFacetKeysAndLimits(t *testing.T) {
	svc := facetCatalog(t)
	ctx := context.Background()
	one := 1
	tests := []struct {
		name   string
		params catalog.FacetParams
		want   string
	}{
		{"keys choose the facets, in the usual order", catalog.FacetParams{Keys: []string{"option:Size", "tag"}},
			"tag(Tag): cotton 3, summer 2, ceramic 1, winter 1; option:Size(Size): M 3, L 2, S 2"},
		{"a filtered option's own facet", catalog.FacetParams{Keys: []string{"option:Color"},
			Filter: catalog.Filter{Options: []catalog.SelectedOption{{Name: "Color", Value: "Black"}}}},
			"option:Color(Color): Blue 2, Black 1, Red 1"},
		{"an unfiltered option beside a filtered one", catalog.FacetParams{Keys: []string{"option:Size"},
			Filter: catalog.Filter{Options: []catalog.SelectedOption{{Name: "Color", Value: "Black"}}}},
			"option:Size(Size): L 1, M 1"},
		{"maxValues keeps the most frequent", catalog.FacetParams{MaxValues: &one},
			"category(Category): Apparel 3; tag(Tag): cotton 3; option:Color(Color): Blue 2; option:Size(Size): M 3"},
		{"unknown keys give nothing", catalog.FacetParams{Keys: []string{"option:Fit", "brand"}}, ""},
		{"no keys give nothing", catalog.FacetParams{Keys: []string{}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, err := svc.Facets(ctx, tt.params)
			if err != nil {
				t.Fatal(err)
			}
			if got := facetString(fs); got != tt.want {
				t.Fatalf("facets\n got %s\nwant %s", got, tt.want)
			}
		})
	}

	keys := make([]string, 21)
	for i := range keys {
		keys[i] = fmt.Sprintf("option:K%d", i)
	}
	for name, params := range map[string]catalog.FacetParams{
		"maxValues 0":         {MaxValues: ptr(0)},
		"maxValues 101":       {MaxValues: ptr(101)},
		"21 keys":             {Keys: keys},
		"a bad price":         {Filter: catalog.Filter{MinPrice: ptr("cheap")}},
		"too many options":    {Filter: catalog.Filter{Options: slices.Repeat([]catalog.SelectedOption{{Name: "Color", Value: "Red"}}, 21)}},
		"too many categories": {Filter: catalog.Filter{Categories: slices.Repeat([]string{"Apparel"}, 51)}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := svc.Facets(ctx, params); !errors.Is(err, apperr.ErrInvalid) {
				t.Fatalf("want Invalid, got %v", err)
			}
		})
	}
}

// TestListByVariants checks the list's variant rules on the facet catalog:
// PRICE sorts by the lowest active variant price, inStock means some
// active variant has stock, and the low-stock lists hold active variants
// of active products only.
func TestListByVariants(t *testing.T) {
	svc := facetCatalog(t)
	ctx := context.Background()
	names := func(p catalog.Page) string {
		var out []string
		for _, pr := range p.Products {
			out = append(out, pr.Name)
		}
		return strings.Join(out, " ")
	}
	for _, tt := range []struct {
		name   string
		params catalog.ListParams
		want   string
	}{
		{"by price, the lowest active variant's", catalog.ListParams{Sort: catalog.SortPrice}, "Socks Mug Tee Cap Hoodie"},
		{"by price, reversed", catalog.ListParams{Sort: catalog.SortPrice, Reverse: true}, "Hoodie Cap Tee Mug Socks"},
		{"in stock", catalog.ListParams{Sort: catalog.SortPrice, Filter: catalog.Filter{InStock: ptr(true)}}, "Socks Mug Tee Hoodie"},
		{"staff see the archived product", catalog.ListParams{Sort: catalog.SortPrice, Filter: catalog.Filter{IncludeInactive: true}},
			"Old tee Socks Mug Tee Cap Hoodie"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := svc.List(ctx, tt.params)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(p); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}

	// Every active variant of an active product is at or below the default
	// threshold of 10 but Green (inactive), the red hoodie (inactive) and
	// the old tee's (archived).
	want := map[string]int{"TEE-0": 5, "TEE-1": 0, "TEE-2": 3, "HOO-0": 2, "HOO-1": 0, "MUG-0": 10, "CAP-0": 0,
		"SOC-0": 1, "SOC-1": 1, "SOC-2": 0}
	if n, err := svc.CountLowStockVariants(ctx); err != nil || n != len(want) {
		t.Fatalf("low-stock count %d (%v), want %d", n, err, len(want))
	}
	var listed []*catalog.Variant
	after := ""
	for pageNo := 0; ; pageNo++ {
		p, err := svc.LowStockVariants(ctx, ptr(3), after)
		if err != nil {
			t.Fatal(err)
		}
		if p.HasPreviousPage != (pageNo > 0) || len(p.Cursors) != len(p.Variants) {
			t.Fatalf("page %d: %+v", pageNo, p)
		}
		listed = append(listed, p.Variants...)
		if !p.HasNextPage {
			break
		}
		after = p.Cursors[len(p.Cursors)-1]
	}
	got := map[string]int{}
	for _, v := range listed {
		got[v.SKU] = v.Available
	}
	if len(listed) != len(want) || fmt.Sprint(got) != fmt.Sprint(want) ||
		!slices.IsSortedFunc(listed, func(a, b *catalog.Variant) int { return a.Available - b.Available }) {
		t.Fatalf("low-stock variants %v (%d listed), want %v, least available first", got, len(listed), want)
	}
	for _, bad := range []string{"%%%", "eyJhIjoxLCJpZCI6IngifQ"} {
		if _, err := svc.LowStockVariants(ctx, nil, bad); !errors.Is(err, apperr.ErrInvalid) {
			t.Errorf("cursor %q: want Invalid, got %v", bad, err)
		}
	}
}
