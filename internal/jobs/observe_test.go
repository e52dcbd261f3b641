package jobs_test

import (
	"log/slog"
	"testing"
	"time"

	"commerce/internal/jobs"
	"commerce/internal/notify"
	"commerce/internal/platform/dbtest"
)

// Observe reports each job the client finishes, by kind and outcome.
func TestObserveReportsFinishedJobs(t *testing.T) {
	b := &bundle{db: dbtest.DB(t)}
	svc := newService(t, b, notify.LogSender{Log: slog.New(slog.DiscardHandler)}, 3, nil)
	b.client = startWorkers(t, b, svc, nil) // no job runs before enqueue below
	type finished struct {
		kind, outcome string
		run           time.Duration
	}
	seen := make(chan finished, 10)
	jobs.Observe(b.client, func(kind, outcome string, run time.Duration) { seen <- finished{kind, outcome, run} })

	id := enqueue(t, svc, b)
	waitFinal(t, b, id, 10*time.Second)
	select {
	case f := <-seen:
		if f.kind != (notify.DeliverArgs{}).Kind() || f.outcome != "completed" || f.run <= 0 {
			t.Errorf("observed %+v, want a completed %s with its run time", f, notify.DeliverArgs{}.Kind())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no finished job observed")
	}
}
