package orders

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"commerce/internal/catalog"
	"commerce/internal/customers"
	"commerce/internal/webhooks"
)

// Announcer reports a change to the webhook subscribers of its topic inside
// the transaction that makes it (webhooks.Service.Announce): render runs
// only when someone subscribes.
type Announcer interface {
	Announce(ctx context.Context, tx bun.Tx, topic webhooks.Topic, orderID string, render func(ctx context.Context) (any, error)) error
}

// announce reports the order's change of topic, with the order as it
// stands in tx.
func (s *Service) announce(ctx context.Context, tx bun.Tx, topic webhooks.Topic, orderID string) error {
	if s.hooks == nil {
		return nil
	}
	return s.hooks.Announce(ctx, tx, topic, orderID, func(ctx context.Context) (any, error) {
		os, err := selectOrders(ctx, tx, "id = ?", orderID)
		if err != nil || len(os) == 0 {
			return nil, fmt.Errorf("load order %s: %w (found %d)", orderID, err, len(os))
		}
		lines, err := selectLines(ctx, tx, []string{orderID})
		if err != nil {
			return nil, fmt.Errorf("load lines of order %s: %w", orderID, err)
		}
		return newOrderData(os[0], lines[orderID]), nil
	})
}

// orderData is the `data` of an order's webhook: the Order as staff read it
// through GraphQL, with the same field names, minus what needs another
// query (customer, the product of a line, events) or is a secret
// (paymentClientSecret); the customer and products are given by id.
// Money is {"amount": "12.30", "currencyCode": "USD"} as in GraphQL
// (webhooks.Money).
type orderData struct {
	ID                    string            `json:"id"`
	OrderNumber           string            `json:"orderNumber"`
	CustomerID            *string           `json:"customerId"`
	Email                 string            `json:"email"`
	Lines                 []orderLineData   `json:"lines"`
	Subtotal              webhooks.Money    `json:"subtotal"`
	Tax                   webhooks.Money    `json:"tax"`
	ShippingCost          webhooks.Money    `json:"shippingCost"`
	Discount              webhooks.Money    `json:"discount"`
	Total                 webhooks.Money    `json:"total"`
	Status                Status            `json:"status"`
	PaymentStatus         PaymentStatus     `json:"paymentStatus"`
	FulfillmentStatus     FulfillmentStatus `json:"fulfillmentStatus"`
	StripePaymentIntentID *string           `json:"stripePaymentIntentId"`
	ShippingAddress       customers.Address `json:"shippingAddress"`
	BillingAddress        customers.Address `json:"billingAddress"`
	Carrier               *string           `json:"carrier"`
	TrackingNumber        *string           `json:"trackingNumber"`
	TrackingURL           *string           `json:"trackingUrl"`
	ShippedAt             *time.Time        `json:"shippedAt"`
	DeliveredAt           *time.Time        `json:"deliveredAt"`
	Notes                 *string           `json:"notes"`
	CreatedAt             time.Time         `json:"createdAt"`
	UpdatedAt             time.Time         `json:"updatedAt"`
}

// orderLineData is an OrderLine, its product given by id.
type orderLineData struct {
	ID              string                   `json:"id"`
	ProductID       *string                  `json:"productId"`
	VariantID       *string                  `json:"variantId"`
	SKU             string                   `json:"sku"`
	Name            string                   `json:"name"`
	VariantTitle    string                   `json:"variantTitle"`
	SelectedOptions []catalog.SelectedOption `json:"selectedOptions"`
	Quantity        int                      `json:"quantity"`
	UnitPrice       webhooks.Money           `json:"unitPrice"`
	LineTotal       webhooks.Money           `json:"lineTotal"`
}

func newOrderData(o *Order, lines []Line) orderData {
	d := orderData{
		ID: o.ID, OrderNumber: o.Number, CustomerID: o.CustomerID, Email: o.Email, Lines: []orderLineData{},
		Subtotal: webhooks.MoneyOf(o.Subtotal), Tax: webhooks.MoneyOf(o.Tax), ShippingCost: webhooks.MoneyOf(o.Shipping),
		Discount: webhooks.MoneyOf(o.Discount), Total: webhooks.MoneyOf(o.Total),
		Status: o.Status, PaymentStatus: o.PaymentStatus, FulfillmentStatus: o.FulfillmentStatus,
		StripePaymentIntentID: o.PaymentIntentID, ShippingAddress: o.ShippingAddress, BillingAddress: o.BillingAddress,
		Carrier: o.Carrier, TrackingNumber: o.TrackingNumber, TrackingURL: o.TrackingURL,
		ShippedAt: o.ShippedAt, DeliveredAt: o.DeliveredAt, Notes: o.Notes, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
	}
	for _, l := range lines {
		d.Lines = append(d.Lines, orderLineData{ID: l.ID, ProductID: l.ProductID, VariantID: l.VariantID,
			SKU: l.SKU, Name: l.Name, VariantTitle: l.VariantTitle, SelectedOptions: l.SelectedOptions, Quantity: l.Quantity,
			UnitPrice: webhooks.MoneyOf(l.UnitPrice), LineTotal: webhooks.MoneyOf(l.LineTotal)})
	}
	return d
}
