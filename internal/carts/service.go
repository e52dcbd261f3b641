package carts

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/contact"
	"commerce/internal/platform/db"
	"commerce/internal/pricing"
	"commerce/internal/promotions"
)

// Create creates a cart in the store currency with the lines and email,
// both optional (a blank email is none), and the shopper's marketing
// consent at that email (optIn true; without an email there is nothing to
// consent for). It returns an apperr.List of every problem of the input at
// once, nothing written then: Invalid at ["email"] and under ["lines", i]
// (see AddLines).
func (s *Service) Create(ctx context.Context, lines []LineInput, email *string, optIn *bool) (*Cart, error) {
	var errs apperr.List
	var addr *string
	if trimmed(email) != "" {
		e, err := contact.NormalizeEmail(*email, apperr.Path("email"))
		errs.Add(err)
		addr = &e
	}
	wanted, err := s.resolveLines(ctx, lines)
	if err != nil && !isUserError(err) {
		return nil, fmt.Errorf("create cart: %w", err)
	}
	errs.Add(err)
	add, err := plan(nil, wanted)
	errs.Add(err)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	var out *Cart
	err = s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		c, err := insertCart(ctx, tx, addr, addr != nil && optIn != nil && *optIn, s.currency, add.ids, add.productIDs, add.quantities)
		if err != nil {
			return fmt.Errorf("insert cart: %w", err)
		}
		out = c
		return s.scheduleReminder(ctx, tx, out)
	})
	if err != nil {
		return nil, fmt.Errorf("create cart: %w", err)
	}
	return out, nil
}

// AddLines adds the lines to the cart; a product already in the cart adds
// to its line. Stock is not checked: checkout reserves it. It returns a
// NotFound userError at ["cartId"] for an unknown cart, a CART_COMPLETED one
// for a checked-out cart, and an apperr.List of every line problem at once,
// nothing written then: Invalid at ["lines", i, "quantity"] (1 to 1000, also
// counting what the cart holds) and at ["lines", i, "productId"] (not
// exactly one of productId and sku), NotFound at ["lines", i, "productId"]
// or ["lines", i, "sku"] for a missing or inactive product, Invalid there
// for a product in another currency, and Invalid at ["lines"] for more than
// 100 lines in the request or 100 products in the cart.
func (s *Service) AddLines(ctx context.Context, cartID string, lines []LineInput) (*Cart, error) {
	if _, ok := canonicalID(cartID); !ok {
		return nil, errCartNotFound()
	}
	wanted, err := s.resolveLines(ctx, lines)
	if err != nil {
		return nil, err
	}
	// The request's own lines, merged per variant: one upsert cannot
	// touch a row twice.
	add, err := plan(nil, wanted)
	if err != nil {
		return nil, err
	}
	return s.change(ctx, "add cart lines", cartID, func(ctx context.Context, tx bun.Tx, id string, _ linesOfCart) error {
		if len(add.ids) == 0 {
			return nil
		}
		current, applied, err := upsertLines(ctx, tx, id, add.ids, add.productIDs, add.quantities)
		if err != nil || applied {
			return err
		}
		if _, err := plan(current, wanted); err != nil {
			return err
		}
		return fmt.Errorf("the cart's bounds refused lines that plan accepts")
	})
}

// UpdateLines sets the quantities of lines of the cart; 0 removes a line.
// It returns the cart errors of AddLines and an apperr.List of every line
// problem at once, nothing written then: NotFound at ["lines", i, "id"] for
// a line not in the cart, Invalid there for a line given twice, Invalid at
// ["lines", i, "quantity"] outside 0 to 1000 and at ["lines"] for more than
// 100 updates.
func (s *Service) UpdateLines(ctx context.Context, cartID string, updates []LineUpdate) (*Cart, error) {
	return s.change(ctx, "update cart lines", cartID, func(ctx context.Context, tx bun.Tx, id string, lines linesOfCart) error {
		current, err := lines()
		if err != nil {
			return err
		}
		set, remove, err := lineUpdates(current, updates)
		if err != nil {
			return err
		}
		if len(remove) > 0 {
			if err := deleteLines(ctx, tx, id, remove); err != nil {
				return err
			}
		}
		if len(set.ids) > 0 {
			return setQuantities(ctx, tx, id, set.ids, set.quantities)
		}
		return nil
	})
}

// RemoveLines removes lines from the cart. It returns the cart errors of
// AddLines, an apperr.List with a NotFound userError at ["lineIds", i] for
// each line not in the cart (nothing written then), and Invalid at
// ["lineIds"] for more than 100 ids.
func (s *Service) RemoveLines(ctx context.Context, cartID string, lineIDs []string) (*Cart, error) {
	return s.change(ctx, "remove cart lines", cartID, func(ctx context.Context, tx bun.Tx, id string, lines linesOfCart) error {
		current, err := lines()
		if err != nil {
			return err
		}
		ids, err := lineRemovals(current, lineIDs)
		if err != nil || len(ids) == 0 {
			return err
		}
		return deleteLines(ctx, tx, id, ids)
	})
}

// UpdateEmail sets the cart's email, normalised, and the shopper's
// marketing consent at it: optIn when given; otherwise a consent given for
// the same email stays and one given for another email is cleared. It
// returns the cart errors of AddLines and an Invalid userError at ["email"]
// for a bad address.
func (s *Service) UpdateEmail(ctx context.Context, cartID, email string, optIn *bool) (*Cart, error) {
	if _, ok := canonicalID(cartID); !ok {
		return nil, errCartNotFound()
	}
	addr, err := contact.NormalizeEmail(email, apperr.Path("email"))
	if err != nil {
		return nil, err
	}
	return s.change(ctx, "update cart email", cartID, func(ctx context.Context, tx bun.Tx, id string, _ linesOfCart) error {
		_, err := updateEmail(ctx, tx, id, addr, optIn)
		return err
	})
}

// ByID returns the cart with its lines. It returns an apperr NotFound error
// for an unknown or malformed id.
func (s *Service) ByID(ctx context.Context, id string) (*Cart, error) {
	key, ok := canonicalID(id)
	if !ok {
		return nil, errNotFound()
	}
	c, err := selectCartWithLines(ctx, s.db.Bun, key)
	if err != nil {
		return nil, fmt.Errorf("load cart: %w", err)
	}
	if c == nil {
		return nil, errNotFound()
	}
	return c, nil
}

// Complete locks the cart and marks it completed by the order in one
// statement, for checkout's transaction; the lines are read by a later
// statement of that transaction (LinesExpr), after the lock, so that they
// are the latest committed ones. It returns the cart as it was before, with
// no lines, a NotFound userError for an unknown or malformed id and a
// CART_COMPLETED one for a cart checked out already. On an error the caller
// rolls back, and with it the completion.
func (s *Service) Complete(ctx context.Context, tx bun.Tx, cartID, orderID string) (*Cart, error) {
	key, ok := canonicalID(cartID)
	if !ok {
		return nil, errCartNotFound()
	}
	r, err := completeCart(ctx, tx, key, orderID)
	if db.IsNoRows(err) {
		return nil, errCartNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("complete cart: %w", err)
	}
	if Status(r.Status) != StatusActive {
		return nil, errCompleted()
	}
	return r.cart(nil), nil
}

// linesOfCart reads the cart's current lines, for a change that needs them
// before it writes (the others save the statement).
type linesOfCart func() ([]lineRow, error)

// change runs fn in one transaction that holds the cart's row lock, touches
// the cart, schedules its abandoned-cart reminder, and returns it after the
// change. fn reads the current lines with its linesOfCart when it needs
// them: after the lock, so they are the latest.
// fn's apperr errors are returned as they are, with nothing written.
func (s *Service) change(ctx context.Context, action, cartID string,
	fn func(ctx context.Context, tx bun.Tx, id string, current linesOfCart) error) (*Cart, error) {
	id, ok := canonicalID(cartID)
	if !ok {
		return nil, errCartNotFound()
	}
	var out *Cart
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		r, err := lockForChange(ctx, tx, id)
		if db.IsNoRows(err) {
			return errCartNotFound()
		}
		if err != nil {
			return err
		}
		if Status(r.Status) != StatusActive {
			return errCompleted()
		}
		lines := func() ([]lineRow, error) { return selectLines(ctx, tx, id) }
		if err := fn(ctx, tx, id, lines); err != nil {
			return err
		}
		if out, err = touchCart(ctx, tx, id); err != nil {
			return err
		}
		return s.scheduleReminder(ctx, tx, out)
	})
	if isUserError(err) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", action, err)
	}
	return out, nil
}

// load locks the cart and returns it with its lines, nil when there is
// none.
func load(ctx context.Context, idb bun.IDB, id string) (*Cart, error) {
	r, err := selectCart(ctx, idb, id)
	if db.IsNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rows, err := selectLines(ctx, idb, id)
	if err != nil {
		return nil, err
	}
	return r.cart(rows), nil
}

// isUserError reports whether err is an apperr error meant for the caller.
func isUserError(err error) bool {
	var e *apperr.Error
	var l apperr.List
	return errors.As(err, &l) || errors.As(err, &e)
}

// UpdateDiscountCodes replaces the cart's discount codes (an empty list
// clears them), priced with cfg. A code whose minimum is not met yet is
// kept; the others that do not apply are userErrors at ["codes", i] with
// the contract's codes (the per-customer limit judged for the cart's
// email), and nothing changes. More than promotions.MaxCodes codes is
// Invalid at ["codes"]. It returns the cart errors of AddLines.
func (s *Service) UpdateDiscountCodes(ctx context.Context, cartID string, codes []string, cfg pricing.Config) (*Cart, error) {
	if len(codes) > promotions.MaxCodes {
		return nil, apperr.InvalidField(apperr.Path("codes"), "at most %d codes", promotions.MaxCodes)
	}
	norm := make([]string, 0, len(codes))
	for _, c := range codes {
		if c = promotions.NormalizeCode(c); !slices.Contains(norm, c) {
			norm = append(norm, c)
		}
	}
	c, err := s.ByID(ctx, cartID)
	if err != nil {
		return nil, errCartNotFound()
	}
	if c.Status != StatusActive {
		return nil, errCompleted()
	}
	if len(norm) > 0 {
		if err := s.checkCodes(ctx, c, norm, cfg); err != nil {
			return nil, err
		}
	}
	return s.change(ctx, "update cart discount codes", cartID, func(ctx context.Context, tx bun.Tx, id string, _ linesOfCart) error {
		return setDiscountCodes(ctx, tx, id, norm)
	})
}

// checkCodes prices the cart with codes and returns their problems as
// userErrors at ["codes", i].
func (s *Service) checkCodes(ctx context.Context, c *Cart, codes []string, cfg pricing.Config) error {
	c.DiscountCodes = codes
	var uses map[string]int
	if c.Email != nil {
		promos, err := s.promos.ForPricing(ctx, s.db.Bun, codes)
		if err != nil {
			return err
		}
		if uses, err = s.promos.CustomerUses(ctx, *c.Email, promos); err != nil {
			return err
		}
	}
	if uses == nil {
		uses = map[string]int{}
	}
	p, err := s.price(ctx, c, cfg, uses)
	if err != nil {
		return err
	}
	return promotions.Problems(p.problems, func(i int) []string { return apperr.Path("codes", i) })
}
