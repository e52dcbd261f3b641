// Package realtime carries live events (order status changes, low-stock
// alerts) from the process that commits them to every subscriber on every
// replica. A Hub publishes through Redis (one subscription per process,
// channels named REDIS_PREFIX + topic) or, without Redis, in process for a
// single instance; either way it fans messages out to in-process
// subscribers over buffered channels and drops a subscriber that cannot
// keep up rather than let it slow anyone else.
//
// Events are collected during a transaction in a Batch and published only
// after it commits, so no one hears of a change that was rolled back.
// Publishing never makes the committing request wait for Redis: events are
// handed to a bounded queue and published in the background, through a
// redisguard.Guard.
//
// Redis pub/sub forgets what it could not deliver. Where an event may have
// been lost (this process's subscription dropped or hung, or a publisher
// failed or dropped one, in which case it announces a gap marker on the
// topic), the hub hands every subscriber of the topic a gap Event, so that
// subscribers can tell their clients to refetch.
package realtime

import (
	"context"
	"sync"
	"time"
)

// Topics.
const (
	TopicOrders   = "order-updates"
	TopicLowStock = "low-stock-alerts"
)

// OrderStatus is the event published on every order status change.
type OrderStatus struct {
	OrderID           string    `json:"orderId"`
	OrderNumber       string    `json:"orderNumber"`
	CustomerID        *string   `json:"customerId,omitempty"`
	Status            string    `json:"status"`
	PaymentStatus     string    `json:"paymentStatus"`
	FulfillmentStatus string    `json:"fulfillmentStatus"`
	Timestamp         time.Time `json:"timestamp"`
}

// LowStock is the event published when a product's available stock
// crosses down to its low-stock threshold.
type LowStock struct {
	ProductID         string    `json:"productId"`
	VariantID         string    `json:"variantId"`
	AvailableQuantity int       `json:"availableQuantity"`
	Threshold         int       `json:"threshold"`
	Timestamp         time.Time `json:"timestamp"`
}

// Batch collects the events of one transaction until it commits.
type Batch struct {
	mu    sync.Mutex
	items []message
}

type message struct {
	topic   string
	payload any
}

type batchKey struct{}

// WithBatch returns a context whose Add calls collect into the returned
// batch. The caller publishes the batch after its transaction commits.
func WithBatch(ctx context.Context) (context.Context, *Batch) {
	b := &Batch{}
	return context.WithValue(ctx, batchKey{}, b), b
}

// Add queues an event in the context's batch; without a batch it does
// nothing (the change is not one anybody watches live).
func Add(ctx context.Context, topic string, payload any) {
	b, ok := ctx.Value(batchKey{}).(*Batch)
	if !ok {
		return
	}
	b.mu.Lock()
	b.items = append(b.items, message{topic: topic, payload: payload})
	b.mu.Unlock()
}

// Savepoint remembers how many events the context's batch holds and
// returns a function that forgets any added since, for a transaction that
// rolls back to a savepoint.
func Savepoint(ctx context.Context) (rollback func()) {
	b, ok := ctx.Value(batchKey{}).(*Batch)
	if !ok {
		return func() {}
	}
	n := b.Len()
	return func() {
		b.mu.Lock()
		b.items = b.items[:n]
		b.mu.Unlock()
	}
}

// Len returns how many events the batch holds.
func (b *Batch) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.items)
}

func (b *Batch) drain() []message {
	b.mu.Lock()
	defer b.mu.Unlock()
	items := b.items
	b.items = nil
	return items
}

// Publisher publishes a committed transaction's events without waiting for
// Redis. A failed publish is counted and announced as a gap, never
// returned: the business operation has already happened.
type Publisher interface {
	Publish(ctx context.Context, b *Batch)
}
