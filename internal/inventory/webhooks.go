package inventory

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

// lowStockData is the `data` of INVENTORY_LOW_STOCK: GraphQL's
// LowStockAlert, its product given by id, sku (the variant's) and name and
// its variant by id, sku and title (each is one query away: product(id:),
// variant(id:)).
type lowStockData struct {
	Product struct {
		ID   string `json:"id"`
		SKU  string `json:"sku"`
		Name string `json:"name"`
	} `json:"product"`
	Variant struct {
		ID    string `json:"id"`
		SKU   string `json:"sku"`
		Title string `json:"title"`
	} `json:"variant"`
	AvailableQuantity int       `json:"availableQuantity"`
	Threshold         int       `json:"threshold"`
	Timestamp         time.Time `json:"timestamp"`
}

// announceLowStock reports that r's variant crossed its threshold at at.
func (l *Ledger) announceLowStock(ctx context.Context, tx bun.Tx, r Result, at time.Time) error {
	if l.cfg.Webhooks == nil {
		return nil
	}
	return l.cfg.Webhooks.Announce(ctx, tx, webhooks.InventoryLowStock, "", func(context.Context) (any, error) {
		d := lowStockData{AvailableQuantity: r.Available, Threshold: r.Threshold, Timestamp: at}
		d.Product.ID, d.Product.SKU, d.Product.Name = r.ProductID, r.SKU, r.Name
		d.Variant.ID, d.Variant.SKU, d.Variant.Title = r.VariantID, r.SKU, r.VariantTitle
		return d, nil
	})
}
