package orders

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/carts"
	"commerce/internal/money"
	"commerce/internal/platform/db"
	"commerce/internal/platform/page"
)

// ReturnStatus is where a return is.
type ReturnStatus string

// The return statuses. A return that is not REJECTED or CANCELLED holds
// its units against what may still be returned of their lines.
const (
	ReturnRequested ReturnStatus = "REQUESTED"
	ReturnApproved  ReturnStatus = "APPROVED"
	ReturnRejected  ReturnStatus = "REJECTED"
	ReturnReceived  ReturnStatus = "RECEIVED"
	ReturnRefunded  ReturnStatus = "REFUNDED"
	ReturnCancelled ReturnStatus = "CANCELLED"
)

// Event types of returns on the order timeline.
const (
	EventReturnRequested = "RETURN_REQUESTED"
	EventReturnApproved  = "RETURN_APPROVED"
	EventReturnRejected  = "RETURN_REJECTED"
	EventReturnReceived  = "RETURN_RECEIVED"
	EventReturnRefunded  = "RETURN_REFUNDED"
)

// Bounds of a return request: an order has at most as many lines as a cart,
// and notes and reasons are cut like a refund's reason.
const (
	maxReturnLines  = carts.MaxLinesPerRequest
	maxReturnNote   = 1000
	maxReturnReason = 500
)

// Return is shipped units a shopper sends back.
type Return struct {
	ID           string
	Number       string
	OrderID      string
	Status       ReturnStatus
	CustomerNote *string
	StaffNote    *string
	// RefundID is the refund made on receipt; nil before, or when the
	// return was received without a refund.
	RefundID  *string
	Lines     []ReturnLine
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ReturnLine is the units of one order line a return covers.
type ReturnLine struct {
	OrderLineID string  `json:"order_line_id"`
	Quantity    int     `json:"quantity"`
	Reason      *string `json:"reason"`
}

// ReturnLineInput asks to return quantity units of an order line.
type ReturnLineInput struct {
	OrderLineID string
	Quantity    int
	Reason      *string
}

// ReturnRequestInput is a return request: the order by number, with the
// order's email or access token for a guest.
type ReturnRequestInput struct {
	OrderNumber string
	Email       *string
	AccessToken *string
	Lines       []ReturnLineInput
	Note        *string
}

// RequestReturn writes a REQUESTED return for whoever may read the order
// (see MayRead: staff, its owner, or a holder of its email or access
// token). Under the order's row lock, so concurrent requests are
// serialized, each line's units may not exceed those shipped less those in
// returns that are not REJECTED or CANCELLED (RETURN_QUANTITY_EXCEEDED at
// ["input","lines",i,"quantity"]), nor those that shipped within
// ReturnWindow (RETURN_WINDOW_EXPIRED at ["input","lines",i]). An
// order the caller may not read is the same NotFound at
// ["input","orderNumber"] as an unknown one, and nothing is written. The
// order's timeline gets RETURN_REQUESTED, its subscribers its status, and
// the customer the return-requested email.
func (s *Service) RequestReturn(ctx context.Context, p auth.Principal, in ReturnRequestInput) (*Return, error) {
	if len(in.Lines) == 0 || len(in.Lines) > maxReturnLines {
		return nil, apperr.InvalidField(apperr.Path("input", "lines"), "give 1 to %d lines", maxReturnLines)
	}
	note := cleanText(in.Note, maxReturnNote)
	var id string
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		o, lines, err := lockOrder(ctx, tx, "o.order_number = ?", strings.ToUpper(strings.TrimSpace(in.OrderNumber)))
		if db.IsNoRows(err) || (err == nil && !s.MayRead(p, o, in.Email, in.AccessToken)) {
			return apperr.Field(apperr.NotFound, apperr.Path("input", "orderNumber"), "order not found")
		}
		if err != nil {
			return err
		}
		units, err := returnableUnits(ctx, tx, o.ID, s.now().Add(-s.cfg.ReturnWindow))
		if err != nil {
			return err
		}
		rl, err := s.returnLines(units, in.Lines)
		if err != nil {
			return err
		}
		r := &Return{Number: newReturnNumber(), OrderID: o.ID, Status: ReturnRequested, CustomerNote: note, Lines: rl}
		if err := tx.NewRaw(`INSERT INTO returns (return_number, order_id, status, customer_note) VALUES (?, ?, ?, ?) RETURNING id`,
			r.Number, o.ID, string(ReturnRequested), note).Scan(ctx, &id); err != nil {
			return fmt.Errorf("insert return: %w", err)
		}
		r.ID = id
		for _, l := range rl {
			if _, err := tx.NewRaw(`INSERT INTO return_lines (return_id, order_line_id, quantity, reason) VALUES (?, ?, ?, ?)`,
				id, l.OrderLineID, l.Quantity, l.Reason).Exec(ctx); err != nil {
				return fmt.Errorf("insert return line: %w", err)
			}
		}
		return s.returnStep(ctx, tx, o, lines, r, returnChange{event: EventReturnRequested,
			message: "Return " + r.Number + " requested", email: "return-requested", note: note})
	})
	if err != nil {
		return nil, err
	}
	return s.returnByID(ctx, id)
}

// lineUnits is what a line shipped, what of it shipped after the start of
// the return window, and what of it is in returns that are not REJECTED or
// CANCELLED.
type lineUnits struct {
	LineID   string `bun:"order_line_id"`
	Shipped  int    `bun:"shipped"`
	InWindow int    `bun:"in_window"`
	Returned int    `bun:"returned"`
}

// returnableUnits reads, per line of the order, its units shipped, shipped
// since windowStart, and returned (the order is locked in tx, so they
// cannot change meanwhile).
func returnableUnits(ctx context.Context, tx bun.Tx, orderID string, windowStart time.Time) (map[string]lineUnits, error) {
	var rows []lineUnits
	err := tx.NewRaw(`SELECT l.id AS order_line_id,
			coalesce((SELECT sum(fl.quantity) FROM fulfillment_lines fl WHERE fl.order_line_id = l.id), 0) AS shipped,
			coalesce((SELECT sum(fl.quantity) FROM fulfillment_lines fl JOIN fulfillments f ON f.id = fl.fulfillment_id
			 WHERE fl.order_line_id = l.id AND f.shipped_at >= ?), 0) AS in_window,
			coalesce((SELECT sum(rl.quantity) FROM return_lines rl JOIN returns r ON r.id = rl.return_id
			 WHERE rl.order_line_id = l.id AND r.status NOT IN (?, ?)), 0) AS returned
		FROM order_lines l WHERE l.order_id = ?`, windowStart, string(ReturnRejected), string(ReturnCancelled), orderID).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("read returnable units: %w", err)
	}
	out := make(map[string]lineUnits, len(rows))
	for _, r := range rows {
		out[r.LineID] = r
	}
	return out, nil
}

// returnRefundKey prefixes the return's id in the idempotency key of the
// refund made on its receipt, and cancelRefundKey the order's id in that
// of a cancellation's refund.
const (
	returnRefundKey = "return-"
	cancelRefundKey = "cancel-"
)

// returnRefundedUnits sums, per order line, the units of the refunds that
// are not FAILED made on receipt of the order's returns. They are found by
// their idempotency key, which is written with the refund, before the
// return names it (refund_id) at the end of its receipt.
func returnRefundedUnits(ctx context.Context, idb bun.IDB, orderID string) (map[string]int, error) {
	var rows []struct {
		LineID   string `bun:"order_line_id"`
		Quantity int    `bun:"quantity"`
	}
	err := idb.NewRaw(`SELECT rl.order_line_id, sum(rl.quantity) AS quantity
		FROM refunds r JOIN refund_lines rl ON rl.refund_id = r.id
		JOIN returns rt ON rt.order_id = r.order_id AND r.idempotency_key = ? || rt.id::text
		WHERE r.order_id = ? AND r.status <> ? GROUP BY rl.order_line_id`,
		returnRefundKey, orderID, string(RefundFailed)).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("sum the units of return refunds: %w", err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.LineID] = r.Quantity
	}
	return out, nil
}

// returnLines checks the requested lines (known, each once, a positive
// quantity within what was shipped and not yet in a return, and within
// what shipped in the window) and returns them normalized. units has a
// row for every line of the order, so a line it lacks is not the order's.
func (s *Service) returnLines(units map[string]lineUnits, in []ReturnLineInput) ([]ReturnLine, error) {
	seen := map[string]bool{}
	out := make([]ReturnLine, 0, len(in))
	for i, r := range in {
		id := strings.ToLower(r.OrderLineID)
		u, known := units[id]
		if !validUUID(r.OrderLineID) || !known {
			return nil, apperr.Field(apperr.NotFound, apperr.Path("input", "lines", i, "orderLineId"), "no such line on this order")
		}
		if seen[id] {
			return nil, apperr.InvalidField(apperr.Path("input", "lines", i, "orderLineId"), "the line is listed twice")
		}
		seen[id] = true
		if r.Quantity <= 0 {
			return nil, apperr.InvalidField(apperr.Path("input", "lines", i, "quantity"), "must be at least 1")
		}
		expired := apperr.Coded("RETURN_WINDOW_EXPIRED", apperr.Path("input", "lines", i),
			"at most %d units of this line shipped within the last %s", u.InWindow, s.cfg.ReturnWindow)
		if u.Shipped > 0 && u.InWindow == 0 {
			return nil, expired
		}
		if left := u.Shipped - u.Returned; r.Quantity > left {
			return nil, apperr.Coded("RETURN_QUANTITY_EXCEEDED", apperr.Path("input", "lines", i, "quantity"),
				"at most %d units of this line may be returned (shipped and not in a return yet)", max(left, 0))
		}
		// Units shipped before the window may not come back, even with
		// ones shipped since: a line shipped in parts is not returnable
		// in full because its last part shipped recently.
		if r.Quantity > u.InWindow {
			return nil, expired
		}
		out = append(out, ReturnLine{OrderLineID: id, Quantity: r.Quantity, Reason: cleanText(r.Reason, maxReturnReason)})
	}
	return out, nil
}

// ApproveReturn accepts a REQUESTED return (APPROVED), with an optional
// note to the customer; the return-approved email tells them to send it.
func (s *Service) ApproveReturn(ctx context.Context, id string, note *string) (*Return, error) {
	n := cleanText(note, maxReturnNote)
	return s.moveReturn(ctx, id, ReturnApproved, []ReturnStatus{ReturnRequested},
		func(context.Context, bun.Tx, *Order, []Line, *Return) (returnChange, error) {
			return returnChange{staffNote: n, note: n, event: EventReturnApproved, email: "return-approved"}, nil
		})
}

// RejectReturn refuses a REQUESTED or APPROVED return (REJECTED): its units
// may be returned again. The note, required (INVALID at ["note"]), says
// why in the return-rejected email.
func (s *Service) RejectReturn(ctx context.Context, id, note string) (*Return, error) {
	n := cleanText(&note, maxReturnNote)
	if n == nil {
		return nil, apperr.InvalidField(apperr.Path("note"), "say why the return is rejected")
	}
	return s.moveReturn(ctx, id, ReturnRejected, []ReturnStatus{ReturnRequested, ReturnApproved},
		func(context.Context, bun.Tx, *Order, []Line, *Return) (returnChange, error) {
			return returnChange{staffNote: n, note: n, event: EventReturnRejected, email: "return-rejected"}, nil
		})
}

// ReceiveReturn records that an APPROVED return arrived (RECEIVED). With
// restock its units go back to stock (RETURN ledger rows), but for units
// of its lines that refunds restocked already. With refund,
// the units not refunded yet are refunded through CreateRefund's rules in
// the same transaction, with the idempotency key "return-" + id (so the
// return and its refund are made together or not at all); the return
// becomes REFUNDED, with the return-refunded email, once the provider
// confirms the refund (returnRefunded). A refund error is a userError at
// ["refund"] and changes nothing. Without refund, or with nothing left to
// refund, RECEIVED is final.
func (s *Service) ReceiveReturn(ctx context.Context, id string, restock, refund bool) (*Return, error) {
	return s.moveReturn(ctx, id, ReturnReceived, []ReturnStatus{ReturnApproved},
		func(ctx context.Context, tx bun.Tx, o *Order, lines []Line, r *Return) (returnChange, error) {
			c := returnChange{event: EventReturnReceived}
			var toRefund []RefundLineInput
			var restocked []RefundLine // units restocked outside the refund
			done, err := refundedUnits(ctx, tx, o.ID)
			if err != nil {
				return c, err
			}
			for _, rl := range r.Lines {
				d, unrefunded, q := done[rl.OrderLineID], lineQuantity(lines, rl.OrderLineID)-done[rl.OrderLineID].refunded, 0
				if refund {
					q = min(rl.Quantity, unrefunded)
				}
				if q > 0 {
					toRefund = append(toRefund, RefundLineInput{OrderLineID: rl.OrderLineID, Quantity: q, Restock: restock})
				}
				if restock {
					// The other units are first those left unrefunded, then
					// refunded ones; a refund that restocked units put
					// them back already, so only those refunded without
					// restock come back now.
					rest := rl.Quantity - q
					kept := min(rest, unrefunded-q)
					if n := kept + min(rest-kept, max(d.refunded-d.restocked, 0)); n > 0 {
						restocked = append(restocked, RefundLine{OrderLineID: rl.OrderLineID, Quantity: n, Restocked: true})
					}
				}
			}
			if err := s.restock(ctx, tx, o, lines, restocked); err != nil {
				return c, err
			}
			switch {
			case len(toRefund) > 0:
				reason := "Return " + r.Number
				refundID, err := s.refundLocked(ctx, tx, o, lines, RefundInput{Lines: toRefund, Reason: &reason,
					IdempotencyKey: returnRefundKey + r.ID})
				if err != nil {
					return c, atRefund(err)
				}
				c.refundID, c.message = &refundID, "; refunding its units"
			case refund:
				c.message = "; its units were refunded already"
			}
			if restock {
				c.message = "; restocked" + c.message
			}
			return c, nil
		})
}

// lineQuantity is the units of the order line id.
func lineQuantity(lines []Line, id string) int {
	for _, l := range lines {
		if l.ID == id {
			return l.Quantity
		}
	}
	return 0
}

// atRefund moves a refund's userError to ["refund"], the argument of
// returnReceive that asked for it.
func atRefund(err error) error {
	var ae *apperr.Error
	if !errors.As(err, &ae) || ae.Field == nil {
		return err
	}
	out := *ae
	out.Field = apperr.Path("refund")
	return &out
}

// returnChange is one step of a return: what it stores on the return and
// what it tells (the event's type and message suffix, the email and the
// note the email shows).
type returnChange struct {
	staffNote *string
	refundID  *string
	event     string
	message   string
	email     string // empty sends none
	note      *string
}

// moveReturn moves return id from one of from to to: under the lock of its
// order (every write of a return takes it first), step does the move's
// own work, then the return is updated and returnStep tells about it. An
// unknown id is NotFound at ["id"]; a return in another status an Invalid
// userError at ["id"].
func (s *Service) moveReturn(ctx context.Context, id string, to ReturnStatus, from []ReturnStatus,
	step func(ctx context.Context, tx bun.Tx, o *Order, lines []Line, r *Return) (returnChange, error)) (*Return, error) {
	notFound := apperr.Field(apperr.NotFound, apperr.Path("id"), "return not found")
	if !validUUID(id) {
		return nil, notFound
	}
	id = strings.ToLower(id)
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		o, lines, err := lockOrder(ctx, tx, "o.id = (SELECT order_id FROM returns WHERE id = ?)", id)
		if db.IsNoRows(err) {
			return notFound
		}
		if err != nil {
			return err
		}
		rs, err := selectReturns(ctx, tx, "r.id = ?", id)
		if err != nil {
			return err
		}
		r := rs[0]
		if !slices.Contains(from, r.Status) {
			return apperr.InvalidField(apperr.Path("id"), "a %s return cannot become %s", r.Status, to)
		}
		c, err := step(ctx, tx, o, lines, r)
		if err != nil {
			return err
		}
		if _, err := tx.NewRaw(`UPDATE returns SET status = ?, staff_note = coalesce(?, staff_note),
				refund_id = coalesce(?, refund_id), updated_at = now() WHERE id = ?`,
			string(to), c.staffNote, c.refundID, id).Exec(ctx); err != nil {
			return fmt.Errorf("update return %s: %w", id, err)
		}
		r.Status = to
		c.message = "Return " + r.Number + " " + strings.ToLower(string(to)) + c.message
		return s.returnStep(ctx, tx, o, lines, r, c)
	})
	if err != nil {
		return nil, err
	}
	return s.returnByID(ctx, id)
}

// returnStep tells about a return's step (the order is locked in tx): the
// event on the order's timeline (which publishes the order's status to
// its subscribers) and the email to the customer.
func (s *Service) returnStep(ctx context.Context, tx bun.Tx, o *Order, lines []Line, r *Return, c returnChange) error {
	if err := updateOrder(ctx, tx, o.ID, orderUpdate{events: []eventRow{newEvent(o.ID, c.event, c.message)}}); err != nil {
		return err
	}
	if c.email == "" {
		return nil
	}
	data := map[string]any{"return_number": r.Number, "lines": returnEmailLines(r, lines)}
	if c.note != nil {
		data["note"] = *c.note
	}
	return s.notify.Enqueue(ctx, tx, s.customerEmail(o, c.email, c.email+":"+r.ID, data))
}

// returnRefunded moves the RECEIVED return whose refund the provider just
// confirmed to REFUNDED (the order is locked in tx), with its event and
// the return-refunded email. A refund of no return changes nothing.
func (s *Service) returnRefunded(ctx context.Context, tx bun.Tx, o *Order, lines []Line, refundID string, amount money.Money) error {
	rs, err := selectReturns(ctx, tx, "r.refund_id = ? AND r.status = ?", refundID, string(ReturnReceived))
	if err != nil || len(rs) == 0 {
		return err
	}
	r := rs[0]
	if _, err := tx.NewRaw(`UPDATE returns SET status = ?, updated_at = now() WHERE id = ?`, string(ReturnRefunded), r.ID).
		Exec(ctx); err != nil {
		return fmt.Errorf("mark return %s refunded: %w", r.ID, err)
	}
	if err := updateOrder(ctx, tx, o.ID, orderUpdate{events: []eventRow{newEvent(o.ID, EventReturnRefunded,
		"Return "+r.Number+" refunded: "+amount.String())}}); err != nil {
		return err
	}
	data := map[string]any{"return_number": r.Number, "lines": returnEmailLines(r, lines), "amount": amount.String()}
	return s.notify.Enqueue(ctx, tx, s.customerEmail(o, "return-refunded", "return-refunded:"+r.ID, data))
}

// returnEmailLines lists a return's units as its emails show them.
func returnEmailLines(r *Return, lines []Line) []map[string]any {
	out := []map[string]any{}
	for _, l := range lines {
		for _, rl := range r.Lines {
			if rl.OrderLineID == l.ID {
				m := emailLines([]Line{l})[0]
				m["quantity"] = rl.Quantity
				if rl.Reason != nil {
					m["reason"] = *rl.Reason
				}
				out = append(out, m)
			}
		}
	}
	return out
}

// cleanText trims s and cuts it to n characters; nil or blank is nil.
func cleanText(s *string, n int) *string {
	if s == nil {
		return nil
	}
	t := truncate(strings.TrimSpace(*s), n)
	if t == "" {
		return nil
	}
	return &t
}

// returnRow is a return as selectReturns reads it, lines aggregated.
type returnRow struct {
	ID           string       `bun:"id"`
	Number       string       `bun:"return_number"`
	OrderID      string       `bun:"order_id"`
	Status       string       `bun:"status"`
	CustomerNote *string      `bun:"customer_note"`
	StaffNote    *string      `bun:"staff_note"`
	RefundID     *string      `bun:"refund_id"`
	Lines        []ReturnLine `bun:"lines,type:jsonb"`
	CreatedAt    time.Time    `bun:"created_at"`
	UpdatedAt    time.Time    `bun:"updated_at"`
}

// selectReturns reads the returns matching where (a condition on "r"),
// each with its lines in the order's line order, in one statement.
func selectReturns(ctx context.Context, idb bun.IDB, where string, args ...any) ([]*Return, error) {
	var rows []returnRow
	err := idb.NewRaw(`SELECT r.id, r.return_number, r.order_id, r.status, r.customer_note, r.staff_note, r.refund_id,
			r.created_at, r.updated_at,
			coalesce((SELECT json_agg(json_build_object('order_line_id', rl.order_line_id, 'quantity', rl.quantity,
				'reason', rl.reason) ORDER BY l.position) FROM return_lines rl JOIN order_lines l ON l.id = rl.order_line_id
				WHERE rl.return_id = r.id), '[]') AS lines
		FROM returns r WHERE `+where, args...).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("load returns: %w", err)
	}
	out := make([]*Return, len(rows))
	for i, r := range rows {
		out[i] = &Return{ID: r.ID, Number: r.Number, OrderID: r.OrderID, Status: ReturnStatus(r.Status),
			CustomerNote: r.CustomerNote, StaffNote: r.StaffNote, RefundID: r.RefundID, Lines: r.Lines,
			CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	}
	return out, nil
}

func (s *Service) returnByID(ctx context.Context, id string) (*Return, error) {
	rs, err := s.ReturnsByIDs(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	if rs[0] == nil {
		return nil, fmt.Errorf("return %s not found after commit", id)
	}
	return rs[0], nil
}

// ReturnsByIDs returns returns in key order, nil where there is none, in
// one query.
func (s *Service) ReturnsByIDs(ctx context.Context, ids []string) ([]*Return, error) {
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if validUUID(id) {
			valid = append(valid, strings.ToLower(id))
		}
	}
	out := make([]*Return, len(ids))
	if len(valid) == 0 {
		return out, nil
	}
	found, err := selectReturns(ctx, s.db.Bun, "r.id IN (?)", bun.In(valid))
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*Return, len(found))
	for _, r := range found {
		byID[r.ID] = r
	}
	for i, id := range ids {
		out[i] = byID[strings.ToLower(id)]
	}
	return out, nil
}

// Returns returns each order's returns, oldest first, in one query.
func (s *Service) Returns(ctx context.Context, orderIDs []string) ([][]*Return, error) {
	found, err := selectReturns(ctx, s.db.Bun, "r.order_id IN (?) ORDER BY r.created_at, r.id", bun.In(orderIDs))
	if err != nil {
		return nil, err
	}
	return perOrder(orderIDs, found, func(r *Return) string { return r.OrderID }), nil
}

// ReturnPage is one page of returns.
type ReturnPage struct {
	Returns         []*Return
	Cursors         []string
	HasNextPage     bool
	HasPreviousPage bool
}

// ListReturns returns a page of returns, newest first, in status when
// given (the staff queue of those waiting for a decision is REQUESTED). It
// returns Invalid for a bad page size or cursor.
func (s *Service) ListReturns(ctx context.Context, status *ReturnStatus, first *int, after string) (*ReturnPage, error) {
	n, err := page.First(first)
	if err != nil {
		return nil, err
	}
	where, args := returnFilter(status)
	if after != "" {
		k, err := page.DecodeCreated(after)
		if err != nil {
			return nil, err
		}
		where += " AND (r.created_at, r.id) < (?, ?)"
		args = append(args, k.CreatedAt, k.ID)
	}
	found, err := selectReturns(ctx, s.db.Bun, where+" ORDER BY r.created_at DESC, r.id DESC LIMIT ?", append(args, n+1)...)
	if err != nil {
		return nil, err
	}
	p := &ReturnPage{HasNextPage: len(found) > n, HasPreviousPage: after != ""}
	if p.HasNextPage {
		found = found[:n]
	}
	p.Returns = found
	for _, r := range found {
		p.Cursors = append(p.Cursors, page.Encode(page.CreatedKey{CreatedAt: r.CreatedAt, ID: r.ID}))
	}
	return p, nil
}

// CountReturns returns how many returns are in status, or in all when nil.
func (s *Service) CountReturns(ctx context.Context, status *ReturnStatus) (int, error) {
	where, args := returnFilter(status)
	var n int
	if err := s.db.Bun.NewRaw("SELECT count(*) FROM returns r WHERE "+where, args...).Scan(ctx, &n); err != nil {
		return 0, fmt.Errorf("count returns: %w", err)
	}
	return n, nil
}

func returnFilter(status *ReturnStatus) (string, []any) {
	if status == nil {
		return "true", nil
	}
	return "r.status = ?", []any{string(*status)}
}
