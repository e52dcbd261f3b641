package orders

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/platform/page"
)

var errOrderNotFound = apperr.New(apperr.NotFound, "order not found")

// ByID returns an order. It returns NotFound for an unknown or malformed id.
func (s *Service) ByID(ctx context.Context, id string) (*Order, error) {
	os, err := s.ByIDs(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	if os[0] == nil {
		return nil, errOrderNotFound
	}
	return os[0], nil
}

// ByIDs returns orders in key order, nil where there is none, in one query.
func (s *Service) ByIDs(ctx context.Context, ids []string) ([]*Order, error) {
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if uuid.Validate(id) == nil {
			valid = append(valid, strings.ToLower(id))
		}
	}
	out := make([]*Order, len(ids))
	if len(valid) == 0 {
		return out, nil
	}
	found, err := selectOrders(ctx, s.db.Bun, "id IN (?)", bun.In(valid))
	if err != nil {
		return nil, fmt.Errorf("load orders: %w", err)
	}
	byID := make(map[string]*Order, len(found))
	for _, o := range found {
		byID[o.ID] = o
	}
	for i, id := range ids {
		out[i] = byID[strings.ToLower(id)]
	}
	return out, nil
}

// Lookup finds an order by number for whoever asks: staff, the customer
// who owns it, or a guest holding its email or access token. Every failure
// (unknown number, wrong email, bad token, someone else's order) is the same
// NotFound, so a lookup reveals nothing about orders the caller may not see.
func (s *Service) Lookup(ctx context.Context, p auth.Principal, number string, email, token *string) (*Order, error) {
	found, err := selectOrders(ctx, s.db.Bun, "order_number = ?", strings.ToUpper(strings.TrimSpace(number)))
	if err != nil {
		return nil, fmt.Errorf("look up order: %w", err)
	}
	if len(found) == 0 || !s.MayRead(p, found[0], email, token) {
		return nil, errOrderNotFound
	}
	return found[0], nil
}

// MayRead reports whether the caller may read the order: staff, its owner,
// or a holder of its email or access token.
func (s *Service) MayRead(p auth.Principal, o *Order, email, token *string) bool {
	switch {
	case p.IsStaff():
		return true
	case p.IsCustomer() && o.CustomerID != nil && *o.CustomerID == p.ID:
		return true
	case token != nil && s.validAccessToken(o.ID, *token):
		return true
	case email != nil && strings.EqualFold(strings.TrimSpace(*email), o.Email):
		return true
	}
	return false
}

// Lines returns the lines of each order, in one query.
func (s *Service) Lines(ctx context.Context, orderIDs []string) ([]([]Line), error) {
	m, err := selectLines(ctx, s.db.Bun, orderIDs)
	if err != nil {
		return nil, fmt.Errorf("load order lines: %w", err)
	}
	out := make([][]Line, len(orderIDs))
	for i, id := range orderIDs {
		out[i] = m[id]
	}
	return out, nil
}

// perOrder splits items among orderIDs, in the order of each, by their
// order's id: an order with none gets an empty, non-nil slice, so its list
// field reads [] rather than null.
func perOrder[T any](orderIDs []string, items []T, orderID func(T) string) [][]T {
	by := make(map[string][]T, len(orderIDs))
	for _, it := range items {
		by[orderID(it)] = append(by[orderID(it)], it)
	}
	out := make([][]T, len(orderIDs))
	for i, id := range orderIDs {
		out[i] = by[id]
		if out[i] == nil {
			out[i] = []T{}
		}
	}
	return out
}

// Events returns the timeline of each order, oldest first, in one query.
func (s *Service) Events(ctx context.Context, orderIDs []string) ([][]Event, error) {
	m, err := selectEvents(ctx, s.db.Bun, orderIDs)
	if err != nil {
		return nil, fmt.Errorf("load order events: %w", err)
	}
	out := make([][]Event, len(orderIDs))
	for i, id := range orderIDs {
		out[i] = m[id]
	}
	return out, nil
}

// List returns a page of orders, newest first, matching f. It returns
// Invalid for a bad page size or cursor.
func (s *Service) List(ctx context.Context, f Filter, first *int, after string) (*Page, error) {
	n, err := page.First(first)
	if err != nil {
		return nil, err
	}
	where, args := f.where()
	if after != "" {
		k, err := page.DecodeCreated(after)
		if err != nil {
			return nil, err
		}
		where += " AND (created_at, id) < (?, ?)"
		args = append(args, k.CreatedAt, k.ID)
	}
	found, err := selectOrders(ctx, s.db.Bun, where+" ORDER BY created_at DESC, id DESC LIMIT ?", append(args, n+1)...)
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	p := &Page{HasNextPage: len(found) > n, HasPreviousPage: after != ""}
	if p.HasNextPage {
		found = found[:n]
	}
	p.Orders = found
	for _, o := range found {
		p.Cursors = append(p.Cursors, page.Encode(page.CreatedKey{CreatedAt: o.CreatedAt, ID: o.ID}))
	}
	return p, nil
}

// Count returns how many orders match f.
func (s *Service) Count(ctx context.Context, f Filter) (int, error) {
	where, args := f.where()
	var n int
	if err := s.db.Bun.NewRaw("SELECT count(*) FROM orders WHERE "+where, args...).Scan(ctx, &n); err != nil {
		return 0, fmt.Errorf("count orders: %w", err)
	}
	return n, nil
}

// where renders the filter as SQL. A malformed customer id matches nothing.
func (f Filter) where() (string, []any) {
	conds, args := []string{"true"}, []any{}
	add := func(cond string, arg any) {
		conds = append(conds, cond)
		args = append(args, arg)
	}
	if f.Status != nil {
		add("status = ?", string(*f.Status))
	}
	if f.PaymentStatus != nil {
		add("payment_status = ?", string(*f.PaymentStatus))
	}
	if f.FulfillmentStatus != nil {
		add("fulfillment_status = ?", string(*f.FulfillmentStatus))
	}
	if f.CustomerID != nil {
		if uuid.Validate(*f.CustomerID) != nil {
			conds = append(conds, "false")
		} else {
			add("customer_id = ?", strings.ToLower(*f.CustomerID))
		}
	}
	if f.Email != nil {
		add("email = ?", strings.ToLower(strings.TrimSpace(*f.Email)))
	}
	if f.CreatedAfter != nil {
		add("created_at >= ?", *f.CreatedAfter)
	}
	if f.CreatedBefore != nil {
		add("created_at < ?", *f.CreatedBefore)
	}
	return strings.Join(conds, " AND "), args
}

// Access is what a caller may see of an order besides its public fields.
type Access struct {
	Secret   bool // paymentClientSecret: staff, the owner, or a holder of the access token
	Customer bool // the customer record: staff or the owner; never a guest
}

// AccessFor says what p may see of o, given the access token it presented.
func (s *Service) AccessFor(p auth.Principal, o *Order, token *string) Access {
	owner := p.IsCustomer() && o.CustomerID != nil && *o.CustomerID == p.ID
	tokenOK := token != nil && s.validAccessToken(o.ID, *token)
	return Access{Secret: p.IsStaff() || owner || tokenOK, Customer: p.IsStaff() || owner}
}
