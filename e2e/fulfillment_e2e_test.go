package e2e

// End-to-end tests of issue 4: fulfilment with tracking, the shipping SMS
// through a local endpoint that speaks Twilio's Messages API, the scheduled
// jobs (fulfilment reminder, abandoned cart, review request, delivery
// confirmation, daily inventory report), one-click unsubscribe and the
// delivery retries of notifications. They reuse the harness of e2e_test.go
// (the real binary as a subprocess, stripe-mock, mailpit, the GraphQL
// client and the signed webhook) and add helpers named ful….
//
// A "not sent" assertion never sleeps and looks at an empty mailbox: it
// waits until River finished the job (river_job.state) and then checks
// that the job wrote no notification row.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"commerce/internal/notify"
	"commerce/internal/platform/dbtest"
	"commerce/internal/platform/mailtest"
	"commerce/internal/platform/stripetest"
)

const (
	fulTwilioSID   = "ACf0000000000000000000000000000e2e"
	fulTwilioToken = "ful-twilio-auth-token"
	fulTwilioFrom  = "+12025550100"
	fulPhone       = "+1 202 555 0123" // as the shopper types it
	fulPhoneE164   = "+12025550123"
)

// ---------------------------------------------------------------- Twilio

// fulSMS is one request the Twilio fake received.
type fulSMS struct {
	At                time.Time
	Method, Path      string
	User, Pass        string
	ContentType       string
	To, From, Body    string
	Status            int // what the fake answered
	ParsedFormProblem string
}

// fulTwilio is a local HTTP server that speaks Twilio's Messages API:
// POST /2010-04-01/Accounts/{sid}/Messages.json, form-encoded To, From and
// Body, HTTP basic auth with the account SID and auth token. It answers
// each request for a number with the next status of that number's script
// (201 once the script is used up) and records every request.
type fulTwilio struct {
	URL     string
	mu      sync.Mutex
	scripts map[string][]int
	reqs    []fulSMS
}

// fulStartTwilio starts the fake on 127.0.0.1; scripts maps an E.164 number
// to the statuses to answer for it, in order.
func fulStartTwilio(t *testing.T, scripts map[string][]int) *fulTwilio {
	t.Helper()
	f := &fulTwilio{scripts: map[string][]int{}}
	for k, v := range scripts {
		f.scripts[k] = slices.Clone(v)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", f.serve)
	srv := httptest.NewServer(mux) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *fulTwilio) serve(w http.ResponseWriter, r *http.Request) {
	user, pass, _ := r.BasicAuth()
	rec := fulSMS{At: time.Now(), Method: r.Method, Path: r.URL.Path, User: user, Pass: pass,
		ContentType: r.Header.Get("Content-Type")}
	if err := r.ParseForm(); err != nil {
		rec.ParsedFormProblem = err.Error()
	}
	rec.To, rec.From, rec.Body = r.PostForm.Get("To"), r.PostForm.Get("From"), r.PostForm.Get("Body")

	status := http.StatusCreated
	wantPath := "/2010-04-01/Accounts/" + fulTwilioSID + "/Messages.json"
	f.mu.Lock()
	switch {
	case r.Method != http.MethodPost || r.URL.Path != wantPath:
		status = http.StatusNotFound
	case user != fulTwilioSID || pass != fulTwilioToken:
		status = http.StatusUnauthorized
	default:
		if s := f.scripts[rec.To]; len(s) > 0 {
			status, f.scripts[rec.To] = s[0], s[1:]
		}
	}
	rec.Status = status
	f.reqs = append(f.reqs, rec)
	f.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	var body map[string]any
	switch status {
	case http.StatusCreated:
		sid := "SM" + randHex(16)
		body = map[string]any{
			"sid": sid, "account_sid": fulTwilioSID, "to": rec.To, "from": rec.From, "body": rec.Body,
			"status": "queued", "direction": "outbound-api", "num_segments": "1", "num_media": "0",
			"api_version": "2010-04-01", "price": nil, "price_unit": "USD", "error_code": nil, "error_message": nil,
			"date_created": time.Now().UTC().Format(time.RFC1123Z), "date_sent": nil, "date_updated": time.Now().UTC().Format(time.RFC1123Z),
			"uri": "/2010-04-01/Accounts/" + fulTwilioSID + "/Messages/" + sid + ".json",
		}
	case http.StatusBadRequest:
		body = map[string]any{"code": 21211, "message": fmt.Sprintf("The 'To' number %s is not a valid phone number.", rec.To),
			"more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}
	case http.StatusUnauthorized:
		body = map[string]any{"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}
	case http.StatusNotFound:
		body = map[string]any{"code": 20404, "message": "The requested resource " + r.URL.Path + " was not found",
			"more_info": "https://www.twilio.com/docs/errors/20404", "status": 404}
	default:
		body = map[string]any{"code": 20500, "message": "Internal Server Error", "more_info": "https://www.twilio.com/docs/errors/20500", "status": status}
	}
	_ = json.NewEncoder(w).Encode(body)
}

// requests returns what arrived for the number to (all when to is "").
func (f *fulTwilio) requests(to string) []fulSMS {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fulSMS
	for _, r := range f.reqs {
		if to == "" || r.To == to {
			out = append(out, r)
		}
	}
	return out
}

// wait waits until at least n requests for to arrived.
func (f *fulTwilio) wait(t *testing.T, to string, n int, timeout time.Duration) []fulSMS {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := f.requests(to)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("Twilio fake: %d requests for %s within %s, want %d; all requests: %+v", len(got), to, timeout, n, f.requests(""))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fulEnv is deps.env with the Twilio sender pointed at tw (none when tw is
// nil) and overrides on top.
func fulEnv(t *testing.T, deps e2eDeps, tw *fulTwilio, overrides map[string]string) map[string]string {
	t.Helper()
	all := map[string]string{}
	if tw != nil {
		all["SMS_SENDER"] = "twilio"
		all["TWILIO_ACCOUNT_SID"] = fulTwilioSID
		all["TWILIO_AUTH_TOKEN"] = fulTwilioToken
		all["TWILIO_FROM"] = fulTwilioFrom
		all["TWILIO_API_BASE"] = tw.URL
	}
	for k, v := range overrides {
		all[k] = v
	}
	return deps.env(t, all)
}

// ---------------------------------------------------------------- orders

// fulOrder is an order with its shipping fields.
type fulOrder struct {
	e2eOrder
	FulfillmentStatus string
	TrackingNumber    *string
	Carrier           *string
	TrackingURL       *string `json:"trackingUrl"`
	ShippedAt         *string
	DeliveredAt       *string
	ShippingAddress   struct{ Phone *string }
}

const fulOrderFields = orderFields + ` fulfillmentStatus trackingNumber carrier trackingUrl shippedAt deliveredAt shippingAddress { phone }`

type fulOrderPayload struct {
	Order      *fulOrder
	UserErrors []userError
}

const fulFulfillMutation = `mutation($id: ID!, $input: FulfillInput!) { orderFulfill(id: $id, input: $input) {
	order { ` + fulOrderFields + ` } userErrors { field message code } } }`

const fulDeliveredMutation = `mutation($id: ID!) { orderMarkDelivered(id: $id) {
	order { ` + fulOrderFields + ` } userErrors { field message code } } }`

func fulGetOrder(t *testing.T, s *e2eServer, staff, number string) fulOrder {
	t.Helper()
	var out struct{ Order *fulOrder }
	s.gql(t, staff, `query($n: String!) { order(orderNumber: $n) { `+fulOrderFields+` } }`, map[string]any{"n": number}, &out)
	if out.Order == nil {
		t.Fatalf("order %s not found", number)
	}
	return *out.Order
}

// fulFulfill calls orderFulfill as token; carrier "" sends none.
func fulFulfill(t *testing.T, s *e2eServer, token, id, tracking, carrier string) (fulOrderPayload, gqlResponse) {
	t.Helper()
	input := map[string]any{"trackingNumber": tracking}
	if carrier != "" {
		input["carrier"] = carrier
	}
	r := s.do(t, token, fulFulfillMutation, map[string]any{"id": id, "input": input})
	var out struct{ OrderFulfill *fulOrderPayload }
	if len(r.Data) > 0 && string(r.Data) != "null" {
		if err := json.Unmarshal(r.Data, &out); err != nil {
			t.Fatalf("decode orderFulfill %s: %v", r.Data, err)
		}
	}
	if out.OrderFulfill == nil {
		return fulOrderPayload{}, r
	}
	return *out.OrderFulfill, r
}

// fulMustFulfill ships an order as staff and fails the test unless it
// worked.
func fulMustFulfill(t *testing.T, s *e2eServer, staff, id, tracking, carrier string) fulOrder {
	t.Helper()
	p, r := fulFulfill(t, s, staff, id, tracking, carrier)
	if len(r.Errors) > 0 || p.Order == nil || len(p.UserErrors) > 0 {
		t.Fatalf("orderFulfill: errors %+v, userErrors %+v", r.Errors, p.UserErrors)
	}
	return *p.Order
}

func fulMarkDelivered(t *testing.T, s *e2eServer, token, id string) (fulOrderPayload, gqlResponse) {
	t.Helper()
	r := s.do(t, token, fulDeliveredMutation, map[string]any{"id": id})
	var out struct{ OrderMarkDelivered *fulOrderPayload }
	if len(r.Data) > 0 && string(r.Data) != "null" {
		if err := json.Unmarshal(r.Data, &out); err != nil {
			t.Fatalf("decode orderMarkDelivered %s: %v", r.Data, err)
		}
	}
	if out.OrderMarkDelivered == nil {
		return fulOrderPayload{}, r
	}
	return *out.OrderMarkDelivered, r
}

// fulCheckout places an order from lines, shipped to an address with the
// phone number phone (none when ""), and fails the test on errors.
func fulCheckout(t *testing.T, s *e2eServer, email, phone string, lines map[string]int) e2eOrder {
	t.Helper()
	var in []map[string]any
	for id, q := range lines {
		in = append(in, map[string]any{"productId": id, "quantity": q})
	}
	addr := shippingAddress()
	if phone != "" {
		addr["phone"] = phone
	}
	var out struct{ Checkout checkoutResult }
	s.gql(t, "", checkoutMutation, map[string]any{"input": map[string]any{
		"lines": in, "email": email, "shippingAddress": addr, "idempotencyKey": "ful-" + randHex(8),
	}}, &out)
	if out.Checkout.Order == nil || len(out.Checkout.UserErrors) > 0 {
		t.Fatalf("checkout: %+v", out.Checkout.UserErrors)
	}
	return *out.Checkout.Order
}

// fulPay delivers a signed payment_intent.succeeded for the order to s and
// waits until it is PROCESSING/PAID.
func fulPay(t *testing.T, s *e2eServer, staff string, o e2eOrder) {
	t.Helper()
	view := s.order(t, staff, o.OrderNumber)
	if view.StripePaymentIntentID == nil {
		t.Fatalf("order %s has no payment intent", o.OrderNumber)
	}
	obj := stripetest.PaymentIntentObject(*view.StripePaymentIntentID, o.ID, o.OrderNumber, cents(t, o.Total.Amount), "usd")
	if code := s.sendEvent(t, "payment_intent.succeeded", obj); code != http.StatusOK {
		t.Fatalf("payment_intent.succeeded for %s: %d, want 200", o.OrderNumber, code)
	}
	s.waitOrder(t, staff, o.OrderNumber, 10*time.Second, "PROCESSING/PAID", func(o e2eOrder) bool {
		return o.Status == "PROCESSING" && o.PaymentStatus == "PAID"
	})
}

// fulPaidOrder checks out one unit of product and pays for it.
func fulPaidOrder(t *testing.T, s *e2eServer, staff, productID, email, phone string) e2eOrder {
	t.Helper()
	o := fulCheckout(t, s, email, phone, map[string]int{productID: 1})
	fulPay(t, s, staff, o)
	return o
}

// fulCustomerToken registers a customer and returns their token.
func fulCustomerToken(t *testing.T, s *e2eServer, email string, optIn bool) string {
	t.Helper()
	var out struct {
		CustomerRegister struct {
			Token      *string
			UserErrors []userError
		}
	}
	s.gql(t, "", `mutation($input: CustomerRegisterInput!) { customerRegister(input: $input) { token userErrors { field message code } } }`,
		map[string]any{"input": map[string]any{"email": email, "password": "ful-customer-password", "firstName": "Grace",
			"lastName": "Hopper", "marketingOptIn": optIn}}, &out)
	if out.CustomerRegister.Token == nil || len(out.CustomerRegister.UserErrors) > 0 {
		t.Fatalf("customerRegister: %+v", out.CustomerRegister.UserErrors)
	}
	return *out.CustomerRegister.Token
}

// fulCart is a cart as the tests read it.
type fulCart struct {
	ID    string
	Email *string
	Lines []struct {
		ID       string
		Quantity int
	}
}

const fulCartFields = `id email lines { id quantity }`

// fulCreateCart creates a cart with the lines (productId → quantity) and
// the email, with the shopper's consent to marketing email at it
// (marketingOptIn), without which no abandoned-cart reminder is sent to an
// address that is not an opted-in customer's.
func fulCreateCart(t *testing.T, s *e2eServer, email string, lines map[string]int) fulCart {
	t.Helper()
	return fulCreateCartWith(t, s, email, lines, true)
}

// fulCreateCartWith creates a cart with the lines, the email and the
// shopper's marketing consent or refusal.
func fulCreateCartWith(t *testing.T, s *e2eServer, email string, lines map[string]int, optIn bool) fulCart {
	t.Helper()
	var in []map[string]any
	for id, q := range lines {
		in = append(in, map[string]any{"productId": id, "quantity": q})
	}
	var out struct {
		CartCreate struct {
			Cart       *fulCart
			UserErrors []userError
		}
	}
	s.gql(t, "", `mutation($l: [CartLineInput!], $e: String, $o: Boolean) { cartCreate(lines: $l, email: $e, marketingOptIn: $o) {
		cart { `+fulCartFields+` } userErrors { field message code } } }`, map[string]any{"l": in, "e": email, "o": optIn}, &out)
	if out.CartCreate.Cart == nil || len(out.CartCreate.UserErrors) > 0 {
		t.Fatalf("cartCreate: %+v", out.CartCreate.UserErrors)
	}
	return *out.CartCreate.Cart
}

// ---------------------------------------------------------------- database

// fulConnect opens a connection of its own to the package database, for
// reading River's and the notifications tables.
func fulConnect(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dbtest.URL(t))
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// fulWaitLeader waits until a River client elected at or after since
// holds the leadership, and returns when it was elected.
func fulWaitLeader(t *testing.T, c *pgx.Conn, since time.Time, wait time.Duration) time.Time {
	t.Helper()
	end := time.Now().Add(wait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var elected time.Time
		err := c.QueryRow(ctx, `SELECT elected_at FROM river_leader WHERE elected_at >= $1 AND expires_at > now()`,
			since.Add(-time.Second)).Scan(&elected)
		cancel()
		switch {
		case err == nil:
			return elected
		case !errors.Is(err, pgx.ErrNoRows):
			t.Fatalf("query river_leader: %v", err)
		case time.Now().After(end):
			t.Fatalf("no River leader elected since %s within %s", since.Format(time.TimeOnly), wait)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// fulJob is a row of river_job.
type fulJob struct {
	ID          int64
	State       string
	Attempt     int
	Args        map[string]any
	ScheduledAt time.Time
	AttemptedBy []string
}

// fulJobs returns the jobs of kind whose argument argKey is argVal, oldest
// first.
func fulJobs(t *testing.T, c *pgx.Conn, kind, argKey, argVal string) []fulJob {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := c.Query(ctx, `SELECT id, state::text, attempt, args, scheduled_at, coalesce(attempted_by, '{}')
		FROM river_job WHERE kind = $1 AND args->>$2 = $3 ORDER BY id`, kind, argKey, argVal)
	if err != nil {
		t.Fatalf("query river_job: %v", err)
	}
	var out []fulJob
	for rows.Next() {
		var j fulJob
		var args []byte
		if err := rows.Scan(&j.ID, &j.State, &j.Attempt, &args, &j.ScheduledAt, &j.AttemptedBy); err != nil {
			t.Fatalf("scan river_job: %v", err)
		}
		_ = json.Unmarshal(args, &j.Args)
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read river_job: %v", err)
	}
	return out
}

func fulFinal(state string) bool {
	return state == "completed" || state == "cancelled" || state == "discarded"
}

// fulWaitJobs waits until there are at least n jobs of kind for the
// argument and every one of them is finalized, and returns them.
func fulWaitJobs(t *testing.T, c *pgx.Conn, kind, argKey, argVal string, n int, timeout time.Duration) []fulJob {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		jobs := fulJobs(t, c, kind, argKey, argVal)
		done := len(jobs) >= n
		for _, j := range jobs {
			done = done && fulFinal(j.State)
		}
		if done {
			return jobs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s jobs with %s=%s not all finished within %s (want at least %d): %+v", kind, argKey, argVal, timeout, n, jobs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fulWantCompleted fails the test unless there are exactly n jobs and all
// completed.
func fulWantCompleted(t *testing.T, what string, jobs []fulJob, n int) {
	t.Helper()
	if len(jobs) != n {
		t.Errorf("%s: %d jobs, want %d: %+v", what, len(jobs), n, jobs)
	}
	for _, j := range jobs {
		if j.State != "completed" {
			t.Errorf("%s: job %d is %s, want completed", what, j.ID, j.State)
		}
	}
}

// fulRow is a row of the notifications table.
type fulRow struct {
	ID        string
	Channel   string
	To        string
	Template  string
	Status    string
	Attempts  int
	LastError *string
	Data      map[string]any
	CreatedAt time.Time
}

// fulRows returns the notifications of template, to recipient when it is
// not "", oldest first.
func fulRows(t *testing.T, c *pgx.Conn, template, recipient string) []fulRow {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := c.Query(ctx, `SELECT id::text, channel, recipient, template, status, attempts, last_error, data, created_at
		FROM notifications WHERE template = $1 AND ($2 = '' OR recipient = lower($2)) ORDER BY seq`, template, recipient)
	if err != nil {
		t.Fatalf("query notifications: %v", err)
	}
	var out []fulRow
	for rows.Next() {
		var r fulRow
		var data []byte
		if err := rows.Scan(&r.ID, &r.Channel, &r.To, &r.Template, &r.Status, &r.Attempts, &r.LastError, &data, &r.CreatedAt); err != nil {
			t.Fatalf("scan notifications: %v", err)
		}
		_ = json.Unmarshal(data, &r.Data)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read notifications: %v", err)
	}
	return out
}

// fulWhere keeps the rows whose data field key is val.
func fulWhere(rows []fulRow, key, val string) []fulRow {
	var out []fulRow
	for _, r := range rows {
		if fmt.Sprint(r.Data[key]) == val {
			out = append(out, r)
		}
	}
	return out
}

// fulWaitRows polls the notifications of template to recipient, filtered
// by data key = val when key is set, until cond holds.
func fulWaitRows(t *testing.T, c *pgx.Conn, template, recipient, key, val string, timeout time.Duration,
	what string, cond func([]fulRow) bool) []fulRow {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rows := fulRows(t, c, template, recipient)
		if key != "" {
			rows = fulWhere(rows, key, val)
		}
		if cond(rows) {
			return rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s notifications to %q (%s=%s) not %s within %s: %+v", template, recipient, key, val, what, timeout, rows)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fulOneSent is a condition of fulWaitRows: exactly one row, SENT.
func fulOneSent(rows []fulRow) bool { return len(rows) == 1 && rows[0].Status == "SENT" }

// ---------------------------------------------------------------- staff views

// fulNotification is a notification as the staff query shows it.
type fulNotification struct {
	ID        string
	Channel   string
	To        string
	Template  string
	Data      map[string]any
	Status    string
	Attempts  int
	LastError *string
	SentAt    *string
}

// fulStaffNotifications runs the staff notifications query.
func fulStaffNotifications(t *testing.T, s *e2eServer, staff, template, to string) (int, []fulNotification) {
	t.Helper()
	var out struct {
		Notifications struct {
			TotalCount int
			Edges      []struct{ Node fulNotification }
		}
	}
	s.gql(t, staff, `query($t: String, $to: String) { notifications(first: 100, template: $t, to: $to) {
		totalCount edges { node { id channel to template data status attempts lastError sentAt } } } }`,
		map[string]any{"t": template, "to": to}, &out)
	nodes := make([]fulNotification, len(out.Notifications.Edges))
	for i, e := range out.Notifications.Edges {
		nodes[i] = e.Node
	}
	return out.Notifications.TotalCount, nodes
}

// fulMails returns the messages to `to` whose subject is exactly subject.
func fulMails(t *testing.T, m *mailtest.Server, to, subject string) []mailtest.Summary {
	t.Helper()
	var out []mailtest.Summary
	for _, msg := range m.Messages(t) {
		if slices.Contains(msg.To, to) && msg.Subject == subject {
			out = append(out, msg)
		}
	}
	return out
}

// fulOneMail fails the test unless exactly one message to `to` has the
// subject, and returns it.
func fulOneMail(t *testing.T, m *mailtest.Server, to, subject string) mailtest.Full {
	t.Helper()
	msgs := fulMails(t, m, to, subject)
	if len(msgs) != 1 {
		t.Fatalf("%d emails to %s with subject %q, want exactly 1", len(msgs), to, subject)
	}
	return m.Message(t, msgs[0].ID)
}

// ---------------------------------------------------------------- tests

// TestFulFulfillmentOverHTTP: a paid order is shipped by staff, never by a
// customer; the shipping email reaches mailpit with the tracking number and
// the shipping SMS reaches a Twilio-shaped endpoint; the timeline shows
// FULFILLED; marking it delivered records deliveredAt; fulfilling twice, a
// cancelled or unpaid order, or an empty tracking number are userErrors
// that change nothing.
func TestFulFulfillmentOverHTTP(t *testing.T) {
	deps := startDeps(t, true)
	tw := fulStartTwilio(t, nil)
	srv := startServer(t, "ful-http", fulEnv(t, deps, tw, nil))
	staff := srv.staffLogin(t)
	conn := fulConnect(t)
	p := srv.createProduct(t, staff, "24.00", 20)
	email := buyerEmail()
	o := fulPaidOrder(t, srv, staff, p.ID, email, fulPhone)
	before := fulGetOrder(t, srv, staff, o.OrderNumber)
	if before.FulfillmentStatus != "UNFULFILLED" || before.TrackingNumber != nil || before.ShippedAt != nil {
		t.Fatalf("paid order before shipping: %s, tracking %v, shipped %v", before.FulfillmentStatus, before.TrackingNumber, before.ShippedAt)
	}

	unchanged := func(step string, was fulOrder) {
		t.Helper()
		now := fulGetOrder(t, srv, staff, was.OrderNumber)
		if now.Status != was.Status || now.PaymentStatus != was.PaymentStatus || now.FulfillmentStatus != was.FulfillmentStatus ||
			orNil(now.TrackingNumber) != orNil(was.TrackingNumber) || orNil(now.Carrier) != orNil(was.Carrier) ||
			orNil(now.TrackingURL) != orNil(was.TrackingURL) || orNil(now.ShippedAt) != orNil(was.ShippedAt) ||
			orNil(now.DeliveredAt) != orNil(was.DeliveredAt) || len(now.Events) != len(was.Events) {
			t.Errorf("%s changed order %s: %s/%s/%s tracking %s shipped %s events %v; was %s/%s/%s tracking %s shipped %s events %v",
				step, was.OrderNumber, now.Status, now.PaymentStatus, now.FulfillmentStatus, orNil(now.TrackingNumber), orNil(now.ShippedAt),
				now.eventTypes(), was.Status, was.PaymentStatus, was.FulfillmentStatus, orNil(was.TrackingNumber), orNil(was.ShippedAt), was.eventTypes())
		}
	}
	wantUserError := func(step string, p fulOrderPayload, r gqlResponse, field string) {
		t.Helper()
		if len(r.Errors) > 0 {
			t.Errorf("%s: GraphQL errors %+v, want a userError", step, r.Errors)
			return
		}
		if len(p.UserErrors) == 0 || p.Order != nil {
			t.Errorf("%s: userErrors %+v, order %v; want a userError and no order", step, p.UserErrors, p.Order != nil)
			return
		}
		if !slices.Contains(p.UserErrors[0].Field, field) {
			t.Errorf("%s: userError %+v, want it at %q", step, p.UserErrors[0], field)
		}
	}

	// A customer (or nobody) cannot ship or mark delivered.
	customer := fulCustomerToken(t, srv, buyerEmail(), false)
	for _, c := range []struct{ who, token, code string }{{"a customer", customer, "FORBIDDEN"}, {"anonymous", "", "UNAUTHENTICATED"}} {
		_, r := fulFulfill(t, srv, c.token, o.ID, "1Z-NOT-ALLOWED", "UPS")
		if !slices.Contains(r.codes(), c.code) {
			t.Errorf("orderFulfill by %s: errors %+v, want %s", c.who, r.Errors, c.code)
		}
		_, r = fulMarkDelivered(t, srv, c.token, o.ID)
		if !slices.Contains(r.codes(), c.code) {
			t.Errorf("orderMarkDelivered by %s: errors %+v, want %s", c.who, r.Errors, c.code)
		}
	}
	unchanged("orderFulfill by a customer", before)

	// An empty tracking number.
	for _, tracking := range []string{"", "   "} {
		res, r := fulFulfill(t, srv, staff, o.ID, tracking, "UPS")
		wantUserError(fmt.Sprintf("tracking number %q", tracking), res, r, "trackingNumber")
	}
	unchanged("an empty tracking number", before)

	// An unpaid order.
	unpaid := fulCheckout(t, srv, buyerEmail(), fulPhone, map[string]int{p.ID: 1})
	unpaidBefore := fulGetOrder(t, srv, staff, unpaid.OrderNumber)
	res, r := fulFulfill(t, srv, staff, unpaid.ID, "1Z-UNPAID", "UPS")
	wantUserError("fulfilling an unpaid order", res, r, "id")
	unchanged("fulfilling an unpaid order", unpaidBefore)

	// A paid order cancelled by staff.
	cancelled := fulPaidOrder(t, srv, staff, p.ID, buyerEmail(), fulPhone)
	var cancel struct{ OrderCancel fulOrderPayload }
	srv.gql(t, staff, `mutation($id: ID!) { orderCancel(id: $id, reason: "customer asked") { order { `+fulOrderFields+` } userErrors { field message code } } }`,
		map[string]any{"id": cancelled.ID}, &cancel)
	if cancel.OrderCancel.Order == nil || cancel.OrderCancel.Order.Status != "CANCELLED" {
		t.Fatalf("orderCancel: %+v", cancel.OrderCancel.UserErrors)
	}
	cancelledBefore := *cancel.OrderCancel.Order
	res, r = fulFulfill(t, srv, staff, cancelled.ID, "1Z-CANCELLED", "UPS")
	wantUserError("fulfilling a cancelled order", res, r, "id")
	unchanged("fulfilling a cancelled order", cancelledBefore)

	// Staff ship the paid order.
	const tracking = "1Z999AA10123456784"
	shipped := fulMustFulfill(t, srv, staff, o.ID, tracking, "UPS")
	if shipped.Status != "FULFILLED" || shipped.FulfillmentStatus != "FULFILLED" || shipped.PaymentStatus != "PAID" {
		t.Errorf("shipped order is %s/%s/%s, want FULFILLED/PAID/FULFILLED", shipped.Status, shipped.PaymentStatus, shipped.FulfillmentStatus)
	}
	if orNil(shipped.TrackingNumber) != tracking || orNil(shipped.Carrier) != "UPS" {
		t.Errorf("tracking %s carrier %s, want %s UPS", orNil(shipped.TrackingNumber), orNil(shipped.Carrier), tracking)
	}
	if want := "https://www.ups.com/track?tracknum=" + tracking; orNil(shipped.TrackingURL) != want {
		t.Errorf("trackingUrl %s, want %s", orNil(shipped.TrackingURL), want)
	}
	if shipped.ShippedAt == nil || shipped.DeliveredAt != nil {
		t.Errorf("shippedAt %s deliveredAt %s; want shippedAt set, deliveredAt null", orNil(shipped.ShippedAt), orNil(shipped.DeliveredAt))
	}
	if got := fulGetOrder(t, srv, staff, o.OrderNumber); got.eventCount("FULFILLED") != 1 || len(got.Events) != len(before.Events)+1 {
		t.Errorf("events after shipping %v, want those before %v and one FULFILLED", got.eventTypes(), before.eventTypes())
	} else if ev := got.Events[len(got.Events)-1]; ev.Type != "FULFILLED" || !strings.Contains(orNil(ev.Message), tracking) {
		t.Errorf("last event %s %q, want FULFILLED mentioning %s", ev.Type, orNil(ev.Message), tracking)
	}

	// The shipping email, with the tracking number.
	msg := waitForMail(t, deps.mail, email, 20*time.Second, "Order "+o.OrderNumber+" has shipped")
	full := deps.mail.Message(t, msg.ID)
	if !strings.Contains(full.Text, tracking) || !strings.Contains(full.HTML, tracking) {
		t.Errorf("shipping email does not show the tracking number %s:\n%s", tracking, full.Text)
	}
	if !strings.Contains(full.Text, "https://www.ups.com/track?tracknum="+tracking) {
		t.Errorf("shipping email does not link the tracking page:\n%s", full.Text)
	}

	// The shipping SMS, through the Twilio API.
	sms := tw.wait(t, fulPhoneE164, 1, 20*time.Second)
	got := sms[0]
	if got.Method != http.MethodPost || got.Path != "/2010-04-01/Accounts/"+fulTwilioSID+"/Messages.json" {
		t.Errorf("SMS request %s %s, want POST to the account's Messages.json", got.Method, got.Path)
	}
	if got.User != fulTwilioSID || got.Pass != fulTwilioToken {
		t.Errorf("SMS basic auth %q/%q, want the account SID and auth token", got.User, got.Pass)
	}
	if !strings.HasPrefix(got.ContentType, "application/x-www-form-urlencoded") || got.ParsedFormProblem != "" {
		t.Errorf("SMS content type %q (%s), want a form", got.ContentType, got.ParsedFormProblem)
	}
	if got.To != fulPhoneE164 || got.From != fulTwilioFrom {
		t.Errorf("SMS To %q From %q, want %s from %s", got.To, got.From, fulPhoneE164, fulTwilioFrom)
	}
	if !strings.Contains(got.Body, o.OrderNumber) || !strings.Contains(got.Body, tracking) {
		t.Errorf("SMS body %q does not name the order %s and tracking %s", got.Body, o.OrderNumber, tracking)
	}
	if got.Status != http.StatusCreated {
		t.Errorf("the fake answered %d to the SMS, want 201", got.Status)
	}
	smsRows := fulWaitRows(t, conn, "order-shipped-sms", "", "order_number", o.OrderNumber, 20*time.Second, "one SENT", fulOneSent)
	if smsRows[0].Channel != "SMS" || smsRows[0].Attempts != 1 {
		t.Errorf("SMS notification %+v, want channel SMS after 1 attempt", smsRows[0])
	}
	total, nodes := fulStaffNotifications(t, srv, staff, "order-shipped-sms", smsRows[0].To)
	if total != 1 || len(nodes) != 1 || nodes[0].Status != "SENT" || nodes[0].Attempts != 1 || nodes[0].LastError != nil ||
		nodes[0].Channel != "SMS" || fmt.Sprint(nodes[0].Data["order_number"]) != o.OrderNumber {
		t.Errorf("staff notifications(order-shipped-sms, %s): %d %+v; want one SENT SMS of %s after 1 attempt", smsRows[0].To, total, nodes, o.OrderNumber)
	}

	// The delivery follow-up is scheduled DELIVERY_FOLLOWUP_DELAY (72h) out.
	if jobs := fulJobs(t, conn, "delivery-confirmation", "order_id", o.ID); len(jobs) != 1 || jobs[0].State != "scheduled" ||
		time.Until(jobs[0].ScheduledAt) < 71*time.Hour || time.Until(jobs[0].ScheduledAt) > 73*time.Hour {
		t.Errorf("delivery-confirmation jobs %+v, want one scheduled in 72h", jobs)
	}

	// Fulfilling again changes nothing and sends nothing more.
	again := fulGetOrder(t, srv, staff, o.OrderNumber)
	res, r = fulFulfill(t, srv, staff, o.ID, "1Z-SECOND-TIME", "FedEx")
	wantUserError("fulfilling twice", res, r, "id")
	unchanged("fulfilling twice", again)
	if n := len(fulWhere(fulRows(t, conn, "order-shipped-sms", ""), "order_number", o.OrderNumber)); n != 1 {
		t.Errorf("%d order-shipped-sms rows for %s after fulfilling twice, want 1", n, o.OrderNumber)
	}
	if n := len(fulRows(t, conn, "order-shipped", email)); n != 1 {
		t.Errorf("%d order-shipped rows to %s after fulfilling twice, want 1", n, email)
	}
	if jobs := fulJobs(t, conn, "delivery-confirmation", "order_id", o.ID); len(jobs) != 1 {
		t.Errorf("%d delivery-confirmation jobs after fulfilling twice, want 1", len(jobs))
	}

	// Delivered.
	dp, r := fulMarkDelivered(t, srv, staff, o.ID)
	if len(r.Errors) > 0 || dp.Order == nil || len(dp.UserErrors) > 0 {
		t.Fatalf("orderMarkDelivered: errors %+v userErrors %+v", r.Errors, dp.UserErrors)
	}
	d := *dp.Order
	if d.FulfillmentStatus != "DELIVERED" || d.DeliveredAt == nil || orNil(d.TrackingNumber) != tracking || d.eventCount("DELIVERED") != 1 {
		t.Errorf("delivered order: %s deliveredAt %s tracking %s events %v; want DELIVERED with deliveredAt and one DELIVERED event",
			d.FulfillmentStatus, orNil(d.DeliveredAt), orNil(d.TrackingNumber), d.eventTypes())
	}
	if sa, da := fulParseTime(t, orNil(d.ShippedAt)), fulParseTime(t, orNil(d.DeliveredAt)); da.Before(sa) {
		t.Errorf("deliveredAt %s is before shippedAt %s", da, sa)
	}
	dp, r = fulMarkDelivered(t, srv, staff, o.ID)
	wantUserError("marking delivered twice", dp, r, "id")
	unchanged("marking delivered twice", d)
	dp, r = fulMarkDelivered(t, srv, staff, unpaid.ID)
	wantUserError("marking an unshipped order delivered", dp, r, "id")
	unchanged("marking an unshipped order delivered", unpaidBefore)
}

func fulParseTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return v
}

// TestFulScheduledJobs runs every delayed job with delays of seconds in one
// server: the fulfilment reminder (sent for an unfulfilled order, not for a
// shipped one), the abandoned-cart reminder (sent for an abandoned cart;
// not for a checked-out cart, by the stale job of a changed cart, to a
// customer without opt-in, or after an unsubscribe), the review request and
// the delivery confirmation (once each).
func TestFulScheduledJobs(t *testing.T) {
	deps := startDeps(t, true)
	warehouse := "warehouse-" + randHex(5) + "@example.com"
	const storefront = "https://shop.example.com"
	srv := startServer(t, "ful-jobs", fulEnv(t, deps, nil, map[string]string{
		"FULFILLMENT_REMINDER_DELAY": "2s",
		"REVIEW_REQUEST_DELAY":       "3s",
		"DELIVERY_FOLLOWUP_DELAY":    "2s",
		"ABANDONED_CART_DELAY":       "2s",
		"WAREHOUSE_EMAIL":            warehouse,
		"STOREFRONT_URL":             storefront,
	}))
	staff := srv.staffLogin(t)
	conn := fulConnect(t)
	p := srv.createProduct(t, staff, "30.00", 200)
	const wait = 30 * time.Second

	// Order R stays unfulfilled; order F ships right after payment, before
	// its reminder is due. Both buyers are customers who opted in to
	// marketing email, so both get the review request.
	emailR, emailF := buyerEmail(), buyerEmail()
	fulCustomerToken(t, srv, emailR, true)
	fulCustomerToken(t, srv, emailF, true)
	r := fulPaidOrder(t, srv, staff, p.ID, emailR, "")
	f := fulPaidOrder(t, srv, staff, p.ID, emailF, "")
	fulMustFulfill(t, srv, staff, f.ID, "9400111899223100000001", "USPS")
	var early bool
	if err := conn.QueryRow(context.Background(), `SELECT bool_and(scheduled_at > now()) FROM river_job
		WHERE kind = 'fulfillment-reminder' AND args->>'order_id' = $1`, f.ID).Scan(&early); err != nil || !early {
		t.Fatalf("order %s was not shipped before its fulfillment reminder was due (%v); the test machine is too slow for 2s delays", f.OrderNumber, err)
	}

	// Carts: A is abandoned; C is checked out (by another address, so only
	// the checkout stops the reminder); X changes after its first job was
	// scheduled; K belongs to a customer who did not opt in.
	emailA, emailC, emailX, emailK := buyerEmail(), buyerEmail(), buyerEmail(), buyerEmail()
	a := fulCreateCart(t, srv, emailA, map[string]int{p.ID: 2})
	c := fulCreateCart(t, srv, emailC, map[string]int{p.ID: 1})
	var co struct{ Checkout checkoutResult }
	srv.gql(t, "", checkoutMutation, map[string]any{"input": map[string]any{
		"cartId": c.ID, "email": buyerEmail(), "shippingAddress": shippingAddress(), "idempotencyKey": "ful-cart-" + randHex(8),
	}}, &co)
	if co.Checkout.Order == nil || len(co.Checkout.UserErrors) > 0 {
		t.Fatalf("checkout of cart C: %+v", co.Checkout.UserErrors)
	}
	x := fulCreateCart(t, srv, emailX, map[string]int{p.ID: 1})
	var added struct {
		CartLinesAdd struct {
			Cart       *fulCart
			UserErrors []userError
		}
	}
	srv.gql(t, "", `mutation($c: ID!, $l: [CartLineInput!]!) { cartLinesAdd(cartId: $c, lines: $l) {
		cart { `+fulCartFields+` } userErrors { field message code } } }`,
		map[string]any{"c": x.ID, "l": []any{map[string]any{"productId": p.ID, "quantity": 2}}}, &added)
	if added.CartLinesAdd.Cart == nil || len(added.CartLinesAdd.Cart.Lines) != 1 || added.CartLinesAdd.Cart.Lines[0].Quantity != 3 {
		t.Fatalf("cartLinesAdd on cart X: %+v %+v", added.CartLinesAdd.Cart, added.CartLinesAdd.UserErrors)
	}
	// Cart X has two jobs, one per version. Park the later one an hour
	// out, so that the earlier one runs alone and any row it wrote is its
	// own.
	xJobs := fulJobs(t, conn, "abandoned-cart", "cart_id", x.ID)
	if len(xJobs) != 2 {
		t.Fatalf("cart X has %d abandoned-cart jobs after a change, want 2: %+v", len(xJobs), xJobs)
	}
	tag, err := conn.Exec(context.Background(), `UPDATE river_job SET scheduled_at = now() + interval '1 hour'
		WHERE id = $1 AND state = 'scheduled'`, xJobs[1].ID)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("park the second job of cart X: %v (%d rows); the test machine is too slow for 2s delays", err, tag.RowsAffected())
	}
	fulCustomerToken(t, srv, emailK, false)
	k := fulCreateCartWith(t, srv, emailK, map[string]int{p.ID: 1}, false)

	// The fulfilment reminder: sent for R, to the warehouse, once.
	fulWantCompleted(t, "fulfillment-reminder of R", fulWaitJobs(t, conn, "fulfillment-reminder", "order_id", r.ID, 1, wait), 1)
	fulWaitRows(t, conn, "fulfillment-reminder", warehouse, "order_id", r.ID, wait, "one SENT", fulOneSent)
	reminder := fulOneMail(t, deps.mail, warehouse, "Reminder: order "+r.OrderNumber+" is waiting to ship")
	if !strings.Contains(reminder.Text, r.OrderNumber) {
		t.Errorf("reminder text does not name %s:\n%s", r.OrderNumber, reminder.Text)
	}
	// ... and not for F: its job ran and wrote nothing.
	fulWantCompleted(t, "fulfillment-reminder of F", fulWaitJobs(t, conn, "fulfillment-reminder", "order_id", f.ID, 1, wait), 1)
	if rows := fulWhere(fulRows(t, conn, "fulfillment-reminder", ""), "order_id", f.ID); len(rows) != 0 {
		t.Errorf("fulfillment reminder written for the shipped order %s: %+v", f.OrderNumber, rows)
	}
	// Counted by order: this server also works reminders left due by
	// earlier tests' servers in the shared database, and addresses them to
	// its own warehouse.
	_, nodes := fulStaffNotifications(t, srv, staff, "fulfillment-reminder", warehouse)
	perOrder := map[string]int{}
	for _, n := range nodes {
		perOrder[fmt.Sprint(n.Data["order_number"])]++
	}
	if perOrder[r.OrderNumber] != 1 || perOrder[f.OrderNumber] != 0 {
		t.Errorf("staff notifications(fulfillment-reminder, %s): %+v; want one for %s and none for %s",
			warehouse, nodes, r.OrderNumber, f.OrderNumber)
	}

	// The abandoned cart A: one reminder with a recovery link and a
	// one-click unsubscribe.
	fulWantCompleted(t, "abandoned-cart of A", fulWaitJobs(t, conn, "abandoned-cart", "cart_id", a.ID, 1, wait), 1)
	aRows := fulWaitRows(t, conn, "abandoned-cart", emailA, "", "", wait, "one SENT", fulOneSent)
	if want := storefront + "/cart/" + a.ID; fmt.Sprint(aRows[0].Data["cart_url"]) != want {
		t.Errorf("abandoned-cart data %v, want cart_url %s", aRows[0].Data, want)
	}
	mailA := fulOneMail(t, deps.mail, emailA, "You left something in your cart")
	if !strings.Contains(mailA.Text, storefront+"/cart/"+a.ID) {
		t.Errorf("abandoned-cart email has no recovery link:\n%s", mailA.Text)
	}
	if got := mailA.Header("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post %q, want List-Unsubscribe=One-Click", got)
	}
	link := strings.Trim(mailA.Header("List-Unsubscribe"), "<> ")
	lu, err := url.Parse(link)
	if err != nil || lu.Path != "/unsubscribe" || lu.Query().Get("token") == "" {
		t.Fatalf("List-Unsubscribe %q is not an /unsubscribe?token= link (%v)", mailA.Header("List-Unsubscribe"), err)
	}
	token := lu.Query().Get("token")
	if want := notify.UnsubscribeToken([]byte(e2eAuthSecret), emailA); token != want {
		t.Errorf("unsubscribe token %q, want notify.UnsubscribeToken of %s %q", token, emailA, want)
	}

	// C was checked out, K's customer did not opt in: both jobs ran and
	// wrote nothing.
	fulWantCompleted(t, "abandoned-cart of the checked-out cart C", fulWaitJobs(t, conn, "abandoned-cart", "cart_id", c.ID, 1, wait), 1)
	if rows := fulRows(t, conn, "abandoned-cart", emailC); len(rows) != 0 {
		t.Errorf("abandoned-cart reminder written for a checked-out cart: %+v", rows)
	}
	fulWantCompleted(t, "abandoned-cart of K", fulWaitJobs(t, conn, "abandoned-cart", "cart_id", k.ID, 1, wait), 1)
	if rows := fulRows(t, conn, "abandoned-cart", emailK); len(rows) != 0 {
		t.Errorf("abandoned-cart reminder written to a customer without marketing opt-in: %+v", rows)
	}

	// X: the job of the first version ran alone and wrote nothing ...
	deadline := time.Now().Add(wait)
	for {
		jobs := fulJobs(t, conn, "abandoned-cart", "cart_id", x.ID)
		if fulFinal(jobs[0].State) {
			if jobs[0].State != "completed" || jobs[1].State != "scheduled" {
				t.Fatalf("cart X jobs %+v, want the first completed and the second still parked", jobs)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first abandoned-cart job of cart X did not finish within %s: %+v", wait, jobs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rows := fulRows(t, conn, "abandoned-cart", emailX); len(rows) != 0 {
		t.Errorf("the stale job of the changed cart X wrote a reminder: %+v", rows)
	}
	// ... and the job of the current version sends once.
	if _, err := conn.Exec(context.Background(), `UPDATE river_job SET scheduled_at = now() WHERE id = $1 AND state = 'scheduled'`, xJobs[1].ID); err != nil {
		t.Fatal(err)
	}
	fulWantCompleted(t, "abandoned-cart of X", fulWaitJobs(t, conn, "abandoned-cart", "cart_id", x.ID, 2, wait), 2)
	xRows := fulWaitRows(t, conn, "abandoned-cart", emailX, "", "", wait, "one SENT", fulOneSent)
	if lines, _ := xRows[0].Data["lines"].([]any); len(lines) != 1 || fmt.Sprint(lines[0].(map[string]any)["quantity"]) != "3" {
		t.Errorf("reminder of cart X shows lines %v, want the changed cart (quantity 3)", xRows[0].Data["lines"])
	}
	fulOneMail(t, deps.mail, emailX, "You left something in your cart")

	// The unsubscribe link: POST, as the button and RFC 8058 clients do.
	res, err := srv.http.Post(srv.base+"/unsubscribe?token="+url.QueryEscape(token), "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(page), "You are unsubscribed") {
		t.Fatalf("POST /unsubscribe: %d\n%s", res.StatusCode, page)
	}
	// A new abandoned cart of that address: the job runs, nothing is written.
	u := fulCreateCart(t, srv, emailA, map[string]int{p.ID: 4})
	fulWantCompleted(t, "abandoned-cart after unsubscribe", fulWaitJobs(t, conn, "abandoned-cart", "cart_id", u.ID, 1, wait), 1)
	if rows := fulRows(t, conn, "abandoned-cart", emailA); len(rows) != 1 || fmt.Sprint(rows[0].Data["cart_url"]) != storefront+"/cart/"+a.ID {
		t.Errorf("abandoned-cart rows to %s after the unsubscribe: %+v; want only the one of cart A", emailA, rows)
	}
	if total, _ := fulStaffNotifications(t, srv, staff, "abandoned-cart", emailA); total != 1 {
		t.Errorf("staff notifications(abandoned-cart, %s): %d, want 1", emailA, total)
	}

	// The review requests (both orders) and F's delivery confirmation go
	// out once each.
	for _, o := range []struct {
		order e2eOrder
		email string
	}{{r, emailR}, {f, emailF}} {
		fulWantCompleted(t, "review-request of "+o.order.OrderNumber, fulWaitJobs(t, conn, "review-request", "order_id", o.order.ID, 1, wait), 1)
		fulWaitRows(t, conn, "review-request", o.email, "order_number", o.order.OrderNumber, wait, "one SENT", fulOneSent)
		if n := len(fulRows(t, conn, "review-request", o.email)); n != 1 {
			t.Errorf("%d review-request rows to %s, want 1", n, o.email)
		}
		fulOneMail(t, deps.mail, o.email, "How was your order "+o.order.OrderNumber+"?")
	}
	fulWantCompleted(t, "delivery-confirmation of F", fulWaitJobs(t, conn, "delivery-confirmation", "order_id", f.ID, 1, wait), 1)
	fulWaitRows(t, conn, "delivery-confirmation", emailF, "order_number", f.OrderNumber, wait, "one SENT", fulOneSent)
	fulOneMail(t, deps.mail, emailF, "Has order "+f.OrderNumber+" arrived?")
	if jobs := fulJobs(t, conn, "delivery-confirmation", "order_id", r.ID); len(jobs) != 0 {
		t.Errorf("delivery-confirmation jobs for the unshipped order %s: %+v", r.OrderNumber, jobs)
	}
}

// fulReportZone is a store time zone whose date today differs from UTC's,
// so the report of this test cannot collide with the one-a-day report of
// another test that keeps the default zone.
func fulReportZone() string {
	if time.Now().UTC().Hour() >= 10 {
		return "Pacific/Kiritimati" // UTC+14: already tomorrow
	}
	return "Etc/GMT+12" // UTC−12: still yesterday
}

// TestFulTwoServers runs two servers against one database and one Redis:
// every scheduled job (fulfilment reminders, abandoned carts) and the
// periodic daily inventory report run exactly once, one notification row
// and one email each.
func TestFulTwoServers(t *testing.T) {
	deps := startDeps(t, true)
	zone := fulReportZone()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	warehouse := "warehouse-" + randHex(5) + "@example.com"
	stock := "stock-" + randHex(5) + "@example.com"
	env := fulEnv(t, deps, nil, map[string]string{
		"FULFILLMENT_REMINDER_DELAY": "2s",
		"ABANDONED_CART_DELAY":       "2s",
		"WAREHOUSE_EMAIL":            warehouse,
		"LOW_STOCK_EMAIL":            stock,
		"DAILY_REPORT_CRON":          "* * * * *",
		"STORE_TIMEZONE":             zone,
		"REDIS_URL":                  dbtest.RedisURL(),
		"REDIS_PREFIX":               dbtest.RedisPrefix(),
	})
	conn := fulConnect(t)
	today := time.Now().In(loc).Format(time.DateOnly)
	if jobs := fulJobs(t, conn, "daily-inventory-report", "date", today); len(jobs) > 0 {
		t.Fatalf("the package database already has a daily-inventory-report job for %s (%s): %+v", today, zone, jobs)
	}

	booted := time.Now()
	a := startServer(t, "ful-replica-a", env)
	b := startServer(t, "ful-replica-b", env)
	started := time.Now()
	staffA, staffB := a.staffLogin(t), b.staffLogin(t)
	low := a.createProductWithThreshold(t, staffA, "5.00", 3, 10)
	p := b.createProduct(t, staffB, "20.00", 100)

	// Three paid, unfulfilled orders (placed on A, paid through B) and
	// three abandoned carts (alternating servers).
	var orders []e2eOrder
	for range 3 {
		o := fulCheckout(t, a, buyerEmail(), "", map[string]int{p.ID: 1})
		fulPay(t, b, staffB, o)
		orders = append(orders, o)
	}
	type cart struct{ id, email string }
	var carts []cart
	for i := range 3 {
		s := []*e2eServer{a, b}[i%2]
		email := buyerEmail()
		carts = append(carts, cart{fulCreateCart(t, s, email, map[string]int{p.ID: i + 1}).ID, email})
	}

	const wait = 40 * time.Second
	workedBy := map[string]int{}
	for _, o := range orders {
		jobs := fulWaitJobs(t, conn, "fulfillment-reminder", "order_id", o.ID, 1, wait)
		fulWantCompleted(t, "fulfillment-reminder of "+o.OrderNumber, jobs, 1)
		for _, j := range jobs {
			workedBy[strings.Join(j.AttemptedBy, ",")]++
		}
		fulWaitRows(t, conn, "fulfillment-reminder", warehouse, "order_id", o.ID, wait, "one SENT", fulOneSent)
		fulOneMail(t, deps.mail, warehouse, "Reminder: order "+o.OrderNumber+" is waiting to ship")
	}
	if total, _ := fulStaffNotifications(t, b, staffB, "fulfillment-reminder", warehouse); total != len(orders) {
		t.Errorf("staff notifications(fulfillment-reminder, %s): %d, want %d", warehouse, total, len(orders))
	}
	for _, c := range carts {
		jobs := fulWaitJobs(t, conn, "abandoned-cart", "cart_id", c.id, 1, wait)
		fulWantCompleted(t, "abandoned-cart of "+c.id, jobs, 1)
		for _, j := range jobs {
			workedBy[strings.Join(j.AttemptedBy, ",")]++
		}
		fulWaitRows(t, conn, "abandoned-cart", c.email, "", "", wait, "one SENT", fulOneSent)
		fulOneMail(t, deps.mail, c.email, "You left something in your cart")
	}
	t.Logf("scheduled jobs worked by River clients: %v", workedBy)

	// The daily report: cron every minute, so the first minute boundary
	// after one of these servers became River's leader fires it. The
	// election can wait out the lease of a server an earlier test killed,
	// and River plans the first run from the moment of its election.
	elected := fulWaitLeader(t, conn, booted, wait)
	deadline := elected.Truncate(time.Minute).Add(time.Minute + 15*time.Second)
	var report []fulRow
	for {
		report = fulRows(t, conn, "daily-inventory-report", stock)
		if len(report) > 0 && report[0].Status == "SENT" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SENT daily-inventory-report to %s by %s (started %s): %+v", stock, deadline.Format(time.TimeOnly), started.Format(time.TimeOnly), report)
		}
		time.Sleep(200 * time.Millisecond)
	}
	date := fmt.Sprint(report[0].Data["date"])
	if date != today && date != time.Now().In(loc).Format(time.DateOnly) {
		t.Errorf("report date %s, want the date in %s (%s)", date, zone, today)
	}
	jobs := fulWaitJobs(t, conn, "daily-inventory-report", "date", date, 1, wait)
	fulWantCompleted(t, "daily-inventory-report of "+date, jobs, 1)
	if len(report) != 1 {
		t.Errorf("%d daily-inventory-report rows to %s, want 1: %+v", len(report), stock, report)
	}
	var skus []string
	list, _ := report[0].Data["low_stock_products"].([]any)
	for _, it := range list {
		if m, ok := it.(map[string]any); ok {
			skus = append(skus, fmt.Sprint(m["sku"]))
		}
	}
	if !slices.Contains(skus, low.SKU) || slices.Contains(skus, p.SKU) {
		t.Errorf("report lists %v; want %s (3 of threshold 10) and not %s", skus, low.SKU, p.SKU)
	}
	count, _ := strconv.Atoi(fmt.Sprint(report[0].Data["low_stock_count"]))
	mail := fulOneMail(t, deps.mail, stock, fmt.Sprintf("Inventory report %s: %d low on stock", date, count))
	if !strings.Contains(mail.Text, low.SKU) {
		t.Errorf("report email does not list %s:\n%s", low.SKU, mail.Text)
	}
}

// TestFulSMSRetries: with NOTIFY_RETRY_BASE=100ms a provider answering 500
// three times then 201 gets the SMS sent once, after 4 attempts with
// doubling gaps; one answering 400 fails it at once with Twilio's error
// text, and the order stays shipped.
func TestFulSMSRetries(t *testing.T) {
	const (
		flakyPhone = "+1 (202) 555-0142"
		flakyE164  = "+12025550142"
		badPhone   = "+1 202 555 0187"
		badE164    = "+12025550187"
	)
	deps := startDeps(t, true)
	tw := fulStartTwilio(t, map[string][]int{
		flakyE164: {500, 500, 500},
		badE164:   {400, 400, 400, 400, 400, 400, 400, 400},
	})
	srv := startServer(t, "ful-retries", fulEnv(t, deps, tw, map[string]string{
		"NOTIFY_RETRY_BASE":   "100ms",
		"NOTIFY_MAX_ATTEMPTS": "6",
	}))
	staff := srv.staffLogin(t)
	conn := fulConnect(t)
	p := srv.createProduct(t, staff, "11.00", 20)

	// 500, 500, 500, 201.
	flaky := fulPaidOrder(t, srv, staff, p.ID, buyerEmail(), flakyPhone)
	fulMustFulfill(t, srv, staff, flaky.ID, "1ZFLAKY0001", "UPS")
	rows := fulWaitRows(t, conn, "order-shipped-sms", "", "order_number", flaky.OrderNumber, 60*time.Second, "one SENT", fulOneSent)
	if rows[0].Attempts != 4 || rows[0].LastError != nil {
		t.Errorf("SMS after 500, 500, 500, 201: attempts %d, lastError %q; want 4 and none", rows[0].Attempts, orNil(rows[0].LastError))
	}
	reqs := tw.requests(flakyE164)
	if len(reqs) != 4 {
		t.Fatalf("%d requests reached Twilio for %s, want 4: %+v", len(reqs), flakyE164, reqs)
	}
	for i, want := range []int{500, 500, 500, 201} {
		if reqs[i].Status != want || reqs[i].Body != reqs[0].Body || reqs[i].From != fulTwilioFrom {
			t.Errorf("request %d: answered %d (want %d), body %q, from %q", i+1, reqs[i].Status, want, reqs[i].Body, reqs[i].From)
		}
	}
	for i, min := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		if gap := reqs[i+1].At.Sub(reqs[i].At); gap < min-10*time.Millisecond {
			t.Errorf("gap before attempt %d: %s, want at least %s (NOTIFY_RETRY_BASE doubling)", i+2, gap, min)
		}
	}
	if jobs := fulWaitJobs(t, conn, "notify-deliver", "notification_id", rows[0].ID, 1, 10*time.Second); len(jobs) != 1 ||
		jobs[0].State != "completed" || jobs[0].Attempt != 4 {
		t.Errorf("delivery job of the retried SMS: %+v, want one completed at attempt 4", jobs)
	}
	if total, nodes := fulStaffNotifications(t, srv, staff, "order-shipped-sms", rows[0].To); total != 1 || len(nodes) != 1 ||
		nodes[0].Status != "SENT" || nodes[0].Attempts != 4 || nodes[0].SentAt == nil {
		t.Errorf("staff notifications(order-shipped-sms, %s): %d %+v; want one SENT after 4 attempts", rows[0].To, total, nodes)
	}

	// 400: final at once.
	bad := fulPaidOrder(t, srv, staff, p.ID, buyerEmail(), badPhone)
	shipped := fulMustFulfill(t, srv, staff, bad.ID, "1ZBAD0001", "UPS")
	rows = fulWaitRows(t, conn, "order-shipped-sms", "", "order_number", bad.OrderNumber, 30*time.Second, "FAILED",
		func(rs []fulRow) bool { return len(rs) == 1 && rs[0].Status == "FAILED" })
	total, nodes := fulStaffNotifications(t, srv, staff, "order-shipped-sms", rows[0].To)
	if total != 1 || len(nodes) != 1 {
		t.Fatalf("staff notifications(order-shipped-sms, %s): %d %+v, want 1", rows[0].To, total, nodes)
	}
	n := nodes[0]
	if n.Status != "FAILED" || n.Attempts != 1 || n.SentAt != nil {
		t.Errorf("SMS answered 400: %s after %d attempts, sentAt %s; want FAILED after 1", n.Status, n.Attempts, orNil(n.SentAt))
	}
	if le := orNil(n.LastError); !strings.Contains(le, "is not a valid phone number") || !strings.Contains(le, "21211") || !strings.Contains(le, "400") {
		t.Errorf("lastError %q, want Twilio's message, code 21211 and status 400", le)
	}
	// The delivery job is finished for good (cancelled, as River's
	// JobCancel leaves it), so the single request is all there will be.
	smsJobs := fulWaitJobs(t, conn, "notify-deliver", "notification_id", n.ID, 1, 10*time.Second)
	if len(smsJobs) != 1 || smsJobs[0].State != "cancelled" || smsJobs[0].Attempt != 1 {
		t.Errorf("delivery job of the failed SMS: %+v, want one cancelled after 1 attempt", smsJobs)
	}
	if got := tw.requests(badE164); len(got) != 1 {
		t.Errorf("%d requests reached Twilio for %s, want 1", len(got), badE164)
	}
	after := fulGetOrder(t, srv, staff, bad.OrderNumber)
	if after.Status != "FULFILLED" || after.FulfillmentStatus != "FULFILLED" || after.PaymentStatus != "PAID" ||
		orNil(after.TrackingNumber) != "1ZBAD0001" || len(after.Events) != len(shipped.Events) {
		t.Errorf("order after the failed SMS: %s/%s/%s tracking %s events %v; want it as shipped (%v)",
			after.Status, after.PaymentStatus, after.FulfillmentStatus, orNil(after.TrackingNumber), after.eventTypes(), shipped.eventTypes())
	}
	waitForMail(t, deps.mail, bad.Email, 20*time.Second, "Order "+bad.OrderNumber+" has shipped")
}
