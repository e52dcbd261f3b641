package orders

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"commerce/internal/apperr"
	"commerce/internal/customers"
	"commerce/internal/inventory"
	"commerce/internal/money"
	"commerce/internal/payments"
	"commerce/internal/platform/db"
	"commerce/internal/webhooks"
)

// RefundStatus is where a refund is at the provider.
type RefundStatus string

// The refund statuses. A refund that is not FAILED holds its amount
// against the order's refundable amount.
const (
	RefundPending   RefundStatus = "PENDING"
	RefundSucceeded RefundStatus = "SUCCEEDED"
	RefundFailed    RefundStatus = "FAILED"
)

// Event types of refunds on the order timeline.
const (
	EventRefundFailed = "REFUND_FAILED"
)

// Refund is money given back on an order: by staff (with or without lines),
// by a cancellation, or in the provider's dashboard (no lines).
type Refund struct {
	ID               string
	OrderID          string
	Amount           money.Money
	Reason           *string
	Status           RefundStatus
	Lines            []RefundLine
	IncludesShipping bool
	CreatedAt        time.Time
	ProcessedAt      *time.Time
}

// RefundLine is the units of one order line a refund covers.
type RefundLine struct {
	OrderLineID string `json:"order_line_id"`
	Quantity    int    `json:"quantity"`
	Restocked   bool   `json:"restocked"`
}

// Refundable is what may still be refunded: the total less every refund
// that is not FAILED for an order that was paid; nothing for one never paid.
func (o *Order) Refundable() money.Money {
	if o.PaidAt == nil {
		return money.Zero(o.Total.Currency)
	}
	return money.New(max(o.Total.Amount-o.Refunded.Amount, 0), o.Total.Currency)
}

// RefundLineInput asks to refund quantity units of an order line.
type RefundLineInput struct {
	OrderLineID string
	Quantity    int
	Restock     bool
}

// RefundInput is a staff refund request.
type RefundInput struct {
	Lines []RefundLineInput
	// Amount, a decimal in the order's currency, overrides the computed
	// amount; required without lines.
	Amount          *string
	IncludeShipping bool
	Reason          *string
	NotifyCustomer  bool
	IdempotencyKey  string
}

// CreateRefund refunds part or all of a paid order for staff. In one
// transaction, under the order's row lock (so concurrent refunds are
// serialized and can never exceed what was paid), it returns the refund
// already made with the same idempotency key, or writes the refund and its
// lines, restocks the units asked for (RETURN ledger rows), takes the
// amount off the refundable amount and the customer's total spent, and
// queues the provider call (RefundArgs) for after commit.
//
// The amount defaults to what the units were paid (see unitsPaid) plus,
// with IncludeShipping, the shipping charged. Errors are userErrors: the
// order NotFound at ["id"], not paid at ["id"], a bad line at
// ["input","lines",i,...], and REFUND_EXCEEDS_PAID at ["input","amount"].
func (s *Service) CreateRefund(ctx context.Context, orderID string, in RefundInput) (*Order, *Refund, error) {
	key := strings.TrimSpace(in.IdempotencyKey)
	if key == "" || len(key) > maxIdempotencyKey {
		return nil, nil, apperr.InvalidField(apperr.Path("input", "idempotencyKey"), "must be 1 to %d characters", maxIdempotencyKey)
	}
	if internalRefundKey(key) {
		return nil, nil, apperr.InvalidField(apperr.Path("input", "idempotencyKey"), "this key is reserved; choose another")
	}
	in.IdempotencyKey = key
	if in.Reason != nil {
		r := truncate(strings.TrimSpace(*in.Reason), 500)
		in.Reason = &r
		if r == "" {
			in.Reason = nil
		}
	}
	var refundID string
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		o, lines, err := s.lockForStaff(ctx, tx, orderID)
		if err != nil {
			return err
		}
		refundID, err = s.refundLocked(ctx, tx, o, lines, in)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	o, err := s.ByID(ctx, orderID)
	if err != nil {
		return nil, nil, err
	}
	rs, err := selectRefunds(ctx, s.db.Bun, "r.id = ?", refundID)
	if err != nil {
		return nil, nil, err
	}
	if len(rs) == 1 {
		return o, &rs[0], nil
	}
	return nil, nil, fmt.Errorf("refund %s of order %s not found after commit", refundID, o.ID)
}

// internalRefundKey reports whether key has the shape of the keys of the
// refunds made by a cancellation ("cancel-" + order id) and on a return's
// receipt (returnRefundKey + return id). Staff may not use them: a
// cancellation would fail on the duplicate key, and a return's receipt
// would take the staff refund for its own, its units for shipped ones.
func internalRefundKey(key string) bool {
	for _, prefix := range []string{cancelRefundKey, returnRefundKey} {
		if rest, ok := strings.CutPrefix(key, prefix); ok && validUUID(rest) {
			return true
		}
	}
	return false
}

// refundLocked is CreateRefund once the order is locked in tx and the
// input normalized (a trimmed key, a trimmed reason or none): it returns
// the id of the refund made with the same key, or of the refund it writes.
func (s *Service) refundLocked(ctx context.Context, tx bun.Tx, o *Order, lines []Line, in RefundInput) (string, error) {
	key := in.IdempotencyKey
	var refundID string
	if err := tx.NewRaw(`SELECT id FROM refunds WHERE order_id = ? AND idempotency_key = ?`, o.ID, key).
		Scan(ctx, &refundID); err == nil || !db.IsNoRows(err) {
		return refundID, err
	}
	if o.PaidAt == nil || o.PaymentIntentID == nil {
		return "", apperr.InvalidField(apperr.Path("id"), "the order has not been paid")
	}
	done, err := refundedUnits(ctx, tx, o.ID)
	if err != nil {
		return "", err
	}
	rl, amount, err := refundLines(o, lines, done, in.Lines)
	if err != nil {
		return "", err
	}
	includesShipping := false
	if in.IncludeShipping {
		if includesShipping, err = shippingUnrefunded(ctx, tx, o.ID); err != nil {
			return "", err
		}
		if includesShipping {
			amount += o.Shipping.Amount
		}
	}
	if in.Amount != nil {
		m, err := money.Parse(*in.Amount, o.Total.Currency)
		if err != nil {
			return "", apperr.InvalidField(apperr.Path("input", "amount"), "not an amount in %s", o.Total.Currency)
		}
		amount = m.Amount
	}
	switch {
	case in.Amount == nil && len(in.Lines) == 0:
		return "", apperr.InvalidField(apperr.Path("input", "amount"), "an amount is required when no lines are refunded")
	case amount <= 0:
		return "", apperr.InvalidField(apperr.Path("input", "amount"), "the refund amount must be positive")
	case amount > o.Refundable().Amount:
		return "", apperr.Coded("REFUND_EXCEEDS_PAID", apperr.Path("input", "amount"),
			"the refund of %s exceeds the refundable %s", money.New(amount, o.Total.Currency), o.Refundable())
	}
	return s.reserveRefund(ctx, tx, o, lines, newRefund{amount: amount, reason: in.Reason, key: &key,
		lines: rl, includesShipping: includesShipping, notify: in.NotifyCustomer})
}

// newRefund is a refund about to be written.
type newRefund struct {
	amount           int64
	reason           *string
	key              *string
	lines            []RefundLine
	includesShipping bool
	notify           bool
}

// reserveRefund writes a PENDING refund of a paid order and everything
// that goes with it in tx (the order is locked): its lines, RETURN rows for
// the restocked units, the order's refunded amount and payment status, the
// customer's total spent, the timeline, the webhook and the provider job.
func (s *Service) reserveRefund(ctx context.Context, tx bun.Tx, o *Order, lines []Line, r newRefund) (string, error) {
	var id string
	err := tx.NewRaw(`INSERT INTO refunds (order_id, amount, currency, reason, status, includes_shipping, notify_customer, idempotency_key)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, o.ID, r.amount, o.Total.Currency, r.reason, string(RefundPending),
		r.includesShipping, r.notify, r.key).Scan(ctx, &id)
	if err != nil {
		return "", fmt.Errorf("insert refund: %w", err)
	}
	if err := insertRefundLines(ctx, tx, id, r.lines); err != nil {
		return "", err
	}
	if err := s.restock(ctx, tx, o, lines, r.lines); err != nil {
		return "", err
	}
	if err := s.recordRefund(ctx, tx, o, r.amount); err != nil {
		return "", err
	}
	amount := money.New(r.amount, o.Total.Currency)
	if err := s.setRefunded(ctx, tx, o, o.Refunded.Amount+r.amount, newEvent(o.ID, EventRefundRequested, "Refunding "+amount.String())); err != nil {
		return "", err
	}
	if err := s.refundedTheRest(ctx, tx, o, lines); err != nil {
		return "", err
	}
	return id, s.insertJobs(ctx, tx, river.InsertManyParams{Args: RefundArgs{OrderID: o.ID, IntentID: *o.PaymentIntentID,
		Amount: r.amount, Currency: o.Total.Currency, Key: "refund-" + id, RefundID: id}})
}

// setRefunded stores the order's refunded amount (every refund that is not
// FAILED) and the payment status it implies, and announces the change.
func (s *Service) setRefunded(ctx context.Context, tx bun.Tx, o *Order, refunded int64, events ...eventRow) error {
	status := PaymentPaid
	switch {
	case refunded >= o.Total.Amount:
		status = PaymentRefunded
	case refunded > 0:
		status = PaymentPartiallyRefunded
	}
	err := updateOrder(ctx, tx, o.ID, orderUpdate{
		set: "payment_status = ?, refunded_amount = ?", args: []any{string(status), refunded}, events: events,
	})
	if err != nil {
		return err
	}
	return s.announce(ctx, tx, webhooks.OrderRefunded, o.ID)
}

// insertRefundLines writes a refund's lines in one statement, as
// insertFulfillment does a shipment's.
func insertRefundLines(ctx context.Context, tx bun.Tx, refundID string, lines []RefundLine) error {
	if len(lines) == 0 {
		return nil
	}
	ids, qs, restocked := make([]string, len(lines)), make([]int, len(lines)), make([]bool, len(lines))
	for i, l := range lines {
		ids[i], qs[i], restocked[i] = l.OrderLineID, l.Quantity, l.Restocked
	}
	_, err := tx.NewRaw(`INSERT INTO refund_lines (refund_id, order_line_id, quantity, restocked)
		SELECT ?, l.id, l.quantity, l.restocked FROM unnest(?::uuid[], ?::int[], ?::bool[]) AS l(id, quantity, restocked)`,
		refundID, pgdialect.Array(ids), pgdialect.Array(qs), pgdialect.Array(restocked)).Exec(ctx)
	if err != nil {
		return fmt.Errorf("insert refund lines: %w", err)
	}
	return nil
}

// restock writes a RETURN ledger row per variant for the restocked units.
// A line whose variant was deleted has no stock to return.
func (s *Service) restock(ctx context.Context, tx bun.Tx, o *Order, lines []Line, rl []RefundLine) error {
	byID := make(map[string]Line, len(lines))
	for _, l := range lines {
		byID[l.ID] = l
	}
	note := "Refund of order " + o.Number
	var changes []inventory.Change
	for _, r := range rl {
		if l := byID[r.OrderLineID]; r.Restocked && l.VariantID != nil {
			changes = append(changes, inventory.Change{VariantID: *l.VariantID, Type: inventory.Return, Quantity: r.Quantity,
				ReferenceID: &o.ID, Notes: &note})
		}
	}
	if len(changes) == 0 {
		return nil
	}
	_, failed, err := s.ledger.ApplyAll(ctx, tx, inventory.InIDOrder(changes))
	if err != nil {
		return fmt.Errorf("restock order %s: %w", o.ID, err)
	}
	if len(failed) > 0 {
		return fmt.Errorf("restock order %s: %d variants refused the return", o.ID, len(failed))
	}
	return nil
}

// unitsDone is what earlier refunds that are not FAILED covered of a line.
type unitsDone struct{ refunded, restocked int }

// refundedUnits sums, per order line, the units of the order's refunds
// that are not FAILED.
func refundedUnits(ctx context.Context, idb bun.IDB, orderID string) (map[string]unitsDone, error) {
	var rows []struct {
		LineID    string `bun:"order_line_id"`
		Refunded  int    `bun:"refunded"`
		Restocked int    `bun:"restocked"`
	}
	err := idb.NewRaw(`SELECT rl.order_line_id, sum(rl.quantity) AS refunded,
			coalesce(sum(rl.quantity) FILTER (WHERE rl.restocked), 0) AS restocked
		FROM refund_lines rl JOIN refunds r ON r.id = rl.refund_id
		WHERE r.order_id = ? AND r.status <> ? GROUP BY rl.order_line_id`, orderID, string(RefundFailed)).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("sum refunded units: %w", err)
	}
	out := make(map[string]unitsDone, len(rows))
	for _, r := range rows {
		out[r.LineID] = unitsDone{refunded: r.Refunded, restocked: r.Restocked}
	}
	return out, nil
}

// shippingUnrefunded reports whether no refund that is not FAILED gave
// back the shipping yet.
func shippingUnrefunded(ctx context.Context, idb bun.IDB, orderID string) (bool, error) {
	var n int
	err := idb.NewRaw(`SELECT count(*) FROM refunds WHERE order_id = ? AND includes_shipping AND status <> ?`,
		orderID, string(RefundFailed)).Scan(ctx, &n)
	if err != nil {
		return false, fmt.Errorf("read shipping refunds: %w", err)
	}
	return n == 0, nil
}

// refundLines checks the requested lines (known, positive, within what is
// not refunded yet, each line once) and returns them with the amount the
// units were paid.
func refundLines(o *Order, lines []Line, done map[string]unitsDone, in []RefundLineInput) ([]RefundLine, int64, error) {
	paid := linesPaid(o, lines)
	byID := make(map[string]int, len(lines))
	for i, l := range lines {
		byID[l.ID] = i
	}
	var out []RefundLine
	var amount int64
	seen := map[string]bool{}
	for i, r := range in {
		id := strings.ToLower(r.OrderLineID)
		li, ok := byID[id]
		if !validUUID(r.OrderLineID) || !ok {
			return nil, 0, apperr.Field(apperr.NotFound, apperr.Path("input", "lines", i, "orderLineId"), "no such line on this order")
		}
		if seen[id] {
			return nil, 0, apperr.InvalidField(apperr.Path("input", "lines", i, "orderLineId"), "the line is listed twice")
		}
		seen[id] = true
		l, before := lines[li], done[id].refunded
		if r.Quantity <= 0 || r.Quantity > l.Quantity-before {
			return nil, 0, apperr.InvalidField(apperr.Path("input", "lines", i, "quantity"),
				"must be between 1 and the %d units not refunded yet", l.Quantity-before)
		}
		amount += unitsPaid(paid[li], l.Quantity, before, r.Quantity)
		out = append(out, RefundLine{OrderLineID: id, Quantity: r.Quantity, Restocked: r.Restock})
	}
	return out, amount, nil
}

// linesPaid is what the customer paid for each line: the order's total
// less its shipping, spread over the lines in proportion to their line
// totals. A line's share thus carries its part of the order discount and
// of the tax (whether prices include tax or not), and the shares add up,
// with the shipping, to exactly what was paid; the remainder of the
// division goes to the first lines, a minor unit each.
func linesPaid(o *Order, lines []Line) []int64 {
	out := make([]int64, len(lines))
	goods := o.Total.Amount - o.Shipping.Amount
	if goods <= 0 || o.Subtotal.Amount <= 0 {
		return out
	}
	left := goods
	for i, l := range lines {
		out[i] = mulDivDown(goods, l.LineTotal.Amount, o.Subtotal.Amount)
		left -= out[i]
	}
	for i := 0; left > 0 && len(lines) > 0; i = (i + 1) % len(lines) {
		out[i]++
		left--
	}
	return out
}

// unitsPaid is what q units of a line of quantity units were paid when
// before units of it were refunded already: the cumulative share of the
// line's paid amount, so that refunding every unit, however split, gives
// back exactly the line's paid amount.
func unitsPaid(linePaid int64, quantity, before, q int) int64 {
	return mulDivDown(linePaid, int64(before+q), int64(quantity)) - mulDivDown(linePaid, int64(before), int64(quantity))
}

// mulDivDown is a × b / c rounded down, for 0 ≤ b ≤ c and c > 0; the
// product is taken in big.Int, as amounts times totals overflow int64.
func mulDivDown(a, b, c int64) int64 {
	p := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
	return p.Quo(p, big.NewInt(c)).Int64()
}

// Refunds returns each order's refunds, oldest first, in one query.
func (s *Service) Refunds(ctx context.Context, orderIDs []string) ([][]Refund, error) {
	refunds, err := selectRefunds(ctx, s.db.Bun, "r.order_id IN (?)", bun.In(orderIDs))
	if err != nil {
		return nil, err
	}
	return perOrder(orderIDs, refunds, func(r Refund) string { return r.OrderID }), nil
}

// selectRefunds reads the refunds matching where (a condition on "r"),
// oldest first, with their lines in the order's line order.
func selectRefunds(ctx context.Context, idb bun.IDB, where string, args ...any) ([]Refund, error) {
	var rows []struct {
		ID               string       `bun:"id"`
		OrderID          string       `bun:"order_id"`
		Amount           int64        `bun:"amount"`
		Currency         string       `bun:"currency"`
		Reason           *string      `bun:"reason"`
		Status           string       `bun:"status"`
		IncludesShipping bool         `bun:"includes_shipping"`
		CreatedAt        time.Time    `bun:"created_at"`
		ProcessedAt      *time.Time   `bun:"processed_at"`
		Lines            []RefundLine `bun:"lines,type:jsonb"`
	}
	err := idb.NewRaw(`SELECT r.id, r.order_id, r.amount, r.currency, r.reason, r.status, r.includes_shipping,
			r.created_at, r.processed_at,
			coalesce((SELECT json_agg(json_build_object('order_line_id', rl.order_line_id, 'quantity', rl.quantity,
				'restocked', rl.restocked) ORDER BY l.position) FROM refund_lines rl JOIN order_lines l ON l.id = rl.order_line_id
				WHERE rl.refund_id = r.id), '[]') AS lines
		FROM refunds r WHERE `+where+` ORDER BY r.created_at, r.id`, args...).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("load refunds: %w", err)
	}
	refunds := make([]Refund, len(rows))
	for i, r := range rows {
		refunds[i] = Refund{ID: r.ID, OrderID: r.OrderID, Amount: money.New(r.Amount, r.Currency),
			Reason: r.Reason, Status: RefundStatus(r.Status), Lines: r.Lines, IncludesShipping: r.IncludesShipping,
			CreatedAt: r.CreatedAt, ProcessedAt: r.ProcessedAt}
	}
	return refunds, nil
}

// RefundByID returns one refund. It returns NotFound for an unknown or
// malformed id.
func (s *Service) RefundByID(ctx context.Context, id string) (*Refund, error) {
	notFound := apperr.New(apperr.NotFound, "refund not found")
	if !validUUID(id) {
		return nil, notFound
	}
	rs, err := selectRefunds(ctx, s.db.Bun, "r.id = ?", strings.ToLower(id))
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, notFound
	}
	return &rs[0], nil
}

// Refund runs the RefundArgs job: it asks the provider to refund, with
// the job's idempotency key, so a retry never refunds twice. A job for a
// refund row (RefundID) then marks it SUCCEEDED and emails the customer,
// or, when the provider refuses (apperr.PaymentFailed), marks it FAILED
// and frees its amount; other errors are retried by River, and the last
// attempt's error fails the refund (RefundGaveUp). A job without RefundID
// gives back a payment that does not belong to its order (see
// refundMismatch); nothing is recorded for it.
func (s *Service) Refund(ctx context.Context, a RefundArgs) error {
	if a.RefundID != "" {
		var status string
		err := s.db.Bun.NewRaw(`SELECT status FROM refunds WHERE id = ?`, a.RefundID).Scan(ctx, &status)
		if db.IsNoRows(err) || (err == nil && status != string(RefundPending)) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read refund %s: %w", a.RefundID, err)
		}
	}
	amount := money.New(a.Amount, a.Currency)
	rf, err := s.provider.Refund(ctx, a.IntentID, &amount, a.Key)
	if err != nil {
		if a.RefundID != "" && apperr.KindOf(err) == apperr.PaymentFailed {
			s.log.Warn("refund refused by the provider", "order_id", a.OrderID, "refund_id", a.RefundID, "error", err)
			return s.failRefund(ctx, a, refusal(err))
		}
		return fmt.Errorf("refund order %s: %w", a.OrderID, err)
	}
	if a.RefundID == "" {
		return nil
	}
	return s.refundSucceeded(ctx, a, rf.ID)
}

// RefundGaveUp fails the job's refund after its last attempt erred: the
// amount goes back to the refundable amount.
func (s *Service) RefundGaveUp(ctx context.Context, a RefundArgs, cause error) error {
	if a.RefundID == "" {
		return cause
	}
	s.log.Error("refund failed after its last attempt", "order_id", a.OrderID, "refund_id", a.RefundID, "error", cause)
	if err := s.failRefund(ctx, a, "the payment provider could not be reached"); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// refusal is the provider's reason, when safe to show on the timeline.
func refusal(err error) string {
	var ae *apperr.Error
	if errors.As(err, &ae) && ae.Message != "" {
		return ae.Message
	}
	return "refused by the payment provider"
}

// refundSucceeded marks a PENDING refund SUCCEEDED with the provider's id,
// moves the return it was made for to REFUNDED (returnRefunded), and
// emails the customer when asked to.
func (s *Service) refundSucceeded(ctx context.Context, a RefundArgs, providerID string) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		o, lines, err := lockOrder(ctx, tx, "o.id = ?", a.OrderID)
		if err != nil {
			return err
		}
		var r struct {
			Notify           bool    `bun:"notify_customer"`
			Reason           *string `bun:"reason"`
			IncludesShipping bool    `bun:"includes_shipping"`
		}
		err = tx.NewRaw(`UPDATE refunds SET status = ?, provider_refund_id = nullif(?, ''), processed_at = now()
			WHERE id = ? AND status = ? RETURNING notify_customer, reason, includes_shipping`,
			string(RefundSucceeded), providerID, a.RefundID, string(RefundPending)).Scan(ctx, &r)
		if db.IsNoRows(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("mark refund %s succeeded: %w", a.RefundID, err)
		}
		// The order itself does not change (its timeline says
		// REFUND_REQUESTED when the amount was reserved); the refund's
		// status and processedAt say the money went back.
		amount := money.New(a.Amount, a.Currency)
		if err := s.returnRefunded(ctx, tx, o, lines, a.RefundID, amount); err != nil {
			return err
		}
		if !r.Notify {
			return nil
		}
		units, err := refundUnitsForEmail(ctx, tx, a.RefundID, lines)
		if err != nil {
			return err
		}
		data := map[string]any{"amount": amount.String(), "lines": units, "includes_shipping": r.IncludesShipping}
		if r.Reason != nil {
			data["reason"] = *r.Reason
		}
		return s.notify.Enqueue(ctx, tx, s.customerEmail(o, "order-refunded", "refunded:"+a.RefundID, data))
	})
}

// refundUnitsForEmail lists a refund's units as the order-refunded email
// shows them.
func refundUnitsForEmail(ctx context.Context, tx bun.Tx, refundID string, lines []Line) ([]map[string]any, error) {
	var rows []RefundLine
	if err := tx.NewRaw(`SELECT order_line_id, quantity, restocked FROM refund_lines WHERE refund_id = ?`, refundID).
		Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("read refund lines: %w", err)
	}
	out := []map[string]any{}
	for _, l := range lines {
		for _, r := range rows {
			if r.OrderLineID == l.ID {
				m := emailLines([]Line{l})[0]
				m["quantity"] = r.Quantity
				out = append(out, m)
			}
		}
	}
	return out, nil
}

// failRefund marks the job's refund FAILED if it is still PENDING (see
// failRefundTx).
func (s *Service) failRefund(ctx context.Context, a RefundArgs, why string) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		o, _, err := lockOrder(ctx, tx, "o.id = ?", a.OrderID)
		if err != nil {
			return err
		}
		return s.failRefundTx(ctx, tx, o, "id = ? AND status = ?", []any{a.RefundID, string(RefundPending)}, why)
	})
}

// failRefundTx marks the refund of o matching where FAILED and frees its
// amount: the order's refunded amount and payment status, and the
// customer's total spent, are as before it. Restocked units stay in stock
// (they came back). No matching refund changes nothing.
func (s *Service) failRefundTx(ctx context.Context, tx bun.Tx, o *Order, where string, args []any, why string) error {
	var amount int64
	err := tx.NewRaw(`UPDATE refunds SET status = ?, processed_at = now() WHERE order_id = ? AND `+where+` RETURNING amount`,
		append([]any{string(RefundFailed), o.ID}, args...)...).Scan(ctx, &amount)
	if db.IsNoRows(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mark a refund of order %s failed: %w", o.ID, err)
	}
	if o.CustomerID != nil {
		if err := customers.RecordRefundReversed(ctx, tx, *o.CustomerID, amount); err != nil {
			return err
		}
	}
	m := money.New(amount, o.Total.Currency)
	return s.setRefunded(ctx, tx, o, max(o.Refunded.Amount-amount, 0),
		newEvent(o.ID, EventRefundFailed, "Refund of "+m.String()+" failed: "+why))
}

// refundUpdated applies a provider's refund.updated: a refund of ours
// that failed or was cancelled after the provider accepted it is FAILED
// and frees its amount. Other changes are for charge.refunded to count.
func (s *Service) refundUpdated(ctx context.Context, tx bun.Tx, o *Order, e payments.Event) error {
	if e.RefundID == "" || (e.RefundStatus != "failed" && e.RefundStatus != "canceled") {
		return nil
	}
	return s.failRefundTx(ctx, tx, o, "provider_refund_id = ? AND status <> ?", []any{e.RefundID, string(RefundFailed)},
		"the payment provider reports it "+e.RefundStatus)
}

// recordProviderRefund reconciles a provider event that reports refunded,
// the total refunded on the order's payment so far, with the refunds we
// hold (the order is locked in tx): what our refunds that are not FAILED
// already cover changes nothing, so a refund we made is not counted twice;
// anything beyond is a refund made at the provider (its dashboard), which
// is recorded as a SUCCEEDED refund without lines.
func (s *Service) recordProviderRefund(ctx context.Context, tx bun.Tx, o *Order, refunded int64) error {
	extra := min(refunded, o.Total.Amount) - o.Refunded.Amount
	if extra <= 0 {
		return nil
	}
	reason := "Refunded at the payment provider"
	_, err := tx.NewRaw(`INSERT INTO refunds (order_id, amount, currency, reason, status, processed_at)
		VALUES (?, ?, ?, ?, ?, now())`, o.ID, extra, o.Total.Currency, reason, string(RefundSucceeded)).Exec(ctx)
	if err != nil {
		return fmt.Errorf("insert provider refund: %w", err)
	}
	if err := s.recordRefund(ctx, tx, o, extra); err != nil {
		return err
	}
	m := money.New(extra, o.Total.Currency)
	return s.setRefunded(ctx, tx, o, o.Refunded.Amount+extra, newEvent(o.ID, EventRefunded, reason+": "+m.String()))
}
