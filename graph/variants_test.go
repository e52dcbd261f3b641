package graph_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// createShirt creates, as staff, a product with options Color {Red, Blue}
// × Size {S, M, L} and six variants (Blue / L inactive, Red / S with a
// cost price) in category, and returns its id and the variants' skus by
// title.
func createShirt(t *testing.T, b *bundle, staff, category string) (string, map[string]string) {
	t.Helper()
	token := fmt.Sprintf("GV%d", time.Now().UnixNano())
	var variants []map[string]any
	skus := map[string]string{}
	for i, color := range []string{"Red", "Blue"} {
		for j, size := range []string{"S", "M", "L"} {
			title := color + " / " + size
			skus[title] = fmt.Sprintf("%s-%s-%s", token, color, size)
			v := map[string]any{"sku": skus[title], "price": fmt.Sprintf("%d.00", 10+3*i+j), "inventoryQuantity": 5,
				"selectedOptions": []map[string]string{{"name": "Color", "value": color}, {"name": "Size", "value": size}}}
			if title == "Blue / L" {
				v["isActive"] = false
			}
			if title == "Red / S" {
				v["costPrice"] = "4.00"
			}
			variants = append(variants, v)
		}
	}
	r := b.do(t, staff, `mutation($in: ProductCreateInput!) { productCreate(input: $in) {
		product { id hasOnlyDefaultVariant options { name position values } }
		userErrors { field code message } } }`, map[string]any{"in": map[string]any{
		"name": "Shirt " + token, "category": category, "variants": variants,
		"options": []map[string]any{{"name": "Color", "values": []string{"Red", "Blue"}}, {"name": "Size", "values": []string{"S", "M", "L"}}},
	}})
	var out struct {
		ProductCreate struct {
			Product *struct {
				ID                    string
				HasOnlyDefaultVariant bool
				Options               []struct {
					Name     string
					Position int
					Values   []string
				}
			}
			UserErrors []json.RawMessage
		}
	}
	decode(t, r, &out)
	p := out.ProductCreate.Product
	if p == nil || len(out.ProductCreate.UserErrors) != 0 || p.HasOnlyDefaultVariant || len(p.Options) != 2 ||
		p.Options[1].Name != "Size" || p.Options[1].Position != 1 || strings.Join(p.Options[1].Values, ",") != "S,M,L" {
		t.Fatalf("productCreate: %+v", out.ProductCreate)
	}
	return p.ID, skus
}

// decode fails the test on GraphQL errors and decodes the data into out.
func decode(t *testing.T, r response, out any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("errors: %+v", r.Errors)
	}
	raw, _ := json.Marshal(r.Data)
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatal(err)
	}
}

func TestVariantsReadAsAnonymousAndStaff(t *testing.T) {
	b := setup(t)
	staff := b.staffToken(t)
	id, skus := createShirt(t, b, staff, fmt.Sprintf("Shirts %d", time.Now().UnixNano()))

	const q = `query($id: ID!, $sku: String!) {
		product(id: $id) { sku price { amount } availableQuantity hasOnlyDefaultVariant
			priceRange { minVariantPrice { amount } maxVariantPrice { amount } }
			variants { sku title isActive costPrice { amount } availableQuantity selectedOptions { name value } }
			red: variantBySelectedOptions(selectedOptions: [{name: "size", value: "m"}, {name: "Color", value: "RED"}]) { sku }
			inactive: variantBySelectedOptions(selectedOptions: [{name: "Color", value: "Blue"}, {name: "Size", value: "L"}]) { sku }
			partial: variantBySelectedOptions(selectedOptions: [{name: "Color", value: "Red"}]) { sku } }
		variant(sku: $sku) { sku isActive product { id } } }`
	type variant struct {
		SKU               string
		Title             string
		IsActive          bool
		CostPrice         *struct{ Amount string }
		AvailableQuantity int
		SelectedOptions   []struct{ Name, Value string }
	}
	var out struct {
		Product struct {
			SKU                    string
			Price                  struct{ Amount string }
			AvailableQuantity      int
			HasOnlyDefaultVariant  bool
			PriceRange             struct{ MinVariantPrice, MaxVariantPrice struct{ Amount string } }
			Variants               []variant
			Red, Inactive, Partial *struct{ SKU string }
		}
		Variant *struct {
			SKU      string
			IsActive bool
			Product  struct{ ID string }
		}
	}
	for _, who := range []struct {
		name, token  string
		wantVariants int
	}{{"anonymous", "", 5}, {"staff", staff, 6}} {
		t.Run(who.name, func(t *testing.T) {
			out.Variant = nil
			r := b.do(t, who.token, q, map[string]any{"id": id, "sku": strings.ToLower(skus["Blue / L"])})
			if who.token == "" {
				// An inactive variant does not exist for anonymous callers:
				// variant(sku:) is null with NOT_FOUND, the rest answers.
				if len(r.Errors) != 1 || code(r) != "NOT_FOUND" {
					t.Fatalf("an inactive variant by sku for anonymous: errors %+v, want one NOT_FOUND", r.Errors)
				}
				r.Errors = nil
			}
			decode(t, r, &out)
			p := out.Product
			switch {
			case p.SKU != skus["Red / S"] || p.Price.Amount != "10.00" || p.AvailableQuantity != 25 || p.HasOnlyDefaultVariant:
				t.Fatalf("v1 fields %+v", p)
			case p.PriceRange.MinVariantPrice.Amount != "10.00" || p.PriceRange.MaxVariantPrice.Amount != "14.00":
				t.Fatalf("price range %+v, want the active variants' 10.00..14.00", p.PriceRange)
			case len(p.Variants) != who.wantVariants:
				t.Fatalf("%d variants, want %d", len(p.Variants), who.wantVariants)
			case p.Red == nil || p.Red.SKU != skus["Red / M"] || p.Inactive != nil || p.Partial != nil:
				t.Fatalf("variantBySelectedOptions: red %v, inactive %v, partial %v", p.Red, p.Inactive, p.Partial)
			}
			first := p.Variants[0]
			if first.Title != "Red / S" || first.SKU != skus["Red / S"] || len(first.SelectedOptions) != 2 ||
				first.SelectedOptions[0] != (struct{ Name, Value string }{"Color", "Red"}) || first.AvailableQuantity != 5 {
				t.Fatalf("first variant %+v", first)
			}
			if staffOnly := first.CostPrice != nil; staffOnly != (who.token != "") {
				t.Fatalf("costPrice %v for %s", first.CostPrice, who.name)
			}
			if who.token == "" && out.Variant != nil {
				t.Fatalf("an inactive variant by sku for anonymous: %+v", out.Variant)
			}
			if who.token != "" && (out.Variant == nil || out.Variant.IsActive || out.Variant.Product.ID != id) {
				t.Fatalf("an inactive variant by sku for staff: %+v", out.Variant)
			}
		})
	}
}

func TestVariantMutationsUserErrors(t *testing.T) {
	b := setup(t)
	staff := b.staffToken(t)
	id, skus := createShirt(t, b, staff, "Shirts")

	type userErrors []struct {
		Field []string
		Code  string
	}
	tests := []struct {
		name, query string
		vars        map[string]any
		payload     string
		want        string // "CODE a.b.c"
	}{
		{"a duplicate combination", `mutation($id: ID!) { productVariantsCreate(productId: $id, variants: [
			{sku: "NEW-1", price: "1.00", selectedOptions: [{name: "Color", value: "Red"}, {name: "Size", value: "S"}]}]) {
			product { id } userErrors { field code } } }`, map[string]any{"id": id}, "productVariantsCreate",
			"VARIANT_EXISTS variants.0.selectedOptions"},
		{"a value the option lacks", `mutation($id: ID!) { productVariantsCreate(productId: $id, variants: [
			{sku: "NEW-2", price: "1.00", selectedOptions: [{name: "Color", value: "Blue"}, {name: "Size", value: "XL"}]}]) {
			product { id } userErrors { field code } } }`, map[string]any{"id": id}, "productVariantsCreate",
			"INVALID variants.0.selectedOptions"},
		{"the same combination twice", `mutation($sku: String!) { productCreate(input: {name: "Dup", options: [{name: "Color", values: ["Red"]}],
			variants: [{sku: "FREE-1", price: "1.00", selectedOptions: [{name: "Color", value: "Red"}]},
			           {sku: $sku, price: "1.00", selectedOptions: [{name: "Color", value: "Red"}]}]}) {
			product { id } userErrors { field code } } }`, map[string]any{"sku": strings.ToLower(skus["Red / M"])}, "productCreate",
			"VARIANT_EXISTS input.variants.1.selectedOptions"},
		{"a sku taken by a variant", `mutation($sku: String!) { productCreate(input: {name: "Dup", options: [{name: "Color", values: ["Red", "Blue"]}],
			variants: [{sku: "FREE-2", price: "1.00", selectedOptions: [{name: "Color", value: "Red"}]},
			           {sku: $sku, price: "1.00", selectedOptions: [{name: "Color", value: "Blue"}]}]}) {
			product { id } userErrors { field code } } }`, map[string]any{"sku": strings.ToLower(skus["Red / M"])}, "productCreate",
			"TAKEN input.variants.1.sku"},
		{"the product price of several variants", `mutation($id: ID!) { productUpdate(id: $id, input: {price: "1.00"}) {
			product { id } userErrors { field code } } }`, map[string]any{"id": id}, "productUpdate", "VARIANT_REQUIRED input.price"},
		{"an unknown option", `mutation($id: ID!) { productOptionValuesAdd(productId: $id, optionName: "Fit", values: ["Slim"]) {
			product { id } userErrors { field code } } }`, map[string]any{"id": id}, "productOptionValuesAdd", "NOT_FOUND optionName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out map[string]struct {
				Product    *struct{ ID string }
				UserErrors userErrors
			}
			decode(t, b.do(t, staff, tt.query, tt.vars), &out)
			p := out[tt.payload]
			var got []string
			for _, e := range p.UserErrors {
				got = append(got, e.Code+" "+strings.Join(e.Field, "."))
			}
			if p.Product != nil || strings.Join(got, "; ") != tt.want {
				t.Fatalf("userErrors %q (product %v), want %q", got, p.Product, tt.want)
			}
		})
	}

	// Archive every active variant but the last: the last is refused.
	var out struct {
		Product struct{ Variants []struct{ ID, Title string } }
	}
	decode(t, b.do(t, staff, `query($id: ID!) { product(id: $id) { variants { id title } } }`, map[string]any{"id": id}), &out)
	var last string
	for i, v := range out.Product.Variants {
		if v.Title == "Blue / L" {
			continue
		}
		var res struct {
			ProductVariantArchive struct {
				Variant    *struct{ IsActive bool }
				UserErrors userErrors
			}
		}
		decode(t, b.do(t, staff, `mutation($id: ID!) { productVariantArchive(id: $id) { variant { isActive } userErrors { field code } } }`,
			map[string]any{"id": v.ID}), &res)
		pay := res.ProductVariantArchive
		if i < len(out.Product.Variants)-2 {
			if pay.Variant == nil || pay.Variant.IsActive || len(pay.UserErrors) != 0 {
				t.Fatalf("archive %s: %+v", v.Title, pay)
			}
			continue
		}
		last = v.Title
		if pay.Variant != nil || len(pay.UserErrors) != 1 || pay.UserErrors[0].Code != "LAST_VARIANT" || strings.Join(pay.UserErrors[0].Field, ".") != "id" {
			t.Fatalf("archive the last active variant %s: %+v", v.Title, pay)
		}
	}
	if last != "Blue / M" {
		t.Fatalf("the last variant tried was %q", last)
	}
}

// A products page that also asks for facets and the price range costs at
// most 2 more statements than the same page without them.
func TestFacetPageStatementBudget(t *testing.T) {
	b := setup(t)
	staff := b.staffToken(t)
	category := fmt.Sprintf("Facets %d", time.Now().UnixNano())
	for range 3 {
		createShirt(t, b, staff, category)
	}
	const page = `query($f: ProductFilter) { products(first: 20, filter: $f) { totalCount
		edges { node { id name price { amount } availableQuantity images { url } } } %s } }`
	filter := map[string]any{"category": category, "options": []map[string]string{{"name": "Color", "value": "Blue"}}}
	decode(t, b.do(t, "", fmt.Sprintf(page, ""), map[string]any{"f": filter}), &struct{}{})
	without := b.statements.Load()

	var out struct {
		Products struct {
			TotalCount int
			Facets     []struct {
				Key    string
				Values []struct {
					Value string
					Count int
				}
			}
			PriceRange struct{ MinVariantPrice, MaxVariantPrice struct{ Amount string } }
		}
	}
	decode(t, b.do(t, "", fmt.Sprintf(page, `facets { key label values { value count } }
		priceRange { minVariantPrice { amount } maxVariantPrice { amount } }`), map[string]any{"f": filter}), &out)
	with := b.statements.Load()
	if with > without+2 {
		t.Fatalf("with facets and price range %d statements, without %d: budget is 2 more", with, without)
	}
	// Blue: S, M active (L inactive) in each of the three shirts.
	facets := map[string]string{}
	for _, f := range out.Products.Facets {
		var vals []string
		for _, v := range f.Values {
			vals = append(vals, fmt.Sprintf("%s %d", v.Value, v.Count))
		}
		facets[f.Key] = strings.Join(vals, ", ")
	}
	// The category facet counts every category (its own filter aside):
	// other tests' shirts are there too.
	if out.Products.TotalCount != 3 || !slices.Contains(strings.Split(facets["category"], ", "), category+" 3") || facets["option:Color"] != "Blue 3, Red 3" ||
		facets["option:Size"] != "M 3, S 3" || out.Products.PriceRange.MinVariantPrice.Amount != "13.00" ||
		out.Products.PriceRange.MaxVariantPrice.Amount != "14.00" {
		t.Fatalf("facets %v, total %d, price range %+v", facets, out.Products.TotalCount, out.Products.PriceRange)
	}
}
