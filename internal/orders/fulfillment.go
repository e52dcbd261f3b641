package orders

import (
	"context"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/customers"
	"commerce/internal/notify"
	"commerce/internal/platform/db"
	"commerce/internal/webhooks"
)

// Event types of shipping.
const (
	EventFulfilled = "FULFILLED"
	EventDelivered = "DELIVERED"
)

// DeliveryConfirmationArgs is the job that asks the customer, some days
// after shipping, whether the order arrived.
type DeliveryConfirmationArgs struct {
	OrderID string `json:"order_id"`
}

// Kind names the job for River.
func (DeliveryConfirmationArgs) Kind() string { return "delivery-confirmation" }

// FulfillInput is what orderFulfill accepts.
type FulfillInput struct {
	TrackingNumber string
	Carrier        *string
	NotifyCustomer bool
}

// defaultTrackingURL is the tracking page template of a common carrier
// (lower-case name); {tracking} stands for the tracking number.
// Config.TrackingURLs overrides and extends these.
func defaultTrackingURL(carrier string) (string, bool) {
	switch carrier {
	case "ups":
		return "https://www.ups.com/track?tracknum={tracking}", true
	case "usps":
		return "https://tools.usps.com/go/TrackConfirmAction?tLabels={tracking}", true
	case "fedex":
		return "https://www.fedex.com/fedextrack/?trknbr={tracking}", true
	case "dhl":
		return "https://www.dhl.com/en/express/tracking.html?AWB={tracking}", true
	}
	return "", false
}

// genericTrackingURL serves carriers without a template of their own.
const genericTrackingURL = "https://parcelsapp.com/en/tracking/{tracking}"

const maxTrackingLen = 100

// Fulfill ships a paid, unfulfilled order: it records the tracking number,
// carrier and tracking URL, marks the order FULFILLED, emails the customer
// (and texts them when a phone number is known) unless told not to, and
// schedules the delivery follow-up. It returns Invalid userErrors for an
// empty tracking number or an order that is not paid, not processing or
// already shipped, and a NotFound userError at ["id"] for an unknown order.
func (s *Service) Fulfill(ctx context.Context, orderID string, in FulfillInput) (*Order, error) {
	tracking := strings.TrimSpace(in.TrackingNumber)
	if tracking == "" || utf8.RuneCountInString(tracking) > maxTrackingLen || strings.ContainsAny(tracking, "\r\n\t") {
		return nil, apperr.InvalidField(apperr.Path("input", "trackingNumber"), "must be 1 to %d characters on one line", maxTrackingLen)
	}
	var carrier *string
	if in.Carrier != nil && strings.TrimSpace(*in.Carrier) != "" {
		c := truncate(strings.TrimSpace(*in.Carrier), maxTrackingLen)
		carrier = &c
	}
	trackingURL := s.trackingURL(carrier, tracking)
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		o, _, err := s.lockForStaff(ctx, tx, orderID)
		if err != nil {
			return err
		}
		if o.Status != Processing || o.PaymentStatus != PaymentPaid || o.FulfillmentStatus != Unfulfilled {
			return apperr.InvalidField(apperr.Path("id"), "only a paid, unfulfilled order can be fulfilled (this one is %s, payment %s, %s)",
				o.Status, o.PaymentStatus, o.FulfillmentStatus)
		}
		msg := "Shipped with tracking number " + tracking
		if carrier != nil {
			msg += " (" + *carrier + ")"
		}
		err = updateOrder(ctx, tx, o.ID, orderUpdate{
			set:    "status = ?, fulfillment_status = ?, tracking_number = ?, carrier = ?, tracking_url = ?, shipped_at = now()",
			args:   []any{string(Fulfilled), string(Shipped), tracking, carrier, trackingURL},
			events: []eventRow{newEvent(o.ID, EventFulfilled, msg)},
		})
		if err != nil {
			return err
		}
		o.TrackingNumber, o.Carrier, o.TrackingURL = &tracking, carrier, &trackingURL
		if err := s.announce(ctx, tx, webhooks.OrderFulfilled, o.ID); err != nil {
			return err
		}
		if in.NotifyCustomer {
			if err := s.notifyShipped(ctx, tx, o); err != nil {
				return err
			}
		}
		return s.insertJobs(ctx, tx, river.InsertManyParams{Args: DeliveryConfirmationArgs{OrderID: o.ID},
			InsertOpts: &river.InsertOpts{ScheduledAt: s.now().Add(s.cfg.DeliveryFollowup)}})
	})
	if err != nil {
		return nil, err
	}
	return s.ByID(ctx, orderID)
}

// notifyShipped queues the shipping email and, when the customer has a
// phone number, the shipping SMS.
func (s *Service) notifyShipped(ctx context.Context, tx bun.Tx, o *Order) error {
	data := func() map[string]any {
		return map[string]any{"tracking_number": deref(o.TrackingNumber), "carrier": deref(o.Carrier), "tracking_url": deref(o.TrackingURL)}
	}
	if err := s.notify.Enqueue(ctx, tx, s.customerEmail(o, "order-shipped", "shipped:"+o.ID, data())); err != nil {
		return err
	}
	phone, err := s.customerPhone(ctx, tx, o)
	if err != nil || phone == "" {
		return err
	}
	sms := data()
	sms["order_number"] = o.Number
	return s.notify.Enqueue(ctx, tx, notify.Message{Channel: notify.SMS, To: phone, Template: "order-shipped-sms",
		Data: sms, DedupeKey: "shipped-sms:" + o.ID})
}

// customerPhone is the number to text about an order: the shipping
// address's, else the customer's.
func (s *Service) customerPhone(ctx context.Context, tx bun.Tx, o *Order) (string, error) {
	if p := o.ShippingAddress.Phone; p != nil && *p != "" {
		return *p, nil
	}
	if o.CustomerID == nil {
		return "", nil
	}
	c, err := customers.CheckoutCustomerByID(ctx, tx, *o.CustomerID)
	if err != nil || c.Phone == nil {
		return "", err
	}
	return *c.Phone, nil
}

// trackingURL fills the carrier's template, or the generic one.
func (s *Service) trackingURL(carrier *string, tracking string) string {
	tmpl := genericTrackingURL
	if carrier != nil {
		key := strings.ToLower(*carrier)
		if t, ok := s.cfg.TrackingURLs[key]; ok {
			tmpl = t
		} else if t, ok := defaultTrackingURL(key); ok {
			tmpl = t
		}
	}
	return strings.ReplaceAll(tmpl, "{tracking}", url.QueryEscape(tracking))
}

// MarkDelivered records that a shipped order arrived. It returns an Invalid
// userError at ["id"] unless the order is fulfilled and not yet delivered.
func (s *Service) MarkDelivered(ctx context.Context, orderID string) (*Order, error) {
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		o, _, err := s.lockForStaff(ctx, tx, orderID)
		if err != nil {
			return err
		}
		if o.FulfillmentStatus != Shipped {
			return apperr.InvalidField(apperr.Path("id"), "only a shipped order can be marked delivered (this one is %s)", o.FulfillmentStatus)
		}
		err = updateOrder(ctx, tx, o.ID, orderUpdate{
			set:    "fulfillment_status = ?, delivered_at = now()",
			args:   []any{string(Delivered)},
			events: []eventRow{newEvent(o.ID, EventDelivered, "Delivered")},
		})
		if err != nil {
			return err
		}
		return s.announce(ctx, tx, webhooks.OrderDelivered, o.ID)
	})
	if err != nil {
		return nil, err
	}
	return s.ByID(ctx, orderID)
}

// SendDeliveryConfirmation asks the customer whether a shipped order
// arrived, unless it was cancelled or refunded. Safe to run twice.
func (s *Service) SendDeliveryConfirmation(ctx context.Context, orderID string) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		o, _, err := lockOrder(ctx, tx, "o.id = ?", orderID)
		if db.IsNoRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if o.Status == Cancelled || o.PaymentStatus != PaymentPaid || o.FulfillmentStatus == Unfulfilled {
			return nil
		}
		return s.notify.Enqueue(ctx, tx, s.customerEmail(o, "delivery-confirmation", "delivery-confirmation:"+o.ID, map[string]any{}))
	})
}
