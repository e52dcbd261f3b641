package customers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/uptrace/bun"
)

// Unsubscribe records that email wants no more marketing email: the
// address joins marketing_unsubscribes (so a guest without a customer row
// is covered too) and a customer with that email gets marketing_opt_in
// false, both in one statement. Doing it again changes nothing. It returns
// an error for an empty address and database errors as they come.
func (s *Service) Unsubscribe(ctx context.Context, email string) error {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return errors.New("unsubscribe: empty email")
	}
	_, err := s.db.NewRaw(`
		WITH recorded AS (
			INSERT INTO marketing_unsubscribes (email) VALUES (?) ON CONFLICT (email) DO NOTHING
		)
		UPDATE customers SET marketing_opt_in = false, updated_at = now()
		WHERE email = ? AND marketing_opt_in`, email, email).Exec(ctx)
	if err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	return nil
}

// MarketingContact is what a marketing campaign needs to know of an email
// address.
type MarketingContact struct {
	Known        bool   // a customer has this email
	FirstName    string // the customer's, when known
	OptIn        bool   // the customer's marketing_opt_in
	Unsubscribed bool   // the address used an unsubscribe link
}

// MayMarket reports whether marketing email (an abandoned-cart reminder, a
// review request, a campaign) may go to the address on the customer's own
// standing consent: only to a customer who opted in, and never after an
// unsubscribe. An address nobody opted in for has not consented: anyone can
// type a stranger's address into a cart. A sender that holds a consent of
// its own (a cart's opt-in) still yields to an unsubscribe.
func (c MarketingContact) MayMarket() bool {
	return !c.Unsubscribed && c.Known && c.OptIn
}

// MarketingContactByEmail reads the marketing consent of email (trimmed and
// lowercased) in one statement: the account's when the email has one, else
// its guest record's. It returns database errors as they come.
func MarketingContactByEmail(ctx context.Context, idb bun.IDB, email string) (MarketingContact, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	var (
		firstName sql.NullString
		optIn     sql.NullBool
		c         MarketingContact
	)
	err := idb.QueryRowContext(ctx, `
		SELECT c.first_name, c.marketing_opt_in,
			EXISTS (SELECT 1 FROM marketing_unsubscribes WHERE email = ?)
		FROM (SELECT 1) AS one
		LEFT JOIN LATERAL (
			SELECT first_name, marketing_opt_in FROM customers WHERE email = ?
			ORDER BY kind = 'ACCOUNT' DESC LIMIT 1
		) c ON true`, email, email).Scan(&firstName, &optIn, &c.Unsubscribed)
	if err != nil {
		return MarketingContact{}, fmt.Errorf("marketing contact: %w", err)
	}
	c.Known, c.FirstName, c.OptIn = optIn.Valid, firstName.String, optIn.Bool
	return c, nil
}
