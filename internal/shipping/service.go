package shipping

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/platform/db"
)

// Config holds the shipping settings.
type Config struct {
	// Currency is the store currency, the one of every method's prices.
	Currency string
	// StoreCountry (STORE_COUNTRY) is where a cart without an address is
	// estimated to ship.
	StoreCountry string
}

// Service manages zones, methods and tax rates, and loads the destination
// a cart is priced for.
type Service struct {
	db  *db.DB
	cfg Config
}

// NewService returns the shipping service.
func NewService(d *db.DB, cfg Config) *Service { return &Service{db: d, cfg: cfg} }

// Destination loads what prices a cart shipping to country and region, in
// one statement; with an empty country it is the estimate for
// STORE_COUNTRY (Destination.Estimated).
func (s *Service) Destination(ctx context.Context, country, region string) (Destination, error) {
	if country == "" {
		d, err := selectDestination(ctx, s.db.Bun, s.cfg.StoreCountry, "")
		d.Estimated = true
		return d, err
	}
	return selectDestination(ctx, s.db.Bun, country, region)
}

// Zones returns every zone with its methods, by name.
func (s *Service) Zones(ctx context.Context) ([]*Zone, error) { return selectZones(ctx, s.db.Bun) }

// TaxRates returns every tax rate, by country, region and class.
func (s *Service) TaxRates(ctx context.Context) ([]TaxRate, error) {
	return selectTaxRates(ctx, s.db.Bun)
}

// CreateZone creates a zone. It returns an apperr.List of every problem at
// once, nothing written then: Invalid at ["input","name"] and
// ["input","countries",i] (not a country, or given twice), TAKEN there for a
// country already in another zone.
func (s *Service) CreateZone(ctx context.Context, in ZoneInput) (*Zone, error) {
	return s.writeZone(ctx, "", in)
}

// UpdateZone replaces a zone's name and countries; its methods stay. It
// returns CreateZone's errors and NotFound at ["id"].
func (s *Service) UpdateZone(ctx context.Context, id string, in ZoneInput) (*Zone, error) {
	key, ok := canonicalID(id)
	if !ok {
		return nil, notFoundAt("id", "shipping zone")
	}
	return s.writeZone(ctx, key, in)
}

func (s *Service) writeZone(ctx context.Context, id string, in ZoneInput) (*Zone, error) {
	name, countries, errs := validateZone(in)
	if len(errs) > 0 {
		return nil, errs
	}
	var out *Zone
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := lockZones(ctx, tx); err != nil {
			return fmt.Errorf("lock zones: %w", err)
		}
		taken, err := countriesTaken(ctx, tx, countries, cmpID(id))
		if err != nil {
			return err
		}
		if err := takenErrors(in.Countries, taken); err != nil {
			return err
		}
		if id == "" {
			r, err := insertZone(ctx, tx, name, countries)
			if err != nil {
				return fmt.Errorf("insert shipping zone: %w", err)
			}
			out = r.zone()
			return nil
		}
		if _, err := updateZone(ctx, tx, id, name, countries); db.IsNoRows(err) {
			return notFoundAt("id", "shipping zone")
		} else if err != nil {
			return fmt.Errorf("update shipping zone: %w", err)
		}
		out, err = selectZone(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// takenErrors reports each input country already in another zone at its
// index.
func takenErrors(input []string, taken map[string]string) error {
	var errs apperr.List
	for i, c := range input {
		if zone, ok := taken[normCountry(c)]; ok {
			errs = append(errs, &apperr.Error{Kind: apperr.Conflict, Code: "TAKEN", Field: inputPath("countries", i),
				Message: fmt.Sprintf("%s is already in the zone %q", normCountry(c), zone)})
		}
	}
	return errs.Err()
}

// DeleteZone deletes a zone and its methods; carts that chose one of them
// have no method any more. It returns NotFound at ["id"].
func (s *Service) DeleteZone(ctx context.Context, id string) (string, error) {
	return s.delete(ctx, "shipping_zones", "shipping zone", id)
}

// CreateMethod adds a method to a zone. It returns NotFound at ["zoneId"]
// and an apperr.List of every problem of the input at once, nothing written
// then: Invalid at ["input", field] (name, carrier, condition, freeAbove,
// minDeliveryDays, maxDeliveryDays) and at ["input","rates",i,field] for a
// bad bound or price, an overlap or a gap between bands.
func (s *Service) CreateMethod(ctx context.Context, zoneID string, in MethodInput) (*Method, error) {
	key, ok := canonicalID(zoneID)
	if !ok {
		return nil, notFoundAt("zoneId", "shipping zone")
	}
	m, errs := validateMethod(in, s.cfg.Currency)
	if len(errs) > 0 {
		return nil, errs
	}
	m.ZoneID = key
	return s.writeMethod(ctx, "", m, "zoneId", "shipping zone")
}

// UpdateMethod replaces a method's settings; it stays in its zone. It
// returns CreateMethod's input errors and NotFound at ["id"].
func (s *Service) UpdateMethod(ctx context.Context, id string, in MethodInput) (*Method, error) {
	key, ok := canonicalID(id)
	if !ok {
		return nil, notFoundAt("id", "shipping method")
	}
	m, errs := validateMethod(in, s.cfg.Currency)
	if len(errs) > 0 {
		return nil, errs
	}
	return s.writeMethod(ctx, key, m, "id", "shipping method")
}

// writeMethod writes m; a missing zone (new method) or method (update) is
// NotFound at field.
func (s *Service) writeMethod(ctx context.Context, id string, m *Method, field, what string) (*Method, error) {
	var out *Method
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		r, err := writeMethod(ctx, tx, id, m)
		if db.IsNoRows(err) {
			return notFoundAt(field, what)
		}
		if err != nil {
			return fmt.Errorf("write shipping method: %w", err)
		}
		z, err := selectZone(ctx, tx, r.ZoneID)
		if err != nil {
			return fmt.Errorf("load shipping zone: %w", err)
		}
		i := slices.IndexFunc(z.Methods, func(m *Method) bool { return m.ID == r.ID })
		out = z.Methods[i]
		return nil
	})
	return out, err
}

// DeleteMethod deletes a method; carts that chose it have none any more.
// It returns NotFound at ["id"].
func (s *Service) DeleteMethod(ctx context.Context, id string) (string, error) {
	return s.delete(ctx, "shipping_methods", "shipping method", id)
}

// CreateTaxRate creates a rate. It returns an apperr.List of every problem
// at once, nothing written then: Invalid at ["input", field] (name,
// countryCode, region, taxClass, rate outside [0, 1)), and TAKEN at
// ["input","countryCode"] when the country, region and class have a rate.
func (s *Service) CreateTaxRate(ctx context.Context, in TaxRateInput) (*TaxRate, error) {
	return s.writeTaxRate(ctx, "", in)
}

// UpdateTaxRate replaces a rate; orders placed before keep what they were
// charged. It returns CreateTaxRate's errors and NotFound at ["id"].
func (s *Service) UpdateTaxRate(ctx context.Context, id string, in TaxRateInput) (*TaxRate, error) {
	key, ok := canonicalID(id)
	if !ok {
		return nil, notFoundAt("id", "tax rate")
	}
	return s.writeTaxRate(ctx, key, in)
}

func (s *Service) writeTaxRate(ctx context.Context, id string, in TaxRateInput) (*TaxRate, error) {
	t, rate, errs := validateTaxRate(in)
	if len(errs) > 0 {
		return nil, errs
	}
	r, err := writeTaxRate(ctx, s.db.Bun, id, t, rate)
	switch {
	case db.IsNoRows(err):
		return nil, notFoundAt("id", "tax rate")
	case db.IsUniqueViolation(err, "tax_rates_key"):
		return nil, &apperr.Error{Kind: apperr.Conflict, Code: "TAKEN", Field: inputPath("countryCode"),
			Message: "this country, region and tax class already have a rate"}
	case err != nil:
		return nil, fmt.Errorf("write tax rate: %w", err)
	}
	out, err := r.taxRate()
	return &out, err
}

// DeleteTaxRate deletes a rate. It returns NotFound at ["id"].
func (s *Service) DeleteTaxRate(ctx context.Context, id string) (string, error) {
	return s.delete(ctx, "tax_rates", "tax rate", id)
}

func (s *Service) delete(ctx context.Context, table, what, id string) (string, error) {
	key, ok := canonicalID(id)
	if !ok {
		return "", notFoundAt("id", what)
	}
	found, err := deleteRow(ctx, s.db.Bun, table, key)
	if err != nil {
		return "", err
	}
	if !found {
		return "", notFoundAt("id", what)
	}
	return key, nil
}

// MethodFor checks that the method of id can serve the priced result and
// returns its canonical id; SHIPPING_METHOD_UNAVAILABLE at path otherwise
// (also for a malformed or unknown id: it cannot serve).
func MethodFor(res Result, id string, path []string) (string, error) {
	key, ok := canonicalID(id)
	if ok {
		for _, q := range res.Quotes {
			if q.Method.ID == key {
				return key, nil
			}
		}
	}
	return "", errMethodUnavailable(path)
}

func canonicalID(id string) (string, bool) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// cmpID is id, or the nil UUID for a new row (which matches no row).
func cmpID(id string) string {
	if id == "" {
		return uuid.Nil.String()
	}
	return id
}

func notFoundAt(field, what string) error {
	return apperr.Field(apperr.NotFound, apperr.Path(field), "%s not found", what)
}
