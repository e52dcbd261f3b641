package stripetest_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"commerce/internal/platform/stripetest"
)

func TestStart(t *testing.T) {
	s := stripetest.Start(t)
	req, err := http.NewRequest(http.MethodGet, s.URL()+"/v1/payment_intents/pi_x", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(stripetest.SecretKey, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status = %s", resp.Status)
	}
}

func TestSignedEvent(t *testing.T) {
	obj := stripetest.PaymentIntentObject("pi_1", "order-1", "ORD-1", 2599, "EUR")
	body, header := stripetest.SignedEvent(t, "whsec_x", "payment_intent.succeeded", obj)
	// The strict check also refuses an api_version other than stripe-go's.
	ev, err := webhook.ConstructEvent(body, header, "whsec_x")
	if err != nil {
		t.Fatalf("ConstructEvent: %v", err)
	}
	if ev.Type != "payment_intent.succeeded" || ev.Data.Object["id"] != "pi_1" || ev.ID == "" {
		t.Errorf("event = %+v", ev)
	}

	body, header = stripetest.SignedEventAt(t, "whsec_x", "payment_intent.succeeded", obj, time.Now().Add(-10*time.Minute))
	if _, err := webhook.ConstructEvent(body, header, "whsec_x"); !errors.Is(err, webhook.ErrTooOld) {
		t.Errorf("stale event: err = %v, want ErrTooOld", err)
	}
}
