package customers_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/customers"
)

// Registering the email of a guest record makes a new, empty account and
// leaves the guest record as it was; a guest checkout afterwards writes to
// the guest record, never to the account; the marketing consent read for
// the email is the account's.
func TestRegisterOverGuestRecord(t *testing.T) {
	_, b := setup(t)
	svc := customers.NewService(b.db, auth.NewTokens([]byte(strings.Repeat("k", 32)), time.Hour, time.Hour, time.Now), "USD")
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
	svc := customers.NewService(b.db, auth.NewTokens([]byte(strings.Repeat("k", 32)), time.Hour, time.Hour, time.Now), "USD")
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
