package payments_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"commerce/internal/money"
	"commerce/internal/payments"
	"commerce/internal/platform/stripetest"
)

const secret = "whsec_test_secret"

// recorder is an EventHandler that records the events it is given and
// returns err.
type recorder struct {
	mu     sync.Mutex
	events []payments.Event
	err    error
}

func (r *recorder) HandlePaymentEvent(_ context.Context, e payments.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return r.err
}

type testBundle struct {
	handler *recorder
	log     *bytes.Buffer
}

func setup(t *testing.T) (http.Handler, *testBundle) {
	t.Helper()
	b := &testBundle{handler: &recorder{}, log: &bytes.Buffer{}}
	log := slog.New(slog.NewTextHandler(b.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return payments.NewWebhookHandler(secret, b.handler, log), b
}

func post(h http.Handler, body []byte, header string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if header != "" {
		req.Header.Set("Stripe-Signature", header)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func eventID(t *testing.T, body []byte) string {
	t.Helper()
	var e struct{ ID string }
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	return e.ID
}

func TestWebhook(t *testing.T) {
	succeeded := stripetest.PaymentIntentObject("pi_1", "order-1", "ORD-1", 2599, "EUR")
	partial := stripetest.PaymentIntentObject("pi_2", "order-2", "ORD-2", 2599, "usd")
	partial["amount_received"] = 1000
	unreceived := stripetest.PaymentIntentObject("pi_3", "order-3", "ORD-3", 1500, "jpy")
	unreceived["amount_received"] = 0
	failed := stripetest.PaymentFailedObject("pi_4", "order-4", "ORD-4", 2599, "eur", "Your card was declined.")
	refunded := stripetest.ChargeRefundedObject("ch_1", "pi_1", "order-1", "ORD-1", 2599, 500, "eur")
	refundedExpanded := stripetest.ChargeRefundedObject("ch_2", "", "order-5", "ORD-5", 2599, 2599, "eur")
	refundedExpanded["payment_intent"] = map[string]any{"id": "pi_5", "object": "payment_intent"}
	refundFailed := map[string]any{"id": "re_1", "object": "refund", "amount": 500, "currency": "eur",
		"payment_intent": "pi_1", "status": "failed", "metadata": map[string]any{}}

	tests := []struct {
		name   string
		typ    string
		object map[string]any
		want   payments.Event // ID, Type and Created are filled from the body
	}{
		{"succeeded", "payment_intent.succeeded", succeeded,
			payments.Event{IntentID: "pi_1", OrderID: "order-1", OrderNumber: "ORD-1", Amount: money.New(2599, "EUR")}},
		{"succeeded uses amount_received", "payment_intent.succeeded", partial,
			payments.Event{IntentID: "pi_2", OrderID: "order-2", OrderNumber: "ORD-2", Amount: money.New(1000, "USD")}},
		{"succeeded without amount_received uses amount", "payment_intent.succeeded", unreceived,
			payments.Event{IntentID: "pi_3", OrderID: "order-3", OrderNumber: "ORD-3", Amount: money.New(1500, "JPY")}},
		{"payment failed", "payment_intent.payment_failed", failed,
			payments.Event{IntentID: "pi_4", OrderID: "order-4", OrderNumber: "ORD-4", Amount: money.New(2599, "EUR"),
				FailureMessage: "Your card was declined."}},
		{"charge refunded", "charge.refunded", refunded,
			payments.Event{IntentID: "pi_1", OrderID: "order-1", OrderNumber: "ORD-1", Amount: money.New(500, "EUR")}},
		{"charge refunded, intent expanded", "charge.refunded", refundedExpanded,
			payments.Event{IntentID: "pi_5", OrderID: "order-5", OrderNumber: "ORD-5", Amount: money.New(2599, "EUR")}},
		{"refund updated", "refund.updated", refundFailed,
			payments.Event{IntentID: "pi_1", Amount: money.New(500, "EUR"), RefundID: "re_1", RefundStatus: "failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, b := setup(t)
			body, header := stripetest.SignedEvent(t, secret, tt.typ, tt.object)
			w := post(h, body, header)
			if w.Code != http.StatusOK || w.Body.String() != `{"received":true}` {
				t.Fatalf("answer = %d %q, want 200 {\"received\":true}", w.Code, w.Body.String())
			}
			if len(b.handler.events) != 1 {
				t.Fatalf("handler called %d times, want 1", len(b.handler.events))
			}
			got := b.handler.events[0]
			want := tt.want
			want.ID, want.Type = eventID(t, body), payments.EventType(tt.typ)
			if got.Created.IsZero() || time.Since(got.Created) > time.Minute {
				t.Errorf("created = %v, want about now", got.Created)
			}
			want.Created = got.Created
			if got != want {
				t.Errorf("event = %+v\nwant    %+v", got, want)
			}
		})
	}
}

func TestWebhookRejects(t *testing.T) {
	obj := stripetest.PaymentIntentObject("pi_1", "order-1", "ORD-1", 2599, "eur")
	good, goodHeader := stripetest.SignedEvent(t, secret, "payment_intent.succeeded", obj)
	stale, staleHeader := stripetest.SignedEventAt(t, secret, "payment_intent.succeeded", obj, time.Now().Add(-6*time.Minute))
	other, otherHeader := stripetest.SignedEvent(t, "whsec_other", "payment_intent.succeeded", obj)
	tampered := bytes.Replace(good, []byte(`"amount":2599`), []byte(`"amount":1`), 1)
	if bytes.Equal(tampered, good) {
		t.Fatal("tampering did not change the body")
	}
	huge := append(bytes.Repeat([]byte(" "), payments.MaxWebhookBody), good...)
	hugeSigned := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: huge, Secret: secret})

	tests := []struct {
		name   string
		body   []byte
		header string
		want   int
	}{
		{"missing signature", good, "", http.StatusBadRequest},
		{"garbage signature", good, "nonsense", http.StatusBadRequest},
		{"tampered body", tampered, goodHeader, http.StatusBadRequest},
		{"stale timestamp", stale, staleHeader, http.StatusBadRequest},
		{"wrong secret", other, otherHeader, http.StatusBadRequest},
		{"oversized body", hugeSigned.Payload, hugeSigned.Header, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, b := setup(t)
			w := post(h, tt.body, tt.header)
			if w.Code != tt.want {
				t.Errorf("status = %d, want %d", w.Code, tt.want)
			}
			if len(b.handler.events) != 0 {
				t.Errorf("handler called with %+v", b.handler.events)
			}
			if strings.Contains(w.Body.String(), "pi_1") || strings.Contains(w.Body.String(), "signature had") {
				t.Errorf("answer leaks detail: %q", w.Body.String())
			}
		})
	}
}

func TestWebhookMethod(t *testing.T) {
	h, b := setup(t)
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(m, "/webhooks/stripe", nil))
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != http.MethodPost {
			t.Errorf("%s: status = %d, Allow = %q; want 405, POST", m, w.Code, w.Header().Get("Allow"))
		}
	}
	if len(b.handler.events) != 0 {
		t.Errorf("handler called")
	}
}

func TestWebhookIgnoresOtherTypes(t *testing.T) {
	for _, typ := range []string{"customer.created", "payment_intent.created", "payment_intent.canceled"} {
		t.Run(typ, func(t *testing.T) {
			h, b := setup(t)
			body, header := stripetest.SignedEvent(t, secret, typ, map[string]any{"id": "x_1", "object": "customer"})
			w := post(h, body, header)
			if w.Code != http.StatusOK {
				t.Errorf("status = %d, want 200", w.Code)
			}
			if len(b.handler.events) != 0 {
				t.Errorf("handler called with %+v", b.handler.events)
			}
		})
	}
}

func TestWebhookAcceptsOtherAPIVersion(t *testing.T) {
	h, b := setup(t)
	body := stripetest.EventBody(t, "payment_intent.succeeded", stripetest.PaymentIntentObject("pi_1", "order-1", "ORD-1", 100, "eur"))
	body = bytes.Replace(body, []byte(`"api_version":"2023-10-16"`), []byte(`"api_version":"2026-08-26.dahlia"`), 1)
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret})
	if w := post(h, sp.Payload, sp.Header); w.Code != http.StatusOK || len(b.handler.events) != 1 {
		t.Errorf("status = %d, handler calls = %d; want 200, 1", w.Code, len(b.handler.events))
	}
}

func TestWebhookHandlerError(t *testing.T) {
	h, b := setup(t)
	b.handler.err = errors.New("database is down: secret detail")
	body, header := stripetest.SignedEvent(t, secret, "payment_intent.succeeded",
		stripetest.PaymentIntentObject("pi_1", "order-1", "ORD-1", 2599, "eur"))
	w := post(h, body, header)
	if w.Code != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", w.Code)
	}
	if strings.Contains(w.Body.String(), "secret detail") {
		t.Errorf("answer leaks the error: %q", w.Body.String())
	}
	if id := eventID(t, body); !strings.Contains(b.log.String(), id) {
		t.Errorf("log does not name event %s:\n%s", id, b.log.String())
	}
}

func TestWebhookMalformedObject(t *testing.T) {
	h, b := setup(t)
	body, header := stripetest.SignedEvent(t, secret, "payment_intent.succeeded", map[string]any{"id": 42, "amount": "lots"})
	if w := post(h, body, header); w.Code != http.StatusBadRequest {
		t.Errorf("status = %d, want 400", w.Code)
	}
	if len(b.handler.events) != 0 {
		t.Errorf("handler called")
	}
}

func TestWebhookWithoutSecret(t *testing.T) {
	rec := &recorder{}
	h := payments.NewWebhookHandler("", rec, nil)
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
		Payload: stripetest.EventBody(t, "payment_intent.succeeded", stripetest.PaymentIntentObject("pi_1", "o", "n", 1, "eur")),
		Secret:  "",
	})
	if w := post(h, sp.Payload, sp.Header); w.Code != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503", w.Code)
	}
	if len(rec.events) != 0 {
		t.Errorf("handler called with an event signed by an empty secret")
	}
}

// signedWithID is a signed event of typ about object whose event id is id.
func signedWithID(t *testing.T, id, typ string, object map[string]any) (body []byte, header string) {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(stripetest.EventBody(t, typ, object), &ev); err != nil {
		t.Fatal(err)
	}
	ev["id"] = id
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret})
	return sp.Payload, sp.Header
}

// A handled event whose ids Postgres cannot store (a NUL character, invalid
// UTF-8, an event or intent id longer than any Stripe id) would fail to be
// recorded on every delivery: it is refused as malformed and never reaches
// the handler.
func TestWebhookUnstorableEvent(t *testing.T) {
	const order = "0190c2a4-7b9e-7d4a-9f51-3c2e8a6b1d07"
	long := strings.Repeat("x", 256)
	intent := func(id, orderID, number, currency string) map[string]any {
		return stripetest.PaymentIntentObject(id, orderID, number, 2599, currency)
	}
	tests := []struct {
		name, id, typ string
		object        map[string]any
	}{
		{"NUL in the event id", "evt_\x00", "payment_intent.succeeded", intent("pi_1", order, "ORD-1", "usd")},
		{"NUL at the end of the event id", "evt_1\x00", "payment_intent.payment_failed",
			stripetest.PaymentFailedObject("pi_1", order, "ORD-1", 2599, "usd", "declined")},
		{"NUL in the intent id", "evt_1", "payment_intent.succeeded", intent("pi_\x00", order, "ORD-1", "usd")},
		{"NUL in the order id", "evt_1", "payment_intent.succeeded", intent("pi_1", order+"\x00", "ORD-1", "usd")},
		{"NUL in the order number", "evt_1", "payment_intent.succeeded", intent("pi_1", order, "ORD-\x001", "usd")},
		{"NUL in the currency", "evt_1", "payment_intent.succeeded", intent("pi_1", order, "ORD-1", "\x00us")},
		{"event id longer than Stripe's", "evt_" + long, "payment_intent.succeeded", intent("pi_1", order, "ORD-1", "usd")},
		{"intent id longer than Stripe's", "evt_1", "payment_intent.succeeded", intent("pi_"+long, order, "ORD-1", "usd")},
		{"refunded charge's intent id longer than Stripe's", "evt_1", "charge.refunded",
			stripetest.ChargeRefundedObject("ch_1", "pi_"+long, order, "ORD-1", 2599, 500, "usd")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, b := setup(t)
			body, header := signedWithID(t, tt.id, tt.typ, tt.object)
			w := post(h, body, header)
			if w.Code != http.StatusBadRequest || w.Body.String() != "malformed event\n" {
				t.Errorf("answer = %d %q, want 400 \"malformed event\"", w.Code, w.Body.String())
			}
			if len(b.handler.events) != 0 {
				t.Errorf("handler called with %+q", b.handler.events)
			}
		})
	}

	// stripe-go takes an unexpanded id from the body as it is, so a raw
	// invalid UTF-8 byte reaches the event unless refused.
	t.Run("invalid UTF-8 in a refunded charge's intent", func(t *testing.T) {
		h, b := setup(t)
		body := stripetest.EventBody(t, "charge.refunded",
			stripetest.ChargeRefundedObject("ch_1", "pi_PLACEHOLDER", order, "ORD-1", 2599, 500, "usd"))
		body = bytes.Replace(body, []byte("pi_PLACEHOLDER"), []byte("pi_\xff"), 1)
		sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret})
		w := post(h, sp.Payload, sp.Header)
		if w.Code != http.StatusBadRequest || w.Body.String() != "malformed event\n" {
			t.Errorf("answer = %d %q, want 400 \"malformed event\"", w.Code, w.Body.String())
		}
		if len(b.handler.events) != 0 {
			t.Errorf("handler called with %+q", b.handler.events)
		}
	})

	t.Run("NUL in the failure message is replaced", func(t *testing.T) {
		h, b := setup(t)
		body, header := stripetest.SignedEvent(t, secret, "payment_intent.payment_failed",
			stripetest.PaymentFailedObject("pi_1", order, "ORD-1", 2599, "usd", "Your card\x00 was declined."))
		if w := post(h, body, header); w.Code != http.StatusOK || len(b.handler.events) != 1 {
			t.Fatalf("answer = %d, handler calls = %d; want 200, 1", w.Code, len(b.handler.events))
		}
		if got := b.handler.events[0].FailureMessage; got != "Your card\uFFFD was declined." {
			t.Errorf("failure message = %q, want the NUL replaced by U+FFFD", got)
		}
	})

	t.Run("an event of a type not handled is acknowledged", func(t *testing.T) {
		h, b := setup(t)
		body, header := signedWithID(t, "evt_\x00", "customer.created", map[string]any{"id": "cus_\x00", "object": "customer"})
		if w := post(h, body, header); w.Code != http.StatusOK || len(b.handler.events) != 0 {
			t.Errorf("answer = %d, handler calls = %d; want 200, 0", w.Code, len(b.handler.events))
		}
	})
}
