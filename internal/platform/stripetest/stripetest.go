// Package stripetest starts a private stripe-mock for a test and builds
// signed webhook events, so tests exercise the real stripe-go client and the
// real webhook verification.
//
// stripe-mock is stateless: it validates each request against Stripe's
// OpenAPI spec and answers with a fixture (metadata is not reflected, reads
// of any id succeed, intents never become succeeded). Drive state changes by
// posting SignedEvent bodies to the webhook instead.
//
// The binary is $STRIPE_MOCK_BIN, else bin/tools/stripe-mock at the module
// root (`make tools` builds it), else stripe-mock on the PATH, else
// $GOPATH/bin/stripe-mock.
package stripetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"commerce/internal/platform/testtool"
)

// SecretKey is a key stripe-mock accepts (any sk_test_ key does).
const SecretKey = "sk_test_stripetest"

// startTimeout bounds how long stripe-mock may take to answer after start.
const startTimeout = 15 * time.Second

// Server is a running stripe-mock.
type Server struct {
	url string // http://127.0.0.1:PORT
}

// Start runs stripe-mock on free loopback ports for the rest of the test and
// kills it on cleanup. It fails the test when the binary is missing or
// stripe-mock does not answer. A port taken by another process between
// choosing it and binding it (parallel test packages) is retried on new
// ports.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := testtool.Binary(t, "STRIPE_MOCK_BIN", "stripe-mock")
	return testtool.Retrying(t, "stripetest: stripe-mock", func() (*Server, string, error) { return start(t, bin) })
}

// start runs stripe-mock once and waits until it answers; on failure it
// returns what stripe-mock printed.
func start(t testing.TB, bin string) (*Server, string, error) {
	ports := testtool.FreePorts(t, 2)
	httpAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
	httpsAddr := "127.0.0.1:" + strconv.Itoa(ports[1])
	s := &Server{url: "http://" + httpAddr}
	var out bytes.Buffer
	cmd := exec.Command(bin, "-http-addr", httpAddr, "-https-addr", httpsAddr)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("stripetest: start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	if err := s.waitReady(exited); err != nil {
		_ = cmd.Process.Kill() // it may still run when it did not answer in time
		<-exited
		return nil, out.String(), err
	}
	return s, "", nil
}

// URL is the http base URL to use as STRIPE_API_BASE, e.g.
// "http://127.0.0.1:41234".
func (s *Server) URL() string { return s.url }

// waitReady polls an authenticated GET until stripe-mock answers 200.
func (s *Server) waitReady(exited <-chan struct{}) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("stripe-mock exited")
		case <-time.After(50 * time.Millisecond):
		}
		if s.ping(client) == nil {
			return nil
		}
	}
	return fmt.Errorf("no answer within %s", startTimeout)
}

func (s *Server) ping(client *http.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/v1/customers", nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(SecretKey, "")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v1/customers: %s", resp.Status)
	}
	return nil
}

// SignedEvent builds a Stripe event of eventType around object, signed now
// with secret, and returns the body and the Stripe-Signature header value.
// The event carries stripe.APIVersion and a random "evt_" id.
func SignedEvent(t testing.TB, secret, eventType string, object map[string]any) (body []byte, header string) {
	t.Helper()
	return SignedEventAt(t, secret, eventType, object, time.Now())
}

// SignedEventAt is SignedEvent with the signature's timestamp set to ts,
// e.g. ten minutes ago to test the stale-timestamp check.
func SignedEventAt(t testing.TB, secret, eventType string, object map[string]any, ts time.Time) (body []byte, header string) {
	t.Helper()
	body = EventBody(t, eventType, object)
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: ts})
	return sp.Payload, sp.Header
}

// EventBody returns the unsigned JSON of an event of eventType around object.
func EventBody(t testing.TB, eventType string, object map[string]any) []byte {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"id":               "evt_" + rand.Text(),
		"object":           "event",
		"api_version":      stripe.APIVersion,
		"created":          time.Now().Unix(),
		"livemode":         false,
		"pending_webhooks": 1,
		"type":             eventType,
		"data":             map[string]any{"object": object},
	})
	if err != nil {
		t.Fatalf("stripetest: encode event: %v", err)
	}
	return body
}

// PaymentIntentObject returns a succeeded payment_intent object for an
// order: amount and amount_received set to amount (minor units), currency
// lower-cased as Stripe sends it, metadata order_id and order_number.
// Callers adjust fields (status, amount_received, last_payment_error) for
// other cases.
func PaymentIntentObject(id, orderID, orderNumber string, amount int64, currency string) map[string]any {
	return map[string]any{
		"id":              id,
		"object":          "payment_intent",
		"amount":          amount,
		"amount_received": amount,
		"currency":        strings.ToLower(currency),
		"status":          "succeeded",
		"client_secret":   id + "_secret_test",
		"metadata":        map[string]any{"order_id": orderID, "order_number": orderNumber},
		"created":         time.Now().Unix(),
		"livemode":        false,
	}
}

// PaymentFailedObject returns a payment_intent object whose last attempt
// failed with message, as sent with payment_intent.payment_failed.
func PaymentFailedObject(id, orderID, orderNumber string, amount int64, currency, message string) map[string]any {
	o := PaymentIntentObject(id, orderID, orderNumber, amount, currency)
	o["status"] = "requires_payment_method"
	o["amount_received"] = 0
	o["last_payment_error"] = map[string]any{
		"type":         "card_error",
		"code":         "card_declined",
		"decline_code": "generic_decline",
		"message":      message,
	}
	return o
}

// ChargeRefundedObject returns a refunded charge object of the intent
// intentID: amount_refunded is the total refunded so far (minor units), the
// charge's metadata carries order_id and order_number (Stripe copies the
// intent's metadata to its charges).
func ChargeRefundedObject(chargeID, intentID, orderID, orderNumber string, amount, amountRefunded int64, currency string) map[string]any {
	return map[string]any{
		"id":              chargeID,
		"object":          "charge",
		"amount":          amount,
		"amount_captured": amount,
		"amount_refunded": amountRefunded,
		"currency":        strings.ToLower(currency),
		"paid":            true,
		"captured":        true,
		"refunded":        amountRefunded >= amount,
		"status":          "succeeded",
		"payment_intent":  intentID,
		"metadata":        map[string]any{"order_id": orderID, "order_number": orderNumber},
		"created":         time.Now().Unix(),
		"livemode":        false,
	}
}
