package auth

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/contact"
	"commerce/internal/platform/db"
)

// StaffService manages staff accounts and their sign-in.
type StaffService struct {
	db     *bun.DB
	tokens *Tokens
}

// NewStaffService returns the staff account service.
func NewStaffService(d *db.DB, tokens *Tokens) *StaffService {
	return &StaffService{db: d.Bun, tokens: tokens}
}

// Login checks a staff member's email and password and returns a bearer
// token. A wrong password and an unknown email both return
// ErrInvalidCredentials.
func (s *StaffService) Login(ctx context.Context, email, password string) (string, error) {
	e, err := contact.NormalizeEmail(email, []string{"email"})
	if err != nil {
		CheckPassword("", password)
		return "", ErrInvalidCredentials
	}
	var row struct {
		ID           string
		PasswordHash string
		Role         Role
	}
	err = s.db.NewRaw(`SELECT id, password_hash, role FROM staff_users WHERE email = ?`, e).Scan(ctx, &row)
	if err != nil && !db.IsNoRows(err) {
		return "", fmt.Errorf("staff login: %w", err)
	}
	if !CheckPassword(row.PasswordHash, password) {
		return "", ErrInvalidCredentials
	}
	return s.tokens.Issue(Principal{ID: row.ID, Role: row.Role})
}

// Create adds a staff account. It returns Invalid userErrors for a bad
// email, password or role, and a TAKEN userError when the email is in use.
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

// EnsureAdmin makes sure an ADMIN account with this email exists and has
// this password, so operators can (re)gain access through ADMIN_EMAIL and
// ADMIN_PASSWORD at start.
func (s *StaffService) EnsureAdmin(ctx context.Context, email, password string) error {
	e, hash, err := staffCredentials(email, password, Admin)
	if err != nil {
		return fmt.Errorf("ADMIN_EMAIL/ADMIN_PASSWORD: %w", err)
	}
	_, err = s.db.NewRaw(`
		INSERT INTO staff_users (email, password_hash, role) VALUES (?, ?, 'ADMIN')
		ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = 'ADMIN', updated_at = now()`,
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
