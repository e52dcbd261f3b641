package payments_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"commerce/internal/payments"
	"commerce/internal/platform/stripetest"
)

// webhookAnswers are every body the webhook may send, by status: fixed
// texts, so that no part of a request or of an error reaches the caller.
var webhookAnswers = map[int][]string{
	http.StatusOK:                    {`{"received":true}`},
	http.StatusBadRequest:            {"invalid signature\n", "malformed event\n", "unreadable body\n"},
	http.StatusRequestEntityTooLarge: {"body too large\n"},
}

// handledTypes are the event types the webhook passes to its EventHandler.
var handledTypes = []payments.EventType{
	payments.IntentSucceededEvent, payments.IntentFailedEvent, payments.ChargeRefundedEvent, payments.RefundUpdatedEvent,
}

// FuzzWebhook posts arbitrary bodies to the Stripe webhook, either with the
// fuzzer's Stripe-Signature header or, when sign is set, signed now with
// the endpoint's secret, so that decoding past the signature check is
// fuzzed too. The EventHandler never fails, so by NewWebhookHandler's
// contract no answer is a 5xx: 200 once an event is handled or ignored,
// 400 for a bad signature or an undecodable event, 413 for a body over
// MaxWebhookBody. A body that does not carry a valid signature never
// reaches the EventHandler, a handled event reaches it exactly once, and
// only with text Postgres can store (see storable).
func FuzzWebhook(f *testing.F) {
	intent := stripetest.PaymentIntentObject("pi_1", "0190c2a4-7b9e-7d4a-9f51-3c2e8a6b1d07", "ORD-7K3M9QW2XT", 2599, "usd")
	succeeded, header := stripetest.SignedEvent(f, secret, "payment_intent.succeeded", intent)
	f.Add(succeeded, "", true)
	f.Add(succeeded, header, false)
	f.Add(succeeded, "t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd", false)
	f.Add(stripetest.EventBody(f, "payment_intent.payment_failed",
		stripetest.PaymentFailedObject("pi_2", "order-2", "ORD-2", 1500, "eur", "Your card was declined.")), "", true)
	f.Add(stripetest.EventBody(f, "charge.refunded",
		stripetest.ChargeRefundedObject("ch_1", "pi_1", "order-1", "ORD-1", 2599, 500, "usd")), "", true)
	f.Add(stripetest.EventBody(f, "customer.created", map[string]any{"id": "cus_1", "object": "customer"}), "", true)
	f.Add([]byte(`{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":42,"amount":"lots"}}}`), "", true)
	f.Add([]byte(`{"id":"evt_1","type":"payment_intent.succeeded"`), "", true)
	f.Add([]byte{}, "", false)

	f.Fuzz(func(t *testing.T, body []byte, header string, sign bool) {
		if sign {
			header = webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret}).Header
		}
		h, b := setup(t)
		w := post(h, body, header)
		status, answer := w.Code, w.Body.String()
		events := b.handler.events
		fail := func(why string) {
			t.Helper()
			t.Fatalf("%s\nrequest: sign=%v Stripe-Signature=%q body=%q\nanswer: %d %q, %d events\nlog:\n%s",
				why, sign, header, body, status, answer, len(events), b.log.String())
		}

		if !slices.Contains(webhookAnswers[status], answer) {
			fail("an answer the webhook does not document")
		}
		if len(body) > payments.MaxWebhookBody {
			if status != http.StatusRequestEntityTooLarge {
				fail("an oversized body not refused with 413")
			}
			return
		}
		if webhook.ValidatePayload(body, header, secret) != nil {
			if status != http.StatusBadRequest || answer != "invalid signature\n" || len(events) > 0 {
				fail("a body without a valid signature was not refused as such")
			}
			return
		}
		// Signed: the body must decode as an event (else 400); an event
		// without an id, or of a handled type whose object does not decode,
		// is malformed (400); any other event is acknowledged (200), and
		// reaches the handler when its type is one the workflow handles.
		var se stripe.Event
		if json.Unmarshal(body, &se) != nil {
			if status != http.StatusBadRequest || len(events) > 0 {
				fail("a signed body that is not a Stripe event was not refused")
			}
			return
		}
		handled := slices.Contains(handledTypes, payments.EventType(se.Type))
		switch {
		case status == http.StatusBadRequest:
			if answer != "malformed event\n" || len(events) > 0 || (se.ID != "" && !handled) {
				fail("a signed event refused, but it is not malformed")
			}
		case status != http.StatusOK || se.ID == "":
			fail("a signed event answered other than 200 or 400 malformed")
		case !handled:
			if len(events) > 0 {
				fail("an event of a type the workflow ignores reached the handler")
			}
		case len(events) != 1 || events[0].ID != se.ID || string(events[0].Type) != string(se.Type):
			fail("a handled event did not reach the handler exactly once, as posted")
		case !storable(events[0]):
			fail("an event reached the handler with text Postgres cannot store")
		}
	})
}

// storable reports whether every string of e is text Postgres stores (valid
// UTF-8 without NUL) and its event and intent ids are no longer than a
// Stripe id (255), so that the handler can record it rather than fail on
// every delivery.
func storable(e payments.Event) bool {
	for _, v := range []string{e.ID, string(e.Type), e.IntentID, e.OrderID, e.OrderNumber, e.Amount.Currency, e.FailureMessage,
		e.RefundID, e.RefundStatus} {
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			return false
		}
	}
	return len(e.ID) <= 255 && len(e.IntentID) <= 255 && len(e.RefundID) <= 255 && len(e.RefundStatus) <= 255
}
