package e2e

// Acceptance test of faceted filtering (issue 14): a known catalog in a
// database of its own, so that no other test's products enter the counts.

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"commerce/internal/platform/dbtest"
)

type varFacetResult struct {
	TotalCount int
	Edges      []struct{ Node struct{ Name string } }
	Facets     []struct {
		Key    string
		Label  string
		Values []struct {
			Value string
			Count int
		}
	}
	PriceRange *varPriceRange
}

// facet renders a facet's values as "value:count,…" in their order, ""
// when the facet is absent or has no values.
func (r varFacetResult) facet(key string) string {
	for _, f := range r.Facets {
		if f.Key != key {
			continue
		}
		parts := make([]string, len(f.Values))
		for i, v := range f.Values {
			parts[i] = fmt.Sprintf("%s:%d", v.Value, v.Count)
		}
		return strings.Join(parts, ",")
	}
	return ""
}

func (r varFacetResult) names() []string {
	out := make([]string, len(r.Edges))
	for i, e := range r.Edges {
		out[i] = e.Node.Name
	}
	slices.Sort(out)
	return out
}

const varFacetQuery = `query($f: ProductFilter, $first: Int, $keys: [String!], $max: Int) {
	products(first: $first, filter: $f) { totalCount edges { node { name } }
		facets(keys: $keys, maxValues: $max) { key label values { value count } }
		priceRange { minVariantPrice { amount currencyCode } maxVariantPrice { amount currencyCode } } } }`

// TestFacets builds this catalog (price of each active variant):
//
//	Tee     Apparel      cotton, summer  Red/S 10, Red/M 12, Blue/S 11, Blue/M 13
//	Hoodie  Apparel      winter          Red/M 40, Red/L 42; Green/M 45, Green/L 46 inactive
//	Cap     Accessories  summer          Blue 8, Black 9 (Color only)
//	Mug     Kitchen      -               5 (no options)
//	Socks   Apparel      cotton          S 6, M 6; L 7 archived (Size only)
//	Scarf   Accessories  winter, cotton  Red 99, Yellow 3 (Color only), the product archived
//
// The active variants of each product are a full product of its active
// values, so that whether an option facet counts "a variant with this value
// and the other filters' values" or "a product with a variant of this
// value among the filtered products" gives the same number.
func TestFacets(t *testing.T) {
	deps := startDeps(t, false)
	srv := startServer(t, "facets", deps.env(t, map[string]string{"DATABASE_URL": dbtest.FreshURL(t)}))
	staff := srv.staffLogin(t)

	v := func(sku, price string, sel ...string) map[string]any {
		return varVariantIn(sku, price, 5, varSel(sel...))
	}
	inactive := func(m map[string]any) map[string]any { m["isActive"] = false; return m }
	srv.varMustCreate(t, staff, map[string]any{
		"name": "Tee", "category": "Apparel", "tags": []string{"cotton", "summer"},
		"options": []any{varOpt("Color", "Red", "Blue"), varOpt("Size", "S", "M")},
		"variants": []any{
			v("TEE-RS", "10.00", "Color", "Red", "Size", "S"), v("TEE-RM", "12.00", "Color", "Red", "Size", "M"),
			v("TEE-BS", "11.00", "Color", "Blue", "Size", "S"), v("TEE-BM", "13.00", "Color", "Blue", "Size", "M"),
		},
	})
	hoodie := srv.varMustCreate(t, staff, map[string]any{
		"name": "Hoodie", "category": "Apparel", "tags": []string{"winter"},
		"options": []any{varOpt("Color", "Red", "Green"), varOpt("Size", "M", "L")},
		"variants": []any{
			v("HOO-RM", "40.00", "Color", "Red", "Size", "M"), v("HOO-RL", "42.00", "Color", "Red", "Size", "L"),
			inactive(v("HOO-GM", "45.00", "Color", "Green", "Size", "M")), inactive(v("HOO-GL", "46.00", "Color", "Green", "Size", "L")),
		},
	})
	srv.varMustCreate(t, staff, map[string]any{
		"name": "Cap", "category": "Accessories", "tags": []string{"summer"},
		"options":  []any{varOpt("Color", "Blue", "Black")},
		"variants": []any{v("CAP-B", "8.00", "Color", "Blue"), v("CAP-K", "9.00", "Color", "Black")},
	})
	srv.varMustCreate(t, staff, map[string]any{
		"name": "Mug", "category": "Kitchen", "sku": "MUG", "price": "5.00", "inventoryQuantity": 5,
	})
	socks := srv.varMustCreate(t, staff, map[string]any{
		"name": "Socks", "category": "Apparel", "tags": []string{"cotton"},
		"options":  []any{varOpt("Size", "S", "M", "L")},
		"variants": []any{v("SOX-S", "6.00", "Size", "S"), v("SOX-M", "6.00", "Size", "M"), v("SOX-L", "7.00", "Size", "L")},
	})
	scarf := srv.varMustCreate(t, staff, map[string]any{
		"name": "Scarf", "category": "Accessories", "tags": []string{"winter", "cotton"},
		"options":  []any{varOpt("Color", "Red", "Yellow")},
		"variants": []any{v("SCF-R", "99.00", "Color", "Red"), v("SCF-Y", "3.00", "Color", "Yellow")},
	})
	var out struct {
		ProductVariantArchive struct{ UserErrors []userError }
		ProductArchive        struct{ UserErrors []userError }
	}
	srv.gql(t, staff, `mutation($v: ID!, $p: ID!) {
		productVariantArchive(id: $v) { userErrors { field message code } }
		productArchive(id: $p) { userErrors { field message code } } }`,
		map[string]any{"v": socks.variant(t, "L").ID, "p": scarf.ID}, &out)
	if len(out.ProductVariantArchive.UserErrors)+len(out.ProductArchive.UserErrors) > 0 {
		t.Fatalf("archive Socks L and Scarf: %+v %+v", out.ProductVariantArchive.UserErrors, out.ProductArchive.UserErrors)
	}

	all := map[string]string{
		"category":     "Apparel:3,Accessories:1,Kitchen:1",
		"tag":          "cotton:2,summer:2,winter:1",
		"option:Color": "Blue:2,Red:2,Black:1",
		"option:Size":  "M:3,S:2,L:1",
	}
	sel := func(pairs ...string) []map[string]any { return varSel(pairs...) }
	cases := []struct {
		name     string
		token    string
		filter   map[string]any
		products []string
		facets   map[string]string // every key not listed must have no values
		min, max string            // "" when priceRange must be null
	}{
		{"everything", "", nil, []string{"Cap", "Hoodie", "Mug", "Socks", "Tee"}, all, "5.00", "42.00"},
		{"everything as staff", staff, nil, []string{"Cap", "Hoodie", "Mug", "Socks", "Tee"}, all, "5.00", "42.00"},
		{"Color=Red", "", map[string]any{"options": sel("Color", "Red")}, []string{"Hoodie", "Tee"}, map[string]string{
			"category":     "Apparel:2",
			"tag":          "cotton:1,summer:1,winter:1",
			"option:Color": all["option:Color"], // its own filter left out
			"option:Size":  "M:2,L:1,S:1",
		}, "10.00", "42.00"},
		{"Color=Red or Blue", "", map[string]any{"options": sel("Color", "Red", "Color", "Blue")}, []string{"Cap", "Hoodie", "Tee"}, map[string]string{
			"category":     "Apparel:2,Accessories:1",
			"tag":          "summer:2,cotton:1,winter:1",
			"option:Color": all["option:Color"],
			"option:Size":  "M:2,L:1,S:1",
		}, "8.00", "42.00"},
		{"Color=Red and Size=S", "", map[string]any{"options": sel("Color", "Red", "Size", "S")}, []string{"Tee"}, map[string]string{
			"category":     "Apparel:1",
			"tag":          "cotton:1,summer:1",
			"option:Color": "Blue:1,Red:1", // with Size=S only: Tee; Socks has no Color
			"option:Size":  "M:2,L:1,S:1",  // with Color=Red only
		}, "10.00", "10.00"},
		{"categories Apparel or Accessories", "", map[string]any{"categories": []string{"Apparel", "Accessories"}}, []string{"Cap", "Hoodie", "Socks", "Tee"}, map[string]string{
			"category":     all["category"],
			"tag":          "cotton:2,summer:2,winter:1",
			"option:Color": "Blue:2,Red:2,Black:1",
			"option:Size":  "M:3,S:2,L:1",
		}, "6.00", "42.00"},
		{"tag cotton and Size=M", "", map[string]any{"tags": []string{"cotton"}, "options": sel("Size", "M")}, []string{"Socks", "Tee"}, map[string]string{
			"category":     "Apparel:2",
			"tag":          "cotton:2,summer:1,winter:1", // with Size=M only: Tee, Hoodie, Socks
			"option:Color": "Blue:1,Red:1",
			"option:Size":  "M:2,S:2", // with cotton only: Tee, Socks (L archived)
		}, "6.00", "13.00"},
		{"nothing matches", "", map[string]any{"options": sel("Color", "Purple")}, nil, map[string]string{
			"option:Color": all["option:Color"], // its own filter left out: still every color
		}, "", ""},
		{"a value only archived products and inactive variants have", "", map[string]any{"options": sel("Color", "Green", "Color", "Yellow")}, nil, map[string]string{
			"option:Color": all["option:Color"],
		}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var res struct{ Products varFacetResult }
			srv.gql(t, tc.token, varFacetQuery, map[string]any{"f": tc.filter, "first": 20}, &res)
			r := res.Products
			if r.TotalCount != len(tc.products) || !slices.Equal(r.names(), tc.products) {
				t.Errorf("products %v (totalCount %d), want %v", r.names(), r.TotalCount, tc.products)
			}
			seen := map[string]bool{}
			for _, f := range r.Facets {
				if seen[f.Key] {
					t.Errorf("facet %s appears twice", f.Key)
				}
				seen[f.Key] = true
				if f.Label == "" {
					t.Errorf("facet %s has no label", f.Key)
				}
				for _, v := range f.Values {
					if v.Count <= 0 {
						t.Errorf("facet %s lists %s with count %d", f.Key, v.Value, v.Count)
					}
				}
				if _, ok := tc.facets[f.Key]; !ok && len(f.Values) > 0 {
					t.Errorf("facet %s: %s, want no values", f.Key, r.facet(f.Key))
				}
			}
			for key, want := range tc.facets {
				if got := r.facet(key); got != want {
					t.Errorf("facet %s: %q, want %q", key, got, want)
				}
			}
			switch {
			case tc.min == "" && r.PriceRange != nil:
				t.Errorf("priceRange %+v, want null for an empty set", *r.PriceRange)
			case tc.min != "" && r.PriceRange == nil:
				t.Errorf("priceRange null, want %s..%s", tc.min, tc.max)
			case tc.min != "" && (r.PriceRange.MinVariantPrice.Amount != tc.min || r.PriceRange.MaxVariantPrice.Amount != tc.max ||
				r.PriceRange.MinVariantPrice.CurrencyCode != "USD"):
				t.Errorf("priceRange %+v, want %s..%s USD", *r.PriceRange, tc.min, tc.max)
			}
		})
	}

	// priceRange spans the variants that match the options filter, not
	// every variant of the matching products: Cap's Black is 9.00, its
	// Blue 8.00.
	t.Run("priceRange of the matching variants", func(t *testing.T) {
		var res struct{ Products varFacetResult }
		srv.gql(t, "", varFacetQuery, map[string]any{"f": map[string]any{"options": sel("Color", "Black")}}, &res)
		if pr := res.Products.PriceRange; pr == nil || pr.MinVariantPrice.Amount != "9.00" || pr.MaxVariantPrice.Amount != "9.00" {
			t.Errorf("priceRange for Color=Black: %+v, want 9.00..9.00", pr)
		}
	})

	// Facets count the whole filtered set, not the page.
	t.Run("one product a page", func(t *testing.T) {
		var res struct{ Products varFacetResult }
		srv.gql(t, "", varFacetQuery, map[string]any{"first": 1}, &res)
		r := res.Products
		if len(r.Edges) != 1 || r.TotalCount != 5 {
			t.Errorf("first 1: %d edges, totalCount %d; want 1 and 5", len(r.Edges), r.TotalCount)
		}
		for key, want := range all {
			if got := r.facet(key); got != want {
				t.Errorf("facet %s on a page of one: %q, want %q", key, got, want)
			}
		}
		if pr := r.PriceRange; pr == nil || pr.MinVariantPrice.Amount != "5.00" || pr.MaxVariantPrice.Amount != "42.00" {
			t.Errorf("priceRange on a page of one: %+v, want 5.00..42.00", pr)
		}
	})

	// keys choose the facets; maxValues keeps the first values in order.
	t.Run("keys and maxValues", func(t *testing.T) {
		var res struct{ Products varFacetResult }
		srv.gql(t, "", varFacetQuery, map[string]any{"keys": []string{"option:Color", "category"}, "max": 1}, &res)
		r := res.Products
		var keys []string
		for _, f := range r.Facets {
			keys = append(keys, f.Key)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, []string{"category", "option:Color"}) {
			t.Errorf("facets(keys: [option:Color, category]) returned keys %v", keys)
		}
		if got := r.facet("option:Color"); got != "Blue:2" {
			t.Errorf("option:Color with maxValues 1: %q, want Blue:2 (count desc, then value asc)", got)
		}
		if got := r.facet("category"); got != "Apparel:3" {
			t.Errorf("category with maxValues 1: %q, want Apparel:3", got)
		}
		srv.gql(t, "", varFacetQuery, map[string]any{"keys": []string{"option:Size"}}, &res)
		if r := res.Products; len(r.Facets) != 1 || r.facet("option:Size") != all["option:Size"] {
			t.Errorf("facets(keys: [option:Size]): %+v, want only option:Size %s", r.Facets, all["option:Size"])
		}
	})

	// Hostile arguments are refused as the caller's mistake or bounded,
	// never an internal error.
	t.Run("hostile arguments", func(t *testing.T) {
		many := make([]map[string]any, 1000)
		for i := range many {
			many[i] = map[string]any{"name": "Color", "value": fmt.Sprintf("V%d", i)}
		}
		manyNames := make([]string, 1000)
		for i := range manyNames {
			manyNames[i] = fmt.Sprintf("option:N%d", i)
		}
		for name, vars := range map[string]map[string]any{
			"maxValues -1":                   {"max": -1},
			"maxValues 1000000000":           {"max": 1000000000},
			"1000 option values":             {"f": map[string]any{"options": many}},
			"1000 categories":                {"f": map[string]any{"categories": manyNames}},
			"1000 facet keys":                {"keys": manyNames},
			"unknown keys":                   {"keys": []string{"option:", "option:Nope", "price", "'; DROP TABLE products; --"}},
			"an option name of 10,000 bytes": {"f": map[string]any{"options": sel(strings.Repeat("C", 10000), "Red")}},
		} {
			r := srv.do(t, "", varFacetQuery, vars)
			for _, c := range r.codes() {
				if c != "BAD_USER_INPUT" && c != "QUERY_TOO_COMPLEX" {
					t.Errorf("%s: errors %+v, want none or BAD_USER_INPUT", name, r.Errors)
				}
			}
			if len(r.Errors) == 0 && !strings.Contains(string(r.Data), `"totalCount"`) {
				t.Errorf("%s: neither data nor an error: %s", name, r.Data)
			}
		}
	})

	// Sorting by PRICE uses the lowest active variant price: Scarf's 3.00
	// is archived, Hoodie's inactive variants do not count.
	t.Run("sort by price", func(t *testing.T) {
		for _, reverse := range []bool{false, true} {
			var res struct {
				Products struct {
					Edges []struct{ Node struct{ Name string } }
				}
			}
			srv.gql(t, "", `query($r: Boolean) { products(first: 20, sortKey: PRICE, reverse: $r) { edges { node { name } } } }`,
				map[string]any{"r": reverse}, &res)
			var got []string
			for _, e := range res.Products.Edges {
				got = append(got, e.Node.Name)
			}
			want := []string{"Mug", "Socks", "Cap", "Tee", "Hoodie"}
			if reverse {
				slices.Reverse(want)
			}
			if !slices.Equal(got, want) {
				t.Errorf("sortKey PRICE, reverse %v: %v, want %v", reverse, got, want)
			}
		}
	})

	// inStock: a product is in stock when one of its active variants is;
	// the stock of Hoodie's inactive Green variants does not count. Last,
	// since it sells Hoodie's active variants out.
	t.Run("inStock", func(t *testing.T) {
		for _, title := range []string{"Red / M", "Red / L"} {
			var adj struct {
				InventoryAdjust struct{ UserErrors []userError }
			}
			srv.gql(t, staff, `mutation($id: ID!) { inventoryAdjust(input: {variantId: $id, quantityChange: -5, type: ADJUSTMENT}) {
				userErrors { field message code } } }`, map[string]any{"id": hoodie.variant(t, title).ID}, &adj)
			if len(adj.InventoryAdjust.UserErrors) > 0 {
				t.Fatalf("inventoryAdjust Hoodie %s -5: %+v", title, adj.InventoryAdjust.UserErrors)
			}
		}
		var res struct{ Products varFacetResult }
		srv.gql(t, "", varFacetQuery, map[string]any{"f": map[string]any{"inStock": false}}, &res)
		if got := res.Products.names(); !slices.Equal(got, []string{"Hoodie"}) {
			t.Errorf("inStock false: %v, want [Hoodie]", got)
		}
		srv.gql(t, "", varFacetQuery, map[string]any{"f": map[string]any{"inStock": true}}, &res)
		r := res.Products
		if got := r.names(); !slices.Equal(got, []string{"Cap", "Mug", "Socks", "Tee"}) {
			t.Errorf("inStock true: %v, want [Cap Mug Socks Tee]", got)
		}
		for key, want := range map[string]string{
			"category":     "Apparel:2,Accessories:1,Kitchen:1",
			"tag":          "cotton:2,summer:2",
			"option:Color": "Blue:2,Black:1,Red:1",
			"option:Size":  "M:2,S:2",
		} {
			if got := r.facet(key); got != want {
				t.Errorf("inStock true, facet %s: %q, want %q", key, got, want)
			}
		}
		if pr := r.PriceRange; pr == nil || pr.MinVariantPrice.Amount != "5.00" || pr.MaxVariantPrice.Amount != "13.00" {
			t.Errorf("inStock true, priceRange %+v, want 5.00..13.00", pr)
		}
	})
}
