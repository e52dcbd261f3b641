package graph

import (
	"context"
	"encoding/json"

	"commerce/graph/model"
	"commerce/internal/realtime"
)

// stream relays a hub subscription to a GraphQL subscription until the
// client goes away or the hub drops it. convert decodes one event and says
// whether this subscriber wants it. A dropped subscriber gets a null event,
// which the client sees as an error, and then the end of the stream.
func stream[T any](ctx context.Context, sub *realtime.Subscription, first *T, convert func([]byte) (*T, bool)) <-chan *T {
	out := make(chan *T, 1)
	if first != nil {
		out <- first
	}
	go func() {
		defer close(out)
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case msg, ok := <-sub.Messages():
				if !ok {
					if sub.Err() != nil {
						send(ctx, out, nil)
					}
					return
				}
				if v, want := convert(msg); want && !send(ctx, out, v) {
					return
				}
			}
		}
	}()
	return out
}

func send[T any](ctx context.Context, out chan<- *T, v *T) bool {
	select {
	case out <- v:
		return true
	case <-ctx.Done():
		return false
	}
}

// orderEvents converts order status events, keeping those keep accepts.
func orderEvents(keep func(realtime.OrderStatus) bool) func([]byte) (*model.OrderStatusEvent, bool) {
	return func(b []byte) (*model.OrderStatusEvent, bool) {
		var e realtime.OrderStatus
		if json.Unmarshal(b, &e) != nil || !keep(e) {
			return nil, false
		}
		return toOrderStatusEvent(e), true
	}
}

func lowStockEvents(b []byte) (*model.LowStockAlert, bool) {
	var e realtime.LowStock
	if json.Unmarshal(b, &e) != nil {
		return nil, false
	}
	return &model.LowStockAlert{ProductID: e.ProductID, AvailableQuantity: e.AvailableQuantity,
		Threshold: e.Threshold, Timestamp: e.Timestamp}, true
}
