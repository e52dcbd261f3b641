package carts

import (
	"context"
	"fmt"
	"strings"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"commerce/internal/catalog"
	"commerce/internal/customers"
	"commerce/internal/jobs/queue"
	"commerce/internal/money"
	"commerce/internal/notify"
)

// AbandonedCartArgs is the job that reminds a shopper of a cart some time
// (Config.AbandonedCartWait) after its last change. Every change of a cart
// with an email and lines schedules one; only the job of the latest change
// finds its Version still current.
type AbandonedCartArgs struct {
	CartID string `json:"cart_id"`
	// Version is the cart's updated_at, in Unix nanoseconds, when the job
	// was scheduled.
	Version int64 `json:"version"`
}

// Kind names the job for River.
func (AbandonedCartArgs) Kind() string { return "abandoned-cart" }

// InsertOpts puts the job on River's workflow queue.
func (AbandonedCartArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queue.Workflow}
}

// version identifies the state of a cart: every change sets updated_at.
func version(c *Cart) int64 { return c.UpdatedAt.UnixNano() }

// scheduleReminder enqueues in tx the abandoned-cart job of c as it now is,
// when c has an email and lines and reminders are on.
func (s *Service) scheduleReminder(ctx context.Context, tx bun.Tx, c *Cart) error {
	if s.jobs == nil || s.notify == nil || s.cfg.AbandonedCartWait <= 0 || c.Email == nil || len(c.Lines) == 0 {
		return nil
	}
	_, err := s.jobs.InsertTx(ctx, tx.Tx, AbandonedCartArgs{CartID: c.ID, Version: version(c)},
		&river.InsertOpts{ScheduledAt: s.now().Add(s.cfg.AbandonedCartWait)})
	if err != nil {
		return fmt.Errorf("schedule abandoned-cart reminder: %w", err)
	}
	return nil
}

// SendAbandonedCartReminder emails the shopper the abandoned-cart reminder
// of a cart, at most once per cart (dedupe key "abandoned-cart:" + id), and
// only when the cart is still active, unchanged since the job was scheduled
// (a.Version), has an email and lines that can still be bought, and the
// address consented to marketing email: the cart's own opt-in, or a
// customer with that email who opted in (customers.MarketingContact.MayMarket),
// and no unsubscribe either way. A stranger's address typed into a cart
// gets nothing. Otherwise it does nothing, so the job is safe to run twice.
// Consent is judged here, when the reminder is due, rather than when the
// job is scheduled, so that a consent given or withdrawn meanwhile counts.
// It returns database and catalog errors as they come.
func (s *Service) SendAbandonedCartReminder(ctx context.Context, a AbandonedCartArgs) error {
	key, ok := canonicalID(a.CartID)
	if !ok || s.notify == nil {
		return nil
	}
	return s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		c, err := load(ctx, tx, key)
		if err != nil {
			return fmt.Errorf("abandoned cart %s: %w", key, err)
		}
		if c == nil || c.Status != StatusActive || version(c) != a.Version || c.Email == nil || len(c.Lines) == 0 {
			return nil
		}
		who, err := customers.MarketingContactByEmail(ctx, tx, *c.Email)
		if err != nil || who.Unsubscribed || !(c.MarketingOptIn || who.MayMarket()) {
			return err
		}
		data, err := s.reminderData(ctx, c, who)
		if err != nil || data == nil {
			return err
		}
		return s.notify.Enqueue(ctx, tx, notify.Message{
			Channel: notify.Email, To: *c.Email, Template: "abandoned-cart",
			DedupeKey: "abandoned-cart:" + c.ID, Data: data,
		})
	})
}

// reminderData is the abandoned-cart template's data: the lines at the
// current catalog prices, their subtotal and the link back to the cart. It
// returns nil when no line can still be bought.
func (s *Service) reminderData(ctx context.Context, c *Cart, who customers.MarketingContact) (map[string]any, error) {
	variants, err := s.lineVariants(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("abandoned cart %s: %w", c.ID, err)
	}
	subtotal := money.Zero(c.Currency)
	var lines []map[string]any
	for i, l := range c.Lines {
		v := variants[i]
		if v == nil || !v.ForSale || v.Currency != c.Currency {
			continue
		}
		total, err := v.UnitPrice().Mul(int64(l.Quantity))
		if err == nil {
			subtotal, err = subtotal.Add(total)
		}
		if err != nil {
			return nil, fmt.Errorf("abandoned cart %s: price line %s: %w", c.ID, l.ID, err)
		}
		line := map[string]any{"name": v.Name, "quantity": l.Quantity, "line_total": total.String()}
		if v.Title != catalog.DefaultTitle {
			line["variant"] = v.Title
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		return nil, nil
	}
	data := map[string]any{"lines": lines, "subtotal": subtotal.String()}
	if who.FirstName != "" {
		data["customer_name"] = who.FirstName
	}
	if s.cfg.StorefrontURL != "" {
		data["cart_url"] = strings.TrimRight(s.cfg.StorefrontURL, "/") + "/cart/" + c.ID
	}
	return data, nil
}
