package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/platform/db"
)

// Purpose is what an emailed link is for; it is its token's audience.
type Purpose string

// The purposes of emailed links.
const (
	PasswordReset Purpose = "PASSWORD_RESET"
	EmailVerify   Purpose = "EMAIL_VERIFY"
	StaffInvite   Purpose = "STAFF_INVITE"
)

// Link is an emailed link's row once used.
type Link struct {
	SubjectID string `bun:"subject_id"`
	Email     string `bun:"email"`
}

// CreateLink records a single-use link for subjectID (a customer or staff
// user) and email, valid for ttl, in idb (the caller's transaction), and
// returns its signed token.
func (t *Tokens) CreateLink(ctx context.Context, idb bun.IDB, purpose Purpose, subjectID, email string, ttl time.Duration) (string, error) {
	expires := t.now().Add(ttl)
	var id string
	err := idb.NewRaw(`INSERT INTO auth_links (purpose, subject_id, email, expires_at) VALUES (?, ?, ?, ?) RETURNING id`,
		string(purpose), subjectID, email, expires).Scan(ctx, &id)
	if err != nil {
		return "", fmt.Errorf("create %s link: %w", purpose, err)
	}
	return t.sign(claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    issuer,
		Subject:   id,
		Audience:  jwt.ClaimStrings{string(purpose)},
		IssuedAt:  jwt.NewNumericDate(t.now()),
		ExpiresAt: jwt.NewNumericDate(expires),
	}})
}

// UseLink spends the link of token, which must be of purpose, signed by
// this service, unexpired and unused, in idb (the caller's transaction, so
// that a failure later in it leaves the link usable). Anything else is a
// userError INVALID_TOKEN at path.
func (t *Tokens) UseLink(ctx context.Context, idb bun.IDB, purpose Purpose, token string, path []string) (Link, error) {
	bad := &apperr.Error{Kind: apperr.Invalid, Code: "INVALID_TOKEN", Field: path,
		Message: "the link is invalid, expired or already used: ask for a new one"}
	c, err := t.parse(token, string(purpose))
	if err != nil || !validUUID(c.Subject) {
		return Link{}, bad
	}
	var l Link
	err = idb.NewRaw(`UPDATE auth_links SET used_at = now()
		WHERE id = ? AND purpose = ? AND used_at IS NULL AND expires_at > now() RETURNING subject_id, email`,
		c.Subject, string(purpose)).Scan(ctx, &l)
	if db.IsNoRows(err) {
		return Link{}, bad
	}
	if err != nil {
		return Link{}, fmt.Errorf("use %s link: %w", purpose, err)
	}
	return l, nil
}
