package catalog

import (
	"errors"
	"regexp"
	"slices"
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

// Option limits of a product.
const (
	maxOptions      = 3
	maxOptionValues = 100
	maxOptionLen    = 64
	maxVariants     = 100 // variants a product may have, and may be created at once
)

// CreateInput is a new product. Decimals are strings so that a malformed
// amount is a userError, not a parse failure. Without Options it describes
// the product's default variant with SKU, Price and the other variant
// fields; with Options, Variants describes every variant and those fields
// must be absent.
type CreateInput struct {
	SKU               *string
	Handle            *string // generated from the name when nil or empty
	Name              string
	Description       *string
	Price             *string
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
	Options           []OptionInput
	Variants          []VariantInput
}

// OptionInput is an option of a new product.
type OptionInput struct {
	Name   string
	Values []string
}

// VariantInput is a new variant: one value of each of its product's options.
type VariantInput struct {
	SKU               string
	SelectedOptions   []SelectedOption
	Price             string
	CompareAtPrice    *string
	CostPrice         *string
	InventoryQuantity *int // opening stock, recorded as a RESTOCK
	LowStockThreshold *int // default 10
	WeightGrams       *int
	Dimensions        *DimensionsInput
	ImageID           *string // one of the product's images
	IsActive          *bool   // default true
}

// UpdateInput changes the given fields of a product; nil leaves a field as
// it is. An empty Description, CompareAtPrice, CostPrice or Category clears
// it; Tags, when not nil, replaces the whole set; Dimensions replaces all
// three measures. Price, CompareAtPrice, CostPrice, LowStockThreshold,
// WeightGrams and Dimensions belong to the product's only active variant:
// a product with several refuses them (VARIANT_REQUIRED).
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

// VariantUpdateInput changes the given fields of a variant; nil leaves a
// field as it is.
type VariantUpdateInput struct {
	SKU               *string
	Price             *string
	CompareAtPrice    *string
	CostPrice         *string
	LowStockThreshold *int
	WeightGrams       *int
	Dimensions        *DimensionsInput
	ImageID           *string
	IsActive          *bool
	Position          *int
	// Clear names optional fields to empty: compareAtPrice, costPrice,
	// weightGrams, dimensions and imageId (the API's explicit null).
	Clear []string
}

func inputPath(field ...any) []string { return apperr.Path(append([]any{"input"}, field...)...) }

// pathFunc builds the field path of one input field.
type pathFunc func(field ...any) []string

// under returns the pathFunc of the fields below prefix.
func under(prefix ...any) pathFunc {
	return func(field ...any) []string { return apperr.Path(append(append([]any{}, prefix...), field...)...) }
}

// index returns the pathFunc of the fields of list element i.
func (at pathFunc) index(i int) pathFunc {
	return func(field ...any) []string { return at(append([]any{i}, field...)...) }
}

// variantFields are the fields of a variant that a product's input, a new
// variant and a variant update share.
type variantFields struct {
	SKU                              *string
	Price, CompareAtPrice, CostPrice *string
	LowStockThreshold, WeightGrams   *int
	Dimensions                       *DimensionsInput
	Clear                            []string
}

// given reports whether f changes anything.
func (f variantFields) given() bool {
	if f.SKU != nil || f.Price != nil || f.CompareAtPrice != nil || f.CostPrice != nil ||
		f.LowStockThreshold != nil || f.WeightGrams != nil || f.Dimensions != nil {
		return true
	}
	for _, c := range f.Clear {
		switch c {
		case "compareAtPrice", "costPrice", "weightGrams", "dimensions":
			return true
		}
	}
	return false
}

// first is the input name of the first field f gives, for a userError
// about all of them.
func (f variantFields) first() string {
	for _, c := range []struct {
		name  string
		given bool
	}{{"sku", f.SKU != nil}, {"price", f.Price != nil}, {"compareAtPrice", f.CompareAtPrice != nil},
		{"costPrice", f.CostPrice != nil}, {"lowStockThreshold", f.LowStockThreshold != nil},
		{"weightGrams", f.WeightGrams != nil}, {"dimensions", f.Dimensions != nil}} {
		if c.given {
			return c.name
		}
	}
	for _, c := range f.Clear {
		switch c {
		case "compareAtPrice", "costPrice", "weightGrams", "dimensions":
			return c
		}
	}
	return ""
}

// applyVariantFields validates the given fields and writes them into r,
// which carries the variant's currency.
func applyVariantFields(r *variantRow, f variantFields, at pathFunc, errs *apperr.List) {
	if f.SKU != nil {
		r.SKU = checkSKU(*f.SKU, at("sku"), errs)
	}
	if f.Price != nil {
		if p := checkPrice(*f.Price, r.Currency, at("price"), errs); p != nil {
			r.Price = *p
		} else if strings.TrimSpace(*f.Price) == "" {
			*errs = append(*errs, apperr.InvalidField(at("price"), "is required"))
		}
	}
	if f.CompareAtPrice != nil {
		r.CompareAtPrice = checkPrice(*f.CompareAtPrice, r.Currency, at("compareAtPrice"), errs)
	}
	if f.CostPrice != nil {
		r.CostPrice = checkPrice(*f.CostPrice, r.Currency, at("costPrice"), errs)
	}
	if f.LowStockThreshold != nil {
		r.LowStockThreshold = checkCount(*f.LowStockThreshold, maxStock, at("lowStockThreshold"), errs)
	}
	if f.WeightGrams != nil {
		r.WeightGrams = measure(f.WeightGrams, at("weightGrams"), errs)
	}
	if d := f.Dimensions; d != nil {
		r.LengthMm = measure(d.LengthMm, at("dimensions", "lengthMm"), errs)
		r.WidthMm = measure(d.WidthMm, at("dimensions", "widthMm"), errs)
		r.HeightMm = measure(d.HeightMm, at("dimensions", "heightMm"), errs)
	}
	for _, field := range f.Clear {
		switch field {
		case "compareAtPrice":
			r.CompareAtPrice = nil
		case "costPrice":
			r.CostPrice = nil
		case "weightGrams":
			r.WeightGrams = nil
		case "dimensions":
			r.LengthMm, r.WidthMm, r.HeightMm = nil, nil, nil
		}
	}
}

// newProduct is a validated CreateInput: the product, its options, and its
// variants with their opening stock.
type newProduct struct {
	product  productRow
	options  []optionRow
	variants []variantRow
	stock    []int
}

// validateCreate checks every field of in and returns what to insert and
// every problem found.
func (s *Service) validateCreate(in CreateInput) (newProduct, apperr.List) {
	var errs apperr.List
	n := newProduct{product: productRow{Tags: []string{}, IsActive: true}}
	r := &n.product
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
	errs = append(errs, applyUpdate(r, UpdateInput{Handle: in.Handle, Name: &in.Name, Description: in.Description,
		Category: in.Category, Tags: in.Tags, IsActive: in.IsActive, IsFeatured: in.IsFeatured, TaxClass: in.TaxClass})...)
	if in.Options == nil {
		if in.Variants != nil {
			errs = append(errs, apperr.InvalidField(inputPath("variants"), "needs options; without them, give sku and price"))
		}
		n.variants, n.stock = defaultVariant(in, r.Currency, &errs)
		return n, errs
	}
	for field, given := range map[string]bool{"sku": in.SKU != nil, "price": in.Price != nil,
		"compareAtPrice": in.CompareAtPrice != nil, "costPrice": in.CostPrice != nil,
		"inventoryQuantity": in.InventoryQuantity != nil, "weightGrams": in.WeightGrams != nil,
		"dimensions": in.Dimensions != nil, "lowStockThreshold": in.LowStockThreshold != nil} {
		if given {
			errs = append(errs, apperr.InvalidField(inputPath(field), "must be absent with options: give it on each variant"))
		}
	}
	n.options = checkOptions(in.Options, &errs)
	if len(in.Variants) == 0 {
		errs = append(errs, apperr.InvalidField(inputPath("variants"), "are required with options: 1..%d", maxVariants))
	}
	n.variants, n.stock = checkVariants(in.Variants, n.options, r.Currency, nil, under("input", "variants"), &errs)
	if len(n.variants) > 0 && !slices.ContainsFunc(n.variants, func(v variantRow) bool { return v.IsActive }) {
		errs = append(errs, apperr.Coded("LAST_VARIANT", inputPath("variants"), "at least one variant must be active"))
	}
	return n, errs
}

// defaultVariant is the one variant of a product created without options.
func defaultVariant(in CreateInput, currency string, errs *apperr.List) ([]variantRow, []int) {
	v := variantRow{Currency: currency, Title: DefaultTitle, SelectedOptions: []SelectedOption{},
		LowStockThreshold: defaultThreshold, IsActive: true}
	if in.SKU == nil {
		*errs = append(*errs, apperr.InvalidField(inputPath("sku"), "is required"))
	}
	if in.Price == nil {
		*errs = append(*errs, apperr.InvalidField(inputPath("price"), "is required"))
	}
	applyVariantFields(&v, variantFields{SKU: in.SKU, Price: in.Price, CompareAtPrice: in.CompareAtPrice,
		CostPrice: in.CostPrice, LowStockThreshold: in.LowStockThreshold, WeightGrams: in.WeightGrams,
		Dimensions: in.Dimensions}, inputPath, errs)
	stock := 0
	if in.InventoryQuantity != nil {
		stock = checkCount(*in.InventoryQuantity, maxStock, inputPath("inventoryQuantity"), errs)
	}
	return []variantRow{v}, []int{stock}
}

// checkOptions validates a new product's options: 1..3, names unique and
// values unique in their option, case-insensitively.
func checkOptions(in []OptionInput, errs *apperr.List) []optionRow {
	if len(in) == 0 || len(in) > maxOptions {
		*errs = append(*errs, apperr.InvalidField(inputPath("options"), "must be 1..%d options", maxOptions))
		if len(in) > maxOptions {
			return nil
		}
	}
	out := make([]optionRow, 0, len(in))
	names := map[string]bool{}
	for i, o := range in {
		name := checkText(o.Name, optionRule, inputPath("options", i, "name"), errs)
		if key := strings.ToLower(name); name != "" && names[key] {
			*errs = append(*errs, apperr.InvalidField(inputPath("options", i, "name"), "is already an option of this product"))
		} else {
			names[key] = true
		}
		out = append(out, optionRow{Name: name, Position: i,
			Values: checkOptionValues(o.Values, nil, under("input", "options", i, "values"), errs)})
	}
	return out
}

// checkOptionValues validates values to add to an option that has
// existing ones: 1..100 in all, unique case-insensitively.
func checkOptionValues(values, existing []string, at pathFunc, errs *apperr.List) []string {
	if len(values) == 0 || len(existing)+len(values) > maxOptionValues {
		*errs = append(*errs, apperr.InvalidField(at(), "must be 1..%d values in all", maxOptionValues))
		if len(values) > maxOptionValues {
			return nil
		}
	}
	seen := make(map[string]bool, len(existing)+len(values))
	for _, v := range existing {
		seen[strings.ToLower(v)] = true
	}
	out := make([]string, 0, len(values))
	for i, v := range values {
		v = checkText(v, optionRule, at(i), errs)
		if key := strings.ToLower(v); v != "" && seen[key] {
			*errs = append(*errs, apperr.InvalidField(at(i), "is already a value of this option"))
		} else {
			seen[key] = true
			out = append(out, v)
		}
	}
	return out
}

// checkVariants validates new variants of a product with the given
// options, whose existing variants have the option keys in existing: each
// names one value of every option, no combination twice (VARIANT_EXISTS),
// no sku twice in the input (TAKEN).
func checkVariants(in []VariantInput, options []optionRow, currency string, existing map[string]bool,
	at pathFunc, errs *apperr.List) ([]variantRow, []int) {
	if len(in) > maxVariants {
		*errs = append(*errs, apperr.InvalidField(at(), "must be at most %d variants", maxVariants))
		return nil, nil
	}
	keys := make(map[string]bool, len(existing)+len(in))
	for k := range existing {
		keys[k] = true
	}
	skus := map[string]bool{}
	rows := make([]variantRow, 0, len(in))
	stock := make([]int, 0, len(in))
	for i, vin := range in {
		v := variantRow{Currency: currency, LowStockThreshold: defaultThreshold, IsActive: true}
		if vin.IsActive != nil {
			v.IsActive = *vin.IsActive
		}
		applyVariantFields(&v, variantFields{SKU: &vin.SKU, Price: &vin.Price, CompareAtPrice: vin.CompareAtPrice,
			CostPrice: vin.CostPrice, LowStockThreshold: vin.LowStockThreshold, WeightGrams: vin.WeightGrams,
			Dimensions: vin.Dimensions}, at.index(i), errs)
		if key := strings.ToLower(v.SKU); v.SKU != "" && skus[key] {
			*errs = append(*errs, apperr.Taken(at(i, "sku"), "sku"))
		} else {
			skus[key] = true
		}
		if opts, ok := matchOptions(vin.SelectedOptions, options); !ok {
			*errs = append(*errs, apperr.InvalidField(at(i, "selectedOptions"),
				"must give exactly one value of each option of the product: %s", optionNames(options)))
		} else {
			v.SelectedOptions, v.Title, v.OptionKey = opts, titleOf(opts), optionKey(opts)
			if keys[v.OptionKey] {
				*errs = append(*errs, apperr.Coded("VARIANT_EXISTS", at(i, "selectedOptions"),
					"the product already has a variant %q", v.Title))
			}
			keys[v.OptionKey] = true
		}
		q := 0
		if vin.InventoryQuantity != nil {
			q = checkCount(*vin.InventoryQuantity, maxStock, at(i, "inventoryQuantity"), errs)
		}
		rows, stock = append(rows, v), append(stock, q)
	}
	return rows, stock
}

// matchOptions puts a variant's selected options in option order with the
// option's own spelling of names and values; ok is false unless it names
// exactly one existing value of every option.
func matchOptions(sel []SelectedOption, options []optionRow) ([]SelectedOption, bool) {
	if len(sel) != len(options) {
		return nil, false
	}
	out := make([]SelectedOption, len(options))
	for i, o := range options {
		found := 0
		for _, s := range sel {
			if !strings.EqualFold(strings.TrimSpace(s.Name), o.Name) {
				continue
			}
			found++
			for _, v := range o.Values {
				if strings.EqualFold(strings.TrimSpace(s.Value), v) {
					out[i] = SelectedOption{Name: o.Name, Value: v}
				}
			}
		}
		if found != 1 || out[i].Value == "" {
			return nil, false
		}
	}
	return out, true
}

func optionNames(options []optionRow) string {
	if len(options) == 0 {
		return "none"
	}
	names := make([]string, len(options))
	for i, o := range options {
		names[i] = o.Name
	}
	return strings.Join(names, ", ")
}

// variantFieldsOf returns the fields of a product update that belong to
// its only variant.
func (in UpdateInput) variantFields() variantFields {
	return variantFields{Price: in.Price, CompareAtPrice: in.CompareAtPrice, CostPrice: in.CostPrice,
		LowStockThreshold: in.LowStockThreshold, WeightGrams: in.WeightGrams, Dimensions: in.Dimensions,
		Clear: in.Clear}
}

// applyUpdate validates the product's own fields of in and writes them
// into r.
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
	if in.Tags != nil {
		r.Tags = checkTags(in.Tags, &l)
	}
	if in.IsActive != nil {
		r.IsActive = *in.IsActive
	}
	if in.IsFeatured != nil {
		r.IsFeatured = *in.IsFeatured
	}
	if in.TaxClass != nil {
		r.TaxClass = shipping.CheckTaxClass(*in.TaxClass, inputPath("taxClass"), &l)
	}
	for _, field := range in.Clear {
		switch field {
		case "description":
			r.Description = nil
		case "category":
			r.Category = nil
		case "taxClass":
			r.TaxClass = nil
		}
	}
	return l
}

func checkSKU(s string, path []string, errs *apperr.List) string {
	v := strings.TrimSpace(s)
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
	optionRule      = textRule{maxLen: maxOptionLen, required: true}
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
