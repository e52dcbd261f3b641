package graph

import (
	"context"
	"errors"

	"commerce/graph/model"
	"commerce/internal/apperr"
	"commerce/internal/realtime"
)

// stream relays a hub subscription to a GraphQL subscription until the
// client goes away or the hub drops it. convert decodes one event, marks
// it when events may have been missed before it, and says whether this
// subscriber wants it. After a gap in the feed, the next event sent is so
// marked, or, when resync is not nil, resync's current state is sent at
// once instead (marked by resync). A subscriber the hub dropped (too slow,
// or the server shutting down) gets one error saying why, then the end of
// the stream: the null element that carries it is presented as that error.
func stream[T any](ctx context.Context, sub *realtime.Subscription, first *T,
	convert func(ev realtime.Event, missed bool) (*T, bool), resync func(context.Context) (*T, error)) <-chan *T {
	out := make(chan *T, 1)
	if first != nil {
		out <- first
	}
	go func() {
		defer close(out)
		defer sub.Close()
		missed := false
		for {
			select {
			case <-ctx.Done():
				return
			case msg, ok := <-sub.Messages():
				if !ok {
					if err := sub.Err(); err != nil {
						loadersFrom(ctx).streamEnd.Store(streamEndError(err))
						send(ctx, out, nil)
					}
					return
				}
				if msg.Gap {
					missed = true
					if resync == nil {
						continue
					}
					v, err := resync(ctx)
					if err != nil {
						continue // the next event is marked instead
					}
					missed = false
					if !send(ctx, out, v) {
						return
					}
					continue
				}
				if v, want := convert(msg, missed); want {
					missed = false
					if !send(ctx, out, v) {
						return
					}
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
func orderEvents(keep func(realtime.OrderStatus) bool) func(realtime.Event, bool) (*model.OrderStatusEvent, bool) {
	return func(ev realtime.Event, missed bool) (*model.OrderStatusEvent, bool) {
		if ev.Order == nil || !keep(*ev.Order) {
			return nil, false
		}
		e := toOrderStatusEvent(*ev.Order)
		e.MissedEventsPossible = missed
		return e, true
	}
}

func lowStockEvents(ev realtime.Event, missed bool) (*model.LowStockAlert, bool) {
	e := ev.LowStock
	if e == nil {
		return nil, false
	}
	return &model.LowStockAlert{ProductID: e.ProductID, VariantID: e.VariantID, AvailableQuantity: e.AvailableQuantity,
		Threshold: e.Threshold, Timestamp: e.Timestamp, MissedEventsPossible: missed}, true
}

// streamEndError is what a client is told when the hub ends its stream: a
// slow consumer exceeded the rate it could absorb and may subscribe again
// at once.
func streamEndError(err error) *apperr.Error {
	if errors.Is(err, realtime.ErrSlowConsumer) {
		return &apperr.Error{Kind: apperr.RateLimited, Message: err.Error()}
	}
	return &apperr.Error{Kind: apperr.Internal, Message: err.Error()}
}
