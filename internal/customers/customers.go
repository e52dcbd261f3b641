// Package customers owns customer accounts: profiles, addresses, order
// statistics, marketing consent, and customer sign-up and sign-in.
package customers

import (
	"time"

	"commerce/internal/money"
)

// Address is a postal address as customers enter it.
type Address struct {
	// ID is set on the addresses of an account's address book, never on an
	// order's or a guest record's.
	ID          string  `json:"id,omitempty"`
	FirstName   string  `json:"firstName"`
	LastName    string  `json:"lastName"`
	Company     *string `json:"company,omitempty"`
	Line1       string  `json:"line1"`
	Line2       *string `json:"line2,omitempty"`
	City        string  `json:"city"`
	Region      *string `json:"region,omitempty"`
	PostalCode  string  `json:"postalCode"`
	CountryCode string  `json:"countryCode"`
	Phone       *string `json:"phone,omitempty"`
}

// Customer is a person who buys: a registered account, or the guest record
// of the checkouts placed under an email without signing in. An email can
// have one of each; they share nothing (Registered tells them apart).
type Customer struct {
	ID                  string
	Email               string
	FirstName           string
	LastName            string
	Phone               *string
	Addresses           []Address
	DefaultAddressIndex int
	TotalOrders         int
	TotalSpent          money.Money
	MarketingOptIn      bool
	EmailVerified       bool
	StripeCustomerID    *string
	Registered          bool
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// DefaultAddress returns the address marked default, or nil when there is none.
func (c *Customer) DefaultAddress() *Address {
	if c.DefaultAddressIndex >= 0 && c.DefaultAddressIndex < len(c.Addresses) {
		return &c.Addresses[c.DefaultAddressIndex]
	}
	return nil
}

// RegisterInput is what customerRegister accepts.
type RegisterInput struct {
	Email          string
	Password       string
	FirstName      string
	LastName       string
	Phone          *string
	MarketingOptIn *bool
}

// Page is one page of customers.
type Page struct {
	Customers   []*Customer
	Cursors     []string
	HasNextPage bool
}
