// Package db owns the connection to PostgreSQL: one pgxpool shared by bun
// (through database/sql) and River, the migrations runner, transactions,
// the statement counter, and the mapping of Postgres errors.
package db

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// DB is the service's handle on Postgres.
type DB struct {
	Pool *pgxpool.Pool
	SQL  *sql.DB
	Bun  *bun.DB
	// listen is where River's listener takes its session connection, when
	// not from Pool (see OpenForRiver).
	listen *pgxpool.Pool
}

// ListenerPool is the pool River's LISTEN connection comes from: a
// session connection to Postgres, never through a transaction pooler.
func (d *DB) ListenerPool() *pgxpool.Pool {
	if d.listen != nil {
		return d.listen
	}
	return d.Pool
}

// Open connects to databaseURL with a pool of maxConns connections whose
// queries are counted by the statement tracer. Statements run unprepared
// (pgx's exec mode, one round trip each): bun writes its arguments into the
// SQL text, so nearly every statement is new, and pgx's default statement
// cache would prepare each one (an extra round trip) and keep up to 512
// prepared statements per connection, on both sides, that are never reused.
// A non-nil next (the OpenTelemetry tracer) sees every statement too.
func Open(ctx context.Context, databaseURL string, maxConns int32, next ...pgx.QueryTracer) (*DB, error) {
	return open(ctx, databaseURL, maxConns, pgx.QueryExecModeExec, next)
}

// OpenForRiver is Open for River's own pool, whose statements are a fixed
// set with bind parameters: there pgx's statement cache prepares each once
// and reuses it.
//
// With a directURL, databaseURL is a pooler in transaction mode (PgBouncer)
// and directURL a session connection to the same database. Named prepared
// statements do not survive a pooler that hands each transaction another
// server connection (PgBouncer before 1.21, or without
// max_prepared_statements), so River's statements then run unprepared
// through the pooler as the service's do; LISTEN needs the session, so
// River's listener gets a pool of one connection of its own on directURL.
func OpenForRiver(ctx context.Context, databaseURL, directURL string, maxConns int32) (*DB, error) {
	if directURL == "" {
		return open(ctx, databaseURL, maxConns, pgx.QueryExecModeCacheStatement, nil)
	}
	d, err := open(ctx, databaseURL, maxConns-1, pgx.QueryExecModeExec, nil)
	if err != nil {
		return nil, err
	}
	if d.listen, err = openPool(ctx, directURL, 1, pgx.QueryExecModeCacheStatement, nil); err != nil {
		d.Close()
		return nil, fmt.Errorf("DATABASE_DIRECT_URL: %w", err)
	}
	return d, nil
}

// OpenDirect opens a small pool on a session connection (DATABASE_DIRECT_URL)
// for what a transaction pooler cannot carry: the migrations, which hold a
// session-level advisory lock.
func OpenDirect(ctx context.Context, directURL string) (*DB, error) {
	d, err := open(ctx, directURL, 2, pgx.QueryExecModeExec, nil)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_DIRECT_URL: %w", err)
	}
	return d, nil
}

func open(ctx context.Context, databaseURL string, maxConns int32, mode pgx.QueryExecMode, next []pgx.QueryTracer) (*DB, error) {
	pool, err := openPool(ctx, databaseURL, maxConns, mode, next)
	if err != nil {
		return nil, err
	}
	sqldb := stdlib.OpenDBFromPool(pool)
	return &DB{Pool: pool, SQL: sqldb, Bun: bun.NewDB(sqldb, pgdialect.New())}, nil
}

func openPool(ctx context.Context, databaseURL string, maxConns int32, mode pgx.QueryExecMode, next []pgx.QueryTracer) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", redactURLError(err))
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	tracer := &tracer{}
	for _, n := range next {
		if n != nil {
			tracer.next = n
		}
	}
	cfg.ConnConfig.Tracer = tracer
	cfg.ConnConfig.DefaultQueryExecMode = mode
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", redactURLError(err))
	}
	tracer.pool.Store(pool)
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return pool, nil
}

// Close closes bun's handle and the pools.
func (d *DB) Close() {
	_ = d.Bun.Close()
	d.Pool.Close()
	if d.listen != nil {
		d.listen.Close()
	}
}

// RunInTx runs fn in a transaction, committing when it returns nil.
func (d *DB) RunInTx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	return d.Bun.RunInTx(ctx, nil, fn)
}

// redactURLError drops the connection string from parse errors, which may
// carry a password.
func redactURLError(err error) error {
	return fmt.Errorf("invalid connection settings (%T)", err)
}
