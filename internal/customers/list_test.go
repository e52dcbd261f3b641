package customers_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"testing"

	"github.com/google/uuid"

	"commerce/internal/apperr"
)

func TestListCursors(t *testing.T) {
	svc, b := setup(t)
	ctx := context.Background()
	// Three customers whose last name no other customer has, oldest first.
	tag := "Pager" + uuid.NewString()[:8]
	var emails []string
	for i := range 3 {
		email := fmt.Sprintf("pager-%d-%s@example.com", i, uuid.NewString()[:8])
		_, err := b.db.Bun.ExecContext(ctx, `INSERT INTO customers (email, first_name, last_name, currency, created_at)
			VALUES (?, 'Ada', ?, 'USD', now() - make_interval(mins => ?))`, email, tag, 3-i)
		if err != nil {
			t.Fatal(err)
		}
		emails = append(emails, email)
	}

	t.Run("pages follow one another", func(t *testing.T) {
		var got []string
		after := ""
		for range 3 {
			p, err := svc.List(ctx, tag, 2, after)
			if err != nil {
				t.Fatalf("List after %q: %v", after, err)
			}
			for _, c := range p.Customers {
				got = append(got, c.Email)
			}
			if !p.HasNextPage {
				break
			}
			after = p.Cursors[len(p.Cursors)-1]
		}
		want := []string{emails[2], emails[1], emails[0]} // newest first
		if !slices.Equal(got, want) {
			t.Errorf("pages of two: got %v, want %v", got, want)
		}
	})

	const id = "5d1c0f7e-1111-4222-8333-444455556666"
	tests := []struct{ name, key string }{
		{"id not a UUID", `{"c":"2026-01-01T00:00:00Z","i":"nope"}`},
		{"id null", `{"c":"2026-01-01T00:00:00Z","i":null}`},
		{"id missing", `{"c":"2026-01-01T00:00:00Z"}`},
		{"empty object", `{}`},
		{"time missing", `{"i":"` + id + `"}`},
		{"year 0", `{"c":"0000-06-01T00:00:00Z","i":"` + id + `"}`},
		{"not JSON", `nope`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			after := base64.RawURLEncoding.EncodeToString([]byte(tc.key))
			for _, search := range []string{"", tag} {
				if _, err := svc.List(ctx, search, 2, after); apperr.KindOf(err) != apperr.Invalid {
					t.Errorf("List(search %q) after %s: got %v, want INVALID", search, tc.key, err)
				}
			}
		})
	}
}
