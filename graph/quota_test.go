package graph_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"commerce/graph"
	"commerce/internal/auth"
	"commerce/internal/config"
	"commerce/internal/customers"
	"commerce/internal/platform/dbtest"
	"commerce/internal/platform/web"
	"commerce/internal/quota"
)

// quotaServer serves GraphQL with tight limits and an in-process limiter.
func quotaServer(t *testing.T, q graph.Quotas) *httptest.Server {
	t.Helper()
	d := dbtest.DB(t)
	log := slog.New(slog.DiscardHandler)
	tokens := auth.NewSessions(d, auth.NewTokens([]byte(strings.Repeat("q", 32)), time.Hour, time.Hour, time.Now))
	q.Limiter = quota.NewMemory(time.Now, log)
	r := graph.NewResolver(graph.Services{
		Staff: auth.NewStaffService(d, tokens, nil, auth.StaffConfig{}), Customers: customers.NewService(d, tokens, "USD"), Quotas: q,
	}, log)
	h := graph.NewHandler(r, graph.HandlerConfig{Sessions: tokens, MaxUploadBytes: 1 << 20, Log: log, Quotas: q})
	srv := httptest.NewServer(web.WithClientIP(nil, h))
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url, query string) (*http.Response, response) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	res, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out response
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res, out
}

func TestLoginAttemptsAreLimited(t *testing.T) {
	srv := quotaServer(t, graph.Quotas{Login: config.Quota{Limit: 2, Period: time.Hour}, GraphQL: config.Quota{Limit: 1000, Period: time.Minute}})
	login := `mutation { customerLogin(email: "victim@example.com", password: "guess-guess") { token userErrors { code } } }`
	for i := range 2 {
		res, r := post(t, srv.URL, login)
		if code(r) != "" || res.Header.Get("RateLimit-Limit") != "2" {
			t.Fatalf("attempt %d: %+v, headers %v", i+1, r.Errors, res.Header)
		}
	}
	res, r := post(t, srv.URL, login)
	if code(r) != "RATE_LIMITED" {
		t.Fatalf("third attempt: %+v, want RATE_LIMITED", r.Errors)
	}
	if secs, _ := r.Errors[0].Extensions["retryAfterSeconds"].(float64); secs < 1 {
		t.Fatalf("retryAfterSeconds = %v, want at least 1", r.Errors[0].Extensions["retryAfterSeconds"])
	}
	if res.Header.Get("Retry-After") == "" || res.Header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("headers of a limited response: %v", res.Header)
	}
}

// Sign-in quotas count failures only: successes in between neither use up
// QUOTA_LOGIN nor earn anything back, so two failures exhaust it whatever
// came between them.
func TestSuccessfulSignInsAreFree(t *testing.T) {
	hour := func(n int) config.Quota { return config.Quota{Limit: n, Period: time.Hour} }
	srv := quotaServer(t, graph.Quotas{Login: hour(2), LoginIP: hour(100), LoginAccount: hour(100), GraphQL: hour(1000)})
	if _, r := post(t, srv.URL, `mutation { customerRegister(input: {email: "free@example.com", password: "right-password",
		firstName: "Ada", lastName: "Lovelace"}) { token } }`); code(r) != "" {
		t.Fatalf("register: %+v", r.Errors)
	}
	login := func(password string) string {
		_, r := post(t, srv.URL, `mutation { customerLogin(email: "free@example.com", password: "`+password+`") { token userErrors { code } } }`)
		switch {
		case code(r) != "":
			return code(r)
		case strings.Contains(string(r.Data["customerLogin"]), "INVALID_CREDENTIALS"):
			return "INVALID_CREDENTIALS"
		case strings.Contains(string(r.Data["customerLogin"]), `"token":"`):
			return "TOKEN"
		}
		t.Fatalf("customerLogin: %s", r.Data["customerLogin"])
		return ""
	}
	for i, step := range []struct{ password, want string }{
		{"wrong-password", "INVALID_CREDENTIALS"},
		{"right-password", "TOKEN"}, {"right-password", "TOKEN"}, {"right-password", "TOKEN"}, {"right-password", "TOKEN"},
		{"wrong-password", "INVALID_CREDENTIALS"},
		{"right-password", "RATE_LIMITED"},
	} {
		if got := login(step.password); got != step.want {
			t.Fatalf("step %d (%s): %s, want %s", i+1, step.password, got, step.want)
		}
	}
}

// Every sign-in spends a bcrypt comparison, so successful ones are
// counted too, per IP, under QUOTA_LOGIN_ATTEMPTS_IP and never given back.
func TestSignInAttemptsArePerIP(t *testing.T) {
	hour := func(n int) config.Quota { return config.Quota{Limit: n, Period: time.Hour} }
	srv := quotaServer(t, graph.Quotas{Login: hour(100), LoginIP: hour(100), LoginAccount: hour(100),
		LoginAttemptsIP: hour(3), GraphQL: hour(1000)})
	if _, r := post(t, srv.URL, `mutation { customerRegister(input: {email: "attempts@example.com", password: "right-password",
		firstName: "Ada", lastName: "Lovelace"}) { token } }`); code(r) != "" {
		t.Fatalf("register: %+v", r.Errors)
	}
	for i := range 4 {
		_, r := post(t, srv.URL, `mutation { customerLogin(email: "attempts@example.com", password: "right-password") { token } }`)
		if want := map[bool]string{true: "", false: "RATE_LIMITED"}[i < 3]; code(r) != want {
			t.Fatalf("sign-in %d with the right password: code %q, want %q", i+1, code(r), want)
		}
	}
}

// QUOTA_LOGIN_IP counts failed sign-ins per address whatever the email
// and whichever sign-in (customer or staff): guesses spread over many
// emails from one address are refused once it is spent, a right password
// from that address too, although no single email reached QUOTA_LOGIN.
func TestSignInFailuresArePerIPWhateverTheEmail(t *testing.T) {
	hour := func(n int) config.Quota { return config.Quota{Limit: n, Period: time.Hour} }
	srv := quotaServer(t, graph.Quotas{Login: hour(100), LoginIP: hour(3), LoginAccount: hour(100), GraphQL: hour(1000)})
	if _, r := post(t, srv.URL, `mutation { customerRegister(input: {email: "per-ip@example.com", password: "right-password",
		firstName: "Ada", lastName: "Lovelace"}) { token } }`); code(r) != "" {
		t.Fatalf("register: %+v", r.Errors)
	}
	signIn := func(mutation, email, password string) string {
		_, r := post(t, srv.URL, `mutation { `+mutation+`(email: "`+email+`", password: "`+password+`") { token userErrors { code } } }`)
		switch payload := string(r.Data[mutation]); {
		case code(r) != "":
			return code(r)
		case strings.Contains(payload, "INVALID_CREDENTIALS"):
			return "INVALID_CREDENTIALS"
		case strings.Contains(payload, `"token":"`):
			return "TOKEN"
		}
		t.Fatalf("%s: %s", mutation, r.Data[mutation])
		return ""
	}
	for i, step := range []struct{ mutation, email, password, want string }{
		{"customerLogin", "per-ip@example.com", "right-password", "TOKEN"}, // successes cost nothing
		{"customerLogin", "guess-1@example.com", "wrong-password", "INVALID_CREDENTIALS"},
		{"staffLogin", "guess-2@example.com", "wrong-password", "INVALID_CREDENTIALS"},
		{"customerLogin", "per-ip@example.com", "wrong-password", "INVALID_CREDENTIALS"},
		{"customerLogin", "guess-3@example.com", "wrong-password", "RATE_LIMITED"},
		{"staffLogin", "guess-4@example.com", "wrong-password", "RATE_LIMITED"},
		{"customerLogin", "per-ip@example.com", "right-password", "RATE_LIMITED"},
	} {
		if got := signIn(step.mutation, step.email, step.password); got != step.want {
			t.Fatalf("step %d (%s %s): %s, want %s", i+1, step.mutation, step.email, got, step.want)
		}
	}
}

func TestGraphQLRequestsArePerIP(t *testing.T) {
	srv := quotaServer(t, graph.Quotas{GraphQL: config.Quota{Limit: 3, Period: time.Minute}})
	for i := range 3 {
		if res, r := post(t, srv.URL, `{ __typename }`); res.StatusCode != http.StatusOK || len(r.Errors) > 0 {
			t.Fatalf("request %d: %d %+v", i+1, res.StatusCode, r.Errors)
		}
	}
	res, r := post(t, srv.URL, `{ __typename }`)
	if res.StatusCode != http.StatusTooManyRequests || code(r) != "RATE_LIMITED" || res.Header.Get("Retry-After") == "" {
		t.Fatalf("fourth request: %d %+v %v, want 429 RATE_LIMITED with Retry-After", res.StatusCode, r.Errors, res.Header)
	}
}

func TestOversizedBodyIsRefused(t *testing.T) {
	srv := quotaServer(t, graph.Quotas{GraphQL: config.Quota{Limit: 1000, Period: time.Minute}})
	big := `{ __typename }` + strings.Repeat(" ", 2<<20)
	res, r := post(t, srv.URL, big)
	if res.StatusCode != http.StatusRequestEntityTooLarge || code(r) != "BAD_USER_INPUT" {
		t.Fatalf("a 2 MiB body: %d %+v, want 413 BAD_USER_INPUT", res.StatusCode, r.Errors)
	}
	if res, r := post(t, srv.URL, `{ __typename }`); res.StatusCode != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("the server is not answering after a refused body: %d %+v", res.StatusCode, r.Errors)
	}
}

// An open websocket is no way around QUOTA_GRAPHQL: each operation on it
// is counted like an HTTP request, and one over the quota gets an "error"
// message with RATE_LIMITED while the socket stays open.
func TestWebsocketOperationsCountAgainstTheGraphQLQuota(t *testing.T) {
	srv := quotaServer(t, graph.Quotas{GraphQL: config.Quota{Limit: 4, Period: time.Hour}})
	c := dial(t, "ws"+strings.TrimPrefix(srv.URL, "http"), transportWS, "")
	// The upgrade itself is one request; three operations fit after it.
	for i := range 4 {
		id := strconv.Itoa(i + 1)
		c.subscribe(t, id, `{ __typename }`, nil)
		r := c.next(t, 5*time.Second)
		if i < 3 {
			if r.Type != "next" || r.ID != id {
				t.Fatalf("operation %s: %s, want its result", id, r)
			}
			if end := c.next(t, 5*time.Second); end.Type != "complete" {
				t.Fatalf("operation %s: %s, want complete", id, end)
			}
			continue
		}
		if r.Type != "error" || !slices.Equal(r.codes(), []string{"RATE_LIMITED"}) {
			t.Fatalf("operation %s over QUOTA_GRAPHQL: %s, want an error with RATE_LIMITED", id, r)
		}
	}
}
