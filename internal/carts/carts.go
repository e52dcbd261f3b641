// Package carts owns shopping carts and their lines. A cart holds products
// and quantities only: it is priced at the current catalog price whenever it
// is read (Price) and reserves no stock, which checkout does. Its id is the
// only credential needed to use it. Once checked out a cart is completed and
// refuses every change.
package carts

import (
	"context"
	"database/sql"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/catalog"
	"commerce/internal/customers"
	"commerce/internal/notify"
	"commerce/internal/platform/db"
	"commerce/internal/promotions"
)

// Status is where a cart is in its life.
type Status string

// The statuses of a cart.
const (
	StatusActive    Status = "ACTIVE"
	StatusCompleted Status = "COMPLETED"
)

// Limits on what a cart and a request may hold.
const (
	MaxQuantity        = 1000 // units of one product in one cart
	MaxLinesPerRequest = 100  // lines in one request
	MaxLinesPerCart    = 100  // distinct products in one cart
)

// Cart is a shopper's cart.
type Cart struct {
	ID    string
	Email *string
	// MarketingOptIn is the shopper's consent to marketing email (the
	// abandoned-cart reminder) at Email, given with the cart.
	MarketingOptIn bool
	Currency       string
	Status         Status
	// CompletedOrderID is the order the cart was checked out as, once completed.
	CompletedOrderID *string
	// ShippingAddress is where the cart ships, nil until given; it prices
	// shipping and tax (an estimate for STORE_COUNTRY without it).
	ShippingAddress *customers.Address
	// ShippingMethodID is the method chosen for the cart, nil when none; it
	// is charged only while it can serve the cart.
	ShippingMethodID *string
	// DiscountCodes are the codes on the cart, upper-case (see
	// UpdateDiscountCodes); checkout applies them.
	DiscountCodes []string
	Lines         []Line
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Line is one variant in a cart; a cart has at most one line per variant.
type Line struct {
	ID        string
	ProductID string
	VariantID string
	Quantity  int
}

// LineInput names a variant by exactly one of VariantID, SKU (a variant's)
// or ProductID (a product with one active variant).
type LineInput struct {
	VariantID *string
	ProductID *string
	SKU       *string
	Quantity  int
}

func (l LineInput) ref() catalog.LineRef {
	return catalog.LineRef{VariantID: l.VariantID, ProductID: l.ProductID, SKU: l.SKU}
}

// LineUpdate sets the quantity of a line; 0 removes it.
type LineUpdate struct {
	ID       string
	Quantity int
}

// ProductLookup is the part of the catalog carts need.
type ProductLookup interface {
	// ForSale loads the variants the refs name, with their products' names
	// and whether they are for sale, in one query.
	ForSale(ctx context.Context, refs []catalog.LineRef) ([]catalog.SaleVariant, error)
}

var _ ProductLookup = (*catalog.Service)(nil)

// Notifier enqueues a notification inside the caller's transaction.
type Notifier interface {
	Enqueue(ctx context.Context, tx bun.Tx, m notify.Message) error
}

// JobInserter inserts River jobs inside the caller's transaction. A
// *river.Client[*sql.Tx] satisfies it.
type JobInserter interface {
	InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Config holds the cart settings.
type Config struct {
	// Currency is the store currency, the only one a cart accepts products in.
	Currency string
	// AbandonedCartWait (ABANDONED_CART_DELAY) is how long after its last
	// change a cart with an email and lines is reminded of; 0 sends no
	// reminders.
	AbandonedCartWait time.Duration
	// StorefrontURL (STOREFRONT_URL) is the base of the reminder's link,
	// StorefrontURL + "/cart/" + cart id; empty leaves the link out.
	StorefrontURL string
	// Now is the clock of scheduling and of promotions; time.Now when nil.
	Now func() time.Time
	// Promotions prices the cart's discounts; nil is a service of its own
	// over the same database (the server shares checkout's).
	Promotions *promotions.Service
}

// Service manages carts.
type Service struct {
	db           *db.DB
	products     ProductLookup
	destinations Destinations // nil: v1 pricing
	notify       Notifier
	jobs         JobInserter
	cfg          Config
	currency     string
	now          func() time.Time
	promos       *promotions.Service
}

// NewService returns the cart service. It schedules abandoned-cart
// reminders with jobs and sends them through n; with a nil jobs or
// notifier, or a zero cfg.AbandonedCartWait, it sends none.
func NewService(d *db.DB, products ProductLookup, n Notifier, jobs JobInserter, cfg Config) *Service {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	promos := cfg.Promotions
	if promos == nil {
		promos = promotions.NewService(d, cfg.Currency)
	}
	return &Service{db: d, products: products, notify: n, jobs: jobs, cfg: cfg, currency: cfg.Currency, now: now, promos: promos}
}

// IsCompleted reports whether err says that the cart has been checked out.
func IsCompleted(err error) bool {
	l, ok := apperr.UserErrors(err)
	return ok && len(l) == 1 && l[0].Code == codeCompleted
}

const codeCompleted = "CART_COMPLETED"

func errCompleted() error {
	return &apperr.Error{Kind: apperr.Invalid, Code: codeCompleted, Field: apperr.Path("cartId"),
		Message: "this cart has been checked out"}
}

// errCartNotFound is the userError of a mutation on an unknown cart.
func errCartNotFound() error {
	return apperr.Field(apperr.NotFound, apperr.Path("cartId"), "cart not found")
}

func errNotFound() error { return apperr.New(apperr.NotFound, "cart not found") }
