package catalog

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"commerce/internal/webhooks"
)

// Announcer reports a change to the webhook subscribers of its topic inside
// the transaction that makes it (webhooks.Service.Announce).
type Announcer interface {
	Announce(ctx context.Context, tx bun.Tx, topic webhooks.Topic, orderID string, render func(ctx context.Context) (any, error)) error
}

// WithWebhooks makes product creations and updates announce PRODUCT_CREATED
// and PRODUCT_UPDATED through a; it returns s.
func (s *Service) WithWebhooks(a Announcer) *Service {
	s.hooks = a
	return s
}

// announce reports p's change of topic in tx.
func (s *Service) announce(ctx context.Context, tx bun.Tx, topic webhooks.Topic, p *Product) error {
	if s.hooks == nil {
		return nil
	}
	return s.hooks.Announce(ctx, tx, topic, "", func(context.Context) (any, error) { return newProductData(p), nil })
}

// productData is the `data` of a product's webhook: the Product as staff
// read it through GraphQL, with the same field names, minus its images and
// ledger (other queries).
type productData struct {
	ID                string          `json:"id"`
	SKU               string          `json:"sku"`
	Handle            string          `json:"handle"`
	Name              string          `json:"name"`
	Description       *string         `json:"description"`
	Price             webhooks.Money  `json:"price"`
	CompareAtPrice    *webhooks.Money `json:"compareAtPrice"`
	CostPrice         *webhooks.Money `json:"costPrice"`
	Category          *string         `json:"category"`
	Tags              []string        `json:"tags"`
	InventoryQuantity int             `json:"inventoryQuantity"`
	AvailableQuantity int             `json:"availableQuantity"`
	LowStockThreshold int             `json:"lowStockThreshold"`
	IsActive          bool            `json:"isActive"`
	IsFeatured        bool            `json:"isFeatured"`
	WeightGrams       *int            `json:"weightGrams"`
	Dimensions        *dimensionsData `json:"dimensions"`
	CreatedAt         time.Time       `json:"createdAt"`
	UpdatedAt         time.Time       `json:"updatedAt"`
}

// dimensionsData is GraphQL's Dimensions.
type dimensionsData struct {
	LengthMm *int `json:"lengthMm"`
	WidthMm  *int `json:"widthMm"`
	HeightMm *int `json:"heightMm"`
}

func newProductData(p *Product) productData {
	d := productData{
		ID: p.ID, SKU: p.SKU, Handle: p.Handle, Name: p.Name, Description: p.Description,
		Price: webhooks.MoneyOf(p.Price), CompareAtPrice: webhooks.MoneyOrNil(p.CompareAtPrice),
		CostPrice: webhooks.MoneyOrNil(p.CostPrice), Category: p.Category, Tags: p.Tags,
		InventoryQuantity: p.OnHand, AvailableQuantity: p.Available, LowStockThreshold: p.LowStockThreshold,
		IsActive: p.IsActive, IsFeatured: p.IsFeatured, WeightGrams: p.WeightGrams,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
	if d.Tags == nil {
		d.Tags = []string{}
	}
	if p.Dimensions != nil {
		d.Dimensions = &dimensionsData{LengthMm: p.Dimensions.LengthMm, WidthMm: p.Dimensions.WidthMm, HeightMm: p.Dimensions.HeightMm}
	}
	return d
}
