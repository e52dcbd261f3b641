package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/platform/dbtest"
)

func TestValidatePassword(t *testing.T) {
	for _, tc := range []struct {
		pw, code string
	}{
		{"short", "INVALID"},
		{strings.Repeat("é", 129), "INVALID"},
		{"qwertyuiop", "PASSWORD_TOO_WEAK"},
		{"QWERTYUIOP", "PASSWORD_TOO_WEAK"},
		{strings.Repeat("é", 128), ""},
		{"a-long-enough-password", ""},
	} {
		err := auth.ValidatePassword(tc.pw, []string{"password"})
		got := ""
		if ue, ok := apperr.UserErrors(err); ok {
			got = ue[0].UserCode()
		}
		if got != tc.code {
			t.Errorf("%q: %q, want %q", tc.pw[:min(len(tc.pw), 12)], got, tc.code)
		}
	}
}

// A password longer than bcrypt's 72 bytes is hashed whole: one that
// differs only after byte 72 does not match.
func TestLongPasswordsHashedWhole(t *testing.T) {
	long := strings.Repeat("a", 100)
	h, err := auth.HashPassword(long)
	if err != nil {
		t.Fatal(err)
	}
	if !auth.CheckPassword(h, long) || auth.CheckPassword(h, strings.Repeat("a", 99)+"b") {
		t.Error("long password not compared whole")
	}
}

// A session's token works until the session is revoked; revocation is seen
// by another Sessions (another replica) within the cache time; a link's
// token is no bearer token and works once.
func TestSessionsAndLinks(t *testing.T) {
	d := dbtest.DB(t)
	ctx := context.Background()
	tokens := auth.NewTokens([]byte(strings.Repeat("s", 32)), time.Hour, time.Hour, time.Now)
	a, b := auth.NewSessions(d, tokens), auth.NewSessions(d, tokens)
	id := uuid.NewString()
	tok, err := a.Start(ctx, nil, auth.Principal{ID: id, Role: auth.Customer})
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.Authenticate(ctx, tok)
	if err != nil || p.ID != id || p.Role != auth.Customer {
		t.Fatalf("authenticate: %+v %v", p, err)
	}
	if err := a.Revoke(ctx, d.Bun, p.SessionID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, tok); apperr.KindOf(err) != apperr.Unauthenticated {
		t.Errorf("revoking replica still accepts the token: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, err := b.Authenticate(ctx, tok); apperr.KindOf(err) == apperr.Unauthenticated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other replica accepts a revoked token after 2s")
		}
		time.Sleep(50 * time.Millisecond)
	}

	link, err := tokens.CreateLink(ctx, d.Bun, auth.PasswordReset, id, "a@example.com", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, link); apperr.KindOf(err) != apperr.Unauthenticated {
		t.Errorf("a link token as bearer token: %v", err)
	}
	if _, err := tokens.UseLink(ctx, d.Bun, auth.EmailVerify, link, []string{"token"}); err == nil {
		t.Error("a reset link used as a verification link")
	}
	if l, err := tokens.UseLink(ctx, d.Bun, auth.PasswordReset, link, []string{"token"}); err != nil || l.SubjectID != id {
		t.Errorf("use link: %+v %v", l, err)
	}
	if _, err := tokens.UseLink(ctx, d.Bun, auth.PasswordReset, link, []string{"token"}); err == nil {
		t.Error("a link used twice")
	}
}

// A watched session's callback runs once it is revoked.
func TestWatchEndsWithSession(t *testing.T) {
	d := dbtest.DB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := auth.NewSessions(d, auth.NewTokens([]byte(strings.Repeat("w", 32)), time.Hour, time.Hour, time.Now))
	tok, err := s.Start(ctx, nil, auth.Principal{ID: uuid.NewString(), Role: auth.Customer})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Authenticate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan struct{})
	s.Watch(ctx, p.SessionID, func() { close(ended) })
	if err := s.RevokeAll(ctx, d.Bun, p.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not report the revoked session")
	}
}

// Sweep deletes sessions and links over for more than a day, and keeps the
// rest.
func TestSweep(t *testing.T) {
	d := dbtest.DB(t)
	ctx := context.Background()
	past := auth.NewTokens([]byte(strings.Repeat("p", 32)), time.Hour, time.Hour, func() time.Time { return time.Now().Add(-48 * time.Hour) })
	old := auth.NewSessions(d, past)
	live := auth.NewSessions(d, auth.NewTokens([]byte(strings.Repeat("p", 32)), time.Hour, time.Hour, time.Now))
	id := uuid.NewString()
	if _, err := old.Start(ctx, nil, auth.Principal{ID: id, Role: auth.Customer}); err != nil {
		t.Fatal(err)
	}
	if _, err := live.Start(ctx, nil, auth.Principal{ID: id, Role: auth.Customer}); err != nil {
		t.Fatal(err)
	}
	if _, err := past.CreateLink(ctx, d.Bun, auth.PasswordReset, id, "a@example.com", time.Hour); err != nil {
		t.Fatal(err)
	}
	if n, err := live.Sweep(ctx); err != nil || n < 2 {
		t.Fatalf("sweep: %d, %v; want the old session and link gone", n, err)
	}
	var left int
	if err := d.Bun.NewRaw(`SELECT count(*) FROM sessions WHERE subject_id = ?`, id).Scan(ctx, &left); err != nil || left != 1 {
		t.Errorf("sessions left: %d (%v), want the live one", left, err)
	}
}
