package web

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name, remote, xff string
		trusted           []netip.Prefix
		want              string
	}{
		{"no proxy", "203.0.113.7:5000", "", nil, "203.0.113.7"},
		{"forged header from an untrusted peer", "203.0.113.7:5000", "198.51.100.1", proxies, "203.0.113.7"},
		{"trusted proxy", "10.1.2.3:80", "198.51.100.1", proxies, "198.51.100.1"},
		{"chain of trusted proxies", "10.1.2.3:80", "198.51.100.1, 10.9.9.9", proxies, "198.51.100.1"},
		{"client-supplied left part ignored", "10.1.2.3:80", "1.1.1.1, 198.51.100.1", proxies, "198.51.100.1"},
		{"malformed hop", "10.1.2.3:80", "junk", proxies, "10.1.2.3"},
		{"ipv6 peer", "[2001:db8::1]:443", "", nil, "2001:db8::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := clientIP(r, tt.trusted); got != tt.want {
				t.Fatalf("clientIP = %q, want %q", got, tt.want)
			}
		})
	}
}
