package orders

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/catalog"
	"commerce/internal/customers"
	"commerce/internal/inventory"
	"commerce/internal/money"
	"commerce/internal/notify"
	"commerce/internal/payments"
	"commerce/internal/platform/db"
	"commerce/internal/promotions"
	"commerce/internal/realtime"
	"commerce/internal/webhooks"
)

var _ payments.EventHandler = (*Service)(nil)

// RefundArgs is the job that refunds a payment through the provider. The
// key makes the provider refund at most once however often it runs.
type RefundArgs struct {
	OrderID  string `json:"order_id"`
	IntentID string `json:"intent_id"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	Key      string `json:"key"`
	// RefundID is the refunds row the job carries out; empty for the
	// refund of a payment that does not belong to its order.
	RefundID string `json:"refund_id,omitempty"`
}

// Kind names the job for River.
func (RefundArgs) Kind() string { return "payment-refund" }

// HandlePaymentEvent applies a verified provider event in one transaction:
// it records the event id (a replay is a no-op), finds the order by
// metadata order_id, order_number or intent id, and moves the order forward
// only: a success pays a pending order (reservations become sales) or, after
// a cancellation, re-reserves or refunds; a failure marks a pending order's
// payment FAILED and keeps its stock reserved; a refund records the amount.
// Events apply in any order: a refund that arrives before its payment is
// kept and applied when the payment arrives (see paymentSucceeded).
// An event for an unknown order, or one that would move an order backwards,
// is recorded and ignored. It returns an error only when the event could
// not be recorded, so the provider delivers it again.
func (s *Service) HandlePaymentEvent(ctx context.Context, e payments.Event) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		fresh, err := recordPaymentEvent(ctx, tx, e)
		if err != nil || !fresh {
			return err
		}
		o, lines, err := findOrderForEvent(ctx, tx, e)
		if db.IsNoRows(err) {
			s.log.Warn("payment event for an unknown order", "event_id", e.ID, "type", e.Type, "intent_id", e.IntentID)
			return nil
		}
		if err != nil {
			return err
		}
		if o.PaymentIntentID != nil && *o.PaymentIntentID != e.IntentID {
			return s.intentMismatch(ctx, tx, o, e)
		}
		switch e.Type {
		case payments.IntentSucceededEvent:
			return s.paymentSucceeded(ctx, tx, o, lines, e)
		case payments.IntentFailedEvent:
			return s.paymentFailed(ctx, tx, o, e)
		case payments.ChargeRefundedEvent:
			return s.refunded(ctx, tx, o, e)
		case payments.RefundUpdatedEvent:
			return s.refundUpdated(ctx, tx, o, e)
		}
		return nil
	})
}

// recordPaymentEvent stores the event id; fresh is false for a replay.
func recordPaymentEvent(ctx context.Context, tx bun.Tx, e payments.Event) (fresh bool, err error) {
	var orderID *string
	if uuid.Validate(e.OrderID) == nil {
		id := strings.ToLower(e.OrderID)
		orderID = &id
	}
	res, err := tx.NewRaw(`INSERT INTO payment_events (id, type, intent_id, order_id) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, e.ID, string(e.Type), e.IntentID, orderID).Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("record payment event: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// findOrderForEvent locks the order the event is about.
func findOrderForEvent(ctx context.Context, tx bun.Tx, e payments.Event) (*Order, []Line, error) {
	switch {
	case uuid.Validate(e.OrderID) == nil:
		return lockOrder(ctx, tx, "o.id = ?", strings.ToLower(e.OrderID))
	case e.OrderNumber != "":
		return lockOrder(ctx, tx, "o.order_number = ?", e.OrderNumber)
	case e.IntentID != "":
		return lockOrder(ctx, tx, "o.payment_intent_id = ?", e.IntentID)
	}
	return nil, nil, errNoRows
}

var errNoRows = fmt.Errorf("no order for event: %w", sql.ErrNoRows)

// intentMismatch handles an event whose intent is not the order's: a
// success is refunded and raised as an alert; anything else is ignored.
func (s *Service) intentMismatch(ctx context.Context, tx bun.Tx, o *Order, e payments.Event) error {
	s.log.Error("ALERT: payment event for an intent that is not the order's", "order_id", o.ID,
		"event_id", e.ID, "event_intent", e.IntentID, "order_intent", deref(o.PaymentIntentID))
	if e.Type != payments.IntentSucceededEvent {
		return insertEvents(ctx, tx, []eventRow{newEvent(o.ID, EventEventIgnored, string(e.Type)+" for another intent")})
	}
	// The message names no intent: events are shown to whoever may see the
	// order. The alert above logs both ids.
	return s.refundMismatch(ctx, tx, o, e, "payment for a payment intent that is not this order's")
}

// refundMismatch refunds a payment that does not belong to the order as it
// stands (wrong intent or amount) and records why.
func (s *Service) refundMismatch(ctx context.Context, tx bun.Tx, o *Order, e payments.Event, why string) error {
	if err := s.insertJobs(ctx, tx, refundJob(o.ID, e.IntentID, e.Amount, "mismatch-"+e.ID)); err != nil {
		return err
	}
	return insertEvents(ctx, tx, []eventRow{newEvent(o.ID, EventPaymentMismatch, why+"; refund requested")})
}

func refundJob(orderID, intentID string, amount money.Money, key string) river.InsertManyParams {
	return river.InsertManyParams{Args: RefundArgs{OrderID: orderID, IntentID: intentID, Amount: amount.Amount,
		Currency: amount.Currency, Key: "refund-" + key}}
}

// paymentSucceeded pays a pending order, or re-reserves (else refunds) one
// cancelled meanwhile. A paid order stays as it is.
func (s *Service) paymentSucceeded(ctx context.Context, tx bun.Tx, o *Order, lines []Line, e payments.Event) error {
	if e.Amount.Amount != o.Total.Amount || !strings.EqualFold(e.Amount.Currency, o.Total.Currency) {
		s.log.Error("ALERT: payment amount does not match the order", "order_id", o.ID, "event_id", e.ID,
			"paid", e.Amount.String(), "total", o.Total.String())
		return s.refundMismatch(ctx, tx, o, e, "paid "+e.Amount.String()+" for a total of "+o.Total.String())
	}
	switch {
	case o.PaymentStatus != PaymentPending && o.PaymentStatus != PaymentFailed:
		return nil // paid already: a late or repeated success changes nothing
	case o.RefundBeforePayment.Amount >= o.Total.Amount:
		return s.paidAfterFullRefund(ctx, tx, o, lines, e)
	case o.Status == Pending:
		if err := s.applyStock(ctx, tx, o, lines, inventory.Sale); err != nil {
			return err
		}
		return s.markPaid(ctx, tx, o, lines, e, "Payment received")
	case o.Status == Cancelled:
		return s.paidAfterCancel(ctx, tx, o, lines, e)
	}
	return nil
}

// paidAfterCancel handles a payment that arrives after the order was
// cancelled: if the stock is still there it is reserved and sold again, the
// uses of its promotions are taken again, and the order goes ahead;
// otherwise (stock or a promotion's uses gone) the payment is refunded and
// the customer told why.
func (s *Service) paidAfterCancel(ctx context.Context, tx bun.Tx, o *Order, lines []Line, e payments.Event) error {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT rereserve"); err != nil {
		return err
	}
	forgetEvents := realtime.Savepoint(ctx)
	err := s.applyStock(ctx, tx, o, lines, inventory.Reservation)
	if err == nil {
		err = s.applyStock(ctx, tx, o, lines, inventory.Sale)
	}
	if err == nil {
		err = s.retakeUses(ctx, tx, o)
	}
	if err == nil {
		return s.markPaid(ctx, tx, o, lines, e, "Payment arrived after cancellation; stock reserved again")
	}
	reason := "the items sold out before your payment arrived"
	if errors.Is(err, errDiscountGone) {
		reason = "the discount was used up before your payment arrived"
	} else if !errors.Is(err, errStockGone) {
		return err
	}
	if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT rereserve"); err != nil {
		return err
	}
	forgetEvents()
	// What a refund seen before the payment gave back already is not
	// refunded twice.
	left := money.New(e.Amount.Amount-o.RefundBeforePayment.Amount, e.Amount.Currency)
	if err := s.insertJobs(ctx, tx, refundJob(o.ID, e.IntentID, left, e.ID)); err != nil {
		return err
	}
	err = updateOrder(ctx, tx, o.ID, orderUpdate{
		set:  "payment_status = ?, refunded_amount = ?, payment_intent_id = coalesce(payment_intent_id, ?)",
		args: []any{string(PaymentRefunded), e.Amount.Amount, e.IntentID},
		events: []eventRow{
			newEvent(o.ID, EventRefundRequested, "Payment arrived after cancellation and "+reason+"; refunding "+left.String()),
		},
	})
	if err != nil {
		return err
	}
	return s.notify.Enqueue(ctx, tx, s.customerEmail(o, "order-failed-inventory", "failed-inventory:"+o.ID, map[string]any{
		"reason": reason, "refund_amount": e.Amount.String(),
	}))
}

// paidAfterFullRefund handles a payment whose refund of the whole amount
// arrived first: the money went back, so nothing is sold. A pending
// order's reservations and promotion uses are released and it is cancelled; a cancelled one
// stays cancelled; both end REFUNDED. No confirmation, no fulfilment
// reminder, no review request, and the customer's totals do not count the
// order.
func (s *Service) paidAfterFullRefund(ctx context.Context, tx bun.Tx, o *Order, lines []Line, e payments.Event) error {
	why := "Refunded before its payment arrived"
	events := []eventRow{newEvent(o.ID, EventRefunded, "Payment of "+e.Amount.String()+" arrived after its refund of "+
		o.RefundBeforePayment.String()+"; nothing is sold")}
	if o.Status == Pending {
		if err := s.applyStock(ctx, tx, o, lines, inventory.Release); err != nil {
			return fmt.Errorf("release reservations of order %s: %w", o.ID, err)
		}
		if err := promotions.GiveBack(ctx, tx, o.Email, o.DiscountAllocations); err != nil {
			return err
		}
		events = append(events, newEvent(o.ID, EventStockReleased, "Reserved stock released"), newEvent(o.ID, EventCancelled, why))
	}
	return updateOrder(ctx, tx, o.ID, orderUpdate{
		set: "status = ?, payment_status = ?, refunded_amount = least(refund_before_payment, total), " +
			"cancelled_at = coalesce(cancelled_at, now()), notes = coalesce(notes, ?), payment_intent_id = coalesce(payment_intent_id, ?)",
		args:   []any{string(Cancelled), string(PaymentRefunded), why, e.IntentID},
		events: events,
	})
}

// errStockGone means a line could not be reserved or sold again.
var errStockGone = errors.New("stock no longer available")

// errDiscountGone means a promotion of the order is used up (or archived)
// since its cancellation gave its use back.
var errDiscountGone = errors.New("discount no longer available")

// retakeUses takes again the promotion uses a cancelled order gave back.
func (s *Service) retakeUses(ctx context.Context, tx bun.Tx, o *Order) error {
	allocs := slices.Clone(o.DiscountAllocations)
	err := s.promos.Take(ctx, tx, o.Email, allocs, nil, func(promotions.Allocation) []string { return nil })
	if _, ok := apperr.UserErrors(err); ok {
		return errDiscountGone
	}
	return err
}

// applyStock moves every line's stock in one statement (ApplyAll): all
// lines or none.
func (s *Service) applyStock(ctx context.Context, tx bun.Tx, o *Order, lines []Line, typ inventory.TxType) error {
	changes := stockChanges(o, lines, typ)
	if len(changes) == 0 {
		return nil
	}
	_, failed, err := s.ledger.ApplyAll(ctx, tx, changes)
	if err != nil {
		return err
	}
	if len(failed) > 0 {
		return errStockGone
	}
	return nil
}

// stockChanges lists one change per variant of the order, in id order.
// Lines whose variant was deleted have no stock to move.
func stockChanges(o *Order, lines []Line, typ inventory.TxType) []inventory.Change {
	note := "Order " + o.Number
	var out []inventory.Change
	for _, l := range lines {
		if l.VariantID == nil {
			continue
		}
		out = append(out, inventory.Change{VariantID: *l.VariantID, Type: typ, Quantity: l.Quantity,
			ReferenceID: &o.ID, Notes: &note})
	}
	return inventory.InIDOrder(out)
}

// markPaid moves the order to PROCESSING/PAID, counts the purchase for the
// customer, and queues the confirmation, the fulfillment reminder and the
// review request.
func (s *Service) markPaid(ctx context.Context, tx bun.Tx, o *Order, lines []Line, e payments.Event, why string) error {
	err := updateOrder(ctx, tx, o.ID, orderUpdate{
		set:  "status = ?, payment_status = ?, paid_at = now(), cancelled_at = NULL, payment_intent_id = coalesce(payment_intent_id, ?)",
		args: []any{string(Processing), string(PaymentPaid), e.IntentID},
		events: []eventRow{
			newEvent(o.ID, EventPaid, why+": "+e.Amount.String()),
			newEvent(o.ID, EventConfirmationQueued, "Confirmation email to "+o.Email),
		},
	})
	if err != nil {
		return err
	}
	if o.CustomerID != nil {
		if err := customers.RecordPurchase(ctx, tx, *o.CustomerID, o.Total.Amount); err != nil {
			return err
		}
	}
	now := s.now()
	data := map[string]any{
		"lines": emailLines(lines), "subtotal": o.Subtotal.String(), "shipping": o.Shipping.String(),
		"tax": o.Tax.String(), "total": o.Total.String(), "tax_lines": emailTaxLines(o.TaxLines),
	}
	if o.ShippingMethodName != nil {
		data["shipping_method"] = *o.ShippingMethodName
	}
	if o.Discount.Amount > 0 {
		data["discount"] = o.Discount.String() // the template shows it only when set
	}
	err = s.notify.EnqueueWithJobs(ctx, tx, s.customerEmail(o, "order-confirmation", "confirmation:"+o.ID, data), []river.InsertManyParams{
		{Args: FulfillmentReminderArgs{OrderID: o.ID}, InsertOpts: &river.InsertOpts{ScheduledAt: now.Add(s.cfg.FulfillmentReminder)}},
		{Args: ReviewRequestArgs{OrderID: o.ID}, InsertOpts: &river.InsertOpts{ScheduledAt: now.Add(s.cfg.ReviewRequest)}},
	})
	if err != nil {
		return err
	}
	if err := s.announce(ctx, tx, webhooks.OrderPaid, o.ID); err != nil || o.RefundBeforePayment.Amount == 0 {
		return err
	}
	// A partial refund seen before the payment applies now, as it would
	// have on the paid order.
	paid := *o
	paid.PaymentStatus, paid.Refunded = PaymentPaid, money.Zero(o.Total.Currency)
	return s.recordProviderRefund(ctx, tx, &paid, o.RefundBeforePayment.Amount)
}

// paymentFailed marks a pending order's payment FAILED. The stock stays
// reserved: the shopper may retry on the same intent until the timeout.
func (s *Service) paymentFailed(ctx context.Context, tx bun.Tx, o *Order, e payments.Event) error {
	if o.Status != Pending || (o.PaymentStatus != PaymentPending && o.PaymentStatus != PaymentFailed) {
		return nil
	}
	msg := "Payment failed"
	if e.FailureMessage != "" {
		msg += ": " + e.FailureMessage
	}
	err := updateOrder(ctx, tx, o.ID, orderUpdate{
		set:    "payment_status = ?, payment_intent_id = coalesce(payment_intent_id, ?)",
		args:   []any{string(PaymentFailed), e.IntentID},
		events: []eventRow{newEvent(o.ID, EventPaymentFailed, msg)},
	})
	if err != nil {
		return err
	}
	return s.notify.Enqueue(ctx, tx, s.customerEmail(o, "payment-failed", "payment-failed:"+e.ID, map[string]any{
		"total": o.Total.String(), "reason": e.FailureMessage,
	}))
}

// refunded records a refund made at the provider (see
// recordProviderRefund); stock is untouched. A refund of an order whose
// payment has not arrived yet is kept until it does (the refund amount is
// cumulative, so the largest one seen is kept).
func (s *Service) refunded(ctx context.Context, tx bun.Tx, o *Order, e payments.Event) error {
	switch o.PaymentStatus {
	case PaymentPaid, PaymentPartiallyRefunded, PaymentRefunded:
		if !strings.EqualFold(e.Amount.Currency, o.Total.Currency) {
			return nil
		}
		return s.recordProviderRefund(ctx, tx, o, e.Amount.Amount)
	}
	if e.Amount.Amount <= o.RefundBeforePayment.Amount || !strings.EqualFold(e.Amount.Currency, o.Total.Currency) {
		return nil
	}
	return updateOrder(ctx, tx, o.ID, orderUpdate{
		set:  "refund_before_payment = ?",
		args: []any{e.Amount.Amount},
		events: []eventRow{newEvent(o.ID, EventRefundBeforePayment,
			"Refund of "+e.Amount.String()+" reported before the payment; applied when the payment arrives")},
	})
}

// recordRefund takes amount, newly refunded on a paid order, off its
// customer's total spent, which counted the order when it was paid.
func (s *Service) recordRefund(ctx context.Context, tx bun.Tx, o *Order, amount int64) error {
	if o.CustomerID == nil || amount <= 0 {
		return nil
	}
	return customers.RecordRefund(ctx, tx, *o.CustomerID, amount)
}

// customerEmail is an email notification to the order's customer.
func (s *Service) customerEmail(o *Order, template, dedupe string, data map[string]any) notify.Message {
	data["order_number"] = o.Number
	data["customer_name"] = o.ShippingAddress.FirstName
	if s.cfg.StorefrontURL != "" {
		data["order_url"] = strings.TrimRight(s.cfg.StorefrontURL, "/") + "/orders/" + o.Number
	}
	return notify.Message{Channel: notify.Email, To: o.Email, Template: template, Data: data, DedupeKey: dedupe}
}

func emailLines(lines []Line) []map[string]any {
	out := make([]map[string]any, len(lines))
	for i, l := range lines {
		out[i] = map[string]any{"name": l.Name, "quantity": l.Quantity, "line_total": l.LineTotal.String()}
		if l.VariantTitle != catalog.DefaultTitle && l.VariantTitle != "" {
			out[i]["variant"] = l.VariantTitle
		}
	}
	return out
}

// emailTaxLines are the order's tax lines for an email: name, rate as a
// percentage ("7.25%") and amount.
func emailTaxLines(lines []TaxLine) []map[string]any {
	out := make([]map[string]any, len(lines))
	for i, l := range lines {
		out[i] = map[string]any{"name": l.Name, "rate": percent(l.Rate), "amount": l.Amount.String()}
	}
	return out
}

// percent prints a decimal rate as a percentage without trailing zeros.
func percent(rate string) string {
	r, ok := new(big.Rat).SetString(rate)
	if !ok {
		return rate
	}
	s := r.Mul(r, big.NewRat(100, 1)).FloatString(7)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + "%"
}

func (s *Service) insertJobs(ctx context.Context, tx bun.Tx, params ...river.InsertManyParams) error {
	if _, err := s.jobs.InsertManyTx(ctx, tx.Tx, params); err != nil {
		return fmt.Errorf("enqueue jobs: %w", err)
	}
	return nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
