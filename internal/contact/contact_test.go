package contact

import "testing"

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"  Alice@Example.COM ", "alice@example.com", true},
		{"bob+tag@shop.co.uk", "bob+tag@shop.co.uk", true},
		{"", "", false},
		{"not-an-email", "", false},
		{"a@b", "", false},
		{"Alice <alice@example.com>", "", false},
		{"a b@example.com", "", false},
		{"x@-bad.com", "", false},
		{"'; DROP TABLE customers;--@example.com", "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeEmail(tt.in, []string{"email"})
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"+1 (202) 555-0123", "+12025550123", true},
		{"+1 555 555 0199", "+15555550199", true},
		{"0044 20 7946 0958", "+442079460958", true},
		{"+49 30 901820", "+4930901820", true},
		{"202-555-0123", "", false},
		{"+1 012 555 0123", "", false},
		{"+1 202 555 012", "", false},
		{"+12", "", false},
		{"+1234567890123456", "", false},
		{"call me", "", false},
	}
	for _, tt := range tests {
		got, err := NormalizePhone(tt.in, []string{"phone"})
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
