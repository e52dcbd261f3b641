package jobs

import (
	"context"

	"github.com/riverqueue/river"

	"commerce/internal/orders"
	"commerce/internal/payments"
	"commerce/internal/payments/paymentdummy"
)

// call is a worker that hands a job's arguments to one service method.
type call[T river.JobArgs] struct {
	river.WorkerDefaults[T]
	fn func(ctx context.Context, args T) error
}

// Work calls the service method.
func (w *call[T]) Work(ctx context.Context, job *river.Job[T]) error { return w.fn(ctx, job.Args) }

// orderWorkers are the workers of the order workflow.
func orderWorkers(svc *orders.Service, events payments.EventHandler) []func(*river.Workers) error {
	return []func(*river.Workers) error{
		add(func(ctx context.Context, a orders.PaymentIntentArgs) error {
			return svc.CreatePaymentIntent(ctx, a.OrderID)
		}),
		add(func(ctx context.Context, a orders.PaymentTimeoutArgs) error {
			recheck, err := svc.PaymentTimeout(ctx, a.OrderID)
			if err == nil && recheck > 0 {
				return river.JobSnooze(recheck)
			}
			return err
		}),
		add(svc.Refund),
		add(func(ctx context.Context, a orders.FulfillmentReminderArgs) error {
			return svc.SendFulfillmentReminder(ctx, a.OrderID)
		}),
		add(func(ctx context.Context, a orders.ReviewRequestArgs) error {
			return svc.SendReviewRequest(ctx, a.OrderID)
		}),
		add(func(ctx context.Context, a orders.DeliveryConfirmationArgs) error {
			return svc.SendDeliveryConfirmation(ctx, a.OrderID)
		}),
		// The dummy provider's confirmation takes the path a verified webhook takes.
		add(func(ctx context.Context, a paymentdummy.DummyConfirmArgs) error {
			return events.HandlePaymentEvent(ctx, paymentdummy.ConfirmEvent(a))
		}),
	}
}

// add returns a registration of a worker that calls fn.
func add[T river.JobArgs](fn func(ctx context.Context, args T) error) func(*river.Workers) error {
	return func(ws *river.Workers) error { return river.AddWorkerSafely(ws, &call[T]{fn: fn}) }
}
