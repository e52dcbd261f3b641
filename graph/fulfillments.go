package graph

import (
	"context"

	"github.com/vikstrous/dataloadgen"

	"commerce/graph/model"
	"commerce/internal/orders"
)

// toFulfillInput converts orderFulfill's input; notifyCustomer defaults to
// true, and lines left out (nil) ship all that is left.
func toFulfillInput(in model.FulfillInput) orders.FulfillInput {
	out := orders.FulfillInput{TrackingNumber: in.TrackingNumber, Carrier: in.Carrier,
		NotifyCustomer: in.NotifyCustomer == nil || *in.NotifyCustomer}
	if in.Lines != nil {
		out.Lines = make([]orders.FulfillLineInput, len(in.Lines))
		for i, l := range in.Lines {
			out.Lines[i] = orders.FulfillLineInput{OrderLineID: l.OrderLineID, Quantity: l.Quantity}
		}
	}
	return out
}

// toFulfillment converts a shipment; its lines point at the order's lines.
func toFulfillment(f orders.Fulfillment, lines []*model.OrderLine) *model.Fulfillment {
	m := &model.Fulfillment{ID: f.ID, Lines: make([]*model.FulfillmentLine, 0, len(f.Lines)), Carrier: f.Carrier,
		TrackingNumber: f.TrackingNumber, TrackingURL: f.TrackingURL, Status: model.FulfillmentShipmentStatus(f.Status),
		ShippedAt: f.ShippedAt, DeliveredAt: f.DeliveredAt}
	for _, l := range f.Lines {
		if ol := orderLine(lines, l.OrderLineID); ol != nil {
			m.Lines = append(m.Lines, &model.FulfillmentLine{OrderLine: ol, Quantity: l.Quantity})
		}
	}
	return m
}

// orderLine is the order line with id among lines, nil when there is none,
// for the lines of a refund, shipment or return to point at.
func orderLine(lines []*model.OrderLine, id string) *model.OrderLine {
	for _, ol := range lines {
		if ol.ID == id {
			return ol
		}
	}
	return nil
}

// withOrderLines loads an order's children whose lines point at the
// order's lines (refunds, shipments) and converts each with conv, both
// through the operation's loaders, so a list of orders costs one query per
// kind.
func withOrderLines[T, M any](ctx context.Context, l *loaders, children *dataloadgen.Loader[string, []T], orderID string,
	conv func(T, []*model.OrderLine) *M) ([]*M, error) {
	cs, err := children.Load(ctx, orderID)
	if err != nil {
		return nil, err
	}
	lines, err := l.lines.Load(ctx, orderID)
	if err != nil {
		return nil, err
	}
	ml := toOrderLines(lines)
	out := make([]*M, len(cs))
	for i, c := range cs {
		out[i] = conv(c, ml)
	}
	return out, nil
}
