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
	"commerce/internal/money"
	"commerce/internal/platform/db"
	"commerce/internal/platform/page"
)

// row is a customers row as stored.
type row struct {
	ID                  string          `bun:"id"`
	Email               string          `bun:"email"`
	FirstName           string          `bun:"first_name"`
	LastName            string          `bun:"last_name"`
	Phone               *string         `bun:"phone"`
	PasswordHash        *string         `bun:"password_hash"`
	StripeCustomerID    *string         `bun:"stripe_customer_id"`
	Addresses           json.RawMessage `bun:"addresses"`
	DefaultAddressIndex int             `bun:"default_address_index"`
	TotalOrders         int             `bun:"total_orders"`
	TotalSpent          int64           `bun:"total_spent"`
	Currency            string          `bun:"currency"`
	MarketingOptIn      bool            `bun:"marketing_opt_in"`
	Kind                string          `bun:"kind"`
	EmailVerifiedAt     *time.Time      `bun:"email_verified_at"`
	CreatedAt           time.Time       `bun:"created_at"`
	UpdatedAt           time.Time       `bun:"updated_at"`
}

const columns = `id, email, first_name, last_name, phone, password_hash, stripe_customer_id, addresses,
	default_address_index, total_orders, total_spent, currency, marketing_opt_in, kind, email_verified_at, created_at, updated_at`

// The kinds of customers row: an account someone registered, and the record
// of the guest checkouts under an email. The two never share a row.
const (
	kindAccount = "ACCOUNT"
	kindGuest   = "GUEST"
)

func (r *row) customer() (*Customer, error) {
	c := &Customer{
		ID: r.ID, Email: r.Email, FirstName: r.FirstName, LastName: r.LastName, Phone: r.Phone,
		DefaultAddressIndex: r.DefaultAddressIndex, TotalOrders: r.TotalOrders,
		TotalSpent: money.New(r.TotalSpent, r.Currency), MarketingOptIn: r.MarketingOptIn,
		StripeCustomerID: r.StripeCustomerID, Registered: r.Kind == kindAccount, EmailVerified: r.EmailVerifiedAt != nil,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	if len(r.Addresses) > 0 {
		if err := json.Unmarshal(r.Addresses, &c.Addresses); err != nil {
			return nil, fmt.Errorf("decode addresses of customer %s: %w", r.ID, err)
		}
	}
	return c, nil
}

// selectAccountByEmail reads the account (never the guest record) of email.
func selectAccountByEmail(ctx context.Context, idb bun.IDB, email string) (*row, error) {
	var r row
	err := idb.NewRaw(`SELECT `+columns+` FROM customers WHERE email = ? AND kind = ?`, email, kindAccount).Scan(ctx, &r)
	return &r, err
}

// accountExists reports whether an account uses email.
func accountExists(ctx context.Context, idb bun.IDB, email string) (bool, error) {
	var ok bool
	err := idb.NewRaw(`SELECT EXISTS (SELECT 1 FROM customers WHERE email = ? AND kind = ?)`, email, kindAccount).Scan(ctx, &ok)
	return ok, err
}

func selectByIDs(ctx context.Context, idb bun.IDB, ids []string) ([]row, error) {
	var rows []row
	err := idb.NewRaw(`SELECT `+columns+` FROM customers WHERE id IN (?)`, bun.In(ids)).Scan(ctx, &rows)
	return rows, err
}

// insertAccount creates an account. A guest record of the same email stays
// as it is, a separate customer. When an account already uses the email it
// returns no row.
func insertAccount(ctx context.Context, idb bun.IDB, in RegisterInput, email, hash, currency string) (*row, error) {
	var r row
	err := idb.NewRaw(`
		INSERT INTO customers (email, first_name, last_name, phone, password_hash, marketing_opt_in, currency, kind)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (email, kind) DO NOTHING
		RETURNING `+columns,
		email, in.FirstName, in.LastName, in.Phone, hash, in.MarketingOptIn != nil && *in.MarketingOptIn, currency, kindAccount,
	).Scan(ctx, &r)
	return &r, err
}

func searchPattern(search string) string {
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(strings.TrimSpace(search)))
	return "%" + esc + "%"
}

// searchExpr matches the trigram index customers_search_trgm_idx.
const searchExpr = `(email || ' ' || lower(first_name) || ' ' || lower(last_name))`

func selectPage(ctx context.Context, idb bun.IDB, search string, after *page.CreatedKey, limit int) ([]row, error) {
	q := idb.NewSelect().ColumnExpr(columns).Table("customers")
	if search != "" {
		q = q.Where(searchExpr+` LIKE ?`, searchPattern(search))
	}
	if after != nil {
		q = q.Where("(created_at, id) < (?, ?)", after.CreatedAt, after.ID)
	}
	var rows []row
	err := q.OrderExpr("created_at DESC, id DESC").Limit(int64(limit)).Scan(ctx, &rows)
	return rows, err
}

func count(ctx context.Context, idb bun.IDB, search string) (int, error) {
	q := idb.NewSelect().Table("customers")
	if search != "" {
		q = q.Where(searchExpr+` LIKE ?`, searchPattern(search))
	}
	n, err := q.Count(ctx)
	return int(n), err
}

// validUUID reports whether s is a UUID, so a malformed id is "not found"
// rather than an SQL error.
func validUUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil
}

// CheckoutCustomer is the customer an order belongs to, as checkout sees it.
type CheckoutCustomer struct {
	ID               string  `bun:"id"`
	Email            string  `bun:"email"`
	FirstName        string  `bun:"first_name"`
	LastName         string  `bun:"last_name"`
	Phone            *string `bun:"phone"`
	StripeCustomerID *string `bun:"stripe_customer_id"`
}

// UpsertGuestForCheckout gets the guest record of this email or creates one
// with the names, phone and address of the shipping address, in one
// statement inside the caller's transaction. An existing guest record keeps
// its names and gets the phone only when it had none. An account with the
// same email is never read or written: a guest's order is not the account's.
func UpsertGuestForCheckout(ctx context.Context, idb bun.IDB, email string, shipping Address, currency string) (*CheckoutCustomer, error) {
	addresses, _ := json.Marshal([]Address{shipping})
	var c CheckoutCustomer
	err := idb.NewRaw(`
		INSERT INTO customers (email, first_name, last_name, phone, addresses, currency, kind)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (email, kind) DO UPDATE SET phone = coalesce(customers.phone, EXCLUDED.phone)
		RETURNING id, email, first_name, last_name, phone, stripe_customer_id`,
		email, shipping.FirstName, shipping.LastName, shipping.Phone, string(addresses), currency, kindGuest,
	).Scan(ctx, &c)
	if err != nil {
		return nil, fmt.Errorf("upsert guest checkout customer: %w", err)
	}
	return &c, nil
}

// AccountForCheckout is the signed-in account placing an order, inside the
// caller's transaction; the phone of the shipping address becomes the
// account's only when it has none. It returns an Unauthenticated error when
// the account no longer exists.
func AccountForCheckout(ctx context.Context, idb bun.IDB, id string, shipping Address) (*CheckoutCustomer, error) {
	var c CheckoutCustomer
	err := idb.NewRaw(`
		UPDATE customers SET phone = coalesce(phone, ?) WHERE id = ? AND kind = ?
		RETURNING id, email, first_name, last_name, phone, stripe_customer_id`,
		shipping.Phone, id, kindAccount,
	).Scan(ctx, &c)
	if db.IsNoRows(err) {
		return nil, apperr.New(apperr.Unauthenticated, "the signed-in account no longer exists")
	}
	if err != nil {
		return nil, fmt.Errorf("checkout account: %w", err)
	}
	return &c, nil
}

// RecordPurchase adds a paid order to the customer's statistics.
func RecordPurchase(ctx context.Context, idb bun.IDB, customerID string, amount int64) error {
	_, err := idb.NewRaw(`UPDATE customers SET total_orders = total_orders + 1, total_spent = total_spent + ?,
		updated_at = now() WHERE id = ?`, amount, customerID).Exec(ctx)
	if err != nil {
		return fmt.Errorf("record purchase: %w", err)
	}
	return nil
}

// RecordRefund takes money refunded on a paid order off the customer's
// total spent (never below zero); the order still counts.
func RecordRefund(ctx context.Context, idb bun.IDB, customerID string, amount int64) error {
	_, err := idb.NewRaw(`UPDATE customers SET total_spent = greatest(total_spent - ?, 0),
		updated_at = now() WHERE id = ?`, amount, customerID).Exec(ctx)
	if err != nil {
		return fmt.Errorf("record refund: %w", err)
	}
	return nil
}

// RecordRefundReversed gives back to the customer's total spent a refund
// that RecordRefund took off and that then failed at the provider.
func RecordRefundReversed(ctx context.Context, idb bun.IDB, customerID string, amount int64) error {
	_, err := idb.NewRaw(`UPDATE customers SET total_spent = total_spent + ?, updated_at = now() WHERE id = ?`,
		amount, customerID).Exec(ctx)
	if err != nil {
		return fmt.Errorf("reverse refund: %w", err)
	}
	return nil
}

// CheckoutCustomerByID reads the checkout view of a customer.
func CheckoutCustomerByID(ctx context.Context, idb bun.IDB, id string) (*CheckoutCustomer, error) {
	var c CheckoutCustomer
	err := idb.NewRaw(`SELECT id, email, first_name, last_name, phone, stripe_customer_id FROM customers WHERE id = ?`, id).Scan(ctx, &c)
	if err != nil {
		return nil, err
	}
	return &c, nil
}
