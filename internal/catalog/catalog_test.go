package catalog_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"commerce/internal/apperr"
	"commerce/internal/catalog"
	"commerce/internal/inventory"
	"commerce/internal/platform/db"
	"commerce/internal/platform/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }

type testBundle struct {
	db *db.DB
}

func setup(t *testing.T) (*catalog.Service, *testBundle) {
	t.Helper()
	b := &testBundle{db: dbtest.DB(t)}
	ledger := inventory.NewLedger(nil, inventory.Config{})
	return catalog.NewService(b.db, ledger, catalog.Config{StoreCurrency: "USD"}), b
}

func ptr[T any](v T) *T { return &v }

// unique returns a short token no other test uses.
func unique() string { return strings.ReplaceAll(uuid.NewString()[:13], "-", "") }

// validInput returns a product that passes validation.
func validInput() catalog.CreateInput {
	return catalog.CreateInput{SKU: ptr("SKU-" + unique()), Name: "Plain Mug " + unique(), Price: ptr("12.50")}
}

func mustCreate(t *testing.T, svc *catalog.Service, in catalog.CreateInput) *catalog.Product {
	t.Helper()
	p, err := svc.Create(context.Background(), in)
	if err != nil {
		t.Fatalf("create %s: %v", in.Name, err)
	}
	return p
}

// counts returns how many products and ledger rows exist.
func counts(t *testing.T, b *testBundle) [2]int {
	t.Helper()
	var c [2]int
	err := b.db.Bun.QueryRowContext(context.Background(),
		"SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM inventory_transactions)").Scan(&c[0], &c[1])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantUserError(t *testing.T, err error, kind apperr.Kind, code string, path ...string) {
	t.Helper()
	list, ok := apperr.UserErrors(err)
	if !ok {
		t.Fatalf("want a %s userError at %v, got %v", kind, path, err)
	}
	for _, e := range list {
		if e.Kind == kind && slices.Equal(e.Field, path) && (code == "" || e.UserCode() == code) {
			return
		}
	}
	t.Fatalf("want a %s userError at %v, got %v", kind, path, err)
}

func TestCreateValidation(t *testing.T) {
	svc, b := setup(t)
	existing := mustCreate(t, svc, validInput())
	tags51 := make([]string, 51)
	for i := range tags51 {
		tags51[i] = "tag" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	tests := []struct {
		name   string
		change func(*catalog.CreateInput)
		kind   apperr.Kind
		code   string
		path   []string
	}{
		{"empty sku", func(in *catalog.CreateInput) { in.SKU = ptr("  ") }, apperr.Invalid, "INVALID", []string{"input", "sku"}},
		{"sku with space", func(in *catalog.CreateInput) { in.SKU = ptr("A B") }, apperr.Invalid, "", []string{"input", "sku"}},
		{"sku too long", func(in *catalog.CreateInput) { in.SKU = ptr(strings.Repeat("S", 65)) }, apperr.Invalid, "", []string{"input", "sku"}},
		{"duplicate sku in another case", func(in *catalog.CreateInput) { in.SKU = ptr(strings.ToLower(existing.SKU)) },
			apperr.Conflict, "TAKEN", []string{"input", "sku"}},
		{"duplicate handle", func(in *catalog.CreateInput) { in.Handle = &existing.Handle }, apperr.Conflict, "TAKEN", []string{"input", "handle"}},
		{"bad handle", func(in *catalog.CreateInput) { in.Handle = ptr("Not A Slug") }, apperr.Invalid, "", []string{"input", "handle"}},
		{"empty name", func(in *catalog.CreateInput) { in.Name = "" }, apperr.Invalid, "", []string{"input", "name"}},
		{"10,000-char name", func(in *catalog.CreateInput) { in.Name = strings.Repeat("n", 10_000) }, apperr.Invalid, "", []string{"input", "name"}},
		{"description too long", func(in *catalog.CreateInput) { in.Description = ptr(strings.Repeat("d", 10_001)) },
			apperr.Invalid, "", []string{"input", "description"}},
		{"empty price", func(in *catalog.CreateInput) { in.Price = ptr("") }, apperr.Invalid, "", []string{"input", "price"}},
		{"negative price", func(in *catalog.CreateInput) { in.Price = ptr("-1.00") }, apperr.Invalid, "", []string{"input", "price"}},
		{"malformed price", func(in *catalog.CreateInput) { in.Price = ptr("abc") }, apperr.Invalid, "", []string{"input", "price"}},
		{"too many decimals for USD", func(in *catalog.CreateInput) { in.Price = ptr("1.999") }, apperr.Invalid, "", []string{"input", "price"}},
		{"decimals in JPY", func(in *catalog.CreateInput) { in.CurrencyCode, in.Price = ptr("JPY"), ptr("1.5") },
			apperr.Invalid, "", []string{"input", "price"}},
		{"unknown currency", func(in *catalog.CreateInput) { in.CurrencyCode = ptr("XYZ") }, apperr.Invalid, "", []string{"input", "currencyCode"}},
		{"malformed compare-at price", func(in *catalog.CreateInput) { in.CompareAtPrice = ptr("1e3") },
			apperr.Invalid, "", []string{"input", "compareAtPrice"}},
		{"negative cost price", func(in *catalog.CreateInput) { in.CostPrice = ptr("-0.01") }, apperr.Invalid, "", []string{"input", "costPrice"}},
		{"negative stock", func(in *catalog.CreateInput) { in.InventoryQuantity = ptr(-1) }, apperr.Invalid, "", []string{"input", "inventoryQuantity"}},
		{"stock above a million", func(in *catalog.CreateInput) { in.InventoryQuantity = ptr(1_000_001) },
			apperr.Invalid, "", []string{"input", "inventoryQuantity"}},
		{"negative threshold", func(in *catalog.CreateInput) { in.LowStockThreshold = ptr(-1) }, apperr.Invalid, "", []string{"input", "lowStockThreshold"}},
		{"negative weight", func(in *catalog.CreateInput) { in.WeightGrams = ptr(-5) }, apperr.Invalid, "", []string{"input", "weightGrams"}},
		{"negative dimension", func(in *catalog.CreateInput) { in.Dimensions = &catalog.DimensionsInput{WidthMm: ptr(-1)} },
			apperr.Invalid, "", []string{"input", "dimensions", "widthMm"}},
		{"too many tags", func(in *catalog.CreateInput) { in.Tags = tags51 }, apperr.Invalid, "", []string{"input", "tags"}},
		{"tag too long", func(in *catalog.CreateInput) { in.Tags = []string{"ok", strings.Repeat("t", 65)} },
			apperr.Invalid, "", []string{"input", "tags", "1"}},
		{"blank tag", func(in *catalog.CreateInput) { in.Tags = []string{" "} }, apperr.Invalid, "", []string{"input", "tags", "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := counts(t, b)
			in := validInput()
			in.InventoryQuantity = ptr(5)
			tt.change(&in)
			_, err := svc.Create(context.Background(), in)
			wantUserError(t, err, tt.kind, tt.code, tt.path...)
			if after := counts(t, b); after != before {
				t.Fatalf("products/ledger rows went from %v to %v", before, after)
			}
		})
	}
}

func TestCreateReportsEveryProblem(t *testing.T) {
	svc, _ := setup(t)
	_, err := svc.Create(context.Background(), catalog.CreateInput{Price: ptr("abc"), InventoryQuantity: ptr(-1)})
	list, ok := apperr.UserErrors(err)
	if !ok || len(list) != 4 { // sku, name, price, inventoryQuantity
		t.Fatalf("want 4 userErrors, got %v", err)
	}
}

func TestCreate(t *testing.T) {
	svc, b := setup(t)
	token := unique()
	in := catalog.CreateInput{
		SKU: ptr(" ELEC-" + token + " "), Name: "  Café Headphones " + token, Description: ptr("Line one\nLine two"),
		Price: ptr("149.9"), CompareAtPrice: ptr("199.99"), CostPrice: ptr("80"),
		Category: ptr("Electronics"), Tags: []string{" audio ", "audio", "wireless"},
		InventoryQuantity: ptr(25), IsFeatured: ptr(true), WeightGrams: ptr(300),
		Dimensions: &catalog.DimensionsInput{LengthMm: ptr(200), HeightMm: ptr(90)},
	}
	p := mustCreate(t, svc, in)
	switch {
	case p.ID == "" || p.SKU != "ELEC-"+token || p.Name != "Café Headphones "+token:
		t.Fatalf("identity %+v", p)
	case p.Handle != "cafe-headphones-"+token:
		t.Fatalf("handle %q", p.Handle)
	case p.Price.Decimal() != "149.90" || p.Price.Currency != "USD" || p.CompareAtPrice.Decimal() != "199.99" || p.CostPrice.Amount != 8000:
		t.Fatalf("prices %v %v %v", p.Price, p.CompareAtPrice, p.CostPrice)
	case !slices.Equal(p.Tags, []string{"audio", "wireless"}):
		t.Fatalf("tags %q", p.Tags)
	case p.OnHand != 25 || p.Available != 25 || p.LowStockThreshold != 10 || p.HasOptions:
		t.Fatalf("stock %d/%d threshold %d, options %v", p.OnHand, p.Available, p.LowStockThreshold, p.HasOptions)
	case !p.IsActive || !p.IsFeatured || *p.WeightGrams != 300 || *p.Dimensions.LengthMm != 200 || p.Dimensions.WidthMm != nil:
		t.Fatalf("flags and measures %+v", p)
	case p.CreatedAt.IsZero() || p.UpdatedAt.IsZero():
		t.Fatalf("timestamps %+v", p)
	}

	// The product's one variant, its default, carries the sku, the prices,
	// the measures and the stock.
	vs, err := svc.VariantsByProductIDs(context.Background(), []string{p.ID}, true)
	if err != nil || len(vs[p.ID]) != 1 {
		t.Fatalf("variants %+v, %v", vs, err)
	}
	v := vs[p.ID][0]
	switch {
	case v.ProductID != p.ID || v.SKU != p.SKU || v.Title != catalog.DefaultTitle || len(v.SelectedOptions) != 0 || !v.IsActive:
		t.Fatalf("default variant %+v", v)
	case v.Price != p.Price || *v.CompareAtPrice != *p.CompareAtPrice || *v.CostPrice != *p.CostPrice:
		t.Fatalf("variant prices %v %v %v", v.Price, v.CompareAtPrice, v.CostPrice)
	case v.OnHand != 25 || v.Reserved != 0 || v.Available != 25 || v.LowStockThreshold != 10:
		t.Fatalf("variant stock %d/%d/%d threshold %d", v.OnHand, v.Reserved, v.Available, v.LowStockThreshold)
	case *v.WeightGrams != 300 || *v.Dimensions.LengthMm != 200 || v.Dimensions.WidthMm != nil:
		t.Fatalf("variant measures %+v", v)
	}

	var typ, variantID string
	var qty int
	err = b.db.Bun.QueryRowContext(context.Background(),
		"SELECT type, quantity_change, variant_id FROM inventory_transactions WHERE product_id = ?", p.ID).Scan(&typ, &qty, &variantID)
	if err != nil || typ != "RESTOCK" || qty != 25 || variantID != v.ID {
		t.Fatalf("opening stock ledger row %s %d of %s (%v)", typ, qty, variantID, err)
	}

	got, err := svc.ByID(context.Background(), p.ID)
	if err != nil || got.Handle != p.Handle || got.Available != 25 || *got.Description != "Line one\nLine two" {
		t.Fatalf("ByID %+v, %v", got, err)
	}
}

func TestCreateInOtherCurrency(t *testing.T) {
	svc, _ := setup(t)
	in := validInput()
	in.CurrencyCode, in.Price = ptr("jpy"), ptr("1200")
	p := mustCreate(t, svc, in)
	if p.Price.Currency != "JPY" || p.Price.Amount != 1200 || p.Price.Decimal() != "1200" {
		t.Fatalf("price %v", p.Price)
	}
}

func TestCreateGeneratesUniqueHandles(t *testing.T) {
	svc, _ := setup(t)
	name := "Same Name " + unique()
	want := strings.ToLower(strings.ReplaceAll(name, " ", "-"))
	for _, suffix := range []string{"", "-2", "-3"} {
		in := validInput()
		in.Name = name
		if p := mustCreate(t, svc, in); p.Handle != want+suffix {
			t.Fatalf("handle %q, want %q", p.Handle, want+suffix)
		}
	}
	in := validInput()
	in.Name = "日本の茶碗"
	if p := mustCreate(t, svc, in); p.Handle != strings.ToLower(*in.SKU) {
		t.Fatalf("handle of a non-Latin name %q, want the sku's", p.Handle)
	}
}

func TestUpdate(t *testing.T) {
	svc, _ := setup(t)
	in := validInput()
	in.Description, in.Tags, in.CompareAtPrice = ptr("old"), []string{"a", "b"}, ptr("20.00")
	p := mustCreate(t, svc, in)
	other := mustCreate(t, svc, validInput())
	ctx := context.Background()

	got, err := svc.Update(ctx, p.ID, catalog.UpdateInput{
		Name: ptr("Renamed Mug"), Price: ptr("9.99"), Description: ptr(""), CompareAtPrice: ptr(""),
		Tags: []string{"c"}, IsFeatured: ptr(true), Dimensions: &catalog.DimensionsInput{WidthMm: ptr(80)},
	})
	switch {
	case err != nil:
		t.Fatal(err)
	case got.Name != "Renamed Mug" || got.Handle != p.Handle || got.Price.Amount != 999:
		t.Fatalf("updated %+v", got)
	case got.Description != nil || got.CompareAtPrice != nil || !slices.Equal(got.Tags, []string{"c"}) || !got.IsFeatured:
		t.Fatalf("cleared fields %+v", got)
	case got.Dimensions == nil || *got.Dimensions.WidthMm != 80 || got.SKU != p.SKU || !got.UpdatedAt.After(p.UpdatedAt):
		t.Fatalf("kept fields %+v", got)
	}

	tests := []struct {
		name string
		id   string
		in   catalog.UpdateInput
		kind apperr.Kind
		code string
		path []string
	}{
		{"unknown id", uuid.NewString(), catalog.UpdateInput{Name: ptr("x")}, apperr.NotFound, "", []string{"id"}},
		{"malformed id", "abc", catalog.UpdateInput{Name: ptr("x")}, apperr.NotFound, "", []string{"id"}},
		{"taken handle", p.ID, catalog.UpdateInput{Handle: &other.Handle}, apperr.Conflict, "TAKEN", []string{"input", "handle"}},
		{"empty handle", p.ID, catalog.UpdateInput{Handle: ptr("")}, apperr.Invalid, "", []string{"input", "handle"}},
		{"empty name", p.ID, catalog.UpdateInput{Name: ptr(" ")}, apperr.Invalid, "", []string{"input", "name"}},
		{"bad price", p.ID, catalog.UpdateInput{Price: ptr("1.001"), Name: ptr("Never Written")}, apperr.Invalid, "", []string{"input", "price"}},
		{"empty price", p.ID, catalog.UpdateInput{Price: ptr("")}, apperr.Invalid, "", []string{"input", "price"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.Update(ctx, tt.id, tt.in)
			wantUserError(t, err, tt.kind, tt.code, tt.path...)
			now, err := svc.ByID(ctx, p.ID)
			if err != nil || now.Name != "Renamed Mug" || now.Price.Amount != 999 || now.Handle != p.Handle {
				t.Fatalf("product changed by a refused update: %+v, %v", now, err)
			}
		})
	}
}

func TestArchive(t *testing.T) {
	svc, _ := setup(t)
	ctx := context.Background()
	p := mustCreate(t, svc, validInput())
	got, err := svc.Archive(ctx, p.ID)
	if err != nil || got.IsActive {
		t.Fatalf("archive %+v, %v", got, err)
	}
	for _, id := range []string{uuid.NewString(), "nope"} {
		_, err := svc.Archive(ctx, id)
		wantUserError(t, err, apperr.NotFound, "", "id")
	}
}

func TestReads(t *testing.T) {
	svc, _ := setup(t)
	ctx := context.Background()
	p := mustCreate(t, svc, validInput())

	tests := []struct {
		name string
		get  func() (*catalog.Product, error)
		want bool
	}{
		{"by id", func() (*catalog.Product, error) { return svc.ByID(ctx, p.ID) }, true},
		{"by upper-case id", func() (*catalog.Product, error) { return svc.ByID(ctx, strings.ToUpper(p.ID)) }, true},
		{"by sku in another case", func() (*catalog.Product, error) { return svc.BySKU(ctx, strings.ToLower(p.SKU)) }, true},
		{"by handle", func() (*catalog.Product, error) { return svc.ByHandle(ctx, p.Handle) }, true},
		{"unknown id", func() (*catalog.Product, error) { return svc.ByID(ctx, uuid.NewString()) }, false},
		{"malformed id", func() (*catalog.Product, error) { return svc.ByID(ctx, "42") }, false},
		{"unknown sku", func() (*catalog.Product, error) { return svc.BySKU(ctx, "NOPE-"+unique()) }, false},
		{"unknown handle", func() (*catalog.Product, error) { return svc.ByHandle(ctx, "nope-"+unique()) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.get()
			if tt.want && (err != nil || got.ID != p.ID) {
				t.Fatalf("got %+v, %v", got, err)
			}
			if !tt.want && !errors.Is(err, apperr.ErrNotFound) {
				t.Fatalf("want NotFound, got %+v, %v", got, err)
			}
		})
	}
}

func TestByIDsKeepsKeyOrder(t *testing.T) {
	svc, _ := setup(t)
	p1 := mustCreate(t, svc, validInput())
	p2 := mustCreate(t, svc, validInput())
	ids := []string{p2.ID, uuid.NewString(), "garbage", "", p1.ID, strings.ToUpper(p2.ID)}
	got, err := svc.ByIDs(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	want := []*catalog.Product{p2, nil, nil, nil, p1, p2}
	if len(got) != len(want) {
		t.Fatalf("got %d results for %d keys", len(got), len(ids))
	}
	for i := range want {
		if (want[i] == nil) != (got[i] == nil) || (want[i] != nil && got[i].ID != want[i].ID) {
			t.Fatalf("key %d (%q): got %+v", i, ids[i], got[i])
		}
	}
	if got, err := svc.ByIDs(context.Background(), []string{"x"}); err != nil || len(got) != 1 || got[0] != nil {
		t.Fatalf("only malformed ids: %v, %v", got, err)
	}
}

func TestImagesByProductIDs(t *testing.T) {
	svc, b := setup(t)
	p1 := mustCreate(t, svc, validInput())
	p2 := mustCreate(t, svc, validInput())
	p3 := mustCreate(t, svc, validInput())
	for _, img := range []struct {
		product string
		pos     int
	}{{p1.ID, 2}, {p1.ID, 0}, {p2.ID, 1}, {p1.ID, 1}} {
		_, err := b.db.Bun.ExecContext(context.Background(),
			"INSERT INTO product_images (product_id, storage_key, content_type, position) VALUES (?, ?, 'image/png', ?)",
			img.product, "products/"+img.product+"/"+string(rune('a'+img.pos)), img.pos)
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := svc.ImagesByProductIDs(context.Background(), []string{p1.ID, p2.ID, p3.ID, "bad"})
	if err != nil {
		t.Fatal(err)
	}
	var positions []int
	for _, img := range got[p1.ID] {
		positions = append(positions, img.Position)
	}
	if !slices.Equal(positions, []int{0, 1, 2}) || len(got[p2.ID]) != 1 || len(got[p3.ID]) != 0 || len(got) != 2 {
		t.Fatalf("images %+v", got)
	}
	if img := got[p2.ID][0]; img.ProductID != p2.ID || img.ContentType != "image/png" || img.ID == "" {
		t.Fatalf("image %+v", img)
	}
}

func TestCategories(t *testing.T) {
	svc, _ := setup(t)
	active, archived := "Active "+unique(), "Archived "+unique()
	in := validInput()
	in.Category = &active
	mustCreate(t, svc, in)
	in = validInput()
	in.Category, in.IsActive = &archived, ptr(false)
	mustCreate(t, svc, in)

	cats, err := svc.Categories(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cats, active) || slices.Contains(cats, archived) || !slices.IsSorted(cats) {
		t.Fatalf("categories %q", cats)
	}
}

// TestTaxClass: a product's tax class is trimmed, blank is the standard
// class (nil), an explicit null clears it and an overlong one is refused.
func TestTaxClass(t *testing.T) {
	svc, _ := setup(t)
	ctx := context.Background()
	in := validInput()
	in.TaxClass = ptr(" reduced ")
	p := mustCreate(t, svc, in)
	if p.TaxClass == nil || *p.TaxClass != "reduced" {
		t.Fatalf("tax class %v, want reduced", p.TaxClass)
	}
	got, err := svc.Update(ctx, p.ID, catalog.UpdateInput{Name: ptr("Kept class")})
	if err != nil || got.TaxClass == nil || *got.TaxClass != "reduced" {
		t.Fatalf("an update without taxClass: %v, %v; want it kept", got, err)
	}
	if got, err = svc.Update(ctx, p.ID, catalog.UpdateInput{Clear: []string{"taxClass"}}); err != nil || got.TaxClass != nil {
		t.Fatalf("an explicit null: %v, %v; want the standard class", got, err)
	}
	_, err = svc.Update(ctx, p.ID, catalog.UpdateInput{TaxClass: ptr(strings.Repeat("x", 51))})
	if l, ok := apperr.UserErrors(err); !ok || !slices.Equal(l[0].Field, []string{"input", "taxClass"}) {
		t.Fatalf("an overlong class: %v, want a userError at input.taxClass", err)
	}
}
