package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/notify"
	"commerce/internal/platform/dbtest"
)

// captureMailer keeps the invites instead of queueing them.
type captureMailer struct{ sent []notify.Message }

func (m *captureMailer) Enqueue(_ context.Context, _ bun.Tx, msg notify.Message) error {
	m.sent = append(m.sent, msg)
	return nil
}

// Inviting, setting the password from the link, escalation refused,
// deactivation ending sessions, and LAST_ADMIN (run on a database of its
// own, where the admins are this test's).
func TestStaffLifecycle(t *testing.T) {
	d := dbtest.DB(t)
	ctx := context.Background()
	var others int
	if err := d.Bun.NewRaw(`SELECT count(*) FROM staff_users WHERE role = 'ADMIN' AND is_active`).Scan(ctx, &others); err != nil {
		t.Fatal(err)
	}
	tokens := auth.NewTokens([]byte(strings.Repeat("t", 32)), time.Hour, time.Hour, time.Now)
	sessions := auth.NewSessions(d, tokens)
	mail := &captureMailer{}
	staff := auth.NewStaffService(d, sessions, mail, auth.StaffConfig{PublicBaseURL: "https://api.example.com", InviteTTL: time.Hour})
	adminID, err := staff.Create(ctx, "admin-"+uuid.NewString()[:8]+"@example.com", "admin-long-password", auth.Admin)
	if err != nil {
		t.Fatal(err)
	}
	admin := auth.Principal{ID: adminID, Role: auth.Admin}
	role := auth.Staff
	u, err := staff.Invite(ctx, admin, auth.StaffInput{Email: "clerk-" + uuid.NewString()[:8] + "@example.com", Role: &role,
		Permissions: []auth.Permission{auth.PermOrders, auth.PermStaffManage}})
	if err != nil {
		t.Fatal(err)
	}
	if len(mail.sent) != 1 || !strings.HasPrefix(mail.sent[0].Data["set_password_url"].(string), "https://api.example.com/admin/set-password?token=") {
		t.Fatalf("invite email: %+v", mail.sent)
	}
	link := strings.TrimPrefix(mail.sent[0].Data["set_password_url"].(string), "https://api.example.com/admin/set-password?token=")
	tok, err := staff.SetPassword(ctx, link, "clerk-long-password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := staff.SetPassword(ctx, link, "clerk-other-password"); err == nil {
		t.Error("an invite link used twice")
	}
	clerk, err := sessions.Authenticate(ctx, tok)
	if err != nil || !clerk.Can(auth.PermOrders) || clerk.Can(auth.PermCatalog) {
		t.Fatalf("the clerk's session: %+v %v", clerk, err)
	}

	// A STAFF manager raises no one above itself.
	admins := auth.Admin
	if _, err := staff.Invite(ctx, clerk, auth.StaffInput{Email: "x-" + uuid.NewString()[:8] + "@example.com", Role: &admins}); apperr.KindOf(err) != apperr.Forbidden {
		t.Errorf("a STAFF manager inviting an ADMIN: %v, want FORBIDDEN", err)
	}
	if _, err := staff.Update(ctx, clerk, clerk.ID, auth.StaffInput{Permissions: []auth.Permission{auth.PermSettings}}); apperr.KindOf(err) != apperr.Forbidden {
		t.Errorf("a STAFF manager granting SETTINGS: %v, want FORBIDDEN", err)
	}
	if _, err := staff.Update(ctx, clerk, adminID, auth.StaffInput{IsActive: new(bool)}); apperr.KindOf(err) != apperr.Forbidden {
		t.Errorf("a STAFF manager deactivating an ADMIN: %v, want FORBIDDEN", err)
	}

	// Deactivation ends the sessions at once on this replica.
	if _, err := staff.Update(ctx, admin, u.ID, auth.StaffInput{IsActive: new(bool)}); err != nil {
		t.Fatal(err)
	}
	if _, err := sessions.Authenticate(ctx, tok); apperr.KindOf(err) != apperr.Unauthenticated {
		t.Errorf("a deactivated account's token: %v", err)
	}
	if _, err := staff.Login(ctx, u.Email, "clerk-long-password"); err == nil {
		t.Error("a deactivated account signed in")
	}

	if others > 0 {
		t.Logf("%d other admins in the database: LAST_ADMIN not checked", others)
		return
	}
	if _, err := staff.Update(ctx, admin, adminID, auth.StaffInput{Role: &role}); err == nil || !strings.Contains(err.Error(), "last active ADMIN") {
		t.Errorf("demoting the last ADMIN: %v, want LAST_ADMIN", err)
	}
}
