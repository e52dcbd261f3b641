package carts_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"commerce/internal/carts"
	"commerce/internal/catalog"
	"commerce/internal/customers"
)

// reminderJob is an abandoned-cart job as River holds it.
type reminderJob struct {
	args        carts.AbandonedCartArgs
	scheduledAt time.Time
}

// reminderJobs returns the abandoned-cart jobs of a cart, oldest first.
func reminderJobs(t *testing.T, b *testBundle, cartID string) []reminderJob {
	t.Helper()
	rows, err := b.db.Bun.QueryContext(context.Background(), `
		SELECT args, scheduled_at FROM river_job
		WHERE kind = 'abandoned-cart' AND args->>'cart_id' = ? ORDER BY id`, cartID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []reminderJob
	for rows.Next() {
		var raw []byte
		var j reminderJob
		if err := rows.Scan(&raw, &j.scheduledAt); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &j.args); err != nil {
			t.Fatal(err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// shopper is an address no other test uses.
func shopper() string { return "shopper-" + uuid.NewString()[:8] + "@example.com" }

func TestChangesScheduleAbandonedCartReminder(t *testing.T) {
	svc, b := setup(t)
	ctx := context.Background()
	p := newProduct(t, b, "12.50")
	q := newProduct(t, b, "3.00")

	tests := []struct {
		name string
		// change makes a cart and changes it; it returns the cart after the
		// change and whether that change should schedule a reminder.
		change func(t *testing.T) (*carts.Cart, bool)
	}{
		{"create with email and lines", func(t *testing.T) (*carts.Cart, bool) {
			c, err := svc.Create(ctx, []carts.LineInput{byID(p, 1)}, ptr(shopper()), nil)
			must(t, err)
			return c, true
		}},
		{"create without email", func(t *testing.T) (*carts.Cart, bool) {
			return mustCreate(t, svc, byID(p, 1)), false
		}},
		{"create with email, no lines", func(t *testing.T) (*carts.Cart, bool) {
			c, err := svc.Create(ctx, nil, ptr(shopper()), nil)
			must(t, err)
			return c, false
		}},
		{"add lines", func(t *testing.T) (*carts.Cart, bool) {
			c, err := svc.Create(ctx, nil, ptr(shopper()), nil)
			must(t, err)
			c, err = svc.AddLines(ctx, c.ID, []carts.LineInput{byID(q, 2)})
			must(t, err)
			return c, true
		}},
		{"update lines", func(t *testing.T) (*carts.Cart, bool) {
			c, err := svc.Create(ctx, []carts.LineInput{byID(p, 1), byID(q, 1)}, ptr(shopper()), nil)
			must(t, err)
			c, err = svc.UpdateLines(ctx, c.ID, []carts.LineUpdate{{ID: c.Lines[0].ID, Quantity: 3}})
			must(t, err)
			return c, true
		}},
		{"remove a line", func(t *testing.T) (*carts.Cart, bool) {
			c, err := svc.Create(ctx, []carts.LineInput{byID(p, 1), byID(q, 1)}, ptr(shopper()), nil)
			must(t, err)
			c, err = svc.RemoveLines(ctx, c.ID, []string{c.Lines[0].ID})
			must(t, err)
			return c, true
		}},
		{"remove the last line", func(t *testing.T) (*carts.Cart, bool) {
			c, err := svc.Create(ctx, []carts.LineInput{byID(p, 1)}, ptr(shopper()), nil)
			must(t, err)
			c, err = svc.RemoveLines(ctx, c.ID, []string{c.Lines[0].ID})
			must(t, err)
			return c, false
		}},
		{"set the email", func(t *testing.T) (*carts.Cart, bool) {
			c := mustCreate(t, svc, byID(p, 1))
			c, err := svc.UpdateEmail(ctx, c.ID, shopper(), nil)
			must(t, err)
			return c, true
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, scheduled := tc.change(t)
			jobs := reminderJobs(t, b, c.ID)
			if !scheduled {
				for _, j := range jobs {
					if j.args.Version == c.UpdatedAt.UnixNano() {
						t.Fatalf("a reminder was scheduled for the cart's current state: %+v", j)
					}
				}
				return
			}
			if len(jobs) == 0 {
				t.Fatal("no reminder scheduled")
			}
			last := jobs[len(jobs)-1]
			if last.args.CartID != c.ID || last.args.Version != c.UpdatedAt.UnixNano() ||
				!last.scheduledAt.Equal(b.now.Add(reminderWait)) {
				t.Errorf("job = %+v, want cart %s version %d at %s", last, c.ID, c.UpdatedAt.UnixNano(), b.now.Add(reminderWait))
			}
		})
	}
}

func TestSendAbandonedCartReminder(t *testing.T) {
	svc, b := setup(t)
	ctx := context.Background()
	people := customers.NewService(b.db, nil, "USD")
	shirt := newProduct(t, b, "39.00", func(in *catalog.CreateInput) { in.Name = "Linen shirt" })
	tote := newProduct(t, b, "18.50", func(in *catalog.CreateInput) { in.Name = "Canvas tote" })

	// abandonWith creates a cart of 2 shirts and a tote for email, with the
	// shopper's marketing consent or without, and returns the args of its
	// reminder job; abandon is a cart with the consent.
	abandonWith := func(t *testing.T, email string, optIn bool) (*carts.Cart, carts.AbandonedCartArgs) {
		t.Helper()
		c, err := svc.Create(ctx, []carts.LineInput{byID(shirt, 2), byID(tote, 1)}, &email, &optIn)
		must(t, err)
		if c.MarketingOptIn != optIn {
			t.Fatalf("cart marketing opt-in %v, want %v", c.MarketingOptIn, optIn)
		}
		return c, carts.AbandonedCartArgs{CartID: c.ID, Version: c.UpdatedAt.UnixNano()}
	}
	abandon := func(t *testing.T, email string) (*carts.Cart, carts.AbandonedCartArgs) {
		t.Helper()
		return abandonWith(t, email, true)
	}
	tests := []struct {
		name string
		// prepare abandons a cart for email, perhaps changes things, and
		// returns the job's args.
		prepare  func(t *testing.T, email string) carts.AbandonedCartArgs
		sent     bool
		greeting string
	}{
		{"guest who opted in with the cart", func(t *testing.T, email string) carts.AbandonedCartArgs {
			_, a := abandon(t, email)
			return a
		}, true, ""},
		// Anyone can type a stranger's address into a cart: an address
		// nobody opted in for gets nothing.
		{"guest without opt-in", func(t *testing.T, email string) carts.AbandonedCartArgs {
			_, a := abandonWith(t, email, false)
			return a
		}, false, ""},
		{"customer who opted in", func(t *testing.T, email string) carts.AbandonedCartArgs {
			newCustomer(t, b, email, true)
			_, a := abandonWith(t, email, false)
			return a
		}, true, "Ada"},
		{"customer who did not opt in", func(t *testing.T, email string) carts.AbandonedCartArgs {
			newCustomer(t, b, email, false)
			_, a := abandonWith(t, email, false)
			return a
		}, false, ""},
		{"customer who did not opt in, but did with the cart", func(t *testing.T, email string) carts.AbandonedCartArgs {
			newCustomer(t, b, email, false)
			_, a := abandon(t, email)
			return a
		}, true, "Ada"},
		// The consent was given for the old address.
		{"opted in, then a new email", func(t *testing.T, email string) carts.AbandonedCartArgs {
			c, _ := abandon(t, shopper())
			c, err := svc.UpdateEmail(ctx, c.ID, email, nil)
			must(t, err)
			return carts.AbandonedCartArgs{CartID: c.ID, Version: c.UpdatedAt.UnixNano()}
		}, false, ""},
		{"opted in, then the same email again", func(t *testing.T, email string) carts.AbandonedCartArgs {
			c, _ := abandon(t, email)
			c, err := svc.UpdateEmail(ctx, c.ID, " "+email, nil)
			must(t, err)
			return carts.AbandonedCartArgs{CartID: c.ID, Version: c.UpdatedAt.UnixNano()}
		}, true, ""},
		{"opt-in given with a new email", func(t *testing.T, email string) carts.AbandonedCartArgs {
			c, _ := abandonWith(t, shopper(), false)
			c, err := svc.UpdateEmail(ctx, c.ID, email, ptr(true))
			must(t, err)
			return carts.AbandonedCartArgs{CartID: c.ID, Version: c.UpdatedAt.UnixNano()}
		}, true, ""},
		{"opt-in withdrawn", func(t *testing.T, email string) carts.AbandonedCartArgs {
			c, _ := abandon(t, email)
			c, err := svc.UpdateEmail(ctx, c.ID, email, ptr(false))
			must(t, err)
			return carts.AbandonedCartArgs{CartID: c.ID, Version: c.UpdatedAt.UnixNano()}
		}, false, ""},
		{"unsubscribed guest", func(t *testing.T, email string) carts.AbandonedCartArgs {
			_, a := abandon(t, email)
			must(t, people.Unsubscribe(ctx, email))
			return a
		}, false, ""},
		{"unsubscribed customer", func(t *testing.T, email string) carts.AbandonedCartArgs {
			newCustomer(t, b, email, true)
			_, a := abandon(t, email)
			must(t, people.Unsubscribe(ctx, email))
			return a
		}, false, ""},
		{"changed since", func(t *testing.T, email string) carts.AbandonedCartArgs {
			c, a := abandon(t, email)
			_, err := svc.AddLines(ctx, c.ID, []carts.LineInput{byID(tote, 1)})
			must(t, err)
			return a
		}, false, ""},
		{"checked out", func(t *testing.T, email string) carts.AbandonedCartArgs {
			c, a := abandon(t, email)
			err := b.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
				_, err := svc.Complete(ctx, tx, c.ID, uuid.NewString())
				return err
			})
			must(t, err)
			return a
		}, false, ""},
		{"products gone", func(t *testing.T, email string) carts.AbandonedCartArgs {
			_, a := abandon(t, email)
			b.lookup.hidden[shirt.ID], b.lookup.hidden[tote.ID] = true, true
			t.Cleanup(func() { b.lookup.hidden = map[string]bool{} })
			return a
		}, false, ""},
		{"unknown cart", func(t *testing.T, email string) carts.AbandonedCartArgs {
			return carts.AbandonedCartArgs{CartID: uuid.NewString(), Version: 1}
		}, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			email := shopper()
			a := tc.prepare(t, email)
			must(t, svc.SendAbandonedCartReminder(ctx, a))
			// The job may run twice: a retry or a second worker.
			must(t, svc.SendAbandonedCartReminder(ctx, a))

			rows := reminders(t, b, a.CartID)
			if !tc.sent {
				if len(rows) != 0 {
					t.Fatalf("the job ran and wrote %d notifications, want none", len(rows))
				}
				return
			}
			if len(rows) != 1 {
				t.Fatalf("%d notifications after two runs, want 1", len(rows))
			}
			n := rows[0]
			if n.recipient != email {
				t.Errorf("recipient = %s, want %s", n.recipient, email)
			}
			want := map[string]any{
				"lines": []any{
					map[string]any{"name": "Linen shirt", "quantity": float64(2), "line_total": "78.00 USD"},
					map[string]any{"name": "Canvas tote", "quantity": float64(1), "line_total": "18.50 USD"},
				},
				"subtotal": "96.50 USD",
				"cart_url": "https://shop.example.com/cart/" + a.CartID,
			}
			if tc.greeting != "" {
				want["customer_name"] = tc.greeting
			}
			if got, wantJSON := jsonOf(t, n.data), jsonOf(t, want); got != wantJSON {
				t.Errorf("data = %s\nwant   %s", got, wantJSON)
			}
		})
	}
}

type reminderRow struct {
	recipient string
	data      map[string]any
}

// reminders returns the abandoned-cart notifications of a cart.
func reminders(t *testing.T, b *testBundle, cartID string) []reminderRow {
	t.Helper()
	rows, err := b.db.Bun.QueryContext(context.Background(), `
		SELECT recipient, data FROM notifications
		WHERE template = 'abandoned-cart' AND dedupe_key = ?`, "abandoned-cart:"+cartID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []reminderRow
	for rows.Next() {
		var r reminderRow
		var raw []byte
		if err := rows.Scan(&r.recipient, &raw); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &r.data); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// newCustomer inserts a customer named Ada with the marketing opt-in.
func newCustomer(t *testing.T, b *testBundle, email string, optIn bool) {
	t.Helper()
	_, err := b.db.Bun.ExecContext(context.Background(), `
		INSERT INTO customers (email, first_name, last_name, marketing_opt_in, currency)
		VALUES (?, 'Ada', 'Lovelace', ?, 'USD')`, email, optIn)
	if err != nil {
		t.Fatal(err)
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
