package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"commerce/internal/webhooks"
)

// WebhookWorker makes the attempts of one webhook delivery per job.
type WebhookWorker struct {
	river.WorkerDefaults[webhooks.DeliverArgs]
	svc     *webhooks.Service
	timeout time.Duration
}

// NewWebhookWorker returns a worker that delivers through svc, each attempt
// bounded by timeout (JOB_TIMEOUT; WEBHOOK_TIMEOUT, the POST's own bound,
// is shorter).
func NewWebhookWorker(svc *webhooks.Service, timeout time.Duration) *WebhookWorker {
	return &WebhookWorker{svc: svc, timeout: timeout}
}

// Work makes one attempt. A delivery waiting for an earlier one of its
// order snoozes (which costs no attempt); a final outcome cancels the job,
// so River does not retry what the service has marked FAILED; any other
// error is retried.
func (w *WebhookWorker) Work(ctx context.Context, job *river.Job[webhooks.DeliverArgs]) error {
	wait, err := w.svc.Deliver(ctx, job.Args.DeliveryID)
	switch {
	case wait > 0:
		return river.JobSnooze(wait)
	case errors.Is(err, webhooks.ErrFinal):
		return river.JobCancel(err)
	}
	return err
}

// NextRetry schedules the next attempt after the service's RetryDelay.
func (w *WebhookWorker) NextRetry(job *river.Job[webhooks.DeliverArgs]) time.Time {
	return time.Now().Add(w.svc.RetryDelay(job.Attempt))
}

// Timeout bounds one attempt.
func (w *WebhookWorker) Timeout(*river.Job[webhooks.DeliverArgs]) time.Duration { return w.timeout }
