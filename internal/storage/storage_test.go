package storage_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"commerce/internal/storage"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// windowStart is a TTL-aligned instant (a multiple of one hour since the epoch).
var windowStart = time.Unix(1_800_000_000-1_800_000_000%3600, 0)

const ttl = time.Hour

var secret = []byte(strings.Repeat("s", 32))

// fileStore opens a file store in a temporary folder, served by a test
// server that mounts Handler at /files/ like the service does.
func fileStore(t *testing.T) (*storage.Store, *clock, *httptest.Server) {
	t.Helper()
	clk := &clock{t: windowStart.Add(10 * time.Minute)}
	var st *storage.Store
	mux := http.NewServeMux()
	mux.Handle(storage.FilesPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { st.Handler().ServeHTTP(w, r) }))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	var err error
	st, err = storage.Open(context.Background(), storage.Config{
		URL: "file://" + filepath.ToSlash(t.TempDir()) + "/uploads", PublicBaseURL: srv.URL, Secret: secret, TTL: ttl, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if !st.ServesFiles() {
		t.Fatal("file store does not serve files")
	}
	return st, clk, srv
}

func put(t *testing.T, st *storage.Store, key, ct, body string) {
	t.Helper()
	if err := st.Put(context.Background(), key, ct, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
}

func signedURL(t *testing.T, st *storage.Store, key string) string {
	t.Helper()
	u, err := st.URL(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func send(t *testing.T, method, u string, header ...string) (*http.Response, string) {
	t.Helper()
	return sendBody(t, method, u, nil, header...)
}

// sendBody sends a request with body and the header name/value pairs and
// returns the response with its body read.
func sendBody(t *testing.T, method, u string, body []byte, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestFileSignedURLRoundTrip(t *testing.T) {
	st, clk, srv := fileStore(t)
	const key = "products/p1/main.png"
	put(t, st, key, "image/png", "png bytes")

	u := signedURL(t, st, key)
	if !strings.HasPrefix(u, srv.URL+"/files/products/p1/main.png?") {
		t.Fatalf("url = %s", u)
	}
	res, body := send(t, http.MethodGet, u)
	if res.StatusCode != http.StatusOK || body != "png bytes" {
		t.Fatalf("GET = %d %q", res.StatusCode, body)
	}
	h := res.Header
	if got := h.Get("Content-Type"); got != "image/png" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", got)
	}
	// Issued 10 minutes into the window, the URL expires at the start of
	// the window after next: 110 minutes from now.
	if got, want := h.Get("Cache-Control"), "public, max-age="+strconv.Itoa(110*60); got != want {
		t.Errorf("Cache-Control = %q, want %q", got, want)
	}
	if h.Get("ETag") == "" || h.Get("Last-Modified") == "" {
		t.Errorf("ETag %q, Last-Modified %q", h.Get("ETag"), h.Get("Last-Modified"))
	}
	if res, _ := send(t, http.MethodGet, u, "If-None-Match", h.Get("ETag")); res.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET = %d", res.StatusCode)
	}
	res, body = send(t, http.MethodHead, u)
	if res.StatusCode != http.StatusOK || body != "" || res.Header.Get("Content-Type") != "image/png" {
		t.Errorf("HEAD = %d %q %q", res.StatusCode, body, res.Header.Get("Content-Type"))
	}

	// Later in the window the cache lifetime shrinks with the expiry.
	clk.Set(windowStart.Add(ttl + 50*time.Minute))
	res, _ = send(t, http.MethodGet, u)
	if got, want := res.Header.Get("Cache-Control"), "public, max-age="+strconv.Itoa(10*60); got != want {
		t.Errorf("late Cache-Control = %q, want %q", got, want)
	}
}

func TestURLStableWithinWindow(t *testing.T) {
	st, clk, _ := fileStore(t)
	const key = "products/p1/a.webp"
	clk.Set(windowStart)
	first := signedURL(t, st, key)
	clk.Set(windowStart.Add(ttl - time.Second))
	if again := signedURL(t, st, key); again != first {
		t.Fatalf("URL changed within the window:\n%s\n%s", first, again)
	}
	clk.Set(windowStart.Add(ttl))
	next := signedURL(t, st, key)
	if next == first {
		t.Fatal("URL did not change in the next window")
	}
	q, _ := url.Parse(next)
	if got, want := q.Query().Get("expiry"), strconv.FormatInt(windowStart.Add(3*ttl).Unix(), 10); got != want {
		t.Errorf("expiry = %s, want %s", got, want)
	}
	if other := signedURL(t, st, "products/p1/b.webp"); other == next {
		t.Error("two keys share a URL")
	}
}

func TestFileURLRefused(t *testing.T) {
	st, clk, _ := fileStore(t)
	const key = "products/p1/main.png"
	put(t, st, key, "image/png", "png bytes")
	u := signedURL(t, st, key)
	parsed, _ := url.Parse(u)

	tamper := func(f func(p *url.URL, q url.Values)) string {
		p := *parsed
		q := p.Query()
		f(&p, q)
		p.RawQuery = q.Encode()
		return p.String()
	}
	sig := parsed.Query().Get("signature")
	flipped := []byte(sig)
	if flipped[3] == 'A' {
		flipped[3] = 'B'
	} else {
		flipped[3] = 'A'
	}
	cases := map[string]string{
		"changed signature byte": tamper(func(_ *url.URL, q url.Values) { q.Set("signature", string(flipped)) }),
		"no signature":           tamper(func(_ *url.URL, q url.Values) { q.Del("signature") }),
		"later expiry":           tamper(func(_ *url.URL, q url.Values) { q.Set("expiry", "99999999999") }),
		"other key":              tamper(func(p *url.URL, _ url.Values) { p.Path = "/files/products/p1/other.png" }),
		"signed for PUT":         tamper(func(_ *url.URL, q url.Values) { q.Set("method", "PUT") }),
		"unsigned":               strings.Split(u, "?")[0],
	}
	for name, bad := range cases {
		if res, body := send(t, http.MethodGet, bad); res.StatusCode != http.StatusForbidden || strings.Contains(body, "png bytes") {
			t.Errorf("%s: GET = %d", name, res.StatusCode)
		}
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		if res, _ := send(t, m, u); res.StatusCode != http.StatusForbidden {
			t.Errorf("%s with a GET URL = %d, want 403", m, res.StatusCode)
		}
	}
	if res, _ := send(t, http.MethodGet, u); res.StatusCode != http.StatusOK {
		t.Fatalf("untampered GET = %d", res.StatusCode)
	}
	clk.Set(windowStart.Add(2 * ttl)) // the URL's expiry
	if res, _ := send(t, http.MethodGet, u); res.StatusCode != http.StatusForbidden {
		t.Errorf("expired GET = %d, want 403", res.StatusCode)
	}
}

func TestFileMissingAndDelete(t *testing.T) {
	st, _, _ := fileStore(t)
	ctx := context.Background()
	const key = "products/p1/gone.gif"
	if res, _ := send(t, http.MethodGet, signedURL(t, st, key)); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET of a missing object = %d, want 404", res.StatusCode)
	}
	put(t, st, key, "image/gif", "GIF89a")
	if err := st.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if ok, _ := st.Exists(ctx, key); ok {
		t.Error("object still exists after Delete")
	}
	if err := st.Delete(ctx, key); err != nil {
		t.Errorf("Delete of a missing object: %v", err)
	}
	if res, _ := send(t, http.MethodGet, signedURL(t, st, key)); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET after Delete = %d, want 404", res.StatusCode)
	}
}

func TestKeysAreChecked(t *testing.T) {
	st, _, _ := fileStore(t)
	for _, key := range []string{"", "../x.png", "a/../../x.png", "/abs.png", "a//b.png", "a b.png", "ü.png", "a?b.png"} {
		if err := st.Put(context.Background(), key, "image/png", strings.NewReader("x")); err == nil {
			t.Errorf("Put(%q) succeeded", key)
		}
		if _, err := st.URL(context.Background(), key); err == nil {
			t.Errorf("URL(%q) succeeded", key)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"gs://bucket", "file://example.com/x", "file://", "file:///tmp/x?secret=1", "s3://"} {
		if _, err := storage.Open(ctx, storage.Config{URL: u, PublicBaseURL: "http://localhost:8080", Secret: secret, TTL: ttl}); err == nil {
			t.Errorf("Open(%q) succeeded", u)
		}
	}
	if _, err := storage.Open(ctx, storage.Config{URL: "file:///tmp/x", PublicBaseURL: "http://localhost", TTL: ttl}); err == nil {
		t.Error("Open without a secret succeeded")
	}
}

func TestOpenRelativeFolder(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	st, err := storage.Open(context.Background(), storage.Config{
		URL: "file://./data/uploads", PublicBaseURL: "http://localhost:8080", Secret: secret, TTL: ttl,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	put(t, st, "products/p/x.png", "image/png", "x")
	if _, err := os.Stat(filepath.Join(dir, "data", "uploads", "products", "p", "x.png")); err != nil {
		t.Fatalf("object not in ./data/uploads: %v", err)
	}
}

// TestS3 runs Put, URL and Delete against gofakes3 in process. gofakes3
// ignores signatures, so this shows the wiring and URL shape, not that the
// bucket checks them.
func TestS3(t *testing.T) {
	backend := s3mem.New()
	if err := backend.CreateBucket("products"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "test-key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	ctx := context.Background()
	clk := &clock{t: windowStart.Add(5 * time.Minute)}
	base := "s3://%s?endpoint=" + url.QueryEscape(srv.URL) + "&region=us-east-1&use_path_style=true&disable_https=true"

	if _, err := storage.Open(ctx, storage.Config{URL: strings.Replace(base, "%s", "missing", 1), TTL: ttl}); err == nil {
		t.Error("Open of a missing bucket succeeded")
	}
	st, err := storage.Open(ctx, storage.Config{URL: strings.Replace(base, "%s", "products", 1), TTL: ttl, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.ServesFiles() {
		t.Error("s3 store claims to serve files")
	}
	const key = "products/p1/main.jpg"
	put(t, st, key, "image/jpeg", "jpeg bytes")

	u := signedURL(t, st, key)
	if !strings.HasPrefix(u, srv.URL+"/products/products/p1/main.jpg?") {
		t.Fatalf("url = %s", u)
	}
	q, _ := url.Parse(u)
	if got := q.Query().Get("X-Amz-Expires"); got != "7200" {
		t.Errorf("X-Amz-Expires = %s, want 7200", got)
	}
	if got, want := q.Query().Get("X-Amz-Date"), windowStart.UTC().Format("20060102T150405Z"); got != want {
		t.Errorf("X-Amz-Date = %s, want %s", got, want)
	}
	clk.Set(windowStart.Add(ttl - time.Second))
	if again := signedURL(t, st, key); again != u {
		t.Errorf("URL changed within the window:\n%s\n%s", u, again)
	}
	clk.Set(windowStart.Add(ttl))
	if next := signedURL(t, st, key); next == u {
		t.Error("URL did not change in the next window")
	}

	res, body := send(t, http.MethodGet, u)
	if res.StatusCode != http.StatusOK || body != "jpeg bytes" || res.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("GET = %d %q %q", res.StatusCode, body, res.Header.Get("Content-Type"))
	}
	deleteTwice(t, st, key)
	if res, _ := send(t, http.MethodGet, u); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET after Delete = %d, want 404", res.StatusCode)
	}
}

// failingReader yields some bytes, then an error.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n > 0 {
		n := min(len(p), f.n)
		f.n -= n
		return n, nil
	}
	return 0, io.ErrUnexpectedEOF
}

func TestPutDiscardsPartialObject(t *testing.T) {
	st, _, _ := fileStore(t)
	ctx := context.Background()
	const key = "products/p1/partial.png"
	if err := st.Put(ctx, key, "image/png", &failingReader{n: 100}); err == nil {
		t.Fatal("Put succeeded with a failing reader")
	}
	if ok, err := st.Exists(ctx, key); err != nil || ok {
		t.Errorf("partial object exists = %v, %v", ok, err)
	}
}

// deleteTwice deletes key, checks it is gone, and deletes it again: a
// missing object is not an error.
func deleteTwice(t *testing.T, st *storage.Store, key string) {
	t.Helper()
	ctx := context.Background()
	if err := st.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.Exists(ctx, key); err != nil || ok {
		t.Errorf("Exists after Delete = %v, %v", ok, err)
	}
	if err := st.Delete(ctx, key); err != nil {
		t.Errorf("Delete of a missing object: %v", err)
	}
}
