// Package playground serves GraphiQL at /playground with every file it
// needs embedded in the binary, so that the page works on a machine with
// no network and references no other host: the pinned browser builds of
// graphiql, react and react-dom in graphiql/ (fetched by `make
// playground-assets`, with their licences), and our own small page and
// script that point GraphiQL at /graphql over HTTP and at the same
// origin's websocket for subscriptions.
package playground

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Path is where the page is served; its files are under Path + "/".
const Path = "/playground"

//go:embed index.html playground.js playground.css graphiql
var files embed.FS

// csp lets the page run only its own scripts and reach only its own origin
// (HTTP and websocket). GraphiQL sets style attributes, hence the inline
// styles; its fonts and icons are data: URLs.
const csp = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// asset is one file as served: its bytes, type and a strong ETag.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Handler serves the page at Path and its files at Path/<name> (GET and
// HEAD). The files' ETags are their content hashes, so a browser asks
// again on every visit but downloads them only after an upgrade.
func Handler() http.Handler {
	assets := map[string]asset{}
	add := func(name, file string) {
		b, err := files.ReadFile(file)
		if err != nil {
			panic("playground: " + err.Error()) // cannot happen: go:embed checked the files at compile time
		}
		sum := sha256.Sum256(b)
		assets[name] = asset{body: b, contentType: contentType(file), etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
	}
	add(Path, "index.html")
	for _, f := range []string{"playground.js", "playground.css"} {
		add(Path+"/"+f, f)
	}
	vendored, _ := fs.ReadDir(files, "graphiql")
	for _, e := range vendored {
		add(Path+"/"+e.Name(), "graphiql/"+e.Name())
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == Path+"/" {
			http.Redirect(w, r, Path, http.StatusMovedPermanently)
			return
		}
		a, ok := assets[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		if r.URL.Path == Path {
			h.Set("Content-Security-Policy", csp)
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "no-referrer")
		}
		// ServeContent answers If-None-Match with 304 and HEAD without a body.
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}

func contentType(file string) string {
	switch path.Ext(file) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	}
	if strings.HasPrefix(path.Base(file), "LICENSE") || path.Base(file) == "VERSIONS" {
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}
