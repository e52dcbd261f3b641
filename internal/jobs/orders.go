package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"commerce/internal/orders"
	"commerce/internal/payments"
	"commerce/internal/payments/paymentdummy"
)

// call is a worker that hands a job's arguments to one service method.
type call[T river.JobArgs] struct {
	river.WorkerDefaults[T]
	fn      func(ctx context.Context, args T) error
	timeout time.Duration
}

// Work calls the service method.
func (w *call[T]) Work(ctx context.Context, job *river.Job[T]) error { return w.fn(ctx, job.Args) }

// Timeout bounds one attempt.
func (w *call[T]) Timeout(*river.Job[T]) time.Duration { return w.timeout }

// orderWorkers are the workers of the order workflow.
func orderWorkers(svc *orders.Service, events payments.EventHandler, timeout time.Duration) []func(*river.Workers) error {
	return []func(*river.Workers) error{
		add(timeout, func(ctx context.Context, a orders.PaymentIntentArgs) error {
			return svc.CreatePaymentIntent(ctx, a.OrderID)
		}),
		add(timeout, func(ctx context.Context, a orders.PaymentTimeoutArgs) error {
			recheck, err := svc.PaymentTimeout(ctx, a.OrderID)
			if err == nil && recheck > 0 {
				return river.JobSnooze(recheck)
			}
			return err
		}),
		func(ws *river.Workers) error {
			return river.AddWorkerSafely(ws, &refundWorker{svc: svc, timeout: timeout})
		},
		add(timeout, func(ctx context.Context, a orders.FulfillmentReminderArgs) error {
			return svc.SendFulfillmentReminder(ctx, a.OrderID)
		}),
		add(timeout, func(ctx context.Context, a orders.ReviewRequestArgs) error {
			return svc.SendReviewRequest(ctx, a.OrderID)
		}),
		add(timeout, func(ctx context.Context, a orders.DeliveryConfirmationArgs) error {
			return svc.SendDeliveryConfirmation(ctx, a.OrderID)
		}),
		// The dummy provider's confirmation takes the path a verified webhook takes.
		add(timeout, func(ctx context.Context, a paymentdummy.DummyConfirmArgs) error {
			return events.HandlePaymentEvent(ctx, paymentdummy.ConfirmEvent(a))
		}),
	}
}

// refundWorker runs the refund job; when its last attempt fails, the
// refund is marked FAILED so that its amount is refundable again rather
// than held by a refund that will never happen.
type refundWorker struct {
	river.WorkerDefaults[orders.RefundArgs]
	svc     *orders.Service
	timeout time.Duration
}

// Work calls the provider through the service.
func (w *refundWorker) Work(ctx context.Context, job *river.Job[orders.RefundArgs]) error {
	err := w.svc.Refund(ctx, job.Args)
	if err != nil && job.Attempt >= job.MaxAttempts {
		return w.svc.RefundGaveUp(ctx, job.Args, err)
	}
	return err
}

// Timeout bounds one attempt.
func (w *refundWorker) Timeout(*river.Job[orders.RefundArgs]) time.Duration { return w.timeout }

// add returns a registration of a worker that calls fn, each attempt
// bounded by timeout.
func add[T river.JobArgs](timeout time.Duration, fn func(ctx context.Context, args T) error) func(*river.Workers) error {
	return func(ws *river.Workers) error { return river.AddWorkerSafely(ws, &call[T]{fn: fn, timeout: timeout}) }
}
