package catalog

import (
	"errors"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"commerce/internal/apperr"
	"commerce/internal/money"
	"commerce/internal/shipping"
)

// Input bounds.
const (
	maxSKULen         = 64
	maxNameLen        = 255
	maxHandleLen      = 255
	maxDescriptionLen = 10_000
	maxCategoryLen    = 255
	maxTags           = 50
	maxTagLen         = 64
	maxStock          = 1_000_000
	maxMeasure        = 1_000_000_000 // grams or millimetres; keeps values inside a Postgres integer
	defaultThreshold  = 10
)

var slugRE = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)

// DimensionsInput is a package size in millimetres; nil parts stay empty.
type DimensionsInput struct {
	LengthMm, WidthMm, HeightMm *int
}

// CreateInput is a new product. Decimals are strings so that a malformed
// amount is a userError, not a parse failure.
type CreateInput struct {
	SKU               string
	Handle            *string // generated from the name when nil or empty
	Name              string
	Description       *string
	Price             string
	CompareAtPrice    *string
	CostPrice         *string
	CurrencyCode      *string // defaults to the store currency
	Category          *string
	Tags              []string
	InventoryQuantity *int // opening stock, recorded as a RESTOCK
	LowStockThreshold *int // default 10
	IsActive          *bool
	IsFeatured        *bool
	WeightGrams       *int
	Dimensions        *DimensionsInput
	TaxClass          *string // blank is the standard class
}

// UpdateInput changes the given fields of a product; nil leaves a field as
// it is. An empty Description, CompareAtPrice, CostPrice or Category clears
// it; Tags, when not nil, replaces the whole set; Dimensions replaces all
// three measures.
type UpdateInput struct {
	Handle            *string
	Name              *string
	Description       *string
	Price             *string
	CompareAtPrice    *string
	CostPrice         *string
	Category          *string
	Tags              []string
	LowStockThreshold *int
	IsActive          *bool
	IsFeatured        *bool
	WeightGrams       *int
	Dimensions        *DimensionsInput
	TaxClass          *string // blank sets the standard class
	// Clear names optional fields to empty, by their input names:
	// description, compareAtPrice, costPrice, category, weightGrams,
	// dimensions and taxClass (the API's explicit null). Other names are
	// ignored.
	Clear []string
}

func inputPath(field ...any) []string { return apperr.Path(append([]any{"input"}, field...)...) }

// validateCreate checks every field of in and returns the row to insert,
// the opening stock, and every problem found.
func (s *Service) validateCreate(in CreateInput) (productRow, int, apperr.List) {
	var errs apperr.List
	r := productRow{Tags: []string{}, LowStockThreshold: defaultThreshold, IsActive: true}
	r.SKU = checkSKU(in.SKU, &errs)
	r.Currency = s.cfg.StoreCurrency
	if in.CurrencyCode != nil {
		c, err := money.NormalizeCurrency(*in.CurrencyCode)
		if err != nil {
			errs = append(errs, apperr.InvalidField(inputPath("currencyCode"), "is not a known ISO 4217 currency code"))
		} else {
			r.Currency = c
		}
	}
	if in.Handle != nil && strings.TrimSpace(*in.Handle) == "" {
		in.Handle = nil
	}
	errs = append(errs, applyUpdate(&r, in.update())...)
	stock := 0
	if in.InventoryQuantity != nil {
		stock = checkCount(*in.InventoryQuantity, maxStock, inputPath("inventoryQuantity"), &errs)
	}
	return r, stock, errs
}

// update returns the fields a new product shares with an update; required
// fields are always present.
func (in CreateInput) update() UpdateInput {
	return UpdateInput{Handle: in.Handle, Name: &in.Name, Description: in.Description, Price: &in.Price,
		CompareAtPrice: in.CompareAtPrice, CostPrice: in.CostPrice, Category: in.Category, Tags: in.Tags,
		LowStockThreshold: in.LowStockThreshold, IsActive: in.IsActive, IsFeatured: in.IsFeatured,
		WeightGrams: in.WeightGrams, Dimensions: in.Dimensions, TaxClass: in.TaxClass}
}

// applyUpdate validates the given fields and writes them into r, which
// carries the product's currency.
func applyUpdate(r *productRow, in UpdateInput) apperr.List {
	var l apperr.List
	if in.Handle != nil {
		r.Handle = checkHandle(*in.Handle, &l)
	}
	if in.Name != nil {
		r.Name = checkText(*in.Name, nameRule, inputPath("name"), &l)
	}
	if in.Description != nil {
		r.Description = optional(checkText(*in.Description, descriptionRule, inputPath("description"), &l))
	}
	if in.Category != nil {
		r.Category = optional(checkText(*in.Category, categoryRule, inputPath("category"), &l))
	}
	applyPrices(r, in, &l)
	if in.Tags != nil {
		r.Tags = checkTags(in.Tags, &l)
	}
	if in.LowStockThreshold != nil {
		r.LowStockThreshold = checkCount(*in.LowStockThreshold, maxStock, inputPath("lowStockThreshold"), &l)
	}
	if in.IsActive != nil {
		r.IsActive = *in.IsActive
	}
	if in.IsFeatured != nil {
		r.IsFeatured = *in.IsFeatured
	}
	if in.WeightGrams != nil {
		r.WeightGrams = measure(in.WeightGrams, inputPath("weightGrams"), &l)
	}
	if in.TaxClass != nil {
		r.TaxClass = shipping.CheckTaxClass(*in.TaxClass, inputPath("taxClass"), &l)
	}
	if d := in.Dimensions; d != nil {
		r.LengthMm = measure(d.LengthMm, inputPath("dimensions", "lengthMm"), &l)
		r.WidthMm = measure(d.WidthMm, inputPath("dimensions", "widthMm"), &l)
		r.HeightMm = measure(d.HeightMm, inputPath("dimensions", "heightMm"), &l)
	}
	for _, field := range in.Clear {
		switch field {
		case "description":
			r.Description = nil
		case "compareAtPrice":
			r.CompareAtPrice = nil
		case "costPrice":
			r.CostPrice = nil
		case "category":
			r.Category = nil
		case "weightGrams":
			r.WeightGrams = nil
		case "taxClass":
			r.TaxClass = nil
		case "dimensions":
			r.LengthMm, r.WidthMm, r.HeightMm = nil, nil, nil
		}
	}
	return l
}

func applyPrices(r *productRow, in UpdateInput, errs *apperr.List) {
	if in.Price != nil {
		if p := checkPrice(*in.Price, r.Currency, inputPath("price"), errs); p != nil {
			r.Price = *p
		} else if strings.TrimSpace(*in.Price) == "" {
			*errs = append(*errs, apperr.InvalidField(inputPath("price"), "is required"))
		}
	}
	if in.CompareAtPrice != nil {
		r.CompareAtPrice = checkPrice(*in.CompareAtPrice, r.Currency, inputPath("compareAtPrice"), errs)
	}
	if in.CostPrice != nil {
		r.CostPrice = checkPrice(*in.CostPrice, r.Currency, inputPath("costPrice"), errs)
	}
}

func checkSKU(s string, errs *apperr.List) string {
	v := strings.TrimSpace(s)
	path := inputPath("sku")
	switch {
	case v == "":
		*errs = append(*errs, apperr.InvalidField(path, "is required"))
	case utf8.RuneCountInString(v) > maxSKULen:
		*errs = append(*errs, apperr.InvalidField(path, "must be at most %d characters", maxSKULen))
	case !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		*errs = append(*errs, apperr.InvalidField(path, "must not contain spaces or control characters"))
	}
	return v
}

func checkHandle(s string, errs *apperr.List) string {
	v := strings.TrimSpace(s)
	path := inputPath("handle")
	switch {
	case len(v) > maxHandleLen:
		*errs = append(*errs, apperr.InvalidField(path, "must be at most %d characters", maxHandleLen))
	case !slugRE.MatchString(v):
		*errs = append(*errs, apperr.InvalidField(path, "must be lowercase letters, digits and single hyphens"))
	}
	return v
}

// textRule says what a free-text field may hold.
type textRule struct {
	maxLen    int
	required  bool
	multiline bool // line breaks and tabs allowed
}

var (
	nameRule        = textRule{maxLen: maxNameLen, required: true}
	descriptionRule = textRule{maxLen: maxDescriptionLen, multiline: true}
	categoryRule    = textRule{maxLen: maxCategoryLen}
	tagRule         = textRule{maxLen: maxTagLen, required: true}
)

// checkText trims s and checks it against the rule.
func checkText(s string, rule textRule, path []string, errs *apperr.List) string {
	v := strings.TrimSpace(s)
	switch {
	case v == "" && rule.required:
		*errs = append(*errs, apperr.InvalidField(path, "is required"))
	case utf8.RuneCountInString(v) > rule.maxLen:
		*errs = append(*errs, apperr.InvalidField(path, "must be at most %d characters", rule.maxLen))
	case !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool {
		return unicode.IsControl(r) && !(rule.multiline && (r == '\n' || r == '\r' || r == '\t'))
	}):
		*errs = append(*errs, apperr.InvalidField(path, "contains characters that are not allowed"))
	}
	return v
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// checkPrice parses a non-negative amount in the currency; an empty string
// is no amount.
func checkPrice(s, currency string, path []string, errs *apperr.List) *int64 {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	m, err := money.Parse(s, currency)
	switch {
	case errors.Is(err, money.ErrPrecision):
		*errs = append(*errs, apperr.InvalidField(path, "has more decimals than %s allows", currency))
	case errors.Is(err, money.ErrRange):
		*errs = append(*errs, apperr.InvalidField(path, "is too large"))
	case err != nil:
		*errs = append(*errs, apperr.InvalidField(path, "must be a decimal number such as 19.99"))
	case m.Amount < 0:
		*errs = append(*errs, apperr.InvalidField(path, "must not be negative"))
	default:
		return &m.Amount
	}
	return nil
}

func checkTags(tags []string, errs *apperr.List) []string {
	out := make([]string, 0, len(tags))
	seen := make(map[string]bool, len(tags))
	for i, t := range tags {
		v := checkText(t, tagRule, inputPath("tags", i), errs)
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	if len(out) > maxTags {
		*errs = append(*errs, apperr.InvalidField(inputPath("tags"), "must be at most %d tags", maxTags))
	}
	return out
}

func checkCount(n, maxN int, path []string, errs *apperr.List) int {
	if n < 0 || n > maxN {
		*errs = append(*errs, apperr.InvalidField(path, "must be between 0 and %d", maxN))
		return 0
	}
	return n
}

func measure(n *int, path []string, errs *apperr.List) *int {
	if n == nil {
		return nil
	}
	v := checkCount(*n, maxMeasure, path, errs)
	return &v
}
