package jobs_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"commerce/internal/jobs"
	"commerce/internal/notify"
	"commerce/internal/notify/notifysmtp"
	"commerce/internal/platform/db"
	"commerce/internal/platform/dbtest"
	"commerce/internal/platform/mailtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }

type bundle struct {
	db     *db.DB
	client *river.Client[*sql.Tx]
}

// testJobTimeout is the job timeout of the tests' worker clients.
const testJobTimeout = 30 * time.Second

// setup starts a worker client delivering through an SMTP sender for
// smtpURL, with at most maxAttempts attempts 10 ms apart (doubling). The
// service enqueues with the insert-only client, as in the service.
func setup(t *testing.T, smtpURL string, maxAttempts int) (*notify.Service, *bundle) {
	t.Helper()
	email, err := notifysmtp.New(smtpURL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{db: dbtest.DB(t)}
	svc := newService(t, b, email, maxAttempts, nil)
	b.client = startWorkers(t, b, svc, nil)
	return svc, b
}

// newService returns a notify service on b's database that sends email
// through email, with maxAttempts attempts 10 ms apart (doubling) and its
// metrics on reg when not nil.
func newService(t *testing.T, b *bundle, email notify.EmailSender, maxAttempts int, reg *prometheus.Registry) *notify.Service {
	t.Helper()
	inserter, err := jobs.NewInserter(b.db)
	if err != nil {
		t.Fatal(err)
	}
	log := testLogger(t)
	cfg := notify.Config{From: "shop@example.com", MaxAttempts: maxAttempts, RetryBase: 10 * time.Millisecond}
	if reg != nil {
		cfg.Metrics = reg
	}
	svc, err := notify.NewService(b.db, inserter, email, notify.LogSender{Log: log}, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// startWorkers starts a worker client with svc's workers and the periodic
// jobs, and stops it on cleanup.
func startWorkers(t *testing.T, b *bundle, svc *notify.Service, periodic []*river.PeriodicJob) *river.Client[*sql.Tx] {
	t.Helper()
	workers := river.NewWorkers()
	if err := jobs.Register(workers, jobs.Deps{Notify: svc, JobTimeout: testJobTimeout}); err != nil {
		t.Fatal(err)
	}
	client, err := jobs.NewClient(b.db, workers, periodic, testJobTimeout, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := client.Stop(ctx); err != nil {
			t.Errorf("stop river: %v", err)
		}
	})
	return client
}

// enqueue commits a low-stock alert and returns its notification id.
func enqueue(t *testing.T, svc *notify.Service, b *bundle) string {
	t.Helper()
	to := "stock-" + strings.ToLower(rand.Text()[:10]) + "@example.com"
	err := b.db.RunInTx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
		return svc.Enqueue(ctx, tx, notify.Message{
			Channel: notify.Email, To: to, Template: "low-stock-alert",
			Data: map[string]any{"product_name": "Linen shirt", "sku": "SH-1", "available_quantity": 3, "threshold": 5},
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.List(context.Background(), notify.Filter{To: to}, nil, "")
	if err != nil || len(p.Edges) != 1 {
		t.Fatalf("find enqueued notification: %v", err)
	}
	return p.Edges[0].Node.ID
}

type outcome struct {
	status    notify.Status
	attempts  int
	lastError sql.NullString
	sentAt    sql.NullTime
	jobState  string
	jobTries  int
}

// waitFinal waits until notification id is no longer PENDING and its job
// has stopped, and returns both.
func waitFinal(t *testing.T, b *bundle, id string, timeout time.Duration) outcome {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var o outcome
		err := b.db.Bun.QueryRowContext(context.Background(), `
			SELECT n.status, n.attempts, n.last_error, n.sent_at, j.state, j.attempt
			FROM notifications n JOIN river_job j ON j.args->>'notification_id' = n.id::text
			WHERE n.id = ?`, id).
			Scan(&o.status, &o.attempts, &o.lastError, &o.sentAt, &o.jobState, &o.jobTries)
		if err != nil {
			t.Fatal(err)
		}
		if o.status != notify.Pending && (o.jobState == "completed" || o.jobState == "cancelled") {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %+v", timeout, o)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNotifyWorkerDeliversEmail(t *testing.T) {
	mail := mailtest.Start(t)
	svc, b := setup(t, mail.SMTPURL(), 3)

	start := time.Now()
	id := enqueue(t, svc, b)
	o := waitFinal(t, b, id, 10*time.Second)
	took := time.Since(start)
	t.Logf("delivered %s after commit", took)
	if took > 3*time.Second {
		t.Errorf("a job from the insert-only client waited %s to be worked", took)
	}
	if o.status != notify.Sent || o.attempts != 1 || !o.sentAt.Valid || o.lastError.Valid || o.jobState != "completed" {
		t.Errorf("outcome = %+v", o)
	}
	msgs := mail.WaitForMessages(t, 1, 5*time.Second)
	m := mail.Message(t, msgs[0].ID)
	if m.Subject != "Low stock: Linen shirt (SH-1)" || !strings.Contains(m.Text, "Linen shirt (SKU SH-1) is running low.") ||
		m.Header(notify.HeaderNotificationID) != id {
		t.Errorf("message = %+v", m)
	}
}

func TestNotifyWorkerRetriesThenFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "smtp://" + l.Addr().String()
	l.Close()
	svc, b := setup(t, closed, 2)

	id := enqueue(t, svc, b)
	// River's leader moves retryable jobs back every few seconds.
	o := waitFinal(t, b, id, 30*time.Second)
	if o.status != notify.Failed || o.attempts != 2 || !strings.Contains(o.lastError.String, "connection refused") ||
		o.sentAt.Valid || o.jobState != "cancelled" || o.jobTries != 2 {
		t.Errorf("outcome = %+v", o)
	}
}

func TestNotifyWorkerStopsAtPermanentError(t *testing.T) {
	mail := mailtest.Start(t, "--smtp-allowed-recipients", "^nobody-else@")
	svc, b := setup(t, mail.SMTPURL(), 5)

	id := enqueue(t, svc, b)
	o := waitFinal(t, b, id, 10*time.Second)
	if o.status != notify.Failed || o.attempts != 1 || !strings.Contains(o.lastError.String, "550") ||
		o.jobState != "cancelled" || o.jobTries != 1 {
		t.Errorf("outcome = %+v", o)
	}
}

func TestRegisterRefusesDuplicates(t *testing.T) {
	workers := river.NewWorkers()
	if err := jobs.Register(workers, jobs.Deps{JobTimeout: time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := jobs.Register(workers, jobs.Deps{JobTimeout: time.Second}); err == nil {
		t.Fatal("second Register succeeded")
	}
}

func TestRegisterRefusesNoTimeout(t *testing.T) {
	if err := jobs.Register(river.NewWorkers(), jobs.Deps{}); err == nil {
		t.Fatal("Register without a job timeout succeeded")
	}
}
