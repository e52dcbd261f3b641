package graph

import (
	"context"
	"errors"

	"commerce/graph/model"
	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/carts"
	"commerce/internal/orders"
)

// pricedCart converts a cart with its lines priced at the current catalog
// prices.
func (r *Resolver) pricedCart(ctx context.Context, c *carts.Cart) (*model.Cart, error) {
	p, err := r.svc.Carts.Price(ctx, c, r.svc.Pricing)
	if err != nil {
		return nil, err
	}
	return toCart(c, p), nil
}

// cartRequest is the context of a cart mutation that loads variants to
// check its lines: the answer's pricing reuses them (carts.WithVariantMemo).
func cartRequest(ctx context.Context) context.Context { return carts.WithVariantMemo(ctx) }

// cartPayload turns a cart mutation's result into its payload.
func (r *Resolver) cartPayload(ctx context.Context, c *carts.Cart, err error) (*model.CartPayload, error) {
	if ues, ok := userErrors(err); ok {
		return &model.CartPayload{UserErrors: ues}, nil
	}
	if err != nil {
		return nil, err
	}
	mc, err := r.pricedCart(ctx, c)
	if err != nil {
		return nil, err
	}
	return &model.CartPayload{Cart: mc, UserErrors: []*model.UserError{}}, nil
}

// orderConnection lists orders; the caller's access decides what each
// order shows.
func (r *Resolver) orderConnection(ctx context.Context, f orders.Filter, first *int, after *string) (*model.OrderConnection, error) {
	p, err := r.svc.Orders.List(ctx, f, first, deref(after))
	if err != nil {
		return nil, err
	}
	caller := auth.FromContext(ctx)
	access := func(o *orders.Order) orders.Access { return r.svc.Orders.AccessFor(caller, o, nil) }
	count := func(ctx context.Context) (int, error) { return r.svc.Orders.Count(ctx, f) }
	return toOrderConnection(p, access, count), nil
}

// node finds what an id names, among what the caller may see: products
// and variants (inactive ones for staff only), carts (whoever holds the
// id), orders (staff with ORDERS and the owner), returns, refunds and
// fulfilments (staff with ORDERS: they show the order's lines), customers (staff with CUSTOMERS) and staff
// accounts (staff with STAFF_MANAGE). Ids are UUIDs shared by no two rows,
// so the first match is the only one.
func (r *Resolver) node(ctx context.Context, id string) (model.Node, error) {
	caller := auth.FromContext(ctx)
	_, viewer := orderViewer(ctx)
	l := loadersFrom(ctx)
	if p, err := l.product.Load(ctx, id); err != nil || (p != nil && (p.IsActive || caller.IsStaff())) {
		return toProduct(p), err
	}
	if v, err := r.visibleVariant(ctx, &id, nil); err != nil || v != nil {
		return toVariant(v), err
	}
	if c, err := r.svc.Carts.ByID(ctx, id); err == nil {
		return r.pricedCart(ctx, c)
	} else if !errors.Is(err, apperr.ErrNotFound) {
		return nil, err
	}
	if o, err := r.svc.Orders.ByID(ctx, id); err == nil {
		if access := r.svc.Orders.AccessFor(viewer, o, nil); access.Customer {
			return toOrder(o, access), nil
		}
	} else if !errors.Is(err, apperr.ErrNotFound) {
		return nil, err
	}
	if caller.Can(auth.PermOrders) {
		rs, err := r.svc.Orders.ReturnsByIDs(ctx, []string{id})
		if err != nil {
			return nil, err
		}
		if rs[0] != nil {
			return toReturn(rs[0], staffAccess), nil
		}
		if rf, err := r.svc.Orders.RefundByID(ctx, id); err == nil {
			lines, err := l.lines.Load(ctx, rf.OrderID)
			return toRefund(*rf, toOrderLines(lines)), err
		} else if !errors.Is(err, apperr.ErrNotFound) {
			return nil, err
		}
		if f, err := r.svc.Orders.FulfillmentByID(ctx, id); err == nil {
			lines, err := l.lines.Load(ctx, f.OrderID)
			return toFulfillment(*f, toOrderLines(lines)), err
		} else if !errors.Is(err, apperr.ErrNotFound) {
			return nil, err
		}
	}
	if caller.Can(auth.PermCustomers) {
		if c, err := l.customer.Load(ctx, id); err != nil || c != nil {
			return toCustomer(c), err
		}
		if p, err := r.svc.Promotions.ByID(ctx, id); err != nil || p != nil {
			return toPromotion(p), err
		}
	}
	if caller.Can(auth.PermStaffManage) {
		if u, err := r.svc.Staff.ByID(ctx, id); err == nil || !errors.Is(err, apperr.ErrNotFound) {
			return toStaffUser(u), err
		}
	}
	return nil, apperr.New(apperr.NotFound, "node not found")
}

// orderPayload turns a staff order mutation's result into its payload.
func (r *Resolver) orderPayload(ctx context.Context, o *orders.Order, err error) (*model.OrderPayload, error) {
	if ues, ok := userErrors(err); ok {
		return &model.OrderPayload{UserErrors: ues}, nil
	}
	if err != nil {
		return nil, err
	}
	access := r.svc.Orders.AccessFor(auth.FromContext(ctx), o, nil)
	return &model.OrderPayload{Order: toOrder(o, access), UserErrors: []*model.UserError{}}, nil
}
