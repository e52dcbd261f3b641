package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"commerce/internal/apperr"
	"commerce/internal/contact"
	"commerce/internal/notify"
	"commerce/internal/platform/db"
	"commerce/internal/platform/page"
)

// Mailer queues an email in the caller's transaction (notify.Service).
type Mailer interface {
	Enqueue(ctx context.Context, tx bun.Tx, m notify.Message) error
}

// StaffConfig is what the staff service needs beyond the database.
type StaffConfig struct {
	PublicBaseURL string        // the invite link is PUBLIC_BASE_URL/admin/set-password?token=…
	InviteTTL     time.Duration // STAFF_INVITE_TTL
}

// StaffService manages staff accounts and their sign-in.
type StaffService struct {
	db       *bun.DB
	sessions *Sessions
	mail     Mailer
	cfg      StaffConfig
}

// NewStaffService returns the staff account service; mail queues invites.
func NewStaffService(d *db.DB, sessions *Sessions, mail Mailer, cfg StaffConfig) *StaffService {
	return &StaffService{db: d.Bun, sessions: sessions, mail: mail, cfg: cfg}
}

// StaffUser is a staff account.
type StaffUser struct {
	ID          string       `bun:"id"`
	Email       string       `bun:"email"`
	Name        *string      `bun:"name"`
	Role        Role         `bun:"role"`
	Permissions []Permission `bun:"permissions,array"`
	IsActive    bool         `bun:"is_active"`
	LastLoginAt *time.Time   `bun:"last_login_at"`
	CreatedAt   time.Time    `bun:"created_at"`
}

// EffectivePermissions are what the account may do: all for ADMIN.
func (u *StaffUser) EffectivePermissions() []Permission {
	if u.Role == Admin {
		return AllPermissions
	}
	return u.Permissions
}

const staffColumns = `id, email, name, role, permissions, is_active, last_login_at, created_at`

// Login checks a staff member's email and password and returns a bearer
// token of a new session. A wrong password, an unknown email, an invitee
// who has set no password yet and a deactivated account all return
// ErrInvalidCredentials after one bcrypt comparison.
func (s *StaffService) Login(ctx context.Context, email, password string) (string, error) {
	e, err := contact.NormalizeEmail(email, []string{"email"})
	if err != nil {
		CheckPassword("", password)
		return "", ErrInvalidCredentials
	}
	var row struct {
		ID           string  `bun:"id"`
		PasswordHash *string `bun:"password_hash"`
		Role         Role    `bun:"role"`
		IsActive     bool    `bun:"is_active"`
	}
	err = s.db.NewRaw(`SELECT id, password_hash, role, is_active FROM staff_users WHERE email = ?`, e).Scan(ctx, &row)
	if err != nil && !db.IsNoRows(err) {
		return "", fmt.Errorf("staff login: %w", err)
	}
	hash := ""
	if row.PasswordHash != nil {
		hash = *row.PasswordHash
	}
	if !CheckPassword(hash, password) || !row.IsActive {
		return "", ErrInvalidCredentials
	}
	var token string
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewRaw(`UPDATE staff_users SET last_login_at = now() WHERE id = ?`, row.ID).Exec(ctx); err != nil {
			return err
		}
		token, err = s.sessions.Start(ctx, tx, Principal{ID: row.ID, Role: row.Role})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("staff login: %w", err)
	}
	return token, nil
}

// Logout ends the caller's session.
func (s *StaffService) Logout(ctx context.Context, p Principal) error {
	return s.sessions.Revoke(ctx, s.db, p.SessionID)
}

// Create adds a staff account with a password (the create-staff command).
// It returns Invalid userErrors for a bad email, password or role, and a
// TAKEN userError when the email is in use.
func (s *StaffService) Create(ctx context.Context, email, password string, role Role) (id string, err error) {
	e, hash, err := staffCredentials(email, password, role)
	if err != nil {
		return "", err
	}
	err = s.db.NewRaw(`INSERT INTO staff_users (email, password_hash, role) VALUES (?, ?, ?) RETURNING id`,
		e, hash, role).Scan(ctx, &id)
	if db.IsUniqueViolation(err, "staff_users_email_key") {
		return "", apperr.Taken([]string{"email"}, "email")
	}
	if err != nil {
		return "", fmt.Errorf("create staff: %w", err)
	}
	return id, nil
}

// EnsureAdmin makes sure an active ADMIN account with this email exists and
// has this password, so operators can (re)gain access through ADMIN_EMAIL
// and ADMIN_PASSWORD at start.
func (s *StaffService) EnsureAdmin(ctx context.Context, email, password string) error {
	e, hash, err := staffCredentials(email, password, Admin)
	if err != nil {
		return fmt.Errorf("ADMIN_EMAIL/ADMIN_PASSWORD: %w", err)
	}
	_, err = s.db.NewRaw(`
		INSERT INTO staff_users (email, password_hash, role) VALUES (?, ?, 'ADMIN')
		ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = 'ADMIN', is_active = true,
			updated_at = now()`,
		e, hash).Exec(ctx)
	if err != nil {
		return fmt.Errorf("ensure admin: %w", err)
	}
	return nil
}

func staffCredentials(email, password string, role Role) (string, string, error) {
	var errs apperr.List
	e, err := contact.NormalizeEmail(email, []string{"email"})
	errs.Add(err)
	errs.Add(ValidatePassword(password, []string{"password"}))
	if role != Staff && role != Admin {
		errs = append(errs, apperr.InvalidField([]string{"role"}, "must be ADMIN or STAFF"))
	}
	if len(errs) > 0 {
		return "", "", errs
	}
	hash, err := HashPassword(password)
	return e, hash, err
}

// StaffInput is what staffUserCreate and staffUserUpdate accept; nil
// leaves a field as it is (or at its default on create).
type StaffInput struct {
	Email       string
	Name        *string
	Role        *Role
	Permissions []Permission // nil: unchanged, or the default on create
	IsActive    *bool
}

const maxStaffName = 100

func checkStaffInput(in *StaffInput) error {
	var errs apperr.List
	if in.Name != nil {
		n := strings.TrimSpace(*in.Name)
		if utf8.RuneCountInString(n) > maxStaffName || strings.ContainsFunc(n, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			errs = append(errs, apperr.InvalidField(apperr.Path("input", "name"), "must be at most %d characters of text", maxStaffName))
		}
		in.Name = &n
	}
	if in.Role != nil && *in.Role != Staff && *in.Role != Admin {
		errs = append(errs, apperr.InvalidField(apperr.Path("input", "role"), "must be ADMIN or STAFF"))
	}
	if in.Permissions != nil {
		perms := []Permission{}
		for i, p := range in.Permissions {
			if !ValidPermission(p) {
				errs = append(errs, apperr.InvalidField(apperr.Path("input", "permissions", i), "is not a permission"))
			}
			if !slices.Contains(perms, p) {
				perms = append(perms, p)
			}
		}
		in.Permissions = perms
	}
	return errs.Err()
}

// Invite creates a staff account without a password and emails it a
// single-use set-password link valid for STAFF_INVITE_TTL, in one
// transaction. userErrors: INVALID at a bad field, TAKEN at
// ["input","email"].
// actor is the caller, who may grant no more than checkGrant allows.
func (s *StaffService) Invite(ctx context.Context, actor Principal, in StaffInput) (*StaffUser, error) {
	var errs apperr.List
	e, err := contact.NormalizeEmail(in.Email, apperr.Path("input", "email"))
	errs.Add(err)
	errs.Add(checkStaffInput(&in))
	if in.Role == nil {
		errs = append(errs, apperr.InvalidField(apperr.Path("input", "role"), "is required"))
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	if err := checkGrant(actor, in, nil); err != nil {
		return nil, err
	}
	perms := in.Permissions
	if perms == nil {
		perms = DefaultStaffPermissions
	}
	var u StaffUser
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		err := tx.NewRaw(`INSERT INTO staff_users (email, name, role, permissions) VALUES (?, ?, ?, ?)
			RETURNING `+staffColumns, e, in.Name, *in.Role, pgArray(perms)).Scan(ctx, &u)
		if err != nil {
			return err
		}
		token, err := s.sessions.tokens.CreateLink(ctx, tx, StaffInvite, u.ID, e, s.cfg.InviteTTL)
		if err != nil {
			return err
		}
		data := map[string]any{
			"set_password_url": s.cfg.PublicBaseURL + "/admin/set-password?token=" + token,
			"expires_hours":    int(s.cfg.InviteTTL.Hours()),
			"role":             string(*in.Role),
		}
		if in.Name != nil && *in.Name != "" {
			data["name"] = *in.Name
		}
		return s.mail.Enqueue(ctx, tx, notify.Message{Channel: notify.Email, To: e, Template: "staff-invite", Data: data})
	})
	if db.IsUniqueViolation(err, "staff_users_email_key") {
		return nil, apperr.Taken(apperr.Path("input", "email"), "email")
	}
	if err != nil {
		return nil, fmt.Errorf("invite staff: %w", err)
	}
	return &u, nil
}

// pgArray is perms as a Postgres text[] argument.
// checkGrant keeps staff management from raising anyone above the actor:
// only an ADMIN may make or change an ADMIN account (target, nil on
// create), and a STAFF actor may grant only permissions it holds itself.
// Anything else is FORBIDDEN.
func checkGrant(actor Principal, in StaffInput, target *StaffUser) error {
	if actor.Role == Admin {
		return nil
	}
	forbidden := apperr.New(apperr.Forbidden, "only an ADMIN may do this")
	if (in.Role != nil && *in.Role == Admin) || (target != nil && target.Role == Admin) {
		return forbidden
	}
	for _, p := range in.Permissions {
		if !actor.Can(p) {
			return apperr.New(apperr.Forbidden, "you cannot grant %s: your account lacks it", p)
		}
	}
	if target == nil && in.Permissions == nil {
		for _, p := range DefaultStaffPermissions {
			if !actor.Can(p) {
				return apperr.New(apperr.Forbidden, "you cannot grant the default permissions: your account lacks %s", p)
			}
		}
	}
	return nil
}

func pgArray(perms []Permission) any {
	out := make([]string, len(perms))
	for i, p := range perms {
		out[i] = string(p)
	}
	return pgdialect.Array(out)
}

// errLastAdmin refuses to leave the service without an active ADMIN.
func errLastAdmin(field string) error {
	return &apperr.Error{Kind: apperr.Invalid, Code: "LAST_ADMIN", Field: apperr.Path("input", field),
		Message: "this is the last active ADMIN: make another account ADMIN first"}
}

// Update changes a staff account. Deactivating it revokes all of its
// sessions in the same transaction; a change of role or permissions
// applies to its open sessions at once (they read the account). The last
// active ADMIN cannot be demoted or deactivated (userError LAST_ADMIN):
// the active admins are locked while it is checked, so two concurrent
// updates cannot each demote one of the last two. It returns NotFound for
// an unknown or malformed id.
// actor is the caller, who may grant no more than checkGrant allows.
func (s *StaffService) Update(ctx context.Context, actor Principal, id string, in StaffInput) (*StaffUser, error) {
	if !validUUID(id) {
		return nil, apperr.New(apperr.NotFound, "staff user not found")
	}
	if err := checkStaffInput(&in); err != nil {
		return nil, err
	}
	var u StaffUser
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var admins []string
		if err := tx.NewRaw(`SELECT id FROM staff_users WHERE role = 'ADMIN' AND is_active ORDER BY id FOR UPDATE`).
			Scan(ctx, &admins); err != nil && !db.IsNoRows(err) {
			return err
		}
		err := tx.NewRaw(`SELECT `+staffColumns+` FROM staff_users WHERE id = ? FOR UPDATE`, strings.ToLower(id)).Scan(ctx, &u)
		if db.IsNoRows(err) {
			return apperr.New(apperr.NotFound, "staff user not found")
		}
		if err != nil {
			return err
		}
		if err := checkGrant(actor, in, &u); err != nil {
			return err
		}
		if u.Role == Admin && u.IsActive && len(admins) <= 1 {
			if in.Role != nil && *in.Role != Admin {
				return errLastAdmin("role")
			}
			if in.IsActive != nil && !*in.IsActive {
				return errLastAdmin("isActive")
			}
		}
		if in.Name != nil {
			u.Name = in.Name
		}
		if in.Role != nil {
			u.Role = *in.Role
		}
		if in.Permissions != nil {
			u.Permissions = in.Permissions
		}
		deactivated := in.IsActive != nil && !*in.IsActive && u.IsActive
		if in.IsActive != nil {
			u.IsActive = *in.IsActive
		}
		err = tx.NewRaw(`UPDATE staff_users SET name = ?, role = ?, permissions = ?, is_active = ?, updated_at = now()
			WHERE id = ? RETURNING `+staffColumns, u.Name, u.Role, pgArray(u.Permissions), u.IsActive, u.ID).Scan(ctx, &u)
		if err != nil {
			return err
		}
		if deactivated {
			return s.sessions.RevokeAll(ctx, tx, u.ID)
		}
		return nil
	})
	if err != nil {
		if _, ok := apperr.UserErrors(err); ok || apperr.KindOf(err) == apperr.NotFound {
			return nil, err
		}
		return nil, fmt.Errorf("update staff: %w", err)
	}
	return &u, nil
}

// SetPassword sets the password of the account of an invite link (single
// use, unexpired), revokes the account's other sessions and signs it in.
// userErrors: INVALID_TOKEN at ["token"], INVALID or PASSWORD_TOO_WEAK at
// ["password"]; nothing is written then.
func (s *StaffService) SetPassword(ctx context.Context, token, password string) (string, error) {
	if err := ValidatePassword(password, []string{"password"}); err != nil {
		return "", err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return "", err
	}
	var out string
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		l, err := s.sessions.tokens.UseLink(ctx, tx, StaffInvite, token, []string{"token"})
		if err != nil {
			return err
		}
		var role Role
		err = tx.NewRaw(`UPDATE staff_users SET password_hash = ?, last_login_at = now(), updated_at = now()
			WHERE id = ? AND is_active RETURNING role`, hash, l.SubjectID).Scan(ctx, &role)
		if db.IsNoRows(err) {
			return &apperr.Error{Kind: apperr.Invalid, Code: "INVALID_TOKEN", Field: []string{"token"},
				Message: "the link is invalid, expired or already used: ask for a new one"}
		}
		if err != nil {
			return err
		}
		if err := s.sessions.RevokeAll(ctx, tx, l.SubjectID); err != nil {
			return err
		}
		out, err = s.sessions.Start(ctx, tx, Principal{ID: l.SubjectID, Role: role})
		return err
	})
	if err != nil {
		if _, ok := apperr.UserErrors(err); ok {
			return "", err
		}
		return "", fmt.Errorf("set staff password: %w", err)
	}
	return out, nil
}

// ByID returns a staff account; NotFound for an unknown or malformed id.
func (s *StaffService) ByID(ctx context.Context, id string) (*StaffUser, error) {
	if !validUUID(id) {
		return nil, apperr.New(apperr.NotFound, "staff user not found")
	}
	var u StaffUser
	err := s.db.NewRaw(`SELECT `+staffColumns+` FROM staff_users WHERE id = ?`, strings.ToLower(id)).Scan(ctx, &u)
	if db.IsNoRows(err) {
		return nil, apperr.New(apperr.NotFound, "staff user not found")
	}
	if err != nil {
		return nil, fmt.Errorf("load staff user: %w", err)
	}
	return &u, nil
}

// StaffPage is one page of staff accounts.
type StaffPage struct {
	Users       []*StaffUser
	Cursors     []string
	HasNextPage bool
}

// List returns a page of staff accounts, newest first. It returns Invalid
// for a bad cursor.
func (s *StaffService) List(ctx context.Context, first int, after string) (*StaffPage, error) {
	q := s.db.NewSelect().ColumnExpr(staffColumns).Table("staff_users")
	if after != "" {
		k, err := page.DecodeCreated(after)
		if err != nil {
			return nil, err
		}
		q = q.Where("(created_at, id) < (?, ?)", k.CreatedAt, k.ID)
	}
	var users []*StaffUser
	if err := q.OrderExpr("created_at DESC, id DESC").Limit(int64(first+1)).Scan(ctx, &users); err != nil {
		return nil, fmt.Errorf("list staff: %w", err)
	}
	p := &StaffPage{HasNextPage: len(users) > first}
	if p.HasNextPage {
		users = users[:first]
	}
	p.Users = users
	for _, u := range users {
		p.Cursors = append(p.Cursors, page.Encode(page.CreatedKey{CreatedAt: u.CreatedAt, ID: u.ID}))
	}
	return p, nil
}

// Count returns how many staff accounts there are.
func (s *StaffService) Count(ctx context.Context) (int, error) {
	n, err := s.db.NewSelect().Table("staff_users").Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("count staff: %w", err)
	}
	return int(n), nil
}
