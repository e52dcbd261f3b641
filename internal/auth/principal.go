// Package auth owns who is calling: password hashing, signed bearer tokens,
// staff accounts, and the Principal carried in the request context.
package auth

import "context"

// Role is what a principal may do.
type Role string

// The roles. The zero Role is an anonymous caller.
const (
	Anonymous Role = ""
	Customer  Role = "CUSTOMER"
	Staff     Role = "STAFF"
	Admin     Role = "ADMIN"
)

// Principal is the authenticated caller of a request.
type Principal struct {
	ID   string // customer id or staff user id; empty for anonymous callers
	Role Role
}

// IsStaff reports whether the principal is staff or admin.
func (p Principal) IsStaff() bool { return p.Role == Staff || p.Role == Admin }

// IsCustomer reports whether the principal is a signed-in customer.
func (p Principal) IsCustomer() bool { return p.Role == Customer }

// Satisfies reports whether the principal holds at least the required role:
// ADMIN satisfies STAFF; CUSTOMER is satisfied only by a customer.
func (p Principal) Satisfies(required Role) bool {
	switch required {
	case Customer:
		return p.Role == Customer
	case Staff:
		return p.IsStaff()
	case Admin:
		return p.Role == Admin
	}
	return true
}

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the caller, anonymous when none was set.
func FromContext(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}
