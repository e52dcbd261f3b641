package webhooks

import (
	"context"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"commerce/internal/jobs/queue"
)

// sweepBatch bounds the deliveries one Sweep handles; the next run takes
// the rest.
const sweepBatch = 500

// SweepArgs is the periodic job that runs Sweep.
type SweepArgs struct{}

// Kind names the job for River.
func (SweepArgs) Kind() string { return "webhook-sweep" }

// InsertOpts puts the job on River's periodic queue.
func (SweepArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: queue.Periodic} }

// Swept is what one Sweep did.
type Swept struct {
	Requeued int // given a new job for the attempts they have left
	Failed   int // out of attempts, now FAILED
}

// Sweep is the webhook outbox's safety net, as notify.Service.Sweep is the
// email one's: it finds deliveries PENDING without a live job (River gave
// up on a job whose outcome the row never got, or the job was deleted).
// One with attempts left gets a new job for them (the receiver may get the
// event twice, never zero times); one out of attempts becomes FAILED. Left
// alone, such a delivery would also hold back every later event of its
// order to its endpoint. It handles up to 500 deliveries in one
// transaction, skipping rows another sweep holds, and returns database
// errors as they come.
func (s *Service) Sweep(ctx context.Context) (Swept, error) {
	var out Swept
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		orphans, err := lockOrphans(ctx, tx, sweepBatch)
		if err != nil {
			return fmt.Errorf("find orphans: %w", err)
		}
		var requeue []deliveryRow
		var failed []string
		for _, o := range orphans {
			if o.Attempts >= o.MaxAttempts {
				failed = append(failed, o.ID)
			} else {
				requeue = append(requeue, o)
			}
		}
		if err := markAbandoned(ctx, tx, failed, "no attempts left: the outcome of the last attempt was not recorded"); err != nil {
			return fmt.Errorf("fail orphans: %w", err)
		}
		if len(requeue) > 0 {
			if err := s.insertJobs(ctx, tx, requeue); err != nil {
				return err
			}
		}
		out = Swept{Requeued: len(requeue), Failed: len(failed)}
		return nil
	})
	if err != nil {
		return Swept{}, fmt.Errorf("sweep webhook deliveries: %w", err)
	}
	if out.Requeued+out.Failed > 0 {
		s.log.WarnContext(ctx, "webhook deliveries without a job", "requeued", out.Requeued, "failed", out.Failed)
	}
	return out, nil
}
