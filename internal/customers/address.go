package customers

import (
	"strings"
	"unicode/utf8"

	"commerce/internal/apperr"
	"commerce/internal/contact"
)

// Field length bounds of an address.
const (
	maxAddressField = 200
	maxPostalCode   = 20
)

// NormalizeAddress trims an address and checks it: required fields present,
// lengths bounded, the country an ISO 3166-1 alpha-2 code (upper-cased),
// the phone, when given, in E.164. Problems come back as a List of Invalid
// userErrors under path (e.g. ["input","shippingAddress"]).
func NormalizeAddress(a Address, path []string) (Address, error) {
	var errs apperr.List
	at := func(field string) []string { return append(append([]string{}, path...), field) }
	required := func(v *string, field string, limit int) {
		*v = strings.TrimSpace(*v)
		switch {
		case *v == "":
			errs = append(errs, apperr.InvalidField(at(field), "is required"))
		case utf8.RuneCountInString(*v) > limit || strings.ContainsFunc(*v, isControl):
			errs = append(errs, apperr.InvalidField(at(field), "must be at most %d characters of text", limit))
		}
	}
	optional := func(v **string, field string) {
		if *v == nil {
			return
		}
		t := strings.TrimSpace(**v)
		if t == "" {
			*v = nil
			return
		}
		if utf8.RuneCountInString(t) > maxAddressField || strings.ContainsFunc(t, isControl) {
			errs = append(errs, apperr.InvalidField(at(field), "must be at most %d characters of text", maxAddressField))
		}
		*v = &t
	}
	required(&a.FirstName, "firstName", maxNameLen)
	required(&a.LastName, "lastName", maxNameLen)
	required(&a.Line1, "line1", maxAddressField)
	required(&a.City, "city", maxAddressField)
	required(&a.PostalCode, "postalCode", maxPostalCode)
	optional(&a.Company, "company")
	optional(&a.Line2, "line2")
	optional(&a.Region, "region")
	a.CountryCode = strings.ToUpper(strings.TrimSpace(a.CountryCode))
	if !isAlpha2(a.CountryCode) {
		errs = append(errs, apperr.InvalidField(at("countryCode"), "must be an ISO 3166-1 alpha-2 code such as US"))
	}
	if a.Phone != nil && strings.TrimSpace(*a.Phone) != "" {
		p, err := contact.NormalizePhone(*a.Phone, at("phone"))
		errs.Add(err)
		a.Phone = &p
	} else {
		a.Phone = nil
	}
	return a, errs.Err()
}

func isAlpha2(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}
