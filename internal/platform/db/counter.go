package db

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// StatementCounter counts the SQL statements run on behalf of one request
// or one piece of work, so that tests and metrics can hold code to a budget
// of round trips. BEGIN, COMMIT and ROLLBACK are not counted, nor River's
// own bookkeeping around an insert (its debounced NOTIFY to wake workers and
// its one-time version check): the job insert itself counts.
type StatementCounter struct{ n atomic.Int64 }

// Count returns the statements counted so far.
func (c *StatementCounter) Count() int64 { return c.n.Load() }

type counterKey struct{}

// WithStatementCounter returns a context whose statements are counted by
// the returned counter. Contexts derived from it share the counter.
func WithStatementCounter(ctx context.Context) (context.Context, *StatementCounter) {
	c := &StatementCounter{}
	return context.WithValue(ctx, counterKey{}, c), c
}

// statementTracer is the pgx tracer that feeds StatementCounters.
type statementTracer struct{}

func (statementTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	c, ok := ctx.Value(counterKey{}).(*StatementCounter)
	if ok && !isTxControl(data.SQL) && !isRiverBookkeeping(data.SQL) {
		c.n.Add(1)
	}
	return ctx
}

func (statementTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func isTxControl(sql string) bool {
	s := strings.ToLower(strings.TrimSpace(sql))
	for _, p := range []string{"begin", "commit", "rollback", "start transaction"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// riverBookkeeping are the sqlc names of River's statements that are not the
// caller's work.
var riverBookkeeping = []string{"-- name: PGNotifyMany ", "-- name: PGGetProductAndVersion "}

func isRiverBookkeeping(sql string) bool {
	for _, name := range riverBookkeeping {
		if strings.HasPrefix(sql, name) {
			return true
		}
	}
	return false
}
