package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"commerce/internal/platform/dbtest"
	"commerce/internal/platform/stripetest"
	"commerce/internal/platform/testtool"
)

// shipTaxLine is a TaxLine as the API returns it.
type shipTaxLine struct {
	Name   string
	Rate   string
	Amount gqlMoney
}

// shipCart is the part of a Cart the shipping tests read.
type shipCart struct {
	ID             string
	ShippingQuotes []struct {
		Method struct{ ID, Name string }
		Price  gqlMoney
	}
	ShippingMethod *struct{ ID string }
	ShippingCost   gqlMoney
	Tax            gqlMoney
	Total          gqlMoney
	TaxLines       []shipTaxLine
	TaxIsEstimate  bool
}

const shipCartFields = `id shippingQuotes { method { id name } price { amount currencyCode } } shippingMethod { id }
	shippingCost { amount currencyCode } tax { amount currencyCode } total { amount currencyCode }
	taxLines { name rate amount { amount currencyCode } } taxIsEstimate`

type shipCartPayload struct {
	Cart       *shipCart
	UserErrors []userError
}

func usAddress(region string) map[string]any {
	return map[string]any{"firstName": "Grace", "lastName": "Hopper", "line1": "1 Navy Way", "city": "Arlington",
		"region": region, "postalCode": "22201", "countryCode": "US"}
}

// TestE2EShippingByDestination: with zones and rates configured, a cart
// gets quotes for a US address, picks express, checks out and pays by a
// signed webhook; the order's shipping, tax lines and total match the quote
// and the paid amount, and a later rate change leaves the order as it was.
// An unserved country is SHIPPING_UNAVAILABLE and two methods with none
// chosen SHIPPING_METHOD_REQUIRED, both without an order; bad settings are
// userErrors at their fields that write nothing.
func TestE2EShippingByDestination(t *testing.T) {
	deps := startDeps(t, true)
	// A database of its own: the zones configured here would make the
	// other tests' checkouts to their addresses SHIPPING_UNAVAILABLE.
	srv := startServer(t, "shipping", deps.env(t, map[string]string{"DATABASE_URL": dbtest.FreshURL(t)}))
	staff := srv.staffLogin(t)
	p := srv.createProduct(t, staff, "40.00", 20)

	// Bad settings first: each a userError at its field, nothing written.
	var bad struct {
		Zone struct {
			Zone       *struct{ ID string }
			UserErrors []userError
		} `json:"z"`
		Rate struct {
			TaxRate    *struct{ ID string }
			UserErrors []userError
		} `json:"r"`
	}
	srv.gql(t, staff, `mutation { z: shippingZoneCreate(input: {name: "Bad", countries: ["US", "XX"]}) { zone { id } userErrors { field code } }
		r: taxRateCreate(input: {name: "Bad", countryCode: "US", rate: "1.5"}) { taxRate { id } userErrors { field code } } }`, nil, &bad)
	if bad.Zone.Zone != nil || !hasErrorAt(bad.Zone.UserErrors, "input", "countries", "1") {
		t.Errorf("zone with XX: %+v, want a userError at input.countries.1", bad.Zone)
	}
	if bad.Rate.TaxRate != nil || !hasErrorAt(bad.Rate.UserErrors, "input", "rate") {
		t.Errorf("rate 1.5: %+v, want a userError at input.rate", bad.Rate)
	}
	var listed struct {
		ShippingZones []struct{ ID string }
		TaxRates      []struct{ ID string }
	}
	srv.gql(t, staff, `{ shippingZones { id } taxRates { id } }`, nil, &listed)
	if len(listed.ShippingZones) != 0 || len(listed.TaxRates) != 0 {
		t.Fatalf("bad settings wrote %d zones and %d rates, want none", len(listed.ShippingZones), len(listed.TaxRates))
	}

	// Configure: a US zone with two methods, a state rate and a country rate.
	var zone struct {
		ShippingZoneCreate struct {
			Zone       *struct{ ID string }
			UserErrors []userError
		}
	}
	srv.gql(t, staff, `mutation { shippingZoneCreate(input: {name: "Domestic", countries: ["us"]}) { zone { id } userErrors { field code } } }`, nil, &zone)
	if zone.ShippingZoneCreate.Zone == nil {
		t.Fatalf("shippingZoneCreate: %+v", zone.ShippingZoneCreate.UserErrors)
	}
	zoneID := zone.ShippingZoneCreate.Zone.ID
	method := func(input string) string {
		t.Helper()
		var out struct {
			ShippingMethodCreate struct {
				Method     *struct{ ID string }
				UserErrors []userError
			}
		}
		srv.gql(t, staff, `mutation($z: ID!) { shippingMethodCreate(zoneId: $z, input: `+input+`) { method { id } userErrors { field code message } } }`,
			map[string]any{"z": zoneID}, &out)
		if out.ShippingMethodCreate.Method == nil {
			t.Fatalf("shippingMethodCreate %s: %+v", input, out.ShippingMethodCreate.UserErrors)
		}
		return out.ShippingMethodCreate.Method.ID
	}
	var gap struct {
		ShippingMethodCreate struct {
			Method     *struct{ ID string }
			UserErrors []userError
		}
	}
	srv.gql(t, staff, `mutation($z: ID!) { shippingMethodCreate(zoneId: $z, input: {name: "Gappy", condition: WEIGHT,
		rates: [{min: "0", max: "1000", price: "5.00"}, {min: "2000", price: "9.00"}]}) { method { id } userErrors { field code } } }`,
		map[string]any{"z": zoneID}, &gap)
	if gap.ShippingMethodCreate.Method != nil || !hasErrorAt(gap.ShippingMethodCreate.UserErrors, "input", "rates", "1", "min") {
		t.Errorf("gapped bands: %+v, want a userError at input.rates.1.min", gap.ShippingMethodCreate)
	}
	standard := method(`{name: "Standard", condition: NONE, rates: [{min: "0", price: "5.00"}], minDeliveryDays: 3, maxDeliveryDays: 5}`)
	express := method(`{name: "Express", carrier: "UPS", condition: NONE, rates: [{min: "0", price: "15.00"}], maxDeliveryDays: 1}`)
	for _, in := range []string{
		`{name: "CA sales tax", countryCode: "US", region: "CA", rate: "0.0725"}`,
		`{name: "US federal", countryCode: "US", rate: "0.01", appliesToShipping: true}`,
	} {
		var out struct {
			TaxRateCreate struct {
				TaxRate    *struct{ ID string }
				UserErrors []userError
			}
		}
		srv.gql(t, staff, `mutation { taxRateCreate(input: `+in+`) { taxRate { id } userErrors { field code } } }`, nil, &out)
		if out.TaxRateCreate.TaxRate == nil {
			t.Fatalf("taxRateCreate %s: %+v", in, out.TaxRateCreate.UserErrors)
		}
	}

	// A cart: quotes for a US address, cheapest first; express chosen.
	newCart := func() string {
		t.Helper()
		var out struct{ CartCreate shipCartPayload }
		srv.gql(t, "", `mutation($l: [CartLineInput!]!) { cartCreate(lines: $l) { cart { `+shipCartFields+` } userErrors { field code } } }`,
			map[string]any{"l": []any{map[string]any{"productId": p.ID, "quantity": 2}}}, &out)
		if out.CartCreate.Cart == nil {
			t.Fatalf("cartCreate: %+v", out.CartCreate.UserErrors)
		}
		if !out.CartCreate.Cart.TaxIsEstimate {
			t.Errorf("a cart without an address: taxIsEstimate false, want true")
		}
		return out.CartCreate.Cart.ID
	}
	setAddress := func(cartID string, addr map[string]any) shipCartPayload {
		t.Helper()
		var out struct{ CartShippingAddressUpdate shipCartPayload }
		srv.gql(t, "", `mutation($c: ID!, $a: AddressInput!) { cartShippingAddressUpdate(cartId: $c, address: $a) {
			cart { `+shipCartFields+` } userErrors { field code } } }`, map[string]any{"c": cartID, "a": addr}, &out)
		return out.CartShippingAddressUpdate
	}
	cartID := newCart()
	withAddr := setAddress(cartID, usAddress("ca"))
	if withAddr.Cart == nil {
		t.Fatalf("cartShippingAddressUpdate: %+v", withAddr.UserErrors)
	}
	q := withAddr.Cart.ShippingQuotes
	if len(q) != 2 || q[0].Method.ID != standard || q[1].Method.ID != express || q[1].Price.Amount != "15.00" {
		t.Fatalf("quotes %+v, want Standard 5.00 then Express 15.00", q)
	}
	var chosen struct{ CartShippingMethodSet shipCartPayload }
	srv.gql(t, "", `mutation($c: ID!, $m: ID!) { cartShippingMethodSet(cartId: $c, shippingMethodId: $m) {
		cart { `+shipCartFields+` } userErrors { field code } } }`, map[string]any{"c": cartID, "m": express}, &chosen)
	c := chosen.CartShippingMethodSet.Cart
	if c == nil || c.ShippingMethod == nil || c.ShippingMethod.ID != express || c.TaxIsEstimate {
		t.Fatalf("cartShippingMethodSet: %+v %+v", c, chosen.CartShippingMethodSet.UserErrors)
	}
	// 80.00: US 1 % = 0.80 + 0.15 on shipping; CA 7.25 % = 5.80; shipping
	// 15.00. The country's line comes before the region's.
	wantLines := []shipTaxLine{{"US federal", "0.01", gqlMoney{"0.95", "USD"}}, {"CA sales tax", "0.0725", gqlMoney{"5.80", "USD"}}}
	if c.ShippingCost.Amount != "15.00" || c.Tax.Amount != "6.75" || c.Total.Amount != "101.75" || !slices.Equal(c.TaxLines, wantLines) {
		t.Fatalf("cart priced shipping %s, tax %s %+v, total %s; want 15.00, 6.75 %+v, 101.75",
			c.ShippingCost.Amount, c.Tax.Amount, c.TaxLines, c.Total.Amount, wantLines)
	}

	// Checkout and pay: the order matches the quote to the cent.
	checkoutQuery := `mutation($input: CheckoutInput!) { checkout(input: $input) {
		order { id orderNumber total { amount currencyCode } shippingCost { amount currencyCode } tax { amount currencyCode } shippingMethodName
			taxLines { name rate amount { amount currencyCode } } } userErrors { field code } } }`
	type shipOrder struct {
		ID, OrderNumber    string
		Total              gqlMoney
		ShippingCost       gqlMoney
		Tax                gqlMoney
		ShippingMethodName *string
		TaxLines           []shipTaxLine
	}
	var co struct {
		Checkout struct {
			Order      *shipOrder
			UserErrors []userError
		}
	}
	srv.gql(t, "", checkoutQuery, map[string]any{"input": map[string]any{"cartId": cartID, "email": buyerEmail(),
		"shippingAddress": usAddress("CA"), "idempotencyKey": "e2e-ship-" + randHex(8)}}, &co)
	o := co.Checkout.Order
	if o == nil {
		t.Fatalf("checkout: %+v", co.Checkout.UserErrors)
	}
	if o.Total != c.Total || o.ShippingCost != c.ShippingCost || o.Tax != c.Tax || !slices.Equal(o.TaxLines, wantLines) ||
		o.ShippingMethodName == nil || *o.ShippingMethodName != "Express" {
		t.Fatalf("order %+v does not match the cart's quote %+v", o, c)
	}
	staffView := srv.order(t, staff, o.OrderNumber)
	if staffView.StripePaymentIntentID == nil {
		t.Fatalf("no payment intent; events %v", staffView.eventTypes())
	}
	obj := stripetest.PaymentIntentObject(*staffView.StripePaymentIntentID, o.ID, o.OrderNumber, cents(t, c.Total.Amount), "usd")
	if code := srv.sendEvent(t, "payment_intent.succeeded", obj); code != http.StatusOK {
		t.Fatalf("webhook: %d, want 200", code)
	}
	srv.waitOrder(t, staff, o.OrderNumber, 10*time.Second, "PAID for the quoted amount", func(o e2eOrder) bool {
		return o.PaymentStatus == "PAID" && o.eventCount("PAYMENT_MISMATCH") == 0
	})

	// A rate change after checkout leaves the order as it was.
	srv.gql(t, staff, `mutation { taxRateCreate(input: {name: "CA extra", countryCode: "US", region: "CA", taxClass: "luxury", rate: "0.5"}) { taxRate { id } } }`, nil, nil)
	var rates struct{ TaxRates []struct{ ID, Name string } }
	srv.gql(t, staff, `{ taxRates { id name } }`, nil, &rates)
	for _, r := range rates.TaxRates {
		if r.Name == "CA sales tax" {
			srv.gql(t, staff, `mutation($id: ID!) { taxRateUpdate(id: $id, input: {name: "CA sales tax", countryCode: "US", region: "CA", rate: "0.09"}) { taxRate { id } } }`,
				map[string]any{"id": r.ID}, nil)
		}
	}
	var again struct {
		Order *struct {
			Tax      gqlMoney
			Total    gqlMoney
			TaxLines []shipTaxLine
		}
	}
	srv.gql(t, staff, `query($n: String!) { order(orderNumber: $n) { tax { amount currencyCode } total { amount currencyCode }
		taxLines { name rate amount { amount currencyCode } } } }`, map[string]any{"n": o.OrderNumber}, &again)
	if again.Order == nil || again.Order.Tax != o.Tax || again.Order.Total != o.Total || !slices.Equal(again.Order.TaxLines, wantLines) {
		t.Errorf("after a rate change the order reads %+v, want it unchanged (%s, %+v)", again.Order, o.Tax.Amount, wantLines)
	}

	// Two methods and none chosen: SHIPPING_METHOD_REQUIRED, no order.
	cart2 := newCart()
	setAddress(cart2, usAddress("NY"))
	co.Checkout.Order = nil
	srv.gql(t, "", checkoutQuery, map[string]any{"input": map[string]any{"cartId": cart2, "email": buyerEmail(),
		"shippingAddress": usAddress("NY"), "idempotencyKey": "e2e-ship-" + randHex(8)}}, &co)
	if co.Checkout.Order != nil || !hasCodeAt(co.Checkout.UserErrors, "SHIPPING_METHOD_REQUIRED", "input", "shippingMethodId") {
		t.Errorf("two methods, none chosen: order %v, userErrors %+v; want SHIPPING_METHOD_REQUIRED", co.Checkout.Order, co.Checkout.UserErrors)
	}

	// An unserved country: SHIPPING_UNAVAILABLE, no order.
	srv.gql(t, "", checkoutQuery, map[string]any{"input": map[string]any{"cartId": cart2, "email": buyerEmail(),
		"shippingAddress": shippingAddress(), "shippingMethodId": standard, "idempotencyKey": "e2e-ship-" + randHex(8)}}, &co)
	if co.Checkout.Order != nil || !hasCodeAt(co.Checkout.UserErrors, "SHIPPING_UNAVAILABLE", "input", "shippingAddress", "countryCode") {
		t.Errorf("unserved country: order %v, userErrors %+v; want SHIPPING_UNAVAILABLE", co.Checkout.Order, co.Checkout.UserErrors)
	}
	if st := srv.product(t, staff, p.ID); st.AvailableQuantity != 18 {
		t.Errorf("available %d after the refused checkouts, want 18 (only the paid order's 2 taken)", st.AvailableQuantity)
	}
}

func hasErrorAt(errs []userError, path ...string) bool {
	return slices.ContainsFunc(errs, func(e userError) bool { return slices.Equal(e.Field, path) })
}

func hasCodeAt(errs []userError, code string, path ...string) bool {
	return slices.ContainsFunc(errs, func(e userError) bool { return e.Code == code && slices.Equal(e.Field, path) })
}

// TestShopShippingMethodInChromium: with two methods serving the address,
// the storefront's checkout shows them after the first attempt
// (SHIPPING_METHOD_REQUIRED) and places the order with the one picked.
func TestShopShippingMethodInChromium(t *testing.T) {
	browser := chromiumBinary(t)
	deps := startDeps(t, false)
	addr := testtool.FreeAddr(t)
	srv := startServer(t, "shop-shipping", deps.env(t, map[string]string{"HTTP_ADDR": addr, "PUBLIC_BASE_URL": "http://" + addr,
		"DATABASE_URL": dbtest.FreshURL(t)}))
	staff := srv.staffLogin(t)
	kettle := shopProduct(t, srv, staff, "Shipping kettle "+randHex(3), "30.00")
	var zone struct {
		ShippingZoneCreate struct{ Zone struct{ ID string } }
	}
	srv.gql(t, staff, `mutation { shippingZoneCreate(input: {name: "Domestic", countries: ["US"]}) { zone { id } } }`, nil, &zone)
	for _, m := range []string{`{name: "Standard", condition: NONE, rates: [{min: "0", price: "5.00"}]}`,
		`{name: "Express", condition: NONE, rates: [{min: "0", price: "15.00"}], minDeliveryDays: 1, maxDeliveryDays: 2}`} {
		srv.gql(t, staff, `mutation($z: ID!) { shippingMethodCreate(zoneId: $z, input: `+m+`) { method { id } } }`,
			map[string]any{"z": zone.ShippingZoneCreate.Zone.ID}, nil)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	shopStep(t, bctx, "start Chromium", chromedp.Navigate("about:blank"))
	problems := shopConsole(t, bctx)

	shopStep(t, bctx, "open the kettle", chromedp.Navigate(srv.base+"/shop/#/product/"+kettle.Handle))
	shopWait(t, bctx, "the product page", "#product-name")
	shopStep(t, bctx, "add the kettle", chromedp.Click(chromedp.CSS("#add-to-cart")))
	shopWait(t, bctx, "the added notice", "#added")
	shopStep(t, bctx, "open the cart", chromedp.Click(chromedp.CSS("#cart-link")))
	shopWait(t, bctx, "the cart line", "tr[data-line]")
	shopStep(t, bctx, "go to checkout", chromedp.Click(chromedp.CSS("#to-checkout")))
	shopWait(t, bctx, "the checkout form", "#checkout-form")
	for name, value := range map[string]string{
		"email": buyerEmail(), "shippingAddress.firstName": "Grace", "shippingAddress.lastName": "Hopper",
		"shippingAddress.line1": "1 Navy Way", "shippingAddress.city": "Arlington", "shippingAddress.region": "VA",
		"shippingAddress.postalCode": "22201", "shippingAddress.countryCode": "US",
	} {
		shopStep(t, bctx, "fill "+name, chromedp.SendKeys(chromedp.CSS(fmt.Sprintf(`input[name=%q]`, name)), value))
	}
	shopStep(t, bctx, "place the order", chromedp.Click(chromedp.CSS("#place-order")))
	shopWait(t, bctx, "the shipping methods", `#shipping-methods input[name="shippingMethodId"]`)
	if n := shopEval[int](t, bctx, `document.querySelectorAll('#shipping-methods input[name="shippingMethodId"]').length`); n != 2 {
		t.Fatalf("%d shipping methods offered, want 2", n)
	}
	shopScreenshot(t, bctx, "shop-shipping-methods.png")
	shopStep(t, bctx, "pick Express and place the order",
		chromedp.Click(chromedp.CSS(`#shipping-methods label:nth-of-type(2) input`)), chromedp.Click(chromedp.CSS("#place-order")))
	shopWait(t, bctx, "the order page", "#order[data-status]")
	number := strings.TrimPrefix(shopEval[string](t, bctx, `document.querySelector('#order h1').textContent`), "Order ")
	var got struct {
		Order *struct {
			ShippingMethodName *string
			ShippingCost       gqlMoney
			Total              gqlMoney
		}
	}
	srv.gql(t, staff, `query($n: String!) { order(orderNumber: $n) { shippingMethodName shippingCost { amount currencyCode } total { amount currencyCode } } }`,
		map[string]any{"n": number}, &got)
	if got.Order == nil || got.Order.ShippingMethodName == nil || *got.Order.ShippingMethodName != "Express" ||
		got.Order.ShippingCost.Amount != "15.00" || got.Order.Total.Amount != "48.00" {
		t.Errorf("order %s: %+v, want Express at 15.00, total 48.00 (30.00 + 10 %% tax + 15.00)", number, got.Order)
	}
	for _, p := range problems() {
		t.Errorf("browser console: %s", p)
	}
}
