package auth

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"commerce/internal/apperr"
)

// Password length bounds. bcrypt reads at most 72 bytes, so longer
// passwords would silently be truncated; refuse them instead.
const (
	MinPasswordLen   = 8
	MaxPasswordBytes = 72
)

// ValidatePassword checks a new password's length; path is its field path.
func ValidatePassword(password string, path []string) error {
	switch {
	case utf8.RuneCountInString(password) < MinPasswordLen:
		return apperr.InvalidField(path, "must be at least %d characters", MinPasswordLen)
	case len(password) > MaxPasswordBytes:
		return apperr.InvalidField(path, "must be at most %d bytes", MaxPasswordBytes)
	}
	return nil
}

// HashPassword returns the bcrypt hash of password.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// dummyHash is compared against when an account does not exist, so that
// an unknown email costs as much time as a wrong password.
var dummyHash = func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("no such account, same cost"), bcrypt.DefaultCost)
	return h
}()

// CheckPassword reports whether password matches hash. An empty hash (no
// account, or an account without a password) still costs one comparison.
func CheckPassword(hash, password string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return false
	}
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
	return err == nil && !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword)
}

// ErrInvalidCredentials is the one answer to a wrong email or password.
var ErrInvalidCredentials = &apperr.Error{Kind: apperr.Invalid, Code: "INVALID_CREDENTIALS", Message: "invalid email or password"}
