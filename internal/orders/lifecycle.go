package orders

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/customers"
	"commerce/internal/inventory"
	"commerce/internal/money"
	"commerce/internal/notify"
	"commerce/internal/payments"
	"commerce/internal/platform/db"
	"commerce/internal/promotions"
	"commerce/internal/webhooks"
)

// FulfillmentReminderArgs is the job that reminds the warehouse of a paid
// order still unfulfilled some time after payment.
type FulfillmentReminderArgs struct {
	OrderID string `json:"order_id"`
}

// Kind names the job for River.
func (FulfillmentReminderArgs) Kind() string { return "fulfillment-reminder" }

// ReviewRequestArgs is the job that asks the customer for a review some
// time after payment.
type ReviewRequestArgs struct {
	OrderID string `json:"order_id"`
}

// Kind names the job for River.
func (ReviewRequestArgs) Kind() string { return "review-request" }

// PaymentTimeout cancels an order still unpaid at its payment timeout: it
// cancels the payment intent, releases the reservations, marks the order
// CANCELLED with the note "Payment timeout" and emails the customer. An
// intent still processing (a delayed payment method) is looked at again
// after recheck > 0 instead. A paid or already cancelled order is left as
// it is, so the job is safe to run twice.
func (s *Service) PaymentTimeout(ctx context.Context, orderID string) (recheck time.Duration, err error) {
	o, err := s.ByID(ctx, orderID)
	if errors.Is(err, apperr.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if o.Status != Pending || o.PaymentStatus == PaymentPaid {
		return 0, nil
	}
	if o.PaymentIntentID != nil {
		intent, err := s.provider.GetIntent(ctx, *o.PaymentIntentID)
		if err != nil {
			return 0, fmt.Errorf("read payment intent: %w", err)
		}
		switch intent.Status {
		case payments.IntentProcessing, payments.IntentSucceeded:
			return s.cfg.ProcessingRecheck, nil
		case payments.IntentCanceled:
		default:
			if err := s.provider.CancelIntent(ctx, *o.PaymentIntentID); err != nil {
				return 0, fmt.Errorf("cancel payment intent: %w", err)
			}
		}
	}
	checked := o.PaymentIntentID
	return 0, s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		o, lines, err := lockOrder(ctx, tx, "o.id = ?", orderID)
		if err != nil {
			return err
		}
		if o.Status != Pending || o.PaymentStatus == PaymentPaid {
			return nil
		}
		if o.PaymentIntentID != nil && (checked == nil || *checked != *o.PaymentIntentID) {
			// The intent was stored after it was looked at above: the
			// job's retry looks at (and cancels) that one first.
			return errIntentChangedMeanwhile
		}
		if err := s.cancelPending(ctx, tx, o, lines, "Payment timeout"); err != nil {
			return err
		}
		return s.notify.Enqueue(ctx, tx, s.customerEmail(o, "payment-timeout", "payment-timeout:"+o.ID,
			map[string]any{"total": o.Total.String()}))
	})
}

// errIntentChangedMeanwhile makes the payment-timeout job run again: the
// order got its payment intent while the job was checking the old state.
var errIntentChangedMeanwhile = errors.New("payment timeout: the order's payment intent was created meanwhile; retrying")

// cancelPending releases an unpaid order's reservations and promotion
// uses, and cancels it.
func (s *Service) cancelPending(ctx context.Context, tx bun.Tx, o *Order, lines []Line, reason string) error {
	if err := s.applyStock(ctx, tx, o, lines, inventory.Release); err != nil {
		return fmt.Errorf("release reservations of order %s: %w", o.ID, err)
	}
	if err := promotions.GiveBack(ctx, tx, o.Email, o.DiscountAllocations); err != nil {
		return err
	}
	err := updateOrder(ctx, tx, o.ID, orderUpdate{
		set:  "status = ?, cancelled_at = now(), notes = ?",
		args: []any{string(Cancelled), reason},
		events: []eventRow{
			newEvent(o.ID, EventStockReleased, "Reserved stock released"),
			newEvent(o.ID, EventCancelled, reason),
		},
	})
	if err != nil {
		return err
	}
	return s.announce(ctx, tx, webhooks.OrderCancelled, o.ID)
}

// Cancel cancels an order for staff. A pending order's reservations are
// released and its intent cancelled; a paid, unshipped order's stock is
// returned and its payment refunded through the provider (a durable job).
// It returns a NotFound userError at ["id"] for an unknown order and an
// Invalid one for an order already shipped or cancelled.
func (s *Service) Cancel(ctx context.Context, orderID string, reason *string) (*Order, error) {
	why := "Cancelled by staff"
	if reason != nil && strings.TrimSpace(*reason) != "" {
		why += ": " + truncate(strings.TrimSpace(*reason), 500)
	}
	var intentToCancel *string
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		o, lines, err := s.lockForStaff(ctx, tx, orderID)
		if err != nil {
			return err
		}
		switch {
		case o.Status == Cancelled || o.FulfillmentStatus != Unfulfilled:
			return apperr.InvalidField(apperr.Path("id"), "a %s order cannot be cancelled", strings.ToLower(string(o.Status)))
		case o.PaidAt != nil:
			// Paid at some point: its reservations became sales, so stock
			// comes back as returns, whatever has been refunded since.
			return s.cancelPaid(ctx, tx, o, lines, why)
		}
		intentToCancel = o.PaymentIntentID
		return s.cancelPending(ctx, tx, o, lines, why)
	})
	if err != nil {
		return nil, err
	}
	if intentToCancel != nil {
		// Best effort: should a payment still arrive, the webhook refunds it
		// or re-reserves the stock.
		if err := s.provider.CancelIntent(ctx, *intentToCancel); err != nil {
			s.log.Warn("cancel payment intent of a cancelled order", "order_id", orderID, "error", err)
		}
	}
	return s.ByID(ctx, orderID)
}

// cancelPaid returns a paid order's stock and promotion uses, and refunds
// what is left of it through the refund path (reserveRefund): one refund of
// the units not refunded yet, restocked, for the refundable amount. Units
// refunded earlier without a restock go back to stock too: the order never
// shipped.
func (s *Service) cancelPaid(ctx context.Context, tx bun.Tx, o *Order, lines []Line, why string) error {
	done, err := refundedUnits(ctx, tx, o.ID)
	if err != nil {
		return err
	}
	if err := promotions.GiveBack(ctx, tx, o.Email, o.DiscountAllocations); err != nil {
		return err
	}
	left := money.New(o.Total.Amount-o.Refunded.Amount, o.Total.Currency)
	refund := left.Amount > 0 && o.PaymentIntentID != nil
	note := "Order " + o.Number
	var back []inventory.Change
	var rl []RefundLine
	for _, l := range lines {
		d := done[l.ID]
		kept, open := d.refunded-d.restocked, l.Quantity-d.refunded
		if refund && open > 0 {
			rl = append(rl, RefundLine{OrderLineID: l.ID, Quantity: open, Restocked: true})
			open = 0
		}
		if q := kept + open; q > 0 && l.VariantID != nil {
			back = append(back, inventory.Change{VariantID: *l.VariantID, Type: inventory.Return, Quantity: q,
				ReferenceID: &o.ID, Notes: &note})
		}
	}
	if len(back) > 0 {
		if _, failed, err := s.ledger.ApplyAll(ctx, tx, inventory.InIDOrder(back)); err != nil || len(failed) > 0 {
			return fmt.Errorf("return stock of order %s: %w (%d refused)", o.ID, err, len(failed))
		}
	}
	if refund {
		key := cancelRefundKey + o.ID
		if _, err := s.reserveRefund(ctx, tx, o, lines, newRefund{amount: left.Amount, reason: &why, key: &key, lines: rl}); err != nil {
			return err
		}
	}
	err = updateOrder(ctx, tx, o.ID, orderUpdate{
		set:  "status = ?, cancelled_at = now(), notes = ?",
		args: []any{string(Cancelled), why},
		events: []eventRow{
			newEvent(o.ID, EventStockReleased, "Stock returned"),
			newEvent(o.ID, EventCancelled, why),
		},
	})
	if err != nil {
		return err
	}
	return s.announce(ctx, tx, webhooks.OrderCancelled, o.ID)
}

// lockForStaff locks an order a staff mutation acts on; an unknown or
// malformed id is a NotFound userError at ["id"].
func (s *Service) lockForStaff(ctx context.Context, tx bun.Tx, orderID string) (*Order, []Line, error) {
	notFound := apperr.Field(apperr.NotFound, apperr.Path("id"), "order not found")
	if !validUUID(orderID) {
		return nil, nil, notFound
	}
	o, lines, err := lockOrder(ctx, tx, "o.id = ?", strings.ToLower(orderID))
	if db.IsNoRows(err) {
		return nil, nil, notFound
	}
	return o, lines, err
}

// SendFulfillmentReminder emails the warehouse about a paid order that is
// still unfulfilled or only partly shipped, listing the units left to ship
// (refunded units are not); an order refunded in full is not reminded of.
// Safe to run twice: the notification is deduplicated.
func (s *Service) SendFulfillmentReminder(ctx context.Context, orderID string) error {
	if s.cfg.WarehouseEmail == "" {
		return nil
	}
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		o, lines, err := lockOrder(ctx, tx, "o.id = ?", orderID)
		if db.IsNoRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if o.Status != Processing || o.PaymentStatus == PaymentRefunded ||
			(o.FulfillmentStatus != Unfulfilled && o.FulfillmentStatus != PartiallyShipped) {
			return nil // shipped, cancelled, or refunded in full: nothing may ship
		}
		left, err := unitsLeft(ctx, tx, o.ID, lines)
		if err != nil {
			return err
		}
		var rest []FulfillmentLine
		for _, l := range lines {
			if n := left[l.ID]; n > 0 {
				rest = append(rest, FulfillmentLine{OrderLineID: l.ID, Quantity: n})
			}
		}
		if len(rest) == 0 {
			return nil
		}
		return s.notify.Enqueue(ctx, tx, notify.Message{
			Channel: notify.Email, To: s.cfg.WarehouseEmail, Template: "fulfillment-reminder",
			DedupeKey: "fulfillment-reminder:" + o.ID,
			Data: map[string]any{"order_number": o.Number, "order_id": o.ID,
				"placed_at": o.CreatedAt.UTC().Format("2006-01-02 15:04 UTC"), "lines": shipmentEmailLines(lines, rest),
				"units_left": sumShipped(rest), "partial": o.FulfillmentStatus == PartiallyShipped},
		})
	})
}

// SendReviewRequest asks the customer of a paid order for a review, unless
// the order was cancelled or refunded. A review request is marketing email:
// it goes only to an address whose customer opted in and did not
// unsubscribe (customers.MarketingContact.MayMarket). Safe to run twice.
func (s *Service) SendReviewRequest(ctx context.Context, orderID string) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		o, lines, err := lockOrder(ctx, tx, "o.id = ?", orderID)
		if db.IsNoRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if o.Status == Cancelled || o.PaymentStatus != PaymentPaid {
			return nil // cancelled, refunded or never paid
		}
		who, err := customers.MarketingContactByEmail(ctx, tx, o.Email)
		if err != nil || !who.MayMarket() {
			return err
		}
		return s.notify.Enqueue(ctx, tx, s.customerEmail(o, "review-request", "review-request:"+o.ID,
			map[string]any{"lines": emailLines(lines)}))
	})
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

func validUUID(s string) bool { return uuid.Validate(s) == nil }
