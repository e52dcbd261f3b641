package shipping

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"

	"commerce/internal/apperr"
	"commerce/internal/money"
	"commerce/internal/pricing"
)

// Bounds of the configuration: one request and one zone stay small.
const (
	maxName      = 100
	maxCountries = 250
	maxBands     = 50
	maxDays      = 365
	maxRegion    = 10
	maxTaxClass  = 50
	maxGrams     = 1_000_000_000 // a million kilograms
)

// ZoneInput creates or replaces a zone.
type ZoneInput struct {
	Name      string
	Countries []string
}

// BandInput is one rate of a method as the API writes it: grams for
// WEIGHT, amounts in the store currency for SUBTOTAL, and for NONE a single
// band from "0" with no max.
type BandInput struct {
	Min   string
	Max   *string
	Price string
}

// MethodInput creates or replaces a method.
type MethodInput struct {
	Name      string
	Carrier   *string
	Condition Condition
	Rates     []BandInput
	FreeAbove *string
	MinDays   *int
	MaxDays   *int
	IsActive  bool
}

// TaxRateInput creates or replaces a tax rate.
type TaxRateInput struct {
	Name              string
	CountryCode       string
	Region            *string
	TaxClass          *string
	Rate              string
	AppliesToShipping bool
}

func inputPath(field ...any) []string { return apperr.Path(append([]any{"input"}, field...)...) }

// IsCountry reports whether code is an ISO 3166-1 alpha-2 country code
// (upper case).
func IsCountry(code string) bool {
	if len(code) != 2 {
		return false
	}
	r, err := language.ParseRegion(code)
	return err == nil && r.IsCountry() && r.String() == code
}

// validateZone returns the zone's name and sorted, upper-case countries.
func validateZone(in ZoneInput) (string, []string, apperr.List) {
	var errs apperr.List
	name := checkName(in.Name, inputPath("name"), &errs)
	countries := make([]string, 0, len(in.Countries))
	switch {
	case len(in.Countries) == 0:
		errs = append(errs, apperr.InvalidField(inputPath("countries"), "give at least one country"))
	case len(in.Countries) > maxCountries:
		errs = append(errs, apperr.InvalidField(inputPath("countries"), "at most %d countries", maxCountries))
	}
	for i, c := range in.Countries {
		code := normCountry(c)
		switch {
		case !IsCountry(code):
			errs = append(errs, apperr.InvalidField(inputPath("countries", i), "must be an ISO 3166-1 alpha-2 country code such as US"))
		case slices.Contains(countries, code):
			errs = append(errs, apperr.InvalidField(inputPath("countries", i), "is given twice"))
		default:
			countries = append(countries, code)
		}
	}
	slices.Sort(countries)
	return name, countries, errs
}

// validateMethod returns the method the input describes, in currency.
func validateMethod(in MethodInput, currency string) (*Method, apperr.List) {
	var errs apperr.List
	m := &Method{Name: checkName(in.Name, inputPath("name"), &errs), Condition: in.Condition, IsActive: in.IsActive, Currency: currency}
	if in.Carrier != nil {
		if c := checkOptional(*in.Carrier, inputPath("carrier"), &errs); c != "" {
			m.Carrier = &c
		}
	}
	if in.FreeAbove != nil {
		m.FreeAbove = checkAmount(*in.FreeAbove, currency, inputPath("freeAbove"), &errs)
	}
	m.MinDays = checkDays(in.MinDays, inputPath("minDeliveryDays"), &errs)
	m.MaxDays = checkDays(in.MaxDays, inputPath("maxDeliveryDays"), &errs)
	if m.MinDays != nil && m.MaxDays != nil && *m.MinDays > *m.MaxDays {
		errs = append(errs, apperr.InvalidField(inputPath("maxDeliveryDays"), "must not be below minDeliveryDays"))
	}
	m.Bands = checkBands(in.Condition, in.Rates, currency, &errs)
	return m, errs
}

// checkBands parses the bands and wants them contiguous: sorted by min,
// each max the next band's min (no overlap, no gap), only the last open.
func checkBands(cond Condition, in []BandInput, currency string, errs *apperr.List) []Band {
	switch {
	case cond != ConditionNone && cond != ConditionWeight && cond != ConditionSubtotal:
		*errs = append(*errs, apperr.InvalidField(inputPath("condition"), "must be NONE, WEIGHT or SUBTOTAL"))
		return nil
	case len(in) == 0:
		*errs = append(*errs, apperr.InvalidField(inputPath("rates"), "give at least one rate"))
		return nil
	case len(in) > maxBands:
		*errs = append(*errs, apperr.InvalidField(inputPath("rates"), "at most %d rates", maxBands))
		return nil
	case cond == ConditionNone && len(in) != 1:
		*errs = append(*errs, apperr.InvalidField(inputPath("rates"), "a NONE method has exactly one rate"))
		return nil
	}
	bands := make([]Band, len(in))
	index := make([]int, len(in)) // input position of each band, for the paths
	before := len(*errs)
	for i, b := range in {
		index[i] = i
		bands[i].Min = checkMeasure(cond, b.Min, currency, inputPath("rates", i, "min"), errs)
		if b.Max != nil {
			v := checkMeasure(cond, *b.Max, currency, inputPath("rates", i, "max"), errs)
			bands[i].Max = &v
			if v <= bands[i].Min && len(*errs) == before {
				*errs = append(*errs, apperr.InvalidField(inputPath("rates", i, "max"), "must be above min"))
			}
		}
		if p := checkAmount(b.Price, currency, inputPath("rates", i, "price"), errs); p != nil {
			bands[i].Price = p.Amount
		}
		if cond == ConditionNone && (bands[i].Min != 0 || b.Max != nil) {
			*errs = append(*errs, apperr.InvalidField(inputPath("rates", i, "min"), "a NONE rate has min \"0\" and no max"))
		}
	}
	if len(*errs) > before {
		return nil
	}
	slices.SortStableFunc(index, func(a, b int) int { return cmp.Compare(bands[a].Min, bands[b].Min) })
	for k := 1; k < len(index); k++ {
		prev, cur := bands[index[k-1]], bands[index[k]]
		switch {
		case prev.Max == nil || *prev.Max > cur.Min:
			*errs = append(*errs, apperr.InvalidField(inputPath("rates", index[k], "min"), "overlaps another rate"))
		case *prev.Max < cur.Min:
			*errs = append(*errs, apperr.InvalidField(inputPath("rates", index[k], "min"), "leaves a gap after the rate below it"))
		}
	}
	sorted := make([]Band, len(index))
	for k, i := range index {
		sorted[k] = bands[i]
	}
	return sorted
}

// checkMeasure parses a band bound: whole grams, or an amount.
func checkMeasure(cond Condition, s, currency string, path []string, errs *apperr.List) int64 {
	if cond != ConditionWeight {
		if m := checkAmount(s, currency, path, errs); m != nil {
			return m.Amount
		}
		return 0
	}
	v := strings.TrimSpace(s)
	var n int64
	ok := v != "" && len(v) <= 10
	for _, r := range v {
		if r < '0' || r > '9' {
			ok = false
			break
		}
		n = n*10 + int64(r-'0')
	}
	if !ok || n > maxGrams {
		*errs = append(*errs, apperr.InvalidField(path, "must be whole grams, 0 to %d", maxGrams))
	}
	return n
}

// validateTaxRate returns the rate the input describes.
func validateTaxRate(in TaxRateInput) (TaxRate, string, apperr.List) {
	var errs apperr.List
	r := TaxRate{Name: checkName(in.Name, inputPath("name"), &errs), AppliesToShipping: in.AppliesToShipping}
	r.CountryCode = strings.ToUpper(strings.TrimSpace(in.CountryCode))
	if !IsCountry(r.CountryCode) {
		errs = append(errs, apperr.InvalidField(inputPath("countryCode"), "must be an ISO 3166-1 alpha-2 country code such as US"))
	}
	if in.Region != nil {
		v := strings.ToUpper(strings.TrimSpace(*in.Region))
		if strings.ContainsFunc(v, func(c rune) bool { return !unicode.IsLetter(c) && !unicode.IsDigit(c) }) || len(v) > maxRegion {
			errs = append(errs, apperr.InvalidField(inputPath("region"), "must be a subdivision code such as CA or ON"))
		} else if v != "" {
			r.Region = &v
		}
	}
	if in.TaxClass != nil {
		if c := CheckTaxClass(*in.TaxClass, inputPath("taxClass"), &errs); c != nil {
			r.TaxClass = c
		}
	}
	num, den, err := money.ParseRate(in.Rate)
	if err != nil || num >= den {
		errs = append(errs, apperr.InvalidField(inputPath("rate"), "must be a decimal from 0 to below 1, such as 0.19"))
	} else {
		r.Rate = pricing.Rate{Num: num, Den: den}
	}
	return r, strings.TrimSpace(in.Rate), errs
}

// CheckTaxClass normalises a product's or a rate's tax class: trimmed, nil
// when blank; a problem is added to errs at path.
func CheckTaxClass(s string, path []string, errs *apperr.List) *string {
	v := strings.TrimSpace(s)
	switch {
	case v == "":
		return nil
	case utf8.RuneCountInString(v) > maxTaxClass || strings.ContainsFunc(v, unicode.IsControl):
		*errs = append(*errs, apperr.InvalidField(path, "must be at most %d characters of text", maxTaxClass))
		return nil
	}
	return &v
}

func checkName(s string, path []string, errs *apperr.List) string {
	v := strings.TrimSpace(s)
	if v == "" {
		*errs = append(*errs, apperr.InvalidField(path, "is required"))
	}
	return checkOptional(v, path, errs)
}

func checkOptional(s string, path []string, errs *apperr.List) string {
	v := strings.TrimSpace(s)
	if utf8.RuneCountInString(v) > maxName || strings.ContainsFunc(v, unicode.IsControl) {
		*errs = append(*errs, apperr.InvalidField(path, "must be at most %d characters of text", maxName))
	}
	return v
}

func checkAmount(s, currency string, path []string, errs *apperr.List) *money.Money {
	m, err := money.Parse(s, currency)
	if err != nil || m.Amount < 0 {
		*errs = append(*errs, apperr.InvalidField(path, "must be an amount of at least 0 in %s", currency))
		return nil
	}
	return &m
}

func checkDays(d *int, path []string, errs *apperr.List) *int {
	if d != nil && (*d < 0 || *d > maxDays) {
		*errs = append(*errs, apperr.InvalidField(path, "must be between 0 and %d", maxDays))
	}
	return d
}

func normCountry(c string) string { return strings.ToUpper(strings.TrimSpace(c)) }
