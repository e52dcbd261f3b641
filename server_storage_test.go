package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"commerce/internal/platform/dbtest"
	"commerce/internal/platform/testtool"
)

func TestBadStorageURLFailsStart(t *testing.T) {
	env := map[string]string{
		"APP_ENV": "development", "DATABASE_URL": dbtest.URL(t), "HTTP_ADDR": testtool.FreeAddr(t),
		"STORAGE_URL": "file://example.com/uploads",
	}
	err := run(context.Background(), []string{"serve", "--no-migrate"}, func(k string) string { return env[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "STORAGE_URL") {
		t.Fatalf("serve with a bad STORAGE_URL: %v", err)
	}
}

// TestServeImageFiles uploads an image through /graphql and fetches it
// through its signed /files/ URL from the running program.
func TestServeImageFiles(t *testing.T) {
	addr := testtool.FreeAddr(t)
	base := "http://" + addr
	env := map[string]string{
		"APP_ENV": "development", "DATABASE_URL": dbtest.URL(t), "HTTP_ADDR": addr,
		"ADMIN_EMAIL": "admin@example.com", "ADMIN_PASSWORD": "admin-password",
		"STORAGE_URL":     "file://" + filepath.ToSlash(t.TempDir()) + "/uploads",
		"PUBLIC_BASE_URL": base,
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, io.Discard) }()
	waitHealthy(t, base, done)

	gql := func(token, contentType string, body []byte) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		if out["errors"] != nil {
			t.Fatalf("errors: %v", out["errors"])
		}
		return out["data"].(map[string]any)
	}
	query := func(token, q string) map[string]any {
		b, _ := json.Marshal(map[string]string{"query": q})
		return gql(token, "application/json", b)
	}
	token := query("", `mutation { staffLogin(email: "admin@example.com", password: "admin-password") { token } }`)["staffLogin"].(map[string]any)["token"].(string)
	created := query(token, `mutation { productCreate(input: {sku: "IMG-WIRE-1", name: "Wired Mug", price: "5.00"}) { product { id } } }`)
	productID := created["productCreate"].(map[string]any)["product"].(map[string]any)["id"].(string)

	var file bytes.Buffer
	_ = png.Encode(&file, image.NewGray(image.Rect(0, 0, 2, 2)))
	ops, _ := json.Marshal(map[string]any{
		"query":     `mutation($p: ID!, $f: Upload!) { productImageUpload(productId: $p, file: $f) { product { images { url } } userErrors { message } } }`,
		"variables": map[string]any{"p": productID, "f": nil},
	})
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("operations", string(ops))
	_ = mw.WriteField("map", `{"0": ["variables.f"]}`)
	fw, _ := mw.CreateFormFile("0", "mug.png")
	_, _ = fw.Write(file.Bytes())
	_ = mw.Close()
	up := gql(token, mw.FormDataContentType(), body.Bytes())["productImageUpload"].(map[string]any)
	images := up["product"].(map[string]any)["images"].([]any)
	url := images[0].(map[string]any)["url"].(string)
	if !strings.HasPrefix(url, base+"/files/") {
		t.Fatalf("url %s", url)
	}

	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !bytes.Equal(got, file.Bytes()) || res.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("GET %s = %d %q", url, res.StatusCode, res.Header.Get("Content-Type"))
	}
	res, err = http.Post(url, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("POST %s = %d, want 403", url, res.StatusCode)
	}
	stop()
	<-done
}
