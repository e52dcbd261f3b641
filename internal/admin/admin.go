// Package admin serves the staff live view at /admin: one static page,
// embedded in the binary, in plain HTML, CSS and JavaScript with no build
// step and nothing loaded from elsewhere. The page talks to the service's
// own /graphql endpoint: staffLogin, staffMe, staffLogout, staffPasswordSet
// (an invite's link), orders and lowStockProducts, orderFulfill (the whole
// rest or chosen units of each line), orderRefund (units or an amount) and
// the returns waiting for a decision (returns, returnApprove, returnReject,
// returnReceive) over HTTP POST, and the orderUpdates and lowStockAlerts
// subscriptions over a graphql-transport-ws websocket that it speaks
// itself. It shows only what the signed-in account's permissions allow
// (ORDERS, INVENTORY, and REFUNDS for the refund and receive actions).
package admin

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
)

//go:embed index.html
var page []byte

// csp allows only the page's own inline style and script (by hash) and
// connections back to the same origin (HTTP and websocket).
var csp = contentSecurityPolicy(page)

// Handler serves the page at /admin and /admin/, and at
// /admin/set-password, where a staff invite's link lands (GET and HEAD);
// any other path under /admin/ is not found.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/admin" && r.URL.Path != "/admin/" && r.URL.Path != "/admin/set-password" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Length", fmt.Sprint(len(page)))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(page)
	})
}

// contentSecurityPolicy hashes the page's inline <style> and <script>
// blocks, so the browser runs them and nothing else.
func contentSecurityPolicy(html []byte) string {
	return strings.Join([]string{
		"default-src 'none'",
		"script-src " + inlineHashes(string(html), "script"),
		"style-src " + inlineHashes(string(html), "style"),
		"connect-src 'self'",
		"img-src 'self' data:",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}

// inlineHashes returns the CSP hash sources of every <tag>…</tag> block
// without attributes, or 'none' when there is none.
func inlineHashes(html, tag string) string {
	open, end := "<"+tag+">", "</"+tag+">"
	var out []string
	for {
		i := strings.Index(html, open)
		if i < 0 {
			break
		}
		html = html[i+len(open):]
		j := strings.Index(html, end)
		if j < 0 {
			break
		}
		sum := sha256.Sum256([]byte(html[:j]))
		out = append(out, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
		html = html[j+len(end):]
	}
	if len(out) == 0 {
		return "'none'"
	}
	return strings.Join(out, " ")
}
