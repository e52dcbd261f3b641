package notify_test

import (
	"context"
	"strings"
	"testing"

	"commerce/internal/apperr"
	"commerce/internal/notify"
)

func TestListPaginatesNewestFirst(t *testing.T) {
	svc, b := setup(t, quietSender(), 3)
	to := recipient("list")
	var ids []string // oldest first
	for range 5 {
		ids = append(ids, enqueue(t, svc, b, lowStock(to)))
	}
	ctx := context.Background()
	two := 2

	var got []string
	after := ""
	for page := 0; ; page++ {
		p, err := svc.List(ctx, notify.Filter{To: to}, &two, after)
		if err != nil {
			t.Fatal(err)
		}
		if p.HasPreviousPage != (page > 0) {
			t.Errorf("page %d: HasPreviousPage = %v", page, p.HasPreviousPage)
		}
		for _, e := range p.Edges {
			got = append(got, e.Node.ID)
		}
		if !p.HasNextPage {
			break
		}
		if len(p.Edges) != 2 {
			t.Fatalf("page %d has %d edges and a next page", page, len(p.Edges))
		}
		after = p.Edges[len(p.Edges)-1].Cursor
	}
	if len(got) != 5 {
		t.Fatalf("listed %d notifications, want 5", len(got))
	}
	for i, id := range got {
		if id != ids[4-i] {
			t.Fatalf("order = %v, want newest first of %v", got, ids)
		}
	}
}

func TestListFilters(t *testing.T) {
	svc, b := setup(t, quietSender(), 3)
	to := recipient("filter")
	enqueue(t, svc, b, lowStock(to))
	enqueue(t, svc, b, notify.Message{Channel: notify.Email, To: to, Template: "order-shipped",
		Data: map[string]any{"order_number": "ORD-1", "tracking_number": "1Z"}})
	enqueue(t, svc, b, lowStock(recipient("other")))
	ctx := context.Background()

	tests := []struct {
		name   string
		filter notify.Filter
		want   int
	}{
		{"recipient", notify.Filter{To: to}, 2},
		{"recipient in any case", notify.Filter{To: " " + strings.ToUpper(to)}, 2},
		{"recipient and template", notify.Filter{To: to, Template: "order-shipped"}, 1},
		{"template of another recipient", notify.Filter{To: to, Template: "payment-failed"}, 0},
		{"unknown recipient", notify.Filter{To: "nobody@example.com"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := svc.List(ctx, tc.filter, nil, "")
			if err != nil {
				t.Fatal(err)
			}
			n, err := svc.Count(ctx, tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Edges) != tc.want || n != tc.want || p.HasNextPage {
				t.Errorf("listed %d, counted %d, want %d", len(p.Edges), n, tc.want)
			}
			for _, e := range p.Edges {
				if e.Node.To != to || (tc.filter.Template != "" && e.Node.Template != tc.filter.Template) {
					t.Errorf("unexpected %+v", e.Node)
				}
			}
		})
	}

	all, err := svc.Count(ctx, notify.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	byTemplate, err := svc.Count(ctx, notify.Filter{Template: "low-stock-alert"})
	if err != nil {
		t.Fatal(err)
	}
	if all < 3 || byTemplate < 2 || byTemplate >= all {
		t.Errorf("count all = %d, low-stock-alert = %d", all, byTemplate)
	}
}

func TestListPageSizes(t *testing.T) {
	svc, b := setup(t, quietSender(), 3)
	for range notify.DefaultPageSize + 1 {
		enqueue(t, svc, b, lowStock(recipient("size")))
	}
	ctx := context.Background()
	p, err := svc.List(ctx, notify.Filter{}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Edges) != notify.DefaultPageSize || !p.HasNextPage {
		t.Errorf("default page: %d edges, next %v", len(p.Edges), p.HasNextPage)
	}
	zero := 0
	if p, err := svc.List(ctx, notify.Filter{}, &zero, ""); err != nil || len(p.Edges) != 0 || !p.HasNextPage {
		t.Errorf("first 0: %+v, %v", p, err)
	}
}

func TestListRejectsBadArguments(t *testing.T) {
	svc, _ := setup(t, quietSender(), 3)
	tooMany, negative := notify.MaxPageSize+1, -1
	tests := []struct {
		name  string
		first *int
		after string
		field string
	}{
		{"first above the maximum", &tooMany, "", "first"},
		{"negative first", &negative, "", "first"},
		{"cursor not base64", nil, "%%%", "after"},
		{"cursor of something else", nil, "b3JkZXI6MTI", "after"},         // "order:12"
		{"cursor with a bad number", nil, "bm90aWZpY2F0aW9uOng", "after"}, // "notification:x"
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.List(context.Background(), notify.Filter{}, tc.first, tc.after)
			list, ok := apperr.UserErrors(err)
			if !ok || apperr.KindOf(err) != apperr.Invalid || len(list) != 1 || list[0].Field[0] != tc.field {
				t.Errorf("List = %v, want an Invalid userError on %s", err, tc.field)
			}
		})
	}
}

// Pending counts the outbox's backlog: a notification waits until it is
// delivered.
func TestPending(t *testing.T) {
	svc, b := setup(t, quietSender(), 3)
	ctx := context.Background()
	before, err := svc.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	to := recipient("pending")
	first := enqueue(t, svc, b, lowStock(to))
	enqueue(t, svc, b, lowStock(to))
	if n, err := svc.Pending(ctx); err != nil || n != before+2 {
		t.Fatalf("pending after two enqueues: %d %v, want %d", n, err, before+2)
	}
	if err := svc.Deliver(ctx, first); err != nil {
		t.Fatal(err)
	}
	if n, err := svc.Pending(ctx); err != nil || n != before+1 {
		t.Errorf("pending after one delivery: %d %v, want %d", n, err, before+1)
	}
}

// The log never shows a single-use link that would let its reader take the
// account over; the rest of the data stays readable.
func TestListHidesSignInLinks(t *testing.T) {
	svc, b := setup(t, quietSender(), 3)
	to := recipient("links")
	enqueue(t, svc, b, notify.Message{Channel: notify.Email, To: to, Template: "password-reset",
		Data: map[string]any{"customer_name": "Ada", "reset_url": "https://shop.example.com/reset-password?token=secret", "expires_hours": 1}})
	p, err := svc.List(context.Background(), notify.Filter{To: to}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Edges) != 1 {
		t.Fatalf("%d notifications listed", len(p.Edges))
	}
	d := p.Edges[0].Node.Data
	if u, _ := d["reset_url"].(string); strings.Contains(u, "secret") || d["customer_name"] != "Ada" {
		t.Errorf("listed data %v: the link must be hidden, the rest kept", d)
	}
}
