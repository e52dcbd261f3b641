package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"commerce/graph"
	"commerce/internal/auth"
	"commerce/internal/catalog"
	"commerce/internal/customers"
	"commerce/internal/inventory"
	"commerce/internal/notify"
	"commerce/internal/platform/dbtest"
	"commerce/internal/storage"
)

const maxImageUpload = 64 << 10

// imageBundle is the GraphQL endpoint with file image storage, served with
// /files/ on the same test server as the service does.
type imageBundle struct {
	*bundle
	base  string
	store *storage.Store
}

func setupImages(t *testing.T) *imageBundle {
	t.Helper()
	d := dbtest.DB(t)
	log := slog.New(slog.DiscardHandler)
	inserter, err := river.NewClient(riverdatabasesql.New(d.SQL), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	notifier, err := notify.NewService(d, inserter, notify.LogSender{Log: log}, notify.LogSender{Log: log},
		notify.Config{From: "shop@example.com", MaxAttempts: 3, RetryBase: time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte(strings.Repeat("k", 32))
	tokens := auth.NewSessions(d, auth.NewTokens(secret, time.Hour, time.Hour, time.Now))
	inv := inventory.NewService(d, notifier, inventory.Config{})

	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	store, err := storage.Open(context.Background(), storage.Config{
		URL: "file://" + filepath.ToSlash(t.TempDir()), PublicBaseURL: srv.URL, Secret: secret, TTL: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })

	b := &imageBundle{bundle: &bundle{tokens: tokens, staff: auth.NewStaffService(d, tokens, nil, auth.StaffConfig{}), url: srv.URL + "/graphql"}, base: srv.URL, store: store}
	b.catalog = catalog.NewService(d, inv.Ledger(), catalog.Config{StoreCurrency: "USD", Log: log}).WithImages(store, maxImageUpload)
	r := graph.NewResolver(graph.Services{
		Staff: b.staff, Customers: customers.NewService(d, tokens, "USD"), Catalog: b.catalog, Inventory: inv, Notify: notifier,
		Images: store,
	}, log)
	mux.Handle("/graphql", graph.NewHandler(r, graph.HandlerConfig{Sessions: tokens, MaxUploadBytes: maxImageUpload, Log: log}))
	mux.Handle(storage.FilesPath, store.Handler())
	return b
}

const uploadMutation = `mutation($p: ID!, $f: Upload!, $a: String) {
  productImageUpload(productId: $p, file: $f, altText: $a) {
    product { id images { id url altText position } }
    userErrors { field message code }
  }
}`

type imagePayload struct {
	Product *struct {
		ID     string
		Images []struct {
			ID       string
			URL      string
			AltText  *string
			Position int
		}
	}
	UserErrors []struct {
		Field   []string
		Message string
		Code    string
	}
}

// upload sends the GraphQL multipart request spec by hand and returns the
// raw response body too.
func (b *imageBundle) upload(t *testing.T, token, productID, filename string, file []byte, altText *string) (response, string) {
	t.Helper()
	ops, _ := json.Marshal(map[string]any{
		"query":     uploadMutation,
		"variables": map[string]any{"p": productID, "f": nil, "a": altText},
	})
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("operations", string(ops))
	_ = mw.WriteField("map", `{"0": ["variables.f"]}`)
	fw, _ := mw.CreateFormFile("0", filename)
	_, _ = fw.Write(file)
	_ = mw.Close()
	return b.post(t, token, mw.FormDataContentType(), body.Bytes())
}

func (b *imageBundle) post(t *testing.T, token, contentType string, body []byte) (response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out response
	_ = json.Unmarshal(raw, &out)
	return out, string(raw)
}

func payload(t *testing.T, r response, field string) imagePayload {
	t.Helper()
	var p imagePayload
	if len(r.Errors) > 0 || r.Data[field] == nil {
		t.Fatalf("%s: errors %+v", field, r.Errors)
	}
	if err := json.Unmarshal(r.Data[field], &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func pngFile(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 3, 2))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func fetch(t *testing.T, method, url string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, body
}

func TestProductImageUploadServeReorderDelete(t *testing.T) {
	b := setupImages(t)
	staff := b.staffToken(t)
	p := mustCreateProduct(t, b.catalog)
	file := pngFile(t)

	res, _ := b.upload(t, staff, p.ID, "../../shell.php", file, ptr("Front view"))
	first := payload(t, res, "productImageUpload")
	if len(first.UserErrors) != 0 || first.Product == nil || len(first.Product.Images) != 1 {
		t.Fatalf("upload: %+v", first)
	}
	img := first.Product.Images[0]
	if img.AltText == nil || *img.AltText != "Front view" || img.Position != 0 {
		t.Errorf("image %+v", img)
	}
	if !strings.HasPrefix(img.URL, b.base+"/files/products/"+p.ID+"/") || !strings.Contains(img.URL, ".png?") {
		t.Errorf("url %s", img.URL)
	}

	// The signed URL serves the bytes with the sniffed type.
	got, body := fetch(t, http.MethodGet, img.URL)
	if got.StatusCode != http.StatusOK || !bytes.Equal(body, file) || got.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("GET image = %d %q", got.StatusCode, got.Header.Get("Content-Type"))
	}
	if got, _ := fetch(t, http.MethodPost, img.URL); got.StatusCode != http.StatusForbidden {
		t.Errorf("POST image = %d, want 403", got.StatusCode)
	}
	if got, _ := fetch(t, http.MethodGet, strings.Replace(img.URL, "signature=", "signature=x", 1)); got.StatusCode != http.StatusForbidden {
		t.Errorf("tampered GET = %d, want 403", got.StatusCode)
	}

	// The URL is the same when read again within the window.
	q := b.do(t, "", `query($id: ID!) { product(id: $id) { images { id url } } }`, map[string]any{"id": p.ID})
	var again struct{ Images []struct{ URL string } }
	if err := json.Unmarshal(q.Data["product"], &again); err != nil || len(again.Images) != 1 || again.Images[0].URL != img.URL {
		t.Errorf("product query URL changed: %s", q.Data["product"])
	}

	res, _ = b.upload(t, staff, p.ID, "second.png", pngFile(t), nil)
	second := payload(t, res, "productImageUpload")
	if len(second.Product.Images) != 2 {
		t.Fatalf("second upload: %+v", second)
	}
	otherID := second.Product.Images[1].ID

	reorder := `mutation($p: ID!, $ids: [ID!]!) { productImagesReorder(productId: $p, imageIds: $ids) {
		product { images { id position } } userErrors { field code } } }`
	r := payload(t, b.do(t, staff, reorder, map[string]any{"p": p.ID, "ids": []string{otherID, img.ID}}), "productImagesReorder")
	if len(r.UserErrors) != 0 || r.Product.Images[0].ID != otherID || r.Product.Images[1].ID != img.ID {
		t.Errorf("reorder: %+v", r)
	}
	r = payload(t, b.do(t, staff, reorder, map[string]any{"p": p.ID, "ids": []string{otherID}}), "productImagesReorder")
	if len(r.UserErrors) != 1 || strings.Join(r.UserErrors[0].Field, ".") != "imageIds" || r.UserErrors[0].Code != "INVALID" {
		t.Errorf("bad reorder: %+v", r)
	}

	del := `mutation($id: ID!) { productImageDelete(imageId: $id) { product { images { id position } } userErrors { field code } } }`
	d := payload(t, b.do(t, staff, del, map[string]any{"id": img.ID}), "productImageDelete")
	if len(d.UserErrors) != 0 || len(d.Product.Images) != 1 || d.Product.Images[0].ID != otherID || d.Product.Images[0].Position != 0 {
		t.Errorf("delete: %+v", d)
	}
	if got, _ := fetch(t, http.MethodGet, img.URL); got.StatusCode != http.StatusNotFound {
		t.Errorf("GET deleted image = %d, want 404", got.StatusCode)
	}
	d = payload(t, b.do(t, staff, del, map[string]any{"id": img.ID}), "productImageDelete")
	if len(d.UserErrors) != 1 || d.UserErrors[0].Code != "NOT_FOUND" || strings.Join(d.UserErrors[0].Field, ".") != "imageId" {
		t.Errorf("second delete: %+v", d)
	}
}

func TestProductImageMutationsAreStaffOnly(t *testing.T) {
	b := setupImages(t)
	p := mustCreateProduct(t, b.catalog)
	customer, _ := b.tokens.Start(context.Background(), nil, auth.Principal{ID: uuid.NewString(), Role: auth.Customer})
	for _, token := range []string{customer, ""} {
		res, _ := b.upload(t, token, p.ID, "x.png", pngFile(t), nil)
		want := "FORBIDDEN"
		if token == "" {
			want = "UNAUTHENTICATED"
		}
		if code(res) != want {
			t.Errorf("upload (signed in: %v): code %q, want %s", token != "", code(res), want)
		}
		del := b.do(t, token, `mutation { productImageDelete(imageId: "`+uuid.NewString()+`") { userErrors { code } } }`, nil)
		reorder := b.do(t, token, `mutation($p: ID!) { productImagesReorder(productId: $p, imageIds: []) { userErrors { code } } }`, map[string]any{"p": p.ID})
		if code(del) != want || code(reorder) != want {
			t.Errorf("delete %q, reorder %q, want %s", code(del), code(reorder), want)
		}
	}
	imgs, err := b.catalog.ImagesByProductIDs(context.Background(), []string{p.ID})
	if err != nil || len(imgs[p.ID]) != 0 {
		t.Errorf("images after refused uploads: %v %v", imgs, err)
	}
}

func TestProductImageUploadRefusals(t *testing.T) {
	b := setupImages(t)
	staff := b.staffToken(t)
	p := mustCreateProduct(t, b.catalog)
	marker := "FILE-BYTES-MUST-NOT-ECHO-"

	cases := map[string][]byte{
		"oversized":        append(pngFile(t), []byte(strings.Repeat(marker, maxImageUpload/len(marker)+10))...),
		"php renamed .png": []byte("<?php echo '" + marker + "'; system($_GET['c']); ?>"),
		"empty":            nil,
		"svg":              []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>` + marker + `</script></svg>`),
	}
	for name, file := range cases {
		res, raw := b.upload(t, staff, p.ID, "x.png", file, nil)
		up := payload(t, res, "productImageUpload")
		if len(up.UserErrors) != 1 || strings.Join(up.UserErrors[0].Field, ".") != "file" || up.UserErrors[0].Code != "INVALID" || up.Product != nil {
			t.Errorf("%s: %+v", name, up)
		}
		if name == "oversized" && up.UserErrors[0].Message != "file is larger than 65536 bytes" {
			t.Errorf("oversized message %q", up.UserErrors[0].Message)
		}
		if strings.Contains(raw, marker) || strings.Contains(raw, "<?php") {
			t.Errorf("%s: the response echoes the file: %s", name, raw)
		}
	}
	imgs, _ := b.catalog.ImagesByProductIDs(context.Background(), []string{p.ID})
	if len(imgs[p.ID]) != 0 {
		t.Errorf("%d images stored for refused uploads", len(imgs[p.ID]))
	}

	// Transport-level failures: far past the transport's own limit, and
	// operations that are not JSON. Neither echoes the body.
	tooBig := bytes.Repeat([]byte(marker), (maxImageUpload+2<<20)/len(marker))
	if _, raw := b.upload(t, staff, p.ID, "x.png", tooBig, nil); strings.Contains(raw, marker) || !strings.Contains(raw, "error") {
		t.Errorf("huge body: %.300s", raw)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("operations", `{"query": "`+marker)
	_ = mw.WriteField("map", `{"0": ["variables.f"]}`)
	fw, _ := mw.CreateFormFile("0", "x.png")
	_, _ = fw.Write([]byte(marker))
	_ = mw.Close()
	if _, raw := b.post(t, staff, mw.FormDataContentType(), body.Bytes()); strings.Contains(raw, marker) || !strings.Contains(raw, "error") {
		t.Errorf("bad operations: %.300s", raw)
	}
}

func mustCreateProduct(t *testing.T, c *catalog.Service) *catalog.Product {
	t.Helper()
	p, err := c.Create(context.Background(), catalog.CreateInput{SKU: ptr("IMG-" + uuid.NewString()[:8]), Name: "Mug " + uuid.NewString()[:8], Price: ptr("9.00")})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
