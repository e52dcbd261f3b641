package customers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/contact"
	"commerce/internal/notify"
	"commerce/internal/platform/db"
)

// AccountConfig is what the self-service of accounts needs: where emailed
// links point and how long they last.
type AccountConfig struct {
	StorefrontURL    string        // links: /reset-password?token=…, /verify-email?token=…
	PasswordResetTTL time.Duration // PASSWORD_RESET_TTL
	EmailVerifyTTL   time.Duration // EMAIL_VERIFY_TTL
	// ResetAnswerTime is the least time a reset request takes, whether or
	// not the email has an account, so its timing tells nothing.
	ResetAnswerTime time.Duration
}

// WithAccounts sets how account emails are queued (mail, the notification
// outbox) and where their links point; it returns s.
func (s *Service) WithAccounts(mail auth.Mailer, cfg AccountConfig) *Service {
	s.mail, s.links = mail, cfg
	return s
}

// maxAddresses bounds an address book.
const maxAddresses = 20

func (s *Service) email(ctx context.Context, tx bun.Tx, to, template string, data map[string]any) error {
	return s.mail.Enqueue(ctx, tx, notify.Message{Channel: notify.Email, To: to, Template: template, Data: data})
}

// inAccount runs fn in a transaction on the locked row of the account id.
// A deleted account is Unauthenticated: its sessions are revoked with it.
func (s *Service) inAccount(ctx context.Context, id string, fn func(ctx context.Context, tx bun.Tx, r *row) error) error {
	return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var r row
		err := tx.NewRaw(`SELECT `+columns+` FROM customers WHERE id = ? AND kind = ? FOR UPDATE`, id, kindAccount).Scan(ctx, &r)
		if db.IsNoRows(err) {
			return apperr.New(apperr.Unauthenticated, "the signed-in account no longer exists")
		}
		if err != nil {
			return err
		}
		return fn(ctx, tx, &r)
	})
}

// wrap passes caller-facing errors on and names the operation of the rest.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := apperr.UserErrors(err); ok || apperr.KindOf(err) != apperr.Internal {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Logout revokes the caller's session.
func (s *Service) Logout(ctx context.Context, p auth.Principal) error {
	return s.sessions.Revoke(ctx, s.db, p.SessionID)
}

// UpdateInput is what customerUpdate accepts; nil leaves a field as it is.
type UpdateInput struct {
	FirstName      *string
	LastName       *string
	Phone          *string // "" removes the phone
	MarketingOptIn *bool
}

// Update changes the account's own details. userErrors: INVALID at a bad
// field (all at once); nothing is written then.
func (s *Service) Update(ctx context.Context, id string, in UpdateInput) (*Customer, error) {
	var errs apperr.List
	var err error
	if in.FirstName != nil {
		var v string
		v, err = name(*in.FirstName, apperr.Path("input", "firstName"))
		errs.Add(err)
		in.FirstName = &v
	}
	if in.LastName != nil {
		var v string
		v, err = name(*in.LastName, apperr.Path("input", "lastName"))
		errs.Add(err)
		in.LastName = &v
	}
	removePhone := in.Phone != nil && strings.TrimSpace(*in.Phone) == ""
	if in.Phone != nil && !removePhone {
		var p string
		p, err = contact.NormalizePhone(*in.Phone, apperr.Path("input", "phone"))
		errs.Add(err)
		in.Phone = &p
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	var out *Customer
	err = s.inAccount(ctx, id, func(ctx context.Context, tx bun.Tx, r *row) error {
		if in.FirstName != nil {
			r.FirstName = *in.FirstName
		}
		if in.LastName != nil {
			r.LastName = *in.LastName
		}
		if removePhone {
			r.Phone = nil
		} else if in.Phone != nil {
			r.Phone = in.Phone
		}
		if in.MarketingOptIn != nil {
			r.MarketingOptIn = *in.MarketingOptIn
		}
		var u row
		if err := tx.NewRaw(`UPDATE customers SET first_name = ?, last_name = ?, phone = ?, marketing_opt_in = ?,
			updated_at = now() WHERE id = ? RETURNING `+columns, r.FirstName, r.LastName, r.Phone, r.MarketingOptIn, r.ID).
			Scan(ctx, &u); err != nil {
			return err
		}
		var err error
		out, err = u.customer()
		return err
	})
	return out, wrap("update customer", err)
}

func wrongPassword(field string) error {
	return &apperr.Error{Kind: apperr.Invalid, Code: "INVALID_CREDENTIALS", Field: []string{field},
		Message: "the password is not right"}
}

// ChangePassword replaces the account's password after checking the
// current one (userError INVALID_CREDENTIALS at ["currentPassword"]),
// revokes every session of the account, the caller's included, and
// returns a token of a new one; a password-changed notice is emailed.
func (s *Service) ChangePassword(ctx context.Context, p auth.Principal, current, next string) (*Customer, string, error) {
	if err := auth.ValidatePassword(next, []string{"newPassword"}); err != nil {
		return nil, "", err
	}
	c, err := s.ByID(ctx, p.ID)
	if err != nil {
		return nil, "", apperr.New(apperr.Unauthenticated, "the signed-in account no longer exists")
	}
	r, err := selectAccountByEmail(ctx, s.db, c.Email)
	if err != nil || r.PasswordHash == nil || !auth.CheckPassword(*r.PasswordHash, current) {
		return nil, "", wrongPassword("currentPassword")
	}
	hash, err := auth.HashPassword(next)
	if err != nil {
		return nil, "", err
	}
	var token string
	err = s.inAccount(ctx, p.ID, func(ctx context.Context, tx bun.Tx, r *row) error {
		return s.setPassword(ctx, tx, r, hash, &token)
	})
	if err != nil {
		return nil, "", wrap("change password", err)
	}
	return c, token, nil
}

// setPassword stores hash, ends every session of the account, starts a new
// one (its token in *token) and queues the password-changed notice.
func (s *Service) setPassword(ctx context.Context, tx bun.Tx, r *row, hash string, token *string) error {
	if _, err := tx.NewRaw(`UPDATE customers SET password_hash = ?, updated_at = now() WHERE id = ?`, hash, r.ID).Exec(ctx); err != nil {
		return err
	}
	if err := s.sessions.RevokeAll(ctx, tx, r.ID); err != nil {
		return err
	}
	var err error
	if *token, err = s.sessions.Start(ctx, tx, auth.Principal{ID: r.ID, Role: auth.Customer}); err != nil {
		return err
	}
	return s.email(ctx, tx, r.Email, "password-changed", map[string]any{"customer_name": r.FirstName})
}

// RequestPasswordReset emails a single-use reset link valid for
// PASSWORD_RESET_TTL when email has an account, and nothing otherwise. The
// answer is the same either way and takes at least ResetAnswerTime, so
// neither its content nor its timing tells whether the account exists. A
// malformed email is a userError INVALID at ["email"].
func (s *Service) RequestPasswordReset(ctx context.Context, email string) error {
	e, err := contact.NormalizeEmail(email, []string{"email"})
	if err != nil {
		return err
	}
	return s.sameTime(ctx, func() error {
		r, err := selectAccountByEmail(ctx, s.db, e)
		if db.IsNoRows(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("password reset request: %w", err)
		}
		return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			token, err := s.sessions.Tokens().CreateLink(ctx, tx, auth.PasswordReset, r.ID, r.Email, s.links.PasswordResetTTL)
			if err != nil {
				return err
			}
			return s.email(ctx, tx, r.Email, "password-reset", map[string]any{
				"customer_name": r.FirstName,
				"reset_url":     s.links.StorefrontURL + "/reset-password?token=" + token,
				"expires_hours": hours(s.links.PasswordResetTTL),
			})
		})
	})
}

// hours is a link's lifetime for an email, in whole hours (at least 1).
func hours(d time.Duration) int { return max(1, int(d.Round(time.Hour).Hours())) }

// sameTime runs fn and answers no sooner than ResetAnswerTime after it
// started.
func (s *Service) sameTime(ctx context.Context, fn func() error) error {
	start := time.Now()
	err := fn()
	t := time.NewTimer(s.links.ResetAnswerTime - time.Since(start))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return err
}

// ResetPassword sets a new password from a reset link (single use,
// unexpired), revokes every session of the account and returns a token of
// a new one. Following the link proves the mailbox, so the email counts as
// verified. userErrors: INVALID_TOKEN at ["token"], INVALID or
// PASSWORD_TOO_WEAK at ["password"]; nothing is written then.
func (s *Service) ResetPassword(ctx context.Context, token, password string) (*Customer, string, error) {
	if err := auth.ValidatePassword(password, []string{"password"}); err != nil {
		return nil, "", err
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return nil, "", err
	}
	var out *Customer
	var session string
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		l, err := s.sessions.Tokens().UseLink(ctx, tx, auth.PasswordReset, token, []string{"token"})
		if err != nil {
			return err
		}
		var r row
		err = tx.NewRaw(`UPDATE customers SET email_verified_at = coalesce(email_verified_at, now())
			WHERE id = ? AND kind = ? AND email = ? RETURNING `+columns, l.SubjectID, kindAccount, l.Email).Scan(ctx, &r)
		if db.IsNoRows(err) {
			return &apperr.Error{Kind: apperr.Invalid, Code: "INVALID_TOKEN", Field: []string{"token"},
				Message: "the link is invalid, expired or already used: ask for a new one"}
		}
		if err != nil {
			return err
		}
		if err := s.setPassword(ctx, tx, &r, hash, &session); err != nil {
			return err
		}
		out, err = r.customer()
		return err
	})
	if err != nil {
		return nil, "", wrap("reset password", err)
	}
	return out, session, nil
}

// RequestEmailVerification emails the signed-in account a single-use
// verification link valid for EMAIL_VERIFY_TTL; an account already
// verified gets nothing.
func (s *Service) RequestEmailVerification(ctx context.Context, id string) error {
	err := s.inAccount(ctx, id, func(ctx context.Context, tx bun.Tx, r *row) error {
		if r.EmailVerifiedAt != nil {
			return nil
		}
		token, err := s.sessions.Tokens().CreateLink(ctx, tx, auth.EmailVerify, r.ID, r.Email, s.links.EmailVerifyTTL)
		if err != nil {
			return err
		}
		return s.email(ctx, tx, r.Email, "email-verification", map[string]any{
			"customer_name": r.FirstName,
			"verify_url":    s.links.StorefrontURL + "/verify-email?token=" + token,
			"expires_hours": hours(s.links.EmailVerifyTTL),
		})
	})
	return wrap("email verification request", err)
}

// VerifyEmail marks the email of a verification link's account verified.
// userError INVALID_TOKEN at ["token"] for a link that is invalid, expired,
// used, or of an email the account no longer has.
func (s *Service) VerifyEmail(ctx context.Context, token string) (*Customer, error) {
	var out *Customer
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		l, err := s.sessions.Tokens().UseLink(ctx, tx, auth.EmailVerify, token, []string{"token"})
		if err != nil {
			return err
		}
		var r row
		err = tx.NewRaw(`UPDATE customers SET email_verified_at = coalesce(email_verified_at, now()), updated_at = now()
			WHERE id = ? AND kind = ? AND email = ? RETURNING `+columns, l.SubjectID, kindAccount, l.Email).Scan(ctx, &r)
		if db.IsNoRows(err) {
			return &apperr.Error{Kind: apperr.Invalid, Code: "INVALID_TOKEN", Field: []string{"token"},
				Message: "the link is invalid, expired or already used: ask for a new one"}
		}
		if err != nil {
			return err
		}
		out, err = r.customer()
		return err
	})
	return out, wrap("verify email", err)
}

// Delete erases the account after checking its password (userError
// INVALID_CREDENTIALS at ["password"]): its sessions are revoked and its
// links spent, its orders are detached from it (they keep their email and
// addresses for accounting), and its row, with every personal detail, is
// deleted, so the email can register again. An account-deleted notice is
// emailed.
func (s *Service) Delete(ctx context.Context, p auth.Principal, password string) error {
	c, err := s.ByID(ctx, p.ID)
	if err != nil {
		return apperr.New(apperr.Unauthenticated, "the signed-in account no longer exists")
	}
	r, err := selectAccountByEmail(ctx, s.db, c.Email)
	if err != nil || r.PasswordHash == nil || !auth.CheckPassword(*r.PasswordHash, password) {
		return wrongPassword("password")
	}
	err = s.inAccount(ctx, p.ID, func(ctx context.Context, tx bun.Tx, r *row) error {
		if err := s.sessions.RevokeAll(ctx, tx, r.ID); err != nil {
			return err
		}
		if _, err := tx.NewRaw(`UPDATE auth_links SET used_at = now() WHERE subject_id = ? AND used_at IS NULL`, r.ID).Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewRaw(`UPDATE orders SET customer_id = NULL WHERE customer_id = ?`, r.ID).Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewRaw(`DELETE FROM customers WHERE id = ?`, r.ID).Exec(ctx); err != nil {
			return err
		}
		return s.email(ctx, tx, r.Email, "account-deleted", map[string]any{"customer_name": r.FirstName})
	})
	return wrap("delete customer", err)
}

// AddAddress adds an address to the account's book (at most 20), as its
// default when setDefault or when it is the first. userErrors: INVALID at
// ["address", field], LIMIT at ["address"] for a full book.
func (s *Service) AddAddress(ctx context.Context, id string, a Address, setDefault bool) (*Customer, *Address, error) {
	a, err := NormalizeAddress(a, []string{"address"})
	if err != nil {
		return nil, nil, err
	}
	a.ID = uuid.NewString()
	return s.editBook(ctx, id, func(book []Address, def int) ([]Address, int, *Address, error) {
		if len(book) >= maxAddresses {
			return nil, 0, nil, &apperr.Error{Kind: apperr.Invalid, Code: "LIMIT", Field: []string{"address"},
				Message: fmt.Sprintf("the address book holds at most %d addresses: delete one first", maxAddresses)}
		}
		book = append(book, a)
		if setDefault || len(book) == 1 {
			def = len(book) - 1
		}
		return book, def, &book[len(book)-1], nil
	})
}

// UpdateAddress replaces a book address, keeping its id. NotFound for an
// id that is not one of the account's addresses.
func (s *Service) UpdateAddress(ctx context.Context, id, addressID string, a Address) (*Customer, *Address, error) {
	a, err := NormalizeAddress(a, []string{"address"})
	if err != nil {
		return nil, nil, err
	}
	return s.editBook(ctx, id, func(book []Address, def int) ([]Address, int, *Address, error) {
		i, err := findAddress(book, addressID)
		if err != nil {
			return nil, 0, nil, err
		}
		a.ID = book[i].ID
		book[i] = a
		return book, def, &book[i], nil
	})
}

// DeleteAddress removes a book address; when it was the default, the book
// has no default until one is set. It returns the address removed.
func (s *Service) DeleteAddress(ctx context.Context, id, addressID string) (*Customer, *Address, error) {
	return s.editBook(ctx, id, func(book []Address, def int) ([]Address, int, *Address, error) {
		i, err := findAddress(book, addressID)
		if err != nil {
			return nil, 0, nil, err
		}
		removed := book[i]
		book = append(book[:i:i], book[i+1:]...)
		switch {
		case i == def:
			def = -1
		case i < def:
			def--
		}
		return book, def, &removed, nil
	})
}

// SetDefaultAddress makes a book address the default.
func (s *Service) SetDefaultAddress(ctx context.Context, id, addressID string) (*Customer, *Address, error) {
	return s.editBook(ctx, id, func(book []Address, _ int) ([]Address, int, *Address, error) {
		i, err := findAddress(book, addressID)
		if err != nil {
			return nil, 0, nil, err
		}
		return book, i, &book[i], nil
	})
}

// BookAddress returns one of the account's book addresses; NotFound for
// any other id.
func (s *Service) BookAddress(ctx context.Context, id, addressID string) (*Address, error) {
	c, err := s.ByID(ctx, id)
	if err != nil || !c.Registered {
		return nil, &apperr.Error{Kind: apperr.NotFound, Field: []string{"id"}, Message: "address not found"}
	}
	i, err := findAddress(c.Addresses, addressID)
	if err != nil {
		return nil, err
	}
	return &c.Addresses[i], nil
}

// SaveCheckoutAddress adds an address a signed-in customer checked out
// with to their book, unless the book has it already or is full.
func (s *Service) SaveCheckoutAddress(ctx context.Context, id string, a Address) error {
	a.ID = ""
	_, _, err := s.editBook(ctx, id, func(book []Address, def int) ([]Address, int, *Address, error) {
		for _, b := range book {
			b.ID = ""
			if sameAddress(a, b) {
				return book, def, nil, nil
			}
		}
		if len(book) >= maxAddresses {
			return book, def, nil, nil
		}
		a.ID = uuid.NewString()
		book = append(book, a)
		if len(book) == 1 {
			def = 0
		}
		return book, def, nil, nil
	})
	return err
}

func sameAddress(a, b Address) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func findAddress(book []Address, addressID string) (int, error) {
	for i, a := range book {
		if a.ID != "" && strings.EqualFold(a.ID, addressID) {
			return i, nil
		}
	}
	return 0, &apperr.Error{Kind: apperr.NotFound, Field: []string{"id"}, Message: "address not found"}
}

// editBook applies edit to the account's locked address book and default
// index (-1: none) and stores the result.
func (s *Service) editBook(ctx context.Context, id string,
	edit func(book []Address, def int) ([]Address, int, *Address, error)) (*Customer, *Address, error) {
	var out *Customer
	var addr *Address
	err := s.inAccount(ctx, id, func(ctx context.Context, tx bun.Tx, r *row) error {
		c, err := r.customer()
		if err != nil {
			return err
		}
		def := c.DefaultAddressIndex
		if def >= len(c.Addresses) {
			def = -1
		}
		book, def, a, err := edit(c.Addresses, def)
		if err != nil {
			return err
		}
		if a != nil {
			cp := *a
			addr = &cp
		}
		if book == nil {
			book = []Address{}
		}
		raw, err := json.Marshal(book)
		if err != nil {
			return err
		}
		var u row
		if err := tx.NewRaw(`UPDATE customers SET addresses = ?, default_address_index = ?, updated_at = now()
			WHERE id = ? RETURNING `+columns, string(raw), def, r.ID).Scan(ctx, &u); err != nil {
			return err
		}
		out, err = u.customer()
		return err
	})
	if err != nil {
		return nil, nil, wrap("address book", err)
	}
	return out, addr, nil
}
