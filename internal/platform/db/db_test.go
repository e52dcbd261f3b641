package db_test

import (
	"context"
	"log/slog"
	"os"
	"testing"

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
