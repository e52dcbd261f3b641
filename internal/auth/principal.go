// Package auth owns who is calling: password hashing, signed bearer tokens,
// the sessions they belong to, staff accounts with their permissions, and
// the Principal carried in the request context.
package auth

import (
	"context"
	"slices"
)

// Role is what a principal may do.
type Role string

// The roles. The zero Role is an anonymous caller.
const (
	Anonymous Role = ""
	Customer  Role = "CUSTOMER"
	Staff     Role = "STAFF"
	Admin     Role = "ADMIN"
)

// Permission is an area of staff work (API.graphqls lists what each
// covers). ADMIN holds every permission; a STAFF account those listed on it.
type Permission string

// The permissions.
const (
	PermCatalog       Permission = "CATALOG"
	PermInventory     Permission = "INVENTORY"
	PermOrders        Permission = "ORDERS"
	PermRefunds       Permission = "REFUNDS"
	PermCustomers     Permission = "CUSTOMERS"
	PermPromotions    Permission = "PROMOTIONS"
	PermNotifications Permission = "NOTIFICATIONS"
	PermSettings      Permission = "SETTINGS"
	PermStaffManage   Permission = "STAFF_MANAGE"
)

// AllPermissions lists every permission, in the schema's order.
var AllPermissions = []Permission{PermCatalog, PermInventory, PermOrders, PermRefunds, PermCustomers,
	PermPromotions, PermNotifications, PermSettings, PermStaffManage}

// DefaultStaffPermissions are those of a STAFF account created without a
// list: everything but settings and staff management.
var DefaultStaffPermissions = []Permission{PermCatalog, PermInventory, PermOrders, PermRefunds, PermCustomers,
	PermPromotions, PermNotifications}

// ValidPermission reports whether p is one of the permissions.
func ValidPermission(p Permission) bool { return slices.Contains(AllPermissions, p) }

// Principal is the authenticated caller of a request.
type Principal struct {
	ID          string // customer id or staff user id; empty for anonymous callers
	Role        Role
	Permissions []Permission // of a STAFF account; ADMIN has all whatever is listed
	SessionID   string       // the session its token belongs to
}

// IsStaff reports whether the principal is staff or admin.
func (p Principal) IsStaff() bool { return p.Role == Staff || p.Role == Admin }

// IsCustomer reports whether the principal is a signed-in customer.
func (p Principal) IsCustomer() bool { return p.Role == Customer }

// Can reports whether the principal is staff holding perm: ADMIN holds all.
func (p Principal) Can(perm Permission) bool {
	switch p.Role {
	case Admin:
		return true
	case Staff:
		return slices.Contains(p.Permissions, perm)
	}
	return false
}

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
