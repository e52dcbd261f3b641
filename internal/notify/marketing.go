package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
)

// The headers of RFC 2369 and RFC 8058 that let a mail client offer a
// one-click unsubscribe.
const (
	HeaderListUnsubscribe     = "List-Unsubscribe"
	HeaderListUnsubscribePost = "List-Unsubscribe-Post"
)

// UnsubscribePath is where the unsubscribe handler is mounted, below
// Config.PublicBaseURL.
const UnsubscribePath = "/unsubscribe"

// MarketingTemplates returns the names of the marketing templates:
// abandoned-cart and review-request. Every other template is transactional
// and always sent. A marketing email
//
//   - is not enqueued at all (Enqueue writes nothing and returns nil) when
//     its recipient has unsubscribed (the marketing_unsubscribes table);
//   - carries, when Config.UnsubscribeSecret and Config.PublicBaseURL are
//     set, a signed one-click unsubscribe link in its data
//     (unsubscribe_url, shown by the layout's footer) and in the
//     List-Unsubscribe and List-Unsubscribe-Post headers.
//
// Consent is the business of the sender, which knows what the shopper
// agreed to: marketing email goes only to an address that opted in (a
// customer's marketing_opt_in, or a cart's own opt-in for its reminder;
// see customers.MarketingContact.MayMarket), never on the strength of an
// address typed into a form. The abandoned-cart job and the review request
// check it; a campaign must too.
func MarketingTemplates() []string { return []string{"abandoned-cart", "review-request"} }

// IsMarketing reports whether template is a marketing template.
func IsMarketing(template string) bool {
	switch template {
	case "abandoned-cart", "review-request":
		return true
	}
	return false
}

// unsubscribePurpose separates unsubscribe signatures from the other uses
// of the same secret (tokens, order access tokens).
const unsubscribePurpose = "unsubscribe:"

// UnsubscribeToken returns the token of email's unsubscribe link:
// base64url(email) + "." + base64url(HMAC-SHA256(secret, "unsubscribe:" +
// email)), unpadded. Nothing is stored; the link works for as long as the
// secret stays the same.
func UnsubscribeToken(secret []byte, email string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(email)) + "." +
		base64.RawURLEncoding.EncodeToString(unsubscribeMAC(secret, email))
}

// ParseUnsubscribeToken returns the email address a token made by
// UnsubscribeToken with the same secret stands for. ok is false for any
// other token, and always with an empty secret.
func ParseUnsubscribeToken(secret []byte, token string) (email string, ok bool) {
	if len(secret) == 0 {
		return "", false
	}
	enc, sig, found := strings.Cut(token, ".")
	if !found {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(raw) == 0 {
		return "", false
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, unsubscribeMAC(secret, string(raw))) {
		return "", false
	}
	return string(raw), true
}

func unsubscribeMAC(secret []byte, email string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(unsubscribePurpose + email))
	return m.Sum(nil)
}

// UnsubscribeURL returns email's one-click unsubscribe link, or "" when the
// Service has no secret or public base URL to make one.
func (s *Service) UnsubscribeURL(email string) string {
	if len(s.cfg.UnsubscribeSecret) == 0 || s.cfg.PublicBaseURL == "" {
		return ""
	}
	return strings.TrimRight(s.cfg.PublicBaseURL, "/") + UnsubscribePath + "?token=" +
		url.QueryEscape(UnsubscribeToken(s.cfg.UnsubscribeSecret, email))
}

// marketingExtras adds the unsubscribe link of a marketing email to its data
// and headers.
func (s *Service) marketingExtras(n Notification, data map[string]any, headers map[string]string) {
	if n.Channel != Email || !IsMarketing(n.Template) {
		return
	}
	u := s.UnsubscribeURL(n.To)
	if u == "" {
		return
	}
	data["unsubscribe_url"] = u
	headers[HeaderListUnsubscribe] = "<" + u + ">"
	headers[HeaderListUnsubscribePost] = "List-Unsubscribe=One-Click"
}
