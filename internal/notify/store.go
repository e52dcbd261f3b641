package notify

import (
	"context"
	"database/sql"
	"time"

	"github.com/uptrace/bun"
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
	Attempts  int
	LastError sql.NullString
	CreatedAt time.Time
	SentAt    sql.NullTime
}

const rowColumns = `id, seq, channel, recipient, template, data, status, attempts, last_error, created_at, sent_at`

func scanRow(s interface{ Scan(...any) error }) (row, error) {
	var r row
	err := s.Scan(&r.ID, &r.Seq, &r.Channel, &r.Recipient, &r.Template, &r.Data,
		&r.Status, &r.Attempts, &r.LastError, &r.CreatedAt, &r.SentAt)
	return r, err
}

// insertRow inserts a PENDING notification and returns its id. A row with
// the same dedupe key, or, when suppressible, an unsubscribe of the
// recipient, makes it return sql.ErrNoRows and insert nothing.
func insertRow(ctx context.Context, idb bun.IDB, m Message, data []byte, suppressible bool) (string, error) {
	var id string
	err := idb.QueryRowContext(ctx, `
		INSERT INTO notifications (channel, recipient, template, data, dedupe_key)
		SELECT ?, ?, ?, ?::jsonb, NULLIF(?, '')
		WHERE NOT (?::boolean AND EXISTS (SELECT 1 FROM marketing_unsubscribes WHERE email = ?))
		ON CONFLICT (dedupe_key) DO NOTHING
		RETURNING id`,
		string(m.Channel), m.To, m.Template, string(data), m.DedupeKey, suppressible, m.To,
	).Scan(&id)
	return id, err
}

func loadRow(ctx context.Context, idb bun.IDB, id string) (row, error) {
	return scanRow(idb.QueryRowContext(ctx, `SELECT `+rowColumns+` FROM notifications WHERE id = ?`, id))
}

// markSent records a successful attempt. Only a PENDING row changes, so a
// second delivery of the same row cannot overwrite a final state.
func markSent(ctx context.Context, idb bun.IDB, id string) error {
	_, err := idb.ExecContext(ctx, `
		UPDATE notifications
		SET status = 'SENT', attempts = attempts + 1, sent_at = now(), last_error = NULL
		WHERE id = ? AND status = 'PENDING'`, id)
	return err
}

// markAttemptFailed records a failed attempt, leaving the row PENDING for a
// retry or making it FAILED.
func markAttemptFailed(ctx context.Context, idb bun.IDB, id string, status Status, lastError string) error {
	_, err := idb.ExecContext(ctx, `
		UPDATE notifications
		SET status = ?, attempts = attempts + 1, last_error = ?
		WHERE id = ? AND status = 'PENDING'`, string(status), lastError, id)
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
