package web

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
)

const (
	clientIPKey ctxKey = iota + 100
	headerSinkKey
)

// WithClientIP puts the caller's IP in the request context: the peer's
// address, or, when the peer is a trusted proxy, the nearest address in
// X-Forwarded-For that is not itself a trusted proxy. A client cannot forge
// its address through a header unless it is one of our proxies.
func WithClientIP(trusted []netip.Prefix, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := clientIP(r, trusted)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientIPKey, ip)))
	})
}

// ClientIP returns the caller's IP, or "" outside a request.
func ClientIP(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey).(string)
	return ip
}

// ClientNetwork returns the key per-client limits count under: the
// caller's IP for IPv4, and for IPv6 its /64 ("2001:db8:1:2::/64"), since
// one subscriber is routinely given a whole /64 and could otherwise rotate
// through its addresses to multiply every limit. Logs keep ClientIP, the
// full address. It returns "" outside a request.
func ClientNetwork(ctx context.Context) string { return NetworkOf(ClientIP(ctx)) }

// NetworkOf is the network a client address stands for: an IPv4 address
// itself, an IPv6 address its /64 (one subscriber's network in practice,
// where a client may pick any address), "" for none. Anything that does
// not parse is kept as it is.
func NetworkOf(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a = a.Unmap(); a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a.WithZone(""), 64).Masked().String()
}

func clientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: trust nothing further left
		}
		if a = a.Unmap(); !isTrusted(a, trusted) {
			return a.String()
		}
	}
	return peer.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// headerSink lets code deep in a request (a rate-limited resolver) set
// response headers; resolvers run concurrently, so it locks.
type headerSink struct {
	mu sync.Mutex
	h  http.Header
}

// WithResponseHeaders makes SetHeader write to this request's response.
func WithResponseHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sink := &headerSink{h: w.Header()}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), headerSinkKey, sink)))
	})
}

// SetHeader sets a response header of the current request, if the response
// has not been written yet; outside a request it does nothing.
func SetHeader(ctx context.Context, key, value string) {
	if s, ok := ctx.Value(headerSinkKey).(*headerSink); ok {
		s.mu.Lock()
		s.h.Set(key, value)
		s.mu.Unlock()
	}
}
