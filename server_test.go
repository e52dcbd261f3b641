package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"commerce/internal/platform/dbtest"
	"commerce/internal/platform/testtool"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }

// TestServeEndToEnd runs the program as `make run` does: seed, then serve;
// the demo catalog answers over HTTP, health endpoints answer, and SIGTERM
// (context cancel) shuts it down cleanly. It has a database of its own:
// the seed fills only an empty catalog.
func TestServeEndToEnd(t *testing.T) {
	addr := testtool.FreeAddr(t)
	env := map[string]string{
		"APP_ENV":        "development",
		"DATABASE_URL":   dbtest.FreshURL(t),
		"HTTP_ADDR":      addr,
		"ADMIN_EMAIL":    "admin@example.com",
		"ADMIN_PASSWORD": "admin-password",
		"REDIS_URL":      dbtest.RedisURL(),
		"SHUTDOWN_DRAIN": "0s",
	}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	if err := run(ctx, []string{"seed"}, getenv, io.Discard); err != nil {
		t.Fatalf("seed: %v", err)
	}

	serveCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(serveCtx, []string{"serve"}, getenv, io.Discard) }()
	base := "http://" + addr
	waitHealthy(t, base, done)

	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/playground"} {
		res, err := http.Get(base + path)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %v %v", path, err, res)
		}
		res.Body.Close()
	}

	body, _ := json.Marshal(map[string]string{"query": `{ products(first: 5) { edges { node { name price { amount currencyCode } } } } }`})
	res, err := http.Post(base+"/graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Data struct {
			Products struct {
				Edges []struct{ Node struct{ Name string } }
			}
		}
	}
	_ = json.NewDecoder(res.Body).Decode(&out)
	res.Body.Close()
	if len(out.Data.Products.Edges) != 5 {
		t.Fatalf("want 5 demo products, got %+v", out)
	}

	login, _ := json.Marshal(map[string]string{"query": `mutation { staffLogin(email: "admin@example.com", password: "admin-password") { token } }`})
	res, err = http.Post(base+"/graphql", "application/json", bytes.NewReader(login))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(b), `"token":"ey`) {
		t.Fatalf("the ADMIN_EMAIL account cannot sign in: %s", b)
	}
	var signedIn struct {
		Data struct{ StaffLogin struct{ Token string } }
	}
	_ = json.Unmarshal(b, &signedIn)
	zones, _ := json.Marshal(map[string]string{"query": `{ shippingZones { name methods { name } } }`})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(zones))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+signedIn.Data.StaffLogin.Token)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var seeded struct {
		Data struct {
			ShippingZones []struct{ Methods []struct{ Name string } }
		}
	}
	_ = json.NewDecoder(res.Body).Decode(&seeded)
	res.Body.Close()
	if z := seeded.Data.ShippingZones; len(z) != 2 || len(z[0].Methods)+len(z[1].Methods) != 3 {
		t.Errorf("the seed made shipping zones %+v, want two zones with three methods", z)
	}

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after shutdown", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not shut down within 30s")
	}
}

func waitHealthy(t *testing.T, base string, done chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v", err)
		default:
		}
		if res, err := http.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("server did not become healthy")
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	env := map[string]string{"DATABASE_MAX_CONNS": "lots", "TAX_RATE": "ten percent", "AUTH_SECRET": "too-short-secret"}
	err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, io.Discard)
	if err == nil {
		t.Fatal("serve started without DATABASE_URL")
	}
	for _, name := range []string{"DATABASE_URL", "AUTH_SECRET", "DATABASE_MAX_CONNS", "TAX_RATE"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	if strings.Contains(fmt.Sprint(err), "too-short-secret") {
		t.Errorf("error echoes the secret: %v", err)
	}
}

// Redis down does not make a replica unready: every replica shares it and
// serves without it, so /readyz stays 200 and reports Redis in its body.
func TestReadyzReportsRedisWithoutFailing(t *testing.T) {
	addr := testtool.FreeAddr(t)
	env := map[string]string{
		"APP_ENV": "development", "DATABASE_URL": dbtest.URL(t), "HTTP_ADDR": addr, "SHUTDOWN_DRAIN": "0s",
		"REDIS_URL": "redis://" + testtool.FreeAddr(t) + "/0", // nothing listens there
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--no-migrate"}, func(k string) string { return env[k] }, io.Discard)
	}()
	base := "http://" + addr
	waitHealthy(t, base, done)
	res, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "redis: down") {
		t.Fatalf("/readyz with Redis down: %d %q, want 200 reporting redis: down", res.StatusCode, body)
	}
	stop()
	<-done
}
