package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"commerce/graph/generated"
	"commerce/graph/model"
	"commerce/internal/apperr"
	"commerce/internal/auth"
)

// directives enforce the schema's access rules in one place.
func directives() generated.DirectiveRoot {
	return generated.DirectiveRoot{HasRole: hasRole, HasPermission: hasPermission, StaffOnly: staffOnly}
}

// hasRole refuses the field unless the caller holds the role. On a root
// field anonymous callers get UNAUTHENTICATED and signed-in callers without
// the role FORBIDDEN; a field of a type others may read (such as
// Product.inventoryTransactions) is FORBIDDEN to everyone without the role,
// as API.graphqls says.
func hasRole(ctx context.Context, _ any, next graphql.Resolver, role model.Role) (any, error) {
	err := require(ctx, auth.Role(role))
	if err != nil && !isRootField(ctx) {
		err = apperr.New(apperr.Forbidden, "you are not allowed to see this")
	}
	if err != nil {
		return nil, err
	}
	return next(ctx)
}

// isRootField reports whether the field being resolved is one of Query,
// Mutation or Subscription.
func isRootField(ctx context.Context) bool {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return true
	}
	switch fc.Object {
	case "Query", "Mutation", "Subscription":
		return true
	}
	return false
}

// staffOnly resolves the field for staff holding the permission and hides
// it (null, no error) from everyone else.
func staffOnly(ctx context.Context, _ any, next graphql.Resolver, perm model.StaffPermission) (any, error) {
	if !auth.FromContext(ctx).Can(auth.Permission(perm)) {
		return nil, nil
	}
	return next(ctx)
}

// hasPermission refuses the field with FORBIDDEN unless the staff caller
// holds the permission of its area.
//
// gqlgen runs the last directive of a field first, so it answers callers
// who are not staff the way @hasRole does: UNAUTHENTICATED or FORBIDDEN on
// a root field, FORBIDDEN elsewhere.
func hasPermission(ctx context.Context, _ any, next graphql.Resolver, perm model.StaffPermission) (any, error) {
	if err := requirePermission(ctx, auth.Permission(perm)); err != nil {
		if !isRootField(ctx) {
			err = apperr.New(apperr.Forbidden, "you are not allowed to see this")
		}
		return nil, err
	}
	return next(ctx)
}

// requirePermission returns an error unless the caller in ctx is staff
// holding perm: UNAUTHENTICATED for anonymous callers, FORBIDDEN otherwise.
func requirePermission(ctx context.Context, perm auth.Permission) error {
	if err := require(ctx, auth.Staff); err != nil {
		return err
	}
	if !auth.FromContext(ctx).Can(perm) {
		return apperr.New(apperr.Forbidden, "your account lacks the %s permission", perm)
	}
	return nil
}

// require returns an error unless the caller in ctx holds role.
func require(ctx context.Context, role auth.Role) error {
	p := auth.FromContext(ctx)
	switch {
	case p.Satisfies(role):
		return nil
	case p.Role == auth.Anonymous:
		return apperr.New(apperr.Unauthenticated, "sign in to do this")
	}
	return apperr.New(apperr.Forbidden, "you are not allowed to do this")
}
