package webhooks

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"

	"commerce/internal/apperr"
)

// errBlockedAddress is a connection refused by the address guard.
var errBlockedAddress = errors.New("address not allowed")

// blockedPrefixes are the ranges outside the ones netip classifies
// (loopback, private, link-local, unspecified, multicast) that a webhook
// must not reach: this host's network, carrier-grade NAT, benchmarking and
// reserved space, and the metadata addresses clouds serve outside
// link-local.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("fd00:ec2::254/128"),
}

// blocked reports whether a is an address no webhook may reach: loopback,
// private, link-local (the metadata address 169.254.169.254 among them),
// unspecified, multicast or one of blockedPrefixes. IPv4-mapped IPv6
// addresses are judged as IPv4.
func blocked(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return true
	}
	for _, p := range blockedPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// guardControl is the net.Dialer Control function of the sender: it runs
// after DNS resolution with the address about to be connected, so a name
// that resolves (or re-resolves) to a blocked address is refused too.
func guardControl(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", errBlockedAddress, address)
	}
	a, err := netip.ParseAddr(host)
	if err != nil || blocked(a) {
		return fmt.Errorf("%w: %s", errBlockedAddress, host)
	}
	return nil
}

// maxURLLength bounds an endpoint URL.
const maxURLLength = 2000

// checkURL validates an endpoint URL at creation or update: absolute, with
// a host, no credentials, https unless allowPrivate, and, unless
// allowPrivate, not an IP literal (or localhost) that the guard would
// refuse when sending. Names are judged when sending, after resolution.
// It returns an apperr Invalid error on field path.
func checkURL(raw string, allowPrivate bool, path []string) (string, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	switch {
	case raw == "" || len(raw) > maxURLLength || err != nil || u.Host == "" || u.Hostname() == "":
		return "", apperr.InvalidField(path, "must be an absolute https URL")
	case u.Scheme != "https" && !(allowPrivate && u.Scheme == "http"):
		return "", apperr.InvalidField(path, "must use https")
	case u.User != nil:
		return "", apperr.InvalidField(path, "must not hold credentials")
	case u.Fragment != "":
		return "", apperr.InvalidField(path, "must not have a fragment")
	}
	if allowPrivate {
		return u.String(), nil
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return "", apperr.InvalidField(path, "must not point at a loopback, private, link-local or metadata address")
	}
	if a, err := netip.ParseAddr(host); err == nil && blocked(a) {
		return "", apperr.InvalidField(path, "must not point at a loopback, private, link-local or metadata address")
	}
	return u.String(), nil
}
