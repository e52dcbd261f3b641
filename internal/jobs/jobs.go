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

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"commerce/internal/carts"
	"commerce/internal/inventory"
	"commerce/internal/notify"
	"commerce/internal/orders"
	"commerce/internal/platform/db"
)

// Deps are the services the workers call. Only Notify is required; the
// workers of a nil service are not registered.
type Deps struct {
	Notify    *notify.Service
	Orders    *orders.Service
	Carts     *carts.Service
	Inventory *inventory.Service
}

// Register adds a worker for every job kind to workers. It returns an
// error when a kind is registered twice.
func Register(workers *river.Workers, deps Deps) error {
	regs := []func(*river.Workers) error{
		func(ws *river.Workers) error { return river.AddWorkerSafely(ws, NewNotifyWorker(deps.Notify)) },
	}
	if deps.Orders != nil {
		regs = append(regs, orderWorkers(deps.Orders, deps.Orders)...)
	}
	if deps.Carts != nil {
		regs = append(regs, add(deps.Carts.SendAbandonedCartReminder))
	}
	if deps.Inventory != nil {
		regs = append(regs, add(func(ctx context.Context, a inventory.DailyReportArgs) error {
			return deps.Inventory.SendDailyReport(ctx, a.Date)
		}))
	}
	for _, reg := range regs {
		if err := reg(workers); err != nil {
			return fmt.Errorf("register workers: %w", err)
		}
	}
	return nil
}

// NewClient returns the River client that works jobs: the default queue with
// maxWorkers workers, and periodic jobs enqueued by the elected leader. It
// runs on d's database/sql handle and listens for new jobs on a connection
// taken from d's pool. Call Start to begin working. It returns River's
// configuration errors.
func NewClient(d *db.DB, workers *river.Workers, periodic []*river.PeriodicJob, maxWorkers int, log *slog.Logger) (*river.Client[*sql.Tx], error) {
	c, err := river.NewClient(riverdatabasesql.NewWithPgxListener(d.SQL, d.Pool), &river.Config{
		Queues:       map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: maxWorkers}},
		Workers:      workers,
		PeriodicJobs: periodic,
		Logger:       log,
	})
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return c, nil
}

// NewInserter returns an insert-only River client (no queues, no workers)
// for the services to enqueue jobs inside their transactions. Its inserts
// notify listening worker clients, which pick the job up at once. It
// returns River's configuration errors.
func NewInserter(d *db.DB) (*river.Client[*sql.Tx], error) {
	c, err := river.NewClient(riverdatabasesql.New(d.SQL), &river.Config{})
	if err != nil {
		return nil, fmt.Errorf("river inserter: %w", err)
	}
	return c, nil
}
