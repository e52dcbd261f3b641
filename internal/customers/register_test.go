package customers_test

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/customers"
	"commerce/migrations"
)

// Registering the email of a guest record makes a new, empty account and
// leaves the guest record as it was; a guest checkout afterwards writes to
// the guest record, never to the account; the marketing consent read for
// the email is the account's.
func TestRegisterOverGuestRecord(t *testing.T) {
	_, b := setup(t)
	svc := customers.NewService(b.db, auth.NewSessions(b.db, auth.NewTokens([]byte(strings.Repeat("k", 32)), time.Hour, time.Hour, time.Now)), "USD")
	ctx := context.Background()
	email := "guest-" + uuid.NewString()[:8] + "@example.com"
	guestPhone, otherPhone := "+15555550101", "+15555550102"
	shipping := customers.Address{FirstName: "Grace", LastName: "Hopper", Line1: "1 Main St", City: "Arlington",
		PostalCode: "22201", CountryCode: "US", Phone: &guestPhone}
	guest, err := customers.UpsertGuestForCheckout(ctx, b.db.Bun, email, shipping, "USD")
	if err != nil {
		t.Fatal(err)
	}

	optIn := true
	c, token, err := svc.Register(ctx, customers.RegisterInput{Email: " " + strings.ToUpper(email), Password: "long-enough-pw",
		FirstName: "Mallory", LastName: "Attacker", MarketingOptIn: &optIn})
	if err != nil || token == "" {
		t.Fatalf("Register: %v", err)
	}
	if c.ID == guest.ID || !c.Registered || c.Phone != nil || len(c.Addresses) != 0 || c.TotalOrders != 0 {
		t.Errorf("the new account %+v took something of guest record %s", c, guest.ID)
	}
	g, err := svc.ByID(ctx, guest.ID)
	if err != nil {
		t.Fatal(err)
	}
	if g.Registered || g.FirstName != "Grace" || g.LastName != "Hopper" || g.Phone == nil || *g.Phone != guestPhone || len(g.Addresses) != 1 {
		t.Errorf("the guest record changed: %+v", g)
	}

	// A later guest checkout with the same email, another phone.
	shipping.Phone = &otherPhone
	again, err := customers.UpsertGuestForCheckout(ctx, b.db.Bun, email, shipping, "USD")
	if err != nil || again.ID != guest.ID {
		t.Fatalf("guest checkout after the registration: %+v %v, want guest record %s", again, err, guest.ID)
	}
	if acct, _ := svc.ByID(ctx, c.ID); acct.Phone != nil || len(acct.Addresses) != 0 {
		t.Errorf("a guest checkout wrote into the account: %+v", acct)
	}

	// Signed in, the account's own checkout fills its missing phone.
	mine, err := customers.AccountForCheckout(ctx, b.db.Bun, c.ID, shipping)
	if err != nil || mine.ID != c.ID || mine.Phone == nil || *mine.Phone != otherPhone {
		t.Errorf("AccountForCheckout: %+v %v", mine, err)
	}
	if _, err := customers.AccountForCheckout(ctx, b.db.Bun, guest.ID, shipping); apperr.KindOf(err) != apperr.Unauthenticated {
		t.Errorf("AccountForCheckout of a guest record: %v, want Unauthenticated", err)
	}

	who, err := customers.MarketingContactByEmail(ctx, b.db.Bun, email)
	if err != nil || !who.Known || !who.OptIn || who.FirstName != "Mallory" {
		t.Errorf("marketing contact of an email with an account and a guest record: %+v %v, want the account's", who, err)
	}

	// The account signs in; the email is now taken.
	if _, _, err := svc.Login(ctx, email, "long-enough-pw"); err != nil {
		t.Errorf("Login of the new account: %v", err)
	}
	_, _, err = svc.Register(ctx, customers.RegisterInput{Email: email, Password: "another-password", FirstName: "Eve", LastName: "Again"})
	var ae *apperr.Error
	if !errors.As(err, &ae) || ae.Code != "TAKEN" {
		t.Errorf("second Register: %v, want TAKEN", err)
	}
}

// A guest record has no password and cannot sign in.
func TestGuestRecordCannotSignIn(t *testing.T) {
	_, b := setup(t)
	svc := customers.NewService(b.db, auth.NewSessions(b.db, auth.NewTokens([]byte(strings.Repeat("k", 32)), time.Hour, time.Hour, time.Now)), "USD")
	ctx := context.Background()
	email := "guest-" + uuid.NewString()[:8] + "@example.com"
	if _, err := customers.UpsertGuestForCheckout(ctx, b.db.Bun, email, customers.Address{FirstName: "G", LastName: "H",
		Line1: "1 Main St", City: "X", PostalCode: "1", CountryCode: "US"}, "USD"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Login(ctx, email, ""); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("Login of a guest record: %v, want invalid credentials", err)
	}
}

// The guest-records migration on v1 data, in a transaction rolled back at
// the end: a customer with a password becomes an account, one without a
// guest record, and an email can then have one of each.
func TestGuestCustomersMigration(t *testing.T) {
	_, b := setup(t)
	ctx := context.Background()
	read := func(name string) string {
		raw, err := fs.ReadFile(migrations.Files(), "20261206200000_guest_customers.tx."+name+".sql")
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	tx, err := b.db.Bun.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	exec := func(what, sql string, args ...any) {
		t.Helper()
		if _, err := tx.ExecContext(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// Other tests of the package leave emails with both; the down
	// migration refuses those, so move them aside first.
	exec("set apart emails with both", `UPDATE customers g SET email = 'guest-of-' || g.email WHERE g.kind = 'GUEST'
		AND EXISTS (SELECT 1 FROM customers a WHERE a.email = g.email AND a.kind = 'ACCOUNT')`)
	exec("down", read("down"))
	account, guest := "v1-account-"+uuid.NewString()[:8]+"@example.com", "v1-guest-"+uuid.NewString()[:8]+"@example.com"
	exec("v1 rows", `INSERT INTO customers (email, first_name, last_name, password_hash, currency) VALUES
		(?, 'Ada', 'Account', '$2a$10$abcdefghijklmnopqrstuv', 'USD'), (?, 'Grace', 'Guest', NULL, 'USD')`, account, guest)
	exec("up", read("up"))
	var kinds []string
	if err := tx.NewRaw(`SELECT kind FROM customers WHERE email IN (?, ?) ORDER BY email`, account, guest).Scan(ctx, &kinds); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(kinds, []string{"ACCOUNT", "GUEST"}) {
		t.Errorf("kinds after the migration: %v, want ACCOUNT for the row with a password, GUEST for the other", kinds)
	}
	exec("a guest record beside the account", `INSERT INTO customers (email, first_name, last_name, currency, kind) VALUES (?, 'G', 'R', 'USD', 'GUEST')`, account)
	_, err = tx.ExecContext(ctx, `INSERT INTO customers (email, first_name, last_name, password_hash, currency, kind)
		VALUES (?, 'X', 'Y', 'hash', 'USD', 'GUEST')`, "x"+guest)
	if err == nil || !strings.Contains(err.Error(), "customers_guest_no_password") {
		t.Errorf("a guest record with a password: %v, want the customers_guest_no_password check to refuse it", err)
	}
}
