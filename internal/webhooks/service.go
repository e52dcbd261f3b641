package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/platform/db"
)

// Config is what the Service needs from the configuration.
type Config struct {
	Timeout      time.Duration // WEBHOOK_TIMEOUT: bound of one POST
	MaxAttempts  int           // WEBHOOK_MAX_ATTEMPTS: fixed on a delivery when it is written
	RetryBase    time.Duration // WEBHOOK_RETRY_BASE: the first delay of RetryDelay
	DisableAfter int           // WEBHOOK_DISABLE_AFTER
	// AllowPrivate (WEBHOOK_ALLOW_PRIVATE) lifts the https and address
	// rules, for tests and local development.
	AllowPrivate bool
	// RecordTimeout bounds the write that records an attempt's outcome,
	// which runs even when the job's context has expired (10 s when zero).
	RecordTimeout time.Duration
	// Now is the clock of signatures and rotations (time.Now when nil).
	Now func() time.Time
	// Observe, when set, hears the outcome of every attempt: "succeeded",
	// "retrying" or "failed" (the metrics' webhook_deliveries_total).
	Observe func(outcome string)
	// Instrument, when set, wraps the sender's guarded transport (traces
	// of outgoing deliveries).
	Instrument func(http.RoundTripper) http.RoundTripper
}

// Service manages endpoints, writes deliveries inside business
// transactions and sends them from the River worker.
type Service struct {
	db   *db.DB
	jobs JobInserter
	send *sender
	cfg  Config
	log  *slog.Logger
	now  func() time.Time
}

// maxRetryDelay caps the doubling backoff between attempts.
const maxRetryDelay = 6 * time.Hour

// maxDescription bounds an endpoint's description.
const maxDescription = 500

// NewService returns the webhooks service. It returns an error when a
// dependency is missing or a setting is out of range.
func NewService(d *db.DB, jobs JobInserter, cfg Config, log *slog.Logger) (*Service, error) {
	if d == nil || jobs == nil || log == nil {
		return nil, errors.New("webhooks: database, job inserter and logger are required")
	}
	if cfg.Timeout <= 0 || cfg.MaxAttempts < 1 || cfg.RetryBase <= 0 || cfg.DisableAfter < 1 {
		return nil, fmt.Errorf("webhooks: timeout, attempts, retry base and disable-after must be positive")
	}
	if cfg.RecordTimeout <= 0 {
		cfg.RecordTimeout = 10 * time.Second
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Service{db: d, jobs: jobs, send: newSender(cfg.Timeout, cfg.AllowPrivate, cfg.Instrument), cfg: cfg, log: log, now: now}, nil
}

// subscribable are the topics an endpoint may subscribe to; PING goes to
// every endpoint that asks for one.
var subscribable = []Topic{OrderCreated, OrderPaid, OrderCancelled, OrderFulfilled, OrderDelivered, OrderRefunded,
	ReturnRequested, ReturnUpdated, ProductCreated, ProductUpdated, InventoryLowStock, CustomerCreated}

// checkInput normalises in: a valid URL (see checkURL), at least one
// topic, no duplicates (PING is dropped: every endpoint can be pinged), a
// description of at most maxDescription characters. It returns apperr
// Invalid errors with paths under "input".
func (s *Service) checkInput(in EndpointInput) (EndpointInput, error) {
	var errs apperr.List
	u, err := checkURL(in.URL, s.cfg.AllowPrivate, apperr.Path("input", "url"))
	errs.Add(err)
	in.URL = u
	var topics []Topic
	for _, t := range in.Topics {
		if slices.Contains(subscribable, t) && !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
	}
	if len(topics) == 0 {
		errs.Add(apperr.InvalidField(apperr.Path("input", "topics"), "must name at least one topic other than PING"))
	}
	slices.Sort(topics)
	in.Topics = topics
	if in.Description != nil {
		d := strings.TrimSpace(*in.Description)
		if len([]rune(d)) > maxDescription {
			errs.Add(apperr.InvalidField(apperr.Path("input", "description"), "must be at most %d characters", maxDescription))
		}
		in.Description = &d
		if d == "" {
			in.Description = nil
		}
	}
	return in, errs.Err()
}

// Create adds an endpoint and returns it with its secret, which is never
// readable again. It returns apperr Invalid errors for a bad URL, no
// topics or a long description.
func (s *Service) Create(ctx context.Context, in EndpointInput) (*Endpoint, string, error) {
	in, err := s.checkInput(in)
	if err != nil {
		return nil, "", err
	}
	secret := newSecret()
	r, err := insertEndpoint(ctx, s.db.Bun, in, secret)
	if err != nil {
		return nil, "", fmt.Errorf("create webhook endpoint: %w", err)
	}
	return r.endpoint(), secret, nil
}

// Update replaces an endpoint's URL, description, topics and state;
// isActive true re-activates a deactivated endpoint and forgets its
// failures. It returns the Create errors and apperr NotFound.
func (s *Service) Update(ctx context.Context, id string, in EndpointInput) (*Endpoint, error) {
	in, err := s.checkInput(in)
	if err != nil {
		return nil, err
	}
	if uuid.Validate(id) != nil {
		return nil, errEndpointNotFound
	}
	r, err := updateEndpoint(ctx, s.db.Bun, id, in)
	if db.IsNoRows(err) {
		return nil, errEndpointNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("update webhook endpoint: %w", err)
	}
	return r.endpoint(), nil
}

var (
	errEndpointNotFound = apperr.Field(apperr.NotFound, apperr.Path("id"), "webhook endpoint not found")
	errDeliveryNotFound = apperr.Field(apperr.NotFound, apperr.Path("id"), "webhook delivery not found")
)

// Delete removes an endpoint and its deliveries (a job of a deleted
// delivery finds nothing and ends). It returns apperr NotFound.
func (s *Service) Delete(ctx context.Context, id string) error {
	if uuid.Validate(id) != nil {
		return errEndpointNotFound
	}
	ok, err := deleteEndpoint(ctx, s.db.Bun, id)
	if err != nil {
		return fmt.Errorf("delete webhook endpoint: %w", err)
	}
	if !ok {
		return errEndpointNotFound
	}
	return nil
}

// RotateSecret gives an endpoint a new secret, returned once; the one it
// replaces keeps signing alongside for RotationOverlap (a second rotation
// within it ends the first's overlap). It returns apperr NotFound.
func (s *Service) RotateSecret(ctx context.Context, id string) (*Endpoint, string, error) {
	if uuid.Validate(id) != nil {
		return nil, "", errEndpointNotFound
	}
	secret := newSecret()
	r, err := rotateSecret(ctx, s.db.Bun, id, secret, s.now().Add(RotationOverlap))
	if db.IsNoRows(err) {
		return nil, "", errEndpointNotFound
	}
	if err != nil {
		return nil, "", fmt.Errorf("rotate webhook secret: %w", err)
	}
	return r.endpoint(), secret, nil
}

// Ping queues a PING to the endpoint, sent at once by the webhooks queue,
// and returns the PENDING delivery. Its data is the endpoint as staff read
// it (see endpointData). It returns apperr NotFound, and
// apperr Invalid when the endpoint is inactive.
func (s *Service) Ping(ctx context.Context, id string) (*Delivery, error) {
	if uuid.Validate(id) != nil {
		return nil, errEndpointNotFound
	}
	var out *Delivery
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		e, err := loadEndpoint(ctx, tx, id)
		if db.IsNoRows(err) {
			return errEndpointNotFound
		}
		if err != nil {
			return err
		}
		if !e.IsActive {
			return apperr.InvalidField(apperr.Path("id"), "the endpoint is inactive; activate it first")
		}
		rows, err := s.write(ctx, tx, []string{id}, Ping, nil, newEndpointData(e.endpoint()))
		if err != nil {
			return err
		}
		out = rows[0].delivery()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ping webhook endpoint: %w", err)
	}
	return out, nil
}

// Retry sends a FAILED delivery again, with the same event id and body,
// for one more attempt, and returns it PENDING. It returns apperr NotFound,
// and apperr Invalid when the delivery is not FAILED.
func (s *Service) Retry(ctx context.Context, id string) (*Delivery, error) {
	if uuid.Validate(id) != nil {
		return nil, errDeliveryNotFound
	}
	var out *Delivery
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		r, err := reopen(ctx, tx, id)
		if db.IsNoRows(err) {
			if _, err := loadDelivery(ctx, tx, id); db.IsNoRows(err) {
				return errDeliveryNotFound
			}
			return apperr.InvalidField(apperr.Path("id"), "only a FAILED delivery can be retried")
		}
		if err != nil {
			return err
		}
		if err := s.insertJobs(ctx, tx, []deliveryRow{r}); err != nil {
			return err
		}
		out = r.delivery()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("retry webhook delivery: %w", err)
	}
	return out, nil
}

// RetryDelay is how long to wait after failed attempt number attempt
// (counting from 1): RetryBase × 2^(attempt−1), capped at six hours.
func (s *Service) RetryDelay(attempt int) time.Duration {
	d := s.cfg.RetryBase
	for i := 1; i < attempt && d < maxRetryDelay; i++ {
		d *= 2
	}
	return min(d, maxRetryDelay)
}

// OrderingDelay is how long a delivery waits before looking again at an
// earlier delivery of its endpoint and order that is still pending.
func (s *Service) OrderingDelay() time.Duration { return min(s.cfg.RetryBase, 5*time.Second) }

func (r endpointRow) endpoint() *Endpoint {
	e := &Endpoint{ID: r.ID, URL: r.URL, IsActive: r.IsActive, CreatedAt: r.CreatedAt}
	if r.Description.Valid {
		e.Description = &r.Description.String
	}
	for _, t := range r.Topics {
		e.Topics = append(e.Topics, Topic(t))
	}
	return e
}

// endpointData is the `data` of a PING: the WebhookEndpoint as staff read
// it through GraphQL, without its deliveries.
type endpointData struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Description *string   `json:"description"`
	Topics      []Topic   `json:"topics"`
	IsActive    bool      `json:"isActive"`
	CreatedAt   time.Time `json:"createdAt"`
}

func newEndpointData(e *Endpoint) endpointData {
	return endpointData{ID: e.ID, URL: e.URL, Description: e.Description, Topics: e.Topics, IsActive: e.IsActive, CreatedAt: e.CreatedAt}
}

func (r deliveryRow) delivery() *Delivery {
	d := &Delivery{ID: r.ID, EndpointID: r.EndpointID, EventID: r.EventID, Topic: Topic(r.Topic), Status: r.Status,
		Attempts: r.Attempts, Body: []byte(r.Body), CreatedAt: r.CreatedAt}
	if r.ResponseStatus.Valid {
		n := int(r.ResponseStatus.Int32)
		d.ResponseStatus = &n
	}
	if r.LastError.Valid {
		d.LastError = &r.LastError.String
	}
	if r.DeliveredAt.Valid {
		d.DeliveredAt = &r.DeliveredAt.Time
	}
	return d
}

// insertJobs inserts the delivery jobs of rows in tx, each with River's
// budget a little above the row's, so that the row's own count decides
// when it is final.
func (s *Service) insertJobs(ctx context.Context, tx bun.Tx, rows []deliveryRow) error {
	params := make([]river.InsertManyParams, len(rows))
	for i, r := range rows {
		params[i] = river.InsertManyParams{Args: DeliverArgs{DeliveryID: r.ID},
			InsertOpts: &river.InsertOpts{MaxAttempts: r.MaxAttempts - r.Attempts + 1}}
	}
	if _, err := s.jobs.InsertManyTx(ctx, tx.Tx, params); err != nil {
		return fmt.Errorf("insert webhook jobs: %w", err)
	}
	return nil
}
