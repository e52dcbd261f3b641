package e2e

// End-to-end tests of promotions and discount codes (issue 15): a welcome
// code through payment, usage limits under a rush of concurrent checkouts,
// the per-customer limit, stacking of an automatic free shipping with a
// code, codes that change between cart and checkout, and bad input.
//
// The package database is shared: every promotion here has a code with a
// random suffix or targets this test's own products, so no other test's
// totals change.

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"commerce/internal/platform/stripetest"
)

type promoView struct {
	ID        string
	Code      *string
	TimesUsed int
	IsActive  bool
}

type promoPayload struct {
	Promotion  *promoView
	UserErrors []userError
}

const promoFields = `promotion { id code timesUsed isActive } userErrors { field message code }`

// promoCreate creates a promotion and returns the payload as it is.
func promoCreate(t *testing.T, s *e2eServer, staff string, input map[string]any) promoPayload {
	t.Helper()
	var out struct{ PromotionCreate promoPayload }
	s.gql(t, staff, `mutation($in: PromotionInput!) { promotionCreate(input: $in) { `+promoFields+` } }`,
		map[string]any{"in": input}, &out)
	return out.PromotionCreate
}

// mustPromo creates a promotion that must be valid.
func mustPromo(t *testing.T, s *e2eServer, staff string, input map[string]any) promoView {
	t.Helper()
	p := promoCreate(t, s, staff, input)
	if p.Promotion == nil || len(p.UserErrors) > 0 {
		t.Fatalf("promotionCreate %v: %+v", input, p.UserErrors)
	}
	return *p.Promotion
}

func promoUpdate(t *testing.T, s *e2eServer, staff, id string, input map[string]any) {
	t.Helper()
	var out struct{ PromotionUpdate promoPayload }
	s.gql(t, staff, `mutation($id: ID!, $in: PromotionInput!) { promotionUpdate(id: $id, input: $in) { `+promoFields+` } }`,
		map[string]any{"id": id, "in": input}, &out)
	if out.PromotionUpdate.Promotion == nil || len(out.PromotionUpdate.UserErrors) > 0 {
		t.Fatalf("promotionUpdate %v: %+v", input, out.PromotionUpdate.UserErrors)
	}
}

func promoArchive(t *testing.T, s *e2eServer, staff, id string) {
	t.Helper()
	var out struct{ PromotionArchive promoPayload }
	s.gql(t, staff, `mutation($id: ID!) { promotionArchive(id: $id) { `+promoFields+` } }`, map[string]any{"id": id}, &out)
	if out.PromotionArchive.Promotion == nil {
		t.Fatalf("promotionArchive: %+v", out.PromotionArchive.UserErrors)
	}
}

func promoTimesUsed(t *testing.T, s *e2eServer, staff, id string) int {
	t.Helper()
	var out struct{ Promotion *promoView }
	s.gql(t, staff, `query($id: ID!) { promotion(id: $id) { id code timesUsed isActive } }`, map[string]any{"id": id}, &out)
	if out.Promotion == nil {
		t.Fatalf("promotion %s not found", id)
	}
	return out.Promotion.TimesUsed
}

// promoCode is a code no earlier run of the tests has used.
func promoCode(prefix string) string { return prefix + "-" + strings.ToUpper(randHex(4)) }

type allocView struct {
	PromotionName string
	Code          *string
	ValueType     string
	Amount        gqlMoney
}

type cartView struct {
	ID                  string
	Subtotal            gqlMoney
	Discount            gqlMoney
	Tax                 gqlMoney
	ShippingCost        gqlMoney
	Total               gqlMoney
	DiscountCodes       []string
	DiscountAllocations []allocView
	Lines               []struct{ Discount gqlMoney }
}

const cartFields = `id subtotal { amount } discount { amount } tax { amount } shippingCost { amount } total { amount }
	discountCodes discountAllocations { promotionName code valueType amount { amount currencyCode } } lines { discount { amount } }`

// promoCart creates a cart with lines (productId → quantity).
func promoCart(t *testing.T, s *e2eServer, lines map[string]int) cartView {
	t.Helper()
	var in []map[string]any
	for id, q := range lines {
		in = append(in, map[string]any{"productId": id, "quantity": q})
	}
	var out struct {
		CartCreate struct {
			Cart       *cartView
			UserErrors []userError
		}
	}
	s.gql(t, "", `mutation($l: [CartLineInput!]) { cartCreate(lines: $l) { cart { `+cartFields+` } userErrors { field message code } } }`,
		map[string]any{"l": in}, &out)
	if out.CartCreate.Cart == nil {
		t.Fatalf("cartCreate: %+v", out.CartCreate.UserErrors)
	}
	return *out.CartCreate.Cart
}

func setCodes(t *testing.T, s *e2eServer, cartID string, codes ...string) (*cartView, []userError) {
	t.Helper()
	var out struct {
		CartDiscountCodesUpdate struct {
			Cart       *cartView
			UserErrors []userError
		}
	}
	s.gql(t, "", `mutation($c: ID!, $codes: [String!]!) { cartDiscountCodesUpdate(cartId: $c, codes: $codes) {
		cart { `+cartFields+` } userErrors { field message code } } }`, map[string]any{"c": cartID, "codes": append([]string{}, codes...)}, &out)
	return out.CartDiscountCodesUpdate.Cart, out.CartDiscountCodesUpdate.UserErrors
}

func readCart(t *testing.T, s *e2eServer, cartID string) cartView {
	t.Helper()
	var out struct{ Cart *cartView }
	s.gql(t, "", `query($id: ID!) { cart(id: $id) { `+cartFields+` } }`, map[string]any{"id": cartID}, &out)
	if out.Cart == nil {
		t.Fatalf("cart %s not found", cartID)
	}
	return *out.Cart
}

type promoOrder struct {
	e2eOrder
	DiscountAllocations []allocView
	Lines               []struct{ Discount gqlMoney }
}

const promoCheckoutMutation = `mutation($input: CheckoutInput!) { checkout(input: $input) {
	order { ` + orderFields + ` discountAllocations { promotionName code valueType amount { amount currencyCode } } lines { discount { amount } } }
	userErrors { field message code } } }`

type promoCheckoutResult struct {
	Order      *promoOrder
	UserErrors []userError
}

// promoCheckout checks out input (email, address and key added) and returns
// the payload as it is.
func promoCheckout(t *testing.T, s *e2eServer, email string, input map[string]any) promoCheckoutResult {
	t.Helper()
	input["email"], input["shippingAddress"], input["idempotencyKey"] = email, shippingAddress(), "e2e-promo-"+randHex(8)
	var out struct{ Checkout promoCheckoutResult }
	r := s.do(t, "", promoCheckoutMutation, map[string]any{"input": input})
	if len(r.Errors) > 0 {
		t.Errorf("checkout: GraphQL errors %+v", r.Errors)
		return promoCheckoutResult{}
	}
	if err := json.Unmarshal(r.Data, &out); err != nil {
		t.Errorf("decode checkout %s: %v", r.Data, err)
	}
	return out.Checkout
}

func errCodes(ues []userError) []string {
	out := make([]string, len(ues))
	for i, u := range ues {
		out[i] = u.Code + " " + strings.Join(u.Field, ".")
	}
	return out
}

// pay sends the signed payment_intent.succeeded of the order for amount
// (in cents) and waits for it to be PAID.
func pay(t *testing.T, s *e2eServer, staff string, o e2eOrder, amount int64) {
	t.Helper()
	view := s.order(t, staff, o.OrderNumber)
	if view.StripePaymentIntentID == nil {
		t.Fatalf("order %s has no payment intent", o.OrderNumber)
	}
	obj := stripetest.PaymentIntentObject(*view.StripePaymentIntentID, o.ID, o.OrderNumber, amount, "usd")
	if code := s.sendEvent(t, "payment_intent.succeeded", obj); code != http.StatusOK {
		t.Fatalf("webhook payment_intent.succeeded: %d", code)
	}
	s.waitOrder(t, staff, o.OrderNumber, 20*time.Second, "PAID", func(o e2eOrder) bool { return o.PaymentStatus == "PAID" })
}

func TestE2EPromotions(t *testing.T) {
	deps := startDeps(t, true)
	srv := startServer(t, "promotions", deps.env(t, nil))
	staff := srv.staffLogin(t)

	t.Run("WELCOME10 through payment, then refused to the same email", func(t *testing.T) {
		p := srv.createProduct(t, staff, "20.00", 50)
		code := promoCode("WELCOME10")
		welcome := mustPromo(t, srv, staff, map[string]any{"name": "Welcome", "code": strings.ToLower(code),
			"valueType": "PERCENTAGE", "value": "10", "minimumSubtotal": "50.00", "perCustomerLimit": 1})
		if welcome.Code == nil || *welcome.Code != code {
			t.Fatalf("stored code %v, want %s (upper-case)", welcome.Code, code)
		}

		cart := promoCart(t, srv, map[string]int{p.ID: 2}) // 40.00, below the minimum
		c, ues := setCodes(t, srv, cart.ID, strings.ToLower(code))
		if c == nil || len(ues) > 0 {
			t.Fatalf("cartDiscountCodesUpdate below the minimum: %+v", ues)
		}
		if !slices.Equal(c.DiscountCodes, []string{code}) || c.Discount.Amount != "0.00" || len(c.DiscountAllocations) != 0 {
			t.Errorf("below the minimum: codes %v, discount %s, allocations %+v; want the code kept, no discount",
				c.DiscountCodes, c.Discount.Amount, c.DiscountAllocations)
		}

		var added struct {
			CartLinesAdd struct{ Cart *cartView }
		}
		srv.gql(t, "", `mutation($c: ID!, $l: [CartLineInput!]!) { cartLinesAdd(cartId: $c, lines: $l) { cart { `+cartFields+` } } }`,
			map[string]any{"c": cart.ID, "l": []any{map[string]any{"productId": p.ID, "quantity": 1}}}, &added)
		c = added.CartLinesAdd.Cart
		// 60.00 − 6.00 = 54.00; tax 5.40; shipping 10.00 → 69.40
		if c == nil || c.Discount.Amount != "6.00" || c.Tax.Amount != "5.40" || c.Total.Amount != "69.40" ||
			len(c.DiscountAllocations) != 1 || c.DiscountAllocations[0].Amount.Amount != "6.00" || c.Lines[0].Discount.Amount != "6.00" {
			t.Fatalf("past the minimum: %+v", c)
		}

		email := buyerEmail()
		res := promoCheckout(t, srv, email, map[string]any{"cartId": cart.ID})
		if res.Order == nil || len(res.UserErrors) > 0 {
			t.Fatalf("checkout: %+v", res.UserErrors)
		}
		o := res.Order
		if o.Discount.Amount != "6.00" || o.Tax.Amount != "5.40" || o.ShippingCost.Amount != "10.00" || o.Total.Amount != c.Total.Amount {
			t.Errorf("order totals: discount %s tax %s shipping %s total %s; the cart showed %s",
				o.Discount.Amount, o.Tax.Amount, o.ShippingCost.Amount, o.Total.Amount, c.Total.Amount)
		}
		if len(o.DiscountAllocations) != 1 || o.DiscountAllocations[0].Code == nil || *o.DiscountAllocations[0].Code != code ||
			o.DiscountAllocations[0].Amount.Amount != "6.00" || len(o.Lines) != 1 || o.Lines[0].Discount.Amount != "6.00" {
			t.Errorf("order allocations %+v, lines %+v", o.DiscountAllocations, o.Lines)
		}
		pay(t, srv, staff, o.e2eOrder, cents(t, o.Total.Amount))
		paid := srv.order(t, staff, o.OrderNumber)
		if paid.eventCount("DISCOUNT_APPLIED") != 1 || paid.eventCount("PAYMENT_MISMATCH") != 0 {
			t.Errorf("events %v: want one DISCOUNT_APPLIED and no mismatch", paid.eventTypes())
		}
		msg := waitForMail(t, deps.mail, email, 20*time.Second, o.OrderNumber, "confirmed")
		if full := deps.mail.Message(t, msg.ID); !strings.Contains(full.Text, "Discount: -6.00 USD") {
			t.Errorf("the confirmation does not show the discount:\n%s", full.Text)
		}
		var node struct{ Node *struct{ ID string } }
		srv.gql(t, staff, `query($id: ID!) { node(id: $id) { ... on Promotion { id } } }`, map[string]any{"id": welcome.ID}, &node)
		if node.Node == nil || node.Node.ID != welcome.ID {
			t.Errorf("node(id) of the promotion: %+v", node.Node)
		}
		if n := promoTimesUsed(t, srv, staff, welcome.ID); n != 1 {
			t.Errorf("timesUsed %d, want 1", n)
		}

		var withEmail struct {
			CartCreate struct{ Cart *cartView }
		}
		srv.gql(t, "", `mutation($l: [CartLineInput!], $e: String) { cartCreate(lines: $l, email: $e) { cart { id } } }`,
			map[string]any{"l": []any{map[string]any{"productId": p.ID, "quantity": 3}}, "e": email}, &withEmail)
		if _, ues := setCodes(t, srv, withEmail.CartCreate.Cart.ID, code); !slices.Equal(errCodes(ues), []string{"DISCOUNT_CUSTOMER_LIMIT_REACHED codes.0"}) {
			t.Errorf("the code on a cart of the same email: %v", errCodes(ues))
		}
		again := promoCheckout(t, srv, email, map[string]any{
			"lines": []any{map[string]any{"productId": p.ID, "quantity": 3}}, "discountCodes": []string{code}})
		if again.Order != nil || !slices.Equal(errCodes(again.UserErrors), []string{"DISCOUNT_CUSTOMER_LIMIT_REACHED input.discountCodes.0"}) {
			t.Errorf("second checkout of the email: order %v, userErrors %v", again.Order != nil, errCodes(again.UserErrors))
		}
	})

	t.Run("one email, 20 concurrent checkouts, a per-customer limit of 1", func(t *testing.T) {
		p := srv.createProduct(t, staff, "10.00", 100)
		code := promoCode("ONCE")
		once := mustPromo(t, srv, staff, map[string]any{"name": "Once", "code": code, "valueType": "FIXED_AMOUNT",
			"value": "1.00", "perCustomerLimit": 1})
		email := buyerEmail()
		const n = 20
		results := make([]promoCheckoutResult, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i] = promoCheckout(t, srv, email, map[string]any{
					"lines": []any{map[string]any{"productId": p.ID, "quantity": 1}}, "discountCodes": []string{code}})
			}()
		}
		close(start)
		wg.Wait()
		orders, refused := 0, 0
		for _, r := range results {
			switch {
			case r.Order != nil:
				orders++
			case slices.Equal(errCodes(r.UserErrors), []string{"DISCOUNT_CUSTOMER_LIMIT_REACHED input.discountCodes.0"}):
				refused++
			default:
				t.Errorf("unexpected result: %v", errCodes(r.UserErrors))
			}
		}
		if orders != 1 || refused != n-1 {
			t.Errorf("%d orders, %d refused; want 1 and %d", orders, refused, n-1)
		}
		if got := srv.product(t, staff, p.ID).AvailableQuantity; got != 99 {
			t.Errorf("available %d, want 99: refused checkouts reserve nothing", got)
		}
		if used := promoTimesUsed(t, srv, staff, once.ID); used != 1 {
			t.Errorf("timesUsed %d, want 1", used)
		}
	})

	t.Run("automatic free shipping and a 20 % code: the larger wins, or both when they combine", func(t *testing.T) {
		p := srv.createProduct(t, staff, "40.00", 50)
		target := map[string]any{"productIds": []string{p.ID}} // no other test's lines
		ship := mustPromo(t, srv, staff, map[string]any{"name": "Free shipping over 75", "valueType": "FREE_SHIPPING",
			"value": "0", "minimumSubtotal": "75.00", "appliesTo": target})
		t.Cleanup(func() { promoArchive(t, srv, staff, ship.ID) })
		code := promoCode("TWENTY")
		twenty := mustPromo(t, srv, staff, map[string]any{"name": "Twenty", "code": code, "valueType": "PERCENTAGE",
			"value": "20", "appliesTo": target})

		cart := promoCart(t, srv, map[string]int{p.ID: 1}) // 40.00: below the free-shipping minimum
		if cart.ShippingCost.Amount != "10.00" || len(cart.DiscountAllocations) != 0 {
			t.Errorf("below 75.00: shipping %s, allocations %+v", cart.ShippingCost.Amount, cart.DiscountAllocations)
		}
		cart = promoCart(t, srv, map[string]int{p.ID: 2}) // 80.00: shipping would be 10.00, 20 % is 16.00
		if cart.ShippingCost.Amount != "0.00" || len(cart.DiscountAllocations) != 1 || cart.DiscountAllocations[0].ValueType != "FREE_SHIPPING" ||
			cart.DiscountAllocations[0].Amount.Amount != "10.00" || cart.Total.Amount != "88.00" {
			t.Errorf("automatic free shipping: %+v", cart)
		}
		c, ues := setCodes(t, srv, cart.ID, code)
		// The code (16.00) beats free shipping (10.00): 80 − 16 + 6.40 tax + 10 shipping
		if c == nil || len(ues) > 0 || len(c.DiscountAllocations) != 1 || c.DiscountAllocations[0].ValueType != "PERCENTAGE" ||
			c.Discount.Amount != "16.00" || c.ShippingCost.Amount != "10.00" || c.Total.Amount != "80.40" {
			t.Errorf("non-combinable: %+v %+v", c, ues)
		}

		combinable := func(in map[string]any) map[string]any { in["combinesWithOtherPromotions"] = true; return in }
		promoUpdate(t, srv, staff, ship.ID, combinable(map[string]any{"name": "Free shipping over 75", "valueType": "FREE_SHIPPING",
			"value": "0", "minimumSubtotal": "75.00", "appliesTo": target}))
		promoUpdate(t, srv, staff, twenty.ID, combinable(map[string]any{"name": "Twenty", "code": code, "valueType": "PERCENTAGE",
			"value": "20", "appliesTo": target}))
		both := readCart(t, srv, cart.ID)
		// 80 − 16 + 6.40 tax, shipping waived
		if len(both.DiscountAllocations) != 2 || both.Discount.Amount != "16.00" || both.ShippingCost.Amount != "0.00" || both.Total.Amount != "70.40" {
			t.Errorf("both combinable: %+v", both)
		}
		res := promoCheckout(t, srv, buyerEmail(), map[string]any{"cartId": cart.ID})
		if res.Order == nil || res.Order.Total.Amount != both.Total.Amount || len(res.Order.DiscountAllocations) != 2 {
			t.Errorf("checkout of the combined cart: %+v %v", res.Order, errCodes(res.UserErrors))
		}
	})

	t.Run("a code archived, expired or deactivated between cart and checkout", func(t *testing.T) {
		p := srv.createProduct(t, staff, "30.00", 50)
		cases := []struct {
			name   string
			change func(id, code string)
			want   string
		}{
			{"archived", func(id, _ string) { promoArchive(t, srv, staff, id) }, "DISCOUNT_CODE_INVALID"},
			{"expired", func(id, code string) {
				promoUpdate(t, srv, staff, id, map[string]any{"name": "Soon over", "code": code, "valueType": "PERCENTAGE", "value": "15",
					"startsAt": time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339), "endsAt": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)})
			}, "DISCOUNT_CODE_EXPIRED"},
			{"deactivated", func(id, code string) {
				promoUpdate(t, srv, staff, id, map[string]any{"name": "Soon over", "code": code, "valueType": "PERCENTAGE", "value": "15", "isActive": false})
			}, "DISCOUNT_CODE_INVALID"},
		}
		for _, tc := range cases {
			code := promoCode("SOON")
			promo := mustPromo(t, srv, staff, map[string]any{"name": "Soon over", "code": code, "valueType": "PERCENTAGE", "value": "15"})
			cart := promoCart(t, srv, map[string]int{p.ID: 1})
			if c, ues := setCodes(t, srv, cart.ID, code); c == nil || len(ues) > 0 || c.Discount.Amount != "4.50" {
				t.Fatalf("%s: code on the cart: %+v %+v", tc.name, c, ues)
			}
			before := srv.product(t, staff, p.ID).AvailableQuantity
			tc.change(promo.ID, code)
			res := promoCheckout(t, srv, buyerEmail(), map[string]any{"cartId": cart.ID})
			if res.Order != nil || !slices.Equal(errCodes(res.UserErrors), []string{tc.want + " input.cartId"}) {
				t.Errorf("%s: checkout placed %v, userErrors %v; want %s and no order", tc.name, res.Order != nil, errCodes(res.UserErrors), tc.want)
			}
			if got := srv.product(t, staff, p.ID).AvailableQuantity; got != before {
				t.Errorf("%s: available %d after the refused checkout, want %d", tc.name, got, before)
			}
			if c := readCart(t, srv, cart.ID); c.Discount.Amount != "0.00" || c.Total.Amount != "43.00" {
				t.Errorf("%s: the cart shows discount %s, total %s; want 0.00 and 43.00", tc.name, c.Discount.Amount, c.Total.Amount)
			}
		}
	})

	t.Run("bad input", func(t *testing.T) {
		name := "Bad " + randHex(4)
		taken := promoCode("TAKEN")
		mustPromo(t, srv, staff, map[string]any{"name": "Taken", "code": taken, "valueType": "PERCENTAGE", "value": "5"})
		base := func(kv ...any) map[string]any {
			in := map[string]any{"name": name, "valueType": "PERCENTAGE", "value": "10"}
			for i := 0; i < len(kv); i += 2 {
				in[kv[i].(string)] = kv[i+1]
			}
			return in
		}
		cases := []struct {
			name  string
			input map[string]any
			want  []string
		}{
			{"zero percent", base("value", "0"), []string{"INVALID input.value"}},
			{"over 100 percent", base("value", "100.01"), []string{"INVALID input.value"}},
			{"negative amount", base("valueType", "FIXED_AMOUNT", "value", "-5.00"), []string{"INVALID input.value"}},
			{"too many decimals", base("valueType", "FIXED_AMOUNT", "value", "5.001"), []string{"INVALID input.value"}},
			{"negative minimum", base("minimumSubtotal", "-1"), []string{"INVALID input.minimumSubtotal"}},
			{"endsAt before startsAt", base("startsAt", "2027-01-02T00:00:00Z", "endsAt", "2027-01-01T00:00:00Z"), []string{"INVALID input.endsAt"}},
			{"forbidden characters", base("code", "NO SPACES!"), []string{"INVALID input.code"}},
			{"too short", base("code", "AB"), []string{"INVALID input.code"}},
			{"duplicate code", base("code", strings.ToLower(taken)), []string{"TAKEN input.code"}},
			{"unknown product", base("appliesTo", map[string]any{"productIds": []string{randomUUID()}}), []string{"NOT_FOUND input.appliesTo.productIds.0"}},
			{"several at once", base("value", "0", "usageLimit", -1, "perCustomerLimit", 0),
				[]string{"INVALID input.value", "INVALID input.usageLimit", "INVALID input.perCustomerLimit"}},
		}
		for _, tc := range cases {
			got := promoCreate(t, srv, staff, tc.input)
			if got.Promotion != nil || !slices.Equal(errCodes(got.UserErrors), tc.want) {
				t.Errorf("%s: promotion %v, userErrors %v; want %v", tc.name, got.Promotion != nil, errCodes(got.UserErrors), tc.want)
			}
		}
		var list struct{ Promotions struct{ TotalCount int } }
		srv.gql(t, staff, `query($s: String) { promotions(search: $s) { totalCount } }`, map[string]any{"s": name}, &list)
		if list.Promotions.TotalCount != 0 {
			t.Errorf("%d promotions named %q written by bad input, want 0", list.Promotions.TotalCount, name)
		}

		// The storefront's side.
		p := srv.createProduct(t, staff, "10.00", 10)
		a, b := promoCode("ALONE"), promoCode("OTHER")
		mustPromo(t, srv, staff, map[string]any{"name": "Alone", "code": a, "valueType": "PERCENTAGE", "value": "5"})
		mustPromo(t, srv, staff, map[string]any{"name": "Other", "code": b, "valueType": "PERCENTAGE", "value": "5"})
		cart := promoCart(t, srv, map[string]int{p.ID: 1})
		if _, ues := setCodes(t, srv, cart.ID, "NO-SUCH-CODE"); !slices.Equal(errCodes(ues), []string{"DISCOUNT_CODE_INVALID codes.0"}) {
			t.Errorf("unknown code: %v", errCodes(ues))
		}
		if _, ues := setCodes(t, srv, cart.ID, a, b); !slices.Equal(errCodes(ues), []string{"DISCOUNT_NOT_COMBINABLE codes.1"}) {
			t.Errorf("two codes that do not combine: %v", errCodes(ues))
		}
		if c := readCart(t, srv, cart.ID); len(c.DiscountCodes) != 0 {
			t.Errorf("refused codes were kept: %v", c.DiscountCodes)
		}
		if _, ues := setCodes(t, srv, randomUUID(), a); !slices.Equal(errCodes(ues), []string{"NOT_FOUND cartId"}) {
			t.Errorf("unknown cart: %v", errCodes(ues))
		}
		res := promoCheckout(t, srv, buyerEmail(), map[string]any{
			"lines": []any{map[string]any{"productId": p.ID, "quantity": 1}}, "discountCodes": []string{"nope"}})
		if res.Order != nil || !slices.Equal(errCodes(res.UserErrors), []string{"DISCOUNT_CODE_INVALID input.discountCodes.0"}) {
			t.Errorf("checkout with an unknown code: %v", errCodes(res.UserErrors))
		}
		if r := srv.do(t, "", `{ promotions { totalCount } }`, nil); !slices.Equal(r.codes(), []string{"UNAUTHENTICATED"}) {
			t.Errorf("anonymous promotions: %v", r.codes())
		}
	})
}

// TestE2EPromotionUsageLimitRush: 200 checkouts race for a code limited to
// 50 uses; exactly 50 orders get it. 40 are paid at once, the 10 others
// time out unpaid and give their uses back, which 10 new checkouts take.
func TestE2EPromotionUsageLimitRush(t *testing.T) {
	deps := startDeps(t, true)
	// Long enough for the rush and the payments on a busy machine; each
	// order is paid right after its own checkout.
	srv := startServer(t, "promo-rush", deps.env(t, map[string]string{"PAYMENT_TIMEOUT": "60s"}))
	staff := srv.staffLogin(t)
	p := srv.createProduct(t, staff, "10.00", 1000)
	code := promoCode("RUSH")
	rush := mustPromo(t, srv, staff, map[string]any{"name": "Rush", "code": code, "valueType": "PERCENTAGE",
		"value": "10", "usageLimit": 50})
	lines := []any{map[string]any{"productId": p.ID, "quantity": 1}}

	const n, workers, paid = 200, 8, 40
	var mu sync.Mutex
	var placed, unpaid []promoOrder
	refused := 0
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				r := promoCheckout(t, srv, buyerEmail(), map[string]any{"lines": lines, "discountCodes": []string{code}})
				mu.Lock()
				switch {
				case r.Order != nil:
					placed = append(placed, *r.Order)
				case slices.Equal(errCodes(r.UserErrors), []string{"DISCOUNT_USAGE_LIMIT_REACHED input.discountCodes.0"}):
					refused++
				default:
					t.Errorf("unexpected result: %v", errCodes(r.UserErrors))
				}
				payIt := r.Order != nil && len(placed) <= paid
				if r.Order != nil && !payIt {
					unpaid = append(unpaid, *r.Order)
				}
				mu.Unlock()
				if payIt {
					pay(t, srv, staff, r.Order.e2eOrder, cents(t, r.Order.Total.Amount))
				}
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if len(placed) != 50 || refused != 150 {
		t.Fatalf("%d orders, %d refused; want 50 and 150", len(placed), refused)
	}
	for _, o := range placed {
		if len(o.DiscountAllocations) != 1 || o.Discount.Amount != "1.00" {
			t.Errorf("order %s: discount %s, allocations %+v", o.OrderNumber, o.Discount.Amount, o.DiscountAllocations)
		}
	}
	if used := promoTimesUsed(t, srv, staff, rush.ID); used != 50 {
		t.Errorf("timesUsed %d after the rush, want 50", used)
	}
	if got := srv.product(t, staff, p.ID).AvailableQuantity; got != 950 {
		t.Errorf("available %d, want 950: refused checkouts reserve nothing", got)
	}

	for _, o := range unpaid {
		srv.waitOrder(t, staff, o.OrderNumber, 3*time.Minute, "CANCELLED", func(o e2eOrder) bool { return o.Status == "CANCELLED" })
	}
	if used := promoTimesUsed(t, srv, staff, rush.ID); used != 40 {
		t.Errorf("timesUsed %d after 10 timeouts, want 40", used)
	}
	for i := range 10 {
		if r := promoCheckout(t, srv, buyerEmail(), map[string]any{"lines": lines, "discountCodes": []string{code}}); r.Order == nil {
			t.Errorf("checkout %d after the timeouts: %v", i, errCodes(r.UserErrors))
		}
	}
	r := promoCheckout(t, srv, buyerEmail(), map[string]any{"lines": lines, "discountCodes": []string{code}})
	if r.Order != nil || !slices.Equal(errCodes(r.UserErrors), []string{"DISCOUNT_USAGE_LIMIT_REACHED input.discountCodes.0"}) {
		t.Errorf("the 51st use: %v", errCodes(r.UserErrors))
	}
	if used := promoTimesUsed(t, srv, staff, rush.ID); used != 50 {
		t.Errorf("timesUsed %d at the end, want 50", used)
	}
}
