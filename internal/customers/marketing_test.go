package customers_test

import (
	"context"
	"os"
	"testing"

	"github.com/google/uuid"

	"commerce/internal/customers"
	"commerce/internal/platform/db"
	"commerce/internal/platform/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }

type testBundle struct {
	db *db.DB
}

func setup(t *testing.T) (*customers.Service, *testBundle) {
	t.Helper()
	b := &testBundle{db: dbtest.DB(t)}
	return customers.NewService(b.db, nil, "USD"), b
}

// newCustomer inserts a customer named Ada and returns the email.
func newCustomer(t *testing.T, b *testBundle, optIn bool) string {
	t.Helper()
	email := "ada-" + uuid.NewString()[:8] + "@example.com"
	_, err := b.db.Bun.ExecContext(context.Background(), `
		INSERT INTO customers (email, first_name, last_name, marketing_opt_in, currency)
		VALUES (?, 'Ada', 'Lovelace', ?, 'USD')`, email, optIn)
	if err != nil {
		t.Fatal(err)
	}
	return email
}

func TestMarketingContact(t *testing.T) {
	svc, b := setup(t)
	ctx := context.Background()
	guest := func(*testing.T) string { return "guest-" + uuid.NewString()[:8] + "@example.com" }
	tests := []struct {
		name        string
		email       func(t *testing.T) string
		unsubscribe bool
		want        customers.MarketingContact
		mayMarket   bool
	}{
		{"guest", guest, false, customers.MarketingContact{}, false},
		{"unsubscribed guest", guest, true, customers.MarketingContact{Unsubscribed: true}, false},
		{"customer who opted in", func(t *testing.T) string { return newCustomer(t, b, true) }, false,
			customers.MarketingContact{Known: true, FirstName: "Ada", OptIn: true}, true},
		{"customer who did not", func(t *testing.T) string { return newCustomer(t, b, false) }, false,
			customers.MarketingContact{Known: true, FirstName: "Ada"}, false},
		{"customer who opted in, then unsubscribed", func(t *testing.T) string { return newCustomer(t, b, true) }, true,
			customers.MarketingContact{Known: true, FirstName: "Ada", Unsubscribed: true}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			email := tc.email(t)
			if tc.unsubscribe {
				// Twice, with another spelling: the second changes nothing.
				for _, e := range []string{email, "  " + email + " "} {
					if err := svc.Unsubscribe(ctx, e); err != nil {
						t.Fatal(err)
					}
				}
			}
			got, err := customers.MarketingContactByEmail(ctx, b.db.Bun, email)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || got.MayMarket() != tc.mayMarket {
				t.Errorf("contact = %+v (may market: %v), want %+v (%v)", got, got.MayMarket(), tc.want, tc.mayMarket)
			}
		})
	}
}

func TestUnsubscribeRefusesEmptyEmail(t *testing.T) {
	svc, _ := setup(t)
	if err := svc.Unsubscribe(context.Background(), " "); err == nil {
		t.Fatal("Unsubscribe accepted an empty address")
	}
}
