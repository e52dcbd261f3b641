package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"commerce/internal/apperr"
	"commerce/internal/catalog"
)

func sel(pairs ...string) []catalog.SelectedOption {
	out := make([]catalog.SelectedOption, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, catalog.SelectedOption{Name: pairs[i], Value: pairs[i+1]})
	}
	return out
}

// shirtInput is a valid product with options Color {Red, Blue} and Size
// {S, M} and its four variants, prices 10..13 and stock 1..4 in that
// order; token makes its skus unique.
func shirtInput(token string) catalog.CreateInput {
	in := catalog.CreateInput{Name: "Shirt " + token, Options: []catalog.OptionInput{
		{Name: "Color", Values: []string{"Red", "Blue"}},
		{Name: "Size", Values: []string{"S", "M"}},
	}}
	for i, combo := range [][]string{{"Red", "S"}, {"Red", "M"}, {"Blue", "S"}, {"Blue", "M"}} {
		in.Variants = append(in.Variants, catalog.VariantInput{
			SKU:               fmt.Sprintf("SH-%s-%s-%s", token, combo[0], combo[1]),
			SelectedOptions:   sel("Color", combo[0], "Size", combo[1]),
			Price:             fmt.Sprintf("%d.00", 10+i),
			InventoryQuantity: ptr(i + 1),
		})
	}
	return in
}

// variantCounts returns how many products, options, variants and ledger
// rows exist, so that a test can tell nothing was written.
func variantCounts(t *testing.T, b *testBundle) [4]int {
	t.Helper()
	var c [4]int
	err := b.db.Bun.QueryRowContext(context.Background(), `SELECT (SELECT count(*) FROM products),
		(SELECT count(*) FROM product_options), (SELECT count(*) FROM product_variants),
		(SELECT count(*) FROM inventory_transactions)`).Scan(&c[0], &c[1], &c[2], &c[3])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// variants returns a product's variants, inactive ones too, in position
// order.
func variants(t *testing.T, svc *catalog.Service, productID string) []*catalog.Variant {
	t.Helper()
	vs, err := svc.VariantsByProductIDs(context.Background(), []string{productID}, true)
	if err != nil {
		t.Fatal(err)
	}
	return vs[productID]
}

// describe renders what a change could alter of the variants.
func describe(vs []*catalog.Variant) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "%s %s %s %v %s %d/%d %d %v %s\n", v.ID, v.SKU, v.Title, v.SelectedOptions, v.Price, v.OnHand,
			v.Available, v.Position, v.IsActive, v.UpdatedAt)
	}
	return b.String()
}

func titles(vs []*catalog.Variant) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Title
		if !v.IsActive {
			out[i] += " (inactive)"
		}
	}
	return strings.Join(out, ", ")
}

func byTitle(t *testing.T, vs []*catalog.Variant, title string) *catalog.Variant {
	t.Helper()
	for _, v := range vs {
		if v.Title == title {
			return v
		}
	}
	t.Fatalf("no variant %q among %s", title, titles(vs))
	return nil
}

// wantOnly checks that err holds exactly the userErrors want, given as
// "CODE path.to.field", in any order.
func wantOnly(t *testing.T, err error, want ...string) {
	t.Helper()
	list, ok := apperr.UserErrors(err)
	if !ok {
		t.Fatalf("want userErrors %q, got %v", want, err)
	}
	got := make([]string, len(list))
	for i, e := range list {
		got[i] = e.UserCode() + " " + strings.Join(e.Field, ".")
	}
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("userErrors %q, want %q (%v)", got, want, err)
	}
}

func TestCreateWithOptionsValidation(t *testing.T) {
	svc, b := setup(t)
	existing := mustCreate(t, svc, validInput())
	hundredOne := make([]string, 101)
	for i := range hundredOne {
		hundredOne[i] = fmt.Sprintf("V%d", i)
	}
	tests := []struct {
		name   string
		change func(in *catalog.CreateInput)
		want   []string
	}{
		{"no options", func(in *catalog.CreateInput) { in.Options, in.Variants = []catalog.OptionInput{}, in.Variants[:1] },
			[]string{"INVALID input.options", "INVALID input.variants.0.selectedOptions"}},
		{"four options", func(in *catalog.CreateInput) {
			in.Options = append(in.Options, catalog.OptionInput{Name: "Fit", Values: []string{"Slim"}},
				catalog.OptionInput{Name: "Sleeve", Values: []string{"Short"}})
		}, []string{"INVALID input.options", "INVALID input.variants.0.selectedOptions", "INVALID input.variants.1.selectedOptions",
			"INVALID input.variants.2.selectedOptions", "INVALID input.variants.3.selectedOptions"}},
		{"an option without values", func(in *catalog.CreateInput) { in.Options[1].Values = nil },
			[]string{"INVALID input.options.1.values", "INVALID input.variants.0.selectedOptions", "INVALID input.variants.1.selectedOptions",
				"INVALID input.variants.2.selectedOptions", "INVALID input.variants.3.selectedOptions"}},
		{"101 values", func(in *catalog.CreateInput) { in.Options[1].Values = append([]string{"S", "M"}, hundredOne[:99]...) },
			[]string{"INVALID input.options.1.values", "INVALID input.variants.0.selectedOptions", "INVALID input.variants.1.selectedOptions",
				"INVALID input.variants.2.selectedOptions", "INVALID input.variants.3.selectedOptions"}},
		{"duplicate option name in another case", func(in *catalog.CreateInput) { in.Options[1].Name = "COLOR" },
			[]string{"INVALID input.options.1.name", "INVALID input.variants.0.selectedOptions", "INVALID input.variants.1.selectedOptions",
				"INVALID input.variants.2.selectedOptions", "INVALID input.variants.3.selectedOptions"}},
		{"duplicate value in another case", func(in *catalog.CreateInput) { in.Options[0].Values = []string{"Red", "Blue", "red"} },
			[]string{"INVALID input.options.0.values.2"}},
		{"blank option name", func(in *catalog.CreateInput) { in.Options[0].Name = " " },
			[]string{"INVALID input.options.0.name", "INVALID input.variants.0.selectedOptions", "INVALID input.variants.1.selectedOptions",
				"INVALID input.variants.2.selectedOptions", "INVALID input.variants.3.selectedOptions"}},
		{"blank value", func(in *catalog.CreateInput) { in.Options[1].Values = []string{"S", "M", ""} },
			[]string{"INVALID input.options.1.values.2"}},
		{"option name too long", func(in *catalog.CreateInput) {
			in.Options = append(in.Options, catalog.OptionInput{Name: strings.Repeat("n", 65), Values: []string{"x"}})
		},
			[]string{"INVALID input.options.2.name", "INVALID input.variants.0.selectedOptions", "INVALID input.variants.1.selectedOptions",
				"INVALID input.variants.2.selectedOptions", "INVALID input.variants.3.selectedOptions"}},
		{"a variant without one option", func(in *catalog.CreateInput) { in.Variants[1].SelectedOptions = sel("Color", "Red") },
			[]string{"INVALID input.variants.1.selectedOptions"}},
		{"a variant with an unknown value", func(in *catalog.CreateInput) { in.Variants[2].SelectedOptions = sel("Color", "Green", "Size", "S") },
			[]string{"INVALID input.variants.2.selectedOptions"}},
		{"a variant with an unknown option", func(in *catalog.CreateInput) {
			in.Variants[0].SelectedOptions = sel("Color", "Red", "Size", "S", "Fit", "Slim")
		}, []string{"INVALID input.variants.0.selectedOptions"}},
		{"a variant naming one option twice", func(in *catalog.CreateInput) { in.Variants[3].SelectedOptions = sel("Color", "Blue", "Color", "Red") },
			[]string{"INVALID input.variants.3.selectedOptions"}},
		{"the same combination twice, in another case and order", func(in *catalog.CreateInput) {
			in.Variants[3].SelectedOptions = sel("size", "s", "color", "RED")
		}, []string{"VARIANT_EXISTS input.variants.3.selectedOptions"}},
		{"the same sku twice in the input", func(in *catalog.CreateInput) { in.Variants[2].SKU = strings.ToLower(in.Variants[0].SKU) },
			[]string{"TAKEN input.variants.2.sku"}},
		{"a sku that exists", func(in *catalog.CreateInput) { in.Variants[1].SKU = strings.ToLower(existing.SKU) },
			[]string{"TAKEN input.variants.1.sku"}},
		{"a variant's bad price and stock", func(in *catalog.CreateInput) {
			in.Variants[0].Price, in.Variants[1].Price, in.Variants[2].InventoryQuantity = "", "1.001", ptr(-1)
		}, []string{"INVALID input.variants.0.price", "INVALID input.variants.1.price", "INVALID input.variants.2.inventoryQuantity"}},
		{"a variant's bad sku", func(in *catalog.CreateInput) { in.Variants[3].SKU = "A B" }, []string{"INVALID input.variants.3.sku"}},
		{"options without variants", func(in *catalog.CreateInput) { in.Variants = nil }, []string{"INVALID input.variants"}},
		{"variants without options", func(in *catalog.CreateInput) {
			in.Options, in.SKU, in.Price = nil, ptr("LONE-"+unique()), ptr("1.00")
		}, []string{"INVALID input.variants"}},
		{"more than 100 variants", func(in *catalog.CreateInput) {
			in.Options = []catalog.OptionInput{{Name: "N", Values: hundredOne[:100]}, {Name: "M", Values: []string{"a", "b"}}}
			in.Variants = nil
			for i := range 101 {
				in.Variants = append(in.Variants, catalog.VariantInput{SKU: fmt.Sprintf("MANY-%s-%d", unique(), i), Price: "1.00",
					SelectedOptions: sel("N", hundredOne[i%100], "M", []string{"a", "b"}[i/100])})
			}
		}, []string{"INVALID input.variants"}},
		{"product-level variant fields with options", func(in *catalog.CreateInput) {
			in.SKU, in.Price, in.CompareAtPrice, in.CostPrice = ptr("X-"+unique()), ptr("1.00"), ptr("2.00"), ptr("0.50")
			in.InventoryQuantity, in.WeightGrams, in.LowStockThreshold = ptr(3), ptr(100), ptr(2)
			in.Dimensions = &catalog.DimensionsInput{WidthMm: ptr(1)}
		}, []string{"INVALID input.sku", "INVALID input.price", "INVALID input.compareAtPrice", "INVALID input.costPrice",
			"INVALID input.inventoryQuantity", "INVALID input.weightGrams", "INVALID input.lowStockThreshold", "INVALID input.dimensions"}},
		{"without options, sku and price are required", func(in *catalog.CreateInput) { in.Options, in.Variants = nil, nil },
			[]string{"INVALID input.sku", "INVALID input.price"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := variantCounts(t, b)
			in := shirtInput(unique())
			tt.change(&in)
			p, err := svc.Create(context.Background(), in)
			if p != nil {
				t.Fatalf("created %+v", p)
			}
			wantOnly(t, err, tt.want...)
			if after := variantCounts(t, b); after != before {
				t.Fatalf("products/options/variants/ledger rows went from %v to %v", before, after)
			}
		})
	}
}

func TestCreateWithOptions(t *testing.T) {
	svc, b := setup(t)
	ctx := context.Background()
	token := unique()
	in := shirtInput(token)
	// Selected options in another order and case than the options: the
	// variant keeps the options' order and spelling.
	in.Variants[0].SelectedOptions = sel("size", "s", "COLOR", "red")
	// The first variant inactive: the summary reads the first active one.
	in.Variants[0].IsActive = ptr(false)
	in.Variants[1].CompareAtPrice, in.Variants[1].LowStockThreshold = ptr("20.00"), ptr(3)
	p := mustCreate(t, svc, in)

	switch {
	case !p.HasOptions:
		t.Fatal("HasOptions false for a product with options")
	case p.SKU != in.Variants[1].SKU || p.CompareAtPrice == nil || p.CompareAtPrice.Decimal() != "20.00" || p.LowStockThreshold != 3:
		t.Fatalf("summary of the first active variant: sku %s, compare-at %v, threshold %d", p.SKU, p.CompareAtPrice, p.LowStockThreshold)
	case p.Price.Decimal() != "11.00" || p.MaxPrice.Decimal() != "13.00":
		t.Fatalf("price %s..%s, want the active variants' 11.00..13.00", p.Price, p.MaxPrice)
	case p.OnHand != 2+3+4 || p.Available != 2+3+4:
		t.Fatalf("stock %d/%d, want the active variants' sum 9", p.OnHand, p.Available)
	}

	opts, err := svc.OptionsByProductIDs(ctx, []string{p.ID})
	if err != nil {
		t.Fatal(err)
	}
	if o := opts[p.ID]; len(o) != 2 || o[0].Name != "Color" || o[0].Position != 0 || !slices.Equal(o[0].Values, []string{"Red", "Blue"}) ||
		o[1].Name != "Size" || o[1].Position != 1 || !slices.Equal(o[1].Values, []string{"S", "M"}) {
		t.Fatalf("options %+v", o)
	}

	vs := variants(t, svc, p.ID)
	if got := titles(vs); got != "Red / S (inactive), Red / M, Blue / S, Blue / M" {
		t.Fatalf("variants %s", got)
	}
	for i, v := range vs {
		if v.Position != i || v.ProductID != p.ID || v.SKU != in.Variants[i].SKU || v.OnHand != i+1 || v.Available != i+1 ||
			v.Price.Amount != int64(1000+100*i) {
			t.Fatalf("variant %d: %+v", i, v)
		}
	}
	if got := vs[0].SelectedOptions; !slices.Equal(got, sel("Color", "Red", "Size", "S")) {
		t.Fatalf("selected options %+v, want in option order and spelling", got)
	}
	if vs[1].LowStockThreshold != 3 || vs[2].LowStockThreshold != 10 || vs[1].CompareAtPrice.Decimal() != "20.00" || vs[2].CompareAtPrice != nil {
		t.Fatalf("variant fields %+v %+v", vs[1], vs[2])
	}

	// One opening RESTOCK row per variant, of its own stock.
	for _, v := range vs {
		var qty int
		err := b.db.Bun.QueryRowContext(ctx, `SELECT quantity_change FROM inventory_transactions
			WHERE variant_id = ? AND product_id = ? AND type = 'RESTOCK'`, v.ID, p.ID).Scan(&qty)
		if err != nil || qty != v.OnHand {
			t.Fatalf("opening stock of %s: %d (%v), want %d", v.Title, qty, err, v.OnHand)
		}
	}

	// Reads by any variant's sku, in any case.
	for _, v := range vs {
		got, err := svc.BySKU(ctx, strings.ToLower(v.SKU))
		if err != nil || got.ID != p.ID {
			t.Fatalf("BySKU(%s) = %+v, %v", v.SKU, got, err)
		}
		found, err := svc.VariantBySKU(ctx, strings.ToLower(v.SKU))
		if err != nil || found.ID != v.ID {
			t.Fatalf("VariantBySKU(%s) = %+v, %v", v.SKU, found, err)
		}
	}
	// Storefront reads leave the inactive variant out.
	active, err := svc.VariantsByProductIDs(ctx, []string{p.ID}, false)
	if err != nil || titles(active[p.ID]) != "Red / M, Blue / S, Blue / M" {
		t.Fatalf("active variants %v, %v", titles(active[p.ID]), err)
	}
}

func TestCreateVariants(t *testing.T) {
	svc, b := setup(t)
	ctx := context.Background()
	token := unique()
	in := shirtInput(token)
	in.Options[1].Values = []string{"S", "M", "L"}
	p := mustCreate(t, svc, in)
	plain := mustCreate(t, svc, validInput())
	newVariant := func(sku string, pairs ...string) catalog.VariantInput {
		return catalog.VariantInput{SKU: sku, Price: "9.00", SelectedOptions: sel(pairs...), InventoryQuantity: ptr(7)}
	}
	large := "SH-" + token + "-Red-L"

	refused := []struct {
		name      string
		productID string
		in        []catalog.VariantInput
		want      []string
	}{
		{"unknown product", uuid.NewString(), []catalog.VariantInput{newVariant(large, "Color", "Red", "Size", "L")}, []string{"NOT_FOUND productId"}},
		{"malformed product id", "shirt", []catalog.VariantInput{newVariant(large, "Color", "Red", "Size", "L")}, []string{"NOT_FOUND productId"}},
		{"no variants", p.ID, nil, []string{"INVALID variants"}},
		{"a combination the product has", p.ID, []catalog.VariantInput{newVariant(large, "Color", "Red", "Size", "L"),
			newVariant("SH-"+token+"-dup", "Color", "blue", "Size", "m")}, []string{"VARIANT_EXISTS variants.1.selectedOptions"}},
		{"the same combination twice", p.ID, []catalog.VariantInput{newVariant(large, "Color", "Red", "Size", "L"),
			newVariant("SH-"+token+"-again", "Color", "Red", "Size", "L")}, []string{"VARIANT_EXISTS variants.1.selectedOptions"}},
		{"a value the option lacks", p.ID, []catalog.VariantInput{newVariant(large, "Color", "Green", "Size", "L")},
			[]string{"INVALID variants.0.selectedOptions"}},
		{"a sku that exists", p.ID, []catalog.VariantInput{newVariant(large, "Color", "Red", "Size", "L"),
			newVariant(strings.ToLower(plain.SKU), "Color", "Blue", "Size", "L")}, []string{"TAKEN variants.1.sku"}},
		{"the same sku twice", p.ID, []catalog.VariantInput{newVariant(large, "Color", "Red", "Size", "L"),
			newVariant(large, "Color", "Blue", "Size", "L")}, []string{"TAKEN variants.1.sku"}},
		{"an image of no product", p.ID, []catalog.VariantInput{func() catalog.VariantInput {
			v := newVariant(large, "Color", "Red", "Size", "L")
			v.ImageID = ptr(uuid.NewString())
			return v
		}()}, []string{"NOT_FOUND variants.0.imageId"}},
		{"a second default variant", plain.ID, []catalog.VariantInput{newVariant("PLAIN-" + token)},
			[]string{"VARIANT_EXISTS variants.0.selectedOptions"}},
		{"options on a product without", plain.ID, []catalog.VariantInput{newVariant("PLAIN-"+token, "Color", "Red")},
			[]string{"INVALID variants.0.selectedOptions"}},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			before := variantCounts(t, b)
			got, err := svc.CreateVariants(ctx, tt.productID, tt.in)
			if got != nil {
				t.Fatalf("created %+v", got)
			}
			wantOnly(t, err, tt.want...)
			if after := variantCounts(t, b); after != before {
				t.Fatalf("products/options/variants/ledger rows went from %v to %v", before, after)
			}
		})
	}

	// Added after the existing ones, with their stock; a cheaper variant
	// lowers the product's price.
	cheap := newVariant(large, "color", "red", "SIZE", "l")
	cheap.Price = "4.50"
	got, err := svc.CreateVariants(ctx, p.ID, []catalog.VariantInput{cheap, newVariant("SH-"+token+"-Blue-L", "Size", "L", "Color", "Blue")})
	if err != nil {
		t.Fatal(err)
	}
	if got.Price.Decimal() != "4.50" || got.MaxPrice.Decimal() != "13.00" || got.OnHand != 1+2+3+4+7+7 {
		t.Fatalf("product after adding: price %s..%s, on hand %d", got.Price, got.MaxPrice, got.OnHand)
	}
	vs := variants(t, svc, p.ID)
	if titles(vs) != "Red / S, Red / M, Blue / S, Blue / M, Red / L, Blue / L" || vs[4].Position != 4 || vs[5].Position != 5 ||
		vs[4].OnHand != 7 || vs[4].SKU != large {
		t.Fatalf("variants %s: %+v", titles(vs), vs[4])
	}
	checkVariantLedger(t, b, p.ID)
}

// checkVariantLedger asserts the ledger invariants of DESIGN.md for each
// variant of the product: the sum of all its rows is available, the sum
// without RESERVATION and RELEASE rows is on hand.
func checkVariantLedger(t *testing.T, b *testBundle, productID string) {
	t.Helper()
	var bad int
	err := b.db.Bun.QueryRowContext(context.Background(), `
		SELECT count(*) FROM product_variants v
		WHERE v.product_id = ? AND (
		      v.available <> (SELECT coalesce(sum(quantity_change), 0) FROM inventory_transactions t WHERE t.variant_id = v.id)
		   OR v.on_hand <> (SELECT coalesce(sum(quantity_change), 0) FROM inventory_transactions t
		                    WHERE t.variant_id = v.id AND t.type NOT IN ('RESERVATION', 'RELEASE')))`, productID).Scan(&bad)
	if err != nil || bad != 0 {
		t.Fatalf("%d variants whose ledger does not add up (%v)", bad, err)
	}
}

func TestUpdateVariant(t *testing.T) {
	svc, _, _ := setupImages(t)
	ctx := context.Background()
	token := unique()
	in := shirtInput(token)
	in.Variants[0].CompareAtPrice = ptr("30.00")
	p := mustCreate(t, svc, in)
	other := mustCreate(t, svc, validInput())
	if _, err := svc.AddImage(ctx, other.ID, upload("o.png", pngBytes(t, 1, 1))); err != nil {
		t.Fatal(err)
	}
	images, err := svc.ImagesByProductIDs(ctx, []string{other.ID})
	if err != nil || len(images[other.ID]) != 1 {
		t.Fatalf("images %+v, %v", images, err)
	}
	otherImage := images[other.ID][0]
	vs := variants(t, svc, p.ID)
	redS, blueM := vs[0], vs[3]

	// Price: the product's price follows the lowest active variant.
	v, got, err := svc.UpdateVariant(ctx, blueM.ID, catalog.VariantUpdateInput{Price: ptr("2.00"), SKU: ptr(" NEW-" + token + " "),
		Position: ptr(0), CompareAtPrice: ptr("")})
	if err != nil {
		t.Fatal(err)
	}
	if v.Price.Decimal() != "2.00" || v.SKU != "NEW-"+token || v.Position != 0 || got.Price.Decimal() != "2.00" || got.SKU != v.SKU {
		t.Fatalf("updated variant %+v, product price %s sku %s", v, got.Price, got.SKU)
	}
	if titles(variants(t, svc, p.ID)) != "Blue / M, Red / S, Red / M, Blue / S" {
		t.Fatalf("order after moving Blue / M first: %s", titles(variants(t, svc, p.ID)))
	}
	v, _, err = svc.UpdateVariant(ctx, redS.ID, catalog.VariantUpdateInput{Clear: []string{"compareAtPrice"}, LowStockThreshold: ptr(0)})
	if err != nil || v.CompareAtPrice != nil || v.LowStockThreshold != 0 || v.Price.Decimal() != "10.00" {
		t.Fatalf("clearing compareAtPrice: %+v, %v", v, err)
	}
	// Deactivating a variant leaves the price to the active ones.
	_, got, err = svc.UpdateVariant(ctx, blueM.ID, catalog.VariantUpdateInput{IsActive: ptr(false)})
	if err != nil || got.Price.Decimal() != "10.00" || got.OnHand != 1+2+3 {
		t.Fatalf("deactivated Blue / M: product price %v, on hand %v, %v", got.Price, got.OnHand, err)
	}

	refused := []struct {
		name string
		id   string
		in   catalog.VariantUpdateInput
		want []string
	}{
		{"unknown variant", uuid.NewString(), catalog.VariantUpdateInput{Price: ptr("1.00")}, []string{"NOT_FOUND id"}},
		{"malformed id", "red", catalog.VariantUpdateInput{Price: ptr("1.00")}, []string{"NOT_FOUND id"}},
		{"a product's id", p.ID, catalog.VariantUpdateInput{Price: ptr("1.00")}, []string{"NOT_FOUND id"}},
		{"a sku that exists", redS.ID, catalog.VariantUpdateInput{SKU: ptr(strings.ToLower(other.SKU))}, []string{"TAKEN input.sku"}},
		{"a sibling's sku", redS.ID, catalog.VariantUpdateInput{SKU: ptr(vs[1].SKU)}, []string{"TAKEN input.sku"}},
		{"bad fields", redS.ID, catalog.VariantUpdateInput{Price: ptr("-1"), SKU: ptr(""), Position: ptr(-1), WeightGrams: ptr(-1)},
			[]string{"INVALID input.price", "INVALID input.sku", "INVALID input.position", "INVALID input.weightGrams"}},
		{"an image of another product", redS.ID, catalog.VariantUpdateInput{ImageID: &otherImage.ID}, []string{"NOT_FOUND input.imageId"}},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			before := describe(variants(t, svc, p.ID))
			v, got, err := svc.UpdateVariant(ctx, tt.id, tt.in)
			if v != nil || got != nil {
				t.Fatalf("updated %+v", v)
			}
			wantOnly(t, err, tt.want...)
			if after := describe(variants(t, svc, p.ID)); after != before {
				t.Fatalf("variants changed:\n%s\n%s", before, after)
			}
		})
	}

	// An image of the variant's own product; cleared by name.
	if _, err := svc.AddImage(ctx, p.ID, upload("own.png", pngBytes(t, 1, 1))); err != nil {
		t.Fatal(err)
	}
	own, err := svc.ImagesByProductIDs(ctx, []string{p.ID})
	if err != nil || len(own[p.ID]) != 1 {
		t.Fatalf("images %+v, %v", own, err)
	}
	v, _, err = svc.UpdateVariant(ctx, redS.ID, catalog.VariantUpdateInput{ImageID: ptr(strings.ToUpper(own[p.ID][0].ID))})
	if err != nil || v.ImageID == nil || *v.ImageID != own[p.ID][0].ID {
		t.Fatalf("own image: %+v, %v", v, err)
	}
	v, _, err = svc.UpdateVariant(ctx, redS.ID, catalog.VariantUpdateInput{Clear: []string{"imageId"}})
	if err != nil || v.ImageID != nil {
		t.Fatalf("cleared image: %+v, %v", v, err)
	}

	// The last active variant cannot be deactivated.
	for _, v := range variants(t, svc, p.ID)[1:3] {
		if _, _, err := svc.ArchiveVariant(ctx, v.ID); err != nil {
			t.Fatal(err)
		}
	}
	last := variants(t, svc, p.ID)[3]
	_, _, err = svc.UpdateVariant(ctx, last.ID, catalog.VariantUpdateInput{IsActive: ptr(false)})
	wantOnly(t, err, "LAST_VARIANT input.isActive")
	if now := variants(t, svc, p.ID)[3]; !now.IsActive {
		t.Fatal("the last active variant was deactivated")
	}
}

func TestArchiveVariant(t *testing.T) {
	svc, b := setup(t)
	ctx := context.Background()
	p := mustCreate(t, svc, shirtInput(unique()))
	vs := variants(t, svc, p.ID)

	// Archiving the cheapest raises the price; its stock leaves the sums.
	v, got, err := svc.ArchiveVariant(ctx, vs[0].ID)
	if err != nil || v.IsActive || got.Price.Decimal() != "11.00" || got.OnHand != 2+3+4 || got.SKU != vs[1].SKU {
		t.Fatalf("archive %+v: product price %v, on hand %v, sku %v, %v", v, got.Price, got.OnHand, got.SKU, err)
	}
	// Again: nothing changes.
	if v, _, err := svc.ArchiveVariant(ctx, vs[0].ID); err != nil || v.IsActive {
		t.Fatalf("archive again: %+v, %v", v, err)
	}
	for _, v := range vs[1:3] {
		if _, _, err := svc.ArchiveVariant(ctx, v.ID); err != nil {
			t.Fatal(err)
		}
	}
	before := variantCounts(t, b)
	for _, tt := range []struct {
		id   string
		want string
	}{{vs[3].ID, "LAST_VARIANT id"}, {uuid.NewString(), "NOT_FOUND id"}, {"x", "NOT_FOUND id"}} {
		_, _, err := svc.ArchiveVariant(ctx, tt.id)
		wantOnly(t, err, tt.want)
	}
	if after := variantCounts(t, b); after != before || !variants(t, svc, p.ID)[3].IsActive {
		t.Fatalf("a refused archive wrote: %v -> %v", before, after)
	}
	// The archived variants keep their stock and ledger.
	if vs := variants(t, svc, p.ID); vs[0].OnHand != 1 || titles(vs) != "Red / S (inactive), Red / M (inactive), Blue / S (inactive), Blue / M" {
		t.Fatalf("variants %s, first on hand %d", titles(vs), vs[0].OnHand)
	}
	checkVariantLedger(t, b, p.ID)
}

func TestAddOptionValues(t *testing.T) {
	svc, b := setup(t)
	ctx := context.Background()
	p := mustCreate(t, svc, shirtInput(unique()))
	before := variants(t, svc, p.ID)
	many := make([]string, 99)
	for i := range many {
		many[i] = fmt.Sprintf("X%d", i)
	}

	refused := []struct {
		name, productID, option string
		values                  []string
		want                    []string
	}{
		{"unknown product", uuid.NewString(), "Size", []string{"L"}, []string{"NOT_FOUND productId"}},
		{"malformed product id", "nope", "Size", []string{"L"}, []string{"NOT_FOUND productId"}},
		{"unknown option", p.ID, "Fit", []string{"Slim"}, []string{"NOT_FOUND optionName"}},
		{"no values", p.ID, "Size", nil, []string{"INVALID values"}},
		{"a value it has, in another case", p.ID, "Size", []string{"L", "m"}, []string{"INVALID values.1"}},
		{"a value twice", p.ID, "Size", []string{"XL", "xl"}, []string{"INVALID values.1"}},
		{"a blank value", p.ID, "Size", []string{" "}, []string{"INVALID values.0"}},
		{"more than 100 in all", p.ID, "Size", many, []string{"INVALID values"}},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			counts := variantCounts(t, b)
			got, err := svc.AddOptionValues(ctx, tt.productID, tt.option, tt.values)
			if got != nil {
				t.Fatalf("added: %+v", got)
			}
			wantOnly(t, err, tt.want...)
			opts, err := svc.OptionsByProductIDs(ctx, []string{p.ID})
			if err != nil || !slices.Equal(opts[p.ID][1].Values, []string{"S", "M"}) || variantCounts(t, b) != counts {
				t.Fatalf("a refused add wrote: %+v, %v", opts[p.ID], err)
			}
		})
	}

	// The option name in any case; values appended; variants unchanged.
	if _, err := svc.AddOptionValues(ctx, p.ID, " size ", []string{" L ", "XL"}); err != nil {
		t.Fatal(err)
	}
	opts, err := svc.OptionsByProductIDs(ctx, []string{p.ID})
	if err != nil || !slices.Equal(opts[p.ID][1].Values, []string{"S", "M", "L", "XL"}) || !slices.Equal(opts[p.ID][0].Values, []string{"Red", "Blue"}) {
		t.Fatalf("options %+v, %v", opts[p.ID], err)
	}
	if after := variants(t, svc, p.ID); describe(after) != describe(before) {
		t.Fatalf("variants changed:\n%s\n%s", describe(before), describe(after))
	}
	// Up to 100 in all is fine; the new values can be used by new variants.
	if _, err := svc.AddOptionValues(ctx, p.ID, "Size", many[:96]); err != nil {
		t.Fatalf("100 values in all: %v", err)
	}
	if _, err := svc.CreateVariants(ctx, p.ID, []catalog.VariantInput{{SKU: "XL-" + unique(), Price: "1.00",
		SelectedOptions: sel("Color", "Red", "Size", "XL")}}); err != nil {
		t.Fatalf("a variant of an added value: %v", err)
	}
}

func TestUpdateProductWithVariants(t *testing.T) {
	svc, _ := setup(t)
	ctx := context.Background()
	p := mustCreate(t, svc, shirtInput(unique()))

	// Fields of the product itself are fine.
	got, err := svc.Update(ctx, p.ID, catalog.UpdateInput{Name: ptr("Renamed shirt")})
	if err != nil || got.Name != "Renamed shirt" {
		t.Fatalf("rename: %+v, %v", got, err)
	}
	// Variant fields need the variant when there are several: the
	// userError names the first one given.
	for _, tt := range []struct {
		name string
		in   catalog.UpdateInput
		want string
	}{
		{"price", catalog.UpdateInput{Price: ptr("1.00"), Name: ptr("Never written")}, "VARIANT_REQUIRED input.price"},
		{"compare-at", catalog.UpdateInput{CompareAtPrice: ptr("50.00"), WeightGrams: ptr(5)}, "VARIANT_REQUIRED input.compareAtPrice"},
		{"clear cost", catalog.UpdateInput{Clear: []string{"description", "costPrice"}}, "VARIANT_REQUIRED input.costPrice"},
		{"threshold", catalog.UpdateInput{LowStockThreshold: ptr(1)}, "VARIANT_REQUIRED input.lowStockThreshold"},
		{"weight", catalog.UpdateInput{WeightGrams: ptr(5)}, "VARIANT_REQUIRED input.weightGrams"},
		{"dimensions", catalog.UpdateInput{Dimensions: &catalog.DimensionsInput{LengthMm: ptr(1)}}, "VARIANT_REQUIRED input.dimensions"},
		{"clear a measure", catalog.UpdateInput{Clear: []string{"weightGrams"}}, "VARIANT_REQUIRED input.weightGrams"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.Update(ctx, p.ID, tt.in)
			wantOnly(t, err, tt.want)
			now, err := svc.ByID(ctx, p.ID)
			if err != nil || now.Name != "Renamed shirt" || now.Price.Decimal() != "10.00" {
				t.Fatalf("a refused update wrote: %+v, %v", now, err)
			}
		})
	}
	// With one active variant left, they act on it, and the product's
	// price follows.
	vs := variants(t, svc, p.ID)
	for _, v := range vs[:3] {
		if _, _, err := svc.ArchiveVariant(ctx, v.ID); err != nil {
			t.Fatal(err)
		}
	}
	got, err = svc.Update(ctx, p.ID, catalog.UpdateInput{Price: ptr("99.00"), WeightGrams: ptr(250)})
	if err != nil || got.Price.Decimal() != "99.00" || got.WeightGrams == nil || *got.WeightGrams != 250 {
		t.Fatalf("update with one active variant: %+v, %v", got, err)
	}
	if now := variants(t, svc, p.ID); now[3].Price.Decimal() != "99.00" || now[0].Price.Decimal() != "10.00" {
		t.Fatalf("the update reached %+v", now)
	}
}

func TestVariantReads(t *testing.T) {
	svc, _ := setup(t)
	ctx := context.Background()
	p := mustCreate(t, svc, shirtInput(unique()))
	plain := mustCreate(t, svc, validInput())
	vs := variants(t, svc, p.ID)

	ids := []string{vs[2].ID, uuid.NewString(), "garbage", strings.ToUpper(vs[0].ID), p.ID}
	got, err := svc.VariantsByIDs(ctx, ids)
	if err != nil || len(got) != len(ids) || got[0] == nil || got[0].ID != vs[2].ID || got[1] != nil || got[2] != nil ||
		got[3] == nil || got[3].ID != vs[0].ID || got[4] != nil {
		t.Fatalf("VariantsByIDs(%q) = %v, %v", ids, got, err)
	}
	if _, err := svc.VariantBySKU(ctx, "NOPE-"+unique()); !errors.Is(err, apperr.ErrNotFound) {
		t.Fatalf("unknown sku: want NotFound, got %v", err)
	}

	byProduct, err := svc.VariantsByProductIDs(ctx, []string{plain.ID, "bad", p.ID}, false)
	if err != nil || len(byProduct[plain.ID]) != 1 || byProduct[plain.ID][0].Title != catalog.DefaultTitle ||
		titles(byProduct[p.ID]) != "Red / S, Red / M, Blue / S, Blue / M" || byProduct["bad"] != nil {
		t.Fatalf("VariantsByProductIDs = %v, %v", byProduct, err)
	}
	opts, err := svc.OptionsByProductIDs(ctx, []string{plain.ID, strings.ToUpper(p.ID)})
	if err != nil || len(opts[plain.ID]) != 0 || len(opts[strings.ToUpper(p.ID)]) != 2 {
		t.Fatalf("OptionsByProductIDs = %v, %v", opts, err)
	}
}
