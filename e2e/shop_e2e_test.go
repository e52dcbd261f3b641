package e2e

// End-to-end tests of the demo storefront at /shop: served or not as
// SHOP_ENABLED says, loading nothing from elsewhere without a Stripe key,
// and, in Debian's headless Chromium driven by chromedp, a guest's whole
// visit: search, two products into the cart, checkout with the dummy
// provider, and the order page turning PAID through the subscription
// without a reload.

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"commerce/internal/platform/testtool"
)

// TestShopServed checks SHOP_ENABLED: on by default in development, off
// when disabled and by default in production; and that the publishable
// key reaches the page only when Stripe takes the payments.
func TestShopServed(t *testing.T) {
	deps := startDeps(t, true)
	dummy := func(env map[string]string) map[string]string {
		env["PAYMENT_PROVIDER"] = "dummy"
		return env
	}
	for _, tc := range []struct {
		name   string
		env    map[string]string
		want   int
		stripe bool // config.json names Stripe.js
	}{
		{"development default", dummy(map[string]string{}), http.StatusOK, false},
		{"disabled", dummy(map[string]string{"SHOP_ENABLED": "false"}), http.StatusNotFound, false},
		// Production refuses the dummy provider: these take Stripe.
		{"production default", map[string]string{"APP_ENV": "production"}, http.StatusNotFound, false},
		{"enabled in production", map[string]string{"APP_ENV": "production", "SHOP_ENABLED": "true"}, http.StatusOK, false},
		{"key with the dummy provider", dummy(map[string]string{"STRIPE_PUBLISHABLE_KEY": "pk_test_shop"}), http.StatusOK, false},
		{"key with Stripe", map[string]string{"STRIPE_PUBLISHABLE_KEY": "pk_test_shop"}, http.StatusOK, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, "shop-"+tc.name, deps.env(t, tc.env))
			for _, path := range []string{"/shop/", "/shop/app.js", "/shop/config.json"} {
				res, err := srv.http.Get(srv.base + path)
				if err != nil {
					t.Fatalf("GET %s: %v", path, err)
				}
				res.Body.Close()
				if res.StatusCode != tc.want {
					t.Errorf("GET %s: status %d, want %d", path, res.StatusCode, tc.want)
				}
			}
			switch {
			case tc.stripe:
				res, err := srv.http.Get(srv.base + "/shop/config.json")
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if !strings.Contains(string(b), `"publishableKey":"pk_test_shop","scriptUrl":"https://js.stripe.com/v3/"`) {
					t.Errorf("config.json with a key and Stripe = %s", b)
				}
			case tc.want == http.StatusOK:
				checkShopIsSelfContained(t, srv)
			}
		})
	}
}

// shopRef finds what a served file makes the browser fetch: src and href
// attributes and ES module imports.
var shopRef = regexp.MustCompile(`(?:src|href)="([^"#]+)"|from '([^']+)'|import\('([^']+)'\)`)

// shopExternal matches an absolute or scheme-relative URL with a host.
var shopExternal = regexp.MustCompile(`(?i)\b(https?|wss?):\\?/\\?/[a-z0-9]|["'(=]\s*//[a-z0-9]`)

// checkShopIsSelfContained follows every reference from /shop/ (the
// stylesheet, the modules and their imports, config.json) and checks that
// each is on the same origin, answers 200, and names no external URL.
func checkShopIsSelfContained(t *testing.T, srv *e2eServer) {
	t.Helper()
	seen := map[string]bool{}
	queue := []string{"/shop/", "/shop/config.json"}
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		if seen[path] {
			continue
		}
		seen[path] = true
		res, err := srv.http.Get(srv.base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", path, res.StatusCode)
			continue
		}
		if m := shopExternal.Find(body); m != nil {
			t.Errorf("%s references an external URL: %q", path, m)
		}
		for _, m := range shopRef.FindAllSubmatch(body, -1) {
			ref := string(bytes.Join(m[1:], nil))
			switch {
			case strings.HasPrefix(ref, "./"):
				queue = append(queue, "/shop/"+strings.TrimPrefix(ref, "./"))
			case strings.HasPrefix(ref, "/shop/"):
				queue = append(queue, ref)
			case strings.HasPrefix(ref, "/"), strings.HasPrefix(ref, "data:"), !strings.Contains(ref, ":"):
				// Same-origin links between pages (#/cart) or to /graphql.
			default:
				t.Errorf("%s references %q", path, ref)
			}
		}
	}
	if len(seen) < 8 {
		t.Errorf("followed only %d files from /shop/: %v", len(seen), seen)
	}
}

// TestShopInChromium drives the storefront as a guest would.
func TestShopInChromium(t *testing.T) {
	browser := chromiumBinary(t)
	deps := startDeps(t, false)
	addr := testtool.FreeAddr(t)
	// Image URLs are signed with PUBLIC_BASE_URL: the address the browser
	// uses, so that the product page's images load.
	srv := startServer(t, "shop", deps.env(t, map[string]string{"HTTP_ADDR": addr, "PUBLIC_BASE_URL": "http://" + addr}))
	staff := srv.staffLogin(t)

	word := "Larkspur" + randHex(3) // one search finds this test's products only
	teapot := shopProduct(t, srv, staff, word+" teapot", "24.50")
	cups := shopProduct(t, srv, staff, word+" cups <b>set</b>", "9.75")
	shopUploadImage(t, srv, staff, teapot.ID)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	// Start the browser before listening to its console: both would
	// otherwise start one, on the same profile.
	shopStep(t, bctx, "start Chromium", chromedp.Navigate("about:blank"))
	problems := shopConsole(t, bctx)

	// Search from the header.
	shopStep(t, bctx, "open /shop", chromedp.Navigate(srv.base+"/shop/"), chromedp.WaitVisible(chromedp.CSS(".card")))
	shopStep(t, bctx, "search", chromedp.SendKeys(chromedp.CSS("#q"), strings.ToLower(word)), chromedp.Click(chromedp.CSS("#search button")))
	shopWait(t, bctx, "both products in the results", fmt.Sprintf(`a.card[data-handle=%q] ~ a.card[data-handle=%q], a.card[data-handle=%q] ~ a.card[data-handle=%q]`,
		teapot.Handle, cups.Handle, cups.Handle, teapot.Handle))
	if n := shopEval[int](t, bctx, `document.querySelectorAll('a.card').length`); n != 2 {
		t.Errorf("the search shows %d products, want this test's 2", n)
	}
	if shopEval[bool](t, bctx, `document.querySelector('button.more').checkVisibility()`) {
		t.Error("'Show more' is shown under a complete list")
	}
	shopScreenshot(t, bctx, "shop-catalog.png")

	// A price filter narrows the search to the cups (9.75 ≤ 10).
	teapotCard := fmt.Sprintf(`a.card[data-handle=%q]`, teapot.Handle)
	shopStep(t, bctx, "filter by price",
		chromedp.SetValue(chromedp.CSS(`input[name="max"]`), "10"),
		chromedp.Click(chromedp.CSS(".filters button")),
		chromedp.WaitNotPresent(chromedp.CSS(teapotCard)))
	shopWait(t, bctx, "the cups under 10", fmt.Sprintf(`a.card[data-handle=%q]`, cups.Handle))
	if n := shopEval[int](t, bctx, `document.querySelectorAll('a.card').length`); n != 1 {
		t.Errorf("at most 10.00: %d products, want the cups only", n)
	}
	shopStep(t, bctx, "back to the search", chromedp.NavigateBack())
	shopWait(t, bctx, "the teapot again", teapotCard)

	// The teapot's page shows its image; one goes into the cart.
	shopStep(t, bctx, "open the teapot", chromedp.Click(chromedp.CSS(teapotCard)))
	shopWait(t, bctx, "the product page", "#product-name")
	shopWait(t, bctx, "the product image, loaded", `.gallery img.thumb[src*="/files/"]`)
	if ok := shopEval[bool](t, bctx, `(async () => { const i = document.querySelector('.gallery img.thumb'); await i.decode(); return i.naturalWidth > 0; })()`); !ok {
		t.Error("the product image did not load")
	}
	shopStep(t, bctx, "add the teapot", chromedp.Click(chromedp.CSS("#add-to-cart")))
	shopWait(t, bctx, "the added notice", "#added")
	shopScreenshot(t, bctx, "shop-product.png")

	// Back to the results; two sets of cups.
	shopStep(t, bctx, "back to the results", chromedp.NavigateBack())
	shopStep(t, bctx, "open the cups", chromedp.Click(chromedp.CSS(fmt.Sprintf(`a.card[data-handle=%q]`, cups.Handle))))
	shopWait(t, bctx, "the cups' page", "#product-name")
	if name := shopEval[string](t, bctx, `document.querySelector('#product-name').textContent`); name != word+" cups <b>set</b>" {
		t.Errorf("product name shows %q: API text must be shown as text", name)
	}
	shopStep(t, bctx, "add two sets of cups",
		chromedp.SetValue(chromedp.CSS("#quantity"), "2"), chromedp.Click(chromedp.CSS("#add-to-cart")))
	shopWait(t, bctx, "the added notice", "#added")
	shopWait(t, bctx, "the cart count", `#cart-count`)
	if got := shopEval[string](t, bctx, `document.querySelector('#cart-count').textContent`); got != "3" {
		t.Errorf("cart count %q, want 3", got)
	}

	// The cart, priced by the server: 24.50 + 2 × 9.75 = 44.00, shipping
	// 10.00, tax 4.40.
	shopStep(t, bctx, "open the cart", chromedp.Click(chromedp.CSS("#cart-link")))
	shopWait(t, bctx, "two cart lines", "tr[data-line] + tr[data-line]")
	if total := shopEval[string](t, bctx, `document.querySelector('.totals .grand').textContent`); !strings.Contains(total, "58.40") {
		t.Errorf("cart total %q, want 58.40", total)
	}

	// Checkout: a bad email comes back as a userError next to its field.
	shopStep(t, bctx, "go to checkout", chromedp.Click(chromedp.CSS("#to-checkout")))
	shopWait(t, bctx, "the checkout form", "#checkout-form")
	fields := map[string]string{
		"email": "not-an-email", "shippingAddress.firstName": "Ada", "shippingAddress.lastName": "Lovelace",
		"shippingAddress.line1": "12 Analytical Row", "shippingAddress.city": "London",
		"shippingAddress.postalCode": "N1 9GU", "shippingAddress.countryCode": "GB",
	}
	for name, value := range fields {
		shopStep(t, bctx, "fill "+name, chromedp.SendKeys(chromedp.CSS(fmt.Sprintf(`input[name=%q]`, name)), value))
	}
	shopStep(t, bctx, "place the order", chromedp.Click(chromedp.CSS("#place-order")))
	shopWait(t, bctx, "the email's userError", `input[name="email"][aria-invalid="true"]`)
	t.Logf("userError shown: %q", shopEval[string](t, bctx, `document.querySelector('.field-error[data-for="email"]').textContent`))
	shopScreenshot(t, bctx, "shop-checkout.png")
	email := buyerEmail()
	shopStep(t, bctx, "correct the email",
		chromedp.SetValue(chromedp.CSS(`input[name="email"]`), email), chromedp.Click(chromedp.CSS("#place-order")))

	// The order page shows PENDING, then PAID when the dummy provider
	// confirms (about 3 s after checkout), through the subscription.
	shopWait(t, bctx, "the order page", "#order[data-status]")
	first := shopEval[string](t, bctx, `document.querySelector('#order').dataset.paymentStatus`)
	shopEval[bool](t, bctx, `window.notReloaded = true`)
	shopWait(t, bctx, "the live connection", `#live[data-state="live"]`)
	shopScreenshot(t, bctx, "shop-order-pending.png")
	shopWait(t, bctx, "the order to turn PAID", `#order[data-payment-status="PAID"][data-status="PROCESSING"]`)
	if first != "PENDING" {
		t.Errorf("the order page first showed payment %s, want PENDING (the dummy provider confirms after 3 s)", first)
	}
	if !shopEval[bool](t, bctx, `window.notReloaded === true`) {
		t.Error("the order page reloaded to show PAID")
	}
	number := strings.TrimPrefix(shopEval[string](t, bctx, `document.querySelector('#order h1').textContent`), "Order ")
	o := srv.order(t, staff, number)
	if o.Email != email || o.PaymentStatus != "PAID" || len(o.Lines) != 2 {
		t.Errorf("order %s: email %s, payment %s, %d lines", number, o.Email, o.PaymentStatus, len(o.Lines))
	}
	if got := shopEval[string](t, bctx, `localStorage.getItem('shop.cartId') || ''`); got != "" {
		t.Errorf("the completed cart's id is still kept: %q", got)
	}
	shopScreenshot(t, bctx, "shop-order-paid.png")

	for _, p := range problems() {
		// The package database is shared: the first catalog page may list
		// other tests' products, whose images live in their own servers'
		// storage and are 404 here. This test's image is checked above.
		if strings.Contains(p, "404") && strings.Contains(p, "/files/") && !strings.Contains(p, teapot.ID) {
			continue
		}
		t.Errorf("browser console: %s", p)
	}
}

// chromiumBinary returns Chromium's path, or skips the test when there is
// none (scripts/services.sh installs Debian's chromium for `make test`).
func chromiumBinary(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium binary found (chromium, chromium-browser or google-chrome on PATH): install it (`apt-get install chromium`) to run the storefront browser test")
	return ""
}

type shopCreated struct{ ID, Handle string }

// shopProduct creates an active product with stock in the category "Tea".
func shopProduct(t *testing.T, srv *e2eServer, staff, name, price string) shopCreated {
	t.Helper()
	var out struct {
		ProductCreate struct {
			Product    *shopCreated
			UserErrors []userError
		}
	}
	srv.gql(t, staff, `mutation($in: ProductCreateInput!) { productCreate(input: $in) { product { id handle } userErrors { field message code } } }`,
		map[string]any{"in": map[string]any{
			"sku": "SHOP-" + strings.ToUpper(randHex(5)), "name": name, "price": price, "category": "Tea",
			"description": "Made for the storefront test.", "inventoryQuantity": 20, "lowStockThreshold": 1,
		}}, &out)
	if out.ProductCreate.Product == nil {
		t.Fatalf("productCreate: %+v", out.ProductCreate.UserErrors)
	}
	return *out.ProductCreate.Product
}

// shopUploadImage gives a product a 320×240 PNG through the multipart
// upload, as the admin would.
func shopUploadImage(t *testing.T, srv *e2eServer, staff, productID string) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for y := range 240 {
		for x := range 320 {
			img.Set(x, y, color.RGBA{R: uint8(60 + x/4), G: uint8(90 + y/3), B: 200, A: 255})
		}
	}
	var file bytes.Buffer
	if err := png.Encode(&file, img); err != nil {
		t.Fatal(err)
	}
	body, contentType := hostileMultipart(
		hostilePart{"operations", "", hostileUploadOps(productID, "A teapot")},
		hostilePart{"map", "", `{"0": ["variables.f"]}`},
		hostilePart{"0", "teapot.png", file.String()},
	)
	req, _ := http.NewRequest(http.MethodPost, srv.base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+staff)
	res, err := srv.http.Do(req)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"altText":"A teapot"`)) {
		t.Fatalf("upload: status %d: %s", res.StatusCode, b)
	}
}

func shopStep(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// shopWait waits until an element matching selector is visible; 20 s is
// far more than any step needs (the slowest, the dummy payment, takes 3 s).
func shopWait(t *testing.T, ctx context.Context, what, selector string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(wctx, chromedp.WaitVisible(chromedp.CSS(selector))); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + '\n' + document.querySelector('main').innerText`))
		t.Fatalf("waiting for %s (%s): %v\npage: %s", what, selector, err, page)
	}
}

func shopEval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAsValue, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// shopScreenshot keeps a PNG of the page in <module>/tmp (git-ignored).
func shopScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := filepath.Join("..", "tmp")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// shopConsole collects the page's console; the returned function lists
// uncaught exceptions, Content Security Policy violations and failed loads.
func shopConsole(t *testing.T, ctx context.Context) func() []string {
	var mu sync.Mutex
	var msgs []chromedp.ConsoleMessage
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			mu.Lock()
			msgs = append(msgs, m)
			mu.Unlock()
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, m := range msgs {
			t.Logf("browser console: %s", m)
			if m.IsException() || m.Type == chromedp.ConsoleError {
				out = append(out, m.String()+" "+m.URL)
			}
		}
		return out
	}
}
