package orders_test

import (
	"context"
	"testing"

	"commerce/internal/customers"
)

// TestReviewRequestNeedsConsent: a review request is marketing email, sent
// only to a customer who opted in and did not unsubscribe; a guest's
// address gets none. Each job runs and writes nothing otherwise.
func TestReviewRequestNeedsConsent(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	p := e.product(t, "30.00", 10)
	optedIn := func(email string) {
		t.Helper()
		if _, err := e.db.SQL.Exec(`INSERT INTO customers (email, first_name, last_name, marketing_opt_in, currency)
			VALUES ($1, 'Ada', 'Lovelace', true, 'USD')`, email); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		prepare func(email string)
		sent    int
	}{
		{"guest", func(string) {}, 0},
		{"customer who opted in", optedIn, 1},
		{"customer who opted in, then unsubscribed", func(email string) {
			optedIn(email)
			if err := customers.NewService(e.db, nil, currency).Unsubscribe(ctx, email); err != nil {
				t.Fatal(err)
			}
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input(line(p, 1))
			tc.prepare(in.Email)
			o := e.checkout(t, in).Order
			e.pay(t, o)
			for range 2 { // a retry sends nothing more
				if err := e.svc.SendReviewRequest(ctx, o.ID); err != nil {
					t.Fatal(err)
				}
			}
			if n := e.notifications(t, "review-request", o); n != tc.sent {
				t.Errorf("review-request notifications: %d, want %d", n, tc.sent)
			}
		})
	}
}
