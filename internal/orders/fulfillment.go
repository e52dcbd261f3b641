package orders

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

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
	// EventShipmentDelivered is a shipment delivered while the order is
	// not: other shipments are on their way or units are still to ship.
	EventShipmentDelivered = "SHIPMENT_DELIVERED"
)

// DeliveryConfirmationArgs is the job that asks the customer, some days
// after the last shipment, whether the order arrived.
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
	// Lines are the units this shipment holds; nil ships every unit not
	// shipped or refunded yet (v1's orderFulfill).
	Lines []FulfillLineInput
}

// FulfillLineInput asks to ship quantity units of an order line.
type FulfillLineInput struct {
	OrderLineID string
	Quantity    int
}

// ShipmentStatus is where one fulfilment is.
type ShipmentStatus string

// The shipment statuses.
const (
	ShipmentShipped   ShipmentStatus = "SHIPPED"
	ShipmentDelivered ShipmentStatus = "DELIVERED"
)

// Fulfillment is one shipment of an order: some units of its lines, with
// their own tracking and delivery.
type Fulfillment struct {
	ID             string
	OrderID        string
	Lines          []FulfillmentLine
	Carrier        *string
	TrackingNumber *string
	TrackingURL    *string
	Status         ShipmentStatus
	ShippedAt      time.Time
	DeliveredAt    *time.Time
}

// FulfillmentLine is the units of one order line a fulfilment shipped.
type FulfillmentLine struct {
	OrderLineID string `json:"order_line_id"`
	Quantity    int    `json:"quantity"`
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

// Fulfill ships a paid order, whole or in part, as one fulfilment: it
// records the units shipped (in.Lines; all that is left when nil) with the
// tracking number, carrier and tracking URL, copies the tracking onto the
// order's v1 fields, and marks the order PARTIALLY_FULFILLED while units
// are left to ship, else FULFILLED. It emails the customer (and texts them
// when a phone number is known) what this shipment holds unless told not
// to, and schedules the delivery follow-up with the last shipment.
//
// The order's row lock serializes shipments, so concurrent fulfils never
// ship a unit twice. A unit refunded is not shipped: what is left of a line
// is its quantity less the units shipped and the units refunded. Errors are
// userErrors: NotFound at ["id"] for an unknown order, Invalid at ["id"]
// for an order that is not paid (or partly refunded) and processing, or
// has nothing left to ship, at ["input","trackingNumber"], and at
// ["input","lines",i,...] for an unknown or repeated line or a quantity
// beyond what is left of it.
func (s *Service) Fulfill(ctx context.Context, orderID string, in FulfillInput) (*Order, error) {
	tracking := strings.TrimSpace(in.TrackingNumber)
	if tracking == "" || utf8.RuneCountInString(tracking) > maxTrackingLen || strings.ContainsAny(tracking, "\r\n\t") {
		return nil, apperr.InvalidField(apperr.Path("input", "trackingNumber"), "must be 1 to %d characters on one line", maxTrackingLen)
	}
	if in.Lines != nil && len(in.Lines) == 0 {
		return nil, apperr.InvalidField(apperr.Path("input", "lines"), "list the units to ship, or leave lines out to ship all that is left")
	}
	var carrier *string
	if in.Carrier != nil && strings.TrimSpace(*in.Carrier) != "" {
		c := truncate(strings.TrimSpace(*in.Carrier), maxTrackingLen)
		carrier = &c
	}
	trackingURL := s.trackingURL(carrier, tracking)
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		o, lines, err := s.lockForStaff(ctx, tx, orderID)
		if err != nil {
			return err
		}
		if o.Status != Processing || (o.PaymentStatus != PaymentPaid && o.PaymentStatus != PaymentPartiallyRefunded) ||
			(o.FulfillmentStatus != Unfulfilled && o.FulfillmentStatus != PartiallyShipped) {
			return apperr.InvalidField(apperr.Path("id"), "only a paid order with units left to ship can be fulfilled (this one is %s, payment %s, %s)",
				o.Status, o.PaymentStatus, o.FulfillmentStatus)
		}
		left, err := unitsLeft(ctx, tx, o.ID, lines)
		if err != nil {
			return err
		}
		ship, err := shipmentLines(lines, left, in.Lines)
		if err != nil {
			return err
		}
		fulfillmentID, err := insertFulfillment(ctx, tx, o.ID, carrier, tracking, trackingURL, ship)
		if err != nil {
			return err
		}
		rest := sumUnits(left) - sumShipped(ship)
		status, shipping := Processing, PartiallyShipped
		if rest == 0 {
			status, shipping = Fulfilled, Shipped
		}
		msg := "Shipped " + unitsText(lines, ship) + " with tracking number " + tracking
		if carrier != nil {
			msg += " (" + *carrier + ")"
		}
		err = updateOrder(ctx, tx, o.ID, orderUpdate{
			set:    "status = ?, fulfillment_status = ?, tracking_number = ?, carrier = ?, tracking_url = ?, shipped_at = now()",
			args:   []any{string(status), string(shipping), tracking, carrier, trackingURL},
			events: []eventRow{newEvent(o.ID, EventFulfilled, msg)},
		})
		if err != nil {
			return err
		}
		o.TrackingNumber, o.Carrier, o.TrackingURL = &tracking, carrier, &trackingURL
		// Every shipment is announced; the payload's fulfillmentStatus
		// tells a partial one (PARTIALLY_FULFILLED) from the last.
		if err := s.announce(ctx, tx, webhooks.OrderFulfilled, o.ID); err != nil {
			return err
		}
		if in.NotifyCustomer {
			if err := s.notifyShipped(ctx, tx, o, fulfillmentID, shipmentEmailLines(lines, ship), rest > 0); err != nil {
				return err
			}
		}
		if rest > 0 {
			return nil
		}
		return s.scheduleDeliveryFollowup(ctx, tx, o.ID)
	})
	if err != nil {
		return nil, err
	}
	return s.ByID(ctx, orderID)
}

// scheduleDeliveryFollowup asks the customer, DeliveryFollowup after the
// last shipment, whether the order arrived.
func (s *Service) scheduleDeliveryFollowup(ctx context.Context, tx bun.Tx, orderID string) error {
	return s.insertJobs(ctx, tx, river.InsertManyParams{Args: DeliveryConfirmationArgs{OrderID: orderID},
		InsertOpts: &river.InsertOpts{ScheduledAt: s.now().Add(s.cfg.DeliveryFollowup)}})
}

// unitsLeft is what is left to ship of each line (by id): its quantity
// less the units shipped and the units in refunds that are not FAILED. A
// refunded unit is taken to be one not shipped yet, so the refund of a
// shipped unit of a partly shipped line holds back one of its unshipped
// units too; the order never ships more than was paid for. The units of a
// return's refund are known to have shipped, and hold back nothing.
func unitsLeft(ctx context.Context, idb bun.IDB, orderID string, lines []Line) (map[string]int, error) {
	refunded, err := refundedUnits(ctx, idb, orderID)
	if err != nil {
		return nil, err
	}
	returned, err := returnRefundedUnits(ctx, idb, orderID)
	if err != nil {
		return nil, err
	}
	var rows []FulfillmentLine
	err = idb.NewRaw(`SELECT fl.order_line_id, sum(fl.quantity) AS quantity
		FROM fulfillment_lines fl JOIN fulfillments f ON f.id = fl.fulfillment_id
		WHERE f.order_id = ? GROUP BY fl.order_line_id`, orderID).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("sum shipped units: %w", err)
	}
	shipped := make(map[string]int, len(rows))
	for _, r := range rows {
		shipped[r.OrderLineID] = r.Quantity
	}
	left := make(map[string]int, len(lines))
	for _, l := range lines {
		left[l.ID] = max(l.Quantity-shipped[l.ID]-(refunded[l.ID].refunded-returned[l.ID]), 0)
	}
	return left, nil
}

// shipmentLines checks the requested lines (known, each once, a quantity
// from 1 to what is left of the line) and returns them in the order's line
// order; nil asks for everything left.
func shipmentLines(lines []Line, left map[string]int, in []FulfillLineInput) ([]FulfillmentLine, error) {
	want := make(map[string]int, len(lines))
	if in == nil {
		for id, n := range left {
			if n > 0 {
				want[id] = n
			}
		}
		if len(want) == 0 {
			return nil, apperr.InvalidField(apperr.Path("id"), "nothing is left to ship: every unit is shipped or refunded")
		}
	}
	for i, r := range in {
		id := strings.ToLower(r.OrderLineID)
		n, ok := left[id]
		switch {
		case !validUUID(r.OrderLineID) || !ok:
			return nil, apperr.Field(apperr.NotFound, apperr.Path("input", "lines", i, "orderLineId"), "no such line on this order")
		case want[id] > 0:
			return nil, apperr.InvalidField(apperr.Path("input", "lines", i, "orderLineId"), "the line is listed twice")
		case n == 0:
			return nil, apperr.InvalidField(apperr.Path("input", "lines", i, "quantity"), "nothing of this line is left to ship")
		case r.Quantity <= 0 || r.Quantity > n:
			return nil, apperr.InvalidField(apperr.Path("input", "lines", i, "quantity"),
				"must be between 1 and the %d units left to ship", n)
		}
		want[id] = r.Quantity
	}
	out := make([]FulfillmentLine, 0, len(want))
	for _, l := range lines {
		if q := want[l.ID]; q > 0 {
			out = append(out, FulfillmentLine{OrderLineID: l.ID, Quantity: q})
		}
	}
	return out, nil
}

func sumUnits(m map[string]int) int {
	n := 0
	for _, q := range m {
		n += q
	}
	return n
}

func sumShipped(ls []FulfillmentLine) int {
	n := 0
	for _, l := range ls {
		n += l.Quantity
	}
	return n
}

// insertFulfillment writes a shipment and its lines, and returns its id.
func insertFulfillment(ctx context.Context, tx bun.Tx, orderID string, carrier *string, tracking, trackingURL string,
	ship []FulfillmentLine) (string, error) {
	var id string
	err := tx.NewRaw(`INSERT INTO fulfillments (order_id, carrier, tracking_number, tracking_url) VALUES (?, ?, ?, ?) RETURNING id`,
		orderID, carrier, tracking, trackingURL).Scan(ctx, &id)
	if err != nil {
		return "", fmt.Errorf("insert fulfillment: %w", err)
	}
	ids, qs := make([]string, len(ship)), make([]int, len(ship))
	for i, l := range ship {
		ids[i], qs[i] = l.OrderLineID, l.Quantity
	}
	_, err = tx.NewRaw(`INSERT INTO fulfillment_lines (fulfillment_id, order_line_id, quantity)
		SELECT ?, l.id, l.quantity FROM unnest(?::uuid[], ?::int[]) AS l(id, quantity)`,
		id, pgdialect.Array(ids), pgdialect.Array(qs)).Exec(ctx)
	if err != nil {
		return "", fmt.Errorf("insert fulfillment lines: %w", err)
	}
	return id, nil
}

// unitsText lists shipped units for the timeline: "2 × Mug, 1 × Tea".
func unitsText(lines []Line, ship []FulfillmentLine) string {
	parts := make([]string, 0, len(ship))
	for _, m := range shipmentEmailLines(lines, ship) {
		parts = append(parts, fmt.Sprintf("%d × %s", m["quantity"], m["name"]))
	}
	return strings.Join(parts, ", ")
}

// shipmentEmailLines are a shipment's units as the emails list them.
func shipmentEmailLines(lines []Line, ship []FulfillmentLine) []map[string]any {
	out := make([]map[string]any, 0, len(ship))
	for _, f := range ship {
		for _, l := range lines {
			if l.ID == f.OrderLineID {
				m := emailLines([]Line{l})[0]
				m["quantity"] = f.Quantity
				delete(m, "line_total")
				out = append(out, m)
			}
		}
	}
	return out
}

// notifyShipped queues a shipment's email and, when the customer has a
// phone number, its SMS; both are deduplicated per fulfilment, so each
// shipment of an order is told once. partial says more is to come.
func (s *Service) notifyShipped(ctx context.Context, tx bun.Tx, o *Order, fulfillmentID string, lines []map[string]any, partial bool) error {
	data := func() map[string]any {
		return map[string]any{"tracking_number": deref(o.TrackingNumber), "carrier": deref(o.Carrier),
			"tracking_url": deref(o.TrackingURL), "partial": partial}
	}
	email := data()
	email["lines"] = lines
	if err := s.notify.Enqueue(ctx, tx, s.customerEmail(o, "order-shipped", "shipped:"+fulfillmentID, email)); err != nil {
		return err
	}
	phone, err := s.customerPhone(ctx, tx, o)
	if err != nil || phone == "" {
		return err
	}
	sms := data()
	sms["order_number"] = o.Number
	sms["units"] = smsUnits(lines)
	return s.notify.Enqueue(ctx, tx, notify.Message{Channel: notify.SMS, To: phone, Template: "order-shipped-sms",
		Data: sms, DedupeKey: "shipped-sms:" + fulfillmentID})
}

// maxSMSUnits bounds the units an SMS lists, in characters: a text of a
// few segments, however many lines the shipment holds (the email lists
// them all).
const maxSMSUnits = 200

// smsUnits lists a shipment's units on one line for its SMS ("1 x Shirt
// (M / Blue), 2 x Mug"), cut to maxSMSUnits characters with "…".
func smsUnits(lines []map[string]any) string {
	parts := make([]string, 0, len(lines))
	for _, m := range lines {
		p := fmt.Sprintf("%d x %s", m["quantity"], m["name"])
		if v, ok := m["variant"]; ok {
			p += fmt.Sprintf(" (%s)", v)
		}
		parts = append(parts, p)
	}
	s := strings.Join(parts, ", ")
	if utf8.RuneCountInString(s) > maxSMSUnits {
		s = truncate(s, maxSMSUnits-1) + "…"
	}
	return s
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

// MarkDelivered records that every shipment of a shipped order arrived: a
// FULFILLED order becomes DELIVERED (deliveredAt set); a partly shipped
// one has its shipments marked DELIVERED and stays PARTIALLY_FULFILLED, as
// units are still to ship. It returns a NotFound userError at ["id"] for
// an unknown order and an Invalid one unless the order is shipped and some
// shipment of it not yet delivered.
func (s *Service) MarkDelivered(ctx context.Context, orderID string) (*Order, error) {
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		o, _, err := s.lockForStaff(ctx, tx, orderID)
		if err != nil {
			return err
		}
		if o.FulfillmentStatus != Shipped && o.FulfillmentStatus != PartiallyShipped {
			return apperr.InvalidField(apperr.Path("id"), "only a shipped order can be marked delivered (this one is %s)", o.FulfillmentStatus)
		}
		res, err := tx.NewRaw(`UPDATE fulfillments SET status = ?, delivered_at = now() WHERE order_id = ? AND status = ?`,
			string(ShipmentDelivered), o.ID, string(ShipmentShipped)).Exec(ctx)
		if err != nil {
			return fmt.Errorf("mark the shipments of order %s delivered: %w", o.ID, err)
		}
		if o.FulfillmentStatus == Shipped {
			return s.delivered(ctx, tx, o)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.InvalidField(apperr.Path("id"), "every shipment of this order is delivered already; the rest has not shipped")
		}
		return insertEvents(ctx, tx, []eventRow{newEvent(o.ID, EventShipmentDelivered, "Every shipment so far delivered; units are still to ship")})
	})
	if err != nil {
		return nil, err
	}
	return s.ByID(ctx, orderID)
}

// MarkFulfillmentDelivered records that one shipment arrived. When it was
// the last undelivered shipment of an order with nothing left to ship, the
// order becomes DELIVERED. It returns a NotFound userError at ["id"] for
// an unknown shipment and an Invalid one for a shipment delivered already.
func (s *Service) MarkFulfillmentDelivered(ctx context.Context, fulfillmentID string) (*Order, error) {
	notFound := apperr.Field(apperr.NotFound, apperr.Path("id"), "fulfillment not found")
	if !validUUID(fulfillmentID) {
		return nil, notFound
	}
	var orderID string
	err := s.db.Bun.NewRaw(`SELECT order_id FROM fulfillments WHERE id = ?`, strings.ToLower(fulfillmentID)).Scan(ctx, &orderID)
	if db.IsNoRows(err) {
		return nil, notFound
	}
	if err != nil {
		return nil, fmt.Errorf("read fulfillment %s: %w", fulfillmentID, err)
	}
	err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		o, _, err := s.lockForStaff(ctx, tx, orderID)
		if err != nil {
			return err
		}
		var f struct {
			Tracking *string `bun:"tracking_number"`
			Open     int     `bun:"open"`
		}
		err = tx.NewRaw(`WITH d AS (
				UPDATE fulfillments SET status = ?, delivered_at = now() WHERE id = ? AND status = ? RETURNING id, tracking_number
			)
			SELECT d.tracking_number, (SELECT count(*) FROM fulfillments o WHERE o.order_id = ? AND o.status = ? AND o.id <> d.id) AS open
			FROM d`, string(ShipmentDelivered), strings.ToLower(fulfillmentID), string(ShipmentShipped), o.ID, string(ShipmentShipped)).
			Scan(ctx, &f)
		if db.IsNoRows(err) {
			return apperr.InvalidField(apperr.Path("id"), "the shipment is delivered already")
		}
		if err != nil {
			return fmt.Errorf("mark fulfillment %s delivered: %w", fulfillmentID, err)
		}
		if f.Open == 0 && o.FulfillmentStatus == Shipped {
			return s.delivered(ctx, tx, o)
		}
		return insertEvents(ctx, tx, []eventRow{newEvent(o.ID, EventShipmentDelivered, "Shipment "+deref(f.Tracking)+" delivered")})
	})
	if err != nil {
		return nil, err
	}
	return s.ByID(ctx, orderID)
}

// refundedTheRest completes a partly shipped order whose units left to
// ship were all refunded (the refund is written in tx): it becomes
// FULFILLED, or DELIVERED when its shipments all arrived already, as if
// its last shipment had gone out.
func (s *Service) refundedTheRest(ctx context.Context, tx bun.Tx, o *Order, lines []Line) error {
	if o.FulfillmentStatus != PartiallyShipped {
		return nil
	}
	left, err := unitsLeft(ctx, tx, o.ID, lines)
	if err != nil || sumUnits(left) > 0 {
		return err
	}
	var open int
	if err := tx.NewRaw(`SELECT count(*) FROM fulfillments WHERE order_id = ? AND status = ?`, o.ID, string(ShipmentShipped)).
		Scan(ctx, &open); err != nil {
		return fmt.Errorf("count the open shipments of order %s: %w", o.ID, err)
	}
	const why = "Nothing left to ship: the rest was refunded"
	if open == 0 {
		err := updateOrder(ctx, tx, o.ID, orderUpdate{
			set:  "status = ?, fulfillment_status = ?, delivered_at = (SELECT max(delivered_at) FROM fulfillments WHERE order_id = orders.id)",
			args: []any{string(Fulfilled), string(Delivered)}, events: []eventRow{newEvent(o.ID, EventDelivered, why)},
		})
		if err != nil {
			return err
		}
		return s.announce(ctx, tx, webhooks.OrderDelivered, o.ID)
	}
	err = updateOrder(ctx, tx, o.ID, orderUpdate{
		set: "status = ?, fulfillment_status = ?", args: []any{string(Fulfilled), string(Shipped)},
		events: []eventRow{newEvent(o.ID, EventFulfilled, why)},
	})
	if err != nil {
		return err
	}
	if err := s.announce(ctx, tx, webhooks.OrderFulfilled, o.ID); err != nil {
		return err
	}
	return s.scheduleDeliveryFollowup(ctx, tx, o.ID)
}

// delivered marks a fully shipped order whose shipments all arrived
// DELIVERED and announces it.
func (s *Service) delivered(ctx context.Context, tx bun.Tx, o *Order) error {
	err := updateOrder(ctx, tx, o.ID, orderUpdate{
		set:    "fulfillment_status = ?, delivered_at = now()",
		args:   []any{string(Delivered)},
		events: []eventRow{newEvent(o.ID, EventDelivered, "Delivered")},
	})
	if err != nil {
		return err
	}
	return s.announce(ctx, tx, webhooks.OrderDelivered, o.ID)
}

// Fulfillments returns each order's shipments, oldest first, in one query.
func (s *Service) Fulfillments(ctx context.Context, orderIDs []string) ([][]Fulfillment, error) {
	fs, err := selectFulfillments(ctx, s.db.Bun, "f.order_id IN (?)", bun.In(orderIDs))
	if err != nil {
		return nil, err
	}
	return perOrder(orderIDs, fs, func(f Fulfillment) string { return f.OrderID }), nil
}

// FulfillmentByID returns one shipment. It returns NotFound for an unknown
// or malformed id.
func (s *Service) FulfillmentByID(ctx context.Context, id string) (*Fulfillment, error) {
	if !validUUID(id) {
		return nil, apperr.New(apperr.NotFound, "fulfillment not found")
	}
	fs, err := selectFulfillments(ctx, s.db.Bun, "f.id = ?", strings.ToLower(id))
	if err != nil {
		return nil, err
	}
	if len(fs) == 0 {
		return nil, apperr.New(apperr.NotFound, "fulfillment not found")
	}
	return &fs[0], nil
}

// selectFulfillments reads the shipments matching where (a condition on
// "f") with their lines in the order's line order.
func selectFulfillments(ctx context.Context, idb bun.IDB, where string, args ...any) ([]Fulfillment, error) {
	var rows []struct {
		ID             string            `bun:"id"`
		OrderID        string            `bun:"order_id"`
		Carrier        *string           `bun:"carrier"`
		TrackingNumber *string           `bun:"tracking_number"`
		TrackingURL    *string           `bun:"tracking_url"`
		Status         string            `bun:"status"`
		ShippedAt      time.Time         `bun:"shipped_at"`
		DeliveredAt    *time.Time        `bun:"delivered_at"`
		Lines          []FulfillmentLine `bun:"lines,type:jsonb"`
	}
	err := idb.NewRaw(`SELECT f.id, f.order_id, f.carrier, f.tracking_number, f.tracking_url, f.status, f.shipped_at, f.delivered_at,
			coalesce((SELECT json_agg(json_build_object('order_line_id', fl.order_line_id, 'quantity', fl.quantity) ORDER BY l.position)
				FROM fulfillment_lines fl JOIN order_lines l ON l.id = fl.order_line_id WHERE fl.fulfillment_id = f.id), '[]') AS lines
		FROM fulfillments f WHERE `+where+` ORDER BY f.shipped_at, f.id`, args...).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("load fulfillments: %w", err)
	}
	out := make([]Fulfillment, len(rows))
	for i, r := range rows {
		out[i] = Fulfillment{ID: r.ID, OrderID: r.OrderID, Lines: r.Lines, Carrier: r.Carrier, TrackingNumber: r.TrackingNumber,
			TrackingURL: r.TrackingURL, Status: ShipmentStatus(r.Status), ShippedAt: r.ShippedAt, DeliveredAt: r.DeliveredAt}
	}
	return out, nil
}

// SendDeliveryConfirmation asks the customer whether a shipped order
// arrived, unless it was cancelled or refunded in full, or still has units
// to ship (the last shipment schedules it again). Safe to run twice.
func (s *Service) SendDeliveryConfirmation(ctx context.Context, orderID string) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		o, _, err := lockOrder(ctx, tx, "o.id = ?", orderID)
		if db.IsNoRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if o.Status == Cancelled || (o.PaymentStatus != PaymentPaid && o.PaymentStatus != PaymentPartiallyRefunded) ||
			(o.FulfillmentStatus != Shipped && o.FulfillmentStatus != Delivered) {
			return nil
		}
		return s.notify.Enqueue(ctx, tx, s.customerEmail(o, "delivery-confirmation", "delivery-confirmation:"+o.ID, map[string]any{}))
	})
}
