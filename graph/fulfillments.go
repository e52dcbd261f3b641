package graph

import (
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
		for _, ol := range lines {
			if ol.ID == l.OrderLineID {
				m.Lines = append(m.Lines, &model.FulfillmentLine{OrderLine: ol, Quantity: l.Quantity})
			}
		}
	}
	return m
}
