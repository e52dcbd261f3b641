package carts

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/customers"
	"commerce/internal/pricing"
	"commerce/internal/shipping"
)

// SetShippingAddress sets where the cart ships; its quotes and tax follow,
// and a chosen method that cannot serve the new address is no longer
// charged. It returns a NotFound userError at ["cartId"], CART_COMPLETED,
// and Invalid userErrors at ["address", field], nothing written then.
func (s *Service) SetShippingAddress(ctx context.Context, cartID string, a customers.Address) (*Cart, error) {
	if _, ok := canonicalID(cartID); !ok {
		return nil, errCartNotFound()
	}
	a, err := customers.NormalizeAddress(a, apperr.Path("address"))
	if err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(a)
	return s.change(ctx, "set cart shipping address", cartID, func(ctx context.Context, tx bun.Tx, id string, _ linesOfCart) error {
		return updateShippingAddress(ctx, tx, id, raw)
	})
}

// SetShippingMethod chooses the cart's shipping method, which must be one
// of its quotes now. It returns a NotFound userError at ["cartId"],
// CART_COMPLETED, and SHIPPING_METHOD_UNAVAILABLE at ["shippingMethodId"]
// when the method cannot serve the cart's address and contents (or the
// cart has no address yet), nothing written then.
func (s *Service) SetShippingMethod(ctx context.Context, cartID, methodID string, cfg pricing.Config) (*Cart, error) {
	c, err := s.ByID(ctx, cartID)
	if errors.Is(err, apperr.ErrNotFound) {
		return nil, errCartNotFound()
	}
	if err != nil {
		return nil, err
	}
	if c.Status != StatusActive {
		return nil, errCompleted()
	}
	p, err := s.Price(ctx, c, cfg)
	if err != nil {
		return nil, err
	}
	key, err := shipping.MethodFor(p.Shipping, methodID, apperr.Path("shippingMethodId"))
	if err != nil {
		return nil, err
	}
	return s.change(ctx, "set cart shipping method", cartID, func(ctx context.Context, tx bun.Tx, id string, _ linesOfCart) error {
		return updateShippingMethod(ctx, tx, id, key)
	})
}
