package db

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/uptrace/bun/migrate"

	"commerce/migrations"
)

// migrationLockKey is the advisory lock that serialises migrations across
// replicas starting at the same time.
const migrationLockKey = 7_301_966_412

// Migrate applies River's migrations and then the service's own, holding a
// Postgres advisory lock so that only one replica migrates at a time.
func (d *DB) Migrate(ctx context.Context, log *slog.Logger) error {
	conn, err := d.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: acquire lock connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("migrate: take advisory lock: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockKey); err != nil {
			log.Warn("migrate: release advisory lock", "error", err)
		}
	}()

	rm, err := rivermigrate.New(riverdatabasesql.New(d.SQL), nil)
	if err != nil {
		return fmt.Errorf("migrate river: %w", err)
	}
	res, err := rm.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("migrate river: %w", err)
	}
	if len(res.Versions) > 0 {
		log.Info("river migrations applied", "count", len(res.Versions))
	}

	ms, err := migrations.Load()
	if err != nil {
		return err
	}
	m := migrate.NewMigrator(d.Bun, ms, migrate.WithMarkAppliedOnSuccess(true))
	if err := m.Init(ctx); err != nil {
		return fmt.Errorf("migrate: init: %w", err)
	}
	group, err := m.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if !group.IsZero() {
		log.Info("migrations applied", "group", group.ID, "migrations", group.Migrations.String())
	}
	return nil
}
