package webhooks

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"commerce/internal/platform/db"
)

// ErrFinal marks the error of an attempt after which the delivery will
// not be tried again (FAILED, or gone): its job should stop.
var ErrFinal = errors.New("webhook delivery is final")

// maxLastError bounds the error text kept on a delivery.
const maxLastError = 1000

// Deliver makes one attempt at delivery id. A delivery that must wait for
// an earlier one of its endpoint and order returns wait > 0 and makes no
// attempt. Otherwise it counts the attempt on the row first (so every POST
// is counted even when its outcome is lost), signs the stored body with the
// time of this attempt and the endpoint's current secrets, POSTs it, and
// records the outcome: a 2xx makes it SUCCEEDED; anything else keeps the
// status and error and, once the row's attempts reach its budget, makes it
// FAILED (counted against the endpoint, which WEBHOOK_DISABLE_AFTER
// failures in a row deactivate). A delivery to an inactive endpoint ends
// FAILED without a POST. A delivery already final returns nil; a final
// outcome returns an error wrapping ErrFinal; any other error means "retry
// later" (see RetryDelay).
func (s *Service) Deliver(ctx context.Context, id string) (wait time.Duration, err error) {
	if uuid.Validate(id) != nil {
		return 0, fmt.Errorf("%w: delivery %q not found", ErrFinal, id)
	}
	r, err := loadDelivery(ctx, s.db.Bun, id)
	switch {
	case db.IsNoRows(err):
		return 0, fmt.Errorf("%w: delivery %s not found (its endpoint was deleted)", ErrFinal, id)
	case err != nil:
		return 0, fmt.Errorf("deliver webhook %s: load: %w", id, err)
	case r.Status != Pending:
		return 0, nil
	}
	earlier, err := earlierPending(ctx, s.db.Bun, r)
	if err != nil {
		return 0, fmt.Errorf("deliver webhook %s: check order: %w", id, err)
	}
	if earlier {
		return s.OrderingDelay(), nil
	}
	d, e, err := claimAttempt(ctx, s.db.Bun, id)
	if db.IsNoRows(err) {
		return 0, s.unclaimable(ctx, r)
	}
	if err != nil {
		return 0, fmt.Errorf("deliver webhook %s: count attempt: %w", id, err)
	}
	if !e.IsActive {
		return 0, s.record(ctx, d, response{}, fmt.Errorf("%w: the endpoint is inactive", ErrFinal))
	}
	now := s.now()
	res, sendErr := s.send.send(ctx, request{
		URL: e.URL, EventID: d.EventID, Topic: Topic(d.Topic), Body: []byte(d.Body),
		Signature: Signature(now, []byte(d.Body), signingSecrets(e.Keys, now)...),
	})
	return 0, s.record(ctx, d, res, sendErr)
}

// unclaimable ends a PENDING delivery whose attempts are all counted: the
// outcome of its last attempt was lost. A delivery that became final
// meanwhile (another run of its job) is left alone.
func (s *Service) unclaimable(ctx context.Context, r deliveryRow) error {
	r, err := loadDelivery(ctx, s.db.Bun, r.ID)
	if db.IsNoRows(err) || (err == nil && r.Status != Pending) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deliver webhook %s: load: %w", r.ID, err)
	}
	cause := fmt.Errorf("%w: no attempts left: the outcome of attempt %d was not recorded", ErrFinal, r.Attempts)
	return s.record(ctx, r, response{}, cause)
}

// record writes the outcome of an attempt on d. It uses a context of its
// own so that an attempt cut short by the job's timeout still records its
// error.
func (s *Service) record(ctx context.Context, d deliveryRow, res response, sendErr error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RecordTimeout)
	defer cancel()
	var status *int
	if res.Status != 0 {
		status = &res.Status
	}
	final := sendErr == nil || errors.Is(sendErr, ErrFinal) || d.Attempts >= d.MaxAttempts
	outcome, lastError := Pending, (*string)(nil)
	switch {
	case sendErr == nil:
		outcome = Succeeded
	case final:
		outcome = Failed
	}
	if sendErr != nil {
		msg := truncate(sendErr.Error(), maxLastError)
		lastError = &msg
	}
	if err := recordOutcome(ctx, s.db.Bun, d.ID, outcome, status, lastError); err != nil {
		return fmt.Errorf("deliver webhook %s: record: %w (send: %w)", d.ID, err, sendErr)
	}
	if s.cfg.Observe != nil {
		s.cfg.Observe(map[Status]string{Succeeded: "succeeded", Failed: "failed", Pending: "retrying"}[outcome])
	}
	if final && Topic(d.Topic) != Ping {
		off, err := countOutcome(ctx, s.db.Bun, d.EndpointID, outcome == Failed, s.cfg.DisableAfter)
		if err != nil {
			return fmt.Errorf("deliver webhook %s: count outcome: %w", d.ID, err)
		}
		if off {
			s.log.WarnContext(ctx, "webhook endpoint deactivated after repeated failures",
				"endpoint_id", d.EndpointID, "failures", s.cfg.DisableAfter)
		}
	}
	switch {
	case sendErr == nil:
		return nil
	case !final:
		return fmt.Errorf("deliver webhook %s (attempt %d of %d): %w", d.ID, d.Attempts, d.MaxAttempts, sendErr)
	case errors.Is(sendErr, ErrFinal):
		return sendErr
	}
	s.log.WarnContext(ctx, "webhook delivery failed", "delivery_id", d.ID, "endpoint_id", d.EndpointID,
		"topic", d.Topic, "attempts", d.Attempts, "error", sendErr)
	return fmt.Errorf("%w: %w", ErrFinal, sendErr)
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
