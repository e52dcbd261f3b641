package auth

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"commerce/internal/apperr"
)

// Password length bounds, in characters.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 128
)

// commonPasswords is the list of the 1,000 most common passwords (see
// common_passwords.md for its source), refused as new passwords because
// they are the first an attacker tries.
//
//go:embed common_passwords.txt
var commonPasswordList string

var commonPasswords = func() map[string]struct{} {
	m := make(map[string]struct{}, 1000)
	for _, p := range strings.Split(commonPasswordList, "\n") {
		if p = strings.TrimSpace(p); p != "" {
			m[strings.ToLower(p)] = struct{}{}
		}
	}
	return m
}()

// IsCommonPassword reports whether password (in any case) is one of the
// 1,000 most common passwords.
func IsCommonPassword(password string) bool {
	_, ok := commonPasswords[strings.ToLower(password)]
	return ok
}

// ValidatePassword checks a new password: 10..128 characters, and not one
// of the most common passwords (userError PASSWORD_TOO_WEAK); path is its
// field path.
func ValidatePassword(password string, path []string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < MinPasswordLen:
		return apperr.InvalidField(path, "must be at least %d characters", MinPasswordLen)
	case n > MaxPasswordLen:
		return apperr.InvalidField(path, "must be at most %d characters", MaxPasswordLen)
	case IsCommonPassword(password):
		return &apperr.Error{Kind: apperr.Invalid, Code: "PASSWORD_TOO_WEAK", Field: path,
			Message: "is one of the most common passwords: choose another"}
	}
	return nil
}

// bcryptInput is what bcrypt hashes for password. bcrypt reads at most 72
// bytes, so a longer password (up to 128 characters, 512 bytes) is hashed
// with SHA-256 first instead of being cut; passwords of at most 72 bytes,
// every password stored before longer ones were allowed, go in as they are.
func bcryptInput(password string) []byte {
	if len(password) <= 72 {
		return []byte(password)
	}
	sum := sha256.Sum256([]byte(password))
	return []byte(base64.StdEncoding.EncodeToString(sum[:]))
}

// HashPassword returns the bcrypt hash of password.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword(bcryptInput(password), bcrypt.DefaultCost)
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
		_ = bcrypt.CompareHashAndPassword(dummyHash, bcryptInput(password))
		return false
	}
	err := bcrypt.CompareHashAndPassword([]byte(hash), bcryptInput(password))
	return err == nil && !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword)
}

// ErrInvalidCredentials is the one answer to a wrong email or password.
var ErrInvalidCredentials = &apperr.Error{Kind: apperr.Invalid, Code: "INVALID_CREDENTIALS", Message: "invalid email or password"}
