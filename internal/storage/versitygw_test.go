package storage_test

// Tests against a real S3-compatible server: versitygw (posix backend in a
// temporary folder), which, unlike gofakes3, checks SigV4 signatures,
// expiry and method. The binary is found through VERSITYGW_BIN (`make
// test` sets it to bin/tools/versitygw) or bin/tools; failing both, it is
// installed with `go install` at the pinned version into the user's cache.
// If that is impossible (no network, no module proxy) the tests skip and
// say so.

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"commerce/internal/storage"
)

// versitygwVersion is the pinned version; the Makefile's VERSITYGW_VERSION
// must say the same (TestVersityGWVersionMatchesMakefile).
const (
	versitygwModule  = "github.com/versity/versitygw"
	versitygwPackage = versitygwModule + "/cmd/versitygw"
	versitygwVersion = "v1.8.0"
)

var versitygwBin struct {
	once sync.Once
	path string
	err  error // why there is no binary: the tests skip with it
}

// versitygwBinary returns the path of versitygw at the pinned version, or
// skips the test when it is not installed and cannot be.
func versitygwBinary(t *testing.T) string {
	t.Helper()
	versitygwBin.once.Do(func() { versitygwBin.path, versitygwBin.err = findVersitygw() })
	if versitygwBin.err != nil {
		t.Skipf("versitygw %s is not available, so the real-S3 tests cannot run: %v "+
			"(run `make test-tools`, or set VERSITYGW_BIN)", versitygwVersion, versitygwBin.err)
	}
	return versitygwBin.path
}

func findVersitygw() (string, error) {
	if p := os.Getenv("VERSITYGW_BIN"); p != "" {
		if ok, why := isPinnedVersitygw(p); ok {
			return p, nil
		} else if _, err := os.Stat(p); err == nil {
			return "", fmt.Errorf("VERSITYGW_BIN=%s: %s", p, why)
		}
	}
	if p, err := filepath.Abs(filepath.Join("..", "..", "bin", "tools", "versitygw")); err == nil {
		if ok, _ := isPinnedVersitygw(p); ok {
			return p, nil
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "commerce-test-tools", "versitygw-"+versitygwVersion)
	p := filepath.Join(dir, "versitygw")
	if ok, _ := isPinnedVersitygw(p); ok {
		return p, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "install", versitygwPackage+"@"+versitygwVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-mod=mod")
	cmd.Dir = os.TempDir() // outside this module: install resolves the pinned version on its own
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %v\n%s", versitygwPackage, versitygwVersion, err, out)
	}
	if ok, why := isPinnedVersitygw(p); !ok {
		return "", errors.New(why)
	}
	return p, nil
}

// isPinnedVersitygw reports whether path is a versitygw built from the
// pinned module version.
func isPinnedVersitygw(path string) (bool, string) {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return false, err.Error()
	}
	if info.Main.Path != versitygwModule || info.Main.Version != versitygwVersion {
		return false, fmt.Sprintf("built from %s@%s, want %s@%s", info.Main.Path, info.Main.Version, versitygwModule, versitygwVersion)
	}
	return true, ""
}

func TestVersityGWVersionMatchesMakefile(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Skipf("no Makefile: %v", err)
	}
	m := regexp.MustCompile(`(?m)^VERSITYGW_VERSION\s*:?=\s*(\S+)`).FindSubmatch(mk)
	if m == nil || string(m[1]) != versitygwVersion {
		t.Fatalf("the Makefile pins VERSITYGW_VERSION %q, this test %q", m, versitygwVersion)
	}
}

// versityGW is one running versitygw with a root account.
type versityGW struct {
	endpoint       string // http://127.0.0.1:port
	access, secret string
	client         *s3.Client
}

// startVersityGW runs versitygw on a free port with a posix backend in a
// temporary folder, waits until it answers and stops it on cleanup. It
// sets the AWS_* variables the s3:// store reads, so tests using it cannot
// run in parallel.
func startVersityGW(t *testing.T) *versityGW {
	t.Helper()
	bin := versitygwBinary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	g := &versityGW{endpoint: "http://" + addr, access: "testaccess" + randomSuffix(), secret: "testsecret-" + randomSuffix()}

	root := t.TempDir()
	var out bytes.Buffer
	var outMu sync.Mutex
	cmd := exec.Command(bin, "--access", g.access, "--secret", g.secret, "--port", addr, "--quiet", "posix", root)
	cmd.Stdout = lockedWriter{&outMu, &out}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			outMu.Lock()
			t.Logf("---- versitygw output ----\n%s", out.String())
			outMu.Unlock()
		}
	})

	t.Setenv("AWS_ACCESS_KEY_ID", g.access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", g.secret)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	g.client = s3.New(s3.Options{
		BaseEndpoint: aws.String(g.endpoint),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(g.access, g.secret, ""),
		UsePathStyle: true,
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("versitygw exited during start: %v", cmd.ProcessState)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := g.client.ListBuckets(ctx, &s3.ListBucketsInput{})
		cancel()
		if err == nil {
			return g
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not answer on %s within 30s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func randomSuffix() string { return strings.ToLower(fmt.Sprintf("%x", time.Now().UnixNano()))[6:] }

// bucket creates a bucket through the S3 API and returns its name.
func (g *versityGW) bucket(t *testing.T) string {
	t.Helper()
	name := "products-" + randomSuffix()
	if _, err := g.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// keys lists every object of the bucket.
func (g *versityGW) keys(t *testing.T, bucket string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(g.client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list bucket %s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// storeURL is the STORAGE_URL of bucket on this server.
func (g *versityGW) storeURL(bucket string) string {
	return "s3://" + bucket + "?endpoint=" + url.QueryEscape(g.endpoint) + "&region=us-east-1&use_path_style=true&disable_https=true"
}

// open opens the service's store on bucket with the clock now.
func (g *versityGW) open(t *testing.T, bucket string, ttl time.Duration, now func() time.Time) *storage.Store {
	t.Helper()
	st, err := storage.Open(context.Background(), storage.Config{URL: g.storeURL(bucket), TTL: ttl, Now: now})
	if err != nil {
		t.Fatalf("open %s: %v", g.storeURL(bucket), err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// TestVersityGWPutURLDelete: Put, a signed URL that the bucket honours with
// the stored bytes and content type, Delete.
func TestVersityGWPutURLDelete(t *testing.T) {
	g := startVersityGW(t)
	ctx := context.Background()
	if _, err := storage.Open(ctx, storage.Config{URL: g.storeURL("no-such-bucket"), TTL: ttl}); err == nil {
		t.Error("Open of a missing bucket succeeded")
	}
	bucket := g.bucket(t)
	st := g.open(t, bucket, ttl, nil)
	if st.ServesFiles() {
		t.Error("s3 store claims to serve files")
	}
	const key = "products/p1/main.jpg"
	put(t, st, key, "image/jpeg", "jpeg bytes")
	if got := g.keys(t, bucket); len(got) != 1 || got[0] != key {
		t.Fatalf("bucket holds %v, want [%s]", got, key)
	}

	u := signedURL(t, st, key)
	if !strings.HasPrefix(u, g.endpoint+"/"+bucket+"/"+key+"?") {
		t.Fatalf("url = %s", u)
	}
	if again := signedURL(t, st, key); again != u {
		t.Errorf("URL changed within the window:\n%s\n%s", u, again)
	}
	res, body := send(t, http.MethodGet, u)
	if res.StatusCode != http.StatusOK || body != "jpeg bytes" || res.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("GET = %d %q %q", res.StatusCode, body, res.Header.Get("Content-Type"))
	}
	if got := res.Header.Get("Cache-Control"); got != "public, max-age=3600" {
		t.Errorf("Cache-Control = %q, want public, max-age=3600", got)
	}
	if res, _ := send(t, http.MethodGet, g.endpoint+"/"+bucket+"/"+key); res.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned GET = %d, want 403", res.StatusCode)
	}

	deleteTwice(t, st, key)
	if got := g.keys(t, bucket); len(got) != 0 {
		t.Errorf("bucket holds %v after Delete", got)
	}
	if res, _ := send(t, http.MethodGet, u); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET after Delete = %d, want 404", res.StatusCode)
	}
}

// TestVersityGWSignedURLRefused: the bucket refuses with 403 a signed URL
// with a changed byte, an expired one, and one used with another method;
// the object stays as it was.
func TestVersityGWSignedURLRefused(t *testing.T) {
	g := startVersityGW(t)
	bucket := g.bucket(t)
	const key = "products/p1/main.png"
	const content = "png bytes"

	// An expired URL: issued by a clock ten minutes behind, with a TTL of
	// one minute, it expired (at most two TTLs after its window began)
	// eight minutes ago. The bucket judges expiry by its own clock.
	past := &clock{t: time.Now().Add(-10 * time.Minute)}
	old := g.open(t, bucket, time.Minute, past.Now)
	put(t, old, key, "image/png", content)
	expired := signedURL(t, old, key)

	st := g.open(t, bucket, ttl, nil)
	u := signedURL(t, st, key)
	if res, body := send(t, http.MethodGet, u); res.StatusCode != http.StatusOK || body != content {
		t.Fatalf("untampered GET = %d %q", res.StatusCode, body)
	}
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	tamper := func(f func(p *url.URL, q url.Values)) string {
		p := *parsed
		q := p.Query()
		f(&p, q)
		p.RawQuery = q.Encode()
		return p.String()
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == '0' {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
		return string(b)
	}
	sig := parsed.Query().Get("X-Amz-Signature")
	if sig == "" {
		t.Fatalf("no X-Amz-Signature in %s", u)
	}
	cases := map[string]string{
		"changed signature byte": tamper(func(_ *url.URL, q url.Values) { q.Set("X-Amz-Signature", flip(sig, 5)) }),
		"changed key byte": tamper(func(p *url.URL, _ url.Values) {
			p.Path = strings.Replace(p.Path, "main.png", "mbin.png", 1)
		}),
		"longer expiry":  tamper(func(_ *url.URL, q url.Values) { q.Set("X-Amz-Expires", "604800") }),
		"expired":        expired,
		"expired, later": strings.Replace(expired, "X-Amz-Expires=120", "X-Amz-Expires=7200", 1),
	}
	for name, bad := range cases {
		if bad == u {
			t.Fatalf("%s: the URL is unchanged", name)
		}
		if res, body := send(t, http.MethodGet, bad); res.StatusCode != http.StatusForbidden || strings.Contains(body, content) {
			t.Errorf("%s: GET = %d %.200q, want 403", name, res.StatusCode, body)
		}
	}
	// Without a signature S3 answers 400 (AuthorizationQueryParametersError).
	noSig := tamper(func(_ *url.URL, q url.Values) { q.Del("X-Amz-Signature") })
	if res, body := send(t, http.MethodGet, noSig); res.StatusCode/100 != 4 || strings.Contains(body, content) {
		t.Errorf("no signature: GET = %d %.200q, want refused", res.StatusCode, body)
	}
	for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodHead} {
		if res, body := sendBody(t, m, u, []byte("overwritten")); res.StatusCode != http.StatusForbidden {
			t.Errorf("%s with a GET URL = %d %.200q, want 403", m, res.StatusCode, body)
		}
	}
	// POST is no object operation at all: S3 answers 405 before any signature check.
	if res, body := sendBody(t, http.MethodPost, u, []byte("overwritten")); res.StatusCode/100 != 4 {
		t.Errorf("POST with a GET URL = %d %.200q, want refused", res.StatusCode, body)
	}
	if res, body := send(t, http.MethodGet, u); res.StatusCode != http.StatusOK || body != content {
		t.Errorf("after the refused requests GET = %d %q, want the object unchanged", res.StatusCode, body)
	}
	if got := g.keys(t, bucket); len(got) != 1 || got[0] != key {
		t.Errorf("bucket holds %v, want [%s]", got, key)
	}
}
