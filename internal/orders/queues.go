package orders

import (
	"github.com/riverqueue/river"

	"commerce/internal/jobs/queue"
)

// workflowQueue puts a job of the order workflow on River's workflow queue,
// away from the notification deliveries that a slow provider can hold up.
var workflowQueue = river.InsertOpts{Queue: queue.Workflow}

// InsertOpts puts the job on the workflow queue.
func (PaymentTimeoutArgs) InsertOpts() river.InsertOpts { return workflowQueue }

// InsertOpts puts the job on the workflow queue.
func (PaymentIntentArgs) InsertOpts() river.InsertOpts { return workflowQueue }

// InsertOpts puts the job on the workflow queue.
func (RefundArgs) InsertOpts() river.InsertOpts { return workflowQueue }

// InsertOpts puts the job on the workflow queue.
func (FulfillmentReminderArgs) InsertOpts() river.InsertOpts { return workflowQueue }

// InsertOpts puts the job on the workflow queue.
func (ReviewRequestArgs) InsertOpts() river.InsertOpts { return workflowQueue }

// InsertOpts puts the job on the workflow queue.
func (DeliveryConfirmationArgs) InsertOpts() river.InsertOpts { return workflowQueue }
