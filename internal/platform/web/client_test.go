package web

import (
	"context"
	"net/http"
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

// IPv6 callers are keyed by their /64, IPv4 callers by their address, so
// that per-client limits hold against a client rotating through its /64.
func TestClientNetwork(t *testing.T) {
	tests := []struct{ remote, want string }{
		{"203.0.113.7:5000", "203.0.113.7"},
		{"[2001:db8:1:2::1]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff:eeee:dddd:cccc]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:3::1]:443", "2001:db8:1:3::/64"},
		{"[::ffff:203.0.113.7]:80", "203.0.113.7"},
		{"[fe80::1%eth0]:80", "fe80::/64"},
	}
	for _, tt := range tests {
		t.Run(tt.remote, func(t *testing.T) {
			var got string
			h := WithClientIP(nil, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				got = ClientNetwork(r.Context())
			}))
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got != tt.want {
				t.Fatalf("ClientNetwork = %q, want %q", got, tt.want)
			}
		})
	}
	if got := ClientNetwork(context.Background()); got != "" {
		t.Errorf("ClientNetwork outside a request = %q, want empty", got)
	}
}

func TestNetworkOf(t *testing.T) {
	for _, tc := range []struct{ ip, want string }{
		{"", ""},
		{"203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:DB8:1:2::ff", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
		{"not an address", "not an address"},
	} {
		if got := NetworkOf(tc.ip); got != tc.want {
			t.Errorf("NetworkOf(%q) = %q, want %q", tc.ip, got, tc.want)
		}
	}
}
