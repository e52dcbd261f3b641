package orders_test

import (
	"context"
	"testing"

	"commerce/internal/carts"
	"commerce/internal/catalog"
	"commerce/internal/orders"
	"commerce/internal/payments"
	"commerce/internal/platform/db"
)

// BenchmarkCheckout measures a whole paid order of a 3-line cart: cart,
// checkout (with the payment intent against stripe-mock) and the
// payment_intent.succeeded event. It reports checkouts per second and the
// SQL statements of the checkout and of the payment, counted with the pgx
// tracer (BEGIN and COMMIT not counted).
func BenchmarkCheckout(b *testing.B) {
	e := setup(b)
	ctx := context.Background()
	products := []*catalog.Product{e.product(b, "12.50", 1_000_000), e.product(b, "3.99", 1_000_000), e.product(b, "60.00", 1_000_000)}
	var checkoutStatements, paymentStatements int64
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		var lines []carts.LineInput
		for q, p := range products {
			lines = append(lines, carts.LineInput{ProductID: ptr(p.ID), Quantity: q + 1})
		}
		cart, err := e.carts.Create(ctx, lines, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		in := input()
		in.Lines, in.CartID = nil, &cart.ID
		cctx, cc := db.WithStatementCounter(ctx)
		res, err := e.svc.Checkout(cctx, in)
		if err != nil {
			b.Fatal(err)
		}
		pctx, pc := db.WithStatementCounter(ctx)
		if err := e.svc.HandlePaymentEvent(pctx, paidEvent(res.Order)); err != nil {
			b.Fatal(err)
		}
		checkoutStatements += cc.Count()
		paymentStatements += pc.Count()
	}
	n := float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "checkouts/s")
	b.ReportMetric(float64(checkoutStatements)/n, "stmts/checkout")
	b.ReportMetric(float64(paymentStatements)/n, "stmts/payment")
}

func paidEvent(o *orders.Order) payments.Event { return event(payments.IntentSucceededEvent, o) }
