// Package catalog owns products: their details, prices, search and
// listing, and the metadata of their images. Stock numbers are read here
// but only ever changed through the inventory ledger.
package catalog

import (
	"log/slog"
	"time"

	"commerce/internal/inventory"
	"commerce/internal/money"
	"commerce/internal/platform/db"
)

// Product is an item for sale.
type Product struct {
	ID                string
	SKU               string
	Handle            string
	Name              string
	Description       *string
	Price             money.Money
	CompareAtPrice    *money.Money
	CostPrice         *money.Money
	Category          *string
	Tags              []string
	OnHand            int // in the warehouse, counting reserved units
	Reserved          int // held by unpaid orders
	Available         int // what can still be sold: OnHand - Reserved
	LowStockThreshold int
	IsActive          bool
	IsFeatured        bool
	WeightGrams       *int
	// TaxClass picks the tax rates of that class over the standard ones;
	// nil is the standard class.
	TaxClass   *string
	Dimensions *Dimensions
	UnitsSold  int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Dimensions is a product's package size in millimetres.
type Dimensions struct {
	LengthMm, WidthMm, HeightMm *int
}

// Image is the metadata of a product image; the bytes live in blob storage
// under StorageKey.
type Image struct {
	ID          string
	ProductID   string
	StorageKey  string
	ContentType string
	AltText     *string
	Position    int
	Width       *int // pixels, from the file's header
	Height      *int
	SizeBytes   int64
	CreatedAt   time.Time
}

// Config holds the catalog settings.
type Config struct {
	// StoreCurrency is the ISO 4217 code of new products when none is given,
	// and of the price filter.
	StoreCurrency string
	// Log, when set, records image objects that could not be removed from
	// storage (after their row was deleted, or their insert failed).
	Log *slog.Logger
}

// Service manages the catalog.
type Service struct {
	db     *db.DB
	ledger *inventory.Ledger
	cfg    Config

	// Image storage, set by WithImages.
	objects       ObjectStore
	maxImageBytes int64
	// hooks announces product changes to webhook subscribers, set by
	// WithWebhooks; nil announces nothing.
	hooks Announcer
}

// NewService returns a catalog Service that records opening stock through
// ledger.
func NewService(d *db.DB, ledger *inventory.Ledger, cfg Config) *Service {
	return &Service{db: d, ledger: ledger, cfg: cfg}
}
