package orders

import "testing"

func TestClientNetwork(t *testing.T) {
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
		if got := clientNetwork(tc.ip); got != tc.want {
			t.Errorf("clientNetwork(%q) = %q, want %q", tc.ip, got, tc.want)
		}
	}
}
