// Package page holds what every cursor-paginated list shares: the bounds
// of `first` and opaque keyset cursors.
package page

import (
	"encoding/base64"
	"encoding/json"

	"commerce/internal/apperr"
)

// DefaultFirst and MaxFirst bound the page size of every connection.
const (
	DefaultFirst = 20
	MaxFirst     = 100
)

// First returns the page size asked for, DefaultFirst when nil, or an
// Invalid error (BAD_USER_INPUT) outside 0..MaxFirst.
func First(first *int) (int, error) {
	if first == nil {
		return DefaultFirst, nil
	}
	if *first < 0 || *first > MaxFirst {
		return 0, apperr.New(apperr.Invalid, "first must be between 0 and %d", MaxFirst)
	}
	return *first, nil
}

// Encode returns an opaque cursor for a keyset position.
func Encode(key any) string {
	b, _ := json.Marshal(key)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode reads a cursor written by Encode into key. It returns an Invalid
// error (BAD_USER_INPUT) for anything it cannot read.
func Decode(cursor string, key any) error {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err == nil {
		err = json.Unmarshal(b, key)
	}
	if err != nil {
		return apperr.New(apperr.Invalid, "after is not a valid cursor")
	}
	return nil
}
