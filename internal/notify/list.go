package notify

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"commerce/internal/apperr"
)

// Page sizes of List.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Notification is one notification as staff see it in the log.
type Notification struct {
	ID        string
	Channel   Channel
	To        string
	Template  string
	Data      map[string]any
	Status    Status
	Attempts  int
	LastError *string
	CreatedAt time.Time
	SentAt    *time.Time
}

// Filter narrows List and Count. Empty fields match everything; set fields
// must match exactly (To case-insensitively).
type Filter struct {
	Template string
	To       string
}

// Edge is a notification and the cursor that points just past it.
type Edge struct {
	Cursor string
	Node   Notification
}

// Page is a page of notifications, newest first.
type Page struct {
	Edges           []Edge
	HasNextPage     bool
	HasPreviousPage bool
}

// List returns up to first notifications matching f (DefaultPageSize when
// first is nil), newest first, starting after the cursor after when it is
// not empty. It returns an apperr Invalid error on field "first" when first
// is outside 0..MaxPageSize and on field "after" when the cursor is not one
// List made.
func (s *Service) List(ctx context.Context, f Filter, first *int, after string) (Page, error) {
	limit := DefaultPageSize
	if first != nil {
		limit = *first
	}
	if limit < 0 || limit > MaxPageSize {
		return Page{}, apperr.InvalidField([]string{"first"}, "must be between 0 and %d", MaxPageSize)
	}
	var beforeSeq int64
	if after != "" {
		var ok bool
		if beforeSeq, ok = decodeCursor(after); !ok {
			return Page{}, apperr.InvalidField([]string{"after"}, "is not a valid cursor")
		}
	}
	rows, err := listRows(ctx, s.db.Bun, normalizeFilter(f), beforeSeq, limit+1)
	if err != nil {
		return Page{}, fmt.Errorf("list notifications: %w", err)
	}
	p := Page{HasNextPage: len(rows) > limit, HasPreviousPage: after != ""}
	rows = rows[:min(len(rows), limit)]
	p.Edges = make([]Edge, len(rows))
	for i, r := range rows {
		n, err := toNotification(r)
		if err != nil {
			return Page{}, fmt.Errorf("list notifications: %w", err)
		}
		hideLinks(&n)
		p.Edges[i] = Edge{Cursor: encodeCursor(r.Seq), Node: n}
	}
	return p, nil
}

// Count returns how many notifications match f. It returns database errors
// as they come.
func (s *Service) Count(ctx context.Context, f Filter) (int, error) {
	n, err := countRows(ctx, s.db.Bun, normalizeFilter(f))
	if err != nil {
		return 0, fmt.Errorf("count notifications: %w", err)
	}
	return n, nil
}

// Pending returns how many notifications wait for delivery (PENDING), the
// outbox's backlog for the metrics; a partial index makes it cheap. It
// returns database errors as they come.
func (s *Service) Pending(ctx context.Context) (int, error) {
	n, err := countPending(ctx, s.db.Bun)
	if err != nil {
		return 0, fmt.Errorf("count pending notifications: %w", err)
	}
	return n, nil
}

func normalizeFilter(f Filter) Filter {
	return Filter{Template: strings.TrimSpace(f.Template), To: strings.ToLower(strings.TrimSpace(f.To))}
}

const cursorPrefix = "notification:"

func encodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(seq, 10)))
}

func decodeCursor(c string) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	s, ok := strings.CutPrefix(string(b), cursorPrefix)
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseInt(s, 10, 64)
	return seq, err == nil && seq > 0
}

// toNotification converts a row. Numbers in data stay json.Number, so an
// integer renders as written. On a data decoding error it still returns
// every other field.
func toNotification(r row) (Notification, error) {
	n := Notification{
		ID: r.ID, Channel: r.Channel, To: r.Recipient, Template: r.Template,
		Status: r.Status, Attempts: r.Attempts, CreatedAt: r.CreatedAt, Data: map[string]any{},
	}
	if r.LastError.Valid {
		n.LastError = &r.LastError.String
	}
	if r.SentAt.Valid {
		n.SentAt = &r.SentAt.Time
	}
	dec := json.NewDecoder(bytes.NewReader(r.Data))
	dec.UseNumber()
	if err := dec.Decode(&n.Data); err != nil {
		return n, fmt.Errorf("decode data of notification %s: %w", r.ID, err)
	}
	if n.Data == nil { // the JSON null
		n.Data = map[string]any{}
	}
	return n, nil
}

// hideLinks replaces the secret links of n's data for the log.
func hideLinks(n *Notification) {
	for _, k := range secretData {
		if _, ok := n.Data[k]; ok {
			n.Data[k] = hiddenLink
		}
	}
}

// secretData are the data keys holding single-use links that sign their
// holder in or set a password (password reset, email verification, staff
// invite). Whoever reads the notification log must not be able to take
// over the account it was sent to, so the log never shows them; only the
// email carries them.
var secretData = []string{"reset_url", "verify_url", "set_password_url"}

const hiddenLink = "(hidden: a single-use link, sent only in the email)"
