package catalog_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"commerce/internal/apperr"
	"commerce/internal/catalog"
	"commerce/internal/inventory"
)

// memStore is an in-memory catalog.ObjectStore.
type memStore struct {
	mu      sync.Mutex
	objects map[string]memObject
	// beforePut, when set, runs before an object is stored.
	beforePut func(key string)
}

type memObject struct {
	contentType string
	data        []byte
}

func (m *memStore) Put(_ context.Context, key, contentType string, r io.Reader) error {
	if m.beforePut != nil {
		m.beforePut(key)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[key] = memObject{contentType: contentType, data: data}
	return nil
}

func (m *memStore) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objects, key)
	return nil
}

func (m *memStore) get(key string) (memObject, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[key]
	return o, ok
}

func (m *memStore) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.objects)
}

const maxTestUpload = 64 << 10

func setupImages(t *testing.T) (*catalog.Service, *memStore, *testBundle) {
	t.Helper()
	svc, b := setup(t)
	store := &memStore{objects: map[string]memObject{}}
	return svc.WithImages(store, maxTestUpload), store, b
}

// Tiny real images, made here.

func testImage(w, h int) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, color.NRGBA{R: uint8(x * 40), G: uint8(y * 40), B: 200, A: 255})
		}
	}
	return img
}

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, testImage(w, h)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func jpegBytes(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, testImage(3, 2), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gifBytes(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := gif.Encode(&buf, testImage(2, 2), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// webpBytes is a 1×1 lossless WebP (no WebP encoder in Go to make one).
func webpBytes(t *testing.T) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func upload(name string, data []byte) catalog.ImageUpload {
	return catalog.ImageUpload{Filename: name, Size: int64(len(data)), Content: bytes.NewReader(data)}
}

func images(t *testing.T, svc *catalog.Service, productID string) []catalog.Image {
	t.Helper()
	m, err := svc.ImagesByProductIDs(context.Background(), []string{productID})
	if err != nil {
		t.Fatal(err)
	}
	return m[productID]
}

func positions(imgs []catalog.Image) []string {
	out := make([]string, len(imgs))
	for i, img := range imgs {
		out[i] = fmt.Sprintf("%d:%s", img.Position, img.ID)
	}
	return out
}

func TestAddImageAcceptsImages(t *testing.T) {
	svc, store, _ := setupImages(t)
	ctx := context.Background()
	p := mustCreate(t, svc, validInput())
	cases := []struct {
		name, contentType, ext string
		data                   []byte
		w, h                   int
	}{
		{"photo.png", "image/png", "png", pngBytes(t, 4, 3), 4, 3},
		{"photo.jpeg", "image/jpeg", "jpg", jpegBytes(t), 3, 2},
		{"anim.gif", "image/gif", "gif", gifBytes(t), 2, 2},
		{"pic.webp", "image/webp", "webp", webpBytes(t), 1, 1},
		// The name and the client's claims do not matter: the content does.
		{"../../etc/passwd.png", "image/jpeg", "jpg", jpegBytes(t), 3, 2},
	}
	for i, c := range cases {
		up := upload(c.name, c.data)
		if i == 0 {
			up.AltText = ptr("  A blue mug  ")
		}
		got, err := svc.AddImage(ctx, p.ID, up)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got.ID != p.ID {
			t.Fatalf("%s: returned product %s", c.name, got.ID)
		}
	}
	imgs := images(t, svc, p.ID)
	if len(imgs) != len(cases) {
		t.Fatalf("%d images, want %d", len(imgs), len(cases))
	}
	for i, img := range imgs {
		c := cases[i]
		if img.Position != i || img.ContentType != c.contentType || *img.Width != c.w || *img.Height != c.h || img.SizeBytes != int64(len(c.data)) {
			t.Errorf("%s: image %+v", c.name, img)
		}
		want := regexp.MustCompile("^products/" + p.ID + "/[0-9a-f-]{36}\\." + c.ext + "$")
		if !want.MatchString(img.StorageKey) {
			t.Errorf("%s: key %q", c.name, img.StorageKey)
		}
		obj, ok := store.get(img.StorageKey)
		if !ok || obj.contentType != c.contentType || !bytes.Equal(obj.data, c.data) {
			t.Errorf("%s: stored object %v %q", c.name, ok, obj.contentType)
		}
	}
	if imgs[0].AltText == nil || *imgs[0].AltText != "A blue mug" {
		t.Errorf("alt text %v", imgs[0].AltText)
	}
}

func TestAddImageRejects(t *testing.T) {
	svc, store, b := setupImages(t)
	ctx := context.Background()
	p := mustCreate(t, svc, validInput())
	png4 := pngBytes(t, 4, 3)
	jpg := jpegBytes(t)
	huge := append(pngBytes(t, 2, 2), make([]byte, maxTestUpload)...)
	garbage := append(append([]byte{}, png4[:8]...), []byte(strings.Repeat("garbage!", 20))...)

	cases := map[string]catalog.ImageUpload{
		"text":                 upload("notes.png", []byte("just some text, not an image")),
		"svg":                  upload("logo.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="1" height="1"/></svg>`)),
		"svg with xml header":  upload("logo.png", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>`)),
		"php renamed .png":     upload("shell.png", []byte("<?php system($_GET['c']); ?>")),
		"html":                 upload("x.gif", []byte("<html><script>alert(1)</script></html>")),
		"png header + garbage": upload("x.png", garbage),
		"truncated png":        upload("x.png", png4[:len(png4)-10]),
		"png without iend":     upload("x.png", png4[:len(png4)-12]),
		"truncated jpeg":       upload("x.jpg", jpg[:len(jpg)-20]),
		"truncated gif":        upload("x.gif", gifBytes(t)[:20]),
		"truncated webp":       upload("x.webp", webpBytes(t)[:30]),
		"empty":                upload("x.png", nil),
		"oversized":            upload("x.png", huge),
		"oversized, small claim": func() catalog.ImageUpload {
			u := upload("x.png", huge)
			u.Size = 10
			return u
		}(),
		"oversized claim": func() catalog.ImageUpload {
			u := upload("x.png", png4)
			u.Size = maxTestUpload + 1
			return u
		}(),
		"absurd width":  upload("x.png", pngBytes(t, 20001, 1)),
		"absurd height": upload("x.png", pngBytes(t, 1, 20001)),
		"bmp":           upload("x.bmp", append([]byte("BM"), make([]byte, 60)...)),
	}
	for name, up := range cases {
		_, err := svc.AddImage(ctx, p.ID, up)
		wantUserError(t, err, apperr.Invalid, "", "file")
		if strings.HasPrefix(name, "oversized") {
			if list, _ := apperr.UserErrors(err); list[0].Message != fmt.Sprintf("file is larger than %d bytes", maxTestUpload) {
				t.Errorf("%s: message %q", name, list[0].Message)
			}
		}
	}
	long := upload("x.png", png4)
	long.AltText = ptr(strings.Repeat("é", 501))
	_, err := svc.AddImage(ctx, p.ID, long)
	wantUserError(t, err, apperr.Invalid, "", "altText")
	ctrl := upload("x.png", png4)
	ctrl.AltText = ptr("a\x00b")
	_, err = svc.AddImage(ctx, p.ID, ctrl)
	wantUserError(t, err, apperr.Invalid, "", "altText")

	if n := store.len(); n != 0 {
		t.Errorf("%d objects stored for refused uploads", n)
	}
	var rows int
	if err := b.db.Bun.QueryRowContext(ctx, "SELECT count(*) FROM product_images WHERE product_id = ?", p.ID).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("%d image rows for refused uploads", rows)
	}
}

func TestAddImageUnknownProduct(t *testing.T) {
	svc, store, _ := setupImages(t)
	ctx := context.Background()
	for _, id := range []string{uuid.NewString(), "not-a-uuid", ""} {
		_, err := svc.AddImage(ctx, id, upload("x.png", pngBytes(t, 1, 1)))
		wantUserError(t, err, apperr.NotFound, "", "productId")
	}
	if store.len() != 0 {
		t.Error("an object was stored for an unknown product")
	}
}

func TestAddImageInsertFailureRemovesObject(t *testing.T) {
	svc, store, b := setupImages(t)
	ctx := context.Background()
	p := mustCreate(t, svc, validInput()) // no stock, so no ledger rows refer to it
	stored := ""
	store.beforePut = func(key string) {
		stored = key
		// The product (and its variant) goes away between the check and
		// the insert.
		if _, err := b.db.Bun.ExecContext(ctx, `WITH v AS (DELETE FROM product_variants WHERE product_id = ?)
			DELETE FROM products WHERE id = ?`, p.ID, p.ID); err != nil {
			t.Error(err)
		}
	}
	_, err := svc.AddImage(ctx, p.ID, upload("x.png", pngBytes(t, 1, 1)))
	wantUserError(t, err, apperr.NotFound, "", "productId")
	if stored == "" {
		t.Fatal("the object was never stored")
	}
	if _, ok := store.get(stored); ok {
		t.Error("the object was left behind after the insert failed")
	}
}

func TestWithoutImageStorage(t *testing.T) {
	svc, _ := setup(t)
	p := mustCreate(t, svc, validInput())
	_, err := svc.AddImage(context.Background(), p.ID, upload("x.png", pngBytes(t, 1, 1)))
	if _, ok := apperr.UserErrors(err); ok || err == nil {
		t.Fatalf("want an internal error, got %v", err)
	}
	// NewService keeps working for the callers that need no images.
	_ = catalog.NewService(nil, inventory.NewLedger(nil, inventory.Config{}), catalog.Config{})
}

func addImages(t *testing.T, svc *catalog.Service, productID string, n int) []catalog.Image {
	t.Helper()
	for range n {
		if _, err := svc.AddImage(context.Background(), productID, upload("x.png", pngBytes(t, 2, 2))); err != nil {
			t.Fatal(err)
		}
	}
	return images(t, svc, productID)
}

func TestDeleteImage(t *testing.T) {
	svc, store, _ := setupImages(t)
	ctx := context.Background()
	p := mustCreate(t, svc, validInput())
	imgs := addImages(t, svc, p.ID, 3)

	got, err := svc.DeleteImage(ctx, imgs[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != p.ID {
		t.Errorf("returned product %s", got.ID)
	}
	if _, ok := store.get(imgs[1].StorageKey); ok {
		t.Error("the deleted image's object is still stored")
	}
	if _, ok := store.get(imgs[0].StorageKey); !ok {
		t.Error("another image's object was removed")
	}
	want := []string{"0:" + imgs[0].ID, "1:" + imgs[2].ID}
	if got := positions(images(t, svc, p.ID)); !slices.Equal(got, want) {
		t.Errorf("positions %v, want %v", got, want)
	}
	for _, id := range []string{imgs[1].ID, uuid.NewString(), "nope"} {
		_, err := svc.DeleteImage(ctx, id)
		wantUserError(t, err, apperr.NotFound, "", "imageId")
	}
	// A new image goes after the remaining ones.
	after := addImages(t, svc, p.ID, 1)
	if after[2].Position != 2 {
		t.Errorf("new image at %d", after[2].Position)
	}
}

func TestReorderImages(t *testing.T) {
	svc, _, _ := setupImages(t)
	ctx := context.Background()
	p := mustCreate(t, svc, validInput())
	other := mustCreate(t, svc, validInput())
	imgs := addImages(t, svc, p.ID, 3)
	foreign := addImages(t, svc, other.ID, 1)[0]
	a, b, c := imgs[0].ID, imgs[1].ID, imgs[2].ID

	if _, err := svc.ReorderImages(ctx, p.ID, []string{c, a, strings.ToUpper(b)}); err != nil {
		t.Fatal(err)
	}
	want := []string{"0:" + c, "1:" + a, "2:" + b}
	if got := positions(images(t, svc, p.ID)); !slices.Equal(got, want) {
		t.Fatalf("positions %v, want %v", got, want)
	}

	bad := map[string][]string{
		"missing one": {c, a},
		"duplicate":   {c, a, a},
		"extra":       {c, a, b, foreign.ID},
		"foreign":     {c, a, foreign.ID},
		"malformed":   {c, a, "x"},
		"empty":       {},
	}
	for name, ids := range bad {
		_, err := svc.ReorderImages(ctx, p.ID, ids)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		wantUserError(t, err, apperr.Invalid, "", "imageIds")
	}
	if got := positions(images(t, svc, p.ID)); !slices.Equal(got, want) {
		t.Errorf("a refused reorder changed positions: %v", got)
	}
	_, err := svc.ReorderImages(ctx, uuid.NewString(), nil)
	wantUserError(t, err, apperr.NotFound, "", "productId")

	// A product without images takes the empty list.
	empty := mustCreate(t, svc, validInput())
	if _, err := svc.ReorderImages(ctx, empty.ID, nil); err != nil {
		t.Errorf("empty reorder: %v", err)
	}
}
