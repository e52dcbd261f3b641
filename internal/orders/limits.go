package orders

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/platform/web"
)

// codeLimitExceeded is the userError code of a checkout over a
// reservation limit.
const codeLimitExceeded = "LIMIT_EXCEEDED"

// checkReservationLimits bounds what one checkout may reserve: at most
// MaxUnitsPerOrder units in the order, and at most MaxUnpaidUnits units held
// by the unpaid (PENDING) orders of its email and, separately, of its client
// network (see web.NetworkOf), this order's included. Without these
// bounds one anonymous shopper could hold the whole catalog out of stock until the payment timeout, and
// renew the hold by rotating emails. A zero limit is no limit.
//
// The unpaid units are counted after taking a transaction-scoped advisory
// lock per email and per network, so concurrent checkouts of one shopper
// are counted one after another instead of all slipping under the bound.
// The locks come before any stock row is locked, in the same order in every
// checkout (email, then network), so they cannot deadlock with each other
// or with the reservations.
//
// It returns a LIMIT_EXCEEDED userError at the lines (or the cart) that says
// what to do.
func (s *Service) checkReservationLimits(ctx context.Context, tx bun.Tx, in CheckoutInput, units int) error {
	field := apperr.Path("input", "lines")
	if in.CartID != nil {
		field = apperr.Path("input", "cartId")
	}
	if limit := s.cfg.MaxUnitsPerOrder; limit > 0 && units > limit {
		return &apperr.Error{Kind: apperr.Invalid, Code: codeLimitExceeded, Field: field,
			Message: fmt.Sprintf("an order may hold at most %d units and this one has %d: order fewer units", limit, units)}
	}
	limit := s.cfg.MaxUnpaidUnits
	if limit <= 0 {
		return nil
	}
	network := web.NetworkOf(in.ClientIP)
	if err := lockUnpaidScopes(ctx, tx, in.Email, network); err != nil {
		return err
	}
	held, err := unpaidUnits(ctx, tx, in.Email, network)
	if err != nil {
		return err
	}
	if n := max(held.Email, held.Network); n+units > limit {
		return &apperr.Error{Kind: apperr.Invalid, Code: codeLimitExceeded, Field: field,
			Message: fmt.Sprintf("orders awaiting payment may hold at most %d units and %d are held already: "+
				"pay for the pending orders or wait until they expire, or order fewer units", limit, n)}
	}
	return nil
}

// lockUnpaidScopes takes the advisory locks of the email and, when there
// is one, of the client network, until the transaction ends.
func lockUnpaidScopes(ctx context.Context, tx bun.Tx, email, network string) error {
	q, args := `SELECT pg_advisory_xact_lock(hashtextextended(?, 0))`, []any{"unpaid-units:email:" + email}
	if network != "" {
		q += `, pg_advisory_xact_lock(hashtextextended(?, 0))`
		args = append(args, "unpaid-units:network:"+network)
	}
	if _, err := tx.NewRaw(q, args...).Exec(ctx); err != nil {
		return fmt.Errorf("lock unpaid units: %w", err)
	}
	return nil
}

// heldUnits are the units of unpaid orders per email and per client
// network.
type heldUnits struct {
	Email   int `bun:"email_units"`
	Network int `bun:"network_units"`
}

// unpaidUnits sums the units of the PENDING orders of the email and of the
// client network (none for an empty one) in one statement, through the
// partial indexes on unpaid orders.
func unpaidUnits(ctx context.Context, idb bun.IDB, email, network string) (heldUnits, error) {
	var h heldUnits
	err := idb.NewRaw(`
		SELECT coalesce(sum(l.quantity) FILTER (WHERE o.email = ?), 0) AS email_units,
		       coalesce(sum(l.quantity) FILTER (WHERE o.client_network = ?), 0) AS network_units
		FROM orders o JOIN order_lines l ON l.order_id = o.id
		WHERE o.status = 'PENDING' AND (o.email = ? OR o.client_network = ?)`,
		email, network, email, network).Scan(ctx, &h)
	if err != nil {
		return heldUnits{}, fmt.Errorf("count unpaid units: %w", err)
	}
	return h, nil
}

// callerScope names who a checkout's idempotency key is bound to besides
// its input: "" for an anonymous caller (a guest is known by the email in
// the input), else the role and id of the signed-in principal.
func callerScope(p auth.Principal) string {
	switch {
	case p.IsStaff():
		return "staff:" + p.ID
	case p.IsCustomer():
		return "customer:" + p.ID
	}
	return ""
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
