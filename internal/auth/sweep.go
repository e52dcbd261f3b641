package auth

import (
	"context"
	"fmt"

	"github.com/riverqueue/river"

	"commerce/internal/jobs/queue"
)

// SweepArgs is the periodic job that runs Sessions.Sweep.
type SweepArgs struct{}

// Kind names the job for River.
func (SweepArgs) Kind() string { return "auth-sweep" }

// InsertOpts puts the job on River's periodic queue.
func (SweepArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: queue.Periodic} }

// sweepBatch bounds the rows of each table one Sweep deletes; the next run
// takes the rest.
const sweepBatch = 5000

// Sweep deletes sessions that ended (expired or revoked) and emailed links
// that expired or were used, over a day ago: every sign-in and every link
// adds a row, and once over they only make the tables grow. The day keeps
// them readable for a support question about a recent sign-out. It returns
// how many rows it deleted, and database errors as they come.
func (s *Sessions) Sweep(ctx context.Context) (int, error) {
	total := 0
	for _, q := range []string{
		`DELETE FROM sessions WHERE id IN (SELECT id FROM sessions
			WHERE coalesce(revoked_at, expires_at) < now() - interval '1 day' LIMIT ?)`,
		`DELETE FROM auth_links WHERE id IN (SELECT id FROM auth_links
			WHERE coalesce(used_at, expires_at) < now() - interval '1 day' LIMIT ?)`,
	} {
		res, err := s.db.NewRaw(q, sweepBatch).Exec(ctx)
		if err != nil {
			return total, fmt.Errorf("sweep sessions and links: %w", err)
		}
		n, _ := res.RowsAffected()
		total += int(n)
	}
	return total, nil
}
