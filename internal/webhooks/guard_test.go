package webhooks_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"commerce/internal/apperr"
	"commerce/internal/webhooks"
)

// Without WEBHOOK_ALLOW_PRIVATE an endpoint must be https, and an IP
// literal of a loopback, private, link-local or metadata address is
// refused at creation, at ["input","url"]; names are judged when sending.
func TestCreateRefusesUnsafeURLs(t *testing.T) {
	svc, _ := setup(t, webhooks.Config{})
	cases := []struct {
		url string
		ok  bool
	}{
		{"https://127.0.0.1/hook", false},
		{"https://[::1]/hook", false},
		{"https://169.254.169.254/latest/meta-data", false},
		{"https://10.1.2.3/hook", false},
		{"https://192.168.0.10/hook", false},
		{"https://172.16.0.1/hook", false},
		{"https://[fe80::1]/hook", false},
		{"https://[::ffff:127.0.0.1]/hook", false},
		{"https://0.0.0.0/hook", false},
		{"https://100.64.0.1/hook", false},
		{"https://localhost/hook", false},
		{"http://example.com/hook", false},
		{"https://user:pass@example.com/hook", false},
		{"ftp://example.com/hook", false},
		{"/relative", false},
		{"", false},
		{"https://example.com/hook", true},
		{"https://93.184.215.14/hook", true},
		{"https://hooks.example.com:8443/x?y=1", true},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			_, _, err := svc.Create(context.Background(), webhooks.EndpointInput{
				URL: tc.url, Topics: []webhooks.Topic{webhooks.OrderCreated}, IsActive: true,
			})
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			ues, ok := apperr.UserErrors(err)
			if !ok || len(ues) != 1 || strings.Join(ues[0].Field, ".") != "input.url" || ues[0].Kind != apperr.Invalid {
				t.Fatalf("err = %v, want one INVALID userError at input.url", err)
			}
		})
	}
	t.Run("no topics", func(t *testing.T) {
		_, _, err := svc.Create(context.Background(), webhooks.EndpointInput{URL: "https://example.com", Topics: []webhooks.Topic{webhooks.Ping}})
		if ues, ok := apperr.UserErrors(err); !ok || strings.Join(ues[0].Field, ".") != "input.topics" {
			t.Fatalf("err = %v, want a userError at input.topics", err)
		}
	})
}

// The sender refuses, at connection time, addresses the guard blocks, also
// when a name resolves to one: "localhost" reaches the receiver on
// 127.0.0.1 only with WEBHOOK_ALLOW_PRIVATE. The refusal is the
// delivery's lastError and no request arrives.
func TestSenderGuardsResolvedAddresses(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))

	guarded, _ := setup(t, webhooks.Config{})
	open, ob := setup(t, webhooks.Config{AllowPrivate: true})
	targets := []string{
		"http://localhost:" + port + "/hook", // a name resolving to 127.0.0.1 (and ::1)
		"http://169.254.169.254:" + port + "/latest",
		"http://10.0.0.1:" + port + "/hook",
		"http://[::1]:" + port + "/hook",
	}
	for _, target := range targets {
		t.Run(target, func(t *testing.T) {
			// Created through the open service (the URL checks at creation are
			// tested above), sent by the guarded one.
			ep, _ := endpoint(t, open, target, webhooks.ReturnUpdated)
			ob.announce(t, open, webhooks.ReturnUpdated, "", map[string]any{})
			d := deliveries(t, guarded, ep.ID)[0]
			_, err := guarded.Deliver(context.Background(), d.ID)
			if err == nil {
				t.Fatalf("delivered to %s", target)
			}
			got := deliveries(t, guarded, ep.ID)[0]
			if got.LastError == nil || !strings.Contains(*got.LastError, "loopback, private, link-local or metadata") {
				t.Errorf("lastError = %v, want the guard's refusal", got.LastError)
			}
			_ = open.Delete(context.Background(), ep.ID)
		})
	}
	if hits != 0 {
		t.Errorf("the receiver got %d requests through the guard", hits)
	}

	// The same name with the flag reaches the receiver.
	ep, _ := endpoint(t, open, "http://localhost:"+port+"/hook", webhooks.ReturnUpdated)
	ob.announce(t, open, webhooks.ReturnUpdated, "", map[string]any{})
	if _, err := open.Deliver(context.Background(), deliveries(t, open, ep.ID)[0].ID); err != nil || hits != 1 {
		t.Errorf("with WEBHOOK_ALLOW_PRIVATE: err %v, hits %d", err, hits)
	}
}

// The sender follows no redirect: a 3xx is a failed attempt.
func TestSenderFollowsNoRedirect(t *testing.T) {
	followed := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed = true
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	svc, b := setup(t, webhooks.Config{AllowPrivate: true})
	ep, _ := endpoint(t, svc, srv.URL+"/hook", webhooks.ReturnRequested)
	b.announce(t, svc, webhooks.ReturnRequested, "", map[string]any{})
	if _, err := svc.Deliver(context.Background(), deliveries(t, svc, ep.ID)[0].ID); err == nil || followed {
		t.Errorf("redirect: err %v, followed %v; want a failed attempt, not followed", err, followed)
	}
}

// An attempt is bounded whatever the receiver does: one that never answers
// fails after WEBHOOK_TIMEOUT, and one that streams an endless refusal is
// read no further than the sender's cap, well before its timeout, its
// lastError kept short.
func TestSenderBoundsEveryAttempt(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(release) }) // runs first: the handler returns, Close does not wait
	endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		chunk := []byte(strings.Repeat("x", 32<<10))
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(endless.Close)

	for _, tc := range []struct {
		name, url string
		timeout   time.Duration // WEBHOOK_TIMEOUT
		within    time.Duration // how long the attempt may take
		lastError string
	}{
		{"a receiver that never answers", hung.URL, 300 * time.Millisecond, 1300 * time.Millisecond, "Timeout"},
		// Read to its end, the answer would last the whole timeout.
		{"a receiver that streams an endless refusal", endless.URL, 5 * time.Second, time.Second, "receiver answered 500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, b := setup(t, webhooks.Config{AllowPrivate: true, Timeout: tc.timeout})
			ep, _ := endpoint(t, svc, tc.url, webhooks.ReturnRequested)
			b.announce(t, svc, webhooks.ReturnRequested, "", map[string]any{})
			start := time.Now()
			_, err := svc.Deliver(context.Background(), deliveries(t, svc, ep.ID)[0].ID)
			if took := time.Since(start); took > tc.within {
				t.Errorf("the attempt took %s, want at most %s", took, tc.within)
			}
			if err == nil {
				t.Fatal("the attempt succeeded")
			}
			got := deliveries(t, svc, ep.ID)[0]
			if got.LastError == nil || !strings.Contains(*got.LastError, tc.lastError) || len(*got.LastError) > 300 {
				t.Errorf("lastError = %v, want a short one containing %q", got.LastError, tc.lastError)
			}
			_ = svc.Delete(context.Background(), ep.ID)
		})
	}
}
