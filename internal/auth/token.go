package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"commerce/internal/apperr"
)

// Tokens issues and verifies signed tokens (HS256 JWTs): bearer tokens,
// which name a session, and the tokens of emailed links, which name an
// auth_links row. The audience tells them apart, so that a link's token is
// never accepted as a bearer token nor one link's token as another's.
type Tokens struct {
	secret      []byte
	customerTTL time.Duration
	staffTTL    time.Duration
	now         func() time.Time
}

// NewTokens returns a token issuer signing with secret.
func NewTokens(secret []byte, customerTTL, staffTTL time.Duration, now func() time.Time) *Tokens {
	if now == nil {
		now = time.Now
	}
	return &Tokens{secret: secret, customerTTL: customerTTL, staffTTL: staffTTL, now: now}
}

type claims struct {
	Role Role `json:"role,omitempty"`
	jwt.RegisteredClaims
}

const (
	issuer = "commerce"
	// sessionAudience marks bearer tokens; a link's audience is its purpose.
	sessionAudience = "session"
)

// ttl is the lifetime of a session of role.
func (t *Tokens) ttl(role Role) time.Duration {
	if role == Staff || role == Admin {
		return t.staffTTL
	}
	return t.customerTTL
}

// issue signs a bearer token for p's session, expiring at expires.
func (t *Tokens) issue(p Principal, expires time.Time) (string, error) {
	return t.sign(claims{Role: p.Role, RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    issuer,
		Subject:   p.ID,
		ID:        p.SessionID,
		Audience:  jwt.ClaimStrings{sessionAudience},
		IssuedAt:  jwt.NewNumericDate(t.now()),
		ExpiresAt: jwt.NewNumericDate(expires),
	}})
}

func (t *Tokens) sign(c claims) (string, error) {
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// parse checks a token's signature, issuer, audience and expiry.
func (t *Tokens) parse(token, audience string) (claims, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	)
	return c, err
}

// Verify checks a bearer token's signature and expiry and returns the
// principal it was issued to, with its session id; whether the session is
// still valid is Sessions.Authenticate's to say. It returns an
// Unauthenticated error for any bad token, a link's token included.
func (t *Tokens) Verify(token string) (Principal, error) {
	c, err := t.parse(token, sessionAudience)
	if err != nil {
		msg := "invalid token"
		if errors.Is(err, jwt.ErrTokenExpired) {
			msg = "token expired"
		}
		return Principal{}, &apperr.Error{Kind: apperr.Unauthenticated, Message: msg, Err: err}
	}
	switch c.Role {
	case Customer, Staff, Admin:
	default:
		return Principal{}, apperr.New(apperr.Unauthenticated, "invalid token")
	}
	if c.Subject == "" || !validUUID(c.ID) {
		return Principal{}, apperr.New(apperr.Unauthenticated, "invalid token")
	}
	return Principal{ID: c.Subject, Role: c.Role, SessionID: c.ID}, nil
}

// BearerToken extracts the token of an "Authorization: Bearer …" value; ok
// is false when the header holds no bearer token.
func BearerToken(header string) (token string, ok bool) {
	scheme, tok, found := strings.Cut(strings.TrimSpace(header), " ")
	if !found || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
