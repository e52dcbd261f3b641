package jobs

import (
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/robfig/cron/v3"

	"commerce/internal/auth"
	"commerce/internal/inventory"
	"commerce/internal/notify"
	"commerce/internal/webhooks"
)

// CronSchedule parses a standard five-field cron expression (or a
// descriptor such as @daily) evaluated in loc, unless the expression names
// its own zone with a "CRON_TZ=Area/City " or "TZ=Area/City " prefix. It
// returns the parser's error for a malformed expression.
func CronSchedule(expr string, loc *time.Location) (river.PeriodicSchedule, error) {
	expr = strings.TrimSpace(expr)
	if !strings.HasPrefix(expr, "CRON_TZ=") && !strings.HasPrefix(expr, "TZ=") {
		// Without a prefix cron evaluates in time.Local, the host's zone.
		expr = "CRON_TZ=" + loc.String() + " " + expr
	}
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("cron %q: %w", expr, err)
	}
	return s, nil
}

// DailyReport is the periodic job of the daily inventory report, on the
// cron expression expr (DAILY_REPORT_CRON) in loc (STORE_TIMEZONE), with
// River's opts (nil for the defaults; tests set RunOnStart). Only River's
// elected leader enqueues periodic jobs, and each job carries the
// store-local date it reports on and is unique by it, so any number of
// replicas send one report a day. It returns an error for a malformed
// expression.
func DailyReport(expr string, loc *time.Location, opts *river.PeriodicJobOpts) (*river.PeriodicJob, error) {
	sched, err := CronSchedule(expr, loc)
	if err != nil {
		return nil, fmt.Errorf("daily inventory report: %w", err)
	}
	return river.NewPeriodicJob(sched, func() (river.JobArgs, *river.InsertOpts) {
		date := time.Now().In(loc).Format(time.DateOnly)
		return inventory.DailyReportArgs{Date: date}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
	}, opts), nil
}

// NotifySweep is the periodic job of the outbox sweeper
// (notify.Service.Sweep), every interval (NOTIFY_SWEEP_INTERVAL), with
// River's opts (nil for the defaults; tests set RunOnStart). Only River's
// elected leader enqueues it; a run is one attempt, skipped while the
// previous one still waits or runs, since the next run does the same work.
func NotifySweep(interval time.Duration, opts *river.PeriodicJobOpts) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(interval), func() (river.JobArgs, *river.InsertOpts) {
		return notify.SweepArgs{}, &river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled,
		}}}
	}, opts)
}

// WebhookSweep is the periodic job of the webhook outbox's sweeper
// (webhooks.Service.Sweep), every interval (NOTIFY_SWEEP_INTERVAL, which
// paces both outboxes), with River's opts, enqueued as NotifySweep is.
func WebhookSweep(interval time.Duration, opts *river.PeriodicJobOpts) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(interval), func() (river.JobArgs, *river.InsertOpts) {
		return webhooks.SweepArgs{}, &river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled,
		}}}
	}, opts)
}

// AuthSweep is the periodic job that deletes ended sessions and used or
// expired links (auth.Sessions.Sweep), hourly, enqueued as NotifySweep is.
func AuthSweep(opts *river.PeriodicJobOpts) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(time.Hour), func() (river.JobArgs, *river.InsertOpts) {
		return auth.SweepArgs{}, &river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled,
		}}}
	}, opts)
}
