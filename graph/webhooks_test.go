package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"commerce/internal/auth"
)

func (b *bundle) adminToken(t *testing.T) string {
	t.Helper()
	email := fmt.Sprintf("admin-%d@example.com", time.Now().UnixNano())
	id, err := b.staff.Create(context.Background(), email, "correct-horse", auth.Admin)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := b.tokens.Start(context.Background(), nil, auth.Principal{ID: id, Role: auth.Admin})
	return tok
}

// The webhook API is ADMIN's: anonymous callers are UNAUTHENTICATED and
// STAFF FORBIDDEN, for reads and writes alike.
func TestWebhookAccess(t *testing.T) {
	b := setup(t)
	staff := b.staffToken(t)
	ops := []string{
		`{ webhookEndpoints { totalCount } }`,
		`mutation { webhookEndpointCreate(input: {url: "https://example.com", topics: [ORDER_PAID]}) { secret } }`,
		`mutation { webhookEndpointRotateSecret(id: "00000000-0000-0000-0000-000000000001") { secret } }`,
		`mutation { webhookEndpointDelete(id: "00000000-0000-0000-0000-000000000001") { deletedId } }`,
		`mutation { webhookEndpointPing(id: "00000000-0000-0000-0000-000000000001") { delivery { id } } }`,
		`mutation { webhookDeliveryRetry(id: "00000000-0000-0000-0000-000000000001") { delivery { id } } }`,
	}
	for _, op := range ops {
		if got := code(b.do(t, "", op, nil)); got != "UNAUTHENTICATED" {
			t.Errorf("anonymous %s: %q, want UNAUTHENTICATED", op, got)
		}
		if got := code(b.do(t, staff, op, nil)); got != "FORBIDDEN" {
			t.Errorf("STAFF %s: %q, want FORBIDDEN", op, got)
		}
	}
}

// An ADMIN creates an endpoint and sees its secret once: no read returns
// it; a rotation returns a new one; bad input comes back as userErrors at
// its field, a literal private address included (WEBHOOK_ALLOW_PRIVATE is
// off here); a deleted endpoint is NOT_FOUND.
func TestWebhookEndpointLifecycle(t *testing.T) {
	b := setup(t)
	admin := b.adminToken(t)
	type payload struct {
		Endpoint *struct {
			ID, URL  string
			Topics   []string
			IsActive bool
		}
		Secret     *string
		UserErrors []struct {
			Field []string
			Code  string
		}
	}
	create := func(url string, topics ...string) payload {
		t.Helper()
		r := b.do(t, admin, `mutation($in: WebhookEndpointInput!) { webhookEndpointCreate(input: $in) {
			endpoint { id url topics isActive } secret userErrors { field code } } }`,
			map[string]any{"in": map[string]any{"url": url, "topics": topics}})
		if len(r.Errors) > 0 {
			t.Fatalf("create: %+v", r.Errors)
		}
		var p payload
		_ = json.Unmarshal(r.Data["webhookEndpointCreate"], &p)
		return p
	}
	for _, tc := range []struct{ url, field string }{
		{"http://example.com/hook", "input.url"},
		{"https://10.0.0.7/hook", "input.url"},
		{"https://169.254.169.254/", "input.url"},
		{"https://example.com/hook", "input.topics"},
	} {
		topics := []string{"ORDER_PAID"}
		if tc.field == "input.topics" {
			topics = []string{"PING"}
		}
		p := create(tc.url, topics...)
		if p.Endpoint != nil || p.Secret != nil || len(p.UserErrors) != 1 || strings.Join(p.UserErrors[0].Field, ".") != tc.field {
			t.Errorf("create %s %v: %+v, want one userError at %s", tc.url, topics, p, tc.field)
		}
	}

	p := create("https://hooks.example.com/commerce", "ORDER_PAID", "ORDER_CREATED", "ORDER_PAID")
	if p.Endpoint == nil || p.Secret == nil || !strings.HasPrefix(*p.Secret, "whsec_") || !p.Endpoint.IsActive ||
		strings.Join(p.Endpoint.Topics, ",") != "ORDER_CREATED,ORDER_PAID" {
		t.Fatalf("create: %+v", p)
	}
	secret := *p.Secret
	list := b.do(t, admin, `{ webhookEndpoints { totalCount edges { node { id url description topics isActive createdAt
		deliveries { totalCount } } } } }`, nil)
	if len(list.Errors) > 0 || !strings.Contains(string(list.Data["webhookEndpoints"]), p.Endpoint.ID) {
		t.Fatalf("list: %+v %s", list.Errors, list.Data["webhookEndpoints"])
	}
	if strings.Contains(string(list.Data["webhookEndpoints"]), secret) {
		t.Errorf("the secret is readable through webhookEndpoints")
	}

	r := b.do(t, admin, `mutation($id: ID!) { webhookEndpointRotateSecret(id: $id) { secret userErrors { code } } }`,
		map[string]any{"id": p.Endpoint.ID})
	var rotated payload
	_ = json.Unmarshal(r.Data["webhookEndpointRotateSecret"], &rotated)
	if rotated.Secret == nil || *rotated.Secret == secret {
		t.Errorf("rotate: %+v, want a new secret", rotated)
	}

	del := func() string {
		r := b.do(t, admin, `mutation($id: ID!) { webhookEndpointDelete(id: $id) { deletedId userErrors { code } } }`,
			map[string]any{"id": p.Endpoint.ID})
		return string(r.Data["webhookEndpointDelete"])
	}
	if got := del(); !strings.Contains(got, p.Endpoint.ID) {
		t.Errorf("delete: %s", got)
	}
	if got := del(); !strings.Contains(got, `"NOT_FOUND"`) || !strings.Contains(got, `"deletedId":null`) {
		t.Errorf("second delete: %s, want NOT_FOUND", got)
	}
}
