package graph

import (
	"context"
	"fmt"

	"commerce/graph/model"
	"commerce/internal/auth"
	"commerce/internal/orders"
)

// toReturnRequest converts returnRequest's input.
func toReturnRequest(in model.ReturnRequestInput) orders.ReturnRequestInput {
	out := orders.ReturnRequestInput{OrderNumber: in.OrderNumber, Email: in.Email, AccessToken: in.AccessToken, Note: in.Note}
	for _, l := range in.Lines {
		out.Lines = append(out.Lines, orders.ReturnLineInput{OrderLineID: l.OrderLineID, Quantity: l.Quantity, Reason: l.Reason})
	}
	return out
}

// returnPayload turns a return mutation's result into its payload; the
// caller's view of the order is p's with the access token it presented.
func (r *Resolver) returnPayload(ctx context.Context, p auth.Principal, token *string, rt *orders.Return, err error) (*model.ReturnPayload, error) {
	if ues, ok := userErrors(err); ok {
		return &model.ReturnPayload{UserErrors: ues}, nil
	}
	if err != nil {
		return nil, err
	}
	o, err := returnOrder(ctx, rt)
	if err != nil {
		return nil, err
	}
	return &model.ReturnPayload{Return: toReturn(rt, r.svc.Orders.AccessFor(p, o, token)), UserErrors: []*model.UserError{}}, nil
}

// returnOrder loads the order of rt through the operation's loader; a
// return's order is never deleted, so none is an error.
func returnOrder(ctx context.Context, rt *orders.Return) (*orders.Order, error) {
	o, err := loadersFrom(ctx).order.Load(ctx, rt.OrderID)
	if err != nil {
		return nil, err
	}
	if o == nil {
		return nil, fmt.Errorf("order %s of return %s not found", rt.OrderID, rt.ID)
	}
	return o, nil
}

// staffReturnPayload is returnPayload for a staff mutation.
func (r *Resolver) staffReturnPayload(ctx context.Context, rt *orders.Return, err error) (*model.ReturnPayload, error) {
	return r.returnPayload(ctx, auth.FromContext(ctx), nil, rt, err)
}

// toReturn converts a return; access is what its reader may see of the
// order (Return.order).
func toReturn(rt *orders.Return, access orders.Access) *model.Return {
	if rt == nil {
		return nil
	}
	return &model.Return{ID: rt.ID, ReturnNumber: rt.Number, Status: model.ReturnStatus(rt.Status),
		CustomerNote: rt.CustomerNote, StaffNote: rt.StaffNote, CreatedAt: rt.CreatedAt, UpdatedAt: rt.UpdatedAt,
		Src: rt, Access: access}
}

// staffAccess is what STAFF with ORDERS see of any order.
var staffAccess = orders.Access{Secret: true, Customer: true}

func toReturnConnection(p *orders.ReturnPage, count func(ctx context.Context) (int, error)) *model.ReturnConnection {
	edges := make([]*model.ReturnEdge, len(p.Returns))
	for i, rt := range p.Returns {
		edges[i] = &model.ReturnEdge{Node: toReturn(rt, staffAccess), Cursor: p.Cursors[i]}
	}
	return &model.ReturnConnection{Edges: edges, PageInfo: toPageInfo(p.HasNextPage, p.HasPreviousPage, p.Cursors), Count: count}
}

// returnsPage lists returns for Query.returns.
func (r *Resolver) returnsPage(ctx context.Context, first *int, after *string, status *model.ReturnStatus) (*model.ReturnConnection, error) {
	var st *orders.ReturnStatus
	if status != nil {
		s := orders.ReturnStatus(*status)
		st = &s
	}
	p, err := r.svc.Orders.ListReturns(ctx, st, first, deref(after))
	if err != nil {
		return nil, err
	}
	return toReturnConnection(p, func(ctx context.Context) (int, error) { return r.svc.Orders.CountReturns(ctx, st) }), nil
}

// returnLines converts a return's lines; they point at the order's lines.
func returnLines(rt *orders.Return, lines []*model.OrderLine) []*model.ReturnLine {
	out := make([]*model.ReturnLine, 0, len(rt.Lines))
	for _, l := range rt.Lines {
		if ol := orderLine(lines, l.OrderLineID); ol != nil {
			out = append(out, &model.ReturnLine{OrderLine: ol, Quantity: l.Quantity, Reason: l.Reason})
		}
	}
	return out
}
