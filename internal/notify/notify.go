package notify

import (
	"context"
	"database/sql"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"commerce/internal/jobs/queue"
)

// Channel is how a notification travels.
type Channel string

// The channels.
const (
	Email Channel = "EMAIL"
	SMS   Channel = "SMS"
)

// Status is where a notification is in its delivery.
type Status string

// The statuses.
const (
	Pending Status = "PENDING"
	Sent    Status = "SENT"
	Failed  Status = "FAILED"
)

// Message is a notification to enqueue.
type Message struct {
	Channel  Channel
	To       string
	Template string // e.g. "low-stock-alert"; one of the embedded templates
	Data     map[string]any
	// DedupeKey, when set, makes the enqueue a no-op if a notification with
	// the same key exists (e.g. "low-stock:<product id>:<day>").
	DedupeKey string
}

// JobInserter inserts River jobs inside a caller's transaction. A
// *river.Client[*sql.Tx] satisfies it.
type JobInserter interface {
	InsertManyTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
}

// DeliverArgs is the River job that delivers one notification.
type DeliverArgs struct {
	NotificationID string `json:"notification_id"`
}

// Kind names the job for River.
func (DeliverArgs) Kind() string { return "notify-deliver" }

// InsertOpts puts the job on River's notify queue.
func (DeliverArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: queue.Notify} }
