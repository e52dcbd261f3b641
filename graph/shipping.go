package graph

import (
	"strconv"

	"commerce/graph/model"
	"commerce/graph/scalar"
	"commerce/internal/money"
	"commerce/internal/orders"
	"commerce/internal/pricing"
	"commerce/internal/shipping"
)

// This file converts shipping zones, methods, quotes and tax between the
// domain and GraphQL.

func toShippingZone(z *shipping.Zone) *model.ShippingZone {
	out := &model.ShippingZone{ID: z.ID, Name: z.Name, Countries: z.Countries, Methods: make([]*model.ShippingMethod, len(z.Methods))}
	for i, m := range z.Methods {
		out.Methods[i] = toShippingMethod(m)
	}
	return out
}

// toShippingMethod converts a method; its zone is converted by the zone
// resolver, when asked for.
func toShippingMethod(m *shipping.Method) *model.ShippingMethod {
	out := &model.ShippingMethod{ID: m.ID, ZoneRef: m.Zone, Name: m.Name, Carrier: m.Carrier,
		Condition: model.ShippingRateCondition(m.Condition), FreeAbove: toMoneyPtr(m.FreeAbove),
		MinDeliveryDays: m.MinDays, MaxDeliveryDays: m.MaxDays, IsActive: m.IsActive,
		Rates: make([]*model.ShippingRate, len(m.Bands))}
	bound := func(v int64) scalar.Decimal {
		if m.Condition == shipping.ConditionWeight {
			return scalar.Decimal(strconv.FormatInt(v, 10))
		}
		return scalar.Decimal(money.New(v, m.Currency).Decimal())
	}
	for i, b := range m.Bands {
		r := &model.ShippingRate{Min: bound(b.Min), Price: toMoney(money.New(b.Price, m.Currency))}
		if b.Max != nil {
			v := bound(*b.Max)
			r.Max = &v
		}
		out.Rates[i] = r
	}
	return out
}

func toShippingQuotes(qs []shipping.Quote) []*model.ShippingQuote {
	out := make([]*model.ShippingQuote, len(qs))
	for i, q := range qs {
		out[i] = &model.ShippingQuote{Method: toShippingMethod(q.Method), Price: toMoney(q.Price),
			MinDeliveryDays: q.Method.MinDays, MaxDeliveryDays: q.Method.MaxDays}
	}
	return out
}

func toTaxLines(ls []pricing.TaxLine) []*model.TaxLine {
	out := make([]*model.TaxLine, len(ls))
	for i, l := range ls {
		out[i] = &model.TaxLine{Name: l.Name, Rate: scalar.Decimal(shipping.FormatRate(l.Rate)), Amount: toMoney(l.Amount)}
	}
	return out
}

func toOrderTaxLines(ls []orders.TaxLine) []*model.TaxLine {
	out := make([]*model.TaxLine, len(ls))
	for i, l := range ls {
		out[i] = &model.TaxLine{Name: l.Name, Rate: scalar.Decimal(l.Rate), Amount: toMoney(l.Amount)}
	}
	return out
}

func toTaxRate(t *shipping.TaxRate) *model.TaxRate {
	return &model.TaxRate{ID: t.ID, Name: t.Name, CountryCode: t.CountryCode, Region: t.Region, TaxClass: t.TaxClass,
		Rate: scalar.Decimal(shipping.FormatRate(t.Rate)), AppliesToShipping: t.AppliesToShipping}
}

func toShippingZoneInput(in model.ShippingZoneInput) shipping.ZoneInput {
	return shipping.ZoneInput{Name: in.Name, Countries: in.Countries}
}

func toShippingMethodInput(in model.ShippingMethodInput) shipping.MethodInput {
	out := shipping.MethodInput{Name: in.Name, Carrier: in.Carrier, Condition: shipping.Condition(in.Condition),
		FreeAbove: decimalPtr(in.FreeAbove), MinDays: in.MinDeliveryDays, MaxDays: in.MaxDeliveryDays,
		IsActive: in.IsActive == nil || *in.IsActive, Rates: make([]shipping.BandInput, len(in.Rates))}
	for i, r := range in.Rates {
		out.Rates[i] = shipping.BandInput{Min: string(r.Min), Max: decimalPtr(r.Max), Price: string(r.Price)}
	}
	return out
}

func toTaxRateInput(in model.TaxRateInput) shipping.TaxRateInput {
	return shipping.TaxRateInput{Name: in.Name, CountryCode: in.CountryCode, Region: in.Region, TaxClass: in.TaxClass,
		Rate: string(in.Rate), AppliesToShipping: in.AppliesToShipping != nil && *in.AppliesToShipping}
}

func shippingZonePayload(z *shipping.Zone, err error) (*model.ShippingZonePayload, error) {
	if ues, ok := userErrors(err); ok {
		return &model.ShippingZonePayload{UserErrors: ues}, nil
	}
	if err != nil {
		return nil, err
	}
	return &model.ShippingZonePayload{Zone: toShippingZone(z), UserErrors: []*model.UserError{}}, nil
}

func shippingMethodPayload(m *shipping.Method, err error) (*model.ShippingMethodPayload, error) {
	if ues, ok := userErrors(err); ok {
		return &model.ShippingMethodPayload{UserErrors: ues}, nil
	}
	if err != nil {
		return nil, err
	}
	return &model.ShippingMethodPayload{Method: toShippingMethod(m), UserErrors: []*model.UserError{}}, nil
}

func taxRatePayload(t *shipping.TaxRate, err error) (*model.TaxRatePayload, error) {
	if ues, ok := userErrors(err); ok {
		return &model.TaxRatePayload{UserErrors: ues}, nil
	}
	if err != nil {
		return nil, err
	}
	return &model.TaxRatePayload{TaxRate: toTaxRate(t), UserErrors: []*model.UserError{}}, nil
}

func deletePayload(id string, err error) (*model.DeletePayload, error) {
	if ues, ok := userErrors(err); ok {
		return &model.DeletePayload{UserErrors: ues}, nil
	}
	if err != nil {
		return nil, err
	}
	return &model.DeletePayload{DeletedID: &id, UserErrors: []*model.UserError{}}, nil
}
