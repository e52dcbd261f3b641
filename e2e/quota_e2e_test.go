package e2e

// End-to-end tests of the quotas (issue 6) against the real binary: the
// checkout quota per customer, shared by two processes through Redis; the
// login quota; the RateLimit-* headers; and X-Forwarded-For, honoured only
// from TRUSTED_PROXIES. Each test starts its own servers, so every
// in-process limiter starts empty; the Redis test uses a REDIS_PREFIX of
// its own.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"commerce/internal/platform/dbtest"
)

// quotaReply is one answer of /graphql with its status and headers.
type quotaReply struct {
	status int
	header http.Header
	gqlResponse
}

// quotaPost posts one operation with extra request headers and returns the
// status, the response headers and the decoded body. Safe for concurrent
// use; transport problems are reported with t.Errorf.
func quotaPost(t *testing.T, s *e2eServer, header http.Header, token, query string, vars map[string]any) quotaReply {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, s.base+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Errorf("new request: %v", err)
		return quotaReply{}
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := s.http.Do(req)
	if err != nil {
		t.Errorf("POST /graphql: %v", err)
		return quotaReply{}
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := quotaReply{status: res.StatusCode, header: res.Header}
	if err := json.Unmarshal(raw, &out.gqlResponse); err != nil {
		t.Errorf("POST /graphql: status %d, undecodable body %q", res.StatusCode, raw)
	}
	return out
}

// quotaRetryAfter returns extensions.retryAfterSeconds of the first
// RATE_LIMITED error, or -1.
func quotaRetryAfter(r gqlResponse) float64 {
	for _, e := range r.Errors {
		if e.Extensions["code"] == "RATE_LIMITED" {
			if n, ok := e.Extensions["retryAfterSeconds"].(float64); ok {
				return n
			}
		}
	}
	return -1
}

// quotaCheckoutInput is a one-line guest checkout by email.
func quotaCheckoutInput(productID, email, key string) map[string]any {
	return map[string]any{"input": map[string]any{
		"lines": []any{map[string]any{"productId": productID, "quantity": 1}}, "email": email,
		"shippingAddress": shippingAddress(), "idempotencyKey": key,
	}}
}

// quotaCheckout places one checkout and says whether it made an order; an
// answer that is neither an order nor RATE_LIMITED fails the test.
func quotaCheckout(t *testing.T, s *e2eServer, productID, email string) (placed bool, r gqlResponse) {
	t.Helper()
	r = s.do(t, "", checkoutMutation, quotaCheckoutInput(productID, email, "e2e-quota-"+randHex(8)))
	if len(r.Errors) > 0 {
		if !slices.Equal(r.codes(), []string{"RATE_LIMITED"}) {
			t.Errorf("checkout on %s: errors %+v, want an order or RATE_LIMITED", s.name, r.Errors)
		}
		return false, r
	}
	var out struct{ Checkout checkoutResult }
	if err := json.Unmarshal(r.Data, &out); err != nil || out.Checkout.Order == nil {
		t.Errorf("checkout on %s: %s (%v)", s.name, r.Data, err)
		return false, r
	}
	return true, r
}

// quotaOrderCount is the number of orders placed with email.
func quotaOrderCount(t *testing.T, s *e2eServer, staff, email string) int {
	t.Helper()
	var out struct{ Orders struct{ TotalCount int } }
	s.gql(t, staff, `query($e: String!) { orders(filter: {email: $e}) { totalCount } }`, map[string]any{"e": email}, &out)
	return out.Orders.TotalCount
}

// quotaWantRefused checks a RATE_LIMITED answer with a retryAfterSeconds
// in (0, max] and no data.
func quotaWantRefused(t *testing.T, what string, r gqlResponse, max float64) {
	t.Helper()
	if !slices.Equal(r.codes(), []string{"RATE_LIMITED"}) {
		t.Fatalf("%s: errors %+v, want one RATE_LIMITED", what, r.Errors)
	}
	if ra := quotaRetryAfter(r); ra <= 0 || ra > max {
		t.Errorf("%s: retryAfterSeconds %v, want in (0, %v]", what, ra, max)
	}
	if d := string(r.Data); d != "" && d != "null" {
		t.Errorf("%s: refused call returned data %s", what, d)
	}
}

// TestE2EQuotaCheckoutPerCustomer: with QUOTA_CREATE_ORDER=100/1h, one
// customer's 100 checkouts go through and the 101st is RATE_LIMITED with a
// sensible retryAfterSeconds and changes nothing; another customer is not
// affected.
func TestE2EQuotaCheckoutPerCustomer(t *testing.T) {
	deps := startDeps(t, false)
	srv := startServer(t, "quota-checkout", deps.env(t, map[string]string{
		"QUOTA_CREATE_ORDER": "100/1h", "QUOTA_CREATE_ORDER_IP": "100000/1h",
	}))
	staff := srv.staffLogin(t)
	p := srv.createProduct(t, staff, "3.00", 500)
	email := buyerEmail()

	// GCRA earns one more order every 36 s (1h/100): the 100 must be placed
	// well within that for the 101st to be the one refused.
	start := time.Now()
	placed := make([]bool, 100)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range placed {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			placed[i], _ = quotaCheckout(t, srv, p.ID, email)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("100 checkouts in %s", elapsed.Round(time.Millisecond))
	if n := quotaCount(placed); n != 100 {
		t.Fatalf("%d of 100 checkouts within the quota made an order", n)
	}
	if elapsed > 30*time.Second {
		t.Fatalf("100 checkouts took %s; the quota earns one more order every 36s, so the 101st would not be the one refused", elapsed)
	}

	ok, r := quotaCheckout(t, srv, p.ID, email)
	if ok {
		t.Fatal("the 101st checkout of one customer within the hour made an order")
	}
	quotaWantRefused(t, "101st checkout", r, 3600)
	// Also with the email spelled differently: the key is the normalised email.
	_, r = quotaCheckout(t, srv, p.ID, "  "+strings.ToUpper(email)+" ")
	quotaWantRefused(t, "101st checkout, email in upper case", r, 3600)

	if n := quotaOrderCount(t, srv, staff, email); n != 100 {
		t.Errorf("orders of %s: %d, want 100", email, n)
	}
	if st := srv.product(t, staff, p.ID); st.AvailableQuantity != 400 {
		t.Errorf("available %d after 100 orders of 1 from 500, want 400 (a refused checkout must not reserve)", st.AvailableQuantity)
	}

	other := buyerEmail()
	if ok, r := quotaCheckout(t, srv, p.ID, other); !ok {
		t.Fatalf("another customer's checkout: %+v, want an order", r.Errors)
	}
	if n := quotaOrderCount(t, srv, staff, other); n != 1 {
		t.Errorf("orders of %s: %d, want 1", other, n)
	}
}

func quotaCount(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// TestE2EQuotaSharedAcrossProcesses: two server processes on one database
// and one Redis (same REDIS_PREFIX) share one checkout budget, and the
// limiter's keys carry the prefix.
func TestE2EQuotaSharedAcrossProcesses(t *testing.T) {
	opts, err := redis.ParseURL(dbtest.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis at %s: %v (is it running? try `make services`)", opts.Addr, err)
	}
	prefix := dbtest.RedisPrefix() + "quota-" + randHex(4) + ":"
	t.Cleanup(func() {
		keys, _ := rdb.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			_ = rdb.Del(context.Background(), keys...).Err()
		}
	})

	deps := startDeps(t, false)
	env := deps.env(t, map[string]string{
		"REDIS_URL": dbtest.RedisURL(), "REDIS_PREFIX": prefix,
		"QUOTA_CREATE_ORDER": "10/1h", "QUOTA_CREATE_ORDER_IP": "100000/1h",
	})
	a := startServer(t, "quota-A", env)
	b := startServer(t, "quota-B", env)
	staff := a.staffLogin(t)
	p := a.createProduct(t, staff, "4.00", 100)
	email := buyerEmail()

	for i := range 5 {
		if ok, r := quotaCheckout(t, a, p.ID, email); !ok {
			t.Fatalf("checkout %d on A: %+v", i+1, r.Errors)
		}
		if ok, r := quotaCheckout(t, b, p.ID, email); !ok {
			t.Fatalf("checkout %d on B: %+v", i+1, r.Errors)
		}
	}
	_, r := quotaCheckout(t, b, p.ID, email)
	quotaWantRefused(t, "11th checkout, on B", r, 3600)
	_, r = quotaCheckout(t, a, p.ID, email)
	quotaWantRefused(t, "12th checkout, on A", r, 3600)
	if n := quotaOrderCount(t, a, staff, email); n != 10 {
		t.Errorf("orders of %s: %d, want 10", email, n)
	}
	if ok, r := quotaCheckout(t, b, p.ID, buyerEmail()); !ok {
		t.Errorf("another customer on B: %+v, want an order", r.Errors)
	}

	// The counters live under REDIS_PREFIX, and nowhere else.
	key := "rate:api:create-order:email:" + email
	if n, err := rdb.Exists(ctx, prefix+key).Result(); err != nil || n != 1 {
		t.Errorf("Redis key %q: exists=%d, %v; want the counter under REDIS_PREFIX", prefix+key, n, err)
	}
	if n, _ := rdb.Exists(ctx, key).Result(); n != 0 {
		t.Errorf("Redis key %q without the prefix exists", key)
	}
}

// TestE2EQuotaLoginThrottled: with QUOTA_LOGIN=5/10s, 20 rapid wrong-password
// sign-ins for one email are throttled after 5, the refused ones carry
// RateLimit-* headers, and once the window has passed the right password
// works.
func TestE2EQuotaLoginThrottled(t *testing.T) {
	const (
		limit = 5
		// The window is long enough that no attempt is earned back between
		// the burst and the right password that follows it, even on a busy
		// machine (at 5/2s a slow burst had earned one back).
		period   = 10 * time.Second
		interval = period / limit // GCRA earns one attempt back this often
	)
	for _, kind := range []string{"staff", "customer"} {
		t.Run(kind, func(t *testing.T) {
			deps := startDeps(t, false)
			srv := startServer(t, "quota-login-"+kind, deps.env(t, map[string]string{"QUOTA_LOGIN": "5/10s"}))
			email, password := e2eAdminEmail, e2eAdminPassword
			mutation := `mutation($e: String!, $p: String!) { staffLogin(email: $e, password: $p) { token userErrors { field code } } }`
			if kind == "customer" {
				email, password = buyerEmail(), "right-password-"+randHex(4)
				var reg struct {
					CustomerRegister struct {
						Token      *string
						UserErrors []userError
					}
				}
				srv.gql(t, "", `mutation($in: CustomerRegisterInput!) { customerRegister(input: $in) { token userErrors { field message code } } }`,
					map[string]any{"in": map[string]any{"email": email, "password": password, "firstName": "Quota", "lastName": "Tester"}}, &reg)
				if reg.CustomerRegister.Token == nil {
					t.Fatalf("customerRegister: %+v", reg.CustomerRegister.UserErrors)
				}
				mutation = `mutation($e: String!, $p: String!) { customerLogin(email: $e, password: $p) { token userErrors { field code } } }`
			}
			field := kind + "Login"
			login := func(pw string) quotaReply {
				return quotaPost(t, srv, nil, "", mutation, map[string]any{"e": email, "p": pw})
			}

			// 20 at once: the limiter counts each atomically, so 5 get to
			// the password check and the rest are refused.
			replies := make([]quotaReply, 20)
			start := time.Now()
			var wg sync.WaitGroup
			for i := range replies {
				wg.Go(func() { replies[i] = login("wrong-password-" + strconv.Itoa(i)) })
			}
			wg.Wait()
			span := time.Since(start)
			if t.Failed() {
				t.FailNow()
			}
			var checked, limited []quotaReply
			for i, r := range replies {
				switch {
				case slices.Equal(r.codes(), []string{"RATE_LIMITED"}):
					limited = append(limited, r)
				case len(r.Errors) == 0:
					var data map[string]struct {
						Token      *string
						UserErrors []userError
					}
					_ = json.Unmarshal(r.Data, &data)
					if p := data[field]; p.Token != nil || len(p.UserErrors) == 0 {
						t.Errorf("wrong password %d: %s, want userErrors and no token", i, r.Data)
					}
					checked = append(checked, r)
				default:
					t.Errorf("wrong password %d: errors %+v", i, r.Errors)
				}
			}
			// GCRA allows at most limit + span/interval in any span of time.
			most := limit + int(span/interval)
			t.Logf("20 attempts in %s: %d checked, %d refused", span.Round(time.Millisecond), len(checked), len(limited))
			if len(checked) < limit || len(checked) > most {
				t.Errorf("%d of 20 wrong-password attempts reached the password check, want %d (at most %d in %s)",
					len(checked), limit, most, span.Round(time.Millisecond))
			}
			if len(limited) == 0 {
				t.Fatal("no attempt was refused")
			}
			for _, r := range limited {
				quotaWantRefused(t, "throttled login", r.gqlResponse, period.Seconds())
			}
			quotaWantRateLimitHeaders(t, "a throttled login", limited[0].header, limit)

			// Still refused, even with the right password, within the window.
			if r := login(password); !slices.Equal(r.codes(), []string{"RATE_LIMITED"}) {
				t.Errorf("right password right after the burst: errors %+v, want RATE_LIMITED", r.Errors)
			}

			time.Sleep(period + 200*time.Millisecond) // wait out the window
			r := login(password)
			if len(r.Errors) > 0 {
				t.Fatalf("right password after the window: errors %+v", r.Errors)
			}
			var data map[string]struct{ Token *string }
			_ = json.Unmarshal(r.Data, &data)
			if data[field].Token == nil || *data[field].Token == "" {
				t.Fatalf("right password after the window: %s, want a token", r.Data)
			}
			if got := r.header.Get("RateLimit-Remaining"); got == "" {
				t.Error("an allowed login has no RateLimit-Remaining header")
			}
		})
	}
}

// quotaWantRateLimitHeaders checks the RateLimit-* and Retry-After headers
// of a refused request.
func quotaWantRateLimitHeaders(t *testing.T, what string, h http.Header, limit int) {
	t.Helper()
	num := func(name string) int {
		v, err := strconv.Atoi(h.Get(name))
		if err != nil {
			t.Errorf("%s: header %s = %q, want a number", what, name, h.Get(name))
			return -1
		}
		return v
	}
	if got := num("RateLimit-Limit"); got != limit {
		t.Errorf("%s: RateLimit-Limit %d, want %d", what, got, limit)
	}
	if got := num("RateLimit-Remaining"); got != 0 {
		t.Errorf("%s: RateLimit-Remaining %d, want 0", what, got)
	}
	if got := num("RateLimit-Reset"); got <= 0 {
		t.Errorf("%s: RateLimit-Reset %d, want > 0", what, got)
	}
	if got := num("Retry-After"); got <= 0 {
		t.Errorf("%s: Retry-After %d, want > 0", what, got)
	}
}

// TestE2EQuotaForwardedFor: X-Forwarded-For does not move a caller to
// another budget unless the peer is in TRUSTED_PROXIES; from a trusted proxy
// it does, and addresses a client prepends to the header do not help it.
// The per-IP ceiling answers 429 with RateLimit-* headers.
func TestE2EQuotaForwardedFor(t *testing.T) {
	const limit = 3
	typename := `{ __typename }`
	xff := func(v string) http.Header {
		if v == "" {
			return nil
		}
		return http.Header{"X-Forwarded-For": {v}}
	}
	wantOK := func(t *testing.T, s *e2eServer, what, from string) {
		t.Helper()
		if r := quotaPost(t, s, xff(from), "", typename, nil); r.status != http.StatusOK || len(r.Errors) > 0 {
			t.Errorf("%s (X-Forwarded-For %q): %d %+v, want 200", what, from, r.status, r.Errors)
		}
	}
	wantLimited := func(t *testing.T, s *e2eServer, what, from string) {
		t.Helper()
		r := quotaPost(t, s, xff(from), "", typename, nil)
		if r.status != http.StatusTooManyRequests {
			t.Errorf("%s (X-Forwarded-For %q): %d %+v, want 429", what, from, r.status, r.Errors)
			return
		}
		quotaWantRefused(t, what, r.gqlResponse, 60)
		quotaWantRateLimitHeaders(t, what, r.header, limit)
	}
	deps := startDeps(t, false)
	quota := fmt.Sprintf("%d/1m", limit)

	t.Run("untrusted peer", func(t *testing.T) {
		srv := startServer(t, "quota-xff-untrusted", deps.env(t, map[string]string{"QUOTA_GRAPHQL": quota}))
		for i := range limit {
			wantOK(t, srv, fmt.Sprintf("request %d", i+1), fmt.Sprintf("10.0.0.%d", i+1))
		}
		wantLimited(t, srv, "a fresh X-Forwarded-For from an untrusted peer", "10.0.0.99")
		wantLimited(t, srv, "no X-Forwarded-For", "")
	})

	t.Run("trusted proxy", func(t *testing.T) {
		srv := startServer(t, "quota-xff-trusted", deps.env(t, map[string]string{
			"QUOTA_GRAPHQL": quota, "TRUSTED_PROXIES": "127.0.0.1/32",
		}))
		for i := range limit {
			wantOK(t, srv, fmt.Sprintf("client A request %d", i+1), "10.0.0.1")
		}
		wantLimited(t, srv, "client A over its budget", "10.0.0.1")
		// A client that prepends an address is still the hop the proxy saw.
		wantLimited(t, srv, "client A with a forged first hop", "203.0.113.7, 10.0.0.1")
		wantOK(t, srv, "client B", "10.0.0.2")
		wantOK(t, srv, "the proxy itself", "")
	})
}
