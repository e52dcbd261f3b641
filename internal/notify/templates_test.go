package notify_test

import (
	"slices"
	"strings"
	"testing"

	"commerce/internal/notify"
)

func lines() []any {
	return []any{
		map[string]any{"name": "Linen shirt", "sku": "SH-1", "quantity": 2, "unit_price": "39.00 USD", "line_total": "78.00 USD"},
		map[string]any{"name": "Canvas tote", "sku": "TO-9", "quantity": 1, "unit_price": "18.50 USD", "line_total": "18.50 USD"},
	}
}

// templateCases holds realistic data for every template, and a phrase each
// rendering must contain.
var templateCases = []struct {
	name    string
	channel notify.Channel
	data    map[string]any
	want    string
}{
	{"low-stock-alert", notify.Email, map[string]any{"product_name": "Linen shirt", "sku": "SH-1", "available_quantity": 3, "threshold": 5}, "Available: 3"},
	{"order-confirmation", notify.Email, map[string]any{
		"order_number": "ORD-7K2M9QX4HB", "customer_name": "Ada", "lines": lines(), "subtotal": "96.50 USD",
		"discount": "5.00 USD", "shipping": "10.00 USD", "shipping_method": "Express", "tax": "9.15 USD", "total": "110.65 USD",
		"tax_lines": []any{map[string]any{"name": "GST", "rate": "5%", "amount": "4.58 USD"}, map[string]any{"name": "PST", "rate": "7.25%", "amount": "4.57 USD"}},
		"order_url": "https://shop.example.com/orders/ORD-7K2M9QX4HB?token=abc",
	}, "Total:    110.65 USD"},
	{"order-failed-inventory", notify.Email, map[string]any{"order_number": "ORD-7K2M9QX4HB", "customer_name": "Ada", "reason": "Linen shirt sold out", "refund_amount": "110.65 USD"}, "refunded 110.65 USD"},
	{"payment-timeout", notify.Email, map[string]any{"order_number": "ORD-7K2M9QX4HB", "customer_name": "Ada", "total": "110.65 USD"}, "in time"},
	{"payment-failed", notify.Email, map[string]any{"order_number": "ORD-7K2M9QX4HB", "customer_name": "Ada", "total": "110.65 USD", "reason": "Your card was declined.", "order_url": "https://shop.example.com/orders/ORD-7K2M9QX4HB"}, "Your card was declined."},
	{"order-shipped", notify.Email, map[string]any{"order_number": "ORD-7K2M9QX4HB", "customer_name": "Ada", "carrier": "UPS", "tracking_number": "1Z999AA10123456784", "tracking_url": "https://track.example.com/1Z999AA10123456784",
		"partial": true, "lines": []any{map[string]any{"name": "Linen shirt", "variant": "M / Blue", "quantity": 1}}}, "1 x Linen shirt (M / Blue)"},
	{"order-shipped-sms", notify.SMS, map[string]any{"order_number": "ORD-7K2M9QX4HB", "carrier": "UPS", "tracking_number": "1Z999AA10123456784", "tracking_url": "https://track.example.com/1Z999AA10123456784",
		"units": "1 x Linen shirt (M / Blue)"}, "Your order ORD-7K2M9QX4HB has shipped with UPS: 1 x Linen shirt (M / Blue). Tracking:"},
	{"fulfillment-reminder", notify.Email, map[string]any{"order_number": "ORD-7K2M9QX4HB", "order_id": "5f0c6f1e-3f7e-4a51-9d0b-1f4a6d2f9c11", "placed_at": "2026-11-25 09:14 UTC", "lines": lines()}, "has not been fulfilled yet"},
	{"abandoned-cart", notify.Email, map[string]any{"customer_name": "Ada", "lines": lines(), "subtotal": "96.50 USD", "cart_url": "https://shop.example.com/cart/42"}, "2 x Linen shirt  78.00 USD"},
	{"review-request", notify.Email, map[string]any{"customer_name": "Ada", "order_number": "ORD-7K2M9QX4HB", "lines": []any{map[string]any{"name": "Linen shirt", "review_url": "https://shop.example.com/p/sh-1#review"}}, "review_url": "https://shop.example.com/review/ORD-7K2M9QX4HB"}, "Linen shirt: https://shop.example.com/p/sh-1#review"},
	{"password-reset", notify.Email, map[string]any{"customer_name": "Ada", "reset_url": "https://shop.example.com/reset-password?token=abc", "expires_hours": 1}, "https://shop.example.com/reset-password?token=abc"},
	{"email-verification", notify.Email, map[string]any{"customer_name": "Ada", "verify_url": "https://shop.example.com/verify-email?token=abc", "expires_hours": 72}, "https://shop.example.com/verify-email?token=abc"},
	{"password-changed", notify.Email, map[string]any{"customer_name": "Ada"}, "was just changed"},
	{"account-deleted", notify.Email, map[string]any{"customer_name": "Ada"}, "personal details were deleted"},
	{"staff-invite", notify.Email, map[string]any{"name": "Grace", "role": "STAFF", "set_password_url": "https://api.example.com/admin/set-password?token=abc", "expires_hours": 72}, "https://api.example.com/admin/set-password?token=abc"},
	{"delivery-confirmation", notify.Email, map[string]any{"customer_name": "Ada", "order_number": "ORD-7K2M9QX4HB", "order_url": "https://shop.example.com/orders/ORD-7K2M9QX4HB"}, "should have reached you"},
	{"order-refunded", notify.Email, map[string]any{"order_number": "ORD-7K2M9QX4HB", "customer_name": "Ada", "amount": "32.10 USD", "lines": []any{map[string]any{"name": "Linen shirt", "variant": "M / Blue", "quantity": 1}}, "includes_shipping": true, "reason": "Damaged in transit", "order_url": "https://shop.example.com/orders/ORD-7K2M9QX4HB"}, "We have refunded 32.10 USD for order ORD-7K2M9QX4HB"},
	{"return-requested", notify.Email, map[string]any{"order_number": "ORD-7K2M9QX4HB", "customer_name": "Ada", "return_number": "RET-3J8W1QZ6TN", "lines": []any{map[string]any{"name": "Linen shirt", "variant": "M / Blue", "quantity": 1, "reason": "Too small"}}, "note": "Can I swap it?", "order_url": "https://shop.example.com/orders/ORD-7K2M9QX4HB"}, "1 x Linen shirt (M / Blue): Too small"},
	{"return-approved", notify.Email, map[string]any{"order_number": "ORD-7K2M9QX4HB", "customer_name": "Ada", "return_number": "RET-3J8W1QZ6TN", "lines": []any{map[string]any{"name": "Linen shirt", "quantity": 1}}, "note": "Use the prepaid label.", "order_url": "https://shop.example.com/orders/ORD-7K2M9QX4HB"}, "Your return RET-3J8W1QZ6TN for order ORD-7K2M9QX4HB is approved"},
	{"return-rejected", notify.Email, map[string]any{"order_number": "ORD-7K2M9QX4HB", "customer_name": "Ada", "return_number": "RET-3J8W1QZ6TN", "lines": []any{map[string]any{"name": "Linen shirt", "quantity": 1}}, "note": "Worn items cannot be returned.", "order_url": "https://shop.example.com/orders/ORD-7K2M9QX4HB"}, "Reason: Worn items cannot be returned."},
	{"return-refunded", notify.Email, map[string]any{"order_number": "ORD-7K2M9QX4HB", "customer_name": "Ada", "return_number": "RET-3J8W1QZ6TN", "amount": "27.50 USD", "lines": []any{map[string]any{"name": "Linen shirt", "quantity": 1}}, "order_url": "https://shop.example.com/orders/ORD-7K2M9QX4HB"}, "we have refunded 27.50 USD"},
	{"daily-inventory-report", notify.Email, map[string]any{"date": "2026-11-25", "low_stock_count": 1, "low_stock_products": []any{map[string]any{"name": "Linen shirt", "sku": "SH-1", "available_quantity": 3, "threshold": 5}}}, "SH-1  Linen shirt: 3 available (threshold 5)"},
}

func loadTemplates(t *testing.T) *notify.Templates {
	t.Helper()
	tmpl, err := notify.LoadTemplates()
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

func TestRenderEveryTemplate(t *testing.T) {
	tmpl := loadTemplates(t)
	for _, tc := range templateCases {
		t.Run(tc.name, func(t *testing.T) {
			if !tmpl.Has(tc.channel, tc.name) {
				t.Fatalf("no %s template %s", tc.channel, tc.name)
			}
			tc.data["storefront_url"] = "https://shop.example.com"
			r, err := tmpl.Render(tc.name, tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(r.Text, tc.want) {
				t.Errorf("text lacks %q:\n%s", tc.want, r.Text)
			}
			if strings.Contains(r.Text+r.Subject+r.HTML, "no value") {
				t.Errorf("a value is missing:\n%s\n%s\n%s", r.Subject, r.Text, r.HTML)
			}
			if tc.channel == notify.SMS {
				if r.Subject != "" || r.HTML != "" || len(r.Text) > 320 {
					t.Errorf("sms rendering = %+v", r)
				}
				return
			}
			if r.Subject == "" || strings.Contains(r.Subject, "\n") {
				t.Errorf("subject = %q", r.Subject)
			}
			if !strings.HasPrefix(r.HTML, "<!DOCTYPE html>") || !strings.Contains(r.HTML, "https://shop.example.com") {
				t.Errorf("html:\n%s", r.HTML)
			}
		})
	}
}

func TestRenderCoversEveryTemplate(t *testing.T) {
	tmpl := loadTemplates(t)
	want := []string{"low-stock-alert", "order-confirmation", "order-failed-inventory", "payment-timeout",
		"payment-failed", "order-shipped", "order-shipped-sms", "fulfillment-reminder", "abandoned-cart",
		"review-request", "delivery-confirmation", "daily-inventory-report", "order-refunded", "return-requested",
		"return-approved", "return-rejected", "return-refunded"}
	var tested []string
	for _, tc := range templateCases {
		tested = append(tested, tc.name)
	}
	for _, name := range want {
		if !slices.Contains(tested, name) {
			t.Errorf("no test case for %s", name)
		}
		if !tmpl.Has(notify.Email, name) && !tmpl.Has(notify.SMS, name) {
			t.Errorf("template %s is missing", name)
		}
	}
	if tmpl.Has(notify.Email, "order-shipped-sms") || tmpl.Has(notify.SMS, "order-shipped") {
		t.Error("a template is registered for the wrong channel")
	}
}

func TestRenderEscapesHTMLButNotText(t *testing.T) {
	tmpl := loadTemplates(t)
	r, err := tmpl.Render("low-stock-alert", map[string]any{
		"product_name": `<script>alert("x")</script>`, "sku": "A&B", "available_quantity": 1, "threshold": 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.HTML, "<script>") || !strings.Contains(r.HTML, "&lt;script&gt;") {
		t.Errorf("html not escaped:\n%s", r.HTML)
	}
	if !strings.Contains(r.Text, `<script>alert("x")</script> (SKU A&B)`) {
		t.Errorf("text should be verbatim:\n%s", r.Text)
	}
}

func TestRenderRefusesUnsafeURLs(t *testing.T) {
	tmpl := loadTemplates(t)
	r, err := tmpl.Render("order-shipped", map[string]any{"tracking_url": "javascript:alert(1)"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.HTML, "javascript:") {
		t.Errorf("unsafe URL kept:\n%s", r.HTML)
	}
}

func TestRenderMissingKeysRenderEmpty(t *testing.T) {
	tmpl := loadTemplates(t)
	for _, tc := range templateCases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tmpl.Render(tc.name, map[string]any{})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(r.Subject+r.Text+r.HTML, "no value") || strings.Contains(r.Text, "<nil>") {
				t.Errorf("missing keys printed:\n%s\n%s\n%s", r.Subject, r.Text, r.HTML)
			}
		})
	}
}

func TestRenderGreetsByName(t *testing.T) {
	tmpl := loadTemplates(t)
	for name, want := range map[string]string{"Ada": "Hi Ada,", "": "Hi there,"} {
		data := map[string]any{"order_number": "ORD-1"}
		if name != "" {
			data["customer_name"] = name
		}
		r, err := tmpl.Render("delivery-confirmation", data)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(r.Text, want) || !strings.Contains(r.HTML, want) {
			t.Errorf("name %q: want %q in\n%s", name, want, r.Text)
		}
	}
}

func TestRenderSubjectIsOneLine(t *testing.T) {
	tmpl := loadTemplates(t)
	r, err := tmpl.Render("order-shipped", map[string]any{"order_number": "ORD-1\r\nBcc: victim@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != "Order ORD-1 Bcc: victim@example.com has shipped" {
		t.Errorf("subject = %q", r.Subject)
	}
}

func TestRenderErrors(t *testing.T) {
	tmpl := loadTemplates(t)
	if _, err := tmpl.Render("no-such-template", nil); err == nil {
		t.Error("unknown template rendered")
	}
	if _, err := tmpl.Render("abandoned-cart", map[string]any{"lines": "not a list"}); err == nil {
		t.Error("ranging over a string rendered")
	}
}
