package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// body is what every attempt of a delivery POSTs.
type body struct {
	ID        string    `json:"id"`
	Topic     Topic     `json:"topic"`
	CreatedAt time.Time `json:"createdAt"`
	Data      any       `json:"data"`
}

// Announce reports a change of topic inside tx, the transaction that makes
// it: when active endpoints subscribe to topic, it renders the data (render
// runs only then, inside tx, so it sees the change) and writes one PENDING
// delivery per endpoint, sharing one event id, with the River jobs that send
// them; all of it commits or rolls back with the change. With no
// subscriber it costs one query and writes nothing. orderID (may be empty)
// is the order the event is about: an endpoint receives the events of one
// order in the order they were announced. It returns render's and the
// database's errors, which should roll tx back.
func (s *Service) Announce(ctx context.Context, tx bun.Tx, topic Topic, orderID string, render func(ctx context.Context) (any, error)) error {
	ids, err := subscribers(ctx, tx, topic)
	if err != nil {
		return fmt.Errorf("announce %s: find endpoints: %w", topic, err)
	}
	if len(ids) == 0 {
		return nil
	}
	data, err := render(ctx)
	if err != nil {
		return fmt.Errorf("announce %s: render: %w", topic, err)
	}
	var order *string
	if orderID != "" {
		order = &orderID
	}
	if _, err := s.write(ctx, tx, ids, topic, order, data); err != nil {
		return fmt.Errorf("announce %s: %w", topic, err)
	}
	return nil
}

// write inserts one delivery of a new event per endpoint and their jobs.
func (s *Service) write(ctx context.Context, tx bun.Tx, endpointIDs []string, topic Topic, orderID *string, data any) ([]deliveryRow, error) {
	eventID := uuid.NewString()
	b, err := json.Marshal(body{ID: eventID, Topic: topic, CreatedAt: s.now().UTC(), Data: data})
	if err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	ds := make([]newDelivery, len(endpointIDs))
	for i, id := range endpointIDs {
		ds[i] = newDelivery{EndpointID: id, EventID: eventID, Topic: topic, OrderID: orderID, Body: b, MaxAttempts: s.cfg.MaxAttempts}
	}
	rows, err := insertDeliveries(ctx, tx, ds)
	if err != nil {
		return nil, fmt.Errorf("insert deliveries: %w", err)
	}
	if err := s.insertJobs(ctx, tx, rows); err != nil {
		return nil, err
	}
	return rows, nil
}
