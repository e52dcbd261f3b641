package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"commerce/internal/apperr"
)

// RetryAfter is what a client is told to wait before trying again while
// the database is unreachable: outages seen so far (a restart, a
// failover) last seconds.
const RetryAfter = 5 * time.Second

// Unavailable returns err as an apperr Unavailable error when it means that
// Postgres could not be reached or dropped the connection (a refused or
// failed connect, a connection the server terminated or that broke, a
// database not accepting connections), and err unchanged otherwise. It is
// what a client is told instead of an internal error: retry later.
func Unavailable(err error) error {
	if err == nil || apperr.KindOf(err) == apperr.Unavailable || !IsConnectionError(err) {
		return err
	}
	return &apperr.Error{Kind: apperr.Unavailable, RetryAfter: RetryAfter,
		Message: "the service is temporarily unavailable: try again shortly", Err: err}
}

// IsConnectionError reports whether err is a failure to reach Postgres or
// a connection lost on the way (SQLSTATE class 08, the server shutting
// down or terminating the backend: 57P01..57P03, too many connections:
// 53300), as opposed to an answer from a working database (a constraint
// violation, a statement timeout) or the caller giving up (a context
// ending).
func IsConnectionError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var connect *pgconn.ConnectError
	if errors.As(err, &connect) {
		return true // whatever the server said: no connection, no answer
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "57P01", "57P02", "57P03", "53300":
			return true
		}
		return strings.HasPrefix(pg.Code, "08")
	}
	// A failed HTTP call (Stripe, S3) is a net.Error too, inside a
	// *url.Error: that service's failure, which must stay an internal
	// error, logged, rather than pass for a database outage.
	var httpErr *url.Error
	if errors.As(err, &httpErr) {
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, pgconn.ErrConnClosed) || pgconn.SafeToRetry(err)
}

// tracer counts statements (statementTracer) and resets the pool when a
// statement fails for a lost connection: a database restart or failover
// kills every connection at once, and without the reset each idle one
// would fail one more request after the database is back (pgxpool checks
// only connections idle for over a second before handing them out). It
// hands each statement on to next (the OpenTelemetry tracer) when set: pgx
// takes one tracer per connection.
type tracer struct {
	statementTracer
	pool atomic.Pointer[pgxpool.Pool]
	next pgx.QueryTracer
}

func (t *tracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	ctx = t.statementTracer.TraceQueryStart(ctx, conn, data)
	if t.next != nil {
		ctx = t.next.TraceQueryStart(ctx, conn, data)
	}
	return ctx
}

func (t *tracer) TraceQueryEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryEndData) {
	if t.next != nil {
		t.next.TraceQueryEnd(ctx, conn, data)
	}
	if data.Err != nil && IsConnectionError(data.Err) {
		if p := t.pool.Load(); p != nil {
			p.Reset()
		}
	}
}
