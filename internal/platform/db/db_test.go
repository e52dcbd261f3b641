package db_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"

	"commerce/internal/apperr"
	"commerce/internal/platform/db"
	"commerce/internal/platform/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }

func TestMigrateIsIdempotent(t *testing.T) {
	d := dbtest.DB(t)
	if err := d.Migrate(context.Background(), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
}

func TestStatementCounterSkipsTransactionControl(t *testing.T) {
	d := dbtest.DB(t)
	ctx, counter := db.WithStatementCounter(context.Background())
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Bun.ExecContext(context.Background(), "SELECT 2"); err != nil {
		t.Fatal(err)
	}
	if got := counter.Count(); got != 1 {
		t.Fatalf("counted %d statements, want 1 (BEGIN/COMMIT and other contexts not counted)", got)
	}
}

func TestUniqueViolation(t *testing.T) {
	d := dbtest.DB(t)
	ctx := context.Background()
	q := "INSERT INTO staff_users (email, password_hash, role) VALUES ('dup@example.com', 'x', 'STAFF')"
	if _, err := d.Bun.ExecContext(ctx, q); err != nil {
		t.Fatal(err)
	}
	_, err := d.Bun.ExecContext(ctx, q)
	if !db.IsUniqueViolation(err, "staff_users_email_key") {
		t.Fatalf("want unique violation, got %v", err)
	}
}

// A database that cannot be reached or drops the connection is
// SERVICE_UNAVAILABLE with a retry delay; an answer from a working database
// (a violated constraint) is not.
func TestUnavailable(t *testing.T) {
	d := dbtest.DB(t)
	ctx := context.Background()

	unreachable, err := db.Open(ctx, "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1", 2)
	if err == nil {
		unreachable.Close()
		t.Fatal("connected to a port where nothing listens")
	}
	wantUnavailable(t, "connection refused", err)

	conn, err := d.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var pid int
	if err := conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Bun.ExecContext(ctx, "SELECT pg_terminate_backend(?)", pid); err != nil {
		t.Fatal(err)
	}
	_, err = conn.ExecContext(ctx, "SELECT 1")
	wantUnavailable(t, "terminated backend", err)

	q := "INSERT INTO staff_users (email, password_hash, role) VALUES ('unavail@example.com', 'x', 'STAFF')"
	if _, err := d.Bun.ExecContext(ctx, q); err != nil {
		t.Fatal(err)
	}
	_, err = d.Bun.ExecContext(ctx, q)
	if err == nil || db.IsConnectionError(err) || apperr.KindOf(db.Unavailable(err)) == apperr.Unavailable {
		t.Fatalf("unique violation %v taken for an outage", err)
	}
	if db.Unavailable(context.Canceled) != context.Canceled {
		t.Fatal("a cancelled request taken for an outage")
	}
	httpCall := fmt.Errorf("upload image: %w", &url.Error{Op: "Put", URL: "https://bucket.example.com/k",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}})
	if db.IsConnectionError(httpCall) {
		t.Fatal("an HTTP call's network failure (S3, Stripe) taken for a database outage")
	}
}

func wantUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	mapped := db.Unavailable(fmt.Errorf("load things: %w", err))
	var ae *apperr.Error
	if !errors.As(mapped, &ae) || ae.Kind != apperr.Unavailable || ae.RetryAfter <= 0 {
		t.Fatalf("%s: %v mapped to %v, want SERVICE_UNAVAILABLE with a retry delay", what, err, mapped)
	}
	if strings.Contains(ae.Message, "127.0.0.1") || strings.Contains(ae.Message, "terminat") {
		t.Fatalf("%s: the safe message says too much: %q", what, ae.Message)
	}
}
