package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/platform/db"
)

// Sessions starts, checks and revokes the sessions bearer tokens belong
// to. Postgres is the source of truth: a session is valid while its row is
// neither revoked nor expired and, for staff, while the account is active.
// What a staff token may do (role, permissions) is read from the account
// with the session, so a change applies to tokens already issued.
//
// A valid session is remembered for at most cacheFor, so a revocation made
// on any replica is seen by every other within that time; busy clients
// cost one query per session per cacheFor rather than one per request.
type Sessions struct {
	db     *bun.DB
	tokens *Tokens

	mu    sync.Mutex
	cache map[string]cachedSession

	watchMu  sync.Mutex
	watchers map[string][]*watcher // by session id
	polling  bool
}

type cachedSession struct {
	p     Principal
	ended bool // the session is over: that never changes
	until time.Time
}

// cacheFor bounds how long a replica may keep accepting a session revoked
// elsewhere; the contract allows a second.
const cacheFor = 500 * time.Millisecond

// endedCacheFor is how long a replica remembers that a session is over
// (revoked or expired, which is final), so that replaying its token costs
// no query each time.
const endedCacheFor = time.Minute

// maxCached bounds the cache; past it the cache starts over.
const maxCached = 50_000

// NewSessions returns the session service.
func NewSessions(d *db.DB, tokens *Tokens) *Sessions {
	return &Sessions{db: d.Bun, tokens: tokens, cache: map[string]cachedSession{}, watchers: map[string][]*watcher{}}
}

// Tokens returns the token issuer the sessions sign with.
func (s *Sessions) Tokens() *Tokens { return s.tokens }

func kindOf(role Role) string {
	if role == Customer {
		return "CUSTOMER"
	}
	return "STAFF"
}

// Start creates a session for p (its ID and Role) in idb, the caller's
// transaction (nil: the database), and returns its bearer token.
func (s *Sessions) Start(ctx context.Context, idb bun.IDB, p Principal) (string, error) {
	if idb == nil {
		idb = s.db
	}
	expires := s.tokens.now().Add(s.tokens.ttl(p.Role))
	err := idb.NewRaw(`INSERT INTO sessions (kind, subject_id, expires_at) VALUES (?, ?, ?) RETURNING id`,
		kindOf(p.Role), p.ID, expires).Scan(ctx, &p.SessionID)
	if err != nil {
		return "", fmt.Errorf("start session: %w", err)
	}
	return s.tokens.issue(p, expires)
}

// errRevoked is the answer to a token whose session is over: revoked,
// expired, or of an account deactivated or deleted.
var errRevoked = apperr.New(apperr.Unauthenticated, "the session has ended: sign in again")

// Authenticate verifies a bearer token and its session and returns the
// caller, with a staff account's current role and permissions. Any bad
// token is an Unauthenticated error.
func (s *Sessions) Authenticate(ctx context.Context, token string) (Principal, error) {
	p, err := s.tokens.Verify(token)
	if err != nil {
		return Principal{}, err
	}
	now := time.Now()
	s.mu.Lock()
	c, ok := s.cache[p.SessionID]
	s.mu.Unlock()
	if ok && now.Before(c.until) {
		if c.ended || c.p.ID != p.ID {
			return Principal{}, errRevoked
		}
		return c.p, nil
	}
	live, err := s.load(ctx, p)
	entry := cachedSession{p: live, until: now.Add(cacheFor)}
	switch {
	case errors.Is(err, errRevoked):
		entry = cachedSession{ended: true, until: now.Add(endedCacheFor)}
	case err != nil:
		return Principal{}, err
	}
	s.mu.Lock()
	if len(s.cache) >= maxCached {
		s.cache = map[string]cachedSession{}
	}
	s.cache[p.SessionID] = entry
	s.mu.Unlock()
	if entry.ended {
		return Principal{}, errRevoked
	}
	return live, nil
}

// load reads the session of p's token: valid, of the same subject, and for
// staff of an active account, whose role and permissions it returns.
func (s *Sessions) load(ctx context.Context, p Principal) (Principal, error) {
	var row struct {
		Kind        string   `bun:"kind"`
		SubjectID   string   `bun:"subject_id"`
		Role        *string  `bun:"role"`
		Permissions []string `bun:"permissions,array"`
		IsActive    *bool    `bun:"is_active"`
	}
	err := s.db.NewRaw(`
		SELECT s.kind, s.subject_id, u.role, coalesce(u.permissions, '{}') AS permissions, u.is_active
		FROM sessions s LEFT JOIN staff_users u ON s.kind = 'STAFF' AND u.id = s.subject_id
		WHERE s.id = ? AND s.revoked_at IS NULL AND s.expires_at > now()`, p.SessionID).Scan(ctx, &row)
	if db.IsNoRows(err) {
		return Principal{}, errRevoked
	}
	if err != nil {
		return Principal{}, fmt.Errorf("load session: %w", err)
	}
	if row.SubjectID != p.ID || row.Kind != kindOf(p.Role) {
		return Principal{}, errRevoked
	}
	if row.Kind == "CUSTOMER" {
		return p, nil
	}
	if row.Role == nil || row.IsActive == nil || !*row.IsActive {
		return Principal{}, errRevoked
	}
	p.Role = Role(*row.Role)
	p.Permissions = make([]Permission, len(row.Permissions))
	for i, perm := range row.Permissions {
		p.Permissions[i] = Permission(perm)
	}
	return p, nil
}

// forget drops sessions from this replica's cache once revoked here.
func (s *Sessions) forget(ids ...string) {
	s.mu.Lock()
	for _, id := range ids {
		delete(s.cache, id)
	}
	s.mu.Unlock()
}

// Revoke ends one session.
func (s *Sessions) Revoke(ctx context.Context, idb bun.IDB, sessionID string) error {
	if _, err := uuid.Parse(sessionID); err != nil {
		return nil
	}
	_, err := idb.NewRaw(`UPDATE sessions SET revoked_at = now() WHERE id = ? AND revoked_at IS NULL`, sessionID).Exec(ctx)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	s.forget(sessionID)
	return nil
}

// RevokeAll ends every session of an account (customer or staff user).
func (s *Sessions) RevokeAll(ctx context.Context, idb bun.IDB, subjectID string) error {
	var ids []string
	err := idb.NewRaw(`UPDATE sessions SET revoked_at = now() WHERE subject_id = ? AND revoked_at IS NULL RETURNING id`,
		subjectID).Scan(ctx, &ids)
	if err != nil && !db.IsNoRows(err) {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	s.forget(ids...)
	return nil
}

// watchEvery is how often the sessions of open websockets are checked:
// one query per replica for all of them.
const watchEvery = 500 * time.Millisecond

type watcher struct{ ended func() }

// Watch calls ended once when sessionID is revoked or expires (or its
// staff account is deactivated), until ctx ends. Websocket connections use
// it to close when their session ends.
func (s *Sessions) Watch(ctx context.Context, sessionID string, ended func()) {
	w := &watcher{ended: ended}
	s.watchMu.Lock()
	s.watchers[sessionID] = append(s.watchers[sessionID], w)
	if !s.polling {
		s.polling = true
		go s.poll()
	}
	s.watchMu.Unlock()
	context.AfterFunc(ctx, func() { s.unwatch(sessionID, w) })
}

func (s *Sessions) unwatch(sessionID string, w *watcher) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	ws := s.watchers[sessionID]
	for i, x := range ws {
		if x == w {
			ws = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(s.watchers, sessionID)
	} else {
		s.watchers[sessionID] = ws
	}
}

// poll checks the watched sessions every watchEvery while there are any.
func (s *Sessions) poll() {
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for range t.C {
		s.watchMu.Lock()
		ids := make([]string, 0, len(s.watchers))
		for id := range s.watchers {
			ids = append(ids, id)
		}
		if len(ids) == 0 {
			s.polling = false
			s.watchMu.Unlock()
			return
		}
		s.watchMu.Unlock()
		ended, err := s.ended(ids)
		if err != nil {
			continue // the database is away: check again on the next tick
		}
		s.watchMu.Lock()
		var calls []*watcher
		for _, id := range ended {
			calls = append(calls, s.watchers[id]...)
			delete(s.watchers, id)
		}
		s.watchMu.Unlock()
		s.forget(ended...)
		for _, w := range calls {
			w.ended()
		}
	}
}

// ended returns those of ids whose session is no longer valid.
func (s *Sessions) ended(ids []string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var live []string
	err := s.db.NewRaw(`
		SELECT s.id FROM sessions s LEFT JOIN staff_users u ON s.kind = 'STAFF' AND u.id = s.subject_id
		WHERE s.id IN (?) AND s.revoked_at IS NULL AND s.expires_at > now() AND (s.kind = 'CUSTOMER' OR u.is_active)`,
		bun.In(ids)).Scan(ctx, &live)
	if err != nil && !db.IsNoRows(err) {
		return nil, err
	}
	alive := make(map[string]bool, len(live))
	for _, id := range live {
		alive[id] = true
	}
	var out []string
	for _, id := range ids {
		if !alive[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

func validUUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}
