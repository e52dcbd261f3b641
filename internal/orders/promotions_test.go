package orders_test

import (
	"context"
	"testing"

	"commerce/internal/orders"
	"commerce/internal/promotions"
)

// Promotion uses follow the order: checkout takes one, a cancellation
// gives it back once, a payment after the cancellation takes it again
// when the limit allows and is refunded when it does not.
func TestPromotionUsesFollowTheOrder(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	promos := promotions.NewService(e.db, "USD")
	limited := func(t *testing.T, limit int) *promotions.Promotion {
		t.Helper()
		p, err := promos.Create(ctx, promotions.PromotionInput{Name: "Limited", Code: ptr(uniq("LIM")),
			ValueType: promotions.FixedAmount, Value: "5.00", UsageLimit: &limit, IsActive: true})
		if err != nil {
			t.Fatalf("create promotion: %v", err)
		}
		return p
	}
	used := func(t *testing.T, p *promotions.Promotion) int {
		t.Helper()
		got, err := promos.ByID(ctx, p.ID)
		if err != nil || got == nil {
			t.Fatalf("read promotion: %v", err)
		}
		return got.TimesUsed
	}
	checkout := func(t *testing.T, code string) *orders.Order {
		t.Helper()
		in := input(line(e.product(t, "30.00", 5), 1))
		in.DiscountCodes = []string{code}
		return e.checkout(t, in).Order
	}

	t.Run("cancel gives the use back once, a late payment takes it again", func(t *testing.T) {
		p := limited(t, 1)
		o := checkout(t, *p.Code)
		if o.Discount.Amount != 5_00 || used(t, p) != 1 {
			t.Fatalf("discount %s, timesUsed %d; want 5.00 and 1", o.Discount, used(t, p))
		}
		if _, err := e.svc.Cancel(ctx, o.ID, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Cancel(ctx, o.ID, nil); err == nil {
			t.Fatal("a second cancellation succeeded")
		}
		if n := used(t, p); n != 0 {
			t.Errorf("timesUsed %d after the cancellation, want 0", n)
		}
		e.pay(t, o)
		if got := e.byID(t, o.ID); got.PaymentStatus != orders.PaymentPaid || used(t, p) != 1 {
			t.Errorf("late payment: %s, timesUsed %d; want PAID and 1", got.PaymentStatus, used(t, p))
		}
	})

	t.Run("a late payment is refunded when the uses are gone", func(t *testing.T) {
		p := limited(t, 1)
		o := checkout(t, *p.Code)
		if _, err := e.svc.Cancel(ctx, o.ID, nil); err != nil {
			t.Fatal(err)
		}
		checkout(t, *p.Code) // someone else takes the use given back
		e.pay(t, o)
		if got := e.byID(t, o.ID); got.Status != orders.Cancelled || got.PaymentStatus != orders.PaymentRefunded || used(t, p) != 1 {
			t.Errorf("late payment: %s/%s, timesUsed %d; want CANCELLED/REFUNDED and 1", got.Status, got.PaymentStatus, used(t, p))
		}
	})
}
