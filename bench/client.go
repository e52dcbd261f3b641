package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

// client speaks GraphQL over HTTP to the service and posts signed Stripe
// webhooks to it. With several replicas (-replicas) it sends each request
// to the next one in turn, as a round-robin load balancer would: a
// checkout's cart, checkout, webhook and status polls land on different
// processes, which is what a stateless service must survive.
type client struct {
	hc            *http.Client
	bases         []string
	next          *atomic.Uint64
	staffToken    string
	webhookSecret string
	// forwardedFor is the shopper's address this client presents through
	// X-Forwarded-For (the service trusts the loopback proxy); "" sends none.
	forwardedFor string
}

func newClient(bases []string, conns int, webhookSecret string) *client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		MaxConnsPerHost:     0,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &client{hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}, bases: bases, next: new(atomic.Uint64), webhookSecret: webhookSecret}
}

// base is the replica of the next request.
func (c *client) base() string {
	if len(c.bases) == 1 {
		return c.bases[0]
	}
	return c.bases[(c.next.Add(1)-1)%uint64(len(c.bases))]
}

// pinned is a client that sends every request to replica i (from 0),
// sharing the connections and the staff session.
func (c *client) pinned(i int) *client {
	p := *c
	p.bases = c.bases[i : i+1]
	return &p
}

// shopper is a client that presents shopper i's own address (10.x.y.z),
// as shoppers behind a load balancer do. Without it every simulated
// shopper is one client address, and the service's per-address bound on
// unpaid units (MAX_UNPAID_UNITS) makes its checkouts wait on one lock, one
// after another: a load no shop with many customers sees.
func (c *client) shopper(i int) *client {
	s := *c
	s.forwardedFor = fmt.Sprintf("10.%d.%d.%d", (i>>16)&0xff, (i>>8)&0xff, i&0xff)
	return &s
}

// httpError is a non-200 answer; status ≥ 500 fails the flash sale.
type httpError struct {
	Status int
	Body   string
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body) }

// gqlError is a GraphQL error (extensions.code).
type gqlError struct{ Code, Message string }

func (e *gqlError) Error() string { return "graphql " + e.Code + ": " + e.Message }

// userError is a payload's userErrors[0], returned as an error by calls
// that expect none.
type userError struct{ Code, Message string }

func (e *userError) Error() string { return "userError " + e.Code + ": " + e.Message }

type userErrors []struct {
	Field   []string `json:"field"`
	Message string   `json:"message"`
	Code    string   `json:"code"`
}

func (u userErrors) err() error {
	if len(u) == 0 {
		return nil
	}
	return &userError{Code: u[0].Code, Message: u[0].Message}
}

// errKind classifies an error for the report.
func errKind(err error) string {
	if he, ok := errors.AsType[*httpError](err); ok {
		if he.Status >= 500 {
			return "5xx"
		}
		return "http-" + strconv.Itoa(he.Status)
	}
	if ge, ok := errors.AsType[*gqlError](err); ok {
		return "gql-" + ge.Code
	}
	if ue, ok := errors.AsType[*userError](err); ok {
		return "user-" + ue.Code
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return "timeout"
	}
	return "transport"
}

func is5xx(err error) bool {
	he, ok := errors.AsType[*httpError](err)
	if ok && he.Status >= 500 {
		return true
	}
	ge, ok := errors.AsType[*gqlError](err)
	return ok && ge.Code == "INTERNAL"
}

type gqlRequest struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables,omitempty"`
}

// gqlResponse is a GraphQL response as the bench reads it.
type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string `json:"message"`
		Extensions struct {
			Code string `json:"code"`
		} `json:"extensions"`
	} `json:"errors"`
}

func (r gqlResponse) firstError() *gqlError {
	return &gqlError{Code: r.Errors[0].Extensions.Code, Message: r.Errors[0].Message}
}

// do runs one GraphQL operation and decodes data into out.
func (c *client) do(ctx context.Context, token, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(gqlRequest{Query: query, Variables: vars})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base()+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if c.forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", c.forwardedFor)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env gqlResponse
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode < 500 && json.Unmarshal(b, &env) == nil && len(env.Errors) > 0 {
			return env.firstError()
		}
		return &httpError{Status: resp.StatusCode, Body: truncate(string(b), 200)}
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	if len(env.Errors) > 0 {
		return env.firstError()
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return fmt.Errorf("decode data: %w", err)
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// staffLogin signs in the admin created from ADMIN_EMAIL/ADMIN_PASSWORD.
func (c *client) staffLogin(ctx context.Context, email, password string) error {
	var out struct {
		StaffLogin struct {
			Token      *string    `json:"token"`
			UserErrors userErrors `json:"userErrors"`
		} `json:"staffLogin"`
	}
	err := c.do(ctx, "", `mutation($e:String!,$p:String!){ staffLogin(email:$e,password:$p){ token userErrors{ field message code } } }`,
		map[string]any{"e": email, "p": password}, &out)
	if err != nil {
		return err
	}
	if err := out.StaffLogin.UserErrors.err(); err != nil {
		return err
	}
	if out.StaffLogin.Token == nil {
		return errors.New("staffLogin: no token")
	}
	c.staffToken = *out.StaffLogin.Token
	return nil
}

// placedOrder is what the bench keeps of a checkout.
type placedOrder struct {
	ID, Number, IntentID string
	Amount               int64 // minor units
	Currency             string
}

const orderFields = `id orderNumber total{ amount currencyCode } stripePaymentIntentId`

type orderJSON struct {
	ID     string `json:"id"`
	Number string `json:"orderNumber"`
	Total  struct {
		Amount   string `json:"amount"`
		Currency string `json:"currencyCode"`
	} `json:"total"`
	IntentID      *string `json:"stripePaymentIntentId"`
	PaymentStatus string  `json:"paymentStatus"`
}

func (o orderJSON) placed() (*placedOrder, error) {
	amt, err := minorUnits(o.Total.Amount)
	if err != nil {
		return nil, err
	}
	p := &placedOrder{ID: o.ID, Number: o.Number, Amount: amt, Currency: o.Total.Currency}
	if o.IntentID != nil {
		p.IntentID = *o.IntentID
	}
	return p, nil
}

// minorUnits parses "12.34" into 1234 (two-digit currencies, as the seeded
// USD catalog).
func minorUnits(s string) (int64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	for len(frac) < 2 {
		frac += "0"
	}
	return strconv.ParseInt(whole+frac[:2], 10, 64)
}

var shipping = map[string]any{
	"firstName": "Bench", "lastName": "Shopper", "line1": "1 Load Street", "city": "Springfield",
	"postalCode": "12345", "countryCode": "US",
}

const checkoutMutation = `mutation($in: CheckoutInput!){ checkout(input:$in){ order{ ` + orderFields + ` } userErrors{ field message code } } }`

// checkout places an order for a cart (cartID) or for lines directly. It
// is sent with the staff token so that the answer carries the order's
// payment intent id, which the signed webhook must name.
func (c *client) checkout(ctx context.Context, cartID string, lines []map[string]any, email string) (*placedOrder, error) {
	in := map[string]any{"email": email, "shippingAddress": shipping, "idempotencyKey": "bench-" + rand.Text()}
	if cartID != "" {
		in["cartId"] = cartID
	} else {
		in["lines"] = lines
	}
	var out struct {
		Checkout struct {
			Order      *orderJSON `json:"order"`
			UserErrors userErrors `json:"userErrors"`
		} `json:"checkout"`
	}
	if err := c.do(ctx, c.staffToken, checkoutMutation, map[string]any{"in": in}, &out); err != nil {
		return nil, err
	}
	if err := out.Checkout.UserErrors.err(); err != nil {
		return nil, err
	}
	if out.Checkout.Order == nil {
		return nil, errors.New("checkout: no order and no userErrors")
	}
	return out.Checkout.Order.placed()
}

// orderByNumber reads an order as staff.
func (c *client) orderByNumber(ctx context.Context, number string) (*orderJSON, error) {
	var out struct {
		Order *orderJSON `json:"order"`
	}
	err := c.do(ctx, c.staffToken, `query($n:String!){ order(orderNumber:$n){ `+orderFields+` paymentStatus } }`,
		map[string]any{"n": number}, &out)
	if err != nil {
		return nil, err
	}
	if out.Order == nil {
		return nil, fmt.Errorf("order %s not found", number)
	}
	return out.Order, nil
}

// pay posts a signed payment_intent.succeeded for the order, as Stripe
// would once the shopper paid.
func (c *client) pay(ctx context.Context, o *placedOrder) error {
	if o.IntentID == "" { // the intent is created by a retry job: wait for it
		deadline := time.Now().Add(10 * time.Second)
		for o.IntentID == "" {
			oj, err := c.orderByNumber(ctx, o.Number)
			if err != nil {
				return err
			}
			if oj.IntentID != nil {
				o.IntentID = *oj.IntentID
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("order %s has no payment intent after 10s", o.Number)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	obj := map[string]any{
		"id": o.IntentID, "object": "payment_intent", "amount": o.Amount, "amount_received": o.Amount,
		"currency": strings.ToLower(o.Currency), "status": "succeeded", "client_secret": o.IntentID + "_secret_bench",
		"metadata": map[string]any{"order_id": o.ID, "order_number": o.Number},
		"created":  time.Now().Unix(), "livemode": false,
	}
	body, err := json.Marshal(map[string]any{
		"id": "evt_" + rand.Text(), "object": "event", "api_version": stripe.APIVersion, "created": time.Now().Unix(),
		"livemode": false, "pending_webhooks": 1, "type": "payment_intent.succeeded", "data": map[string]any{"object": obj},
	})
	if err != nil {
		return err
	}
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: c.webhookSecret})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base()+"/webhooks/stripe", bytes.NewReader(sp.Payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", sp.Header)
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return &httpError{Status: resp.StatusCode, Body: truncate(string(b), 200)}
	}
	return nil
}

// waitPaid polls the order until it is PAID.
func (c *client) waitPaid(ctx context.Context, number string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		o, err := c.orderByNumber(ctx, number)
		if err != nil {
			return err
		}
		if o.PaymentStatus == "PAID" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("order %s is %s 10s after the webhook", number, o.PaymentStatus)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ---------------------------------------------------------------- stats

// samples collects one goroutine's latencies and errors.
type samples struct {
	durs []time.Duration
	errs map[string]int
	// first error of each kind, for the report
	examples map[string]string
}

func newSamples() *samples {
	return &samples{errs: map[string]int{}, examples: map[string]string{}}
}

func (s *samples) add(d time.Duration) { s.durs = append(s.durs, d) }

func (s *samples) fail(err error) {
	k := errKind(err)
	s.errs[k]++
	if _, ok := s.examples[k]; !ok {
		s.examples[k] = truncate(err.Error(), 300)
	}
}

func (s *samples) merge(o *samples) {
	s.durs = append(s.durs, o.durs...)
	for k, v := range o.errs {
		s.errs[k] += v
	}
	for k, v := range o.examples {
		if _, ok := s.examples[k]; !ok {
			s.examples[k] = v
		}
	}
}

func (s *samples) errCount() int {
	n := 0
	for _, v := range s.errs {
		n += v
	}
	return n
}

type latencies struct{ p50, p95, p99, max time.Duration }

func (s *samples) percentiles() latencies {
	if len(s.durs) == 0 {
		return latencies{}
	}
	d := append([]time.Duration(nil), s.durs...)
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	q := func(p float64) time.Duration {
		i := int(p*float64(len(d))+0.5) - 1
		return d[max(0, min(i, len(d)-1))]
	}
	return latencies{q(0.50), q(0.95), q(0.99), d[len(d)-1]}
}

// syncSamples is samples shared by goroutines (subscribers).
type syncSamples struct {
	mu sync.Mutex
	s  *samples
}
