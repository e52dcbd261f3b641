package customers

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/contact"
	"commerce/internal/platform/db"
	"commerce/internal/platform/page"
)

// Service manages customers.
type Service struct {
	db       *bun.DB
	sessions *auth.Sessions
	currency string
	hooks    Announcer     // set by WithWebhooks; nil announces nothing
	mail     auth.Mailer   // set by WithAccounts: the account emails
	links    AccountConfig // set by WithAccounts
}

// NewService returns the customer service; currency is the store currency
// in which totals are kept.
func NewService(d *db.DB, sessions *auth.Sessions, currency string) *Service {
	return &Service{db: d.Bun, sessions: sessions, currency: currency}
}

// maxNameLen bounds first and last names.
const maxNameLen = 100

// Register creates a customer account (announced as CUSTOMER_CREATED in
// the same transaction) and returns it with a bearer token.
// The account starts empty: a guest record of the same email (from earlier
// checkouts) stays a separate customer with its orders, addresses, phone
// and name, since registering proves nothing about the mailbox. It returns
// Invalid userErrors for bad fields and a TAKEN userError when an account
// already uses the email; that answer is found before the password is
// hashed, so a taken email costs no bcrypt.
func (s *Service) Register(ctx context.Context, in RegisterInput) (*Customer, string, error) {
	email, err := checkRegister(&in)
	if err != nil {
		return nil, "", err
	}
	taken, err := accountExists(ctx, s.db, email)
	if err != nil {
		return nil, "", fmt.Errorf("register customer: %w", err)
	}
	if taken {
		return nil, "", apperr.Taken(apperr.Path("input", "email"), "email")
	}
	hash, err := auth.HashPassword(in.Password)
	if err != nil {
		return nil, "", err
	}
	var token string
	r, err := s.insertAnnounced(ctx, in, email, hash, func(ctx context.Context, tx bun.IDB, id string) (err error) {
		token, err = s.sessions.Start(ctx, tx, auth.Principal{ID: id, Role: auth.Customer})
		return err
	})
	if db.IsNoRows(err) { // registered by someone else since the check
		return nil, "", apperr.Taken(apperr.Path("input", "email"), "email")
	}
	if err != nil {
		return nil, "", fmt.Errorf("register customer: %w", err)
	}
	c, err := r.customer()
	return c, token, err
}

// checkRegister validates and normalises the fields of in and returns its
// normalised email; every problem is reported at once.
func checkRegister(in *RegisterInput) (string, error) {
	var errs apperr.List
	email, err := contact.NormalizeEmail(in.Email, apperr.Path("input", "email"))
	errs.Add(err)
	errs.Add(auth.ValidatePassword(in.Password, apperr.Path("input", "password")))
	in.FirstName, err = name(in.FirstName, apperr.Path("input", "firstName"))
	errs.Add(err)
	in.LastName, err = name(in.LastName, apperr.Path("input", "lastName"))
	errs.Add(err)
	if in.Phone != nil && strings.TrimSpace(*in.Phone) != "" {
		p, err := contact.NormalizePhone(*in.Phone, apperr.Path("input", "phone"))
		errs.Add(err)
		in.Phone = &p
	} else {
		in.Phone = nil
	}
	return email, errs.Err()
}

// Login checks a customer's email and password and returns the customer
// with a bearer token. Only accounts sign in: a guest record has no
// password. A wrong password and an unknown email both return
// auth.ErrInvalidCredentials after one bcrypt comparison, so the time
// taken does not tell them apart.
func (s *Service) Login(ctx context.Context, email, password string) (*Customer, string, error) {
	e, err := contact.NormalizeEmail(email, apperr.Path("email"))
	if err != nil {
		auth.CheckPassword("", password)
		return nil, "", auth.ErrInvalidCredentials
	}
	r, err := selectAccountByEmail(ctx, s.db, e)
	if err != nil && !db.IsNoRows(err) {
		return nil, "", fmt.Errorf("customer login: %w", err)
	}
	hash := ""
	if err == nil && r.PasswordHash != nil {
		hash = *r.PasswordHash
	}
	if !auth.CheckPassword(hash, password) {
		return nil, "", auth.ErrInvalidCredentials
	}
	return s.withToken(ctx, r)
}

func (s *Service) withToken(ctx context.Context, r *row) (*Customer, string, error) {
	c, err := r.customer()
	if err != nil {
		return nil, "", err
	}
	token, err := s.sessions.Start(ctx, s.db, auth.Principal{ID: c.ID, Role: auth.Customer})
	if err != nil {
		return nil, "", err
	}
	return c, token, nil
}

// ByID returns a customer. It returns NotFound for an unknown or malformed id.
func (s *Service) ByID(ctx context.Context, id string) (*Customer, error) {
	cs, err := s.ByIDs(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	if cs[0] == nil {
		return nil, apperr.New(apperr.NotFound, "customer not found")
	}
	return cs[0], nil
}

// ByIDs returns the customers in the order of ids, nil where there is none,
// in one query; malformed ids are simply not found.
func (s *Service) ByIDs(ctx context.Context, ids []string) ([]*Customer, error) {
	out := make([]*Customer, len(ids))
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if validUUID(id) {
			valid = append(valid, strings.ToLower(id))
		}
	}
	if len(valid) == 0 {
		return out, nil
	}
	rows, err := selectByIDs(ctx, s.db, valid)
	if err != nil {
		return nil, fmt.Errorf("load customers: %w", err)
	}
	byID := make(map[string]*row, len(rows))
	for i := range rows {
		byID[rows[i].ID] = &rows[i]
	}
	for i, id := range ids {
		if r, ok := byID[strings.ToLower(id)]; ok {
			if out[i], err = r.customer(); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// List returns a page of customers, newest first, whose email or name
// contains search (case-insensitive). It returns Invalid for a bad cursor.
func (s *Service) List(ctx context.Context, search string, first int, after string) (*Page, error) {
	var key *page.CreatedKey
	if after != "" {
		k, err := page.DecodeCreated(after)
		if err != nil {
			return nil, err
		}
		key = &k
	}
	rows, err := selectPage(ctx, s.db, search, key, first+1)
	if err != nil {
		return nil, fmt.Errorf("list customers: %w", err)
	}
	p := &Page{HasNextPage: len(rows) > first}
	if p.HasNextPage {
		rows = rows[:first]
	}
	for i := range rows {
		c, err := rows[i].customer()
		if err != nil {
			return nil, err
		}
		p.Customers = append(p.Customers, c)
		p.Cursors = append(p.Cursors, page.Encode(page.CreatedKey{CreatedAt: c.CreatedAt, ID: c.ID}))
	}
	return p, nil
}

// Count returns how many customers match search.
func (s *Service) Count(ctx context.Context, search string) (int, error) {
	n, err := count(ctx, s.db, search)
	if err != nil {
		return 0, fmt.Errorf("count customers: %w", err)
	}
	return n, nil
}

func name(v string, path []string) (string, error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return "", apperr.InvalidField(path, "is required")
	case utf8.RuneCountInString(v) > maxNameLen:
		return "", apperr.InvalidField(path, "must be at most %d characters", maxNameLen)
	case !utf8.ValidString(v) || strings.ContainsFunc(v, isControl):
		return "", apperr.InvalidField(path, "contains characters that are not allowed")
	}
	return v, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
