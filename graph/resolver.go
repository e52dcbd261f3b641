// Package graph is the GraphQL adapter: resolvers that check who asks, make
// one service call and convert the result. Business rules live in the
// domain packages under internal/.
package graph

import (
	"log/slog"

	"commerce/internal/auth"
	"commerce/internal/customers"
)

// Resolver receives the services through its constructor.
type Resolver struct {
	staff     *auth.StaffService
	customers *customers.Service
	log       *slog.Logger
}

// Services are the domain services the resolvers call.
type Services struct {
	Staff     *auth.StaffService
	Customers *customers.Service
}

// NewResolver returns the root resolver.
func NewResolver(s Services, log *slog.Logger) *Resolver {
	return &Resolver{staff: s.Staff, customers: s.Customers, log: log}
}
