package e2e

// End-to-end tests of the checkout and payment workflow: they build the real
// binary once, start it as a subprocess against the package database, a
// private stripe-mock and a private mailpit, and drive it over HTTP only
// (GraphQL and the signed Stripe webhook), as a storefront, a staff member
// and Stripe would.
//
// The tests share the package database, so each one creates its own
// products (unique SKUs) and buyers (unique emails), and reads mail by
// recipient and subject rather than by count. They do not run in parallel:
// every server works River jobs from the shared database, and a job of one
// test worked by another test's server would send its email to the wrong
// mailpit.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"commerce/internal/platform/dbtest"
	"commerce/internal/platform/mailtest"
	"commerce/internal/platform/stripetest"
	"commerce/internal/platform/testtool"
)

const (
	e2eAdminEmail    = "e2e-admin@example.com"
	e2eAdminPassword = "e2e-admin-password"
	e2eWebhookSecret = "whsec_test"
	e2eAuthSecret    = "e2e-auth-secret-0123456789abcdef-0123456789"
)

// ---------------------------------------------------------------- the binary

// e2eBin is the service binary, built once per test process into a
// directory named after the process id. Directories left by earlier test
// processes that have exited are removed when the next build runs.
var e2eBin struct {
	once sync.Once
	path string
	err  error
}

const e2eBinDirPrefix = "commerce-e2e-bin-"

func e2eBinary(t *testing.T) string {
	t.Helper()
	e2eBin.once.Do(func() {
		removeStaleBinDirs()
		dir := filepath.Join(os.TempDir(), e2eBinDirPrefix+strconv.Itoa(os.Getpid()))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			e2eBin.err = err
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		path := filepath.Join(dir, "commerce")
		cmd := exec.Command(goBin, "build", "-o", path, ".")
		cmd.Dir = ".." // the module root: the service's main package
		out, err := cmd.CombinedOutput()
		if err != nil {
			e2eBin.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		e2eBin.path = path
	})
	if e2eBin.err != nil {
		t.Fatalf("build the service binary: %v", e2eBin.err)
	}
	return e2eBin.path
}

// removeStaleBinDirs removes binaries built by test processes that no longer
// run (signal 0 only probes whether the process exists).
func removeStaleBinDirs() {
	entries, _ := os.ReadDir(os.TempDir())
	for _, e := range entries {
		pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), e2eBinDirPrefix))
		if !e.IsDir() || !strings.HasPrefix(e.Name(), e2eBinDirPrefix) || err != nil || pid == os.Getpid() {
			continue
		}
		if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			_ = os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
		}
	}
}

// ---------------------------------------------------------------- the server

// e2eDeps are the stand-ins for the SaaS a test's servers talk to.
type e2eDeps struct {
	stripe *stripetest.Server // nil for the dummy provider
	mail   *mailtest.Server
}

func startDeps(t *testing.T, withStripe bool) e2eDeps {
	t.Helper()
	d := e2eDeps{mail: mailtest.Start(t)}
	if withStripe {
		d.stripe = stripetest.Start(t)
	}
	return d
}

// env is the explicit environment of a server process; overrides win.
func (d e2eDeps) env(t *testing.T, overrides map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{
		"PATH":                  os.Getenv("PATH"),
		"HOME":                  os.Getenv("HOME"),
		"APP_ENV":               "development",
		"AUTH_SECRET":           e2eAuthSecret,
		"DATABASE_URL":          dbtest.URL(t),
		"DATABASE_MAX_CONNS":    "30",
		"ADMIN_EMAIL":           e2eAdminEmail,
		"ADMIN_PASSWORD":        e2eAdminPassword,
		"EMAIL_SENDER":          "smtp",
		"SMTP_URL":              d.mail.SMTPURL(),
		"EMAIL_FROM":            "shop@example.com",
		"LOW_STOCK_EMAIL":       "stock@example.com",
		"NOTIFY_RETRY_BASE":     "100ms",
		"LOG_LEVEL":             "info",
		"QUOTA_CREATE_ORDER":    "100000/1h",
		"QUOTA_CREATE_ORDER_IP": "100000/1h",
		"QUOTA_SEARCH_PRODUCTS": "100000/1h",
		"QUOTA_GRAPHQL":         "100000/1m",
		"QUOTA_LOGIN":           "1000/15m",
		// Added with issue 12's quotas; the tests that check them set their own.
		"QUOTA_LOGIN_IP":            "100000/15m",
		"QUOTA_LOGIN_ATTEMPTS_IP":   "100000/15m",
		"QUOTA_LOGIN_ACCOUNT":       "100000/1h",
		"QUOTA_REGISTER":            "100000/1h",
		"QUOTA_CART_CREATE":         "100000/1h",
		"QUOTA_ORDER_LOOKUP":        "100000/1h",
		"QUOTA_ORDER_LOOKUP_NUMBER": "100000/1h",
		// Every test checks out from 127.0.0.1 into the shared package
		// database, and most leave their orders unpaid: at the default
		// the unpaid units per IP would run out across tests.
		"MAX_UNPAID_UNITS": "1000000",
		"SHUTDOWN_DRAIN":   "0s", // the drain has its own test
		// Far above the 50ms default: on a busy test machine a slow Redis
		// answer would open the breaker and move the rate limits in
		// process. The Redis fault tests set their own.
		"REDIS_TIMEOUT": "1s",
	}
	if d.stripe != nil {
		env["PAYMENT_PROVIDER"] = "stripe"
		env["STRIPE_SECRET_KEY"] = stripetest.SecretKey
		env["STRIPE_API_BASE"] = d.stripe.URL()
		env["STRIPE_WEBHOOK_SECRET"] = e2eWebhookSecret
	} else {
		env["PAYMENT_PROVIDER"] = "dummy"
	}
	for k, v := range overrides {
		if v == "" {
			delete(env, k)
			continue
		}
		env[k] = v
	}
	return env
}

// e2eServer is one running service process.
type e2eServer struct {
	t      *testing.T
	name   string
	base   string
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{}
	http   *http.Client
}

// lockedBuffer collects the process output; the test reads it while the
// process writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServer runs `commerce serve` with exactly env (plus HTTP_ADDR on a
// free port unless env sets it), waits for /healthz, prints its output if
// the test fails and stops it with SIGTERM on cleanup.
func startServer(t *testing.T, name string, env map[string]string) *e2eServer {
	t.Helper()
	bin := e2eBinary(t)
	env = copyEnv(env)
	if env["HTTP_ADDR"] == "" {
		env["HTTP_ADDR"] = testtool.FreeAddr(t)
	}
	addr := env["HTTP_ADDR"]
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	slices.Sort(list)

	s := &e2eServer{
		t: t, name: name, base: "http://" + addr, out: &lockedBuffer{}, exited: make(chan struct{}),
		http: &http.Client{Timeout: 30 * time.Second},
	}
	s.cmd = exec.Command(bin, "serve")
	s.cmd.Env = list
	s.cmd.Dir = t.TempDir() // no .env is read; file storage stays in the test's dir
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("---- output of server %s ----\n%s", s.name, s.out.String())
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.exited:
			t.Fatalf("server %s exited during start: %v\n%s", name, s.cmd.ProcessState, s.out.String())
		default:
		}
		if res, err := s.http.Get(s.base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server %s not healthy within 30s\n%s", name, s.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func copyEnv(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// stop sends SIGTERM and waits for a clean exit; it kills the process if it
// does not exit within 40s (River and HTTP each drain for up to 20s).
func (s *e2eServer) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		if code := s.cmd.ProcessState.ExitCode(); code != 0 {
			s.t.Errorf("server %s exited with %d after SIGTERM", s.name, code)
		}
	case <-time.After(40 * time.Second):
		s.t.Errorf("server %s did not stop within 40s of SIGTERM; killing it", s.name)
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// kill ends the process with SIGKILL, as a crash or an OOM kill would.
func (s *e2eServer) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// ---------------------------------------------------------------- GraphQL

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

func (r gqlResponse) codes() []string {
	var out []string
	for _, e := range r.Errors {
		c, _ := e.Extensions["code"].(string)
		out = append(out, c)
	}
	return out
}

// do posts one GraphQL operation, with a bearer token when token is set.
// It is safe to call from several goroutines; it reports transport
// problems with t.Errorf and returns a zero response.
func (s *e2eServer) do(t *testing.T, token, query string, vars map[string]any) gqlResponse {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Errorf("encode request: %v", err)
		return gqlResponse{}
	}
	req, err := http.NewRequest(http.MethodPost, s.base+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Errorf("new request: %v", err)
		return gqlResponse{}
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := s.http.Do(req)
	if err != nil {
		t.Errorf("POST /graphql: %v", err)
		return gqlResponse{}
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Errorf("POST /graphql: status %d, undecodable body %q", res.StatusCode, raw)
		return gqlResponse{}
	}
	return out
}

// gql runs an operation that must succeed without errors and decodes its
// data into out.
func (s *e2eServer) gql(t *testing.T, token, query string, vars map[string]any, out any) {
	t.Helper()
	r := s.do(t, token, query, vars)
	if t.Failed() {
		t.FailNow()
	}
	if len(r.Errors) > 0 {
		t.Fatalf("GraphQL errors: %+v\nquery: %s\nvariables: %v", r.Errors, query, vars)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			t.Fatalf("decode data %s: %v", r.Data, err)
		}
	}
}

func (s *e2eServer) staffLogin(t *testing.T) string {
	t.Helper()
	var out struct {
		StaffLogin struct {
			Token      *string
			UserErrors []userError
		}
	}
	s.gql(t, "", `mutation($e: String!, $p: String!) { staffLogin(email: $e, password: $p) { token userErrors { field message code } } }`,
		map[string]any{"e": e2eAdminEmail, "p": e2eAdminPassword}, &out)
	if out.StaffLogin.Token == nil || len(out.StaffLogin.UserErrors) > 0 {
		t.Fatalf("staff login failed: %+v", out.StaffLogin.UserErrors)
	}
	return *out.StaffLogin.Token
}

// postWebhook posts body to /webhooks/stripe with the Stripe-Signature
// header (none when header is empty) and returns the status code.
func (s *e2eServer) postWebhook(t *testing.T, body []byte, header string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.base+"/webhooks/stripe", bytes.NewReader(body))
	if err != nil {
		t.Errorf("new request: %v", err)
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	if header != "" {
		req.Header.Set("Stripe-Signature", header)
	}
	res, err := s.http.Do(req)
	if err != nil {
		t.Errorf("POST /webhooks/stripe: %v", err)
		return 0
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// sendEvent signs an event with the server's secret, posts it and returns
// the status code.
func (s *e2eServer) sendEvent(t *testing.T, eventType string, object map[string]any) int {
	t.Helper()
	body, header := stripetest.SignedEvent(t, e2eWebhookSecret, eventType, object)
	return s.postWebhook(t, body, header)
}

// ---------------------------------------------------------------- domain helpers

type userError struct {
	Field   []string
	Message string
	Code    string
}

type gqlMoney struct {
	Amount       string
	CurrencyCode string
}

type e2eProduct struct {
	ID                string
	SKU               string
	Price             gqlMoney
	InventoryQuantity int
	AvailableQuantity int
}

type ledgerRow struct {
	Type           string
	QuantityChange int
	ReferenceID    *string
}

type orderEvent struct {
	Type    string
	Message *string
}

type e2eOrder struct {
	ID                    string
	OrderNumber           string
	Email                 string
	Status                string
	PaymentStatus         string
	Notes                 *string
	StripePaymentIntentID *string
	PaymentClientSecret   *string
	Subtotal              gqlMoney
	Tax                   gqlMoney
	ShippingCost          gqlMoney
	Discount              gqlMoney
	Total                 gqlMoney
	Customer              *struct{ ID string }
	Lines                 []struct {
		SKU       string
		Quantity  int
		UnitPrice gqlMoney
		LineTotal gqlMoney
	}
	Events []orderEvent
}

func (o e2eOrder) eventCount(typ string) int {
	n := 0
	for _, e := range o.Events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func (o e2eOrder) eventTypes() []string {
	out := make([]string, len(o.Events))
	for i, e := range o.Events {
		out[i] = e.Type
	}
	return out
}

const orderFields = `id orderNumber email status paymentStatus notes stripePaymentIntentId paymentClientSecret
	subtotal { amount currencyCode } tax { amount currencyCode } shippingCost { amount currencyCode }
	discount { amount currencyCode } total { amount currencyCode } customer { id }
	lines { sku quantity unitPrice { amount currencyCode } lineTotal { amount currencyCode } }
	events { type message }`

type checkoutResult struct {
	Order               *e2eOrder
	PaymentClientSecret *string
	OrderAccessToken    *string
	UserErrors          []userError
}

const checkoutMutation = `mutation($input: CheckoutInput!) { checkout(input: $input) {
	order { ` + orderFields + ` } paymentClientSecret orderAccessToken userErrors { field message code } } }`

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func buyerEmail() string { return "buyer-" + randHex(6) + "@example.com" }

func shippingAddress() map[string]any {
	return map[string]any{
		"firstName": "Ada", "lastName": "Lovelace", "line1": "12 Analytical Row", "city": "London",
		"postalCode": "N1 9GU", "countryCode": "GB",
	}
}

// createProduct creates an active product with opening stock and a low
// low-stock threshold, so low-stock alerts do not interfere.
func (s *e2eServer) createProduct(t *testing.T, staff, price string, stock int) e2eProduct {
	t.Helper()
	return s.createProductWithThreshold(t, staff, price, stock, 1)
}

// createProductWithThreshold creates an active product with opening stock
// and the given low-stock threshold.
func (s *e2eServer) createProductWithThreshold(t *testing.T, staff, price string, stock, threshold int) e2eProduct {
	t.Helper()
	suffix := randHex(5)
	var out struct {
		ProductCreate struct {
			Product    *e2eProduct
			UserErrors []userError
		}
	}
	s.gql(t, staff, `mutation($input: ProductCreateInput!) { productCreate(input: $input) {
		product { id sku price { amount currencyCode } inventoryQuantity availableQuantity }
		userErrors { field message code } } }`,
		map[string]any{"input": map[string]any{
			"sku": "E2E-" + strings.ToUpper(suffix), "name": "E2E widget " + suffix, "price": price,
			"inventoryQuantity": stock, "lowStockThreshold": threshold,
		}}, &out)
	p := out.ProductCreate.Product
	if p == nil || len(out.ProductCreate.UserErrors) > 0 {
		t.Fatalf("productCreate: %+v", out.ProductCreate.UserErrors)
	}
	if p.InventoryQuantity != stock || p.AvailableQuantity != stock {
		t.Fatalf("new product stock: on hand %d, available %d, want %d", p.InventoryQuantity, p.AvailableQuantity, stock)
	}
	return *p
}

type productState struct {
	AvailableQuantity     int
	InventoryQuantity     int
	InventoryTransactions struct {
		TotalCount int
		Edges      []struct{ Node ledgerRow }
	}
}

func (p productState) ledger() []ledgerRow {
	out := make([]ledgerRow, len(p.InventoryTransactions.Edges))
	for i, e := range p.InventoryTransactions.Edges {
		out[i] = e.Node
	}
	return out
}

func (s *e2eServer) product(t *testing.T, staff, id string) productState {
	t.Helper()
	var out struct{ Product *productState }
	s.gql(t, staff, `query($id: ID!) { product(id: $id) { availableQuantity inventoryQuantity
		inventoryTransactions(first: 100) { totalCount edges { node { type quantityChange referenceId } } } } }`,
		map[string]any{"id": id}, &out)
	if out.Product == nil {
		t.Fatalf("product %s not found", id)
	}
	return *out.Product
}

// checkout places an order from lines (productId → quantity) and fails the
// test on errors or userErrors.
func (s *e2eServer) checkout(t *testing.T, email, key string, lines map[string]int) checkoutResult {
	t.Helper()
	var in []map[string]any
	for id, q := range lines {
		in = append(in, map[string]any{"productId": id, "quantity": q})
	}
	var out struct{ Checkout checkoutResult }
	s.gql(t, "", checkoutMutation, map[string]any{"input": map[string]any{
		"lines": in, "email": email, "shippingAddress": shippingAddress(), "idempotencyKey": key,
	}}, &out)
	if out.Checkout.Order == nil || len(out.Checkout.UserErrors) > 0 {
		t.Fatalf("checkout: %+v", out.Checkout.UserErrors)
	}
	return out.Checkout
}

// order reads an order as staff.
func (s *e2eServer) order(t *testing.T, staff, number string) e2eOrder {
	t.Helper()
	var out struct{ Order *e2eOrder }
	s.gql(t, staff, `query($n: String!) { order(orderNumber: $n) { `+orderFields+` } }`, map[string]any{"n": number}, &out)
	if out.Order == nil {
		t.Fatalf("order %s not found", number)
	}
	return *out.Order
}

// waitOrder polls the order until cond holds or timeout passes.
func (s *e2eServer) waitOrder(t *testing.T, staff, number string, timeout time.Duration, what string, cond func(e2eOrder) bool) e2eOrder {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		o := s.order(t, staff, number)
		if cond(o) {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s not %s within %s: status %s/%s, notes %v, events %v",
				number, what, timeout, o.Status, o.PaymentStatus, orNil(o.Notes), o.eventTypes())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func orNil(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// cents parses a USD decimal string with exactly two minor digits.
func cents(t *testing.T, amount string) int64 {
	t.Helper()
	whole, frac, ok := strings.Cut(amount, ".")
	if !ok || len(frac) != 2 {
		t.Fatalf("amount %q does not have two minor digits", amount)
	}
	w, err1 := strconv.ParseInt(whole, 10, 64)
	f, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil || w < 0 {
		t.Fatalf("amount %q is not a decimal", amount)
	}
	return w*100 + f
}

func centsString(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }

// expectedTotals prices lines with the store defaults (TAX_RATE 0.10 half-up
// on the subtotal, shipping 10.00 below a 100.00 subtotal, free from it).
func expectedTotals(lines ...[2]int64) (subtotal, tax, shipping, total int64) {
	for _, l := range lines {
		subtotal += l[0] * l[1]
	}
	tax = (subtotal*10 + 50) / 100
	if subtotal < 10000 {
		shipping = 1000
	}
	return subtotal, tax, shipping, subtotal + tax + shipping
}

// waitForMail waits for an email to `to` whose subject contains every one
// of subjectParts.
func waitForMail(t *testing.T, m *mailtest.Server, to string, timeout time.Duration, subjectParts ...string) mailtest.Summary {
	t.Helper()
	m.WaitForMessages(t, 1, timeout)
	deadline := time.Now().Add(timeout)
	for {
		msgs := m.Messages(t)
		for _, msg := range msgs {
			if !slices.Contains(msg.To, to) {
				continue
			}
			all := true
			for _, p := range subjectParts {
				all = all && strings.Contains(msg.Subject, p)
			}
			if all {
				return msg
			}
		}
		if time.Now().After(deadline) {
			var seen []string
			for _, msg := range msgs {
				seen = append(seen, fmt.Sprintf("%v %q", msg.To, msg.Subject))
			}
			t.Fatalf("no email to %s with subject containing %q within %s; mailpit has %v", to, subjectParts, timeout, seen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkLedger checks the stock ledger invariants of DESIGN.md: the sum of
// all rows is available, the sum without RESERVATION and RELEASE rows is on
// hand.
func checkLedger(t *testing.T, p productState) {
	t.Helper()
	rows := p.ledger()
	if p.InventoryTransactions.TotalCount != len(rows) {
		t.Fatalf("ledger has %d rows but totalCount %d", len(rows), p.InventoryTransactions.TotalCount)
	}
	all, onHand := 0, 0
	for _, r := range rows {
		all += r.QuantityChange
		if r.Type != "RESERVATION" && r.Type != "RELEASE" {
			onHand += r.QuantityChange
		}
	}
	if all != p.AvailableQuantity || onHand != p.InventoryQuantity {
		t.Errorf("ledger %+v sums to available %d / on hand %d, product says %d / %d",
			rows, all, onHand, p.AvailableQuantity, p.InventoryQuantity)
	}
}

// ledgerOf returns the rows that reference the order, as "TYPE:change".
func ledgerOf(p productState, orderID string) []string {
	var out []string
	for _, r := range p.ledger() {
		if r.ReferenceID != nil && *r.ReferenceID == orderID {
			out = append(out, fmt.Sprintf("%s:%d", r.Type, r.QuantityChange))
		}
	}
	slices.Sort(out)
	return out
}

// ---------------------------------------------------------------- tests

// TestE2ECheckoutPaidByWebhook is the acceptance path: cart, checkout,
// signed payment_intent.succeeded; the order is paid, the stock sold and
// ledgered, the customer's totals moved and the confirmation emailed.
func TestE2ECheckoutPaidByWebhook(t *testing.T) {
	deps := startDeps(t, true)
	srv := startServer(t, "paid", deps.env(t, nil))
	staff := srv.staffLogin(t)
	p := srv.createProduct(t, staff, "19.99", 10)
	const qty = 3

	var cart struct {
		CartCreate struct {
			Cart       *struct{ ID string }
			UserErrors []userError
		}
	}
	srv.gql(t, "", `mutation { cartCreate { cart { id } userErrors { field message code } } }`, nil, &cart)
	if cart.CartCreate.Cart == nil {
		t.Fatalf("cartCreate: %+v", cart.CartCreate.UserErrors)
	}
	cartID := cart.CartCreate.Cart.ID
	var added struct {
		CartLinesAdd struct {
			Cart *struct {
				Lines []struct{ Quantity int }
				Total gqlMoney
			}
			UserErrors []userError
		}
	}
	srv.gql(t, "", `mutation($c: ID!, $l: [CartLineInput!]!) { cartLinesAdd(cartId: $c, lines: $l) {
		cart { lines { quantity } total { amount currencyCode } } userErrors { field message code } } }`,
		map[string]any{"c": cartID, "l": []any{map[string]any{"productId": p.ID, "quantity": qty}}}, &added)
	if added.CartLinesAdd.Cart == nil || len(added.CartLinesAdd.UserErrors) > 0 || len(added.CartLinesAdd.Cart.Lines) != 1 {
		t.Fatalf("cartLinesAdd: %+v %+v", added.CartLinesAdd.Cart, added.CartLinesAdd.UserErrors)
	}

	email := buyerEmail()
	var co struct{ Checkout checkoutResult }
	srv.gql(t, "", checkoutMutation, map[string]any{"input": map[string]any{
		"cartId": cartID, "email": email, "shippingAddress": shippingAddress(), "idempotencyKey": "e2e-paid-" + randHex(8),
	}}, &co)
	res := co.Checkout
	if res.Order == nil || len(res.UserErrors) > 0 {
		t.Fatalf("checkout: %+v", res.UserErrors)
	}
	o := *res.Order
	if o.Status != "PENDING" || o.PaymentStatus != "PENDING" {
		t.Fatalf("new order is %s/%s, want PENDING/PENDING", o.Status, o.PaymentStatus)
	}
	if res.PaymentClientSecret == nil || *res.PaymentClientSecret == "" {
		t.Fatal("checkout returned no paymentClientSecret")
	}
	if res.OrderAccessToken == nil || *res.OrderAccessToken == "" {
		t.Fatal("checkout returned no orderAccessToken")
	}
	if !strings.HasPrefix(o.OrderNumber, "ORD-") {
		t.Errorf("order number %q does not start with ORD-", o.OrderNumber)
	}
	_, _, _, wantTotal := expectedTotals([2]int64{1999, qty})
	if got := cents(t, o.Total.Amount); got != wantTotal || o.Total.CurrencyCode != "USD" {
		t.Fatalf("total %+v, want %s USD", o.Total, centsString(wantTotal))
	}
	if got := added.CartLinesAdd.Cart.Total; cents(t, got.Amount) != wantTotal {
		t.Errorf("cart total %s differs from the order total %s", got.Amount, o.Total.Amount)
	}
	if st := srv.product(t, staff, p.ID); st.AvailableQuantity != 10-qty || st.InventoryQuantity != 10 {
		t.Errorf("after checkout: available %d, on hand %d; want %d, 10", st.AvailableQuantity, st.InventoryQuantity, 10-qty)
	}

	staffView := srv.order(t, staff, o.OrderNumber)
	if staffView.StripePaymentIntentID == nil || *staffView.StripePaymentIntentID == "" {
		t.Fatalf("staff sees no stripePaymentIntentId; events %v", staffView.eventTypes())
	}
	intentID := *staffView.StripePaymentIntentID

	obj := stripetest.PaymentIntentObject(intentID, o.ID, o.OrderNumber, wantTotal, "usd")
	if code := srv.sendEvent(t, "payment_intent.succeeded", obj); code != http.StatusOK {
		t.Fatalf("webhook payment_intent.succeeded: %d, want 200", code)
	}
	paid := srv.waitOrder(t, staff, o.OrderNumber, 10*time.Second, "PROCESSING/PAID", func(o e2eOrder) bool {
		return o.Status == "PROCESSING" && o.PaymentStatus == "PAID"
	})
	if paid.eventCount("PAID") != 1 || paid.eventCount("CONFIRMATION_QUEUED") != 1 {
		t.Errorf("events %v: want one PAID and one CONFIRMATION_QUEUED", paid.eventTypes())
	}
	if paid.PaymentClientSecret != nil {
		t.Errorf("paymentClientSecret of a paid order is %q, want null", *paid.PaymentClientSecret)
	}

	st := srv.product(t, staff, p.ID)
	if st.AvailableQuantity != 10-qty || st.InventoryQuantity != 10-qty {
		t.Errorf("after payment: available %d, on hand %d; want both %d", st.AvailableQuantity, st.InventoryQuantity, 10-qty)
	}
	checkLedger(t, st)
	want := []string{"RELEASE:3", "RESERVATION:-3", "SALE:-3"}
	if got := ledgerOf(st, o.ID); !slices.Equal(got, want) {
		t.Errorf("ledger rows of the order: %v, want %v", got, want)
	}
	var restock int
	for _, r := range st.ledger() {
		if r.Type == "RESTOCK" {
			restock += r.QuantityChange
		}
	}
	if restock != 10 {
		t.Errorf("RESTOCK rows sum to %d, want the opening stock 10", restock)
	}

	if paid.Customer == nil {
		t.Fatal("staff sees no customer on the order")
	}
	var cust struct {
		Customer *struct {
			Email       string
			TotalOrders int
			TotalSpent  gqlMoney
		}
	}
	srv.gql(t, staff, `query($id: ID!) { customer(id: $id) { email totalOrders totalSpent { amount currencyCode } } }`,
		map[string]any{"id": paid.Customer.ID}, &cust)
	if c := cust.Customer; c == nil || c.Email != email || c.TotalOrders != 1 || c.TotalSpent != o.Total {
		t.Errorf("customer after payment: %+v; want %s with 1 order and %+v spent", c, email, o.Total)
	}

	msg := waitForMail(t, deps.mail, email, 20*time.Second, o.OrderNumber)
	full := deps.mail.Message(t, msg.ID)
	if !strings.Contains(full.Text, o.Total.Amount) {
		t.Errorf("confirmation email %q does not show the total %s:\n%s", msg.Subject, o.Total.Amount, full.Text)
	}
}

// TestE2EWebhookRejectsAndDeduplicates covers the webhook's guards: a bad or
// missing signature and a stale timestamp are 400 and change nothing, a
// replayed event applies once, an unknown order changes nothing, a failure
// after a success does not unpay, and a failure then a success ends paid.
func TestE2EWebhookRejectsAndDeduplicates(t *testing.T) {
	deps := startDeps(t, true)
	srv := startServer(t, "webhook", deps.env(t, nil))
	staff := srv.staffLogin(t)
	p := srv.createProduct(t, staff, "25.00", 10)

	emailA := buyerEmail()
	a := *srv.checkout(t, emailA, "e2e-wh-a-"+randHex(8), map[string]int{p.ID: 1}).Order
	aView := srv.order(t, staff, a.OrderNumber)
	if aView.StripePaymentIntentID == nil {
		t.Fatal("order has no payment intent id")
	}
	intentID := *aView.StripePaymentIntentID
	totalA := cents(t, a.Total.Amount)
	succeeded := stripetest.PaymentIntentObject(intentID, a.ID, a.OrderNumber, totalA, "usd")

	unchanged := func(step string) {
		t.Helper()
		o := srv.order(t, staff, a.OrderNumber)
		if o.Status != "PENDING" || o.PaymentStatus != "PENDING" || len(o.Events) != len(aView.Events) {
			t.Errorf("%s changed the order: %s/%s, events %v (were %v)", step, o.Status, o.PaymentStatus, o.eventTypes(), aView.eventTypes())
		}
		if st := srv.product(t, staff, p.ID); st.AvailableQuantity != 9 || st.InventoryQuantity != 10 {
			t.Errorf("%s changed the stock: available %d, on hand %d; want 9, 10", step, st.AvailableQuantity, st.InventoryQuantity)
		}
	}

	body, _ := stripetest.SignedEvent(t, e2eWebhookSecret, "payment_intent.succeeded", succeeded)
	if code := srv.postWebhook(t, body, ""); code != http.StatusBadRequest {
		t.Errorf("no signature: %d, want 400", code)
	}
	body, header := stripetest.SignedEvent(t, "whsec_someone_else", "payment_intent.succeeded", succeeded)
	if code := srv.postWebhook(t, body, header); code != http.StatusBadRequest {
		t.Errorf("signed with another secret: %d, want 400", code)
	}
	body, header = stripetest.SignedEvent(t, e2eWebhookSecret, "payment_intent.succeeded", succeeded)
	tampered := bytes.Replace(body, []byte(`"amount":`+strconv.FormatInt(totalA, 10)), []byte(`"amount":1`), 1)
	if bytes.Equal(tampered, body) {
		t.Fatal("could not tamper with the body")
	}
	if code := srv.postWebhook(t, tampered, header); code != http.StatusBadRequest {
		t.Errorf("tampered body: %d, want 400", code)
	}
	body, header = stripetest.SignedEventAt(t, e2eWebhookSecret, "payment_intent.succeeded", succeeded, time.Now().Add(-10*time.Minute))
	if code := srv.postWebhook(t, body, header); code != http.StatusBadRequest {
		t.Errorf("stale timestamp: %d, want 400", code)
	}
	unchanged("rejected webhooks")

	// An event for an order that does not exist is acknowledged and ignored.
	ghost := stripetest.PaymentIntentObject(intentID, randomUUID(), "ORD-NOSUCHORDER", totalA, "usd")
	if code := srv.sendEvent(t, "payment_intent.succeeded", ghost); code != http.StatusOK {
		t.Errorf("event for an unknown order: %d, want 200", code)
	}
	unchanged("an event for an unknown order")

	// The same event delivered five times, concurrently, is applied once.
	body, header = stripetest.SignedEvent(t, e2eWebhookSecret, "payment_intent.succeeded", succeeded)
	codes := make([]int, 5)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() { codes[i] = srv.postWebhook(t, body, header) })
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("delivery %d of the same event: %d, want 200", i+1, c)
		}
	}
	paidA := srv.waitOrder(t, staff, a.OrderNumber, 10*time.Second, "PROCESSING/PAID", func(o e2eOrder) bool {
		return o.Status == "PROCESSING" && o.PaymentStatus == "PAID"
	})
	if n := paidA.eventCount("PAID"); n != 1 {
		t.Errorf("events after 5 deliveries: %v; want exactly one PAID, got %d", paidA.eventTypes(), n)
	}
	st := srv.product(t, staff, p.ID)
	if st.AvailableQuantity != 9 || st.InventoryQuantity != 9 {
		t.Errorf("after 5 deliveries: available %d, on hand %d; want 9, 9", st.AvailableQuantity, st.InventoryQuantity)
	}
	if got, want := ledgerOf(st, a.ID), []string{"RELEASE:1", "RESERVATION:-1", "SALE:-1"}; !slices.Equal(got, want) {
		t.Errorf("ledger rows of order A: %v, want %v", got, want)
	}

	// A failure after the success does not move the order backwards.
	failed := stripetest.PaymentFailedObject(intentID, a.ID, a.OrderNumber, totalA, "usd", "Your card was declined.")
	if code := srv.sendEvent(t, "payment_intent.payment_failed", failed); code != http.StatusOK {
		t.Errorf("payment_failed after succeeded: %d, want 200", code)
	}
	if o := srv.order(t, staff, a.OrderNumber); o.Status != "PROCESSING" || o.PaymentStatus != "PAID" || o.eventCount("PAID") != 1 {
		t.Errorf("payment_failed after succeeded left %s/%s, events %v; want PROCESSING/PAID", o.Status, o.PaymentStatus, o.eventTypes())
	}

	// A failure then a success: the shopper retried on the same intent.
	emailB := buyerEmail()
	b := *srv.checkout(t, emailB, "e2e-wh-b-"+randHex(8), map[string]int{p.ID: 1}).Order
	totalB := cents(t, b.Total.Amount)
	intentB := orNil(srv.order(t, staff, b.OrderNumber).StripePaymentIntentID)
	failedB := stripetest.PaymentFailedObject(intentB, b.ID, b.OrderNumber, totalB, "usd", "Your card was declined.")
	if code := srv.sendEvent(t, "payment_intent.payment_failed", failedB); code != http.StatusOK {
		t.Fatalf("payment_failed: %d, want 200", code)
	}
	fb := srv.waitOrder(t, staff, b.OrderNumber, 10*time.Second, "PENDING/FAILED", func(o e2eOrder) bool {
		return o.PaymentStatus == "FAILED"
	})
	if fb.Status != "PENDING" || fb.eventCount("PAYMENT_FAILED") != 1 {
		t.Errorf("after payment_failed: %s/%s, events %v; want PENDING/FAILED with one PAYMENT_FAILED", fb.Status, fb.PaymentStatus, fb.eventTypes())
	}
	if st := srv.product(t, staff, p.ID); st.AvailableQuantity != 8 || st.InventoryQuantity != 9 {
		t.Errorf("after payment_failed the stock is no longer reserved: available %d, on hand %d; want 8, 9", st.AvailableQuantity, st.InventoryQuantity)
	}
	waitForMail(t, deps.mail, emailB, 20*time.Second, b.OrderNumber, "did not go through")

	if code := srv.sendEvent(t, "payment_intent.succeeded", stripetest.PaymentIntentObject(intentB, b.ID, b.OrderNumber, totalB, "usd")); code != http.StatusOK {
		t.Fatalf("succeeded after failed: %d, want 200", code)
	}
	pb := srv.waitOrder(t, staff, b.OrderNumber, 10*time.Second, "PROCESSING/PAID", func(o e2eOrder) bool {
		return o.Status == "PROCESSING" && o.PaymentStatus == "PAID"
	})
	if pb.eventCount("PAID") != 1 {
		t.Errorf("events %v: want one PAID", pb.eventTypes())
	}
	st = srv.product(t, staff, p.ID)
	if st.AvailableQuantity != 8 || st.InventoryQuantity != 8 {
		t.Errorf("after both orders paid: available %d, on hand %d; want 8, 8", st.AvailableQuantity, st.InventoryQuantity)
	}
	checkLedger(t, st)
	waitForMail(t, deps.mail, emailB, 20*time.Second, b.OrderNumber, "confirmed")
}

// TestE2EPaymentTimeout: an unpaid order is cancelled at PAYMENT_TIMEOUT,
// its stock released and the shopper told.
func TestE2EPaymentTimeout(t *testing.T) {
	deps := startDeps(t, true)
	srv := startServer(t, "timeout", deps.env(t, map[string]string{"PAYMENT_TIMEOUT": "3s"}))
	staff := srv.staffLogin(t)
	p := srv.createProduct(t, staff, "12.50", 5)
	email := buyerEmail()
	o := *srv.checkout(t, email, "e2e-timeout-"+randHex(8), map[string]int{p.ID: 2}).Order
	if st := srv.product(t, staff, p.ID); st.AvailableQuantity != 3 {
		t.Fatalf("after checkout available %d, want 3", st.AvailableQuantity)
	}

	c := srv.waitOrder(t, staff, o.OrderNumber, 30*time.Second, "CANCELLED", func(o e2eOrder) bool { return o.Status == "CANCELLED" })
	if c.Notes == nil || !strings.Contains(*c.Notes, "Payment timeout") {
		t.Errorf("notes of the cancelled order: %q, want \"Payment timeout\"", orNil(c.Notes))
	}
	if c.PaymentStatus == "PAID" || c.eventCount("CANCELLED") != 1 {
		t.Errorf("cancelled order: payment %s, events %v", c.PaymentStatus, c.eventTypes())
	}
	if c.PaymentClientSecret != nil {
		t.Errorf("paymentClientSecret of a cancelled order is %q, want null", *c.PaymentClientSecret)
	}
	st := srv.product(t, staff, p.ID)
	if st.AvailableQuantity != 5 || st.InventoryQuantity != 5 {
		t.Errorf("after the timeout: available %d, on hand %d; want 5, 5", st.AvailableQuantity, st.InventoryQuantity)
	}
	checkLedger(t, st)
	if got, want := ledgerOf(st, o.ID), []string{"RELEASE:2", "RESERVATION:-2"}; !slices.Equal(got, want) {
		t.Errorf("ledger rows of the order: %v, want %v", got, want)
	}
	waitForMail(t, deps.mail, email, 20*time.Second, o.OrderNumber, "cancelled")
}

// TestE2ETimeoutSurvivesSIGKILL: the payment-timeout job is durable; a
// server killed between checkout and timeout leaves it to the next one.
func TestE2ETimeoutSurvivesSIGKILL(t *testing.T) {
	deps := startDeps(t, true)
	env := deps.env(t, map[string]string{"PAYMENT_TIMEOUT": "5s"})
	first := startServer(t, "before-kill", env)
	staff := first.staffLogin(t)
	p := first.createProduct(t, staff, "9.99", 4)
	email := buyerEmail()
	o := *first.checkout(t, email, "e2e-kill-"+randHex(8), map[string]int{p.ID: 3}).Order
	first.kill()
	if first.cmd.ProcessState.Success() {
		t.Fatal("the server exited cleanly; it should have been killed")
	}

	second := startServer(t, "after-kill", env)
	staff = second.staffLogin(t)
	if st := second.product(t, staff, p.ID); st.AvailableQuantity != 1 {
		t.Fatalf("after the restart available %d, want 1 (3 reserved)", st.AvailableQuantity)
	}
	c := second.waitOrder(t, staff, o.OrderNumber, 60*time.Second, "CANCELLED", func(o e2eOrder) bool { return o.Status == "CANCELLED" })
	if c.Notes == nil || !strings.Contains(*c.Notes, "Payment timeout") {
		t.Errorf("notes: %q, want \"Payment timeout\"", orNil(c.Notes))
	}
	st := second.product(t, staff, p.ID)
	if st.AvailableQuantity != 4 || st.InventoryQuantity != 4 {
		t.Errorf("after the timeout: available %d, on hand %d; want 4, 4", st.AvailableQuantity, st.InventoryQuantity)
	}
	checkLedger(t, st)
	waitForMail(t, deps.mail, email, 20*time.Second, o.OrderNumber, "cancelled")
}

// TestE2EClientPriceIgnored: the schema refuses a client price, and what is
// charged is the catalog price with the server's tax and shipping.
func TestE2EClientPriceIgnored(t *testing.T) {
	deps := startDeps(t, true)
	srv := startServer(t, "prices", deps.env(t, nil))
	staff := srv.staffLogin(t)
	cheap := srv.createProduct(t, staff, "4.15", 50)
	dear := srv.createProduct(t, staff, "33.35", 50)
	email := buyerEmail()

	// A line with a price, inline and through variables.
	inline := fmt.Sprintf(`mutation { checkout(input: {
		lines: [{productId: %q, quantity: 3, price: "0.01"}], email: %q, idempotencyKey: %q,
		shippingAddress: {firstName: "Ada", lastName: "Lovelace", line1: "1 Row", city: "London", postalCode: "N1", countryCode: "GB"}
	}) { order { id total { amount } } userErrors { code } } }`, cheap.ID, email, "e2e-price-inline-"+randHex(8))
	r := srv.do(t, "", inline, nil)
	if !slices.Contains(r.codes(), "GRAPHQL_VALIDATION_FAILED") {
		t.Errorf("checkout with an inline line price: errors %+v, want GRAPHQL_VALIDATION_FAILED", r.Errors)
	}
	if d := string(r.Data); d != "" && d != "null" {
		t.Errorf("checkout with a line price returned data %s", d)
	}
	r = srv.do(t, "", checkoutMutation, map[string]any{"input": map[string]any{
		"lines":           []any{map[string]any{"productId": cheap.ID, "quantity": 3, "price": "0.01", "unitPrice": "0.01"}},
		"email":           email,
		"shippingAddress": shippingAddress(),
		"idempotencyKey":  "e2e-price-vars-" + randHex(8),
	}})
	if !slices.Contains(r.codes(), "GRAPHQL_VALIDATION_FAILED") {
		t.Errorf("checkout with a line price in variables: errors %+v, want GRAPHQL_VALIDATION_FAILED", r.Errors)
	}
	var list struct {
		Orders struct{ TotalCount int }
	}
	srv.gql(t, staff, `query($e: String!) { orders(filter: {email: $e}) { totalCount } }`, map[string]any{"e": email}, &list)
	if list.Orders.TotalCount != 0 {
		t.Fatalf("a refused checkout created %d orders", list.Orders.TotalCount)
	}
	if st := srv.product(t, staff, cheap.ID); st.AvailableQuantity != 50 {
		t.Fatalf("a refused checkout reserved stock: available %d", st.AvailableQuantity)
	}

	// Totals come from the catalog, in integer cents.
	cases := []struct {
		name  string
		lines map[string]int
		want  [][2]int64
	}{
		{"below free shipping, tax rounds half up", map[string]int{cheap.ID: 3}, [][2]int64{{415, 3}}},
		{"free shipping from 100.00", map[string]int{dear.ID: 3}, [][2]int64{{3335, 3}}},
		{"two lines", map[string]int{cheap.ID: 1, dear.ID: 2}, [][2]int64{{415, 1}, {3335, 2}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := srv.checkout(t, email, "e2e-price-"+randHex(8), tc.lines)
			o := *res.Order
			sub, tax, ship, total := expectedTotals(tc.want...)
			got := [4]int64{cents(t, o.Subtotal.Amount), cents(t, o.Tax.Amount), cents(t, o.ShippingCost.Amount), cents(t, o.Total.Amount)}
			if want := [4]int64{sub, tax, ship, total}; got != want {
				t.Errorf("subtotal/tax/shipping/total = %v cents, want %v", got, want)
			}
			if cents(t, o.Discount.Amount) != 0 {
				t.Errorf("discount %s, want 0.00", o.Discount.Amount)
			}
			for _, l := range o.Lines {
				if cents(t, l.LineTotal.Amount) != cents(t, l.UnitPrice.Amount)*int64(l.Quantity) {
					t.Errorf("line %+v: line total is not unit price × quantity", l)
				}
			}
		})
	}
}

// TestE2EDummyProvider: without Stripe keys the dummy provider pays an
// order by itself, through the same path as a webhook.
func TestE2EDummyProvider(t *testing.T) {
	deps := startDeps(t, false)
	srv := startServer(t, "dummy", deps.env(t, map[string]string{"PAYMENT_PROVIDER": "dummy"}))
	staff := srv.staffLogin(t)
	p := srv.createProduct(t, staff, "15.00", 6)
	email := buyerEmail()
	res := srv.checkout(t, email, "e2e-dummy-"+randHex(8), map[string]int{p.ID: 2})
	if res.PaymentClientSecret == nil || *res.PaymentClientSecret == "" {
		t.Error("dummy checkout returned no paymentClientSecret")
	}
	o := srv.waitOrder(t, staff, res.Order.OrderNumber, 15*time.Second, "PROCESSING/PAID", func(o e2eOrder) bool {
		return o.Status == "PROCESSING" && o.PaymentStatus == "PAID"
	})
	if o.eventCount("PAID") != 1 {
		t.Errorf("events %v: want one PAID", o.eventTypes())
	}
	st := srv.product(t, staff, p.ID)
	if st.AvailableQuantity != 4 || st.InventoryQuantity != 4 {
		t.Errorf("after the dummy payment: available %d, on hand %d; want 4, 4", st.AvailableQuantity, st.InventoryQuantity)
	}
	checkLedger(t, st)
	waitForMail(t, deps.mail, email, 20*time.Second, o.OrderNumber, "confirmed")
}

// stripeCounter is a proxy in front of stripe-mock that counts the POST
// requests per path, e.g. "/v1/payment_intents" or "/v1/refunds".
type stripeCounter struct {
	URL string
	mu  sync.Mutex
	n   map[string]int
}

func countingProxy(t *testing.T, target string) *stripeCounter {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	c := &stripeCounter{n: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			c.mu.Lock()
			c.n[r.URL.Path]++
			c.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

func (c *stripeCounter) posts(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[path]
}

// waitPosts waits until at least n POSTs to path arrived.
func (c *stripeCounter) waitPosts(t *testing.T, path string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for c.posts(path) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d POST %s within %s, want %d", c.posts(path), path, timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestE2EPaymentMismatch: a success whose amount is not the order's total,
// or an event for an intent that is not the order's, does not pay the
// order; it is acknowledged, recorded on the timeline, and a success is
// refunded through Stripe (DESIGN.md, "The order workflow", step 4).
func TestE2EPaymentMismatch(t *testing.T) {
	deps := startDeps(t, true)
	stripe := countingProxy(t, deps.stripe.URL())
	srv := startServer(t, "mismatch", deps.env(t, map[string]string{"STRIPE_API_BASE": stripe.URL}))
	staff := srv.staffLogin(t)
	p := srv.createProduct(t, staff, "4.15", 10)

	// A success of 0.01 for an order of another total.
	res := srv.checkout(t, buyerEmail(), "e2e-mismatch-amount-"+randHex(8), map[string]int{p.ID: 2})
	o := srv.order(t, staff, res.Order.OrderNumber)
	obj := stripetest.PaymentIntentObject(orNil(o.StripePaymentIntentID), o.ID, o.OrderNumber, 1, "usd")
	if code := srv.sendEvent(t, "payment_intent.succeeded", obj); code != http.StatusOK {
		t.Fatalf("succeeded with the wrong amount: %d, want 200", code)
	}
	after := srv.order(t, staff, o.OrderNumber)
	if after.PaymentStatus == "PAID" || after.Status != "PENDING" || after.eventCount("PAYMENT_MISMATCH") != 1 {
		t.Errorf("a payment of 0.01 for %s left the order %s/%s, events %v; want it unpaid with one PAYMENT_MISMATCH",
			o.Total.Amount, after.Status, after.PaymentStatus, after.eventTypes())
	}
	stripe.waitPosts(t, "/v1/refunds", 1, 20*time.Second)
	if st := srv.product(t, staff, p.ID); st.AvailableQuantity != 8 || st.InventoryQuantity != 10 {
		t.Errorf("after a mismatched payment: available %d, on hand %d; want 8, 10", st.AvailableQuantity, st.InventoryQuantity)
	}

	// Events for another intent: a failure is ignored, a success refunded.
	res = srv.checkout(t, buyerEmail(), "e2e-mismatch-intent-"+randHex(8), map[string]int{p.ID: 1})
	o = srv.order(t, staff, res.Order.OrderNumber)
	total := cents(t, o.Total.Amount)
	failed := stripetest.PaymentFailedObject("pi_not_this_orders", o.ID, o.OrderNumber, total, "usd", "declined")
	if code := srv.sendEvent(t, "payment_intent.payment_failed", failed); code != http.StatusOK {
		t.Fatalf("payment_failed for another intent: %d, want 200", code)
	}
	if code := srv.sendEvent(t, "payment_intent.succeeded",
		stripetest.PaymentIntentObject("pi_not_this_orders", o.ID, o.OrderNumber, total, "usd")); code != http.StatusOK {
		t.Fatalf("succeeded for another intent: %d, want 200", code)
	}
	after = srv.order(t, staff, o.OrderNumber)
	if after.Status != "PENDING" || after.PaymentStatus != "PENDING" || after.eventCount("PAYMENT_EVENT_IGNORED") != 1 ||
		after.eventCount("PAYMENT_MISMATCH") != 1 {
		t.Errorf("events for another intent left %s/%s, events %v; want PENDING/PENDING with one PAYMENT_EVENT_IGNORED and one PAYMENT_MISMATCH",
			after.Status, after.PaymentStatus, after.eventTypes())
	}
	stripe.waitPosts(t, "/v1/refunds", 2, 20*time.Second)
}

// TestE2EIdempotentCheckoutConcurrent: twenty identical checkouts at once
// with one key make one order, one PaymentIntent request and one answer.
func TestE2EIdempotentCheckoutConcurrent(t *testing.T) {
	deps := startDeps(t, true)
	stripe := countingProxy(t, deps.stripe.URL())
	srv := startServer(t, "idempotent", deps.env(t, map[string]string{"STRIPE_API_BASE": stripe.URL}))
	staff := srv.staffLogin(t)
	p := srv.createProduct(t, staff, "7.25", 30)
	email := buyerEmail()
	input := map[string]any{
		"lines": []any{map[string]any{"productId": p.ID, "quantity": 2}}, "email": email,
		"shippingAddress": shippingAddress(), "idempotencyKey": "e2e-idem-" + randHex(8),
	}

	const n = 20
	results := make([]checkoutResult, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			r := srv.do(t, "", checkoutMutation, map[string]any{"input": input})
			if len(r.Errors) > 0 {
				t.Errorf("request %d: errors %+v", i, r.Errors)
				return
			}
			var out struct{ Checkout checkoutResult }
			if err := json.Unmarshal(r.Data, &out); err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			results[i] = out.Checkout
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	first := results[0]
	if first.Order == nil || first.OrderAccessToken == nil || len(first.UserErrors) > 0 {
		t.Fatalf("request 0: %+v", first)
	}
	for i, r := range results {
		switch {
		case r.Order == nil || len(r.UserErrors) > 0:
			t.Errorf("request %d: no order, userErrors %+v", i, r.UserErrors)
		case r.Order.OrderNumber != first.Order.OrderNumber || r.Order.ID != first.Order.ID:
			t.Errorf("request %d: order %s, request 0: %s", i, r.Order.OrderNumber, first.Order.OrderNumber)
		case r.OrderAccessToken == nil || *r.OrderAccessToken != *first.OrderAccessToken:
			t.Errorf("request %d: another access token", i)
		case orNil(r.PaymentClientSecret) != orNil(first.PaymentClientSecret):
			t.Errorf("request %d: paymentClientSecret %q, request 0: %q", i, orNil(r.PaymentClientSecret), orNil(first.PaymentClientSecret))
		}
	}

	var list struct {
		Orders struct {
			TotalCount int
			Edges      []struct{ Node struct{ OrderNumber string } }
		}
	}
	srv.gql(t, staff, `query($e: String!) { orders(first: 50, filter: {email: $e}) { totalCount edges { node { orderNumber } } } }`,
		map[string]any{"e": email}, &list)
	if list.Orders.TotalCount != 1 || len(list.Orders.Edges) != 1 || list.Orders.Edges[0].Node.OrderNumber != first.Order.OrderNumber {
		t.Errorf("orders for %s: %+v; want exactly %s", email, list.Orders, first.Order.OrderNumber)
	}
	if st := srv.product(t, staff, p.ID); st.AvailableQuantity != 28 {
		t.Errorf("available %d after one order of 2 from 30, want 28", st.AvailableQuantity)
	}
	o := srv.order(t, staff, first.Order.OrderNumber)
	if o.eventCount("PLACED") != 1 || o.eventCount("PAYMENT_INTENT_CREATED") != 1 {
		t.Errorf("events %v: want one PLACED and one PAYMENT_INTENT_CREATED", o.eventTypes())
	}
	if got := stripe.posts("/v1/payment_intents"); got != 1 {
		t.Errorf("%d PaymentIntent create requests reached Stripe, want 1", got)
	}
}
