package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/platform/db"
)

// HeaderNotificationID is the email header that carries the notification's
// id, so a message in a mailbox can be traced back to its row.
const HeaderNotificationID = "X-Notification-ID"

// maxLastError bounds the error text kept on a row.
const maxLastError = 1000

// defaultRecordTimeout is Config.RecordTimeout when it is zero.
const defaultRecordTimeout = 10 * time.Second

// maxRetryDelay caps the doubling backoff between attempts.
const maxRetryDelay = 6 * time.Hour

// Config is what the Service needs from the configuration.
type Config struct {
	From string // EMAIL_FROM
	// MaxAttempts (NOTIFY_MAX_ATTEMPTS) is the attempt budget a
	// notification gets when it is enqueued; it stays with the row, so
	// changing it later changes only new notifications.
	MaxAttempts   int
	RetryBase     time.Duration // NOTIFY_RETRY_BASE; the first delay of RetryDelay
	StorefrontURL string        // STOREFRONT_URL; the default storefront_url of every template
	// PublicBaseURL (PUBLIC_BASE_URL) and UnsubscribeSecret (AUTH_SECRET)
	// make the one-click unsubscribe links of marketing emails; without
	// both, marketing emails carry no link (see MarketingTemplates).
	PublicBaseURL     string
	UnsubscribeSecret []byte
	// RecordTimeout bounds the write that records an attempt's outcome,
	// which runs even when the job's own context has expired, so a live
	// attempt may last the job's timeout plus this (10 s when zero).
	RecordTimeout time.Duration
	// Metrics, when not nil, registers the sweeper's counter.
	Metrics prometheus.Registerer
}

// Service enqueues notifications inside business transactions and delivers
// them from the River worker.
type Service struct {
	db        *db.DB
	jobs      JobInserter
	email     EmailSender
	sms       SMSSender
	cfg       Config
	log       *slog.Logger
	templates *Templates
	swept     *prometheus.CounterVec // rows Sweep found without a live job, by outcome
}

// NewService returns a Service that inserts jobs with jobs and sends through
// email and sms. It returns an error when a dependency is missing,
// cfg.MaxAttempts is below 1, or the embedded templates do not parse.
func NewService(d *db.DB, jobs JobInserter, email EmailSender, sms SMSSender, cfg Config, log *slog.Logger) (*Service, error) {
	if d == nil || jobs == nil || email == nil || sms == nil || log == nil {
		return nil, errors.New("notify: database, job inserter, senders and logger are required")
	}
	if cfg.MaxAttempts < 1 {
		return nil, fmt.Errorf("notify: MaxAttempts must be at least 1, got %d", cfg.MaxAttempts)
	}
	t, err := LoadTemplates()
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	if cfg.RecordTimeout <= 0 {
		cfg.RecordTimeout = defaultRecordTimeout
	}
	s := &Service{db: d, jobs: jobs, email: email, sms: sms, cfg: cfg, log: log, templates: t,
		swept: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notify_outbox_swept_total",
			Help: "Notifications the sweeper found PENDING without a live delivery job, by outcome (requeued or failed).",
		}, []string{"outcome"}),
	}
	if cfg.Metrics != nil {
		if err := cfg.Metrics.Register(s.swept); err != nil {
			return nil, fmt.Errorf("notify: register metrics: %w", err)
		}
	}
	return s, nil
}

// Enqueue records m as a PENDING notification and inserts the River job that
// delivers it, both in tx, so both exist exactly when tx commits. Email
// recipients are trimmed and lowercased. When a notification with the same
// DedupeKey exists, or m is a marketing email (see MarketingTemplates) to
// an address that has unsubscribed, Enqueue does nothing and returns nil,
// still in one statement. It returns an
// error (an internal one: the caller has a bug) when the channel has no
// such template or the recipient is empty, and database errors as they come.
func (s *Service) Enqueue(ctx context.Context, tx bun.Tx, m Message) error {
	return s.EnqueueWithJobs(ctx, tx, m, nil)
}

// EnqueueWithJobs is Enqueue that also inserts the caller's jobs, in the
// same River insert as the delivery job: a transaction that queues an email
// and its own follow-ups pays one round trip for all of them. The jobs are
// inserted even when m is skipped (a duplicate or an unsubscribed address).
func (s *Service) EnqueueWithJobs(ctx context.Context, tx bun.Tx, m Message, jobs []river.InsertManyParams) error {
	if !s.templates.Has(m.Channel, m.Template) {
		return fmt.Errorf("enqueue notification: no %s template %q", m.Channel, m.Template)
	}
	m.To = normalizeRecipient(m.Channel, m.To)
	if m.To == "" {
		return fmt.Errorf("enqueue notification %s: empty recipient", m.Template)
	}
	if m.Data == nil {
		m.Data = map[string]any{}
	}
	data, err := json.Marshal(m.Data)
	if err != nil {
		return fmt.Errorf("enqueue notification %s: encode data: %w", m.Template, err)
	}
	suppressible := m.Channel == Email && IsMarketing(m.Template)
	id, err := insertRow(ctx, tx, m, data, suppressible, s.cfg.MaxAttempts)
	switch {
	case db.IsNoRows(err):
		// A duplicate, or marketing to an unsubscribed address: nothing
		// to deliver.
	case err != nil:
		return fmt.Errorf("enqueue notification %s: %w", m.Template, err)
	default:
		jobs = append(jobs, river.InsertManyParams{Args: DeliverArgs{NotificationID: id},
			InsertOpts: &river.InsertOpts{MaxAttempts: s.cfg.MaxAttempts}})
	}
	if len(jobs) == 0 {
		return nil
	}
	if _, err := s.jobs.InsertManyTx(ctx, tx.Tx, jobs); err != nil {
		return fmt.Errorf("enqueue notification %s: insert jobs: %w", m.Template, err)
	}
	return nil
}

func normalizeRecipient(ch Channel, to string) string {
	to = strings.TrimSpace(to)
	if ch == Email {
		to = strings.ToLower(to)
	}
	return to
}

// Deliver makes one attempt at notification id. It first counts the
// attempt on the row, so that every send is counted even when the write of
// its outcome is lost; then it sends; then it records the outcome: a
// success marks the row SENT; a failure keeps the error and, when it is
// permanent (ErrPermanent) or the row's attempts reach its own budget
// (max_attempts, fixed at enqueue), makes the row FAILED and returns a
// *FinalError. The row's two counts alone decide, whatever River's
// attempt count or NOTIFY_MAX_ATTEMPTS now say. A row already SENT or
// FAILED returns nil, so running it twice is safe; a PENDING row out of
// attempts (the outcome of its last attempt was lost) becomes FAILED; a
// missing row is a *FinalError wrapping apperr.ErrNotFound. Any other error
// (the send failed and may succeed later, or the database failed) means
// "retry later"; when River retries no more, Sweep finds the row.
func (s *Service) Deliver(ctx context.Context, id string) error {
	r, err := claimAttempt(ctx, s.db.Bun, id)
	if db.IsNoRows(err) {
		return s.unclaimable(ctx, id)
	}
	if err != nil {
		return fmt.Errorf("deliver notification %s: count attempt: %w", id, err)
	}
	n, err := toNotification(r)
	if err != nil {
		return s.record(ctx, r, Permanent(err))
	}
	return s.record(ctx, r, s.send(ctx, n))
}

// unclaimable explains why Deliver could not start an attempt on id.
func (s *Service) unclaimable(ctx context.Context, id string) error {
	r, err := loadRow(ctx, s.db.Bun, id)
	switch {
	case db.IsNoRows(err):
		return &FinalError{ID: id, Err: apperr.New(apperr.NotFound, "notification not found")}
	case err != nil:
		return fmt.Errorf("deliver notification %s: load: %w", id, err)
	case r.Status != Pending:
		return nil
	}
	cause := fmt.Errorf("no attempts left: the outcome of attempt %d was not recorded", r.Attempts)
	if err := markAbandoned(ctx, s.db.Bun, []string{id}, cause.Error()); err != nil {
		return fmt.Errorf("deliver notification %s: record failure: %w", id, err)
	}
	return &FinalError{ID: id, Err: cause}
}

// RetryDelay is how long to wait after failed attempt number attempt
// (counting from 1) before the next: RetryBase × 2^(attempt−1), capped at
// six hours.
func (s *Service) RetryDelay(attempt int) time.Duration {
	d := s.cfg.RetryBase
	for i := 1; i < attempt && d < maxRetryDelay; i++ {
		d *= 2
	}
	return min(d, maxRetryDelay)
}

func (s *Service) send(ctx context.Context, n Notification) error {
	data := n.Data
	if _, ok := data["storefront_url"]; !ok && s.cfg.StorefrontURL != "" {
		data["storefront_url"] = s.cfg.StorefrontURL
	}
	headers := map[string]string{HeaderNotificationID: n.ID}
	s.marketingExtras(n, data, headers)
	msg, err := s.templates.Render(n.Template, data)
	if err != nil {
		return Permanent(err)
	}
	switch n.Channel {
	case Email:
		return s.email.SendEmail(ctx, OutgoingEmail{
			From: s.cfg.From, To: n.To, Subject: msg.Subject, Text: msg.Text, HTML: msg.HTML,
			Headers: headers,
		})
	case SMS:
		return s.sms.SendSMS(ctx, n.To, msg.Text)
	}
	return Permanent(fmt.Errorf("unknown channel %q", n.Channel))
}

// record writes the outcome of the attempt r.Attempts (already counted).
// It uses a context of its own so that an attempt cut short by the job's
// timeout still records its error.
func (s *Service) record(ctx context.Context, r row, sendErr error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RecordTimeout)
	defer cancel()
	if sendErr == nil {
		if err := markSent(ctx, s.db.Bun, r.ID); err != nil {
			return fmt.Errorf("deliver notification %s: mark sent: %w", r.ID, err)
		}
		return nil
	}
	final := errors.Is(sendErr, ErrPermanent) || r.Attempts >= r.MaxAttempts
	status := Pending
	if final {
		status = Failed
	}
	if err := markAttemptFailed(ctx, s.db.Bun, r.ID, status, truncate(sendErr.Error(), maxLastError)); err != nil {
		return fmt.Errorf("deliver notification %s: record failure: %w (send: %w)", r.ID, err, sendErr)
	}
	if !final {
		return fmt.Errorf("deliver notification %s (attempt %d of %d): %w", r.ID, r.Attempts, r.MaxAttempts, sendErr)
	}
	s.log.WarnContext(ctx, "notification failed", "notification_id", r.ID,
		"template", r.Template, "channel", r.Channel, "attempts", r.Attempts, "error", sendErr)
	return &FinalError{ID: r.ID, Err: sendErr}
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
