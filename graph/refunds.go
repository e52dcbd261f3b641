package graph

import (
	"context"

	"commerce/graph/model"
	"commerce/internal/auth"
	"commerce/internal/orders"
)

// toRefundInput converts orderRefund's input; defaults are the schema's
// (restock false, includeShipping false, notifyCustomer true).
func toRefundInput(in model.OrderRefundInput) orders.RefundInput {
	out := orders.RefundInput{
		Amount: decimalPtr(in.Amount), IncludeShipping: in.IncludeShipping != nil && *in.IncludeShipping,
		Reason: in.Reason, NotifyCustomer: in.NotifyCustomer == nil || *in.NotifyCustomer, IdempotencyKey: in.IdempotencyKey,
	}
	for _, l := range in.Lines {
		out.Lines = append(out.Lines, orders.RefundLineInput{OrderLineID: l.OrderLineID, Quantity: l.Quantity,
			Restock: l.Restock != nil && *l.Restock})
	}
	return out
}

// refundPayload turns orderRefund's result into its payload.
func (r *Resolver) refundPayload(ctx context.Context, o *orders.Order, rf *orders.Refund, err error) (*model.RefundPayload, error) {
	if ues, ok := userErrors(err); ok {
		return &model.RefundPayload{UserErrors: ues}, nil
	}
	if err != nil {
		return nil, err
	}
	lines, err := loadersFrom(ctx).lines.Load(ctx, o.ID)
	if err != nil {
		return nil, err
	}
	access := r.svc.Orders.AccessFor(auth.FromContext(ctx), o, nil)
	return &model.RefundPayload{Order: toOrder(o, access), Refund: toRefund(*rf, toOrderLines(lines)),
		UserErrors: []*model.UserError{}}, nil
}

// toRefund converts a refund; its lines point at the order's lines.
func toRefund(rf orders.Refund, lines []*model.OrderLine) *model.Refund {
	m := &model.Refund{ID: rf.ID, Amount: toMoney(rf.Amount), Reason: rf.Reason, Status: model.RefundStatus(rf.Status),
		Lines: make([]*model.RefundLine, 0, len(rf.Lines)), IncludesShipping: rf.IncludesShipping,
		CreatedAt: rf.CreatedAt, ProcessedAt: rf.ProcessedAt}
	for _, l := range rf.Lines {
		if ol := orderLine(lines, l.OrderLineID); ol != nil {
			m.Lines = append(m.Lines, &model.RefundLine{OrderLine: ol, Quantity: l.Quantity, Restocked: l.Restocked})
		}
	}
	return m
}
