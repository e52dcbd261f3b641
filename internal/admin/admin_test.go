package admin_test

// The live view is tested twice: the handler on its own (headers, paths),
// and end to end in Debian's headless Chromium, driven by chromedp, against
// the real service binary on the package database: a staff member logs in
// on /admin, an order placed over HTTP appears through the orderUpdates
// subscription, turns PAID when the dummy provider confirms it, and is
// fulfilled from the page, whole or in parts, and refunded a unit. A
// screenshot is kept in <module>/tmp.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"commerce/internal/admin"
	"commerce/internal/platform/dbtest"
	"commerce/internal/platform/testtool"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }

const (
	adminEmail    = "live-admin@example.com"
	adminPassword = "live-admin-password"
	authSecret    = "admin-live-view-test-secret-0123456789abcdef"
	chromiumPath  = "/usr/bin/chromium"
)

// ---------------------------------------------------------------- handler

func TestHandlerServesPage(t *testing.T) {
	h := admin.Handler()
	for _, path := range []string{"/admin", "/admin/", "/admin/set-password"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: status %d", path, rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
		body := rec.Body.String()
		for _, want := range []string{`id="email"`, `id="password"`, `id="login"`, "graphql-transport-ws", "orderUpdates", "lowStockAlerts", "returnApprove"} {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s: page lacks %s", path, want)
			}
		}
		for _, bad := range []string{"innerHTML", "<script src", "stylesheet", "http://", "https://"} {
			if strings.Contains(body, bad) {
				t.Errorf("GET %s: page contains %q (no external resources, no innerHTML)", path, bad)
			}
		}
		csp := rec.Header().Get("Content-Security-Policy")
		if strings.Count(csp, "'sha256-") != 2 || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("GET %s: Content-Security-Policy %q, want default-src 'none' and one hash each for the script and the style", path, csp)
		}
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/other", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /admin/other: status %d, want 404", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/admin", nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD /admin: status %d, %d body bytes", rec.Code, rec.Body.Len())
	}
}

// ---------------------------------------------------------------- Chromium

func TestLiveViewInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the service and Chromium; skipped with -short")
	}
	browser := ensureChromium(t)
	root := moduleRoot(t)
	srv := startService(t, root)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Chromium, with the flags that work on a machine with no outside
	// network, and a new empty profile.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1360, 860),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()

	console := collectConsole(t, bctx)

	// Log in on the page.
	step(t, bctx, "open /admin", chromedp.Navigate(srv.base+"/admin"), chromedp.WaitVisible(chromedp.CSS("#email")))
	step(t, bctx, "log in with a wrong password",
		chromedp.SendKeys(chromedp.CSS("#email"), adminEmail),
		chromedp.SendKeys(chromedp.CSS("#password"), "not-the-password"),
		chromedp.Click(chromedp.CSS("#login")),
	)
	waitFor(t, bctx, "the refused login's message", "#login-error", 10*time.Second)
	t.Logf("login refused: %q", text(t, bctx, "#login-error"))
	screenshot(t, bctx, root, "admin-login.png")
	step(t, bctx, "log in",
		chromedp.SendKeys(chromedp.CSS("#password"), adminPassword),
		chromedp.Click(chromedp.CSS("#login")),
	)
	waitFor(t, bctx, "the live view after login", "#app-view", 10*time.Second)
	waitFor(t, bctx, "the live connection", `#conn[data-state="live"]`, 15*time.Second)
	if tok, err := chromedp.Run(bctx, chromedp.Evaluate[string](`sessionStorage.getItem('commerce.admin.token') || ''`)); err != nil || tok == "" {
		t.Fatalf("the token is not kept in sessionStorage (%q, %v)", tok, err)
	}

	// A product whose stock falls below its threshold with the order, and
	// a name that must show as text, not markup.
	staff := srv.login(t)
	sku := "LIVE-" + randomHex(4)
	name := `Enamel mug <b>limited</b> & "co"`
	var created struct {
		ProductCreate struct {
			Product    struct{ ID string }
			UserErrors []userError
		}
	}
	srv.gql(t, staff, `mutation($in: ProductCreateInput!) { productCreate(input: $in) { product { id } userErrors { field message code } } }`,
		map[string]any{"in": map[string]any{"sku": sku, "name": name, "price": "24.50", "inventoryQuantity": 12, "lowStockThreshold": 10}}, &created)
	if len(created.ProductCreate.UserErrors) > 0 || created.ProductCreate.Product.ID == "" {
		t.Fatalf("productCreate: %+v", created.ProductCreate.UserErrors)
	}

	// A guest checks out over HTTP; the order reaches the page only through
	// the subscription.
	first := srv.checkout(t, sku, 3)
	row := fmt.Sprintf(`tr[data-order=%q]`, first)
	waitFor(t, bctx, "the new order's row", row, 15*time.Second)
	waitFor(t, bctx, "the order to show PAID (dummy provider)", row+`[data-payment="PAID"][data-status="PROCESSING"]`, 30*time.Second)
	if got := text(t, bctx, row+" td.payment"); got != "PAID" {
		t.Errorf("payment cell = %q, want PAID", got)
	}
	if got := text(t, bctx, row+" td.email"); !strings.HasPrefix(got, "buyer-") {
		t.Errorf("email cell = %q, want the buyer's email (filled in after the event)", got)
	}

	// The low-stock alert arrives live, with the name as plain text.
	item := fmt.Sprintf(`#low-stock li[data-sku=%q]`, sku)
	waitFor(t, bctx, "the low-stock alert", item, 15*time.Second)
	if got := text(t, bctx, item+" .stock-name"); got != name {
		t.Errorf("low-stock name = %q, want %q", got, name)
	}
	if n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('#low-stock b, #orders-body b').length`)); err != nil || n != 0 {
		t.Errorf("data was rendered as markup: %d <b> elements (%v)", n, err)
	}

	// A second order goes on top of the table.
	second := srv.checkout(t, sku, 1)
	waitFor(t, bctx, "the second order's row", fmt.Sprintf(`tr[data-order=%q]`, second), 15*time.Second)
	if top, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('#orders-body tr.order').dataset.order`)); err != nil || top != second {
		t.Errorf("top row is %q (%v), want the newest order %s", top, err, second)
	}

	// The stock panel follows the second sale too (8 of 12 left).
	waitFor(t, bctx, "the low-stock quantity after the second order", item+`[data-available="8"]`, 10*time.Second)

	// Fulfil the first order from the page.
	step(t, bctx, "open the fulfil form of "+first,
		chromedp.Click(chromedp.CSS(row+" button.fulfil")),
		chromedp.WaitVisible(chromedp.CSS("#tracking")),
		// A tracking number the service refuses: its userError shows.
		chromedp.SetValue(chromedp.CSS("#tracking"), "1Z999\t2"),
		chromedp.Click(chromedp.CSS("#fulfil-submit")),
	)
	waitFor(t, bctx, "the refused tracking number's userError", "#fulfil-error", 10*time.Second)
	t.Logf("userError shown: %q", text(t, bctx, "#fulfil-error"))
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.querySelector('#tracking').value = '', true`)); err != nil {
		t.Fatalf("clear #tracking: %v", err)
	}
	step(t, bctx, "enter a tracking number",
		chromedp.SendKeys(chromedp.CSS("#tracking"), "1Z999AA10123456784"),
		chromedp.SendKeys(chromedp.CSS("#carrier"), "UPS"),
	)
	screenshot(t, bctx, root, "admin-live-view-fulfil.png")
	if over, err := chromedp.Run(bctx, chromedp.Evaluate[int](`(w => w.scrollWidth - w.clientWidth)(document.querySelector('.table-wrap'))`)); err != nil || over > 0 {
		t.Errorf("the orders table is %dpx wider than its card at 1360px (%v)", over, err)
	}
	step(t, bctx, "submit the fulfilment", chromedp.Click(chromedp.CSS("#fulfil-submit")))
	waitFor(t, bctx, "the order to show FULFILLED", row+`[data-fulfillment="FULFILLED"][data-status="FULFILLED"]`, 15*time.Second)
	// The event can come before the mutation's answer, which closes the form.
	gone, cancelGone := context.WithTimeout(bctx, 5*time.Second)
	if err := chromedp.Do(gone, chromedp.WaitNotPresent(chromedp.CSS("#tracking")), chromedp.WaitNotPresent(chromedp.CSS(row+" button.fulfil"))); err != nil {
		t.Errorf("after fulfilment the form or the Fulfil button is still there: %v", err)
	}
	cancelGone()

	// A 3-unit order ships in part, is refunded a unit, and ships the rest.
	parts := srv.checkout(t, sku, 3)
	prow := fmt.Sprintf(`tr[data-order=%q]`, parts)
	waitFor(t, bctx, "the 3-unit order to show PAID", prow+`[data-payment="PAID"][data-status="PROCESSING"]`, 30*time.Second)
	step(t, bctx, "ship one unit of "+parts,
		chromedp.Click(chromedp.CSS(prow+" button.fulfil")),
		chromedp.WaitVisible(chromedp.CSS("#ship-qty-0")),
		chromedp.SetValue(chromedp.CSS("#ship-qty-0"), "1"),
		chromedp.SendKeys(chromedp.CSS("#tracking"), "1Z-PART-ONE"),
		chromedp.Click(chromedp.CSS("#fulfil-submit")),
	)
	waitFor(t, bctx, "the order to show PARTIALLY_FULFILLED", prow+`[data-fulfillment="PARTIALLY_FULFILLED"][data-status="PROCESSING"]`, 15*time.Second)
	step(t, bctx, "refund one unit of "+parts,
		chromedp.WaitNotPresent(chromedp.CSS("#tracking")),
		chromedp.Click(chromedp.CSS(prow+" button.refund")),
		chromedp.WaitVisible(chromedp.CSS("#refund-qty-0")),
		chromedp.SetValue(chromedp.CSS("#refund-qty-0"), "1"),
		chromedp.SendKeys(chromedp.CSS("#refund-reason"), "One arrived broken"),
	)
	screenshot(t, bctx, root, "admin-live-view-refund.png")
	step(t, bctx, "submit the refund", chromedp.Click(chromedp.CSS("#refund-submit")))
	waitFor(t, bctx, "the order to show PARTIALLY_REFUNDED", prow+`[data-payment="PARTIALLY_REFUNDED"]`, 15*time.Second)
	step(t, bctx, "open the fulfil form again",
		chromedp.WaitNotPresent(chromedp.CSS("#refund-qty-0")),
		chromedp.Click(chromedp.CSS(prow+" button.fulfil")),
		chromedp.WaitVisible(chromedp.CSS("#ship-qty-0")),
	)
	if left, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('#ship-qty-0').max`)); err != nil || left != "1" {
		t.Errorf("units left to ship after one shipped and one refunded: %q (%v), want 1", left, err)
	}
	step(t, bctx, "ship the rest",
		chromedp.SendKeys(chromedp.CSS("#tracking"), "1Z-PART-TWO"),
		chromedp.Click(chromedp.CSS("#fulfil-submit")),
	)
	waitFor(t, bctx, "the order to show FULFILLED", prow+`[data-fulfillment="FULFILLED"][data-status="FULFILLED"]`, 15*time.Second)
	if over, err := chromedp.Run(bctx, chromedp.Evaluate[int](`(w => w.scrollWidth - w.clientWidth)(document.querySelector('.table-wrap'))`)); err != nil || over > 0 {
		t.Errorf("with a PARTIALLY_REFUNDED order the table is %dpx wider than its card at 1360px (%v)", over, err)
	}

	// A return of a shipped unit of it waits in the returns panel; staff
	// approve it and receive it (restock and refund) from there.
	var ord struct {
		Order struct{ Lines []struct{ ID string } }
	}
	srv.gql(t, staff, `query($n: String!) { order(orderNumber: $n) { lines { id } } }`, map[string]any{"n": parts}, &ord)
	var req struct {
		ReturnRequest struct {
			Return     *struct{ ID, ReturnNumber string }
			UserErrors []userError
		}
	}
	srv.gql(t, staff, `mutation($in: ReturnRequestInput!) { returnRequest(input: $in) { return { id returnNumber } userErrors { field message code } } }`,
		map[string]any{"in": map[string]any{"orderNumber": parts,
			"lines": []any{map[string]any{"orderLineId": ord.Order.Lines[0].ID, "quantity": 1, "reason": "Too small"}}}}, &req)
	if req.ReturnRequest.Return == nil {
		t.Fatalf("returnRequest: %+v", req.ReturnRequest.UserErrors)
	}
	ret := fmt.Sprintf(`#returns li[data-return=%q]`, req.ReturnRequest.Return.ReturnNumber)
	waitFor(t, bctx, "the requested return in the panel", ret+`[data-status="REQUESTED"]`, 15*time.Second)
	step(t, bctx, "approve the return", chromedp.Click(chromedp.CSS(ret+" button.approve")))
	waitFor(t, bctx, "the return to show APPROVED", ret+`[data-status="APPROVED"]`, 15*time.Second)
	screenshot(t, bctx, root, "admin-live-view-return.png")
	step(t, bctx, "receive the return", chromedp.Click(chromedp.CSS(ret+" button.receive")))
	received, cancelReceived := context.WithTimeout(bctx, 15*time.Second)
	if err := chromedp.Do(received, chromedp.WaitNotPresent(chromedp.CSS(ret))); err != nil {
		t.Errorf("the received return is still in the panel: %v", err)
	}
	cancelReceived()
	var got struct{ Return struct{ Status string } }
	srv.gql(t, staff, `query($id: ID!) { return(id: $id) { status } }`, map[string]any{"id": req.ReturnRequest.Return.ID}, &got)
	if got.Return.Status != "RECEIVED" && got.Return.Status != "REFUNDED" {
		t.Errorf("after receipt from the page the return is %s", got.Return.Status)
	}

	// Let the highlight fade, then keep a screenshot.
	_ = chromedp.Do(bctx, chromedp.Sleep(2500*time.Millisecond))
	screenshot(t, bctx, root, "admin-live-view.png")

	// While the service is down the page's requests fail, as they should;
	// from here on only exceptions and CSP violations count.
	for _, m := range console.problems(true) {
		t.Errorf("browser console: %s", m)
	}

	// The service restarts: the page shows that it is reconnecting, comes
	// back by itself, subscribes again and receives the next order.
	srv.stop(t)
	waitFor(t, bctx, "the page to notice the lost connection", `#conn[data-state="reconnecting"], #conn[data-state="connecting"]`, 10*time.Second)
	srv.start(t)
	waitFor(t, bctx, "the page to reconnect", `#conn[data-state="live"]`, 20*time.Second)
	third := srv.checkout(t, sku, 1)
	waitFor(t, bctx, "an order placed after the restart", fmt.Sprintf(`tr[data-order=%q]`, third), 15*time.Second)

	// Log out: the token is gone and the login form is back.
	step(t, bctx, "log out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#email")))
	if tok, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`sessionStorage.getItem('commerce.admin.token') || ''`)); tok != "" {
		t.Errorf("the token is still in sessionStorage after logout")
	}

	for _, m := range console.problems(false) {
		t.Errorf("browser console: %s", m)
	}
}

// screenshot keeps a PNG of the page in <module root>/tmp (git-ignored).
func screenshot(t *testing.T, ctx context.Context, root, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(root, "tmp", name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// step runs browser actions and fails the test with what it was doing.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitFor waits, at most d, until an element matching the CSS selector is
// visible.
func waitFor(t *testing.T, ctx context.Context, what, selector string, d time.Duration) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	if err := chromedp.Do(wctx, chromedp.WaitVisible(chromedp.CSS(selector))); err != nil {
		// Show what the page has, to tell a slow event from a wrong one.
		rows, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#orders-body tr.order')].map(r => r.dataset.order + ' ' + r.dataset.status + '/' + r.dataset.payment + '/' + r.dataset.fulfillment).join('\n') + '\nconnection: ' + document.querySelector('#conn').dataset.state + '\nnotice: ' + document.querySelector('#notice').textContent + '\nfulfil form: ' + JSON.stringify([document.querySelector('#tracking')?.value, document.querySelector('#fulfil-error')?.textContent])`))
		t.Fatalf("waiting %s for %s (%s): %v\npage:\n%s", d, what, selector, err, rows)
	}
	t.Logf("%s after %s", what, time.Since(start).Round(10*time.Millisecond))
}

func text(t *testing.T, ctx context.Context, selector string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(selector)))
	if err != nil {
		t.Fatalf("text of %s: %v", selector, err)
	}
	return strings.TrimSpace(s)
}

// console collects what the page writes to the console.
type console struct {
	mu      sync.Mutex
	msgs    []chromedp.ConsoleMessage
	checked int // messages before this one were checked by problems
}

func collectConsole(t *testing.T, ctx context.Context) *console {
	c := &console{}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, m := range c.msgs {
			t.Logf("browser console: %s", m)
		}
	})
	return c
}

// problems are uncaught exceptions, Content Security Policy violations
// and, with network, failed loads, among the messages since the last call.
func (c *console) problems(network bool) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs[c.checked:] {
		if m.IsException() || strings.Contains(m.Text, "Content Security Policy") || (network && m.Type == chromedp.ConsoleError && m.Source == "network") {
			out = append(out, m.String()+" "+m.URL)
		}
	}
	c.checked = len(c.msgs)
	return out
}

// ---------------------------------------------------------------- Chromium setup

// ensureChromium returns Debian's Chromium, installing it with apt-get when
// it is missing and the test runs as root; it skips the test, saying why,
// when Chromium cannot be had.
func ensureChromium(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err == nil {
		return chromiumPath
	}
	if os.Geteuid() != 0 {
		t.Skipf("Chromium is not installed (%s missing) and the test is not root, so it cannot install it; run `apt-get install -y chromium` to enable this test", chromiumPath)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skipf("Chromium is not installed (%s missing) and there is no apt-get to install it", chromiumPath)
	}
	t.Logf("%s missing: installing Debian's chromium with apt-get (a few minutes)", chromiumPath)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", "chromium"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Skipf("Chromium could not be installed (apt-get %s: %v); this test needs Debian's chromium at %s\n%s",
				strings.Join(args, " "), err, chromiumPath, lastLines(out, 15))
		}
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("apt-get install chromium succeeded but %s is still missing", chromiumPath)
	}
	return chromiumPath
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ---------------------------------------------------------------- the service

// moduleRoot is the directory of the module's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(goTool(), "env", "GOMOD").Output()
	if gomod := strings.TrimSpace(string(out)); err == nil && gomod != "" && gomod != os.DevNull {
		return filepath.Dir(gomod)
	}
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// service is the real binary, run as a subprocess against the package
// database with the dummy payment provider (payments confirm themselves
// after about 3 s through a River job).
type service struct {
	bin, dir, addr, base string

	cmd    *exec.Cmd
	exited chan error
	logs   *syncBuffer
}

// startService builds the binary and runs it on a free port; it is stopped
// when the test ends.
func startService(t *testing.T, root string) *service {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "commerce")
	build := exec.Command(goTool(), "build", "-o", bin, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := testtool.FreeAddr(t)
	s := &service{bin: bin, dir: dir, addr: addr, base: "http://" + addr, logs: &syncBuffer{}}
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("service log:\n%s", s.logs.String())
		}
	})
	s.start(t)
	return s
}

// start runs the binary and waits until /readyz answers.
func (s *service) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(s.bin, "serve")
	cmd.Dir = s.dir // no .env, uploads under the temporary directory
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"APP_ENV=development",
		"HTTP_ADDR=" + s.addr,
		"PUBLIC_BASE_URL=" + s.base,
		"DATABASE_URL=" + dbtest.URL(t),
		"AUTH_SECRET=" + authSecret,
		"ADMIN_EMAIL=" + adminEmail,
		"ADMIN_PASSWORD=" + adminPassword,
		"PAYMENT_PROVIDER=dummy",
		"LOG_LEVEL=warn",
	}
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the service: %v", err)
	}
	s.cmd, s.exited = cmd, make(chan error, 1)
	go func(c chan<- error) { c <- cmd.Wait() }(s.exited)

	ready := func() bool {
		resp, err := http.Get(s.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	deadline := time.Now().Add(60 * time.Second)
	for !ready() {
		select {
		case err := <-s.exited:
			s.cmd = nil
			t.Fatalf("the service exited: %v\n%s", err, s.logs.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service is not ready after 60s\n%s", s.logs.String())
		}
	}
}

// stop ends the process gracefully (SIGTERM), or kills it after 25 s.
func (s *service) stop(t *testing.T) {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(25 * time.Second):
		t.Logf("the service did not stop within 25s after SIGTERM; killing it")
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

type userError struct {
	Field   []string
	Message string
	Code    string
}

// gql posts a GraphQL request and decodes its data into out; any GraphQL
// error fails the test.
func (s *service) gql(t *testing.T, token, query string, vars map[string]any, out any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /graphql: %v", err)
	}
	defer resp.Body.Close()
	var r struct {
		Data   json.RawMessage
		Errors []struct{ Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("POST /graphql: status %d: %v", resp.StatusCode, err)
	}
	if len(r.Errors) > 0 {
		t.Fatalf("POST /graphql: %+v", r.Errors)
	}
	if err := json.Unmarshal(r.Data, out); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
}

func (s *service) login(t *testing.T) string {
	t.Helper()
	var r struct {
		StaffLogin struct {
			Token      string
			UserErrors []userError
		}
	}
	s.gql(t, "", `mutation($e: String!, $p: String!) { staffLogin(email: $e, password: $p) { token userErrors { field message code } } }`,
		map[string]any{"e": adminEmail, "p": adminPassword}, &r)
	if r.StaffLogin.Token == "" {
		t.Fatalf("staffLogin: %+v", r.StaffLogin.UserErrors)
	}
	return r.StaffLogin.Token
}

// checkout places a guest order for quantity of sku and returns its number.
func (s *service) checkout(t *testing.T, sku string, quantity int) string {
	t.Helper()
	address := map[string]any{
		"firstName": "Ada", "lastName": "Lovelace", "line1": "12 St James's Square",
		"city": "London", "postalCode": "SW1Y 4JH", "countryCode": "GB",
	}
	var r struct {
		Checkout struct {
			Order      struct{ OrderNumber string }
			UserErrors []userError
		}
	}
	s.gql(t, "", `mutation($in: CheckoutInput!) { checkout(input: $in) { order { orderNumber } userErrors { field message code } } }`,
		map[string]any{"in": map[string]any{
			"lines":           []map[string]any{{"sku": sku, "quantity": quantity}},
			"email":           "buyer-" + randomHex(3) + "@example.com",
			"shippingAddress": address,
			"idempotencyKey":  "admin-live-" + randomHex(8),
		}}, &r)
	if len(r.Checkout.UserErrors) > 0 || r.Checkout.Order.OrderNumber == "" {
		t.Fatalf("checkout: %+v", r.Checkout.UserErrors)
	}
	return r.Checkout.Order.OrderNumber
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// syncBuffer is a bytes.Buffer safe for the process's two output streams
// and the test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
