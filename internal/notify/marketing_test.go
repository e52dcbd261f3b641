package notify_test

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"commerce/internal/jobs"
	"commerce/internal/notify"
	"commerce/internal/platform/dbtest"
	"commerce/internal/platform/mailtest"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func TestUnsubscribeTokenRoundTrip(t *testing.T) {
	token := notify.UnsubscribeToken(secret, "ada@example.com")
	enc, sig, _ := strings.Cut(token, ".")
	tests := []struct {
		name   string
		secret []byte
		token  string
		want   string // "" for a refusal
	}{
		{"valid", secret, token, "ada@example.com"},
		{"other secret", []byte("another-secret-another-secret-xx"), token, ""},
		{"no secret", nil, token, ""},
		{"other email, same signature", secret, "Ym9iQGV4YW1wbGUuY29t." + sig, ""},
		{"signature cut short", secret, enc + "." + sig[:10], ""},
		{"no signature", secret, enc, ""},
		{"not base64", secret, "***." + sig, ""},
		{"empty", secret, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := notify.ParseUnsubscribeToken(tc.secret, tc.token)
			if ok != (tc.want != "") || got != tc.want {
				t.Errorf("ParseUnsubscribeToken = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}

func TestMarketingTemplates(t *testing.T) {
	tmpl := loadTemplates(t)
	for _, name := range notify.MarketingTemplates() {
		if !notify.IsMarketing(name) || !tmpl.Has(notify.Email, name) {
			t.Errorf("%s: IsMarketing = %v, email template = %v", name, notify.IsMarketing(name), tmpl.Has(notify.Email, name))
		}
	}
	for _, name := range []string{"order-confirmation", "order-shipped", "payment-failed", "delivery-confirmation", "order-shipped-sms"} {
		if notify.IsMarketing(name) {
			t.Errorf("%s is transactional, IsMarketing says marketing", name)
		}
	}
}

// unsubscribe records an unsubscribe as customers.Service.Unsubscribe does.
func unsubscribe(t *testing.T, b *bundle, email string) {
	t.Helper()
	_, err := b.db.Bun.ExecContext(context.Background(),
		`INSERT INTO marketing_unsubscribes (email) VALUES (?) ON CONFLICT DO NOTHING`, email)
	if err != nil {
		t.Fatal(err)
	}
}

func TestEnqueueSkipsMarketingToUnsubscribed(t *testing.T) {
	svc, b := setup(t, quietSender(), 3)
	gone, still := recipient("gone"), recipient("still")
	unsubscribe(t, b, gone)
	tests := []struct {
		name     string
		to       string
		template string
		written  bool
	}{
		{"marketing to an unsubscribed address", gone, "abandoned-cart", false},
		{"another marketing template", gone, "review-request", false},
		{"same address, other spelling", "  " + strings.ToUpper(gone), "review-request", false},
		{"transactional to an unsubscribed address", gone, "order-confirmation", true},
		{"marketing to a subscribed address", still, "abandoned-cart", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, err := svc.Count(context.Background(), notify.Filter{To: tc.to, Template: tc.template})
			if err != nil {
				t.Fatal(err)
			}
			m := notify.Message{Channel: notify.Email, To: tc.to, Template: tc.template,
				Data: map[string]any{"order_number": "ORD-7K2M9QX4HB"}}
			if tc.written {
				enqueue(t, svc, b, m)
			} else if err := b.db.RunInTx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
				return svc.Enqueue(ctx, tx, m)
			}); err != nil {
				t.Fatalf("Enqueue = %v, want nil", err)
			}
			after, err := svc.Count(context.Background(), notify.Filter{To: tc.to, Template: tc.template})
			if err != nil {
				t.Fatal(err)
			}
			if got := after - before; got != map[bool]int{true: 1, false: 0}[tc.written] {
				t.Errorf("Enqueue wrote %d rows, want written=%v", got, tc.written)
			}
		})
	}
}

func TestDeliverAddsUnsubscribeToMarketingEmails(t *testing.T) {
	mail := mailtest.Start(t)
	d := dbtest.DB(t)
	inserter, err := jobs.NewInserter(d)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	svc, err := notify.NewService(d, inserter, smtpSender(t, mail.SMTPURL()), notify.LogSender{Log: log}, notify.Config{
		From: "shop@example.com", MaxAttempts: 3, RetryBase: time.Second, StorefrontURL: "https://shop.example.com",
		PublicBaseURL: "https://api.example.com/", UnsubscribeSecret: secret,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{db: d, inserter: inserter}

	tests := []struct {
		template  string
		marketing bool
	}{
		{"review-request", true},
		{"abandoned-cart", true},
		{"delivery-confirmation", false},
	}
	for _, tc := range tests {
		t.Run(tc.template, func(t *testing.T) {
			to := recipient(tc.template)
			id := enqueue(t, svc, b, notify.Message{Channel: notify.Email, To: to, Template: tc.template,
				Data: map[string]any{"order_number": "ORD-7K2M9QX4HB", "customer_name": "Ada"}})
			if err := svc.Deliver(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			m := messageTo(t, mail, to)
			link := m.Header(notify.HeaderListUnsubscribe)
			if !tc.marketing {
				if link != "" || m.Header(notify.HeaderListUnsubscribePost) != "" || strings.Contains(m.Text, "Unsubscribe") {
					t.Errorf("transactional email carries an unsubscribe: %q\n%s", link, m.Text)
				}
				return
			}
			want := "https://api.example.com/unsubscribe?token=" + url.QueryEscape(notify.UnsubscribeToken(secret, to))
			if link != "<"+want+">" || m.Header(notify.HeaderListUnsubscribePost) != "List-Unsubscribe=One-Click" {
				t.Errorf("headers: %s = %q, %s = %q; want <%s>", notify.HeaderListUnsubscribe, link,
					notify.HeaderListUnsubscribePost, m.Header(notify.HeaderListUnsubscribePost), want)
			}
			if !strings.Contains(m.Text, "Unsubscribe from marketing emails: "+want) || !strings.Contains(m.HTML, `href="`+want+`"`) {
				t.Errorf("bodies lack the link %s:\n%s\n%s", want, m.Text, m.HTML)
			}
			// The link is made at send time: the stored data holds no token.
			p, err := svc.List(context.Background(), notify.Filter{To: to}, nil, "")
			if err != nil || len(p.Edges) != 1 {
				t.Fatalf("List = %v, %v", p, err)
			}
			if _, ok := p.Edges[0].Node.Data["unsubscribe_url"]; ok {
				t.Error("the unsubscribe link was stored with the notification")
			}
		})
	}
}

// messageTo returns the one message mailpit holds for to.
func messageTo(t *testing.T, mail *mailtest.Server, to string) mailtest.Full {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, m := range mail.Messages(t) {
			for _, a := range m.To {
				if a == to {
					return mail.Message(t, m.ID)
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message to %s", to)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
