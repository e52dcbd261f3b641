package paymentstripe_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"commerce/internal/apperr"
	"commerce/internal/money"
	"commerce/internal/payments"
	"commerce/internal/payments/paymentstripe"
	"commerce/internal/platform/stripetest"
)

// request is one request as stripe-mock received it.
type request struct {
	Method, Path   string
	IdempotencyKey string
	Form           url.Values
}

type testBundle struct {
	mock *stripetest.Server
	mu   sync.Mutex
	reqs []request
}

func (b *testBundle) last(t *testing.T) request {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.reqs) == 0 {
		t.Fatal("no request reached stripe-mock")
	}
	return b.reqs[len(b.reqs)-1]
}

// setup returns a Provider that talks to a private stripe-mock through a
// proxy recording every request.
func setup(t *testing.T) (*paymentstripe.Provider, *testBundle) {
	t.Helper()
	b := &testBundle{mock: stripetest.Start(t)}
	target, err := url.Parse(b.mock.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		b.mu.Lock()
		b.reqs = append(b.reqs, request{Method: r.Method, Path: r.URL.Path,
			IdempotencyKey: r.Header.Get("Idempotency-Key"), Form: form})
		b.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p := paymentstripe.New(paymentstripe.Config{SecretKey: stripetest.SecretKey, APIBase: srv.URL, Timeout: 10 * time.Second})
	return p, b
}

func wantForm(t *testing.T, got url.Values, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if g := got.Get(k); g != v {
			t.Errorf("form %s = %q, want %q", k, g, v)
		}
	}
}

func TestProviderAgainstStripeMock(t *testing.T) {
	p, b := setup(t)
	ctx := context.Background()

	t.Run("EnsureCustomer", func(t *testing.T) {
		phone := "+15550100"
		id, err := p.EnsureCustomer(ctx, payments.CustomerRequest{CustomerID: "c-1", Email: "a@example.com", Name: "Ann", Phone: &phone})
		if err != nil {
			t.Fatalf("EnsureCustomer: %v", err)
		}
		if id == "" {
			t.Error("empty customer id")
		}
		r := b.last(t)
		if r.Method != http.MethodPost || r.Path != "/v1/customers" || r.IdempotencyKey != "customer-c-1" {
			t.Errorf("request = %s %s key %q", r.Method, r.Path, r.IdempotencyKey)
		}
		wantForm(t, r.Form, map[string]string{"email": "a@example.com", "name": "Ann", "phone": phone, "metadata[customer_id]": "c-1"})
	})

	t.Run("CreateIntent", func(t *testing.T) {
		cus := "cus_123"
		in, err := p.CreateIntent(ctx, payments.IntentRequest{
			OrderID: "o-1", OrderNumber: "ORD-ABC", Amount: money.New(2599, "EUR"), Email: "a@example.com", CustomerRef: &cus,
		})
		if err != nil {
			t.Fatalf("CreateIntent: %v", err)
		}
		if in.ID == "" || in.ClientSecret == "" || in.Status == "" {
			t.Errorf("intent = %+v", in)
		}
		if in.Amount != money.New(2599, "EUR") {
			t.Errorf("amount = %+v, want 2599 EUR", in.Amount)
		}
		r := b.last(t)
		if r.Path != "/v1/payment_intents" || r.IdempotencyKey != "pi-o-1" {
			t.Errorf("request = %s %s key %q", r.Method, r.Path, r.IdempotencyKey)
		}
		wantForm(t, r.Form, map[string]string{
			"amount": "2599", "currency": "eur", "customer": cus, "receipt_email": "a@example.com",
			"metadata[order_id]": "o-1", "metadata[order_number]": "ORD-ABC", "automatic_payment_methods[enabled]": "true",
		})
	})

	t.Run("GetIntent", func(t *testing.T) {
		in, err := p.GetIntent(ctx, "pi_abc")
		if err != nil {
			t.Fatalf("GetIntent: %v", err)
		}
		if in.ID != "pi_abc" || in.Status == "" {
			t.Errorf("intent = %+v", in)
		}
		if r := b.last(t); r.Method != http.MethodGet || r.Path != "/v1/payment_intents/pi_abc" {
			t.Errorf("request = %s %s", r.Method, r.Path)
		}
	})

	t.Run("CancelIntent", func(t *testing.T) {
		if err := p.CancelIntent(ctx, "pi_abc"); err != nil {
			t.Fatalf("CancelIntent: %v", err)
		}
		r := b.last(t)
		if r.Path != "/v1/payment_intents/pi_abc/cancel" {
			t.Errorf("path = %s", r.Path)
		}
		wantForm(t, r.Form, map[string]string{"cancellation_reason": "abandoned"})
	})

	t.Run("Refund", func(t *testing.T) {
		amt := money.New(500, "EUR")
		rf, err := p.Refund(ctx, "pi_abc", &amt, "refund-o-1-1")
		if err != nil {
			t.Fatalf("Refund: %v", err)
		}
		if rf.ID == "" {
			t.Errorf("refund = %+v", rf)
		}
		r := b.last(t)
		if r.Path != "/v1/refunds" || r.IdempotencyKey != "refund-o-1-1" {
			t.Errorf("request = %s key %q", r.Path, r.IdempotencyKey)
		}
		wantForm(t, r.Form, map[string]string{"payment_intent": "pi_abc", "amount": "500"})
	})

	t.Run("RefundEverything", func(t *testing.T) {
		if _, err := p.Refund(ctx, "pi_abc", nil, "refund-o-1-2"); err != nil {
			t.Fatalf("Refund: %v", err)
		}
		if r := b.last(t); r.Form.Has("amount") {
			t.Errorf("amount sent for a full refund: %v", r.Form)
		}
	})
}

func TestBadKey(t *testing.T) {
	mock := stripetest.Start(t)
	p := paymentstripe.New(paymentstripe.Config{SecretKey: "not_a_key", APIBase: mock.URL()})
	_, err := p.CreateIntent(context.Background(), payments.IntentRequest{OrderID: "o-1", Amount: money.New(100, "USD")})
	if err == nil {
		t.Fatal("CreateIntent with a bad key succeeded")
	}
	if k := apperr.KindOf(err); k != apperr.Internal {
		t.Errorf("kind = %v, want INTERNAL (a bad key is not the shopper's fault)", k)
	}
}

// stripeError answers every request with status and a Stripe error body,
// telling stripe-go not to retry.
func stripeError(t *testing.T, status int, body string) *paymentstripe.Provider {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Stripe-Should-Retry", "false")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return paymentstripe.New(paymentstripe.Config{SecretKey: stripetest.SecretKey, APIBase: srv.URL})
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		wantKind apperr.Kind
		wantMsg  string
	}{
		{"card declined", 402, `{"error":{"type":"card_error","code":"card_declined","message":"Your card was declined."}}`,
			apperr.PaymentFailed, "Your card was declined."},
		{"invalid request", 400, `{"error":{"type":"invalid_request_error","code":"amount_too_small","message":"Amount must be at least 50 cents"}}`,
			apperr.PaymentFailed, "the payment provider refused the request"},
		{"server error", 500, `{"error":{"type":"api_error","message":"boom"}}`, apperr.Internal, ""},
		{"unauthorized", 401, `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}}`, apperr.Internal, ""},
		{"rate limited", 429, `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}`, apperr.Internal, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := stripeError(t, tt.status, tt.body)
			_, err := p.CreateIntent(context.Background(), payments.IntentRequest{OrderID: "o-1", Amount: money.New(10, "USD")})
			if err == nil {
				t.Fatal("no error")
			}
			if k := apperr.KindOf(err); k != tt.wantKind {
				t.Fatalf("kind = %v, want %v (err %v)", k, tt.wantKind, err)
			}
			var ae *apperr.Error
			if tt.wantMsg != "" && (!errors.As(err, &ae) || ae.Message != tt.wantMsg) {
				t.Errorf("message = %q, want %q", ae.Message, tt.wantMsg)
			}
			// A refund is mapped alike: a refusal (PaymentFailed) fails the
			// refund at once, anything else is retried by its job.
			amt := money.New(10, "USD")
			if _, err := p.Refund(context.Background(), "pi_1", &amt, "refund-r-1"); apperr.KindOf(err) != tt.wantKind {
				t.Errorf("Refund: kind = %v, want %v (err %v)", apperr.KindOf(err), tt.wantKind, err)
			}
		})
	}
}

func TestNetworkErrorIsPlain(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // nothing listens any more
	p := paymentstripe.New(paymentstripe.Config{SecretKey: stripetest.SecretKey, APIBase: base, Timeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := p.GetIntent(ctx, "pi_1")
	if err == nil {
		t.Fatal("no error")
	}
	if k := apperr.KindOf(err); k != apperr.Internal {
		t.Errorf("kind = %v, want INTERNAL", k)
	}
}

func TestCancelAlreadyCanceled(t *testing.T) {
	p := stripeError(t, 400, `{"error":{"type":"invalid_request_error","code":"payment_intent_unexpected_state",
		"message":"This PaymentIntent's status is canceled","payment_intent":{"id":"pi_1","object":"payment_intent","status":"canceled"}}}`)
	if err := p.CancelIntent(context.Background(), "pi_1"); err != nil {
		t.Errorf("CancelIntent of a canceled intent = %v, want nil", err)
	}

	p = stripeError(t, 400, `{"error":{"type":"invalid_request_error","code":"payment_intent_unexpected_state",
		"message":"This PaymentIntent's status is succeeded","payment_intent":{"id":"pi_1","object":"payment_intent","status":"succeeded"}}}`)
	if err := p.CancelIntent(context.Background(), "pi_1"); apperr.KindOf(err) != apperr.PaymentFailed {
		t.Errorf("CancelIntent of a succeeded intent = %v, want PAYMENT_FAILED", err)
	}
}
