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

// Product is an item for sale: what its variants share (name, texts,
// category, tags, images) and a summary of its variants. Every product has
// at least one variant; one without options has exactly one, its default
// variant. The summary fields keep the v1 meaning of a product's price and
// stock: SKU, CompareAtPrice, CostPrice, LowStockThreshold, WeightGrams and
// Dimensions are the first active variant's (by position), Price and
// MaxPrice the lowest and highest active variant price, OnHand and
// Available sums over the active variants.
type Product struct {
	ID                string
	SKU               string
	Handle            string
	Name              string
	Description       *string
	Price             money.Money
	MaxPrice          money.Money
	CompareAtPrice    *money.Money
	CostPrice         *money.Money
	Category          *string
	Tags              []string
	OnHand            int // in the warehouse, counting reserved units
	Available         int // what can still be sold
	LowStockThreshold int
	IsActive          bool
	IsFeatured        bool
	// HasOptions is false for a product with only its default variant.
	HasOptions bool
	// TaxClass picks the tax rates of that class over the standard ones;
	// nil is the standard class.
	TaxClass    *string
	WeightGrams *int
	Dimensions  *Dimensions
	UnitsSold   int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Option is a named dimension of a product's variants (Color: Red, Blue).
type Option struct {
	ID        string
	ProductID string
	Name      string
	Position  int
	Values    []string
}

// SelectedOption is a variant's value of one option.
type SelectedOption struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Variant is one sellable version of a product, with its own sku, prices
// and stock. Stock only ever changes through the inventory ledger.
type Variant struct {
	ID                string
	ProductID         string
	SKU               string
	Title             string           // option values joined by " / ", "Default" without options
	SelectedOptions   []SelectedOption // in option order
	Price             money.Money
	CompareAtPrice    *money.Money
	CostPrice         *money.Money
	OnHand            int
	Reserved          int
	Available         int
	LowStockThreshold int
	WeightGrams       *int
	Dimensions        *Dimensions
	ImageID           *string
	Position          int
	IsActive          bool
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// DefaultTitle is the title of the variant of a product without options.
const DefaultTitle = "Default"

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
