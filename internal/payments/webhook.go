package payments

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"commerce/internal/money"
	"commerce/internal/platform/db"
)

// MaxWebhookBody is the largest webhook body accepted; Stripe's events are
// far smaller.
const MaxWebhookBody = 1 << 20

// errSkip marks a verified event of a type the workflow does not handle.
var errSkip = errors.New("event type not handled")

// NewWebhookHandler returns the endpoint Stripe posts events to
// (POST /webhooks/stripe). It verifies the Stripe-Signature header against
// secret (a timestamp older than five minutes is refused), reduces the
// events the workflow handles to an Event and passes it to h.
//
// It answers 405 to anything but POST, 413 to a body over MaxWebhookBody,
// 400 to a missing or bad signature, a stale timestamp or an event it cannot
// decode (including a handled event whose ids the database could not store:
// see checkStorable), 503 when secret is empty (an empty key would let
// anyone sign), 500 when h fails (Stripe then delivers the event again) and
// 200 {"received":true} once h has recorded the event or the event's type is
// not one the workflow handles. Clients never see the body or an error's text;
// failures are logged with the event id.
func NewWebhookHandler(secret string, h EventHandler, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &webhookHandler{secret: secret, h: h, log: log}
}

type webhookHandler struct {
	secret string
	h      EventHandler
	log    *slog.Logger
}

func (wh *webhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		plain(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if wh.secret == "" {
		wh.log.ErrorContext(r.Context(), "stripe webhook: no signing secret configured (STRIPE_WEBHOOK_SECRET)")
		plain(w, http.StatusServiceUnavailable, "webhook not configured")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			plain(w, http.StatusRequestEntityTooLarge, "body too large")
			return
		}
		plain(w, http.StatusBadRequest, "unreadable body")
		return
	}
	se, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), wh.secret,
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	if err != nil {
		wh.log.WarnContext(r.Context(), "stripe webhook: rejected", "reason", verifyReason(err))
		plain(w, http.StatusBadRequest, "invalid signature")
		return
	}
	ev, err := eventFromStripe(se)
	switch {
	case errors.Is(err, errSkip):
		wh.log.DebugContext(r.Context(), "stripe webhook: ignored", "event_id", se.ID, "type", se.Type)
		received(w)
		return
	case err != nil:
		wh.log.ErrorContext(r.Context(), "stripe webhook: undecodable event", "event_id", se.ID, "type", se.Type, "err", err)
		plain(w, http.StatusBadRequest, "malformed event")
		return
	}
	if err := wh.h.HandlePaymentEvent(r.Context(), ev); err != nil {
		if db.IsConnectionError(err) {
			// Stripe retries; /readyz logs the outage once.
			wh.log.DebugContext(r.Context(), "stripe webhook: database unavailable", "event_id", ev.ID, "err", err)
			w.Header().Set("Retry-After", strconv.Itoa(int(db.RetryAfter.Seconds())))
			plain(w, http.StatusServiceUnavailable, "service unavailable: retry later")
			return
		}
		wh.log.ErrorContext(r.Context(), "stripe webhook: handler failed", "event_id", ev.ID, "type", ev.Type,
			"order_id", ev.OrderID, "err", err)
		plain(w, http.StatusInternalServerError, "internal error")
		return
	}
	received(w)
}

// verifyReason names why verification failed, for the log.
func verifyReason(err error) string {
	switch {
	case errors.Is(err, webhook.ErrNotSigned):
		return "missing signature"
	case errors.Is(err, webhook.ErrInvalidHeader):
		return "malformed signature header"
	case errors.Is(err, webhook.ErrTooOld):
		return "timestamp outside tolerance"
	case errors.Is(err, webhook.ErrNoValidSignature):
		return "no valid signature"
	default:
		return "unparsable body"
	}
}

// eventFromStripe reduces a verified Stripe event to an Event. It returns an
// error wrapping errSkip for types the workflow does not handle (the webhook
// acknowledges those) and a decoding error when the event's object does not
// have the expected shape or its ids are not ones Stripe writes (see
// checkStorable).
func eventFromStripe(se stripe.Event) (Event, error) {
	ev := Event{ID: se.ID, Type: EventType(se.Type), Created: time.Unix(se.Created, 0).UTC()}
	if se.ID == "" {
		return Event{}, errors.New("event without id")
	}
	switch ev.Type {
	case IntentSucceededEvent, IntentFailedEvent:
		pi, err := decodeObject[stripe.PaymentIntent](se)
		if err != nil {
			return Event{}, err
		}
		ev.IntentID = pi.ID
		ev.OrderID, ev.OrderNumber = pi.Metadata["order_id"], pi.Metadata["order_number"]
		amount := pi.Amount
		if ev.Type == IntentSucceededEvent && pi.AmountReceived > 0 {
			amount = pi.AmountReceived
		}
		ev.Amount = minor(amount, pi.Currency)
		if pi.LastPaymentError != nil {
			ev.FailureMessage = pi.LastPaymentError.Msg
		}
	case ChargeRefundedEvent:
		ch, err := decodeObject[stripe.Charge](se)
		if err != nil {
			return Event{}, err
		}
		if ch.PaymentIntent != nil {
			ev.IntentID = ch.PaymentIntent.ID
		}
		ev.OrderID, ev.OrderNumber = ch.Metadata["order_id"], ch.Metadata["order_number"]
		ev.Amount = minor(ch.AmountRefunded, ch.Currency)
	case RefundUpdatedEvent:
		rf, err := decodeObject[stripe.Refund](se)
		if err != nil {
			return Event{}, err
		}
		if rf.PaymentIntent != nil {
			ev.IntentID = rf.PaymentIntent.ID
		}
		ev.OrderID, ev.OrderNumber = rf.Metadata["order_id"], rf.Metadata["order_number"]
		ev.Amount = minor(rf.Amount, rf.Currency)
		ev.RefundID, ev.RefundStatus = rf.ID, string(rf.Status)
	default:
		return Event{}, fmt.Errorf("%w: %s", errSkip, se.Type)
	}
	if err := checkStorable(&ev); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// maxIDLen is the longest event or payment intent id accepted: Stripe's
// ids are at most 255 characters.
const maxIDLen = 255

// checkStorable refuses an event the handler could never record, which
// would fail on every delivery and be delivered again and again: one whose
// ids, order reference or currency hold a NUL character or invalid UTF-8
// (Postgres text takes neither; stripe-go copies an unexpanded id such as a
// charge's payment_intent from the body without decoding it), or whose
// event or intent id is longer than maxIDLen (they are stored in indexed
// columns, which refuse long values). The failure message is free text
// shown to the shopper, so a NUL in it is replaced (as encoding/json
// already replaces invalid UTF-8) rather than losing the failure.
func checkStorable(ev *Event) error {
	fields := []struct {
		name, value string
		limit       bool
	}{
		{"id", ev.ID, true}, {"payment intent id", ev.IntentID, true},
		{"refund id", ev.RefundID, true}, {"refund status", ev.RefundStatus, true},
		{"metadata order_id", ev.OrderID, false}, {"metadata order_number", ev.OrderNumber, false},
		{"currency", ev.Amount.Currency, false},
	}
	for _, f := range fields {
		switch {
		case strings.IndexByte(f.value, 0) >= 0:
			return fmt.Errorf("%s contains a NUL character", f.name)
		case !utf8.ValidString(f.value):
			return fmt.Errorf("%s is not valid UTF-8", f.name)
		case f.limit && len(f.value) > maxIDLen:
			return fmt.Errorf("%s is longer than %d bytes", f.name, maxIDLen)
		}
	}
	ev.FailureMessage = strings.ReplaceAll(ev.FailureMessage, "\x00", "\uFFFD")
	return nil
}

func decodeObject[T any](se stripe.Event) (*T, error) {
	if se.Data == nil || len(se.Data.Raw) == 0 {
		return nil, errors.New("event without data.object")
	}
	v := new(T)
	if err := json.Unmarshal(se.Data.Raw, v); err != nil {
		return nil, fmt.Errorf("decode data.object: %w", err)
	}
	return v, nil
}

// minor builds Money from Stripe's minor units and lower-case currency.
func minor(amount int64, c stripe.Currency) money.Money {
	return money.New(amount, strings.ToUpper(string(c)))
}

func plain(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

func received(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"received":true}`)
}
