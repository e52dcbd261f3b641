package e2e

// End-to-end tests of issue 18 (v2 accounts) against the built binary:
// sessions that can be revoked on every replica, password reset by emailed
// link, the address book and checkout with it, account deletion, and staff
// invited with permissions.

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"

	"commerce/internal/platform/dbtest"
)

var v2LinkToken = regexp.MustCompile(`token=([A-Za-z0-9_\-.]+)`)

// v2MailToken waits for the email to `to` whose subject contains subject
// and returns the token of the link it holds.
func v2MailToken(t *testing.T, d e2eDeps, to, subject string) string {
	t.Helper()
	msg := waitForMail(t, d.mail, to, 30*time.Second, subject)
	full := d.mail.Message(t, msg.ID)
	m := v2LinkToken.FindStringSubmatch(full.Text)
	if m == nil {
		t.Fatalf("no link token in the email %q:\n%s", subject, full.Text)
	}
	return m[1]
}

func v2Codes(r gqlResponse) []string { return r.codes() }

const (
	v2Reset        = `mutation($t: String!, $p: String!) { customerPasswordReset(token: $t, password: $p) { token userErrors { field code } } }`
	v2ResetRequest = `mutation($e: String!) { customerPasswordResetRequest(email: $e) { userErrors { field code } } }`
	v2Me           = `{ me { id email emailVerified addresses { id line1 } defaultAddress { id line1 } } }`
)

type v2Auth struct {
	Token      *string
	UserErrors []userError
}

func v2DB(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbtest.URL(t))
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

// TestE2EAccountsResetAndSessions: register, reset the password from the
// emailed link; the new token works, the old one is UNAUTHENTICATED, the
// link cannot be used twice, an expired link is refused, an unknown email
// gets the same answer and no email. A token logged out on one replica is
// refused on the other, and a websocket of a session ended on one replica
// is closed with 4403 on the other. Bad tokens are UNAUTHENTICATED.
func TestE2EAccountsResetAndSessions(t *testing.T) {
	deps := startDeps(t, false)
	a := startServer(t, "A", deps.env(t, map[string]string{"STOREFRONT_URL": "https://shop.example.com"}))
	b := startServer(t, "B", deps.env(t, map[string]string{"STOREFRONT_URL": "https://shop.example.com", "PASSWORD_RESET_TTL": "1ms"}))

	email := "reset-" + randHex(6) + "@example.com"
	oldToken, _ := accRegisterCustomer(t, a, email, "first-long-password", "Ada")

	var req struct {
		CustomerPasswordResetRequest struct{ UserErrors []userError }
	}
	a.gql(t, "", v2ResetRequest, map[string]any{"e": strings.ToUpper(email)}, &req)
	known, _ := json.Marshal(req)
	link := v2MailToken(t, deps, email, "Reset your password")

	// An unknown email: the same answer, and no email.
	unknown := "nobody-" + randHex(6) + "@example.com"
	a.gql(t, "", v2ResetRequest, map[string]any{"e": unknown}, &req)
	if got, _ := json.Marshal(req); string(got) != string(known) {
		t.Errorf("reset request for an unknown email answered %s, for a known one %s", got, known)
	}

	// A reset token is no bearer token.
	if r := a.do(t, link, v2Me, nil); !slices.Contains(v2Codes(r), "UNAUTHENTICATED") {
		t.Errorf("a reset token as bearer token: %s %v, want UNAUTHENTICATED", r.Data, r.Errors)
	}
	// Weak, short and overlong passwords write nothing and keep the link.
	for _, pw := range []string{"short", "qwertyuiop", strings.Repeat("x", 129)} {
		var out struct{ CustomerPasswordReset v2Auth }
		a.gql(t, "", v2Reset, map[string]any{"t": link, "p": pw}, &out)
		if out.CustomerPasswordReset.Token != nil || len(out.CustomerPasswordReset.UserErrors) == 0 {
			t.Errorf("reset to %q: %+v, want a userError", pw[:min(len(pw), 12)], out.CustomerPasswordReset)
		}
	}
	var weak struct{ CustomerPasswordReset v2Auth }
	a.gql(t, "", v2Reset, map[string]any{"t": link, "p": "qwertyuiop"}, &weak)
	if ue := weak.CustomerPasswordReset.UserErrors; len(ue) != 1 || ue[0].Code != "PASSWORD_TOO_WEAK" {
		t.Errorf("common password: %+v, want PASSWORD_TOO_WEAK", ue)
	}

	var reset struct{ CustomerPasswordReset v2Auth }
	a.gql(t, "", v2Reset, map[string]any{"t": link, "p": "second-long-password"}, &reset)
	if reset.CustomerPasswordReset.Token == nil {
		t.Fatalf("reset: %+v", reset.CustomerPasswordReset.UserErrors)
	}
	newToken := *reset.CustomerPasswordReset.Token
	var me struct{ Me struct{ Email string } }
	b.gql(t, newToken, v2Me, nil, &me)
	if me.Me.Email != email {
		t.Errorf("me with the new token: %+v", me)
	}
	for _, s := range []*e2eServer{a, b} {
		if r := s.do(t, oldToken, v2Me, nil); !slices.Contains(v2Codes(r), "UNAUTHENTICATED") {
			t.Errorf("%s: old token after the reset: %s %v, want UNAUTHENTICATED", s.name, r.Data, r.Errors)
		}
	}
	var again struct{ CustomerPasswordReset v2Auth }
	a.gql(t, "", v2Reset, map[string]any{"t": link, "p": "third-long-password"}, &again)
	if ue := again.CustomerPasswordReset.UserErrors; again.CustomerPasswordReset.Token != nil || len(ue) != 1 || ue[0].Code != "INVALID_TOKEN" {
		t.Errorf("the link used twice: %+v, want INVALID_TOKEN", again.CustomerPasswordReset)
	}

	// The reset of the unknown email was answered long ago; a second
	// request for the known one goes through the same outbox after it: once
	// that one has arrived, an email for the unknown one would have too.
	a.gql(t, "", v2ResetRequest, map[string]any{"e": email}, &req)
	deadline := time.Now().Add(30 * time.Second)
	for len(deps.mail.Search(t, "to:"+email+` subject:"Reset your password"`)) < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := deps.mail.Search(t, "to:"+unknown); len(got) != 0 {
		t.Errorf("a reset request for an unknown email sent %d emails", len(got))
	}

	// B's links last 1ms: expired by the time the email arrives.
	deps.mail.Clear(t)
	b.gql(t, "", v2ResetRequest, map[string]any{"e": email}, &req)
	expired := v2MailToken(t, deps, email, "Reset your password")

	var late struct{ CustomerPasswordReset v2Auth }
	a.gql(t, "", v2Reset, map[string]any{"t": expired, "p": "fourth-long-password"}, &late)
	if ue := late.CustomerPasswordReset.UserErrors; late.CustomerPasswordReset.Token != nil || len(ue) != 1 || ue[0].Code != "INVALID_TOKEN" {
		t.Errorf("an expired link: %+v, want INVALID_TOKEN", late.CustomerPasswordReset)
	}

	// Garbage and malformed tokens are UNAUTHENTICATED, never anonymous.
	for _, tok := range []string{"garbage", "a.b.c"} {
		if r := a.do(t, tok, `{ categories }`, nil); !slices.Contains(v2Codes(r), "UNAUTHENTICATED") {
			t.Errorf("token %q: %s %v, want UNAUTHENTICATED", tok, r.Data, r.Errors)
		}
	}

	// Staff session: a websocket on B, logout on A.
	staff := a.staffLogin(t)
	conn := edgeWS(t, b, staff)
	edgeWSWrite(t, conn, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": `subscription { orderUpdates { orderNumber } }`}})
	var out struct{ StaffLogout bool }
	a.gql(t, staff, `mutation { staffLogout }`, nil, &out)
	if !out.StaffLogout {
		t.Fatal("staffLogout returned false")
	}
	deadline = time.Now().Add(time.Second)
	for {
		r := b.do(t, staff, `{ staffMe { id } }`, nil)
		if slices.Contains(v2Codes(r), "UNAUTHENTICATED") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B still accepts a token logged out on A after 1s: %s", r.Data)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, _, err := conn.Read(ctx)
		if err == nil {
			continue
		}
		if got := websocket.CloseStatus(err); got != 4403 {
			t.Errorf("websocket of the logged-out session: %v (status %d), want close 4403", err, got)
		}
		break
	}
}

// TestE2EAccountsBookCheckoutDelete: the address book round trip, a
// checkout with a book address, deleting the default address, bad ids, and
// customerDelete: no sign-in, personal data gone, orders kept, the email
// free again.
func TestE2EAccountsBookCheckoutDelete(t *testing.T) {
	deps := startDeps(t, false)
	s := startServer(t, "A", deps.env(t, nil))
	staff := s.staffLogin(t)
	p := s.createProduct(t, staff, "10.00", 50)

	email := "book-" + randHex(6) + "@example.com"
	token, id := accRegisterCustomer(t, s, email, "book-long-password", "Ada")
	_, otherID := accRegisterCustomer(t, s, "other-"+randHex(6)+"@example.com", "book-long-password", "Eve")
	_ = otherID

	const create = `mutation($a: AddressInput!, $d: Boolean) { customerAddressCreate(address: $a, setDefault: $d) {
		address { id line1 } customer { addresses { id } defaultAddress { id } } userErrors { field code } } }`
	type addrOut struct {
		Address  *struct{ ID, Line1 string }
		Customer *struct {
			Addresses      []struct{ ID string }
			DefaultAddress *struct{ ID string }
		}
		UserErrors []userError
	}
	var c1, c2 struct{ CustomerAddressCreate addrOut }
	s.gql(t, token, create, map[string]any{"a": shippingAddress(), "d": false}, &c1)
	second := shippingAddress()
	second["line1"] = "1 Second Street"
	s.gql(t, token, create, map[string]any{"a": second, "d": true}, &c2)
	if c1.CustomerAddressCreate.Address == nil || c2.CustomerAddressCreate.Address == nil {
		t.Fatalf("address create: %+v %+v", c1, c2)
	}
	firstID, secondID := c1.CustomerAddressCreate.Address.ID, c2.CustomerAddressCreate.Address.ID
	if d := c2.CustomerAddressCreate.Customer.DefaultAddress; d == nil || d.ID != secondID {
		t.Errorf("default after setDefault: %+v", d)
	}
	var upd struct{ CustomerAddressUpdate addrOut }
	changed := shippingAddress()
	changed["line1"] = "99 Changed Road"
	s.gql(t, token, `mutation($id: ID!, $a: AddressInput!) { customerAddressUpdate(id: $id, address: $a) { address { id line1 } userErrors { field code } } }`,
		map[string]any{"id": firstID, "a": changed}, &upd)
	if a := upd.CustomerAddressUpdate.Address; a == nil || a.ID != firstID || a.Line1 != "99 Changed Road" {
		t.Errorf("address update: %+v", upd.CustomerAddressUpdate)
	}
	// Unknown and malformed ids: NOT_FOUND, nothing written.
	for _, bad := range []string{randomUUID(), "not-a-uuid"} {
		var del struct{ CustomerAddressDelete addrOut }
		s.gql(t, token, `mutation($id: ID!) { customerAddressDelete(id: $id) { address { id } userErrors { field code } } }`, map[string]any{"id": bad}, &del)
		if ue := del.CustomerAddressDelete.UserErrors; len(ue) != 1 || ue[0].Code != "NOT_FOUND" {
			t.Errorf("delete address %q: %+v, want NOT_FOUND", bad, del.CustomerAddressDelete)
		}
	}

	// Checkout with the book address.
	var co struct {
		Checkout struct {
			Order *struct {
				OrderNumber     string
				ShippingAddress struct {
					ID    *string
					Line1 string
				}
			}
			UserErrors []userError
		}
	}
	s.gql(t, token, `mutation($in: CheckoutInput!) { checkout(input: $in) { order { orderNumber shippingAddress { id line1 } } userErrors { field code } } }`,
		map[string]any{"in": map[string]any{"lines": []map[string]any{{"productId": p.ID, "quantity": 1}}, "email": email,
			"shippingAddressId": firstID, "idempotencyKey": "book-" + randHex(6)}}, &co)
	if co.Checkout.Order == nil || co.Checkout.Order.ShippingAddress.Line1 != "99 Changed Road" || co.Checkout.Order.ShippingAddress.ID != nil {
		t.Fatalf("checkout with a book address: %+v", co.Checkout)
	}

	// A new shipping address of a signed-in checkout joins the book.
	fresh := shippingAddress()
	fresh["line1"] = "7 New Checkout Lane"
	var co2 struct {
		Checkout struct {
			Order      *struct{ OrderNumber string }
			UserErrors []userError
		}
	}
	s.gql(t, token, `mutation($in: CheckoutInput!) { checkout(input: $in) { order { orderNumber } userErrors { field code } } }`,
		map[string]any{"in": map[string]any{"lines": []map[string]any{{"productId": p.ID, "quantity": 1}}, "email": email,
			"shippingAddress": fresh, "idempotencyKey": "book-new-" + randHex(6)}}, &co2)
	if co2.Checkout.Order == nil {
		t.Fatalf("checkout with a new address: %+v", co2.Checkout.UserErrors)
	}
	var book struct {
		Me struct{ Addresses []struct{ ID, Line1 string } }
	}
	s.gql(t, token, v2Me, nil, &book)
	if !slices.ContainsFunc(book.Me.Addresses, func(a struct{ ID, Line1 string }) bool { return a.Line1 == "7 New Checkout Lane" && a.ID != "" }) {
		t.Errorf("the checkout's new address is not in the book: %+v", book.Me.Addresses)
	}

	// A guest may not name a book address.
	var guest struct {
		Checkout struct{ UserErrors []userError }
	}
	s.gql(t, "", `mutation($in: CheckoutInput!) { checkout(input: $in) { userErrors { field code } } }`,
		map[string]any{"in": map[string]any{"lines": []map[string]any{{"productId": p.ID, "quantity": 1}}, "email": email,
			"shippingAddressId": firstID, "idempotencyKey": "book-guest-" + randHex(6)}}, &guest)
	if len(guest.Checkout.UserErrors) == 0 {
		t.Error("a guest checked out with a book address")
	}

	// Deleting the default leaves none default (the first address and the
	// checkout's remain).
	var del struct{ CustomerAddressDelete addrOut }
	s.gql(t, token, `mutation($id: ID!) { customerAddressDelete(id: $id) { customer { addresses { id } defaultAddress { id } } userErrors { field code } } }`,
		map[string]any{"id": secondID}, &del)
	if c := del.CustomerAddressDelete.Customer; c == nil || c.DefaultAddress != nil || len(c.Addresses) != 2 {
		t.Errorf("after deleting the default: %+v", del.CustomerAddressDelete)
	}

	// customerDelete: a wrong password first changes nothing.
	var wrong struct {
		CustomerDelete struct{ UserErrors []userError }
	}
	s.gql(t, token, `mutation { customerDelete(password: "not-the-password") { userErrors { field code } } }`, nil, &wrong)
	if ue := wrong.CustomerDelete.UserErrors; len(ue) != 1 || ue[0].Code != "INVALID_CREDENTIALS" {
		t.Errorf("customerDelete with a wrong password: %+v", ue)
	}
	var gone struct {
		CustomerDelete struct{ UserErrors []userError }
	}
	s.gql(t, token, `mutation { customerDelete(password: "book-long-password") { userErrors { field code } } }`, nil, &gone)
	if len(gone.CustomerDelete.UserErrors) != 0 {
		t.Fatalf("customerDelete: %+v", gone.CustomerDelete.UserErrors)
	}
	if r := s.do(t, token, v2Me, nil); !slices.Contains(v2Codes(r), "UNAUTHENTICATED") {
		t.Errorf("the deleted account's token: %v", r.Errors)
	}
	var login struct{ CustomerLogin v2Auth }
	s.gql(t, "", accCustomerLogin, map[string]any{"e": email, "p": "book-long-password"}, &login)
	if login.CustomerLogin.Token != nil {
		t.Error("the deleted account can still sign in")
	}
	db := v2DB(t)
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM customers WHERE id = $1 OR (email = $2 AND kind = 'ACCOUNT')`, id, email).Scan(&n); err != nil || n != 0 {
		t.Errorf("customers rows of the deleted account: %d (%v)", n, err)
	}
	o := s.order(t, staff, co.Checkout.Order.OrderNumber)
	if o.OrderNumber != co.Checkout.Order.OrderNumber {
		t.Errorf("the deleted account's order for staff: %+v", o)
	}
	accRegisterCustomer(t, s, email, "book-long-password", "Ada")
	deps.mail.WaitForMessages(t, 1, 30*time.Second)
	waitForMail(t, deps.mail, email, 30*time.Second, "Your account was deleted")
}

// TestE2EAccountsStaffPermissions: an ADMIN invites a STAFF member with
// ORDERS only; the invitee sets a password from the emailed link, can
// fulfil an order and is FORBIDDEN for productCreate, orderRefund and customers;
// deactivating them revokes their sessions; the last ADMIN cannot be
// demoted.
func TestE2EAccountsStaffPermissions(t *testing.T) {
	deps := startDeps(t, false)
	s := startServer(t, "A", deps.env(t, nil))
	admin := s.staffLogin(t)
	p := s.createProduct(t, admin, "12.00", 20)
	o := s.checkout(t, buyerEmail(), "perm-"+randHex(6), map[string]int{p.ID: 1})

	email := "clerk-" + randHex(6) + "@example.com"
	var inv struct {
		StaffUserCreate struct {
			StaffUser *struct {
				ID          string
				Permissions []string
			}
			UserErrors []userError
		}
	}
	s.gql(t, admin, `mutation($in: StaffUserCreateInput!) { staffUserCreate(input: $in) { staffUser { id permissions } userErrors { field code } } }`,
		map[string]any{"in": map[string]any{"email": email, "name": "Clerk", "role": "STAFF", "permissions": []string{"ORDERS"}}}, &inv)
	if inv.StaffUserCreate.StaffUser == nil {
		t.Fatalf("staffUserCreate: %+v", inv.StaffUserCreate.UserErrors)
	}
	clerkID := inv.StaffUserCreate.StaffUser.ID
	link := v2MailToken(t, deps, email, "staff account")
	var set struct{ StaffPasswordSet v2Auth }
	s.gql(t, "", `mutation($t: String!, $p: String!) { staffPasswordSet(token: $t, password: $p) { token userErrors { field code } } }`,
		map[string]any{"t": link, "p": "clerk-long-password"}, &set)
	if set.StaffPasswordSet.Token == nil {
		t.Fatalf("staffPasswordSet: %+v", set.StaffPasswordSet.UserErrors)
	}
	clerk := *set.StaffPasswordSet.Token

	var ful struct {
		OrderFulfill struct {
			Order      *struct{ FulfillmentStatus string }
			UserErrors []userError
		}
	}
	// The order must be paid before it ships; the dummy provider pays at
	// checkout, so wait for it.
	s.waitOrder(t, admin, o.Order.OrderNumber, 30*time.Second, "paid", func(e e2eOrder) bool { return e.PaymentStatus == "PAID" })
	s.gql(t, clerk, `mutation($id: ID!) { orderFulfill(id: $id, input: {trackingNumber: "1Z-CLERK", carrier: "UPS"}) { order { fulfillmentStatus } userErrors { field code } } }`,
		map[string]any{"id": o.Order.ID}, &ful)
	if ful.OrderFulfill.Order == nil {
		t.Errorf("orderFulfill by the clerk: %+v", ful.OrderFulfill.UserErrors)
	}
	// The fulfilment's event names the clerk, for staff.
	var ev struct {
		Order struct {
			Events []struct {
				Type      string
				StaffUser *struct{ Email string }
			}
		}
	}
	s.gql(t, admin, `query($n: String!) { order(orderNumber: $n) { events { type staffUser { email } } } }`, map[string]any{"n": o.Order.OrderNumber}, &ev)
	actors := map[string]string{}
	for _, e := range ev.Order.Events {
		if e.StaffUser != nil {
			actors[e.Type] = e.StaffUser.Email
		}
	}
	if actors["FULFILLED"] != email || len(actors) != 1 {
		t.Errorf("staff on the order's events: %v, want FULFILLED by %s only", actors, email)
	}

	for name, q := range map[string]string{
		"productCreate": `mutation { productCreate(input: {sku: "X-` + randHex(4) + `", name: "X", price: "1.00"}) { product { id } } }`,
		"customers":     `{ customers(first: 1) { totalCount } }`,
		"staffUsers":    `{ staffUsers(first: 1) { totalCount } }`,
		"orderRefund": `mutation { orderRefund(id: "` + o.Order.ID + `", input: {amount: "1.00", idempotencyKey: "clerk-` + randHex(4) + `"}) {
			refund { id } userErrors { code } } }`,
	} {
		if r := s.do(t, clerk, q, nil); !slices.Contains(v2Codes(r), "FORBIDDEN") {
			t.Errorf("%s by the clerk: %s %v, want FORBIDDEN", name, r.Data, r.Errors)
		}
	}

	// Nor does node() show the clerk a customer; an ADMIN sees it.
	var owner struct {
		Order struct{ Customer *struct{ ID string } }
	}
	s.gql(t, admin, `query($n: String!) { order(orderNumber: $n) { customer { id } } }`, map[string]any{"n": o.Order.OrderNumber}, &owner)
	if owner.Order.Customer == nil {
		t.Fatal("the order has no customer for the admin")
	}
	const nodeQ = `query($id: ID!) { node(id: $id) { id } }`
	if r := s.do(t, clerk, nodeQ, map[string]any{"id": owner.Order.Customer.ID}); !slices.Contains(v2Codes(r), "NOT_FOUND") {
		t.Errorf("node(customer) for the clerk without CUSTOMERS: %s %v, want NOT_FOUND", r.Data, r.Errors)
	}
	s.gql(t, admin, nodeQ, map[string]any{"id": owner.Order.Customer.ID}, nil)

	var upd struct {
		StaffUserUpdate struct{ UserErrors []userError }
	}
	s.gql(t, admin, `mutation($id: ID!) { staffUserUpdate(id: $id, input: {isActive: false}) { userErrors { field code } } }`, map[string]any{"id": clerkID}, &upd)
	if len(upd.StaffUserUpdate.UserErrors) != 0 {
		t.Fatalf("deactivate: %+v", upd.StaffUserUpdate.UserErrors)
	}
	if r := s.do(t, clerk, `{ staffMe { id } }`, nil); !slices.Contains(v2Codes(r), "UNAUTHENTICATED") {
		t.Errorf("a deactivated clerk's token: %s %v, want UNAUTHENTICATED", r.Data, r.Errors)
	}

	var me struct{ StaffMe struct{ ID string } }
	s.gql(t, admin, `{ staffMe { id } }`, nil, &me)
	// Other tests share the database and may have made admins; only when
	// this one is the last is there one to protect.
	var others int
	if err := v2DB(t).QueryRow(context.Background(), `SELECT count(*) FROM staff_users WHERE role = 'ADMIN' AND is_active AND id <> $1`, me.StaffMe.ID).Scan(&others); err != nil {
		t.Fatal(err)
	}
	if others > 0 {
		t.Logf("%d other active admins: LAST_ADMIN not checked here", others)
		return
	}
	var demote struct {
		StaffUserUpdate struct{ UserErrors []userError }
	}
	s.gql(t, admin, `mutation($id: ID!) { staffUserUpdate(id: $id, input: {role: STAFF}) { userErrors { field code } } }`, map[string]any{"id": me.StaffMe.ID}, &demote)
	if ue := demote.StaffUserUpdate.UserErrors; len(ue) != 1 || ue[0].Code != "LAST_ADMIN" {
		t.Errorf("demoting the last ADMIN: %+v, want LAST_ADMIN", ue)
	}
}

// TestE2EAccountsSelfService: customerUpdate, email verification by link,
// password change (a security notice, the old session ended, a websocket
// of it closed with 4403), tokens of another kind, another customer's
// address id, and logout.
func TestE2EAccountsSelfService(t *testing.T) {
	deps := startDeps(t, false)
	s := startServer(t, "A", deps.env(t, map[string]string{"STOREFRONT_URL": "https://shop.example.com"}))

	email := "self-" + randHex(6) + "@example.com"
	token, _ := accRegisterCustomer(t, s, email, "self-long-password", "Ada")

	const update = `mutation($in: CustomerUpdateInput!) { customerUpdate(input: $in) { customer { firstName phone marketingOptIn } userErrors { field code } } }`
	var bad struct {
		CustomerUpdate struct {
			Customer   *struct{ FirstName string }
			UserErrors []userError
		}
	}
	s.gql(t, token, update, map[string]any{"in": map[string]any{"firstName": "Changed", "phone": "not a phone"}}, &bad)
	if ue := bad.CustomerUpdate.UserErrors; len(ue) != 1 || strings.Join(ue[0].Field, ".") != "input.phone" {
		t.Errorf("customerUpdate with a bad phone: %+v", bad.CustomerUpdate)
	}
	var me struct{ Me struct{ FirstName string } }
	s.gql(t, token, `{ me { firstName } }`, nil, &me)
	if me.Me.FirstName != "Ada" {
		t.Errorf("a refused update wrote the first name: %q", me.Me.FirstName)
	}
	var good struct {
		CustomerUpdate struct {
			Customer *struct {
				FirstName      string
				Phone          *string
				MarketingOptIn bool
			}
			UserErrors []userError
		}
	}
	s.gql(t, token, update, map[string]any{"in": map[string]any{"firstName": "Grace", "phone": "+15555550123", "marketingOptIn": true}}, &good)
	if c := good.CustomerUpdate.Customer; c == nil || c.FirstName != "Grace" || c.Phone == nil || !c.MarketingOptIn {
		t.Errorf("customerUpdate: %+v", good.CustomerUpdate)
	}

	// Malformed tokens and tokens of another kind are INVALID_TOKEN.
	for _, tok := range []string{"garbage", token} {
		var r struct{ CustomerPasswordReset v2Auth }
		s.gql(t, "", v2Reset, map[string]any{"t": tok, "p": "other-long-password"}, &r)
		if ue := r.CustomerPasswordReset.UserErrors; len(ue) != 1 || ue[0].Code != "INVALID_TOKEN" {
			t.Errorf("reset with a bad token: %+v, want INVALID_TOKEN", r.CustomerPasswordReset)
		}
	}

	// Email verification by link.
	var vr struct {
		CustomerEmailVerificationRequest struct{ UserErrors []userError }
	}
	s.gql(t, token, `mutation { customerEmailVerificationRequest { userErrors { field code } } }`, nil, &vr)
	verify := v2MailToken(t, deps, email, "Confirm your email")
	var asReset struct{ CustomerPasswordReset v2Auth }
	s.gql(t, "", v2Reset, map[string]any{"t": verify, "p": "other-long-password"}, &asReset)
	if ue := asReset.CustomerPasswordReset.UserErrors; len(ue) != 1 || ue[0].Code != "INVALID_TOKEN" {
		t.Errorf("a verification token used to reset: %+v, want INVALID_TOKEN", asReset.CustomerPasswordReset)
	}
	const verifyQ = `mutation($t: String!) { customerEmailVerify(token: $t) { customer { emailVerified } userErrors { field code } } }`
	var v struct {
		CustomerEmailVerify struct {
			Customer   *struct{ EmailVerified bool }
			UserErrors []userError
		}
	}
	s.gql(t, "", verifyQ, map[string]any{"t": verify}, &v)
	if c := v.CustomerEmailVerify.Customer; c == nil || !c.EmailVerified {
		t.Errorf("customerEmailVerify: %+v", v.CustomerEmailVerify)
	}
	s.gql(t, "", verifyQ, map[string]any{"t": verify}, &v)
	if ue := v.CustomerEmailVerify.UserErrors; len(ue) != 1 || ue[0].Code != "INVALID_TOKEN" {
		t.Errorf("the verification link used twice: %+v", v.CustomerEmailVerify)
	}

	// Another customer's address id is NOT_FOUND and changes nothing.
	otherToken, _ := accRegisterCustomer(t, s, "self-other-"+randHex(6)+"@example.com", "self-long-password", "Eve")
	var created struct {
		CustomerAddressCreate struct{ Address *struct{ ID string } }
	}
	s.gql(t, otherToken, `mutation($a: AddressInput!) { customerAddressCreate(address: $a) { address { id } } }`, map[string]any{"a": shippingAddress()}, &created)
	if created.CustomerAddressCreate.Address == nil {
		t.Fatal("the other customer's address was not created")
	}
	var steal struct {
		CustomerDefaultAddressSet struct{ UserErrors []userError }
	}
	s.gql(t, token, `mutation($id: ID!) { customerDefaultAddressSet(id: $id) { userErrors { field code } } }`, map[string]any{"id": created.CustomerAddressCreate.Address.ID}, &steal)
	if ue := steal.CustomerDefaultAddressSet.UserErrors; len(ue) != 1 || ue[0].Code != "NOT_FOUND" {
		t.Errorf("another customer's address id: %+v, want NOT_FOUND", ue)
	}

	// A websocket of the session, then a password change.
	conn := edgeWS(t, s, token)
	const change = `mutation($c: String!, $n: String!) { customerPasswordChange(currentPassword: $c, newPassword: $n) { token userErrors { field code } } }`
	var wrong struct{ CustomerPasswordChange v2Auth }
	s.gql(t, token, change, map[string]any{"c": "not-the-password", "n": "self-new-password"}, &wrong)
	if ue := wrong.CustomerPasswordChange.UserErrors; len(ue) != 1 || ue[0].Code != "INVALID_CREDENTIALS" || strings.Join(ue[0].Field, ".") != "currentPassword" {
		t.Errorf("a wrong current password: %+v", wrong.CustomerPasswordChange)
	}
	var changed struct{ CustomerPasswordChange v2Auth }
	s.gql(t, token, change, map[string]any{"c": "self-long-password", "n": "self-new-password"}, &changed)
	if changed.CustomerPasswordChange.Token == nil {
		t.Fatalf("customerPasswordChange: %+v", changed.CustomerPasswordChange.UserErrors)
	}
	newToken := *changed.CustomerPasswordChange.Token
	if r := s.do(t, token, v2Me, nil); !slices.Contains(v2Codes(r), "UNAUTHENTICATED") {
		t.Errorf("the caller's old token after the change: %v", r.Errors)
	}
	s.gql(t, newToken, v2Me, nil, nil)
	waitForMail(t, deps.mail, email, 30*time.Second, "Your password was changed")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := conn.Read(ctx); err != nil {
			if got := websocket.CloseStatus(err); got != 4403 {
				t.Errorf("websocket of the changed-password session: %v, want close 4403", err)
			}
			break
		}
	}
	// A websocket opened with the ended session's token is refused.
	dead := hostileWSDial(t, s, "graphql-transport-ws")
	edgeWSWrite(t, dead, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}})
	if _, _, err := dead.Read(ctx); websocket.CloseStatus(err) != 4403 {
		t.Errorf("connection_init with an ended session: %v, want close 4403", err)
	}

	var out struct{ CustomerLogout bool }
	s.gql(t, newToken, `mutation { customerLogout }`, nil, &out)
	if r := s.do(t, newToken, v2Me, nil); !out.CustomerLogout || !slices.Contains(v2Codes(r), "UNAUTHENTICATED") {
		t.Errorf("after customerLogout: %v %v", out.CustomerLogout, r.Errors)
	}
}
