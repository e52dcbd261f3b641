package graph

import (
	"commerce/graph/model"
	"commerce/graph/scalar"
	"commerce/internal/customers"
	"commerce/internal/money"
)

// This file holds the named converters between domain types and GraphQL
// types. Nothing is assigned across the boundary anywhere else.

func toMoney(m money.Money) *model.Money {
	return &model.Money{Amount: scalar.Decimal(m.Decimal()), CurrencyCode: m.Currency}
}

func toMoneyPtr(m *money.Money) *model.Money {
	if m == nil {
		return nil
	}
	return toMoney(*m)
}

func toAddress(a *customers.Address) *model.Address {
	if a == nil {
		return nil
	}
	return &model.Address{
		FirstName: a.FirstName, LastName: a.LastName, Company: a.Company,
		Line1: a.Line1, Line2: a.Line2, City: a.City, Region: a.Region,
		PostalCode: a.PostalCode, CountryCode: a.CountryCode, Phone: a.Phone,
	}
}

func toCustomer(c *customers.Customer) *model.Customer {
	if c == nil {
		return nil
	}
	addrs := make([]*model.Address, len(c.Addresses))
	for i := range c.Addresses {
		addrs[i] = toAddress(&c.Addresses[i])
	}
	return &model.Customer{
		ID: c.ID, Email: c.Email, FirstName: c.FirstName, LastName: c.LastName, Phone: c.Phone,
		Addresses: addrs, DefaultAddress: toAddress(c.DefaultAddress()),
		TotalOrders: c.TotalOrders, TotalSpent: toMoney(c.TotalSpent), MarketingOptIn: c.MarketingOptIn,
		StripeCustomerID: c.StripeCustomerID, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
}

func toCustomerRegisterInput(in model.CustomerRegisterInput) customers.RegisterInput {
	return customers.RegisterInput{
		Email: in.Email, Password: in.Password, FirstName: in.FirstName, LastName: in.LastName,
		Phone: in.Phone, MarketingOptIn: in.MarketingOptIn,
	}
}

func toPageInfo(hasNext, hasPrev bool, cursors []string) *model.PageInfo {
	pi := &model.PageInfo{HasNextPage: hasNext, HasPreviousPage: hasPrev}
	if len(cursors) > 0 {
		pi.StartCursor = &cursors[0]
		pi.EndCursor = &cursors[len(cursors)-1]
	}
	return pi
}

func toCustomerConnection(p *customers.Page, hasPrev bool, count scalar.Counter) *model.CustomerConnection {
	edges := make([]*model.CustomerEdge, len(p.Customers))
	for i, c := range p.Customers {
		edges[i] = &model.CustomerEdge{Node: toCustomer(c), Cursor: p.Cursors[i]}
	}
	return &model.CustomerConnection{Edges: edges, PageInfo: toPageInfo(p.HasNextPage, hasPrev, p.Cursors), Count: count}
}
