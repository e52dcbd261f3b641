package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"commerce/internal/apperr"
)

// Tokens issues and verifies signed bearer tokens (HS256 JWTs).
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
	Role Role `json:"role"`
	jwt.RegisteredClaims
}

const issuer = "commerce"

// Issue returns a token for p that expires after the role's lifetime.
func (t *Tokens) Issue(p Principal) (string, error) {
	ttl := t.customerTTL
	if p.IsStaff() {
		ttl = t.staffTTL
	}
	now := t.now()
	c := claims{Role: p.Role, RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    issuer,
		Subject:   p.ID,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// Verify checks a token's signature and expiry and returns its principal.
// It returns an Unauthenticated error for any bad token.
func (t *Tokens) Verify(token string) (Principal, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	)
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
	if c.Subject == "" {
		return Principal{}, apperr.New(apperr.Unauthenticated, "invalid token")
	}
	return Principal{ID: c.Subject, Role: c.Role}, nil
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
