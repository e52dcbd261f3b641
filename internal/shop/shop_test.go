package shop_test

// The handler on its own: what it serves, with which headers, and that
// nothing in the storefront points outside the service unless a Stripe
// publishable key is configured. The storefront in Chromium against the
// real binary is tested in e2e/shop_e2e_test.go.

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"commerce/internal/shop"
)

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func TestHandlerServesFiles(t *testing.T) {
	h := shop.Handler(shop.Config{PublicBaseURL: "http://localhost:8080"})
	for _, tc := range []struct {
		path, contentType, contains string
	}{
		{"/shop/", "text/html; charset=utf-8", `<script type="module" src="/shop/app.js">`},
		{"/shop/index.html", "text/html; charset=utf-8", `<main id="view"`},
		{"/shop/app.js", "text/javascript; charset=utf-8", "hashchange"},
		{"/shop/graphql.js", "text/javascript; charset=utf-8", "graphql-transport-ws"},
		{"/shop/shop.css", "text/css; charset=utf-8", ".card"},
		{"/shop/config.json", "application/json", `"stripe":null`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			rec := get(t, h, tc.path)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			if ct := rec.Header().Get("Content-Type"); ct != tc.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tc.contentType)
			}
			if !strings.Contains(rec.Body.String(), tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
			csp := rec.Header().Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self';", "connect-src 'self';", "frame-src 'none'", "img-src 'self' data: https: http://localhost:8080;"} {
				if !strings.Contains(csp, want) {
					t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "stripe") || strings.Contains(csp, "unsafe") {
				t.Errorf("Content-Security-Policy %q allows more than the shop itself without a key", csp)
			}
		})
	}
	for _, path := range []string{"/shop/missing.js", "/shop/static/app.js", "/shop/../shop.go", "/shop/.", "/other/app.js"} {
		if rec := get(t, h, path); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, rec.Code)
		}
	}
}

// externalURL matches an absolute or scheme-relative URL with a host: the
// kind of reference that would make the browser load something from
// elsewhere.
var externalURL = regexp.MustCompile(`(?i)\b(https?|wss?):\\?/\\?/[a-z0-9]|["'(=]\s*//[a-z0-9]`)

// TestNoExternalURLs reads every embedded file: without a publishable key
// the shop must work on a machine with no outside network, so nothing may
// name another origin (the Stripe.js address comes only from config.json).
func TestNoExternalURLs(t *testing.T) {
	err := fs.WalkDir(os.DirFS("static"), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile("static/" + path)
		if err != nil {
			return err
		}
		if m := externalURL.Find(b); m != nil {
			t.Errorf("%s references an external URL: %q", path, m)
		}
		if strings.Contains(string(b), "innerHTML") {
			t.Errorf("%s uses innerHTML: API data must go in as text", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	h := shop.Handler(shop.Config{PublicBaseURL: "http://localhost:8080"})
	if body := get(t, h, "/shop/config.json").Body.String(); externalURL.MatchString(body) {
		t.Errorf("config.json without a key names a URL: %s", body)
	}
}

// TestStripeConfig checks that a publishable key reaches the browser with
// Stripe.js's address, and the policy allows exactly Stripe's origins.
func TestStripeConfig(t *testing.T) {
	h := shop.Handler(shop.Config{StripePublishableKey: "pk_test_123", PublicBaseURL: "https://shop.example.com"})
	rec := get(t, h, "/shop/config.json")
	var cfg struct {
		Stripe *struct{ PublishableKey, ScriptURL string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &cfg); err != nil || cfg.Stripe == nil {
		t.Fatalf("config.json = %s (%v)", rec.Body, err)
	}
	if cfg.Stripe.PublishableKey != "pk_test_123" || cfg.Stripe.ScriptURL != "https://js.stripe.com/v3/" {
		t.Errorf("stripe config = %+v", *cfg.Stripe)
	}
	csp := rec.Header().Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self' https://js.stripe.com;", "connect-src 'self' https://api.stripe.com;", "frame-src https://js.stripe.com https://hooks.stripe.com;", "img-src 'self' data: https:;"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
}
