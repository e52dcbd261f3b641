package customers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"commerce/internal/money"
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
	CreatedAt           time.Time       `bun:"created_at"`
	UpdatedAt           time.Time       `bun:"updated_at"`
}

const columns = `id, email, first_name, last_name, phone, password_hash, stripe_customer_id, addresses,
	default_address_index, total_orders, total_spent, currency, marketing_opt_in, created_at, updated_at`

func (r *row) customer() (*Customer, error) {
	c := &Customer{
		ID: r.ID, Email: r.Email, FirstName: r.FirstName, LastName: r.LastName, Phone: r.Phone,
		DefaultAddressIndex: r.DefaultAddressIndex, TotalOrders: r.TotalOrders,
		TotalSpent: money.New(r.TotalSpent, r.Currency), MarketingOptIn: r.MarketingOptIn,
		StripeCustomerID: r.StripeCustomerID, HasPassword: r.PasswordHash != nil,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	if len(r.Addresses) > 0 {
		if err := json.Unmarshal(r.Addresses, &c.Addresses); err != nil {
			return nil, fmt.Errorf("decode addresses of customer %s: %w", r.ID, err)
		}
	}
	return c, nil
}

func selectByEmail(ctx context.Context, idb bun.IDB, email string) (*row, error) {
	var r row
	err := idb.NewRaw(`SELECT `+columns+` FROM customers WHERE email = ?`, email).Scan(ctx, &r)
	return &r, err
}

func selectByIDs(ctx context.Context, idb bun.IDB, ids []string) ([]row, error) {
	var rows []row
	err := idb.NewRaw(`SELECT `+columns+` FROM customers WHERE id IN (?)`, bun.In(ids)).Scan(ctx, &rows)
	return rows, err
}

// insertRegistered creates an account, or claims the guest record of the
// same email (made by a guest checkout) by giving it a password. It never
// overwrites an account that already has a password: it returns no row then.
func insertRegistered(ctx context.Context, idb bun.IDB, in RegisterInput, email, hash, currency string) (*row, error) {
	var r row
	err := idb.NewRaw(`
		INSERT INTO customers (email, first_name, last_name, phone, password_hash, marketing_opt_in, currency)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (email) DO UPDATE SET
			first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
			phone = coalesce(EXCLUDED.phone, customers.phone),
			password_hash = EXCLUDED.password_hash,
			marketing_opt_in = EXCLUDED.marketing_opt_in, updated_at = now()
		WHERE customers.password_hash IS NULL
		RETURNING `+columns,
		email, in.FirstName, in.LastName, in.Phone, hash, in.MarketingOptIn != nil && *in.MarketingOptIn, currency,
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

// UpsertForCheckout gets the customer with this email or creates one with
// the names, phone and address of the shipping address, in one statement
// inside the caller's transaction. An existing customer keeps their names.
func UpsertForCheckout(ctx context.Context, idb bun.IDB, email string, shipping Address, currency string) (*CheckoutCustomer, error) {
	addresses, _ := json.Marshal([]Address{shipping})
	var c CheckoutCustomer
	err := idb.NewRaw(`
		INSERT INTO customers (email, first_name, last_name, phone, addresses, currency)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (email) DO UPDATE SET phone = coalesce(customers.phone, EXCLUDED.phone)
		RETURNING id, email, first_name, last_name, phone, stripe_customer_id`,
		email, shipping.FirstName, shipping.LastName, shipping.Phone, string(addresses), currency,
	).Scan(ctx, &c)
	if err != nil {
		return nil, fmt.Errorf("upsert checkout customer: %w", err)
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

// CheckoutCustomerByID reads the checkout view of a customer.
func CheckoutCustomerByID(ctx context.Context, idb bun.IDB, id string) (*CheckoutCustomer, error) {
	var c CheckoutCustomer
	err := idb.NewRaw(`SELECT id, email, first_name, last_name, phone, stripe_customer_id FROM customers WHERE id = ?`, id).Scan(ctx, &c)
	if err != nil {
		return nil, err
	}
	return &c, nil
}
