// Package shop serves the demo storefront at /shop: a reference for
// storefront developers, made of hand-written HTML, CSS and plain ES modules
// embedded in the binary (no build step). The pages use only the public
// GraphQL API at /graphql, over HTTP POST and a graphql-transport-ws
// websocket, as any single-page storefront would.
//
// Nothing is loaded from another origin unless a Stripe publishable key is
// configured: then, and only then, /shop/config.json names Stripe.js and the
// Content-Security-Policy allows Stripe's script, frames and API.
package shop

import (
	"embed"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// stripeJS is the only address Stripe allows Stripe.js to be loaded from.
const stripeJS = "https://js.stripe.com/v3/"

// Config is what the storefront needs from the service's configuration.
type Config struct {
	// StripePublishableKey (pk_…) turns on Stripe Elements; empty means the
	// dummy provider confirms payments by itself.
	StripePublishableKey string
	// PublicBaseURL is the base of signed image URLs; its origin may differ
	// from the one the page is served from (localhost vs 127.0.0.1).
	PublicBaseURL string
}

// Handler serves the storefront under /shop/: the page at /shop/, its
// static files, and /shop/config.json. Any other path is not found.
func Handler(cfg Config) http.Handler {
	files, _ := fs.Sub(static, "static") // cannot fail: "static" is embedded
	config, _ := json.Marshal(publicConfig(cfg))
	csp := contentSecurityPolicy(cfg)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/shop/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		// Files change with the binary; revalidating is cheap on loopback
		// and keeps a rebuilt shop from mixing old and new modules.
		h.Set("Cache-Control", "no-cache")
		switch name {
		case "":
			name = "index.html"
		case "config.json":
			h.Set("Content-Type", "application/json")
			_, _ = w.Write(config)
			return
		}
		serveFile(w, r, files, name)
	})
}

// serveFile serves one embedded file; directories and unknown names are
// not found (no listings).
func serveFile(w http.ResponseWriter, r *http.Request, files fs.FS, name string) {
	if !fs.ValidPath(name) {
		http.NotFound(w, r)
		return
	}
	f, err := files.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	content, ok := f.(io.ReadSeeker) // embedded files are; directories are not
	if !ok {
		http.NotFound(w, r)
		return
	}
	// ServeContent sets the type from the extension (.js as
	// text/javascript, which module scripts require) and answers ranges.
	http.ServeContent(w, r, name, time.Time{}, content)
}

// clientConfig is /shop/config.json: only what a browser may know.
type clientConfig struct {
	Stripe *stripeConfig `json:"stripe"` // null: the dummy provider
}

type stripeConfig struct {
	PublishableKey string `json:"publishableKey"`
	ScriptURL      string `json:"scriptUrl"`
}

func publicConfig(cfg Config) clientConfig {
	if cfg.StripePublishableKey == "" {
		return clientConfig{}
	}
	return clientConfig{Stripe: &stripeConfig{PublishableKey: cfg.StripePublishableKey, ScriptURL: stripeJS}}
}

// contentSecurityPolicy allows the shop's own files and connections back to
// the same origin (HTTP and websocket); images also from https and from
// PublicBaseURL's origin; Stripe's script, frames and API only with a key.
func contentSecurityPolicy(cfg Config) string {
	img := "img-src 'self' data: https:"
	if u, err := url.Parse(cfg.PublicBaseURL); err == nil && u.Scheme == "http" && u.Host != "" {
		img += " http://" + u.Host
	}
	script, connect, frame := "script-src 'self'", "connect-src 'self'", "frame-src 'none'"
	if cfg.StripePublishableKey != "" {
		script += " https://js.stripe.com"
		connect += " https://api.stripe.com"
		frame = "frame-src https://js.stripe.com https://hooks.stripe.com"
	}
	return strings.Join([]string{
		"default-src 'none'", script, "style-src 'self'", connect, img, frame,
		"base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
	}, "; ")
}
