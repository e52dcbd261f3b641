package orders

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"commerce/internal/auth"
	"commerce/internal/catalog"
	"commerce/internal/customers"
	"commerce/internal/money"
	"commerce/internal/promotions"
	"commerce/internal/realtime"
)

// orderRow is an orders row as stored.
type orderRow struct {
	bun.BaseModel `bun:"table:orders"`

	ID                  string          `bun:"id,pk"`
	OrderNumber         string          `bun:"order_number"`
	CustomerID          *string         `bun:"customer_id"`
	Email               string          `bun:"email"`
	Currency            string          `bun:"currency"`
	Subtotal            int64           `bun:"subtotal"`
	Tax                 int64           `bun:"tax"`
	ShippingCost        int64           `bun:"shipping_cost"`
	Discount            int64           `bun:"discount"`
	Total               int64           `bun:"total"`
	RefundedAmount      int64           `bun:"refunded_amount"`
	Status              string          `bun:"status"`
	PaymentStatus       string          `bun:"payment_status"`
	FulfillmentStatus   string          `bun:"fulfillment_status"`
	PaymentIntentID     *string         `bun:"payment_intent_id"`
	PaymentClientSecret *string         `bun:"payment_client_secret"`
	ShippingAddress     json.RawMessage `bun:"shipping_address,type:jsonb"`
	BillingAddress      json.RawMessage `bun:"billing_address,type:jsonb"`
	Carrier             *string         `bun:"carrier"`
	TrackingNumber      *string         `bun:"tracking_number"`
	TrackingURL         *string         `bun:"tracking_url"`
	ShippedAt           *time.Time      `bun:"shipped_at"`
	DeliveredAt         *time.Time      `bun:"delivered_at"`
	PaidAt              *time.Time      `bun:"paid_at"`
	CancelledAt         *time.Time      `bun:"cancelled_at"`
	Notes               *string         `bun:"notes"`
	CartID              *string         `bun:"cart_id"`
	ClientNetwork       *string         `bun:"client_network"`
	ShippingMethodName  *string         `bun:"shipping_method_name"`
	TaxLines            json.RawMessage `bun:"tax_lines,type:jsonb"`
	// RefundBeforePayment is a refund seen before its payment, applied
	// when the payment arrives (see refundedBeforePayment).
	RefundBeforePayment int64 `bun:"refund_before_payment"`
	// DiscountAllocations are what the promotions took off the order.
	DiscountAllocations []promotions.Allocation `bun:"discount_allocations,type:jsonb"`
	CreatedAt           time.Time               `bun:"created_at,nullzero,default:now()"`
	UpdatedAt           time.Time               `bun:"updated_at,nullzero,default:now()"`
}

func (r *orderRow) order() (*Order, error) {
	c := r.Currency
	o := &Order{
		ID: r.ID, Number: r.OrderNumber, CustomerID: r.CustomerID, Email: r.Email,
		Subtotal: money.New(r.Subtotal, c), Tax: money.New(r.Tax, c), Shipping: money.New(r.ShippingCost, c),
		Discount: money.New(r.Discount, c), Total: money.New(r.Total, c), Refunded: money.New(r.RefundedAmount, c),
		RefundBeforePayment: money.New(r.RefundBeforePayment, c),
		Status:              Status(r.Status), PaymentStatus: PaymentStatus(r.PaymentStatus), FulfillmentStatus: FulfillmentStatus(r.FulfillmentStatus),
		PaymentIntentID: r.PaymentIntentID, PaymentClientSecret: r.PaymentClientSecret,
		Carrier: r.Carrier, TrackingNumber: r.TrackingNumber, TrackingURL: r.TrackingURL,
		ShippedAt: r.ShippedAt, DeliveredAt: r.DeliveredAt, PaidAt: r.PaidAt, CancelledAt: r.CancelledAt,
		Notes: r.Notes, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, DiscountAllocations: r.DiscountAllocations,
	}
	if o.DiscountAllocations == nil {
		o.DiscountAllocations = []promotions.Allocation{}
	}
	if err := json.Unmarshal(r.ShippingAddress, &o.ShippingAddress); err != nil {
		return nil, fmt.Errorf("decode shipping address of order %s: %w", r.ID, err)
	}
	if err := json.Unmarshal(r.BillingAddress, &o.BillingAddress); err != nil {
		return nil, fmt.Errorf("decode billing address of order %s: %w", r.ID, err)
	}
	o.ShippingMethodName, o.TaxLines = r.ShippingMethodName, []TaxLine{}
	if len(r.TaxLines) > 0 {
		if err := json.Unmarshal(r.TaxLines, &o.TaxLines); err != nil {
			return nil, fmt.Errorf("decode tax lines of order %s: %w", r.ID, err)
		}
	}
	for i := range o.TaxLines {
		o.TaxLines[i].Amount = money.New(o.TaxLines[i].Minor, c)
	}
	return o, nil
}

// lineRow is an order_lines row. The json tags read the rows lockOrder
// aggregates with json_agg.
type lineRow struct {
	bun.BaseModel `bun:"table:order_lines"`

	ID              string                   `bun:"id,nullzero" json:"id"`
	OrderID         string                   `bun:"order_id" json:"order_id"`
	Position        int                      `bun:"position" json:"position"`
	ProductID       *string                  `bun:"product_id" json:"product_id"`
	VariantID       *string                  `bun:"variant_id" json:"variant_id"`
	SKU             string                   `bun:"sku" json:"sku"`
	Name            string                   `bun:"name" json:"name"`
	VariantTitle    string                   `bun:"variant_title" json:"variant_title"`
	SelectedOptions []catalog.SelectedOption `bun:"selected_options,type:jsonb" json:"selected_options"`
	Quantity        int                      `bun:"quantity" json:"quantity"`
	UnitPrice       int64                    `bun:"unit_price" json:"unit_price"`
	LineTotal       int64                    `bun:"line_total" json:"line_total"`
	Discount        int64                    `bun:"discount" json:"discount"`
	// RefundedQuantity, ReturnedQuantity and FulfilledQuantity are
	// computed by selectLines, never stored.
	RefundedQuantity  int `bun:"refunded_quantity,scanonly" json:"-"`
	ReturnedQuantity  int `bun:"returned_quantity,scanonly" json:"-"`
	FulfilledQuantity int `bun:"fulfilled_quantity,scanonly" json:"-"`
}

func (r lineRow) line(currency string) Line {
	opts := r.SelectedOptions
	if opts == nil {
		opts = []catalog.SelectedOption{}
	}
	return Line{ID: r.ID, OrderID: r.OrderID, Position: r.Position, ProductID: r.ProductID, VariantID: r.VariantID,
		SKU: r.SKU, Name: r.Name, VariantTitle: r.VariantTitle, SelectedOptions: opts,
		Quantity: r.Quantity, UnitPrice: money.New(r.UnitPrice, currency), LineTotal: money.New(r.LineTotal, currency),
		Discount: money.New(r.Discount, currency), RefundedQuantity: r.RefundedQuantity,
		ReturnedQuantity: r.ReturnedQuantity, FulfilledQuantity: r.FulfilledQuantity}
}

// eventRow is an order_events row.
type eventRow struct {
	bun.BaseModel `bun:"table:order_events"`

	OrderID     string    `bun:"order_id"`
	Type        string    `bun:"type"`
	Message     *string   `bun:"message"`
	StaffUserID *string   `bun:"staff_user_id"` // who acted, when staff did
	CreatedAt   time.Time `bun:"created_at,nullzero,default:now()"`
}

// actor is the staff account whose request writes an order event: the
// caller of ctx when staff, else nil (a customer, a webhook, a job).
func actor(ctx context.Context) *string {
	if p := auth.FromContext(ctx); p.IsStaff() {
		return &p.ID
	}
	return nil
}

func newEvent(orderID, typ, message string) eventRow {
	e := eventRow{OrderID: orderID, Type: typ}
	if message != "" {
		e.Message = &message
	}
	return e
}

func addressJSON(a customers.Address) json.RawMessage {
	b, _ := json.Marshal(a)
	return b
}

// insertOrder writes an order, its lines and its first events in one
// statement: the order's INSERT and the lines' are CTEs of the events'
// INSERT. The foreign keys of lines and events to the order are checked at
// the end of the statement, when the order is there.
func insertOrder(ctx context.Context, idb bun.IDB, o *orderRow, lines []lineRow, events []eventRow) error {
	for i := range events {
		events[i].StaffUserID = actor(ctx)
	}
	err := idb.NewSelect().
		With("o", idb.NewInsert().Model(o).Returning("created_at, updated_at")).
		With("l", idb.NewInsert().Model(&lines)).
		With("e", idb.NewInsert().Model(&events)).
		TableExpr("o").Column("created_at", "updated_at").
		Scan(ctx, &o.CreatedAt, &o.UpdatedAt)
	if err != nil {
		return fmt.Errorf("insert order: %w", err)
	}
	realtime.Add(ctx, realtime.TopicOrders, statusRow{ID: o.ID, OrderNumber: o.OrderNumber, CustomerID: o.CustomerID,
		Status: o.Status, PaymentStatus: o.PaymentStatus, FulfillmentStatus: o.FulfillmentStatus, UpdatedAt: o.UpdatedAt}.event())
	return nil
}

func insertEvents(ctx context.Context, idb bun.IDB, events []eventRow) error {
	if len(events) == 0 {
		return nil
	}
	for i := range events {
		events[i].StaffUserID = actor(ctx)
	}
	if _, err := idb.NewInsert().Model(&events).Exec(ctx); err != nil {
		return fmt.Errorf("insert order events: %w", err)
	}
	return nil
}

// lockedOrder is an order read FOR UPDATE together with its lines.
type lockedOrder struct {
	orderRow
	Lines json.RawMessage `bun:"lines"`
}

// lockOrderSQL reads and locks an order with its lines in one statement.
const lockOrderSQL = `
SELECT o.*, coalesce((SELECT json_agg(l ORDER BY l.position) FROM order_lines l WHERE l.order_id = o.id), '[]') AS lines
FROM orders o WHERE %s
ORDER BY o.created_at DESC LIMIT 1
FOR UPDATE OF o`

// lockOrder reads and locks the order matching where (a condition on "o").
func lockOrder(ctx context.Context, idb bun.IDB, where string, args ...any) (*Order, []Line, error) {
	var r lockedOrder
	if err := idb.NewRaw(fmt.Sprintf(lockOrderSQL, where), args...).Scan(ctx, &r); err != nil {
		return nil, nil, err
	}
	o, err := r.order()
	if err != nil {
		return nil, nil, err
	}
	var rows []lineRow
	if err := json.Unmarshal(r.Lines, &rows); err != nil {
		return nil, nil, fmt.Errorf("decode lines of order %s: %w", o.ID, err)
	}
	lines := make([]Line, len(rows))
	for i, lr := range rows {
		lines[i] = lr.line(r.Currency)
	}
	return o, lines, nil
}

// orderUpdate is a change of an order's state plus the timeline events it
// writes, applied in one statement.
type orderUpdate struct {
	// set is an SQL SET list, e.g. "status = 'PROCESSING', paid_at = now()";
	// empty only touches updated_at (a timeline entry that changes no
	// column, still published to the order's subscribers).
	set    string
	args   []any
	events []eventRow
}

// statusRow is an order's status after an update.
type statusRow struct {
	ID                string    `bun:"id"`
	OrderNumber       string    `bun:"order_number"`
	CustomerID        *string   `bun:"customer_id"`
	Status            string    `bun:"status"`
	PaymentStatus     string    `bun:"payment_status"`
	FulfillmentStatus string    `bun:"fulfillment_status"`
	UpdatedAt         time.Time `bun:"updated_at"`
}

// updateOrder applies u to the order and appends its events in one
// statement, and queues the order's new status for publishing after commit.
func updateOrder(ctx context.Context, idb bun.IDB, orderID string, u orderUpdate) error {
	types := make([]string, len(u.events))
	messages := make([]string, len(u.events)) // "" stores NULL
	for i, e := range u.events {
		types[i] = e.Type
		if e.Message != nil {
			messages[i] = *e.Message
		}
	}
	set := "updated_at = now()"
	if u.set != "" {
		set = u.set + ", " + set
	}
	q := `WITH o AS (
			UPDATE orders SET ` + set + ` WHERE id = ?
			RETURNING id, order_number, customer_id, status, payment_status, fulfillment_status, updated_at
		), e AS (
			INSERT INTO order_events (order_id, type, message, staff_user_id)
			SELECT o.id, e.type, nullif(e.message, ''), ?::uuid FROM o, unnest(?::text[], ?::text[]) WITH ORDINALITY AS e(type, message, n)
			ORDER BY e.n
		)
		SELECT * FROM o`
	args := append(append([]any{}, u.args...), orderID, actor(ctx), pgdialect.Array(types), pgdialect.Array(messages))
	var st statusRow
	if err := idb.NewRaw(q, args...).Scan(ctx, &st); err != nil {
		return fmt.Errorf("update order: %w", err)
	}
	realtime.Add(ctx, realtime.TopicOrders, st.event())
	return nil
}

func (r statusRow) event() realtime.OrderStatus {
	return realtime.OrderStatus{OrderID: r.ID, OrderNumber: r.OrderNumber, CustomerID: r.CustomerID, Status: r.Status,
		PaymentStatus: r.PaymentStatus, FulfillmentStatus: r.FulfillmentStatus, Timestamp: r.UpdatedAt}
}

func selectOrders(ctx context.Context, idb bun.IDB, where string, args ...any) ([]*Order, error) {
	var rows []orderRow
	if err := idb.NewRaw(`SELECT * FROM orders WHERE `+where, args...).Scan(ctx, &rows); err != nil {
		return nil, err
	}
	out := make([]*Order, len(rows))
	for i := range rows {
		o, err := rows[i].order()
		if err != nil {
			return nil, err
		}
		out[i] = o
	}
	return out, nil
}

func selectLines(ctx context.Context, idb bun.IDB, orderIDs []string) (map[string][]Line, error) {
	var rows []struct {
		lineRow
		Currency string `bun:"currency"`
	}
	err := idb.NewRaw(`SELECT l.*, o.currency,
			(SELECT coalesce(sum(rl.quantity), 0) FROM refund_lines rl JOIN refunds r ON r.id = rl.refund_id
			 WHERE rl.order_line_id = l.id AND r.status <> 'FAILED') AS refunded_quantity,
			(SELECT coalesce(sum(rl.quantity), 0) FROM return_lines rl JOIN returns r ON r.id = rl.return_id
			 WHERE rl.order_line_id = l.id AND r.status NOT IN ('REJECTED', 'CANCELLED')) AS returned_quantity,
			(SELECT coalesce(sum(fl.quantity), 0) FROM fulfillment_lines fl WHERE fl.order_line_id = l.id) AS fulfilled_quantity
		FROM order_lines l JOIN orders o ON o.id = l.order_id
		WHERE l.order_id IN (?) ORDER BY l.order_id, l.position`, bun.In(orderIDs)).Scan(ctx, &rows)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]Line, len(orderIDs))
	for _, r := range rows {
		out[r.OrderID] = append(out[r.OrderID], r.line(r.Currency))
	}
	return out, nil
}

func selectEvents(ctx context.Context, idb bun.IDB, orderIDs []string) (map[string][]Event, error) {
	var rows []eventRow
	err := idb.NewRaw(`SELECT order_id, type, message, staff_user_id, created_at FROM order_events
		WHERE order_id IN (?) ORDER BY order_id, seq`, bun.In(orderIDs)).Scan(ctx, &rows)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]Event, len(orderIDs))
	for _, r := range rows {
		out[r.OrderID] = append(out[r.OrderID], Event{OrderID: r.OrderID, Type: r.Type, Message: r.Message, StaffUserID: r.StaffUserID, CreatedAt: r.CreatedAt})
	}
	return out, nil
}
