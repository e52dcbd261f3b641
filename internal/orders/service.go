package orders

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"commerce/internal/carts"
	"commerce/internal/catalog"
	"commerce/internal/inventory"
	"commerce/internal/notify"
	"commerce/internal/payments"
	"commerce/internal/platform/db"
	"commerce/internal/platform/web"
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
	Complete(ctx context.Context, tx bun.Tx, cartID, orderID string) (*carts.Cart, error)
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

// checkoutLoad is what checkout reads in one statement after the cart's
// lock: the variants, the shipping and tax configuration of the address,
// the cart's lines, and the units held by unpaid orders of the buyer.
type checkoutLoad struct {
	variants  []catalog.SaleVariant
	dest      shipping.Destination
	cartLines []carts.Line
	held      heldUnits
}

// loadForCheckout loads every variant the input's lines or the cart's lines
// name, and with them, in the same statement (the extra column, a json
// object): the destination, the cart's lines and the unpaid units of the
// email and network (counted only when MaxUnpaidUnits bounds them). The
// statement comes after the cart's lock and the unpaid-units locks (see
// claimKey), so it reads the cart's lines and the unpaid orders as the
// checkouts that held those locks committed them. With no variant found
// nothing of the extra column is read: checkout then fails on the lines (a
// cart with no lines is empty).
func (s *Service) loadForCheckout(ctx context.Context, idb bun.IDB, in CheckoutInput) (checkoutLoad, error) {
	refs := make([]catalog.LineRef, len(in.Lines))
	for i, l := range in.Lines {
		refs[i] = l.ref()
	}
	extra := &catalog.ExtraColumn{Args: shipping.DestinationArgs(in.ShippingAddress.CountryCode)}
	cartSQL, heldSQL := "NULL", "NULL"
	if in.CartID != nil {
		cartSQL = carts.LinesExpr
		extra.Args = append(extra.Args, *in.CartID)
		extra.Variants, extra.VariantsArgs = carts.LineVariantsExpr, []any{*in.CartID}
	}
	if s.cfg.MaxUnpaidUnits > 0 {
		heldSQL = unpaidUnitsExpr
		extra.Args = append(extra.Args, unpaidUnitsArgs(in.Email, web.NetworkOf(in.ClientIP))...)
	}
	extra.SQL = `json_build_object('destination', ` + shipping.DestinationExpr + `, 'cart_lines', ` + cartSQL +
		`, 'held', ` + heldSQL + `)`
	variants, err := catalog.LoadForSale(ctx, idb, refs, extra)
	if err != nil {
		return checkoutLoad{}, err
	}
	to := in.ShippingAddress
	region := ""
	if to.Region != nil {
		region = *to.Region
	}
	out := checkoutLoad{variants: variants, dest: shipping.Destination{Country: to.CountryCode, Region: region}}
	if len(variants) == 0 {
		return out, nil
	}
	var j struct {
		Destination json.RawMessage `json:"destination"`
		CartLines   json.RawMessage `json:"cart_lines"`
		Held        *heldUnits      `json:"held"`
	}
	if err := json.Unmarshal(variants[0].Extra, &j); err != nil {
		return checkoutLoad{}, fmt.Errorf("decode checkout load: %w", err)
	}
	if out.dest, err = shipping.DecodeDestination(j.Destination, to.CountryCode, region); err != nil {
		return checkoutLoad{}, err
	}
	if in.CartID != nil {
		if out.cartLines, err = carts.DecodeLines(j.CartLines); err != nil {
			return checkoutLoad{}, err
		}
	}
	if j.Held != nil {
		out.held = *j.Held
	}
	return out, nil
}

// claimKey binds the idempotency key to this checkout inside its
// transaction. When another checkout holds the key and has not committed,
// the INSERT waits for it. It returns the existing order's id when the key
// was already used with the same input (a replay), and a Conflict error
// when it was used with another input.
//
// The same statement first takes the transaction-scoped advisory locks
// named by locks, one after another in their order (see
// checkReservationLimits): a MATERIALIZED CTE that the INSERT reads, so it
// runs before the key's row is claimed.
func claimKey(ctx context.Context, tx bun.Tx, key, hash, orderID string, locks []string) (replayOrderID string, err error) {
	res, err := tx.NewRaw(`WITH locked AS MATERIALIZED (
			SELECT count(pg_advisory_xact_lock(hashtextextended(l.key, 0)))
			FROM unnest(?::text[]) AS l (key)
		)
		INSERT INTO idempotency_keys (key, request_hash, order_id) SELECT ?, ?, ? FROM locked
		ON CONFLICT (key) DO NOTHING`, pgdialect.Array(locks), key, hash, orderID).Exec(ctx)
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
