package webhooks

import (
	"context"
	"database/sql"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"commerce/internal/jobs/queue"
)

// Topic names what an event reports.
type Topic string

// The topics. Ping is sent only by Service.Ping.
const (
	OrderCreated      Topic = "ORDER_CREATED"
	OrderPaid         Topic = "ORDER_PAID"
	OrderCancelled    Topic = "ORDER_CANCELLED"
	OrderFulfilled    Topic = "ORDER_FULFILLED"
	OrderDelivered    Topic = "ORDER_DELIVERED"
	OrderRefunded     Topic = "ORDER_REFUNDED"
	ReturnRequested   Topic = "RETURN_REQUESTED"
	ReturnUpdated     Topic = "RETURN_UPDATED"
	ProductCreated    Topic = "PRODUCT_CREATED"
	ProductUpdated    Topic = "PRODUCT_UPDATED"
	InventoryLowStock Topic = "INVENTORY_LOW_STOCK"
	CustomerCreated   Topic = "CUSTOMER_CREATED"
	Ping              Topic = "PING"
)

// Status is where a delivery is.
type Status string

// The delivery statuses.
const (
	Pending   Status = "PENDING"
	Succeeded Status = "SUCCEEDED"
	Failed    Status = "FAILED"
)

// Endpoint is a subscribed receiver, as staff see it: never its secret.
type Endpoint struct {
	ID          string
	URL         string
	Description *string
	Topics      []Topic
	IsActive    bool
	CreatedAt   time.Time
}

// EndpointInput creates or replaces an endpoint's settings.
type EndpointInput struct {
	URL         string
	Description *string
	Topics      []Topic
	IsActive    bool
}

// Delivery is one event sent (or to send) to one endpoint.
type Delivery struct {
	ID             string
	EndpointID     string
	EventID        string
	Topic          Topic
	Status         Status
	Attempts       int
	ResponseStatus *int
	LastError      *string
	// Body is the whole body every attempt sends.
	Body        []byte
	CreatedAt   time.Time
	DeliveredAt *time.Time
}

// JobInserter inserts River jobs inside a caller's transaction. A
// *river.Client[*sql.Tx] satisfies it.
type JobInserter interface {
	InsertManyTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
}

// DeliverArgs is the River job that makes the attempts of one delivery.
type DeliverArgs struct {
	DeliveryID string `json:"delivery_id"`
}

// Kind names the job for River.
func (DeliverArgs) Kind() string { return "webhook-deliver" }

// InsertOpts puts the job on River's webhooks queue, so that slow
// receivers hold only webhook workers.
func (DeliverArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: queue.Webhooks} }
