package notify

import (
	"context"
	"database/sql"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// row is a notifications row as stored.
type row struct {
	ID        string
	Seq       int64
	Channel   Channel
	Recipient string
	Template  string
	Data      []byte
	Status    Status
	// Attempts counts the attempts started (claimAttempt), MaxAttempts is
	// the budget fixed at enqueue.
	Attempts    int
	MaxAttempts int
	LastError   sql.NullString
	CreatedAt   time.Time
	SentAt      sql.NullTime
}

const rowColumns = `id, seq, channel, recipient, template, data, status, attempts, max_attempts, last_error, created_at, sent_at`

func scanRow(s interface{ Scan(...any) error }) (row, error) {
	var r row
	err := s.Scan(&r.ID, &r.Seq, &r.Channel, &r.Recipient, &r.Template, &r.Data,
		&r.Status, &r.Attempts, &r.MaxAttempts, &r.LastError, &r.CreatedAt, &r.SentAt)
	return r, err
}

// insertRow inserts a PENDING notification with a budget of maxAttempts
// attempts and returns its id. A row with the same dedupe key, or, when
// suppressible, an unsubscribe of the recipient, makes it return
// sql.ErrNoRows and insert nothing.
func insertRow(ctx context.Context, idb bun.IDB, m Message, data []byte, suppressible bool, maxAttempts int) (string, error) {
	var id string
	err := idb.QueryRowContext(ctx, `
		INSERT INTO notifications (channel, recipient, template, data, dedupe_key, max_attempts)
		SELECT ?, ?, ?, ?::jsonb, NULLIF(?, ''), ?
		WHERE NOT (?::boolean AND EXISTS (SELECT 1 FROM marketing_unsubscribes WHERE email = ?))
		ON CONFLICT (dedupe_key) DO NOTHING
		RETURNING id`,
		string(m.Channel), m.To, m.Template, string(data), m.DedupeKey, maxAttempts, suppressible, m.To,
	).Scan(&id)
	return id, err
}

func loadRow(ctx context.Context, idb bun.IDB, id string) (row, error) {
	return scanRow(idb.QueryRowContext(ctx, `SELECT `+rowColumns+` FROM notifications WHERE id = ?`, id))
}

// claimAttempt counts the start of an attempt on a PENDING row that has
// attempts left and returns the row as it now is. It returns sql.ErrNoRows
// for a row that is missing, final or out of attempts. Counting before the
// send means that every send is counted, even when the write of its outcome
// is lost.
func claimAttempt(ctx context.Context, idb bun.IDB, id string) (row, error) {
	return scanRow(idb.QueryRowContext(ctx, `
		UPDATE notifications SET attempts = attempts + 1
		WHERE id = ? AND status = 'PENDING' AND attempts < max_attempts
		RETURNING `+rowColumns, id))
}

// markSent records a successful attempt. Only a PENDING row changes, so a
// second delivery of the same row cannot overwrite a final state.
func markSent(ctx context.Context, idb bun.IDB, id string) error {
	_, err := idb.ExecContext(ctx, `
		UPDATE notifications
		SET status = 'SENT', sent_at = now(), last_error = NULL
		WHERE id = ? AND status = 'PENDING'`, id)
	return err
}

// markAttemptFailed records the error of a failed attempt, leaving the row
// PENDING for a retry or making it FAILED.
func markAttemptFailed(ctx context.Context, idb bun.IDB, id string, status Status, lastError string) error {
	_, err := idb.ExecContext(ctx, `
		UPDATE notifications
		SET status = ?, last_error = ?
		WHERE id = ? AND status = 'PENDING'`, string(status), lastError, id)
	return err
}

// orphan is a PENDING notification that no River job will deliver.
type orphan struct {
	ID          string
	Attempts    int
	MaxAttempts int
}

// lockOrphans locks up to limit PENDING notifications, oldest first, that
// have no live delivery job: none available, scheduled, running, retryable
// or pending, in any queue. Rows another sweep holds are skipped. A row and
// its first job commit together, and a job that ends leaves its row final
// first unless a write was lost, so what this finds is what River has
// given up on (or a job someone deleted).
func lockOrphans(ctx context.Context, idb bun.IDB, limit int) ([]orphan, error) {
	rows, err := idb.QueryContext(ctx, `
		SELECT n.id, n.attempts, n.max_attempts FROM notifications n
		WHERE n.status = 'PENDING'
		  AND NOT EXISTS (
		      SELECT 1 FROM river_job j
		      WHERE j.kind = ? AND j.args @> jsonb_build_object('notification_id', n.id::text)
		        AND j.state IN ('available', 'scheduled', 'running', 'retryable', 'pending'))
		ORDER BY n.seq
		LIMIT ?
		FOR UPDATE OF n SKIP LOCKED`, DeliverArgs{}.Kind(), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []orphan
	for rows.Next() {
		var o orphan
		if err := rows.Scan(&o.ID, &o.Attempts, &o.MaxAttempts); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// markAbandoned makes the PENDING rows ids FAILED with lastError.
func markAbandoned(ctx context.Context, idb bun.IDB, ids []string, lastError string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := idb.ExecContext(ctx, `
		UPDATE notifications SET status = 'FAILED', last_error = ?
		WHERE id = ANY(?::uuid[]) AND status = 'PENDING'`, lastError, pgdialect.Array(ids))
	return err
}

// listRows returns up to limit rows matching f, newest first, older than
// the row with seq beforeSeq when beforeSeq > 0.
func listRows(ctx context.Context, idb bun.IDB, f Filter, beforeSeq int64, limit int) ([]row, error) {
	rows, err := idb.QueryContext(ctx, `
		SELECT `+rowColumns+` FROM notifications
		WHERE (? = '' OR template = ?) AND (? = '' OR recipient = ?) AND (? = 0 OR seq < ?)
		ORDER BY seq DESC
		LIMIT ?`,
		f.Template, f.Template, f.To, f.To, beforeSeq, beforeSeq, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func countRows(ctx context.Context, idb bun.IDB, f Filter) (int, error) {
	var n int
	err := idb.QueryRowContext(ctx, `
		SELECT count(*) FROM notifications
		WHERE (? = '' OR template = ?) AND (? = '' OR recipient = ?)`,
		f.Template, f.Template, f.To, f.To).Scan(&n)
	return n, err
}

func countPending(ctx context.Context, idb bun.IDB) (int, error) {
	var n int
	err := idb.QueryRowContext(ctx, `SELECT count(*) FROM notifications WHERE status = 'PENDING'`).Scan(&n)
	return n, err
}
