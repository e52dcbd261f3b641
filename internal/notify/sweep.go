package notify

import (
	"context"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"commerce/internal/jobs/queue"
)

// sweepBatch bounds the rows one Sweep handles; the next run takes the
// rest.
const sweepBatch = 500

// SweepArgs is the periodic job that runs Sweep.
type SweepArgs struct{}

// Kind names the job for River.
func (SweepArgs) Kind() string { return "notify-sweep" }

// InsertOpts puts the job on River's periodic queue.
func (SweepArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: queue.Periodic} }

// Swept is what one Sweep did.
type Swept struct {
	Requeued int // given a new delivery job for the attempts they have left
	Failed   int // out of attempts, now FAILED
}

// Sweep is the outbox's safety net. It finds notifications PENDING without
// a live delivery job, which River leaves behind when it gives up on a job
// whose outcome the row never got: the database failed while the attempt
// was recorded, or the process died during River's last attempt. A row
// with attempts left gets a new job for them (the email may go out twice,
// never zero times); a row out of attempts becomes FAILED. Both are
// counted in notify_outbox_swept_total. It handles up to 500 rows, in one
// transaction, skipping rows another sweep holds, and returns database
// errors as they come.
func (s *Service) Sweep(ctx context.Context) (Swept, error) {
	var out Swept
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		orphans, err := lockOrphans(ctx, tx, sweepBatch)
		if err != nil {
			return fmt.Errorf("find orphans: %w", err)
		}
		var requeue []river.InsertManyParams
		var failed []string
		for _, o := range orphans {
			if o.Attempts >= o.MaxAttempts {
				failed = append(failed, o.ID)
				continue
			}
			requeue = append(requeue, river.InsertManyParams{Args: DeliverArgs{NotificationID: o.ID},
				InsertOpts: &river.InsertOpts{MaxAttempts: o.MaxAttempts - o.Attempts}})
		}
		if err := markAbandoned(ctx, tx, failed, "no attempts left: the outcome of the last attempt was not recorded"); err != nil {
			return fmt.Errorf("fail orphans: %w", err)
		}
		if len(requeue) > 0 {
			if _, err := s.jobs.InsertManyTx(ctx, tx.Tx, requeue); err != nil {
				return fmt.Errorf("requeue orphans: %w", err)
			}
		}
		out = Swept{Requeued: len(requeue), Failed: len(failed)}
		return nil
	})
	if err != nil {
		return Swept{}, fmt.Errorf("sweep notifications: %w", err)
	}
	s.swept.WithLabelValues("requeued").Add(float64(out.Requeued))
	s.swept.WithLabelValues("failed").Add(float64(out.Failed))
	if out.Requeued+out.Failed > 0 {
		s.log.WarnContext(ctx, "notifications without a delivery job", "requeued", out.Requeued, "failed", out.Failed)
	}
	return out, nil
}
