// Package jobs is the River side of the service: the clients and the thin
// workers that decode a job's arguments and call one service method.
//
// Two clients share the River tables. The insert-only client (NewInserter)
// exists before any worker, so domain services receive it as their job
// inserter; the worker client (NewClient) is built last, from workers that
// hold those services. That breaks the construction cycle services ↔
// workers.
package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivertype"

	"commerce/internal/auth"
	"commerce/internal/carts"
	"commerce/internal/inventory"
	"commerce/internal/jobs/queue"
	"commerce/internal/notify"
	"commerce/internal/orders"
	"commerce/internal/platform/db"
	"commerce/internal/webhooks"
)

// Deps are the services the workers call and the timeout of every job.
// Only Notify is required; the workers of a nil service are not
// registered.
type Deps struct {
	Notify    *notify.Service
	Orders    *orders.Service
	Carts     *carts.Service
	Inventory *inventory.Service
	Webhooks  *webhooks.Service
	Sessions  *auth.Sessions // sweeps ended sessions and used links
	// JobTimeout bounds one attempt of every kind (JOB_TIMEOUT): River
	// cancels the job's context then. Give NewClient the same value, which
	// sets River's rescue window above it.
	JobTimeout time.Duration
}

// Register adds a worker for every job kind to workers. It returns an
// error when a kind is registered twice or JobTimeout is not positive.
func Register(workers *river.Workers, deps Deps) error {
	if deps.JobTimeout <= 0 {
		return fmt.Errorf("register workers: job timeout must be positive, got %s", deps.JobTimeout)
	}
	timeout := deps.JobTimeout
	regs := []func(*river.Workers) error{
		func(ws *river.Workers) error {
			return river.AddWorkerSafely(ws, NewNotifyWorker(deps.Notify, timeout))
		},
		add(timeout, func(ctx context.Context, _ notify.SweepArgs) error {
			_, err := deps.Notify.Sweep(ctx)
			return err
		}),
	}
	if deps.Orders != nil {
		regs = append(regs, orderWorkers(deps.Orders, deps.Orders, timeout)...)
	}
	if deps.Carts != nil {
		regs = append(regs, add(timeout, deps.Carts.SendAbandonedCartReminder))
	}
	if deps.Inventory != nil {
		regs = append(regs, add(timeout, func(ctx context.Context, a inventory.DailyReportArgs) error {
			return deps.Inventory.SendDailyReport(ctx, a.Date)
		}))
	}
	if deps.Webhooks != nil {
		regs = append(regs, func(ws *river.Workers) error {
			return river.AddWorkerSafely(ws, NewWebhookWorker(deps.Webhooks, timeout))
		}, add(timeout, func(ctx context.Context, _ webhooks.SweepArgs) error {
			_, err := deps.Webhooks.Sweep(ctx)
			return err
		}))
	}
	if deps.Sessions != nil {
		regs = append(regs, add(timeout, func(ctx context.Context, _ auth.SweepArgs) error {
			_, err := deps.Sessions.Sweep(ctx)
			return err
		}))
	}
	for _, reg := range regs {
		if err := reg(workers); err != nil {
			return fmt.Errorf("register workers: %w", err)
		}
	}
	return nil
}

// The workers of each queue in one process (see package queue). A job
// holds its worker for at most JobTimeout, so a slow dependency can take
// at most its queue's workers, and only for that long.
const (
	// workflowWorkers work the order workflow: short database
	// transactions and the odd call to Stripe.
	workflowWorkers = 10
	// notifyWorkers deliver notifications; each may wait on a provider for
	// up to its send timeout.
	notifyWorkers = 10
	// periodicWorkers run the leader's scheduled jobs, a few a day or a
	// minute.
	periodicWorkers = 2
	// webhookWorkers deliver outbound webhooks; each may wait on a
	// receiver for up to WEBHOOK_TIMEOUT.
	webhookWorkers = 10
	// defaultWorkers drain River's default queue, where jobs lived before
	// queues by concern: the ones running during the upgrade (rescued
	// there) and those a replica of the previous version inserts during a
	// rolling upgrade.
	defaultWorkers = 2
)

// RescueAfter is River's rescue window for jobTimeout (RescueStuckJobsAfter):
// a job still "running" this long after its attempt started belonged to a
// process that died, and River runs it again. A live attempt lasts at most
// jobTimeout plus the bookkeeping write that outlives it (a third of
// jobTimeout, see notify.Config.RecordTimeout); twice jobTimeout leaves
// room for that and for clock skew between replicas. After a crash, a job
// runs again within this window plus River's rescuer interval (30 s) and,
// when the crashed process led, the leader's lease (15 s).
func RescueAfter(jobTimeout time.Duration) time.Duration { return 2 * jobTimeout }

// NewClient returns the River client that works jobs: each queue with its
// own workers, jobTimeout as the default timeout and RescueAfter(jobTimeout)
// as the rescue window, and periodic jobs enqueued by the elected leader.
// It runs on d's database/sql handle and listens for new jobs on a
// connection taken from d.ListenerPool(); middleware (tracing) wraps each job's
// work. Call Start to begin working. It returns River's configuration
// errors.
func NewClient(d *db.DB, workers *river.Workers, periodic []*river.PeriodicJob, jobTimeout time.Duration, log *slog.Logger,
	middleware ...rivertype.Middleware) (*river.Client[*sql.Tx], error) {
	c, err := river.NewClient(riverdatabasesql.NewWithPgxListener(d.SQL, d.ListenerPool()), &river.Config{
		Queues: map[string]river.QueueConfig{
			queue.Workflow:     {MaxWorkers: workflowWorkers},
			queue.Notify:       {MaxWorkers: notifyWorkers},
			queue.Periodic:     {MaxWorkers: periodicWorkers},
			queue.Webhooks:     {MaxWorkers: webhookWorkers},
			river.QueueDefault: {MaxWorkers: defaultWorkers},
		},
		JobTimeout:           jobTimeout,
		RescueStuckJobsAfter: RescueAfter(jobTimeout),
		Workers:              workers,
		PeriodicJobs:         periodic,
		Logger:               log,
		Middleware:           middleware,
	})
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return c, nil
}

// NewInserter returns an insert-only River client (no queues, no workers)
// for the services to enqueue jobs inside their transactions. Its inserts
// notify listening worker clients, which pick the job up at once. It
// returns River's configuration errors. Middleware (tracing) wraps each
// insert.
func NewInserter(d *db.DB, middleware ...rivertype.Middleware) (*river.Client[*sql.Tx], error) {
	c, err := river.NewClient(riverdatabasesql.New(d.SQL), &river.Config{Middleware: middleware})
	if err != nil {
		return nil, fmt.Errorf("river inserter: %w", err)
	}
	return c, nil
}
