package graph

import (
	"context"

	"commerce/graph/model"
	"commerce/graph/scalar"
	"commerce/internal/money"
	"commerce/internal/promotions"
)

// This file converts promotions and discount allocations between the
// domain and GraphQL.

func fromPromotionInput(in model.PromotionInput) promotions.PromotionInput {
	out := promotions.PromotionInput{Name: in.Name, Code: in.Code, ValueType: promotions.ValueType(in.ValueType),
		Value: string(in.Value), StartsAt: in.StartsAt, EndsAt: in.EndsAt, UsageLimit: in.UsageLimit,
		PerCustomerLimit: in.PerCustomerLimit,
		// combinesWithOtherPromotions defaults to false, isActive to true.
		Combines: in.CombinesWithOtherPromotions != nil && *in.CombinesWithOtherPromotions,
		IsActive: in.IsActive == nil || *in.IsActive}
	if in.MinimumSubtotal != nil {
		s := string(*in.MinimumSubtotal)
		out.MinimumSubtotal = &s
	}
	if t := in.AppliesTo; t != nil {
		out.Categories, out.Tags, out.ProductIDs = t.Categories, t.Tags, t.ProductIds
	}
	return out
}

// promotionValue prints a promotion's value: a percentage or an amount.
func promotionValue(p *promotions.Promotion) scalar.Decimal {
	if p.ValueType == promotions.Percentage {
		// In hundredths of a percent, printed like a 2-digit amount, trimmed.
		d := money.New(p.Value, "USD").Decimal()
		for d[len(d)-1] == '0' {
			d = d[:len(d)-1]
		}
		if d[len(d)-1] == '.' {
			d = d[:len(d)-1]
		}
		return scalar.Decimal(d)
	}
	return scalar.Decimal(money.New(p.Value, p.Currency).Decimal())
}

func toPromotion(p *promotions.Promotion) *model.Promotion {
	if p == nil {
		return nil
	}
	t := p.Target
	out := &model.Promotion{ID: p.ID, Name: p.Name, Code: p.Code, ValueType: model.DiscountValueType(p.ValueType),
		Value: promotionValue(p), StartsAt: p.StartsAt, EndsAt: p.EndsAt, UsageLimit: p.UsageLimit,
		PerCustomerLimit: p.PerCustomerLimit, TimesUsed: p.TimesUsed, CombinesWithOtherPromotions: p.Combines,
		IsActive: p.IsActive, ArchivedAt: p.ArchivedAt, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
		AppliesTo: &model.PromotionTarget{AllProducts: t.All(), Categories: nonNilStrings(t.Categories),
			Tags: nonNilStrings(t.Tags), ProductIDs: t.ProductIDs}}
	if p.MinimumSubtotal != nil {
		out.MinimumSubtotal = toMoney(money.New(*p.MinimumSubtotal, p.Currency))
	}
	return out
}

func toPromotionConnection(p *promotions.Page, hasPrev bool) *model.PromotionConnection {
	edges := make([]*model.PromotionEdge, len(p.Promotions))
	for i := range p.Promotions {
		edges[i] = &model.PromotionEdge{Node: toPromotion(&p.Promotions[i]), Cursor: p.Cursors[i]}
	}
	return &model.PromotionConnection{Edges: edges, PageInfo: toPageInfo(p.HasNextPage, hasPrev, p.Cursors),
		TotalCount: p.TotalCount}
}

func promotionPayload(p *promotions.Promotion, err error) (*model.PromotionPayload, error) {
	if ues, ok := userErrors(err); ok {
		return &model.PromotionPayload{UserErrors: ues}, nil
	}
	if err != nil {
		return nil, err
	}
	return &model.PromotionPayload{Promotion: toPromotion(p), UserErrors: []*model.UserError{}}, nil
}

func toDiscountAllocations(as []promotions.Allocation, currency string) []*model.DiscountAllocation {
	out := make([]*model.DiscountAllocation, len(as))
	for i, a := range as {
		out[i] = &model.DiscountAllocation{PromotionName: a.PromotionName, Code: a.Code,
			ValueType: model.DiscountValueType(a.ValueType), Amount: toMoney(money.New(a.Amount, currency))}
	}
	return out
}

// promotionProducts are the target's products that still exist.
func (r *Resolver) promotionProducts(ctx context.Context, ids []string) ([]*model.Product, error) {
	out := []*model.Product{}
	for _, id := range ids {
		p, err := loadersFrom(ctx).product.Load(ctx, id)
		if err != nil {
			return nil, err
		}
		if p != nil {
			out = append(out, toProduct(p))
		}
	}
	return out, nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
