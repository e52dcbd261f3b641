package notify_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"commerce/internal/jobs"
	"commerce/internal/notify"
	"commerce/internal/notify/notifysmtp"
	"commerce/internal/platform/db"
	"commerce/internal/platform/dbtest"
	"commerce/internal/platform/mailtest"
)

type bundle struct {
	db       *db.DB
	inserter *river.Client[*sql.Tx]
	logs     *bytes.Buffer
}

// setup returns a Service sending email through email (SMS goes to the log)
// with at most maxAttempts attempts.
func setup(t *testing.T, email notify.EmailSender, maxAttempts int) (*notify.Service, *bundle) {
	t.Helper()
	b := &bundle{db: dbtest.DB(t), logs: &bytes.Buffer{}}
	var err error
	if b.inserter, err = jobs.NewInserter(b.db); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(b.logs, nil))
	cfg := notify.Config{From: "shop@example.com", MaxAttempts: maxAttempts, RetryBase: 10 * time.Millisecond, StorefrontURL: "https://shop.example.com"}
	svc, err := notify.NewService(b.db, b.inserter, email, notify.LogSender{Log: log}, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	return svc, b
}

// quietSender "sends" email to a discarded log.
func quietSender() notify.LogSender { return notify.LogSender{Log: slog.New(slog.DiscardHandler)} }

func smtpSender(t *testing.T, smtpURL string) *notifysmtp.Sender {
	t.Helper()
	s, err := notifysmtp.New(smtpURL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// closedSMTPURL points at a loopback port nobody listens on.
func closedSMTPURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "smtp://" + addr
}

// recipient is an address no other test uses.
func recipient(prefix string) string {
	return prefix + "-" + strings.ToLower(rand.Text()[:10]) + "@example.com"
}

func lowStock(to string) notify.Message {
	return notify.Message{
		Channel: notify.Email, To: to, Template: "low-stock-alert",
		Data: map[string]any{"product_name": "Linen shirt", "sku": "SH-1", "available_quantity": 3, "threshold": 5},
	}
}

// enqueue commits m and returns the id of the newest notification to m.To.
func enqueue(t *testing.T, svc *notify.Service, b *bundle, m notify.Message) string {
	t.Helper()
	err := b.db.RunInTx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
		return svc.Enqueue(ctx, tx, m)
	})
	if err != nil {
		t.Fatal(err)
	}
	var id string
	err = b.db.Bun.QueryRowContext(context.Background(),
		"SELECT id FROM notifications WHERE recipient = ? ORDER BY seq DESC LIMIT 1",
		strings.ToLower(strings.TrimSpace(m.To))).Scan(&id)
	if err != nil {
		t.Fatalf("find enqueued notification: %v", err)
	}
	return id
}

type state struct {
	Status    notify.Status
	Attempts  int
	LastError sql.NullString
	SentAt    sql.NullTime
}

func stateOf(t *testing.T, b *bundle, id string) state {
	t.Helper()
	var s state
	err := b.db.Bun.QueryRowContext(context.Background(),
		"SELECT status, attempts, last_error, sent_at FROM notifications WHERE id = ?", id).
		Scan(&s.Status, &s.Attempts, &s.LastError, &s.SentAt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// jobsFor counts the delivery jobs of notification id and returns the
// MaxAttempts of the last.
func jobsFor(t *testing.T, b *bundle, id string) (n, maxAttempts int) {
	t.Helper()
	err := b.db.Bun.QueryRowContext(context.Background(), `
		SELECT count(*), coalesce(max(max_attempts), 0) FROM river_job
		WHERE kind = 'notify-deliver' AND args->>'notification_id' = ?`, id).Scan(&n, &maxAttempts)
	if err != nil {
		t.Fatal(err)
	}
	return n, maxAttempts
}

func TestEnqueueWritesRowAndJobInOneTransaction(t *testing.T) {
	svc, b := setup(t, quietSender(), 4)
	enqueue(t, svc, b, lowStock(recipient("warm-up"))) // River probes the server once per client
	to := recipient("enqueue")
	ctx, counter := db.WithStatementCounter(context.Background())
	var inTx int64
	err := b.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		err := svc.Enqueue(ctx, tx, lowStock("  "+strings.ToUpper(to)+" "))
		inTx = counter.Count()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Our INSERT and River's, plus River's NOTIFY to the worker clients when
	// none went out in the last 100 ms.
	if inTx < 2 || inTx > 3 {
		t.Errorf("Enqueue ran %d statements, want 2 (+1 NOTIFY)", inTx)
	}

	p, err := svc.List(context.Background(), notify.Filter{To: to}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Edges) != 1 {
		t.Fatalf("found %d notifications to %s, want 1", len(p.Edges), to)
	}
	n := p.Edges[0].Node
	if n.To != to || n.Status != notify.Pending || n.Attempts != 0 || n.Channel != notify.Email ||
		n.Data["sku"] != "SH-1" || n.SentAt != nil || n.LastError != nil {
		t.Errorf("notification = %+v", n)
	}
	if jobs, maxAttempts := jobsFor(t, b, n.ID); jobs != 1 || maxAttempts != 4 {
		t.Errorf("jobs = %d with max attempts %d, want 1 with 4", jobs, maxAttempts)
	}
}

func TestEnqueueRollbackWritesNothing(t *testing.T) {
	svc, b := setup(t, quietSender(), 4)
	to := recipient("rollback")
	errAbort := errors.New("abort")
	err := b.db.RunInTx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
		if err := svc.Enqueue(ctx, tx, lowStock(to)); err != nil {
			return err
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("RunInTx = %v", err)
	}
	var rows, jobRows int
	ctx := context.Background()
	if err := b.db.Bun.QueryRowContext(ctx, "SELECT count(*) FROM notifications WHERE recipient = ?", to).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if err := b.db.Bun.QueryRowContext(ctx, `
		SELECT count(*) FROM river_job WHERE kind = 'notify-deliver'
		AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.id::text = river_job.args->>'notification_id')`).Scan(&jobRows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 || jobRows != 0 {
		t.Errorf("after rollback: %d notifications, %d orphan jobs; want none", rows, jobRows)
	}
}

func TestEnqueueDedupeKeyMakesRepeatsNoOps(t *testing.T) {
	svc, b := setup(t, quietSender(), 4)
	to := recipient("dedupe")
	m := lowStock(to)
	m.DedupeKey = "low-stock:" + to
	first := enqueue(t, svc, b, m)
	ctx, counter := db.WithStatementCounter(context.Background())
	err := b.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error { return svc.Enqueue(ctx, tx, m) })
	if err != nil {
		t.Fatalf("duplicate Enqueue = %v, want nil", err)
	}
	if n := counter.Count(); n != 1 {
		t.Errorf("duplicate Enqueue ran %d statements, want 1", n)
	}
	count, err := svc.Count(context.Background(), notify.Filter{To: to})
	if err != nil {
		t.Fatal(err)
	}
	if jobs, _ := jobsFor(t, b, first); count != 1 || jobs != 1 {
		t.Errorf("%d notifications and %d jobs, want 1 and 1", count, jobs)
	}
}

func TestEnqueueRejectsCallerBugs(t *testing.T) {
	svc, b := setup(t, quietSender(), 4)
	tests := []struct {
		name string
		m    notify.Message
	}{
		{"unknown template", notify.Message{Channel: notify.Email, To: "a@example.com", Template: "no-such"}},
		{"sms template by email", notify.Message{Channel: notify.Email, To: "a@example.com", Template: "order-shipped-sms"}},
		{"email template by sms", notify.Message{Channel: notify.SMS, To: "+15555550100", Template: "order-shipped"}},
		{"empty recipient", notify.Message{Channel: notify.Email, To: "  ", Template: "order-shipped"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := b.db.RunInTx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
				return svc.Enqueue(ctx, tx, tc.m)
			})
			if err == nil {
				t.Fatal("Enqueue accepted it")
			}
		})
	}
}

func TestDeliverSendsEmailOnce(t *testing.T) {
	mail := mailtest.Start(t)
	svc, b := setup(t, smtpSender(t, mail.SMTPURL()), 3)
	to := recipient("deliver")
	id := enqueue(t, svc, b, lowStock(to))

	if err := svc.Deliver(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	s := stateOf(t, b, id)
	if s.Status != notify.Sent || s.Attempts != 1 || s.LastError.Valid || !s.SentAt.Valid {
		t.Errorf("state = %+v", s)
	}
	msgs := mail.WaitForMessages(t, 1, 5*time.Second)
	m := mail.Message(t, msgs[0].ID)
	if m.Subject != "Low stock: Linen shirt (SH-1)" || m.From != "shop@example.com" || m.To[0] != to ||
		!strings.Contains(m.Text, "Available: 3") || !strings.Contains(m.HTML, "<strong>3</strong>") ||
		!strings.Contains(m.Text, "https://shop.example.com") || m.Header(notify.HeaderNotificationID) != id {
		t.Errorf("message = %+v", m)
	}

	if err := svc.Deliver(context.Background(), id); err != nil {
		t.Fatalf("second Deliver = %v, want nil", err)
	}
	if n := len(mail.Messages(t)); n != 1 {
		t.Errorf("%d messages after a second Deliver, want 1", n)
	}
	if s := stateOf(t, b, id); s.Attempts != 1 {
		t.Errorf("second Deliver counted an attempt: %+v", s)
	}
}

func TestDeliverRetriesThenFails(t *testing.T) {
	svc, b := setup(t, smtpSender(t, closedSMTPURL(t)), 2)
	id := enqueue(t, svc, b, lowStock(recipient("retry")))
	var final *notify.FinalError

	err := svc.Deliver(context.Background(), id)
	if err == nil || errors.As(err, &final) {
		t.Fatalf("first attempt = %v, want a retryable error", err)
	}
	if s := stateOf(t, b, id); s.Status != notify.Pending || s.Attempts != 1 || !strings.Contains(s.LastError.String, "connection refused") {
		t.Errorf("after attempt 1: %+v", s)
	}

	err = svc.Deliver(context.Background(), id)
	if !errors.As(err, &final) || final.ID != id {
		t.Fatalf("second attempt = %v, want a *FinalError", err)
	}
	s := stateOf(t, b, id)
	if s.Status != notify.Failed || s.Attempts != 2 || !s.LastError.Valid || s.SentAt.Valid {
		t.Errorf("after attempt 2: %+v", s)
	}
	if !strings.Contains(b.logs.String(), "notification failed") {
		t.Errorf("final failure not logged: %s", b.logs)
	}

	if err := svc.Deliver(context.Background(), id); err != nil {
		t.Errorf("Deliver of a FAILED notification = %v, want nil", err)
	}
}

func TestDeliverPermanentErrorFailsAtOnce(t *testing.T) {
	mail := mailtest.Start(t, "--smtp-allowed-recipients", "^allowed@")
	svc, b := setup(t, smtpSender(t, mail.SMTPURL()), 5)
	id := enqueue(t, svc, b, lowStock(recipient("rejected")))

	err := svc.Deliver(context.Background(), id)
	var final *notify.FinalError
	if !errors.As(err, &final) || !errors.Is(err, notify.ErrPermanent) {
		t.Fatalf("Deliver = %v, want a permanent *FinalError", err)
	}
	if s := stateOf(t, b, id); s.Status != notify.Failed || s.Attempts != 1 || !strings.Contains(s.LastError.String, "550") {
		t.Errorf("state = %+v", s)
	}
}

func TestDeliverInvalidAddressFailsAtOnce(t *testing.T) {
	svc, b := setup(t, smtpSender(t, closedSMTPURL(t)), 5)
	id := enqueue(t, svc, b, lowStock("not an address "+recipient("x")))
	if err := svc.Deliver(context.Background(), id); !errors.Is(err, notify.ErrPermanent) {
		t.Fatalf("Deliver = %v, want ErrPermanent", err)
	}
	if s := stateOf(t, b, id); s.Status != notify.Failed || s.Attempts != 1 {
		t.Errorf("state = %+v", s)
	}
}

func TestDeliverSMSLogsNoBody(t *testing.T) {
	svc, b := setup(t, quietSender(), 3)
	phone := "+1555" + strings.ToLower(rand.Text()[:7])
	id := enqueue(t, svc, b, notify.Message{Channel: notify.SMS, To: phone, Template: "order-shipped-sms",
		Data: map[string]any{"order_number": "ORD-SECRET42", "tracking_number": "1Z999"}})
	if err := svc.Deliver(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if s := stateOf(t, b, id); s.Status != notify.Sent {
		t.Errorf("state = %+v", s)
	}
	if logs := b.logs.String(); !strings.Contains(logs, phone) || strings.Contains(logs, "ORD-SECRET42") {
		t.Errorf("log should name the recipient but not the body: %s", logs)
	}
}

func TestDeliverMissingNotificationIsFinal(t *testing.T) {
	svc, _ := setup(t, quietSender(), 3)
	var final *notify.FinalError
	if err := svc.Deliver(context.Background(), "00000000-0000-0000-0000-000000000000"); !errors.As(err, &final) {
		t.Fatalf("Deliver = %v, want *FinalError", err)
	}
}

func TestRetryDelayDoubles(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	cfg := notify.Config{MaxAttempts: 8, RetryBase: 5 * time.Second}
	d := dbtest.DB(t)
	inserter, err := jobs.NewInserter(d)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := notify.NewService(d, inserter, notify.LogSender{Log: log}, notify.LogSender{Log: log}, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{1, 5 * time.Second},
		{2, 10 * time.Second},
		{3, 20 * time.Second},
		{8, 640 * time.Second},
		{100, 6 * time.Hour},
	}
	for _, tc := range tests {
		if got := svc.RetryDelay(tc.attempt); got != tc.want {
			t.Errorf("RetryDelay(%d) = %s, want %s", tc.attempt, got, tc.want)
		}
	}
}
