// Package contact normalises and checks the ways of reaching a person:
// email addresses (stored and compared lowercased and trimmed) and phone
// numbers (stored in E.164).
package contact

import (
	"net/mail"
	"strings"
	"unicode"

	"commerce/internal/apperr"
)

// MaxEmailLen is the longest address SMTP allows.
const MaxEmailLen = 254

// NormalizeEmail trims and lowercases an address and checks its shape. It
// returns an Invalid userError at path when it is not a plain address.
func NormalizeEmail(raw string, path []string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(raw))
	if e == "" {
		return "", apperr.InvalidField(path, "is required")
	}
	if len(e) > MaxEmailLen || strings.IndexFunc(e, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return "", apperr.InvalidField(path, "is not a valid email address")
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Address != e || addr.Name != "" {
		return "", apperr.InvalidField(path, "is not a valid email address")
	}
	local, domain, _ := strings.Cut(e, "@")
	if local == "" || !validDomain(domain) {
		return "", apperr.InvalidField(path, "is not a valid email address")
	}
	return e, nil
}

// validDomain wants a dotted host name of letters, digits and hyphens.
func validDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r > unicode.MaxASCII && unicode.IsLetter(r)) {
				return false
			}
		}
	}
	return true
}

// NormalizePhone returns a phone number in E.164 (+15550100123). Spaces,
// dots, dashes and parentheses are dropped and a leading 00 becomes +. It
// checks the shape only: a country code, 8 to 15 digits, and for North
// America (+1) ten digits with valid area code and exchange, so fictional
// but well-formed numbers such as +1 202 555 0123 pass.
func NormalizePhone(raw string, path []string) (string, error) {
	s := strings.TrimSpace(raw)
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", apperr.InvalidField(path, "is not a valid phone number")
		}
	}
	n := b.String()
	if strings.HasPrefix(n, "00") {
		n = "+" + n[2:]
	}
	if !strings.HasPrefix(n, "+") {
		return "", apperr.InvalidField(path, "must start with a country code, such as +1")
	}
	digits := n[1:]
	if len(digits) < 8 || len(digits) > 15 || digits[0] == '0' {
		return "", apperr.InvalidField(path, "is not a valid phone number")
	}
	if digits[0] == '1' {
		if len(digits) != 11 || digits[1] < '2' || digits[4] < '2' {
			return "", apperr.InvalidField(path, "is not a valid North American phone number")
		}
	}
	return n, nil
}
