package webhooks

import (
	"context"
	"database/sql"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// endpointRow is a webhook_endpoints row as stored.
type endpointRow struct {
	ID          string
	Seq         int64
	URL         string
	Description sql.NullString
	Topics      []string
	IsActive    bool
	Keys        keys
	CreatedAt   time.Time
}

const endpointColumns = `id, seq, url, description, topics, is_active, secret,
	coalesce(previous_secret, ''), previous_secret_expires_at, created_at`

func scanEndpoint(s rowScanner) (endpointRow, error) {
	var r endpointRow
	err := s.Scan(&r.ID, &r.Seq, &r.URL, &r.Description, pgdialect.Array(&r.Topics), &r.IsActive,
		&r.Keys.Secret, &r.Keys.Previous, &r.Keys.PreviousExpiresAt, &r.CreatedAt)
	return r, err
}

func insertEndpoint(ctx context.Context, idb bun.IDB, in EndpointInput, secret string) (endpointRow, error) {
	return scanEndpoint(idb.QueryRowContext(ctx, `
		INSERT INTO webhook_endpoints (url, description, topics, is_active, secret)
		VALUES (?, ?, ?, ?, ?)
		RETURNING `+endpointColumns,
		in.URL, in.Description, pgdialect.Array(topicStrings(in.Topics)), in.IsActive, secret))
}

// updateEndpoint replaces the settings; turning an endpoint on forgets its
// failures, so that it is not switched off again by the next one.
func updateEndpoint(ctx context.Context, idb bun.IDB, id string, in EndpointInput) (endpointRow, error) {
	return scanEndpoint(idb.QueryRowContext(ctx, `
		UPDATE webhook_endpoints
		SET url = ?, description = ?, topics = ?, is_active = ?, updated_at = now(),
		    consecutive_failures = CASE WHEN ? THEN 0 ELSE consecutive_failures END
		WHERE id = ?
		RETURNING `+endpointColumns,
		in.URL, in.Description, pgdialect.Array(topicStrings(in.Topics)), in.IsActive, in.IsActive, id))
}

func deleteEndpoint(ctx context.Context, idb bun.IDB, id string) (bool, error) {
	res, err := idb.ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE id = ?`, id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// rotateSecret makes secret current and keeps the one it replaces signing
// until previousUntil.
func rotateSecret(ctx context.Context, idb bun.IDB, id, secret string, previousUntil time.Time) (endpointRow, error) {
	return scanEndpoint(idb.QueryRowContext(ctx, `
		UPDATE webhook_endpoints
		SET previous_secret = secret, previous_secret_expires_at = ?, secret = ?, updated_at = now()
		WHERE id = ?
		RETURNING `+endpointColumns, previousUntil, secret, id))
}

func loadEndpoint(ctx context.Context, idb bun.IDB, id string) (endpointRow, error) {
	return scanEndpoint(idb.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = ?`, id))
}

// listEndpoints returns up to limit endpoints, newest first, older than
// the one with seq beforeSeq when beforeSeq > 0.
func listEndpoints(ctx context.Context, idb bun.IDB, beforeSeq int64, limit int) ([]endpointRow, error) {
	rows, err := idb.QueryContext(ctx, `
		SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE (? = 0 OR seq < ?)
		ORDER BY seq DESC LIMIT ?`, beforeSeq, beforeSeq, limit)
	return scanRows(rows, err, scanEndpoint)
}

func countEndpoints(ctx context.Context, idb bun.IDB) (int, error) {
	var n int
	err := idb.QueryRowContext(ctx, `SELECT count(*) FROM webhook_endpoints`).Scan(&n)
	return n, err
}

// subscribers returns the ids of the active endpoints subscribed to topic.
func subscribers(ctx context.Context, idb bun.IDB, topic Topic) ([]string, error) {
	rows, err := idb.QueryContext(ctx, `
		SELECT id FROM webhook_endpoints WHERE is_active AND topics @> ARRAY[?]::text[] ORDER BY id`, string(topic))
	return scanRows(rows, err, func(s rowScanner) (id string, err error) { return id, s.Scan(&id) })
}

// deliveryRow is a webhook_deliveries row as stored.
type deliveryRow struct {
	ID             string
	Seq            int64
	EndpointID     string
	EventID        string
	Topic          string
	OrderID        sql.NullString
	Body           string
	Status         Status
	Attempts       int
	MaxAttempts    int
	ResponseStatus sql.NullInt32
	LastError      sql.NullString
	CreatedAt      time.Time
	DeliveredAt    sql.NullTime
}

const deliveryColumns = `id, seq, endpoint_id, event_id, topic, order_id, body, status, attempts, max_attempts,
	response_status, last_error, created_at, delivered_at`

func scanDelivery(s rowScanner) (deliveryRow, error) {
	var r deliveryRow
	err := s.Scan(&r.ID, &r.Seq, &r.EndpointID, &r.EventID, &r.Topic, &r.OrderID, &r.Body, &r.Status,
		&r.Attempts, &r.MaxAttempts, &r.ResponseStatus, &r.LastError, &r.CreatedAt, &r.DeliveredAt)
	return r, err
}

// newDelivery is a delivery to insert.
type newDelivery struct {
	EndpointID  string
	EventID     string
	Topic       Topic
	OrderID     *string
	Body        []byte
	MaxAttempts int
}

// insertDeliveries inserts PENDING deliveries in one statement and returns
// them.
func insertDeliveries(ctx context.Context, idb bun.IDB, ds []newDelivery) ([]deliveryRow, error) {
	out := make([]deliveryRow, 0, len(ds))
	endpoints, events, topics, orders, bodies, budgets := make([]string, len(ds)), make([]string, len(ds)),
		make([]string, len(ds)), make([]*string, len(ds)), make([]string, len(ds)), make([]int, len(ds))
	for i, d := range ds {
		endpoints[i], events[i], topics[i], orders[i], bodies[i], budgets[i] =
			d.EndpointID, d.EventID, string(d.Topic), d.OrderID, string(d.Body), d.MaxAttempts
	}
	rows, err := idb.QueryContext(ctx, `
		INSERT INTO webhook_deliveries (endpoint_id, event_id, topic, order_id, body, max_attempts)
		SELECT * FROM unnest(?::uuid[], ?::uuid[], ?::text[], ?::uuid[], ?::text[], ?::int[])
		RETURNING `+deliveryColumns,
		pgdialect.Array(endpoints), pgdialect.Array(events), pgdialect.Array(topics), pgdialect.Array(orders),
		pgdialect.Array(bodies), pgdialect.Array(budgets))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func loadDelivery(ctx context.Context, idb bun.IDB, id string) (deliveryRow, error) {
	return scanDelivery(idb.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE id = ?`, id))
}

// earlierPending reports whether a delivery of the same endpoint and order
// older than d is still PENDING: d must wait for it.
func earlierPending(ctx context.Context, idb bun.IDB, d deliveryRow) (bool, error) {
	if !d.OrderID.Valid {
		return false, nil
	}
	var ok bool
	err := idb.QueryRowContext(ctx, `
		SELECT EXISTS (SELECT 1 FROM webhook_deliveries
		               WHERE endpoint_id = ? AND order_id = ? AND status = 'PENDING' AND seq < ?)`,
		d.EndpointID, d.OrderID.String, d.Seq).Scan(&ok)
	return ok, err
}

// claimAttempt counts the start of an attempt on a PENDING delivery with
// attempts left and returns it with its endpoint's URL, state and keys. It
// returns sql.ErrNoRows for a delivery that is missing, final or out of
// attempts.
func claimAttempt(ctx context.Context, idb bun.IDB, id string) (deliveryRow, endpointRow, error) {
	var d deliveryRow
	var e endpointRow
	err := idb.QueryRowContext(ctx, `
		WITH claimed AS (
			UPDATE webhook_deliveries SET attempts = attempts + 1
			WHERE id = ? AND status = 'PENDING' AND attempts < max_attempts
			RETURNING `+deliveryColumns+`
		)
		SELECT c.attempts, c.max_attempts, c.event_id, c.topic, c.body, c.endpoint_id,
		       e.url, e.is_active, e.secret, coalesce(e.previous_secret, ''), e.previous_secret_expires_at
		FROM claimed c JOIN webhook_endpoints e ON e.id = c.endpoint_id`, id,
	).Scan(&d.Attempts, &d.MaxAttempts, &d.EventID, &d.Topic, &d.Body, &d.EndpointID,
		&e.URL, &e.IsActive, &e.Keys.Secret, &e.Keys.Previous, &e.Keys.PreviousExpiresAt)
	d.ID, e.ID = id, d.EndpointID
	return d, e, err
}

// recordOutcome writes the outcome of an attempt. Only a PENDING delivery
// changes, so a late write cannot overwrite a final state.
func recordOutcome(ctx context.Context, idb bun.IDB, id string, status Status, responseStatus *int, lastError *string) error {
	_, err := idb.ExecContext(ctx, `
		UPDATE webhook_deliveries
		SET status = ?, response_status = ?, last_error = ?,
		    delivered_at = CASE WHEN ? = 'SUCCEEDED' THEN now() ELSE delivered_at END
		WHERE id = ? AND status = 'PENDING'`,
		string(status), responseStatus, lastError, string(status), id)
	return err
}

// countOutcome keeps the endpoint's run of FAILED deliveries: a success
// ends it, a failure lengthens it and, at disableAfter, deactivates the
// endpoint. It reports whether this call deactivated it.
func countOutcome(ctx context.Context, idb bun.IDB, endpointID string, failed bool, disableAfter int) (bool, error) {
	var deactivated bool
	err := idb.QueryRowContext(ctx, `
		WITH old AS (SELECT is_active FROM webhook_endpoints WHERE id = ?)
		UPDATE webhook_endpoints e
		SET consecutive_failures = CASE WHEN ? THEN consecutive_failures + 1 ELSE 0 END,
		    is_active = e.is_active AND NOT (? AND consecutive_failures + 1 >= ?)
		FROM old WHERE e.id = ?
		RETURNING old.is_active AND NOT e.is_active`,
		endpointID, failed, failed, disableAfter, endpointID).Scan(&deactivated)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return deactivated, err
}

// reopen makes a FAILED delivery PENDING with one more attempt.
func reopen(ctx context.Context, idb bun.IDB, id string) (deliveryRow, error) {
	return scanDelivery(idb.QueryRowContext(ctx, `
		UPDATE webhook_deliveries SET status = 'PENDING', max_attempts = attempts + 1
		WHERE id = ? AND status = 'FAILED'
		RETURNING `+deliveryColumns, id))
}

// listDeliveries returns up to limit deliveries of an endpoint, newest
// first, optionally of one status, older than beforeSeq when it is > 0.
func listDeliveries(ctx context.Context, idb bun.IDB, endpointID string, status Status, beforeSeq int64, limit int) ([]deliveryRow, error) {
	rows, err := idb.QueryContext(ctx, `
		SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE endpoint_id = ? AND (? = '' OR status = ?) AND (? = 0 OR seq < ?)
		ORDER BY seq DESC LIMIT ?`,
		endpointID, string(status), string(status), beforeSeq, beforeSeq, limit)
	return scanRows(rows, err, scanDelivery)
}

func countDeliveries(ctx context.Context, idb bun.IDB, endpointID string, status Status) (int, error) {
	var n int
	err := idb.QueryRowContext(ctx, `
		SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = ? AND (? = '' OR status = ?)`,
		endpointID, string(status), string(status)).Scan(&n)
	return n, err
}

func topicStrings(ts []Topic) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t)
	}
	return out
}

// lockOrphans locks up to limit PENDING deliveries, oldest first, that
// have no live job in any queue; rows another sweep holds are skipped. A
// delivery and its first job commit together, so what this finds is what
// River has given up on.
func lockOrphans(ctx context.Context, idb bun.IDB, limit int) ([]deliveryRow, error) {
	rows, err := idb.QueryContext(ctx, `
		SELECT d.id, d.attempts, d.max_attempts FROM webhook_deliveries d
		WHERE d.status = 'PENDING'
		  AND NOT EXISTS (
		      SELECT 1 FROM river_job j
		      WHERE j.kind = ? AND j.args @> jsonb_build_object('delivery_id', d.id::text)
		        AND j.state IN ('available', 'scheduled', 'running', 'retryable', 'pending'))
		ORDER BY d.seq
		LIMIT ?
		FOR UPDATE OF d SKIP LOCKED`, DeliverArgs{}.Kind(), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []deliveryRow
	for rows.Next() {
		var r deliveryRow
		if err := rows.Scan(&r.ID, &r.Attempts, &r.MaxAttempts); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// markAbandoned makes the PENDING deliveries ids FAILED with lastError.
func markAbandoned(ctx context.Context, idb bun.IDB, ids []string, lastError string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := idb.ExecContext(ctx, `
		UPDATE webhook_deliveries SET status = 'FAILED', last_error = ?
		WHERE id = ANY(?::uuid[]) AND status = 'PENDING'`, lastError, pgdialect.Array(ids))
	return err
}

// rowScanner is a row being read: *sql.Rows or *sql.Row.
type rowScanner = interface{ Scan(...any) error }

// scanRows reads every row of a query with scan and closes the rows; err is
// the query's own error, returned as it is.
func scanRows[T any](rows *sql.Rows, err error, scan func(rowScanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
