package orders

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/uptrace/bun"

	"commerce/internal/carts"
	"commerce/internal/catalog"
	"commerce/internal/customers"
	"commerce/internal/inventory"
	"commerce/internal/notify"
	"commerce/internal/payments"
	"commerce/internal/platform/db"
	"commerce/internal/pricing"
	"commerce/internal/promotions"
	"commerce/internal/realtime"
	"commerce/internal/shipping"
)

// Config holds the order workflow's settings.
type Config struct {
	Currency         string
	Pricing          pricing.Config
	PaymentTimeout   time.Duration // unpaid orders are cancelled after this
	IntentRetryAfter time.Duration // the fallback job creates a missing intent after this
	// ProcessingRecheck is how long to wait before looking again at an
	// order whose intent is still processing when its timeout comes.
	ProcessingRecheck   time.Duration
	FulfillmentReminder time.Duration // after payment
	ReviewRequest       time.Duration // after payment
	DeliveryFollowup    time.Duration // after the last shipment
	// TrackingURLs maps a lower-case carrier name to its tracking page
	// template ({tracking} stands for the number), over the built-in ones.
	TrackingURLs   map[string]string
	WarehouseEmail string
	StorefrontURL  string
	AccessSecret   []byte // AUTH_SECRET: signs order access tokens
	// MaxUnitsPerOrder (MAX_UNITS_PER_ORDER) bounds the units of one order;
	// MaxUnpaidUnits (MAX_UNPAID_UNITS) the units held by unpaid orders per
	// email and per client IP. Zero is no bound.
	MaxUnitsPerOrder int
	MaxUnpaidUnits   int
	// ReturnWindow (RETURN_WINDOW) is how long after they shipped units
	// may be returned; zero is the default, 720h.
	ReturnWindow time.Duration
}

// Carts is what checkout needs of the carts.
type Carts interface {
	Lock(ctx context.Context, tx bun.Tx, cartID string) (*carts.Cart, error)
	MarkCompleted(ctx context.Context, tx bun.Tx, cartID, orderID string) error
}

// Notifier enqueues notifications in a transaction, together with other jobs.
type Notifier interface {
	Enqueue(ctx context.Context, tx bun.Tx, m notify.Message) error
	EnqueueWithJobs(ctx context.Context, tx bun.Tx, m notify.Message, jobs []river.InsertManyParams) error
}

// JobInserter inserts River jobs inside a transaction.
type JobInserter interface {
	InsertManyTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
}

// Service runs checkout and the order workflow.
type Service struct {
	db       *db.DB
	ledger   *inventory.Ledger
	carts    Carts
	provider payments.Provider
	notify   Notifier
	jobs     JobInserter
	live     realtime.Publisher
	hooks    Announcer
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	promos   *promotions.Service
}

// Deps are the Service's collaborators.
type Deps struct {
	DB       *db.DB
	Ledger   *inventory.Ledger
	Carts    Carts
	Provider payments.Provider
	Notify   Notifier
	Jobs     JobInserter
	Live     realtime.Publisher // status changes and low-stock alerts, after commit
	// Webhooks announces order changes to webhook subscribers in their
	// transaction; nil announces nothing.
	Webhooks Announcer
	Log      *slog.Logger
	Now      func() time.Time // defaults to time.Now
	// Promotions prices discounts and takes their uses at checkout; nil is
	// a service of its own over DB (the server shares the carts').
	Promotions *promotions.Service
}

// NewService returns the order service.
func NewService(d Deps, cfg Config) *Service {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	if cfg.IntentRetryAfter <= 0 {
		cfg.IntentRetryAfter = 15 * time.Second
	}
	if cfg.ReturnWindow <= 0 {
		cfg.ReturnWindow = 720 * time.Hour
	}
	if cfg.ProcessingRecheck <= 0 {
		cfg.ProcessingRecheck = time.Hour
	}
	promos := d.Promotions
	if promos == nil {
		promos = promotions.NewService(d.DB, cfg.Currency)
	}
	return &Service{db: d.DB, ledger: d.Ledger, carts: d.Carts, provider: d.Provider, notify: d.Notify,
		jobs: d.Jobs, live: d.Live, hooks: d.Webhooks, cfg: cfg, log: d.Log, now: now, promos: promos}
}

// inTx runs fn in a transaction and, once it commits, publishes the live
// events fn queued (order status changes, low-stock alerts).
func (s *Service) inTx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	ctx, batch := realtime.WithBatch(ctx)
	if err := s.db.RunInTx(ctx, fn); err != nil {
		return err
	}
	if s.live != nil && batch.Len() > 0 {
		s.live.Publish(ctx, batch)
	}
	return nil
}

// AccessToken is the order's access token: base64url(HMAC-SHA256(secret,
// "order:" + id)). Nothing is stored, so a replayed checkout returns the
// same token.
func (s *Service) AccessToken(orderID string) string {
	m := hmac.New(sha256.New, s.cfg.AccessSecret)
	m.Write([]byte("order:" + orderID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validAccessToken compares in constant time.
func (s *Service) validAccessToken(orderID, token string) bool {
	want := s.AccessToken(orderID)
	return subtle.ConstantTimeCompare([]byte(want), []byte(token)) == 1
}

// crockford is Crockford's base32 alphabet (no I, L, O, U).
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newOrderNumber returns "ORD-" and 10 random Crockford base32 characters
// (50 bits): readable, and unguessable enough that numbers do not leak
// order volumes.
func newOrderNumber() string { return randomNumber("ORD-") }

// newReturnNumber returns "RET-" and 10 random Crockford base32
// characters, for the same reasons as order numbers.
func newReturnNumber() string { return randomNumber("RET-") }

// randomNumber is prefix and 10 random Crockford base32 characters.
func randomNumber(prefix string) string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	out := []byte(prefix)
	for _, c := range b {
		out = append(out, crockford[c&31])
	}
	return string(out)
}

// variantsForCheckout loads every variant the lines name, and the shipping
// and tax configuration of the address in the same query: the destination
// costs checkout no statement. With no variant found the destination is
// unconfigured, and checkout fails on the lines anyway.
func variantsForCheckout(ctx context.Context, idb bun.IDB, lines []LineInput, to customers.Address) ([]catalog.SaleVariant, shipping.Destination, error) {
	refs := make([]catalog.LineRef, len(lines))
	for i, l := range lines {
		refs[i] = l.ref()
	}
	variants, err := catalog.LoadForSale(ctx, idb, refs,
		&catalog.ExtraColumn{SQL: shipping.DestinationExpr, Args: shipping.DestinationArgs(to.CountryCode)})
	if err != nil {
		return nil, shipping.Destination{}, err
	}
	region := ""
	if to.Region != nil {
		region = *to.Region
	}
	dest := shipping.Destination{Country: to.CountryCode, Region: region}
	if len(variants) > 0 {
		if dest, err = shipping.DecodeDestination(variants[0].Extra, to.CountryCode, region); err != nil {
			return nil, shipping.Destination{}, err
		}
	}
	return variants, dest, nil
}

// claimKey binds the idempotency key to this checkout inside its
// transaction. When another checkout holds the key and has not committed,
// the INSERT waits for it. It returns the existing order's id when the key
// was already used with the same input (a replay), and a Conflict error
// when it was used with another input.
func claimKey(ctx context.Context, tx bun.Tx, key, hash, orderID string) (replayOrderID string, err error) {
	res, err := tx.NewRaw(`INSERT INTO idempotency_keys (key, request_hash, order_id) VALUES (?, ?, ?)
		ON CONFLICT (key) DO NOTHING`, key, hash, orderID).Exec(ctx)
	if err != nil {
		return "", fmt.Errorf("claim idempotency key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return "", nil
	}
	var prior struct {
		RequestHash string `bun:"request_hash"`
		OrderID     string `bun:"order_id"`
	}
	if err := tx.NewRaw(`SELECT request_hash, order_id FROM idempotency_keys WHERE key = ?`, key).Scan(ctx, &prior); err != nil {
		return "", fmt.Errorf("read idempotency key: %w", err)
	}
	if prior.RequestHash != hash {
		return "", errKeyReused
	}
	return prior.OrderID, nil
}
