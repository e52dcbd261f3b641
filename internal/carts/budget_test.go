package carts_test

import (
	"context"
	"testing"

	"commerce/internal/carts"
	"commerce/internal/platform/db"
)

// TestCartStatementBudgets holds the cart's writes to their statements
// (BEGIN and COMMIT not counted), for a shopper with an email, whose
// changes schedule the abandoned-cart reminder (one River insert):
// creating a cart with lines is the variants' load, one INSERT of the cart
// with its lines, and the reminder; adding lines is the variants' load, the
// cart's lock, one upsert of all lines that checks the cart's bounds
// itself (no read of the lines before the write), the touch that returns
// the cart with its lines, and the reminder; a change of the email is the
// lock, the update, the touch and the reminder. Before issue 20 they were
// 5, 7 and 6 (every change read the lines twice).
func TestCartStatementBudgets(t *testing.T) {
	svc, b := setup(t)
	ctx := context.Background()
	var lines []carts.LineInput
	for range 3 {
		lines = append(lines, byID(newProduct(t, b, "3.00"), 1))
	}
	email := "budget@example.com"

	cctx, created := db.WithStatementCounter(ctx)
	c, err := svc.Create(cctx, lines, &email, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := created.Count(); n > 3 {
		t.Errorf("cart created with 3 lines: %d statements, budget 3", n)
	}
	actx, added := db.WithStatementCounter(ctx)
	if _, err := svc.AddLines(actx, c.ID, lines); err != nil {
		t.Fatal(err)
	}
	if n := added.Count(); n > 5 {
		t.Errorf("3 lines added: %d statements, budget 5", n)
	}
	ectx, emailed := db.WithStatementCounter(ctx)
	if _, err := svc.UpdateEmail(ectx, c.ID, "budget2@example.com", nil); err != nil {
		t.Fatal(err)
	}
	if n := emailed.Count(); n > 4 {
		t.Errorf("email changed: %d statements, budget 4", n)
	}
	t.Logf("create with 3 lines: %d statements; add 3 lines: %d; change the email: %d", created.Count(), added.Count(), emailed.Count())
}
