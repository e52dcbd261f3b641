package customers

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"commerce/internal/webhooks"
)

// Announcer reports a change to the webhook subscribers of its topic inside
// the transaction that makes it (webhooks.Service.Announce).
type Announcer interface {
	Announce(ctx context.Context, tx bun.Tx, topic webhooks.Topic, orderID string, render func(ctx context.Context) (any, error)) error
}

// WithWebhooks makes registrations announce CUSTOMER_CREATED through a; it
// returns s. Guest records made by checkouts are not announced: they are
// part of the ORDER_CREATED they come with.
func (s *Service) WithWebhooks(a Announcer) *Service {
	s.hooks = a
	return s
}

// customerData is the `data` of CUSTOMER_CREATED: the Customer as staff
// read it through GraphQL, with the same field names, minus its orders
// (another query).
type customerData struct {
	ID               string         `json:"id"`
	Email            string         `json:"email"`
	FirstName        string         `json:"firstName"`
	LastName         string         `json:"lastName"`
	Phone            *string        `json:"phone"`
	Addresses        []Address      `json:"addresses"`
	DefaultAddress   *Address       `json:"defaultAddress"`
	TotalOrders      int            `json:"totalOrders"`
	TotalSpent       webhooks.Money `json:"totalSpent"`
	MarketingOptIn   bool           `json:"marketingOptIn"`
	StripeCustomerID *string        `json:"stripeCustomerId"`
	CreatedAt        time.Time      `json:"createdAt"`
	UpdatedAt        time.Time      `json:"updatedAt"`
}

func newCustomerData(c *Customer) customerData {
	d := customerData{ID: c.ID, Email: c.Email, FirstName: c.FirstName, LastName: c.LastName, Phone: c.Phone,
		Addresses: c.Addresses, DefaultAddress: c.DefaultAddress(), TotalOrders: c.TotalOrders,
		TotalSpent: webhooks.MoneyOf(c.TotalSpent), MarketingOptIn: c.MarketingOptIn,
		StripeCustomerID: c.StripeCustomerID, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if d.Addresses == nil {
		d.Addresses = []Address{}
	}
	return d
}

// insertAnnounced inserts the account and announces it in one transaction,
// then runs also (starting the new account's session) in it.
func (s *Service) insertAnnounced(ctx context.Context, in RegisterInput, email, hash string,
	also func(ctx context.Context, tx bun.IDB, id string) error) (*row, error) {
	var r *row
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if r, err = insertAccount(ctx, tx, in, email, hash, s.currency); err != nil {
			return err
		}
		if err := also(ctx, tx, r.ID); err != nil {
			return err
		}
		if s.hooks == nil {
			return nil
		}
		c, err := r.customer()
		if err != nil {
			return err
		}
		return s.hooks.Announce(ctx, tx, webhooks.CustomerCreated, "", func(context.Context) (any, error) {
			return newCustomerData(c), nil
		})
	})
	return r, err
}
