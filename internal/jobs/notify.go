package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"commerce/internal/notify"
)

// NotifyWorker delivers one notification per job.
type NotifyWorker struct {
	river.WorkerDefaults[notify.DeliverArgs]
	svc     *notify.Service
	timeout time.Duration
}

// NewNotifyWorker returns a worker that delivers through svc, each attempt
// (rendering, the send and the bookkeeping) bounded by timeout. The
// senders' own timeouts stay below it, so that a hung provider fails the
// attempt with its own error.
func NewNotifyWorker(svc *notify.Service, timeout time.Duration) *NotifyWorker {
	return &NotifyWorker{svc: svc, timeout: timeout}
}

// Work delivers the notification. A final failure cancels the job, so River
// does not retry what the service has already marked FAILED; any other
// error is retried.
func (w *NotifyWorker) Work(ctx context.Context, job *river.Job[notify.DeliverArgs]) error {
	err := w.svc.Deliver(ctx, job.Args.NotificationID)
	var final *notify.FinalError
	if errors.As(err, &final) {
		return river.JobCancel(err)
	}
	return err
}

// NextRetry schedules the next attempt after the service's RetryDelay.
func (w *NotifyWorker) NextRetry(job *river.Job[notify.DeliverArgs]) time.Time {
	return time.Now().Add(w.svc.RetryDelay(job.Attempt))
}

// Timeout bounds one attempt.
func (w *NotifyWorker) Timeout(*river.Job[notify.DeliverArgs]) time.Duration {
	return w.timeout
}
