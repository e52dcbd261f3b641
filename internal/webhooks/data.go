package webhooks

import "commerce/internal/money"

// Money is an amount as GraphQL renders Money, for the `data` of events:
// {"amount": "12.30", "currencyCode": "USD"}.
type Money struct {
	Amount       string `json:"amount"`
	CurrencyCode string `json:"currencyCode"`
}

// MoneyOf renders m.
func MoneyOf(m money.Money) Money { return Money{Amount: m.Decimal(), CurrencyCode: m.Currency} }

// MoneyOrNil renders m, or null when there is none.
func MoneyOrNil(m *money.Money) *Money {
	if m == nil {
		return nil
	}
	out := MoneyOf(*m)
	return &out
}
