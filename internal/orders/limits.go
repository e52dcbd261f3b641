package orders

import (
	"fmt"

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
// held is the count of unpaid units that loadForCheckout read after the
// transaction-scoped advisory locks of the email and the network
// (unpaidScopeLocks, taken by claimKey's statement), so concurrent
// checkouts of one shopper are counted one after another instead of all
// slipping under the bound. The count cannot be in the locking statement: a
// statement's snapshot is taken before it waits for a lock, so it would
// miss the order of the checkout it waited for. The locks come first in the
// transaction, before the cart's and any stock row's, in the same order in
// every checkout (email, then network, then the key), so they cannot
// deadlock with each other or with the reservations.
//
// It returns a LIMIT_EXCEEDED userError at the lines (or the cart) that says
// what to do.
func (s *Service) checkReservationLimits(in CheckoutInput, units int, held heldUnits) error {
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
	if n := max(held.Email, held.Network); n+units > limit {
		return &apperr.Error{Kind: apperr.Invalid, Code: codeLimitExceeded, Field: field,
			Message: fmt.Sprintf("orders awaiting payment may hold at most %d units and %d are held already: "+
				"pay for the pending orders or wait until they expire, or order fewer units", limit, n)}
	}
	return nil
}

// unpaidScopeLocks names the advisory locks of the email and, when there is
// one, of the client network, in the order they are taken; none when
// unpaid units are not bounded.
func (s *Service) unpaidScopeLocks(in CheckoutInput) []string {
	if s.cfg.MaxUnpaidUnits <= 0 {
		return nil
	}
	locks := []string{"unpaid-units:email:" + in.Email}
	if network := web.NetworkOf(in.ClientIP); network != "" {
		locks = append(locks, "unpaid-units:network:"+network)
	}
	return locks
}

// heldUnits are the units of unpaid orders per email and per client
// network.
type heldUnits struct {
	Email   int `json:"email"`
	Network int `json:"network"`
}

// unpaidUnitsExpr is a scalar subquery (a json object, heldUnits) that sums
// the units of the PENDING orders of the email and of the client network
// (none for an empty one), through the partial indexes on unpaid orders.
// Its placeholders are unpaidUnitsArgs.
const unpaidUnitsExpr = `(SELECT json_build_object(
		'email', coalesce(sum(l.quantity) FILTER (WHERE o.email = ?), 0),
		'network', coalesce(sum(l.quantity) FILTER (WHERE o.client_network = ?), 0))
	FROM orders o JOIN order_lines l ON l.order_id = o.id
	WHERE o.status = 'PENDING' AND (o.email = ? OR o.client_network = ?))`

func unpaidUnitsArgs(email, network string) []any { return []any{email, network, email, network} }

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
