// Package page holds what every cursor-paginated list shares: the bounds
// of `first` and opaque keyset cursors.
package page

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/google/uuid"

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
		return errBadCursor()
	}
	return nil
}

func errBadCursor() error { return apperr.New(apperr.Invalid, "after is not a valid cursor") }

// CreatedKey is a row's position in a list ordered newest first by
// (created_at, id), the order of the orders and customers lists.
type CreatedKey struct {
	CreatedAt time.Time `json:"c"`
	ID        string    `json:"i"`
}

// DecodeCreated reads a cursor written by Encode(CreatedKey{...}), with
// the id in canonical lowercase form. It returns the same Invalid error as
// Decode for anything it cannot read and for a well-formed cursor that no
// list can have written: an id that is not a UUID, or a time that is
// missing or that Postgres cannot take (UTC years 1 to 9999), so that a
// crafted cursor is BAD_USER_INPUT rather than an SQL error.
func DecodeCreated(cursor string) (CreatedKey, error) {
	var k CreatedKey
	if err := Decode(cursor, &k); err != nil {
		return CreatedKey{}, err
	}
	id, err := uuid.Parse(k.ID)
	if err != nil || !StorableTime(k.CreatedAt) {
		return CreatedKey{}, errBadCursor()
	}
	k.ID = id.String()
	return k, nil
}

// StorableTime reports whether Postgres's timestamptz can hold t: a cursor
// carrying another time would fail in the database rather than as a bad
// cursor.
func StorableTime(t time.Time) bool {
	y := t.UTC().Year()
	return !t.IsZero() && y >= 1 && y <= 9999
}
