package storage_test

// Uploads through catalog.AddImage into each backend: the file store and a
// real S3-compatible server (versitygw). A PNG is stored and served through
// its signed URL, which refuses a changed byte, expiry and another method
// with 403; a PHP script named .png, a 20 MiB file and an empty file are
// refused with a userError at ["file"] and leave nothing in the bucket.
// AddImage checks the product in the database, hence TestMain.

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"commerce/internal/apperr"
	"commerce/internal/catalog"
	"commerce/internal/inventory"
	"commerce/internal/platform/dbtest"
	"commerce/internal/storage"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }

// maxUpload is MAX_UPLOAD_BYTES' default.
const maxUpload = 10 << 20

// uploadBackend is a store under test with a way to see what it holds.
type uploadBackend struct {
	store *storage.Store
	// objects lists every object (file) the backend holds.
	objects func(t *testing.T) []string
	// expiredURL returns a URL for key signed by a clock far enough behind
	// that it has expired.
	expiredURL func(t *testing.T, key string) string
}

// uploadFileBackend is a file store in a temporary folder, served by a test
// server that mounts Handler at /files/ as the service does.
func uploadFileBackend(t *testing.T) uploadBackend {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "uploads")
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	open := func(now func() time.Time) *storage.Store {
		st, err := storage.Open(context.Background(), storage.Config{
			URL: "file://" + filepath.ToSlash(dir), PublicBaseURL: srv.URL, Secret: secret, TTL: ttl, Now: now,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
	st := open(nil)
	mux.Handle(storage.FilesPath, st.Handler())
	past := &clock{t: time.Now().Add(-3 * ttl)}
	old := open(past.Now)
	return uploadBackend{
		store: st,
		objects: func(t *testing.T) []string {
			t.Helper()
			var out []string
			err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
				if err != nil || e.IsDir() || strings.HasSuffix(p, ".attrs") { // fileblob's metadata sidecars
					return err
				}
				rel, _ := filepath.Rel(dir, p)
				out = append(out, filepath.ToSlash(rel))
				return nil
			})
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			return out
		},
		expiredURL: func(t *testing.T, key string) string { return signedURL(t, old, key) },
	}
}

// uploadS3Backend is a bucket on a versitygw of its own.
func uploadS3Backend(t *testing.T) uploadBackend {
	t.Helper()
	g := startVersityGW(t)
	bucket := g.bucket(t)
	past := &clock{t: time.Now().Add(-10 * time.Minute)}
	old := g.open(t, bucket, time.Minute, past.Now)
	return uploadBackend{
		store:      g.open(t, bucket, ttl, nil),
		objects:    func(t *testing.T) []string { return g.keys(t, bucket) },
		expiredURL: func(t *testing.T, key string) string { return signedURL(t, old, key) },
	}
}

func uploadPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 16, 9))
	for x := range 16 {
		img.Set(x, x%9, color.RGBA{R: 200, G: uint8(x * 10), B: 30, A: 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestImageUploadBackends(t *testing.T) {
	backends := map[string]func(*testing.T) uploadBackend{
		"file":         uploadFileBackend,
		"s3 versitygw": uploadS3Backend,
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			b := open(t)
			testImageUpload(t, b)
		})
	}
}

func testImageUpload(t *testing.T, b uploadBackend) {
	ctx := context.Background()
	d := dbtest.DB(t)
	inv := inventory.NewService(d, nil, inventory.Config{})
	cat := catalog.NewService(d, inv.Ledger(), catalog.Config{StoreCurrency: "USD"}).WithImages(b.store, maxUpload)
	p, err := cat.Create(ctx, catalog.CreateInput{SKU: ptr("S3-" + uuid.NewString()[:8]), Name: "Upload mug " + uuid.NewString()[:8], Price: ptr("9.00")})
	if err != nil {
		t.Fatal(err)
	}

	// Refused uploads: a userError at ["file"], nothing stored.
	php := []byte("<?php echo 'pwned'; system($_GET['c']); ?>\n")
	big := append(uploadPNG(t), make([]byte, 20<<20)...)
	refused := []struct {
		name    string
		file    string
		content []byte
		size    int64 // what the client claims
	}{
		{"a PHP script named .png", "shell.png", php, int64(len(php))},
		{"a 20 MiB file", "big.png", big, int64(len(big))},
		{"a 20 MiB file claiming 1 KiB", "big.png", big, 1 << 10},
		{"an empty file", "empty.png", nil, 0},
	}
	for _, c := range refused {
		_, err := cat.AddImage(ctx, p.ID, catalog.ImageUpload{Filename: c.file, Size: c.size, Content: bytes.NewReader(c.content)})
		list, ok := apperr.UserErrors(err)
		if !ok || len(list) != 1 || !slices.Equal(list[0].Field, []string{"file"}) {
			t.Errorf("%s: error %v, want one userError at [\"file\"]", c.name, err)
		}
	}
	if got := b.objects(t); len(got) != 0 {
		t.Errorf("objects stored for refused uploads: %v", got)
	}

	// A PNG is stored and served through its signed URL.
	file := uploadPNG(t)
	if _, err := cat.AddImage(ctx, p.ID, catalog.ImageUpload{Filename: "../../etc/mug.php", Size: int64(len(file)), Content: bytes.NewReader(file)}); err != nil {
		t.Fatalf("AddImage of a PNG: %v", err)
	}
	imgs, err := cat.ImagesByProductIDs(ctx, []string{p.ID})
	if err != nil || len(imgs[p.ID]) != 1 {
		t.Fatalf("images of the product: %v, %v; want one", imgs, err)
	}
	img := imgs[p.ID][0]
	if img.ContentType != "image/png" || !strings.HasSuffix(img.StorageKey, ".png") || strings.Contains(img.StorageKey, "mug") {
		t.Errorf("image %+v: want image/png under a generated .png key", img)
	}
	if got := b.objects(t); !slices.Equal(got, []string{img.StorageKey}) {
		t.Errorf("objects %v, want just %s", got, img.StorageKey)
	}
	u := signedURL(t, b.store, img.StorageKey)
	res, body := send(t, http.MethodGet, u)
	if res.StatusCode != http.StatusOK || body != string(file) || res.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("GET %s = %d %q, %d bytes; want 200 image/png with the file", u, res.StatusCode, res.Header.Get("Content-Type"), len(body))
	}

	// The URL with a changed byte, expired, or with another method: 403.
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	changed := *parsed
	changed.Path = strings.Replace(changed.Path, ".png", ".pnh", 1)
	sigName := "signature"
	if changed.Query().Get(sigName) == "" {
		sigName = "X-Amz-Signature"
	}
	q := parsed.Query()
	sig := []byte(q.Get(sigName))
	if sig[2] == 'a' {
		sig[2] = 'b'
	} else {
		sig[2] = 'a'
	}
	q.Set(sigName, string(sig))
	badSig := *parsed
	badSig.RawQuery = q.Encode()
	for what, bad := range map[string]string{
		"changed key byte":       changed.String(),
		"changed signature byte": badSig.String(),
		"expired":                b.expiredURL(t, img.StorageKey),
	} {
		if res, body := send(t, http.MethodGet, bad); res.StatusCode != http.StatusForbidden || body == string(file) {
			t.Errorf("%s: GET = %d, want 403", what, res.StatusCode)
		}
	}
	for _, m := range []string{http.MethodPut, http.MethodDelete} {
		if res, _ := sendBody(t, m, u, php); res.StatusCode != http.StatusForbidden {
			t.Errorf("%s with the image URL = %d, want 403", m, res.StatusCode)
		}
	}
	if res, body := send(t, http.MethodGet, u); res.StatusCode != http.StatusOK || body != string(file) {
		t.Errorf("after the refused requests GET = %d, want the image unchanged", res.StatusCode)
	}

	// Deleting the image removes its object.
	if _, err := cat.DeleteImage(ctx, img.ID); err != nil {
		t.Fatal(err)
	}
	if got := b.objects(t); len(got) != 0 {
		t.Errorf("objects after the image was deleted: %v", got)
	}
}

func ptr[T any](v T) *T { return &v }
