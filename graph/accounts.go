package graph

import (
	"context"

	"commerce/graph/model"
	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/customers"
	"commerce/internal/platform/page"
)

// The resolvers of v2 accounts: customers' self-service, staff accounts and
// sessions. Each makes one service call and converts its result.

func toStaffUser(u *auth.StaffUser) *model.StaffUser {
	if u == nil {
		return nil
	}
	perms := u.EffectivePermissions()
	out := &model.StaffUser{ID: u.ID, Email: u.Email, Name: u.Name, Role: model.StaffRole(u.Role),
		Permissions: make([]model.StaffPermission, len(perms)), IsActive: u.IsActive, LastLoginAt: u.LastLoginAt,
		CreatedAt: u.CreatedAt}
	for i, p := range perms {
		out.Permissions[i] = model.StaffPermission(p)
	}
	return out
}

func fromPermissions(ps []model.StaffPermission) []auth.Permission {
	if ps == nil {
		return nil
	}
	out := make([]auth.Permission, len(ps))
	for i, p := range ps {
		out[i] = auth.Permission(p)
	}
	return out
}

func fromRole(r *model.StaffRole) *auth.Role {
	if r == nil {
		return nil
	}
	role := auth.Role(*r)
	return &role
}

func staffPayload(u *auth.StaffUser, err error) (*model.StaffUserPayload, error) {
	if ues, ok := userErrors(err); ok {
		return &model.StaffUserPayload{UserErrors: ues}, nil
	}
	if err != nil {
		return nil, err
	}
	return &model.StaffUserPayload{StaffUser: toStaffUser(u), UserErrors: []*model.UserError{}}, nil
}

func customerPayload(c *customers.Customer, err error) (*model.CustomerPayload, error) {
	if ues, ok := userErrors(err); ok {
		return &model.CustomerPayload{UserErrors: ues}, nil
	}
	if err != nil {
		return nil, err
	}
	return &model.CustomerPayload{Customer: toCustomer(c), UserErrors: []*model.UserError{}}, nil
}

func addressPayload(c *customers.Customer, a *customers.Address, err error) (*model.CustomerAddressPayload, error) {
	if ues, ok := userErrors(err); ok {
		return &model.CustomerAddressPayload{UserErrors: ues}, nil
	}
	if err != nil {
		return nil, err
	}
	return &model.CustomerAddressPayload{Customer: toCustomer(c), Address: toAddress(a), UserErrors: []*model.UserError{}}, nil
}

func authPayload(c *customers.Customer, token string, err error) (*model.AuthPayload, error) {
	if ues, ok := userErrors(err); ok {
		return &model.AuthPayload{UserErrors: ues}, nil
	}
	if err != nil {
		return nil, err
	}
	return &model.AuthPayload{Token: &token, Customer: toCustomer(c), UserErrors: []*model.UserError{}}, nil
}

func errorsPayload(err error) (*model.UserErrorsPayload, error) {
	if ues, ok := userErrors(err); ok {
		return &model.UserErrorsPayload{UserErrors: ues}, nil
	}
	if err != nil {
		return nil, err
	}
	return &model.UserErrorsPayload{UserErrors: []*model.UserError{}}, nil
}

func toStaffUserConnection(p *auth.StaffPage, hasPrev bool, count int) *model.StaffUserConnection {
	edges := make([]*model.StaffUserEdge, len(p.Users))
	for i, u := range p.Users {
		edges[i] = &model.StaffUserEdge{Node: toStaffUser(u), Cursor: p.Cursors[i]}
	}
	return &model.StaffUserConnection{Edges: edges, PageInfo: toPageInfo(p.HasNextPage, hasPrev, p.Cursors), TotalCount: count}
}

func (r *queryResolver) staffUsers(ctx context.Context, first *int, after *string) (*model.StaffUserConnection, error) {
	n, err := page.First(first)
	if err != nil {
		return nil, err
	}
	p, err := r.svc.Staff.List(ctx, n, deref(after))
	if err != nil {
		return nil, err
	}
	// Staff accounts are few: counting them with the page costs little.
	count, err := r.svc.Staff.Count(ctx)
	if err != nil {
		return nil, err
	}
	return toStaffUserConnection(p, deref(after) != "", count), nil
}

// orderViewer is the caller as order reads see it: staff without ORDERS
// read orders as anyone else does (with the order's email or access
// token), not as staff.
func orderViewer(ctx context.Context) (context.Context, auth.Principal) {
	p := auth.FromContext(ctx)
	if p.IsStaff() && !p.Can(auth.PermOrders) {
		p = auth.Principal{}
		ctx = auth.WithPrincipal(ctx, p)
	}
	return ctx, p
}

// checkoutAddress fills the shipping address of a checkout from the
// signed-in customer's book when it names one. The address is copied
// without its book id: an order's address has none.
func (r *mutationResolver) checkoutAddress(ctx context.Context, p auth.Principal, in *model.CheckoutInput) error {
	if in.ShippingAddressID == nil {
		return nil
	}
	path := apperr.Path("input", "shippingAddressId")
	if !p.IsCustomer() || in.ShippingAddress != nil {
		return apperr.InvalidField(path, "give either shippingAddress or, signed in as a customer, shippingAddressId")
	}
	a, err := r.svc.Customers.BookAddress(ctx, p.ID, *in.ShippingAddressID)
	if err != nil {
		if apperr.KindOf(err) == apperr.NotFound {
			return &apperr.Error{Kind: apperr.NotFound, Field: path, Message: "address not found"}
		}
		return err
	}
	in.ShippingAddress = &model.AddressInput{FirstName: a.FirstName, LastName: a.LastName, Company: a.Company,
		Line1: a.Line1, Line2: a.Line2, City: a.City, Region: a.Region, PostalCode: a.PostalCode,
		CountryCode: a.CountryCode, Phone: a.Phone}
	return nil
}
