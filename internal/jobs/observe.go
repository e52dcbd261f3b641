package jobs

import (
	"database/sql"
	"time"

	"github.com/riverqueue/river"
)

// Observe calls record for every job the worker client c finishes working:
// the job's kind, its state afterwards ("completed", "retryable",
// "discarded", "cancelled", "snoozed") and how long its worker ran. It
// reads River's event subscription in a goroutine of its own that ends
// when c stops; River drops events a slow reader leaves behind, so record
// must be quick (counting in the metrics is). Call it before c.Start.
func Observe(c *river.Client[*sql.Tx], record func(kind, outcome string, run time.Duration)) {
	events, _ := c.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed,
		river.EventKindJobCancelled, river.EventKindJobSnoozed)
	go func() {
		for ev := range events {
			if ev.Job == nil {
				continue
			}
			var run time.Duration
			if ev.JobStats != nil {
				run = ev.JobStats.RunDuration
			}
			record(ev.Job.Kind, string(ev.Job.State), run)
		}
	}()
}
