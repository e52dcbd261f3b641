package e2e

// Acceptance tests of product variants and options (issue 14), driven over
// HTTP against the public contract only: a product with options and
// variants, read as the storefront and as staff; carts, checkout and the
// signed Stripe webhook per variant; the flash-sale guarantee per variant;
// refused input that writes nothing; and v1 clients against one-variant
// products. Facets have their own file.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// ---------------------------------------------------------------- helpers

type varSelOpt struct{ Name, Value string }

type varOption struct {
	ID       string
	Name     string
	Position int
	Values   []string
}

type varVariant struct {
	ID                string
	SKU               string
	Title             string
	SelectedOptions   []varSelOpt
	Price             gqlMoney
	CostPrice         *gqlMoney
	InventoryQuantity int
	AvailableQuantity int
	LowStockThreshold int
	Position          int
	IsActive          bool
	Product           struct{ ID string }
}

type varPriceRange struct{ MinVariantPrice, MaxVariantPrice gqlMoney }

type varProduct struct {
	ID                    string
	SKU                   string
	Name                  string
	Handle                string
	Price                 gqlMoney
	CostPrice             *gqlMoney
	InventoryQuantity     int
	AvailableQuantity     int
	IsActive              bool
	HasOnlyDefaultVariant bool
	Options               []varOption
	Variants              []varVariant
	PriceRange            varPriceRange
}

const varVariantFields = `id sku title selectedOptions { name value } price { amount currencyCode }
	costPrice { amount currencyCode } inventoryQuantity availableQuantity lowStockThreshold position isActive product { id }`

const varProductFields = `id sku name handle price { amount currencyCode } costPrice { amount currencyCode }
	inventoryQuantity availableQuantity isActive hasOnlyDefaultVariant options { id name position values }
	variants { ` + varVariantFields + ` }
	priceRange { minVariantPrice { amount currencyCode } maxVariantPrice { amount currencyCode } }`

// variant returns the variant with the given title, failing the test when
// there is none.
func (p varProduct) variant(t *testing.T, title string) varVariant {
	t.Helper()
	for _, v := range p.Variants {
		if v.Title == title {
			return v
		}
	}
	t.Fatalf("product %s has no variant %q among %v", p.ID, title, p.titles())
	return varVariant{}
}

func (p varProduct) titles() []string {
	out := make([]string, len(p.Variants))
	for i, v := range p.Variants {
		out[i] = v.Title
	}
	return out
}

// varOpt is a ProductOptionInput; no values is an empty list, not null.
func varOpt(name string, values ...string) map[string]any {
	if values == nil {
		values = []string{}
	}
	return map[string]any{"name": name, "values": values}
}

// varSel builds selectedOptions from name, value pairs.
func varSel(pairs ...string) []map[string]any {
	var out []map[string]any
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, map[string]any{"name": pairs[i], "value": pairs[i+1]})
	}
	return out
}

func varVariantIn(sku, price string, stock int, sel []map[string]any) map[string]any {
	return map[string]any{"sku": sku, "price": price, "inventoryQuantity": stock, "selectedOptions": sel, "lowStockThreshold": 0}
}

// varCreate runs productCreate and returns the product (nil on userErrors)
// and the userErrors.
func (s *e2eServer) varCreate(t *testing.T, staff string, input map[string]any) (*varProduct, []userError) {
	t.Helper()
	var out struct {
		ProductCreate struct {
			Product    *varProduct
			UserErrors []userError
		}
	}
	s.gql(t, staff, `mutation($input: ProductCreateInput!) { productCreate(input: $input) {
		product { `+varProductFields+` } userErrors { field message code } } }`, map[string]any{"input": input}, &out)
	return out.ProductCreate.Product, out.ProductCreate.UserErrors
}

// varMustCreate creates a product that must be accepted.
func (s *e2eServer) varMustCreate(t *testing.T, staff string, input map[string]any) varProduct {
	t.Helper()
	p, errs := s.varCreate(t, staff, input)
	if p == nil || len(errs) > 0 {
		t.Fatalf("productCreate %v: userErrors %+v", input["name"], errs)
	}
	return *p
}

// varLookup runs a query of one thing that may be missing: a missing one
// is null with a NOT_FOUND error (the v1 convention of product()), which
// it tolerates; any other error fails the test.
func (s *e2eServer) varLookup(t *testing.T, token, query string, vars map[string]any, out any) {
	t.Helper()
	r := s.do(t, token, query, vars)
	if t.Failed() {
		t.FailNow()
	}
	for _, c := range r.codes() {
		if c != "NOT_FOUND" {
			t.Fatalf("GraphQL errors: %+v\nquery: %s\nvariables: %v", r.Errors, query, vars)
		}
	}
	if err := json.Unmarshal(r.Data, out); err != nil {
		t.Fatalf("decode data %s: %v", r.Data, err)
	}
}

// varProductByID reads a product by id as token (anonymous when empty).
func (s *e2eServer) varProductByID(t *testing.T, token, id string) *varProduct {
	t.Helper()
	var out struct{ Product *varProduct }
	s.varLookup(t, token, `query($id: ID!) { product(id: $id) { `+varProductFields+` } }`, map[string]any{"id": id}, &out)
	return out.Product
}

func (s *e2eServer) varMustProduct(t *testing.T, token, id string) varProduct {
	t.Helper()
	p := s.varProductByID(t, token, id)
	if p == nil {
		t.Fatalf("product %s not found (token set: %v)", id, token != "")
	}
	return *p
}

// varVariantBy reads variant(id:) or variant(sku:) as token.
func (s *e2eServer) varVariantBy(t *testing.T, token, arg, value string) *varVariant {
	t.Helper()
	var out struct{ Variant *varVariant }
	s.varLookup(t, token, fmt.Sprintf(`query($v: %s) { variant(%s: $v) { %s } }`, map[string]string{"id": "ID", "sku": "String"}[arg], arg, varVariantFields),
		map[string]any{"v": value}, &out)
	return out.Variant
}

type varLedgerRow struct {
	ID             string
	Type           string
	QuantityChange int
	ReferenceID    *string
	Variant        struct{ ID string }
}

// varLedger reads every ledger row of a variant as staff, page by page,
// and checks that the pages add up to totalCount without repeats.
func (s *e2eServer) varLedger(t *testing.T, staff, variantID string) []varLedgerRow {
	t.Helper()
	var rows []varLedgerRow
	seen := map[string]bool{}
	var after any
	total := -1
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatalf("ledger of %s: more than 100 pages", variantID)
		}
		var out struct {
			Variant *struct {
				InventoryTransactions *struct {
					TotalCount int
					PageInfo   struct {
						HasNextPage bool
						EndCursor   *string
					}
					Edges []struct{ Node varLedgerRow }
				}
			}
		}
		s.gql(t, staff, `query($id: ID!, $after: String) { variant(id: $id) { inventoryTransactions(first: 25, after: $after) {
			totalCount pageInfo { hasNextPage endCursor } edges { node { id type quantityChange referenceId variant { id } } } } } }`,
			map[string]any{"id": variantID, "after": after}, &out)
		if out.Variant == nil || out.Variant.InventoryTransactions == nil {
			t.Fatalf("staff cannot read the ledger of variant %s", variantID)
		}
		c := out.Variant.InventoryTransactions
		if total >= 0 && c.TotalCount != total {
			t.Errorf("ledger of %s: totalCount changed between pages from %d to %d", variantID, total, c.TotalCount)
		}
		total = c.TotalCount
		for _, e := range c.Edges {
			if seen[e.Node.ID] {
				t.Errorf("ledger of %s: row %s on two pages", variantID, e.Node.ID)
			}
			seen[e.Node.ID] = true
			if e.Node.Variant.ID != variantID {
				t.Errorf("ledger of %s holds row %+v of variant %s", variantID, e.Node, e.Node.Variant.ID)
			}
			rows = append(rows, e.Node)
		}
		if !c.PageInfo.HasNextPage {
			break
		}
		if c.PageInfo.EndCursor == nil || len(c.Edges) == 0 {
			t.Fatalf("ledger of %s: hasNextPage without a cursor or rows", variantID)
		}
		after = *c.PageInfo.EndCursor
	}
	if len(rows) != total {
		t.Errorf("ledger of %s: %d rows over all pages, totalCount %d", variantID, len(rows), total)
	}
	return rows
}

// varCheckLedger checks DESIGN.md's ledger invariants for one variant: all
// rows sum to available, rows other than RESERVATION and RELEASE to on hand.
func varCheckLedger(t *testing.T, what string, rows []varLedgerRow, v varVariant) {
	t.Helper()
	all, onHand := 0, 0
	for _, r := range rows {
		all += r.QuantityChange
		if r.Type != "RESERVATION" && r.Type != "RELEASE" {
			onHand += r.QuantityChange
		}
	}
	if all != v.AvailableQuantity || onHand != v.InventoryQuantity {
		t.Errorf("%s: ledger sums to available %d / on hand %d, the variant says %d / %d (rows %+v)",
			what, all, onHand, v.AvailableQuantity, v.InventoryQuantity, rows)
	}
}

// varRowsOf returns the rows that reference ref, as sorted "TYPE:change".
func varRowsOf(rows []varLedgerRow, ref string) []string {
	var out []string
	for _, r := range rows {
		if r.ReferenceID != nil && *r.ReferenceID == ref {
			out = append(out, fmt.Sprintf("%s:%d", r.Type, r.QuantityChange))
		}
	}
	slices.Sort(out)
	return out
}

// varWantErr checks that errs holds a userError with code (any code when
// empty) whose field is path, or starts with path when prefix is set.
func varWantErr(t *testing.T, what string, errs []userError, code string, prefix bool, path ...string) {
	t.Helper()
	for _, e := range errs {
		if code != "" && e.Code != code {
			continue
		}
		if slices.Equal(e.Field, path) || prefix && len(e.Field) >= len(path) && slices.Equal(e.Field[:len(path)], path) {
			return
		}
	}
	kind := "at"
	if prefix {
		kind = "under"
	}
	t.Errorf("%s: userErrors %+v, want code %q %s %q", what, errs, code, kind, path)
}

func varSelString(sel []varSelOpt) string {
	parts := make([]string, len(sel))
	for i, o := range sel {
		parts[i] = o.Name + "=" + o.Value
	}
	return strings.Join(parts, ",")
}

func varMoney(m *gqlMoney) string {
	if m == nil {
		return "<nil>"
	}
	return m.Amount
}

type varCartLine struct {
	ID        string
	Quantity  int
	UnitPrice gqlMoney
	Variant   struct{ ID, SKU, Title string }
	Product   struct{ ID string }
}

type varCart struct {
	ID    string
	Lines []varCartLine
}

const varCartFields = `id lines { id quantity unitPrice { amount currencyCode } variant { id sku title } product { id } }`

// varCartCall runs a cart mutation (cartCreate or cartLinesAdd) and returns
// the cart and the userErrors.
func (s *e2eServer) varCartCall(t *testing.T, mutation string, vars map[string]any) (*varCart, []userError) {
	t.Helper()
	r := s.do(t, "", mutation, vars)
	if len(r.Errors) > 0 {
		t.Fatalf("cart mutation: errors %+v", r.Errors)
	}
	var out map[string]struct {
		Cart       *varCart
		UserErrors []userError
	}
	if err := json.Unmarshal(r.Data, &out); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
	for _, p := range out {
		return p.Cart, p.UserErrors
	}
	t.Fatalf("cart mutation returned no payload: %s", r.Data)
	return nil, nil
}

const (
	varCartCreate   = `mutation($l: [CartLineInput!]) { cartCreate(lines: $l) { cart { ` + varCartFields + ` } userErrors { field message code } } }`
	varCartLinesAdd = `mutation($c: ID!, $l: [CartLineInput!]!) { cartLinesAdd(cartId: $c, lines: $l) { cart { ` + varCartFields + ` } userErrors { field message code } } }`
)

func (c varCart) line(variantID string) *varCartLine {
	for i := range c.Lines {
		if c.Lines[i].Variant.ID == variantID {
			return &c.Lines[i]
		}
	}
	return nil
}

type varOrderLine struct {
	ID              string
	SKU             string
	Quantity        int
	UnitPrice       gqlMoney
	Variant         *struct{ ID string }
	VariantTitle    string
	SelectedOptions []varSelOpt
}

// varOrderLines reads the lines of an order as staff.
func (s *e2eServer) varOrderLines(t *testing.T, staff, number string) []varOrderLine {
	t.Helper()
	var out struct {
		Order *struct{ Lines []varOrderLine }
	}
	s.gql(t, staff, `query($n: String!) { order(orderNumber: $n) { lines { id sku quantity unitPrice { amount currencyCode }
		variant { id } variantTitle selectedOptions { name value } } } }`, map[string]any{"n": number}, &out)
	if out.Order == nil {
		t.Fatalf("order %s not found", number)
	}
	return out.Order.Lines
}

// varCheckout places an order from lines and returns the payload.
func (s *e2eServer) varCheckout(t *testing.T, input map[string]any) checkoutResult {
	t.Helper()
	input["shippingAddress"] = shippingAddress()
	if input["email"] == nil {
		input["email"] = buyerEmail()
	}
	if input["idempotencyKey"] == nil {
		input["idempotencyKey"] = "e2e-var-" + randHex(8)
	}
	var out struct{ Checkout checkoutResult }
	s.gql(t, "", checkoutMutation, map[string]any{"input": input}, &out)
	return out.Checkout
}

// ---------------------------------------------------------------- tests

// TestVariantsLifecycle is issue 14's acceptance path: a product with
// options Color × Size and six variants, read by the storefront and by
// staff, looked up every way, one variant archived, two variants bought
// through a cart and paid through the signed webhook, with stock and the
// ledger moving for those two variants only.
func TestVariantsLifecycle(t *testing.T) {
	deps := startDeps(t, true)
	srv := startServer(t, "variants", deps.env(t, nil))
	staff := srv.staffLogin(t)
	base := "VAR-" + strings.ToUpper(randHex(4))

	type spec struct {
		color, size, price, cost string
		stock                    int
	}
	specs := []spec{
		{"Red", "S", "15.00", "5.00", 10},
		{"Red", "M", "20.00", "6.00", 11},
		{"Red", "L", "22.00", "7.00", 12},
		{"Blue", "S", "18.00", "5.50", 13},
		{"Blue", "M", "20.00", "6.50", 14},
		{"Blue", "L", "24.00", "8.00", 15},
	}
	var variants []map[string]any
	for i, sp := range specs {
		sel := varSel("Color", sp.color, "Size", sp.size)
		if i%2 == 1 { // given out of option order: read back in option order
			sel = varSel("Size", sp.size, "Color", sp.color)
		}
		v := varVariantIn(base+"-"+strings.ToUpper(sp.color)+"-"+sp.size, sp.price, sp.stock, sel)
		v["costPrice"] = sp.cost
		variants = append(variants, v)
	}
	created := srv.varMustCreate(t, staff, map[string]any{
		"name": "Variant tee " + base, "category": "Apparel", "tags": []string{"tee"},
		"options":  []any{varOpt("Color", "Red", "Blue"), varOpt("Size", "S", "M", "L")},
		"variants": variants,
	})
	pid := created.ID

	wantTitles := []string{"Red / S", "Red / M", "Red / L", "Blue / S", "Blue / M", "Blue / L"}
	checkRead := func(step, token string, p varProduct, archived map[string]bool) {
		t.Helper()
		if p.HasOnlyDefaultVariant {
			t.Errorf("%s: hasOnlyDefaultVariant true for a product with options", step)
		}
		if len(p.Options) != 2 || p.Options[0].Name != "Color" || p.Options[0].Position != 0 ||
			!slices.Equal(p.Options[0].Values, []string{"Red", "Blue"}) || p.Options[1].Name != "Size" ||
			p.Options[1].Position != 1 || !slices.Equal(p.Options[1].Values, []string{"S", "M", "L"}) {
			t.Errorf("%s: options %+v, want Color{Red,Blue} at 0 and Size{S,M,L} at 1", step, p.Options)
		}
		var want []string
		for i, title := range wantTitles {
			if token == "" && archived[title] {
				continue
			}
			want = append(want, fmt.Sprintf("%d:%s", i, title))
		}
		var got []string
		for _, v := range p.Variants {
			got = append(got, fmt.Sprintf("%d:%s", v.Position, v.Title))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: variants (position:title) %v, want %v", step, got, want)
		}
		minP, maxP := "", ""
		sumOn, sumAvail := 0, 0
		firstSKU, firstCost := "", ""
		for _, v := range p.Variants {
			sp := specs[slices.Index(wantTitles, v.Title)]
			wantSel := fmt.Sprintf("Color=%s,Size=%s", sp.color, sp.size)
			if varSelString(v.SelectedOptions) != wantSel {
				t.Errorf("%s: %s selectedOptions %s, want %s", step, v.Title, varSelString(v.SelectedOptions), wantSel)
			}
			if v.SKU != base+"-"+strings.ToUpper(sp.color)+"-"+sp.size || v.Price.Amount != sp.price || v.Price.CurrencyCode != "USD" {
				t.Errorf("%s: %s sku %s price %+v, want %s-%s-%s %s USD", step, v.Title, v.SKU, v.Price, base, strings.ToUpper(sp.color), sp.size, sp.price)
			}
			if v.Product.ID != pid {
				t.Errorf("%s: %s product %s, want %s", step, v.Title, v.Product.ID, pid)
			}
			switch {
			case token == "" && v.CostPrice != nil:
				t.Errorf("%s: anonymous reads costPrice %s of %s, want null", step, v.CostPrice.Amount, v.Title)
			case token != "" && varMoney(v.CostPrice) != sp.cost:
				t.Errorf("%s: staff reads costPrice %s of %s, want %s", step, varMoney(v.CostPrice), v.Title, sp.cost)
			}
			if v.IsActive == archived[v.Title] {
				t.Errorf("%s: %s isActive %v", step, v.Title, v.IsActive)
			}
			if !v.IsActive {
				continue
			}
			if firstSKU == "" {
				firstSKU, firstCost = v.SKU, sp.cost
			}
			if minP == "" || cents(t, v.Price.Amount) < cents(t, minP) {
				minP = v.Price.Amount
			}
			if maxP == "" || cents(t, v.Price.Amount) > cents(t, maxP) {
				maxP = v.Price.Amount
			}
			sumOn += v.InventoryQuantity
			sumAvail += v.AvailableQuantity
		}
		if p.PriceRange.MinVariantPrice.Amount != minP || p.PriceRange.MaxVariantPrice.Amount != maxP {
			t.Errorf("%s: priceRange %+v, want %s..%s", step, p.PriceRange, minP, maxP)
		}
		if p.Price.Amount != minP || p.SKU != firstSKU || p.InventoryQuantity != sumOn || p.AvailableQuantity != sumAvail {
			t.Errorf("%s: v1 fields price %s sku %s on hand %d available %d; want the lowest active price %s, the first active sku %s, sums %d and %d",
				step, p.Price.Amount, p.SKU, p.InventoryQuantity, p.AvailableQuantity, minP, firstSKU, sumOn, sumAvail)
		}
		switch {
		case token == "" && p.CostPrice != nil:
			t.Errorf("%s: anonymous reads Product.costPrice %s, want null", step, p.CostPrice.Amount)
		case token != "" && varMoney(p.CostPrice) != firstCost:
			t.Errorf("%s: Product.costPrice %s, want the first active variant's %s", step, varMoney(p.CostPrice), firstCost)
		}
	}
	checkRead("the created product", staff, created, nil)
	for _, v := range created.Variants {
		if v.InventoryQuantity != v.AvailableQuantity || v.InventoryQuantity != specs[v.Position].stock {
			t.Errorf("new %s: on hand %d available %d, want both %d", v.Title, v.InventoryQuantity, v.AvailableQuantity, specs[v.Position].stock)
		}
	}
	checkRead("anonymous read", "", srv.varMustProduct(t, "", pid), nil)
	checkRead("staff read", staff, srv.varMustProduct(t, staff, pid), nil)

	// Anonymous callers cannot read a variant's ledger.
	r := srv.do(t, "", `query($id: ID!) { variant(id: $id) { sku inventoryTransactions(first: 5) { totalCount } } }`,
		map[string]any{"id": created.Variants[0].ID})
	if !slices.Contains(r.codes(), "FORBIDDEN") && !slices.Contains(r.codes(), "UNAUTHENTICATED") {
		t.Errorf("anonymous variant.inventoryTransactions: errors %+v, want FORBIDDEN", r.Errors)
	}

	// Archive Red / S: the cheapest and the first variant.
	redS := created.variant(t, "Red / S")
	var arch struct {
		ProductVariantArchive struct {
			Variant *struct {
				ID       string
				IsActive bool
			}
			UserErrors []userError
		}
	}
	srv.gql(t, staff, `mutation($id: ID!) { productVariantArchive(id: $id) { variant { id isActive } userErrors { field message code } } }`,
		map[string]any{"id": redS.ID}, &arch)
	if a := arch.ProductVariantArchive; a.Variant == nil || a.Variant.IsActive || len(a.UserErrors) > 0 {
		t.Fatalf("productVariantArchive Red / S: %+v", a)
	}
	archived := map[string]bool{"Red / S": true}
	anon := srv.varMustProduct(t, "", pid)
	checkRead("anonymous read after archiving Red / S", "", anon, archived)
	staffView := srv.varMustProduct(t, staff, pid)
	checkRead("staff read after archiving Red / S", staff, staffView, archived)
	if anon.Price.Amount != "18.00" || anon.SKU != base+"-RED-M" || anon.InventoryQuantity != 65 {
		t.Errorf("after archiving Red / S: price %s sku %s on hand %d; want 18.00, %s-RED-M, 65", anon.Price.Amount, anon.SKU, anon.InventoryQuantity, base)
	}

	// variantBySelectedOptions: each active variant, as both callers; null
	// for the archived one, a value that is no option's, and a partial set.
	lookup := func(token string, sel []map[string]any) *struct{ ID string } {
		t.Helper()
		var out struct {
			Product *struct{ VariantBySelectedOptions *struct{ ID string } }
		}
		srv.gql(t, token, `query($id: ID!, $sel: [SelectedOptionInput!]!) { product(id: $id) { variantBySelectedOptions(selectedOptions: $sel) { id } } }`,
			map[string]any{"id": pid, "sel": sel}, &out)
		if out.Product == nil {
			t.Fatalf("product %s not found", pid)
		}
		return out.Product.VariantBySelectedOptions
	}
	for _, token := range []string{"", staff} {
		for _, v := range staffView.Variants {
			if len(v.SelectedOptions) != 2 {
				continue // reported by checkRead
			}
			got := lookup(token, varSel("Color", v.SelectedOptions[0].Value, "Size", v.SelectedOptions[1].Value))
			switch {
			case v.IsActive && (got == nil || got.ID != v.ID):
				t.Errorf("variantBySelectedOptions %s (staff %v): %+v, want %s", v.Title, token != "", got, v.ID)
			case !v.IsActive && got != nil:
				t.Errorf("variantBySelectedOptions of the archived %s (staff %v): %s, want null", v.Title, token != "", got.ID)
			}
		}
		// The same values in the other order find the same variant.
		blueL := staffView.variant(t, "Blue / L")
		if got := lookup(token, varSel("Size", "L", "Color", "Blue")); got == nil || got.ID != blueL.ID {
			t.Errorf("variantBySelectedOptions Size=L,Color=Blue: %+v, want %s", got, blueL.ID)
		}
		for _, sel := range [][]map[string]any{varSel("Color", "Green", "Size", "S"), varSel("Color", "Red")} {
			if got := lookup(token, sel); got != nil {
				t.Errorf("variantBySelectedOptions %v: %s, want null", sel, got.ID)
			}
		}
	}

	// variant(id:), variant(sku:), product(sku:) and search by a variant's sku.
	blueL := staffView.variant(t, "Blue / L")
	if v := srv.varVariantBy(t, "", "id", blueL.ID); v == nil || v.SKU != blueL.SKU || v.Title != "Blue / L" || v.CostPrice != nil {
		t.Errorf("variant(id:) as anonymous: %+v, want %s without costPrice", v, blueL.SKU)
	}
	if v := srv.varVariantBy(t, "", "sku", blueL.SKU); v == nil || v.ID != blueL.ID {
		t.Errorf("variant(sku: %s): %+v, want %s", blueL.SKU, v, blueL.ID)
	}
	if v := srv.varVariantBy(t, staff, "sku", blueL.SKU); v == nil || varMoney(v.CostPrice) != "8.00" {
		t.Errorf("variant(sku:) as staff: %+v, want costPrice 8.00", v)
	}
	var node struct {
		Node *struct{ ID, SKU, Title string }
	}
	srv.gql(t, "", `query($id: ID!) { node(id: $id) { id ... on ProductVariant { sku title } } }`, map[string]any{"id": blueL.ID}, &node)
	if node.Node == nil || node.Node.ID != blueL.ID || node.Node.SKU != blueL.SKU || node.Node.Title != "Blue / L" {
		t.Errorf("node(id:) of a variant: %+v, want %s", node.Node, blueL.SKU)
	}
	var bySKU struct{ Product *struct{ ID string } }
	srv.gql(t, "", `query($s: String!) { product(sku: $s) { id } }`, map[string]any{"s": blueL.SKU}, &bySKU)
	if bySKU.Product == nil || bySKU.Product.ID != pid {
		t.Errorf("product(sku: %s): %+v, want %s", blueL.SKU, bySKU.Product, pid)
	}
	var search struct {
		Products struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	srv.gql(t, "", `query($s: String!) { products(first: 10, filter: {search: $s}) { edges { node { id } } } }`,
		map[string]any{"s": blueL.SKU}, &search)
	if !slices.ContainsFunc(search.Products.Edges, func(e struct{ Node struct{ ID string } }) bool { return e.Node.ID == pid }) {
		t.Errorf("search for the variant sku %s: %+v, want the product %s", blueL.SKU, search.Products.Edges, pid)
	}

	// A cart: Red / M by id, Blue / L by sku, then Red / M again by sku adds
	// to its line.
	redM := staffView.variant(t, "Red / M")
	cart, errs := srv.varCartCall(t, varCartCreate, map[string]any{"l": []any{
		map[string]any{"variantId": redM.ID, "quantity": 2},
		map[string]any{"sku": blueL.SKU, "quantity": 1},
	}})
	if cart == nil || len(errs) > 0 {
		t.Fatalf("cartCreate with two variants: %+v", errs)
	}
	cart, errs = srv.varCartCall(t, varCartLinesAdd, map[string]any{"c": cart.ID, "l": []any{map[string]any{"sku": redM.SKU, "quantity": 1}}})
	if cart == nil || len(errs) > 0 {
		t.Fatalf("cartLinesAdd Red / M again: %+v", errs)
	}
	if l := cart.line(redM.ID); len(cart.Lines) != 2 || l == nil || l.Quantity != 3 || l.UnitPrice.Amount != "20.00" ||
		l.Variant.Title != "Red / M" || l.Product.ID != pid {
		t.Errorf("cart lines %+v: want Red / M × 3 at 20.00 on one line", cart.Lines)
	}
	if l := cart.line(blueL.ID); l == nil || l.Quantity != 1 || l.UnitPrice.Amount != "24.00" || l.Variant.SKU != blueL.SKU {
		t.Errorf("cart lines %+v: want Blue / L × 1 at 24.00", cart.Lines)
	}

	// productId of a product with several variants names no variant.
	_, errs = srv.varCartCall(t, varCartLinesAdd, map[string]any{"c": cart.ID, "l": []any{
		map[string]any{"variantId": redM.ID, "quantity": 1},
		map[string]any{"productId": pid, "quantity": 1},
	}})
	varWantErr(t, "cartLinesAdd by productId of a product with variants", errs, "VARIANT_REQUIRED", false, "lines", "1", "productId")
	var cartNow struct{ Cart *varCart }
	srv.gql(t, "", `query($id: ID!) { cart(id: $id) { `+varCartFields+` } }`, map[string]any{"id": cart.ID}, &cartNow)
	if c := cartNow.Cart; c == nil || len(c.Lines) != 2 || c.line(redM.ID) == nil || c.line(redM.ID).Quantity != 3 {
		t.Errorf("a refused cartLinesAdd changed the cart: %+v", cartNow.Cart)
	}
	co := srv.varCheckout(t, map[string]any{"lines": []any{
		map[string]any{"variantId": redM.ID, "quantity": 1},
		map[string]any{"productId": pid, "quantity": 1},
	}})
	if co.Order != nil {
		t.Errorf("checkout with a productId line of a product with variants placed %s", co.Order.OrderNumber)
	}
	varWantErr(t, "checkout by productId of a product with variants", co.UserErrors, "VARIANT_REQUIRED", false, "input", "lines", "1", "productId")

	// Check out the cart: both variants reserved, the others untouched.
	email := buyerEmail()
	co = srv.varCheckout(t, map[string]any{"cartId": cart.ID, "email": email})
	if co.Order == nil || len(co.UserErrors) > 0 {
		t.Fatalf("checkout of the cart: %+v", co.UserErrors)
	}
	order := *co.Order
	_, _, _, wantTotal := expectedTotals([2]int64{2000, 3}, [2]int64{2400, 1})
	if got := cents(t, order.Total.Amount); got != wantTotal {
		t.Errorf("order total %s, want %s", order.Total.Amount, centsString(wantTotal))
	}
	opening := map[string]int{}
	for _, v := range staffView.Variants {
		opening[v.ID] = v.InventoryQuantity
	}
	bought := map[string]int{redM.ID: 3, blueL.ID: 1}
	checkStock := func(step string, paid bool) {
		t.Helper()
		p := srv.varMustProduct(t, staff, pid)
		sumOn, sumAvail := 0, 0
		for _, v := range p.Variants {
			wantOn, wantAvail := opening[v.ID], opening[v.ID]-bought[v.ID]
			if paid {
				wantOn = wantAvail
			}
			if v.InventoryQuantity != wantOn || v.AvailableQuantity != wantAvail {
				t.Errorf("%s: %s on hand %d available %d, want %d and %d", step, v.Title, v.InventoryQuantity, v.AvailableQuantity, wantOn, wantAvail)
			}
			rows := srv.varLedger(t, staff, v.ID)
			varCheckLedger(t, step+": "+v.Title, rows, v)
			want := []string(nil)
			switch {
			case bought[v.ID] > 0 && paid:
				n := bought[v.ID]
				want = []string{fmt.Sprintf("RELEASE:%d", n), fmt.Sprintf("RESERVATION:%d", -n), fmt.Sprintf("SALE:%d", -n)}
			case bought[v.ID] > 0:
				want = []string{fmt.Sprintf("RESERVATION:%d", -bought[v.ID])}
			}
			if got := varRowsOf(rows, order.ID); !slices.Equal(got, want) {
				t.Errorf("%s: ledger rows of %s for the order: %v, want %v", step, v.Title, got, want)
			}
			if bought[v.ID] == 0 && (len(rows) != 1 || rows[0].Type != "RESTOCK" || rows[0].QuantityChange != opening[v.ID]) {
				t.Errorf("%s: the untouched %s has ledger %+v, want only its opening RESTOCK of %d", step, v.Title, rows, opening[v.ID])
			}
			if v.IsActive {
				sumOn += v.InventoryQuantity
				sumAvail += v.AvailableQuantity
			}
		}
		if p.InventoryQuantity != sumOn || p.AvailableQuantity != sumAvail {
			t.Errorf("%s: product on hand %d available %d, want the active variants' sums %d and %d", step, p.InventoryQuantity, p.AvailableQuantity, sumOn, sumAvail)
		}
	}
	checkStock("after checkout", false)

	fulPay(t, srv, staff, order)
	checkStock("after payment", true)

	// Order lines snapshot the variant; a later price change does not move them.
	var upd struct {
		ProductVariantUpdate struct {
			Variant    *struct{ Price gqlMoney }
			UserErrors []userError
		}
	}
	srv.gql(t, staff, `mutation($id: ID!, $in: ProductVariantUpdateInput!) { productVariantUpdate(id: $id, input: $in) {
		variant { price { amount currencyCode } } userErrors { field message code } } }`,
		map[string]any{"id": blueL.ID, "in": map[string]any{"price": "30.00"}}, &upd)
	if u := upd.ProductVariantUpdate; u.Variant == nil || u.Variant.Price.Amount != "30.00" || len(u.UserErrors) > 0 {
		t.Errorf("productVariantUpdate price: %+v", u)
	}
	lines := srv.varOrderLines(t, staff, order.OrderNumber)
	if len(lines) != 2 {
		t.Fatalf("order lines %+v, want two", lines)
	}
	for _, l := range lines {
		var want varVariant
		var qty int
		var price string
		switch {
		case l.Variant != nil && l.Variant.ID == redM.ID:
			want, qty, price = redM, 3, "20.00"
		case l.Variant != nil && l.Variant.ID == blueL.ID:
			want, qty, price = blueL, 1, "24.00"
		default:
			t.Errorf("order line %+v names neither Red / M nor Blue / L", l)
			continue
		}
		if l.ID == "" || l.SKU != want.SKU || l.Quantity != qty || l.UnitPrice.Amount != price || l.VariantTitle != want.Title ||
			varSelString(l.SelectedOptions) != varSelString(want.SelectedOptions) {
			t.Errorf("order line %+v, want sku %s × %d at %s titled %q with %s", l, want.SKU, qty, price, want.Title, varSelString(want.SelectedOptions))
		}
	}
	if p := srv.varMustProduct(t, "", pid); p.PriceRange.MaxVariantPrice.Amount != "30.00" {
		t.Errorf("priceRange after Blue / L went to 30.00: %+v", p.PriceRange)
	}

	// A cancelled order gives its variant's units back, ledgered on it.
	blueS := staffView.variant(t, "Blue / S")
	co = srv.varCheckout(t, map[string]any{"lines": []any{map[string]any{"sku": blueS.SKU, "quantity": 2}}})
	if co.Order == nil || len(co.UserErrors) > 0 {
		t.Fatalf("checkout of Blue / S: %+v", co.UserErrors)
	}
	if v := srv.varVariantBy(t, staff, "id", blueS.ID); v == nil || v.AvailableQuantity != blueS.AvailableQuantity-2 {
		t.Errorf("Blue / S after a checkout of 2: %+v, want available %d", v, blueS.AvailableQuantity-2)
	}
	var cancel struct {
		OrderCancel struct {
			Order      *struct{ Status string }
			UserErrors []userError
		}
	}
	srv.gql(t, staff, `mutation($id: ID!) { orderCancel(id: $id, reason: "variant test") { order { status } userErrors { field message code } } }`,
		map[string]any{"id": co.Order.ID}, &cancel)
	if c := cancel.OrderCancel; c.Order == nil || c.Order.Status != "CANCELLED" || len(c.UserErrors) > 0 {
		t.Fatalf("orderCancel: %+v", c)
	}
	v := srv.varVariantBy(t, staff, "id", blueS.ID)
	if v == nil || v.AvailableQuantity != blueS.AvailableQuantity || v.InventoryQuantity != blueS.InventoryQuantity {
		t.Fatalf("Blue / S after the cancel: %+v, want it back at %d/%d", v, blueS.AvailableQuantity, blueS.InventoryQuantity)
	}
	rows := srv.varLedger(t, staff, blueS.ID)
	varCheckLedger(t, "Blue / S after a cancel", rows, *v)
	if got, want := varRowsOf(rows, co.Order.ID), []string{"RELEASE:2", "RESERVATION:-2"}; !slices.Equal(got, want) {
		t.Errorf("ledger rows of the cancelled order on Blue / S: %v, want %v", got, want)
	}

	// Moving a variant to position 0 renumbers the others and makes it
	// the one the v1 fields read; an explicit null clears compareAtPrice.
	var moved struct {
		ProductVariantUpdate struct {
			Variant *struct {
				Position       int
				CompareAtPrice *gqlMoney
			}
			UserErrors []userError
		}
	}
	const updateVariant = `mutation($id: ID!, $in: ProductVariantUpdateInput!) { productVariantUpdate(id: $id, input: $in) {
		variant { position compareAtPrice { amount currencyCode } } userErrors { field message code } } }`
	srv.gql(t, staff, updateVariant, map[string]any{"id": blueL.ID, "in": map[string]any{"position": 0, "compareAtPrice": "35.00"}}, &moved)
	if m := moved.ProductVariantUpdate; m.Variant == nil || m.Variant.Position != 0 || varMoney(m.Variant.CompareAtPrice) != "35.00" || len(m.UserErrors) > 0 {
		t.Errorf("productVariantUpdate position 0, compareAtPrice 35.00: %+v", m)
	}
	p := srv.varMustProduct(t, staff, pid)
	var titles []string
	for i, v := range p.Variants {
		titles = append(titles, v.Title)
		if v.Position != i {
			t.Errorf("after the move %s has position %d, want %d", v.Title, v.Position, i)
		}
	}
	if want := []string{"Blue / L", "Red / S", "Red / M", "Red / L", "Blue / S", "Blue / M"}; !slices.Equal(titles, want) {
		t.Errorf("variants after moving Blue / L to 0: %v, want %v", titles, want)
	}
	if p.SKU != blueL.SKU || varMoney(p.CostPrice) != "8.00" {
		t.Errorf("after the move Product.sku %s costPrice %s, want the first active variant's %s and 8.00", p.SKU, varMoney(p.CostPrice), blueL.SKU)
	}
	srv.gql(t, staff, updateVariant, map[string]any{"id": blueL.ID, "in": map[string]any{"compareAtPrice": nil}}, &moved)
	if m := moved.ProductVariantUpdate; m.Variant == nil || m.Variant.CompareAtPrice != nil || m.Variant.Position != 0 || len(m.UserErrors) > 0 {
		t.Errorf("productVariantUpdate compareAtPrice null: %+v, want it cleared", m)
	}
}

// TestVariantsFlashSale: 200 buyers of one unit of a variant with 50 in
// stock and 100 buyers of its sibling with 30, all at once: exactly 50 and
// 30 orders, the rest INSUFFICIENT_STOCK, no stock ever negative, and each
// variant's ledger consistent with its stock (some orders paid, so that it
// holds sales as well as reservations).
func TestVariantsFlashSale(t *testing.T) {
	deps := startDeps(t, true)
	srv := startServer(t, "variants-flash", deps.env(t, nil))
	staff := srv.staffLogin(t)
	base := "VFL-" + strings.ToUpper(randHex(4))
	p := srv.varMustCreate(t, staff, map[string]any{
		"name":    "Flash variant " + base,
		"options": []any{varOpt("Edition", "A", "B")},
		"variants": []any{
			varVariantIn(base+"-A", "9.00", 50, varSel("Edition", "A")),
			varVariantIn(base+"-B", "11.00", 30, varSel("Edition", "B")),
		},
	})
	a, b := p.variant(t, "A"), p.variant(t, "B")
	stock := map[string]int{a.ID: 50, b.ID: 30}

	// Buyers: 200 of A and 100 of B, interleaved, worked by 32 goroutines.
	var jobs []string
	for i := range 300 {
		if i%3 == 2 {
			jobs = append(jobs, b.ID)
		} else {
			jobs = append(jobs, a.ID)
		}
	}
	queue := make(chan int, len(jobs))
	for i := range jobs {
		queue <- i
	}
	close(queue)

	// Watch the available stock of both variants while the sale runs.
	stop := make(chan struct{})
	var watchMu sync.Mutex
	minSeen := map[string]int{a.ID: 50, b.ID: 30}
	var watcher sync.WaitGroup
	watcher.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond): // pacing only: leave the CPU to the buyers
			}
			r := srv.do(t, "", `query($id: ID!) { product(id: $id) { variants { id availableQuantity } } }`, map[string]any{"id": p.ID})
			var out struct {
				Product *struct {
					Variants []struct {
						ID                string
						AvailableQuantity int
					}
				}
			}
			if len(r.Errors) > 0 || json.Unmarshal(r.Data, &out) != nil || out.Product == nil {
				t.Errorf("watching the stock: errors %+v, data %s", r.Errors, r.Data)
				return
			}
			watchMu.Lock()
			for _, v := range out.Product.Variants {
				minSeen[v.ID] = min(minSeen[v.ID], v.AvailableQuantity)
			}
			watchMu.Unlock()
		}
	})

	var mu sync.Mutex
	placed := map[string][]e2eOrder{}
	refused := map[string]int{}
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range queue {
				vid := jobs[i]
				r := srv.do(t, "", checkoutMutation, map[string]any{"input": map[string]any{
					"lines": []any{map[string]any{"variantId": vid, "quantity": 1}}, "email": fmt.Sprintf("flash-%d-%s@example.com", i, randHex(3)),
					"shippingAddress": shippingAddress(), "idempotencyKey": "e2e-vflash-" + randHex(8),
				}})
				var out struct{ Checkout checkoutResult }
				if len(r.Errors) > 0 || json.Unmarshal(r.Data, &out) != nil {
					t.Errorf("buyer %d: errors %+v, data %s", i, r.Errors, r.Data)
					continue
				}
				c := out.Checkout
				mu.Lock()
				switch {
				case c.Order != nil && len(c.UserErrors) == 0:
					placed[vid] = append(placed[vid], *c.Order)
				case c.Order == nil && len(c.UserErrors) == 1 && c.UserErrors[0].Code == "INSUFFICIENT_STOCK" &&
					slices.Equal(c.UserErrors[0].Field, []string{"input", "lines", "0", "quantity"}):
					refused[vid]++
				default:
					t.Errorf("buyer %d: order %v, userErrors %+v; want an order or one INSUFFICIENT_STOCK at input.lines.0.quantity", i, c.Order != nil, c.UserErrors)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	watcher.Wait()

	for _, v := range []varVariant{a, b} {
		want := stock[v.ID]
		buyers := 200
		if v.ID == b.ID {
			buyers = 100
		}
		if len(placed[v.ID]) != want || refused[v.ID] != buyers-want {
			t.Errorf("variant %s: %d orders and %d INSUFFICIENT_STOCK, want %d and %d", v.Title, len(placed[v.ID]), refused[v.ID], want, buyers-want)
		}
		if m := minSeen[v.ID]; m < 0 {
			t.Errorf("variant %s: availableQuantity was seen at %d", v.Title, m)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Pay 10 orders of A and 5 of B through the webhook.
	paid := map[string]int{a.ID: 10, b.ID: 5}
	for vid, n := range paid {
		for _, o := range placed[vid][:n] {
			fulPay(t, srv, staff, o)
		}
	}

	after := srv.varMustProduct(t, staff, p.ID)
	for _, v := range after.Variants {
		wantOn := stock[v.ID] - paid[v.ID]
		if v.AvailableQuantity != 0 || v.InventoryQuantity != wantOn {
			t.Errorf("variant %s after the sale: available %d on hand %d, want 0 and %d", v.Title, v.AvailableQuantity, v.InventoryQuantity, wantOn)
		}
		rows := srv.varLedger(t, staff, v.ID)
		varCheckLedger(t, "variant "+v.Title, rows, v)
		reservedBy := map[string]int{}
		count := map[string]int{}
		for _, r := range rows {
			count[r.Type]++
			if r.Type == "RESERVATION" && r.ReferenceID != nil {
				reservedBy[*r.ReferenceID] += r.QuantityChange
			}
		}
		if count["RESTOCK"] != 1 || count["RESERVATION"] != stock[v.ID] || count["SALE"] != paid[v.ID] || count["RELEASE"] != paid[v.ID] {
			t.Errorf("variant %s ledger rows by type %v, want 1 RESTOCK, %d RESERVATION, %d SALE and RELEASE", v.Title, count, stock[v.ID], paid[v.ID])
		}
		for _, o := range placed[v.ID] {
			if reservedBy[o.ID] != -1 {
				t.Errorf("variant %s: order %s reserved %d in the ledger, want -1", v.Title, o.OrderNumber, reservedBy[o.ID])
			}
		}
	}
	if after.AvailableQuantity != 0 || after.InventoryQuantity != 80-15 {
		t.Errorf("product after the sale: available %d on hand %d, want 0 and 65", after.AvailableQuantity, after.InventoryQuantity)
	}

	// Both sold-out variants (threshold 0) are low on stock, for staff only.
	r := srv.do(t, "", `{ lowStockVariants(first: 5) { totalCount } }`, nil)
	if c := r.codes(); !slices.Contains(c, "UNAUTHENTICATED") && !slices.Contains(c, "FORBIDDEN") {
		t.Errorf("anonymous lowStockVariants: errors %+v, want UNAUTHENTICATED", r.Errors)
	}
	low := map[string]int{}
	var after2 any
	for page := 0; page < 50 && len(low) < 2; page++ {
		var out struct {
			LowStockVariants struct {
				PageInfo struct {
					HasNextPage bool
					EndCursor   *string
				}
				Edges []struct{ Node varVariant }
			}
		}
		srv.gql(t, staff, `query($after: String) { lowStockVariants(first: 100, after: $after) {
			pageInfo { hasNextPage endCursor } edges { node { `+varVariantFields+` } } } }`, map[string]any{"after": after2}, &out)
		for _, e := range out.LowStockVariants.Edges {
			if e.Node.AvailableQuantity > e.Node.LowStockThreshold || !e.Node.IsActive {
				t.Errorf("lowStockVariants lists %s (available %d, threshold %d, active %v)", e.Node.SKU, e.Node.AvailableQuantity, e.Node.LowStockThreshold, e.Node.IsActive)
			}
			if e.Node.ID == a.ID || e.Node.ID == b.ID {
				low[e.Node.ID] = e.Node.AvailableQuantity
			}
		}
		if !out.LowStockVariants.PageInfo.HasNextPage || out.LowStockVariants.PageInfo.EndCursor == nil {
			break
		}
		after2 = *out.LowStockVariants.PageInfo.EndCursor
	}
	if len(low) != 2 || low[a.ID] != 0 || low[b.ID] != 0 {
		t.Errorf("lowStockVariants holds %v of the sold-out variants %s and %s, want both at 0", low, a.ID, b.ID)
	}

	// Second wave: 20 more of each, and 60 buyers of one A and one B in
	// one order, half naming A first and half B first: orders that lock
	// the two variants in opposite line orders never deadlock, and
	// exactly 20 orders get both.
	for _, v := range []varVariant{a, b} {
		var adj struct {
			InventoryAdjust struct{ UserErrors []userError }
		}
		srv.gql(t, staff, `mutation($id: ID!) { inventoryAdjust(input: {variantId: $id, quantityChange: 20, type: RESTOCK}) {
			userErrors { field message code } } }`, map[string]any{"id": v.ID}, &adj)
		if len(adj.InventoryAdjust.UserErrors) > 0 {
			t.Fatalf("restock %s: %+v", v.Title, adj.InventoryAdjust.UserErrors)
		}
	}
	const pairs = 60
	pairQueue := make(chan int, pairs)
	for i := range pairs {
		pairQueue <- i
	}
	close(pairQueue)
	var pairPlaced, pairRefused int
	for range 32 {
		wg.Go(func() {
			for i := range pairQueue {
				lines := []any{map[string]any{"variantId": a.ID, "quantity": 1}, map[string]any{"variantId": b.ID, "quantity": 1}}
				if i%2 == 1 {
					slices.Reverse(lines)
				}
				r := srv.do(t, "", checkoutMutation, map[string]any{"input": map[string]any{
					"lines": lines, "email": fmt.Sprintf("pair-%d-%s@example.com", i, randHex(3)),
					"shippingAddress": shippingAddress(), "idempotencyKey": "e2e-vpair-" + randHex(8),
				}})
				var out struct{ Checkout checkoutResult }
				if len(r.Errors) > 0 || json.Unmarshal(r.Data, &out) != nil {
					t.Errorf("pair buyer %d: errors %+v, data %s", i, r.Errors, r.Data)
					continue
				}
				c := out.Checkout
				short := len(c.UserErrors) > 0
				for _, e := range c.UserErrors {
					short = short && e.Code == "INSUFFICIENT_STOCK" && len(e.Field) == 4 && e.Field[3] == "quantity"
				}
				mu.Lock()
				switch {
				case c.Order != nil && len(c.UserErrors) == 0:
					pairPlaced++
				case c.Order == nil && short:
					pairRefused++
				default:
					t.Errorf("pair buyer %d: order %v, userErrors %+v; want an order or INSUFFICIENT_STOCK", i, c.Order != nil, c.UserErrors)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if pairPlaced != 20 || pairRefused != pairs-20 {
		t.Errorf("orders of A and B together: %d placed, %d INSUFFICIENT_STOCK; want 20 and %d", pairPlaced, pairRefused, pairs-20)
	}
	final := srv.varMustProduct(t, staff, p.ID)
	for _, v := range final.Variants {
		wantOn := stock[v.ID] - paid[v.ID] + 20
		if v.AvailableQuantity != 0 || v.InventoryQuantity != wantOn {
			t.Errorf("variant %s after the second wave: available %d on hand %d, want 0 and %d", v.Title, v.AvailableQuantity, v.InventoryQuantity, wantOn)
		}
		varCheckLedger(t, "variant "+v.Title+" after the second wave", srv.varLedger(t, staff, v.ID), v)
	}
}

// TestVariantsBadInput: each refused input is a userError at its field and
// writes nothing.
func TestVariantsBadInput(t *testing.T) {
	deps := startDeps(t, false)
	srv := startServer(t, "variants-bad", deps.env(t, nil))
	staff := srv.staffLogin(t)

	// An existing product with variants, whose skus later inputs reuse.
	base := "VBI-" + strings.ToUpper(randHex(4))
	existing := srv.varMustCreate(t, staff, map[string]any{
		"name":    "Bad input base " + base,
		"options": []any{varOpt("Color", "Red", "Blue"), varOpt("Size", "S", "M")},
		"variants": []any{
			varVariantIn(base+"-RS", "10.00", 5, varSel("Color", "Red", "Size", "S")),
			varVariantIn(base+"-RM", "11.00", 6, varSel("Color", "Red", "Size", "M")),
			varVariantIn(base+"-BS", "12.00", 7, varSel("Color", "Blue", "Size", "S")),
		},
	})

	values := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("V%03d", i)
		}
		return out
	}
	// valid is a well-formed input with two options and two variants;
	// each case breaks one thing.
	valid := func(tag string) map[string]any {
		return map[string]any{
			"name": "Bad input " + tag, "handle": "bad-input-" + strings.ToLower(tag),
			"options": []any{varOpt("Color", "Red", "Blue"), varOpt("Size", "S")},
			"variants": []any{
				varVariantIn(tag+"-1", "10.00", 1, varSel("Color", "Red", "Size", "S")),
				varVariantIn(tag+"-2", "10.00", 1, varSel("Color", "Blue", "Size", "S")),
			},
		}
	}
	type check struct {
		code   string
		prefix bool
		path   []string
	}
	cases := []struct {
		name   string
		change func(in map[string]any, tag string)
		want   []check
	}{
		{"four options", func(in map[string]any, tag string) {
			in["options"] = []any{varOpt("Color", "Red", "Blue"), varOpt("Size", "S"), varOpt("Fit", "Slim"), varOpt("Cut", "Crew")}
			in["variants"] = []any{varVariantIn(tag+"-1", "10.00", 1, varSel("Color", "Red", "Size", "S", "Fit", "Slim", "Cut", "Crew"))}
		}, []check{{"", true, []string{"input", "options"}}}},
		{"an option with 101 values", func(in map[string]any, tag string) {
			in["options"] = []any{varOpt("Color", "Red", "Blue"), varOpt("Size", values(101)...)}
			in["variants"] = []any{varVariantIn(tag+"-1", "10.00", 1, varSel("Color", "Red", "Size", "V000"))}
		}, []check{{"", true, []string{"input", "options", "1", "values"}}}},
		{"an option without values", func(in map[string]any, tag string) {
			in["options"] = []any{varOpt("Color", "Red", "Blue"), varOpt("Size")}
		}, []check{{"", true, []string{"input", "options", "1", "values"}}}},
		{"option names equal but for case", func(in map[string]any, tag string) {
			in["options"] = []any{varOpt("Color", "Red", "Blue"), varOpt("color", "S")}
			in["variants"] = []any{varVariantIn(tag+"-1", "10.00", 1, varSel("Color", "Red", "color", "S"))}
		}, []check{{"", true, []string{"input", "options", "1"}}}},
		{"values equal but for case", func(in map[string]any, tag string) {
			in["options"] = []any{varOpt("Color", "Red", "Blue", "red"), varOpt("Size", "S")}
		}, []check{{"", true, []string{"input", "options", "0", "values"}}}},
		{"a value that is not the option's", func(in map[string]any, tag string) {
			in["variants"].([]any)[1].(map[string]any)["selectedOptions"] = varSel("Color", "Green", "Size", "S")
		}, []check{{"", true, []string{"input", "variants", "1", "selectedOptions"}}}},
		{"a missing option", func(in map[string]any, tag string) {
			in["variants"].([]any)[1].(map[string]any)["selectedOptions"] = varSel("Color", "Blue")
		}, []check{{"", true, []string{"input", "variants", "1", "selectedOptions"}}}},
		{"an option the product does not have", func(in map[string]any, tag string) {
			in["variants"].([]any)[1].(map[string]any)["selectedOptions"] = varSel("Color", "Blue", "Size", "S", "Fit", "Slim")
		}, []check{{"", true, []string{"input", "variants", "1", "selectedOptions"}}}},
		{"one option given twice", func(in map[string]any, tag string) {
			in["variants"].([]any)[1].(map[string]any)["selectedOptions"] = varSel("Color", "Blue", "Color", "Red")
		}, []check{{"", true, []string{"input", "variants", "1", "selectedOptions"}}}},
		{"a combination twice", func(in map[string]any, tag string) {
			vs := in["variants"].([]any)
			in["variants"] = append(vs, varVariantIn(tag+"-3", "10.00", 1, varSel("Size", "S", "Color", "Red")))
		}, []check{{"VARIANT_EXISTS", true, []string{"input", "variants", "2"}}}},
		{"a sku twice in the input", func(in map[string]any, tag string) {
			vs := in["variants"].([]any)
			vs[1].(map[string]any)["sku"] = vs[0].(map[string]any)["sku"]
		}, []check{{"TAKEN", false, []string{"input", "variants", "1", "sku"}}}},
		{"another product's variant sku", func(in map[string]any, tag string) {
			in["variants"].([]any)[1].(map[string]any)["sku"] = base + "-RM"
		}, []check{{"TAKEN", false, []string{"input", "variants", "1", "sku"}}}},
		{"product-level sku, price and stock beside options", func(in map[string]any, tag string) {
			in["sku"], in["price"], in["inventoryQuantity"] = tag+"-P", "10.00", 5
		}, []check{{"", false, []string{"input", "sku"}}, {"", false, []string{"input", "price"}}, {"", false, []string{"input", "inventoryQuantity"}}}},
		{"options without variants", func(in map[string]any, tag string) {
			delete(in, "variants")
		}, []check{{"", true, []string{"input", "variants"}}}},
		{"no options and no sku", func(in map[string]any, tag string) {
			delete(in, "options")
			delete(in, "variants")
			in["price"] = "10.00"
		}, []check{{"", false, []string{"input", "sku"}}}},
		{"no options and no price", func(in map[string]any, tag string) {
			delete(in, "options")
			delete(in, "variants")
			in["sku"] = tag + "-P"
		}, []check{{"", false, []string{"input", "price"}}}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tag := fmt.Sprintf("%s-%d", base, i)
			in := valid(tag)
			tc.change(in, tag)
			p, errs := srv.varCreate(t, staff, in)
			if p != nil {
				t.Errorf("productCreate accepted it: product %s", p.ID)
			}
			for _, w := range tc.want {
				varWantErr(t, tc.name, errs, w.code, w.prefix, w.path...)
			}
			var byHandle struct{ Product *struct{ ID string } }
			srv.varLookup(t, staff, `query($h: String!) { product(handle: $h) { id } }`, map[string]any{"h": in["handle"]}, &byHandle)
			if byHandle.Product != nil {
				t.Errorf("a refused productCreate wrote product %s", byHandle.Product.ID)
			}
			vs, _ := in["variants"].([]any)
			for _, v := range vs {
				if sku := v.(map[string]any)["sku"].(string); strings.HasPrefix(sku, tag) {
					if got := srv.varVariantBy(t, staff, "sku", sku); got != nil {
						t.Errorf("a refused productCreate wrote variant %s", sku)
					}
				}
			}
		})
	}
	if got := srv.varVariantBy(t, staff, "sku", base+"-RM"); got == nil || got.Product.ID != existing.ID {
		t.Errorf("the sku %s-RM moved: %+v", base, got)
	}

	// productVariantsCreate: a combination that exists refuses the whole
	// list; a value the option lacks too, until productOptionValuesAdd.
	variantsCreate := func(vs ...any) (*varProduct, []userError) {
		t.Helper()
		var out struct {
			ProductVariantsCreate struct {
				Product    *varProduct
				UserErrors []userError
			}
		}
		srv.gql(t, staff, `mutation($id: ID!, $v: [ProductVariantInput!]!) { productVariantsCreate(productId: $id, variants: $v) {
			product { `+varProductFields+` } userErrors { field message code } } }`, map[string]any{"id": existing.ID, "v": vs}, &out)
		return out.ProductVariantsCreate.Product, out.ProductVariantsCreate.UserErrors
	}
	unchanged := func(step string, titles ...string) {
		t.Helper()
		p := srv.varMustProduct(t, staff, existing.ID)
		if !slices.Equal(p.titles(), titles) {
			t.Errorf("%s: variants %v, want %v", step, p.titles(), titles)
		}
	}
	_, errs := variantsCreate(
		varVariantIn(base+"-BM", "13.00", 1, varSel("Color", "Blue", "Size", "M")),
		varVariantIn(base+"-RS2", "13.00", 1, varSel("Color", "Red", "Size", "S")),
	)
	varWantErr(t, "productVariantsCreate of an existing combination", errs, "VARIANT_EXISTS", true, "variants", "1")
	unchanged("after a refused productVariantsCreate", "Red / S", "Red / M", "Blue / S")
	if v := srv.varVariantBy(t, staff, "sku", base+"-BM"); v != nil {
		t.Errorf("a refused productVariantsCreate wrote its valid variant %s", v.SKU)
	}
	_, errs = variantsCreate(varVariantIn(base+"-GS", "13.00", 1, varSel("Color", "Green", "Size", "S")))
	varWantErr(t, "productVariantsCreate with a value the option lacks", errs, "", true, "variants", "0", "selectedOptions")
	unchanged("after a variant with an unknown value", "Red / S", "Red / M", "Blue / S")
	var add struct {
		ProductOptionValuesAdd struct {
			Product    *struct{ Options []varOption }
			UserErrors []userError
		}
	}
	srv.gql(t, staff, `mutation($id: ID!) { productOptionValuesAdd(productId: $id, optionName: "Color", values: ["Green"]) {
		product { options { id name position values } } userErrors { field message code } } }`, map[string]any{"id": existing.ID}, &add)
	if a := add.ProductOptionValuesAdd; a.Product == nil || len(a.UserErrors) > 0 || len(a.Product.Options) != 2 ||
		!slices.Equal(a.Product.Options[0].Values, []string{"Red", "Blue", "Green"}) {
		t.Fatalf("productOptionValuesAdd Color Green: %+v", a)
	}
	unchanged("after productOptionValuesAdd", "Red / S", "Red / M", "Blue / S")
	if p, errs := variantsCreate(varVariantIn(base+"-GS", "13.00", 1, varSel("Color", "Green", "Size", "S"))); p == nil || len(errs) > 0 {
		t.Fatalf("productVariantsCreate Green / S after adding Green: %+v", errs)
	}
	unchanged("after Green / S", "Red / S", "Red / M", "Blue / S", "Green / S")

	// productUpdate of a variant field and inventoryAdjust by productId
	// need a variant; nothing else in the input is applied.
	var pu struct {
		ProductUpdate struct {
			Product    *struct{ ID string }
			UserErrors []userError
		}
	}
	srv.gql(t, staff, `mutation($id: ID!) { productUpdate(id: $id, input: {name: "Renamed", price: "9.99"}) {
		product { id } userErrors { field message code } } }`, map[string]any{"id": existing.ID}, &pu)
	varWantErr(t, "productUpdate price of a product with variants", pu.ProductUpdate.UserErrors, "VARIANT_REQUIRED", false, "input", "price")
	after := srv.varMustProduct(t, staff, existing.ID)
	if after.Name == "Renamed" || after.variant(t, "Red / S").Price.Amount != "10.00" || after.Price.Amount != "10.00" {
		t.Errorf("a refused productUpdate wrote: name %q, prices %+v", after.Name, after.Variants)
	}
	var adj struct {
		InventoryAdjust struct {
			Transaction *struct {
				QuantityChange int
				Variant        struct{ ID string }
			}
			UserErrors []userError
		}
	}
	srv.gql(t, staff, `mutation($id: ID!) { inventoryAdjust(input: {productId: $id, quantityChange: 5, type: RESTOCK}) {
		transaction { quantityChange variant { id } } userErrors { field message code } } }`, map[string]any{"id": existing.ID}, &adj)
	varWantErr(t, "inventoryAdjust by productId of a product with variants", adj.InventoryAdjust.UserErrors, "VARIANT_REQUIRED", false, "input", "productId")
	if adj.InventoryAdjust.Transaction != nil {
		t.Errorf("a refused inventoryAdjust returned a transaction")
	}
	if now := srv.varMustProduct(t, staff, existing.ID); now.InventoryQuantity != after.InventoryQuantity {
		t.Errorf("a refused inventoryAdjust moved the stock from %d to %d", after.InventoryQuantity, now.InventoryQuantity)
	}
	redS := after.variant(t, "Red / S")
	srv.gql(t, staff, `mutation($id: ID!) { inventoryAdjust(input: {variantId: $id, quantityChange: 5, type: RESTOCK}) {
		transaction { quantityChange variant { id } } userErrors { field message code } } }`, map[string]any{"id": redS.ID}, &adj)
	if a := adj.InventoryAdjust; len(a.UserErrors) > 0 || a.Transaction == nil || a.Transaction.Variant.ID != redS.ID || a.Transaction.QuantityChange != 5 {
		t.Errorf("inventoryAdjust by variantId: %+v", a)
	}
	if v := srv.varVariantBy(t, staff, "id", redS.ID); v == nil || v.InventoryQuantity != redS.InventoryQuantity+5 {
		t.Errorf("inventoryAdjust by variantId: variant %+v, want on hand %d", v, redS.InventoryQuantity+5)
	}

	// The last active variant cannot be archived.
	two := srv.varMustCreate(t, staff, map[string]any{
		"name":    "Two variants " + base,
		"options": []any{varOpt("Size", "S", "M")},
		"variants": []any{
			varVariantIn(base+"-TS", "5.00", 1, varSel("Size", "S")),
			varVariantIn(base+"-TM", "5.00", 1, varSel("Size", "M")),
		},
	})
	archive := func(id string) []userError {
		t.Helper()
		var out struct {
			ProductVariantArchive struct{ UserErrors []userError }
		}
		srv.gql(t, staff, `mutation($id: ID!) { productVariantArchive(id: $id) { userErrors { field message code } } }`, map[string]any{"id": id}, &out)
		return out.ProductVariantArchive.UserErrors
	}
	if errs := archive(two.variant(t, "S").ID); len(errs) > 0 {
		t.Fatalf("archive S of two: %+v", errs)
	}
	varWantErr(t, "archiving the last active variant", archive(two.variant(t, "M").ID), "LAST_VARIANT", false, "id")
	if v := srv.varVariantBy(t, staff, "id", two.variant(t, "M").ID); v == nil || !v.IsActive {
		t.Errorf("the last variant after a refused archive: %+v, want active", v)
	}

	// Unknown and malformed ids are NOT_FOUND; an archived variant cannot
	// be put in a cart.
	for _, id := range []string{randomUUID(), "not-a-uuid"} {
		r := srv.do(t, "", `query($id: ID!) { variant(id: $id) { id } }`, map[string]any{"id": id})
		if d := string(r.Data); !strings.Contains(d, `"variant":null`) || !slices.Contains(r.codes(), "NOT_FOUND") {
			t.Errorf("variant(id: %q): data %s errors %+v, want null with NOT_FOUND", id, d, r.Errors)
		}
		varWantErr(t, "productVariantArchive of "+id, archive(id), "NOT_FOUND", false, "id")
		_, errs := srv.varCartCall(t, varCartCreate, map[string]any{"l": []any{map[string]any{"variantId": id, "quantity": 1}}})
		varWantErr(t, "cartCreate with variantId "+id, errs, "NOT_FOUND", false, "lines", "0", "variantId")
	}
	_, errs = srv.varCartCall(t, varCartCreate, map[string]any{"l": []any{map[string]any{"variantId": two.variant(t, "S").ID, "quantity": 1}}})
	varWantErr(t, "cartCreate with an archived variant", errs, "", false, "lines", "0", "variantId")

	// Variant and option writes are for staff: an anonymous caller and a
	// customer change nothing.
	cust, _ := accRegisterCustomer(t, srv, buyerEmail(), "variant-test-pw-8271", "Vera")
	redM := after.variant(t, "Red / M")
	writes := []struct {
		name, query string
		vars        map[string]any
	}{
		{"productVariantsCreate", `mutation($id: ID!, $v: [ProductVariantInput!]!) { productVariantsCreate(productId: $id, variants: $v) { userErrors { code } } }`,
			map[string]any{"id": existing.ID, "v": []any{varVariantIn(base+"-BM", "1.00", 1, varSel("Color", "Blue", "Size", "M"))}}},
		{"productVariantUpdate", `mutation($id: ID!) { productVariantUpdate(id: $id, input: {price: "0.01"}) { userErrors { code } } }`,
			map[string]any{"id": redM.ID}},
		{"productVariantArchive", `mutation($id: ID!) { productVariantArchive(id: $id) { userErrors { code } } }`,
			map[string]any{"id": redM.ID}},
		{"productOptionValuesAdd", `mutation($id: ID!) { productOptionValuesAdd(productId: $id, optionName: "Size", values: ["XL"]) { userErrors { code } } }`,
			map[string]any{"id": existing.ID}},
	}
	for _, token := range []string{"", cust} {
		for _, w := range writes {
			r := srv.do(t, token, w.query, w.vars)
			if c := r.codes(); !slices.Contains(c, "UNAUTHENTICATED") && !slices.Contains(c, "FORBIDDEN") {
				t.Errorf("%s by a non-staff caller (token set: %v): data %s errors %+v, want UNAUTHENTICATED or FORBIDDEN", w.name, token != "", r.Data, r.Errors)
			}
		}
	}
	final := srv.varMustProduct(t, staff, existing.ID)
	if got := final.variant(t, "Red / M"); got.Price.Amount != "11.00" || !got.IsActive || len(final.Variants) != 4 ||
		!slices.Equal(final.Options[1].Values, []string{"S", "M"}) {
		t.Errorf("after refused non-staff writes: Red / M %+v, %d variants, Size values %v; want 11.00 active, 4, [S M]",
			got, len(final.Variants), final.Options[1].Values)
	}
}

// TestVariantsV1Compat: a product created the v1 way has one default
// variant that the v1 fields, productUpdate, inventoryAdjust and cart lines
// by productId act on.
func TestVariantsV1Compat(t *testing.T) {
	deps := startDeps(t, true)
	srv := startServer(t, "variants-v1", deps.env(t, nil))
	staff := srv.staffLogin(t)
	sku := "V1C-" + strings.ToUpper(randHex(4))
	p := srv.varMustCreate(t, staff, map[string]any{
		"sku": sku, "name": "Plain " + sku, "price": "12.00", "costPrice": "4.00", "inventoryQuantity": 9, "lowStockThreshold": 1,
	})
	if !p.HasOnlyDefaultVariant || len(p.Options) != 0 || len(p.Variants) != 1 {
		t.Fatalf("v1 product: hasOnlyDefaultVariant %v, options %+v, variants %+v; want true, none, one", p.HasOnlyDefaultVariant, p.Options, p.Variants)
	}
	d := p.Variants[0]
	if d.Title != "Default" || len(d.SelectedOptions) != 0 || d.SKU != sku || d.Price.Amount != "12.00" || varMoney(d.CostPrice) != "4.00" ||
		d.InventoryQuantity != 9 || d.AvailableQuantity != 9 || d.Position != 0 || !d.IsActive || d.LowStockThreshold != 1 {
		t.Errorf("default variant %+v, want Default, no options, %s at 12.00 (cost 4.00), 9 in stock, threshold 1", d, sku)
	}
	if p.SKU != sku || p.Price.Amount != "12.00" || p.InventoryQuantity != 9 || p.AvailableQuantity != 9 ||
		p.PriceRange.MinVariantPrice.Amount != "12.00" || p.PriceRange.MaxVariantPrice.Amount != "12.00" {
		t.Errorf("v1 product fields %+v", p)
	}
	if v := srv.varVariantBy(t, "", "sku", sku); v == nil || v.ID != d.ID {
		t.Errorf("variant(sku: %s): %+v, want the default variant", sku, v)
	}

	// productUpdate's variant fields act on the default variant.
	var pu struct {
		ProductUpdate struct {
			Product    *varProduct
			UserErrors []userError
		}
	}
	srv.gql(t, staff, `mutation($id: ID!) { productUpdate(id: $id, input: {price: "12.34", costPrice: "4.50", lowStockThreshold: 2}) {
		product { `+varProductFields+` } userErrors { field message code } } }`, map[string]any{"id": p.ID}, &pu)
	if u := pu.ProductUpdate; u.Product == nil || len(u.UserErrors) > 0 {
		t.Fatalf("productUpdate of a v1 product: %+v", u.UserErrors)
	}
	if v := srv.varVariantBy(t, staff, "id", d.ID); v == nil || v.Price.Amount != "12.34" || varMoney(v.CostPrice) != "4.50" || v.LowStockThreshold != 2 {
		t.Errorf("default variant after productUpdate: %+v, want 12.34, cost 4.50, threshold 2", v)
	}
	if got := srv.varMustProduct(t, "", p.ID); got.Price.Amount != "12.34" {
		t.Errorf("product price after productUpdate: %s, want 12.34", got.Price.Amount)
	}

	// inventoryAdjust by productId.
	var adj struct {
		InventoryAdjust struct {
			Product     *struct{ InventoryQuantity, AvailableQuantity int }
			Transaction *struct {
				Type           string
				QuantityChange int
				SKU            string
				Variant        struct{ ID string }
			}
			UserErrors []userError
		}
	}
	srv.gql(t, staff, `mutation($id: ID!) { inventoryAdjust(input: {productId: $id, quantityChange: 5, type: RESTOCK}) {
		product { inventoryQuantity availableQuantity } transaction { type quantityChange sku variant { id } } userErrors { field message code } } }`,
		map[string]any{"id": p.ID}, &adj)
	if a := adj.InventoryAdjust; len(a.UserErrors) > 0 || a.Product == nil || a.Product.InventoryQuantity != 14 || a.Product.AvailableQuantity != 14 ||
		a.Transaction == nil || a.Transaction.Variant.ID != d.ID || a.Transaction.SKU != sku || a.Transaction.QuantityChange != 5 {
		t.Errorf("inventoryAdjust by productId: %+v", a)
	}

	// A new sku on the variant is the product's.
	newSKU := sku + "-NEW"
	var vu struct {
		ProductVariantUpdate struct{ UserErrors []userError }
	}
	srv.gql(t, staff, `mutation($id: ID!, $s: String!) { productVariantUpdate(id: $id, input: {sku: $s}) { userErrors { field message code } } }`,
		map[string]any{"id": d.ID, "s": newSKU}, &vu)
	if len(vu.ProductVariantUpdate.UserErrors) > 0 {
		t.Fatalf("productVariantUpdate sku: %+v", vu.ProductVariantUpdate.UserErrors)
	}
	var bySKU struct{ Product *struct{ ID, SKU string } }
	srv.gql(t, "", `query($s: String!) { product(sku: $s) { id sku } }`, map[string]any{"s": newSKU}, &bySKU)
	if bySKU.Product == nil || bySKU.Product.ID != p.ID || bySKU.Product.SKU != newSKU {
		t.Errorf("product(sku: %s): %+v, want %s with that sku", newSKU, bySKU.Product, p.ID)
	}

	// The only variant cannot be archived.
	var arch struct {
		ProductVariantArchive struct{ UserErrors []userError }
	}
	srv.gql(t, staff, `mutation($id: ID!) { productVariantArchive(id: $id) { userErrors { field message code } } }`, map[string]any{"id": d.ID}, &arch)
	varWantErr(t, "archiving a default variant", arch.ProductVariantArchive.UserErrors, "LAST_VARIANT", false, "id")

	// A cart by productId: the default variant, one line for two adds.
	cart, errs := srv.varCartCall(t, varCartCreate, map[string]any{"l": []any{map[string]any{"productId": p.ID, "quantity": 2}}})
	if cart == nil || len(errs) > 0 {
		t.Fatalf("cartCreate by productId: %+v", errs)
	}
	cart, errs = srv.varCartCall(t, varCartLinesAdd, map[string]any{"c": cart.ID, "l": []any{map[string]any{"productId": p.ID, "quantity": 1}}})
	if cart == nil || len(errs) > 0 || len(cart.Lines) != 1 || cart.Lines[0].Quantity != 3 || cart.Lines[0].Variant.ID != d.ID ||
		cart.Lines[0].Variant.Title != "Default" || cart.Lines[0].UnitPrice.Amount != "12.34" {
		t.Fatalf("cart by productId: %+v %+v; want one line of 3 of the default variant at 12.34", cart, errs)
	}
	co := srv.varCheckout(t, map[string]any{"cartId": cart.ID})
	if co.Order == nil || len(co.UserErrors) > 0 {
		t.Fatalf("checkout: %+v", co.UserErrors)
	}
	fulPay(t, srv, staff, *co.Order)
	lines := srv.varOrderLines(t, staff, co.Order.OrderNumber)
	if len(lines) != 1 || lines[0].Variant == nil || lines[0].Variant.ID != d.ID || lines[0].VariantTitle != "Default" ||
		len(lines[0].SelectedOptions) != 0 || lines[0].SKU != newSKU || lines[0].Quantity != 3 {
		t.Errorf("order lines %+v, want 3 of the Default variant %s without options", lines, newSKU)
	}
	v := srv.varVariantBy(t, staff, "id", d.ID)
	if v == nil || v.InventoryQuantity != 11 || v.AvailableQuantity != 11 {
		t.Fatalf("default variant after the paid order: %+v, want 11 on hand and available", v)
	}
	rows := srv.varLedger(t, staff, d.ID)
	varCheckLedger(t, "default variant", rows, *v)
	if got, want := varRowsOf(rows, co.Order.ID), []string{"RELEASE:3", "RESERVATION:-3", "SALE:-3"}; !slices.Equal(got, want) {
		t.Errorf("ledger rows of the order: %v, want %v", got, want)
	}
	// The v1 reading of the product's own ledger still sums to its stock.
	st := srv.product(t, staff, p.ID)
	if st.AvailableQuantity != 11 || st.InventoryQuantity != 11 {
		t.Errorf("v1 product stock: available %d, on hand %d; want 11, 11", st.AvailableQuantity, st.InventoryQuantity)
	}
	checkLedger(t, st)

	// productId also names a product whose other variants are archived.
	two := srv.varMustCreate(t, staff, map[string]any{
		"name":    "One active of two " + sku,
		"options": []any{varOpt("Size", "S", "M")},
		"variants": []any{
			varVariantIn(sku+"-S", "7.00", 4, varSel("Size", "S")),
			varVariantIn(sku+"-M", "8.00", 4, varSel("Size", "M")),
		},
	})
	srv.gql(t, staff, `mutation($id: ID!) { productVariantArchive(id: $id) { userErrors { field message code } } }`,
		map[string]any{"id": two.variant(t, "S").ID}, &arch)
	if len(arch.ProductVariantArchive.UserErrors) > 0 {
		t.Fatalf("archive S: %+v", arch.ProductVariantArchive.UserErrors)
	}
	cart, errs = srv.varCartCall(t, varCartCreate, map[string]any{"l": []any{map[string]any{"productId": two.ID, "quantity": 1}}})
	if cart == nil || len(errs) > 0 || len(cart.Lines) != 1 || cart.Lines[0].Variant.ID != two.variant(t, "M").ID {
		t.Errorf("cartCreate by productId of a product with one active variant: %+v %+v, want a line of M", cart, errs)
	}
}
