package page_test

import (
	"encoding/base64"
	"testing"
	"time"

	"commerce/internal/apperr"
	"commerce/internal/platform/page"
)

// cursor encodes raw JSON the way Encode does, for crafted cursors.
func cursor(json string) string { return base64.RawURLEncoding.EncodeToString([]byte(json)) }

func TestDecodeCreated(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	const id = "5d1c0f7e-1111-4222-8333-444455556666"
	ok := []struct {
		name, cursor string
		want         page.CreatedKey
	}{
		{"written by Encode", page.Encode(page.CreatedKey{CreatedAt: at, ID: id}), page.CreatedKey{CreatedAt: at, ID: id}},
		{"upper-case id is made canonical", cursor(`{"c":"2026-01-02T03:04:05.123456Z","i":"5D1C0F7E-1111-4222-8333-444455556666"}`),
			page.CreatedKey{CreatedAt: at, ID: id}},
		{"first instant Postgres takes", cursor(`{"c":"0001-01-01T00:00:01Z","i":"` + id + `"}`),
			page.CreatedKey{CreatedAt: time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), ID: id}},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			got, err := page.DecodeCreated(tc.cursor)
			if err != nil || !got.CreatedAt.Equal(tc.want.CreatedAt) || got.ID != tc.want.ID {
				t.Errorf("DecodeCreated = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	bad := []struct{ name, cursor string }{
		{"not base64", "!!"},
		{"not JSON", cursor(`nope`)},
		{"empty object", cursor(`{}`)},
		{"id not a UUID", cursor(`{"c":"2026-01-01T00:00:00Z","i":"nope"}`)},
		{"id null", cursor(`{"c":"2026-01-01T00:00:00Z","i":null}`)},
		{"id missing", cursor(`{"c":"2026-01-01T00:00:00Z"}`)},
		{"id not a string", cursor(`{"c":"2026-01-01T00:00:00Z","i":7}`)},
		{"id with a NUL", cursor(`{"c":"2026-01-01T00:00:00Z","i":"5d1c0f7e-1111-4222-8333-44445555666\u0000"}`)},
		{"time missing", cursor(`{"i":"` + id + `"}`)},
		{"zero time", cursor(`{"c":"0001-01-01T00:00:00Z","i":"` + id + `"}`)},
		{"year 0", cursor(`{"c":"0000-06-01T00:00:00Z","i":"` + id + `"}`)},
		{"year 0 in UTC", cursor(`{"c":"0001-01-01T00:00:00+01:00","i":"` + id + `"}`)},
		{"year 10000 in UTC", cursor(`{"c":"9999-12-31T23:00:00-02:00","i":"` + id + `"}`)},
		{"time not RFC 3339", cursor(`{"c":"yesterday","i":"` + id + `"}`)},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			got, err := page.DecodeCreated(tc.cursor)
			if apperr.KindOf(err) != apperr.Invalid {
				t.Errorf("DecodeCreated = %+v, %v; want an Invalid error", got, err)
			}
		})
	}
}
