// Package graph is the GraphQL adapter: resolvers that check who asks, make
// one service call and convert the result. Business rules live in the
// domain packages under internal/.
package graph

import (
	"log/slog"

	"commerce/internal/auth"
	"commerce/internal/carts"
	"commerce/internal/catalog"
	"commerce/internal/customers"
	"commerce/internal/inventory"
	"commerce/internal/notify"
	"commerce/internal/orders"
	"commerce/internal/pricing"
	"commerce/internal/promotions"
	"commerce/internal/realtime"
	"commerce/internal/shipping"
	"commerce/internal/storage"
	"commerce/internal/webhooks"
)

// Services are the domain services the resolvers call.
type Services struct {
	Staff     *auth.StaffService
	Customers *customers.Service
	Catalog   *catalog.Service
	Inventory *inventory.Service
	Notify    *notify.Service
	Carts     *carts.Service
	Orders    *orders.Service
	Webhooks  *webhooks.Service
	Shipping  *shipping.Service
	// Promotions are managed by staff; carts and checkout price with the
	// same service.
	Promotions *promotions.Service
	Pricing    pricing.Config // prices carts for display
	Live       *realtime.Hub  // subscriptions
	Images     *storage.Store // signs ProductImage.url
	Quotas     Quotas
}

// Resolver receives the services through its constructor.
type Resolver struct {
	svc Services
	log *slog.Logger
}

// NewResolver returns the root resolver.
func NewResolver(s Services, log *slog.Logger) *Resolver {
	return &Resolver{svc: s, log: log}
}
