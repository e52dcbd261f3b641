package customers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/customers"
	"commerce/internal/notify"
)

func accountService(t *testing.T) (*customers.Service, *customers.Customer) {
	t.Helper()
	_, b := setup(t)
	svc := customers.NewService(b.db, auth.NewSessions(b.db, auth.NewTokens([]byte(strings.Repeat("k", 32)), time.Hour, time.Hour, time.Now)), "USD")
	c, _, err := svc.Register(context.Background(), customers.RegisterInput{Email: "book-" + uuid.NewString()[:8] + "@example.com",
		Password: "long-enough-pw", FirstName: "Ada", LastName: "Lovelace"})
	if err != nil {
		t.Fatal(err)
	}
	return svc, c
}

func bookAddress(line1 string) customers.Address {
	return customers.Address{FirstName: "Ada", LastName: "Lovelace", Line1: line1, City: "London", PostalCode: "N1", CountryCode: "gb"}
}

// The first address becomes the default; setDefault moves it; deleting an
// address before the default keeps the same default; deleting the default
// leaves none; ids are kept by updates and unknown ids are NOT_FOUND.
func TestAddressBook(t *testing.T) {
	svc, c := accountService(t)
	ctx := context.Background()
	_, a1, err := svc.AddAddress(ctx, c.ID, bookAddress("1 First St"), false)
	if err != nil {
		t.Fatal(err)
	}
	_, a2, _ := svc.AddAddress(ctx, c.ID, bookAddress("2 Second St"), false)
	got, a3, _ := svc.AddAddress(ctx, c.ID, bookAddress("3 Third St"), true)
	if d := got.DefaultAddress(); d == nil || d.ID != a3.ID || a3.CountryCode != "GB" {
		t.Fatalf("default after setDefault: %+v", d)
	}
	got, _, err = svc.DeleteAddress(ctx, c.ID, a1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := got.DefaultAddress(); d == nil || d.ID != a3.ID {
		t.Errorf("deleting an address before the default moved it: %+v", d)
	}
	got, up, err := svc.UpdateAddress(ctx, c.ID, a2.ID, bookAddress("22 Second St"))
	if err != nil || up.ID != a2.ID || got.Addresses[0].Line1 != "22 Second St" {
		t.Errorf("update: %+v %v", up, err)
	}
	got, _, err = svc.DeleteAddress(ctx, c.ID, a3.ID)
	if err != nil || got.DefaultAddress() != nil || len(got.Addresses) != 1 {
		t.Errorf("after deleting the default: %+v %v", got, err)
	}
	for _, id := range []string{uuid.NewString(), "nope", a3.ID} {
		if _, _, err := svc.SetDefaultAddress(ctx, c.ID, id); apperr.KindOf(err) != apperr.NotFound {
			t.Errorf("set default %q: %v, want NOT_FOUND", id, err)
		}
	}
	if _, _, err := svc.AddAddress(ctx, c.ID, customers.Address{}, false); err == nil {
		t.Error("an empty address was added")
	}
	// A checkout's address is saved once.
	for range 2 {
		if err := svc.SaveCheckoutAddress(ctx, c.ID, bookAddress("9 Checkout Rd")); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ = svc.ByID(ctx, c.ID); len(got.Addresses) != 2 {
		t.Errorf("after saving a checkout address twice: %d addresses, want 2", len(got.Addresses))
	}
}

// Changing the password checks the current one, ends the other sessions
// and returns a working new token.
func TestChangePassword(t *testing.T) {
	_, b := setup(t)
	sessions := auth.NewSessions(b.db, auth.NewTokens([]byte(strings.Repeat("k", 32)), time.Hour, time.Hour, time.Now))
	svc := customers.NewService(b.db, sessions, "USD").WithAccounts(nopMailer{}, customers.AccountConfig{})
	ctx := context.Background()
	c, tok, err := svc.Register(ctx, customers.RegisterInput{Email: "pw-" + uuid.NewString()[:8] + "@example.com",
		Password: "long-enough-pw", FirstName: "Ada", LastName: "Lovelace"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := sessions.Authenticate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.ChangePassword(ctx, p, "wrong-password", "another-long-pw"); err == nil {
		t.Error("a wrong current password changed it")
	}
	if _, _, err := svc.ChangePassword(ctx, p, "long-enough-pw", "qwertyuiop"); err == nil {
		t.Error("a short or common new password was taken")
	}
	_, fresh, err := svc.ChangePassword(ctx, p, "long-enough-pw", "another-long-pw")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sessions.Authenticate(ctx, fresh); err != nil {
		t.Errorf("the new token: %v", err)
	}
	if _, _, err := svc.Login(ctx, c.Email, "another-long-pw"); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
}

type nopMailer struct{}

func (nopMailer) Enqueue(context.Context, bun.Tx, notify.Message) error { return nil }
