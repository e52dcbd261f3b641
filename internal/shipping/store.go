package shipping

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"commerce/internal/money"
	"commerce/internal/pricing"
)

// zoneRow is a shipping_zones row; the json tags read it inside the
// destination's JSON.
type zoneRow struct {
	ID        string    `bun:"id" json:"id"`
	Name      string    `bun:"name" json:"name"`
	Countries []string  `bun:"countries,array" json:"countries"`
	CreatedAt time.Time `bun:"created_at" json:"created_at"`
}

func (r zoneRow) zone() *Zone {
	return &Zone{ID: r.ID, Name: r.Name, Countries: r.Countries, Methods: []*Method{}, CreatedAt: r.CreatedAt}
}

// methodRow is a shipping_methods row, as selected and as aggregated to
// JSON (with its zone) by destinationSQL.
type methodRow struct {
	ID        string          `bun:"id" json:"id"`
	ZoneID    string          `bun:"zone_id" json:"zone_id"`
	Name      string          `bun:"name" json:"name"`
	Carrier   *string         `bun:"carrier" json:"carrier"`
	Condition string          `bun:"condition" json:"condition"`
	Rates     json.RawMessage `bun:"rates,type:jsonb" json:"rates"`
	Currency  string          `bun:"currency" json:"currency"`
	FreeAbove *int64          `bun:"free_above" json:"free_above"`
	MinDays   *int            `bun:"min_delivery_days" json:"min_delivery_days"`
	MaxDays   *int            `bun:"max_delivery_days" json:"max_delivery_days"`
	IsActive  bool            `bun:"is_active" json:"is_active"`
}

const methodColumns = `id, zone_id, name, carrier, condition, rates, currency, free_above, min_delivery_days, max_delivery_days, is_active`

func (r methodRow) method() (*Method, error) {
	m := &Method{ID: r.ID, ZoneID: r.ZoneID, Name: r.Name, Carrier: r.Carrier, Condition: Condition(r.Condition),
		Currency: r.Currency, MinDays: r.MinDays, MaxDays: r.MaxDays, IsActive: r.IsActive}
	if err := json.Unmarshal(r.Rates, &m.Bands); err != nil {
		return nil, fmt.Errorf("decode rates of shipping method %s: %w", r.ID, err)
	}
	if r.FreeAbove != nil {
		f := money.New(*r.FreeAbove, r.Currency)
		m.FreeAbove = &f
	}
	return m, nil
}

// taxRateRow is a tax_rates row; rate is read as written ("0.0725").
type taxRateRow struct {
	ID                string  `bun:"id" json:"id"`
	Name              string  `bun:"name" json:"name"`
	CountryCode       string  `bun:"country_code" json:"country_code"`
	Region            *string `bun:"region" json:"region"`
	TaxClass          *string `bun:"tax_class" json:"tax_class"`
	Rate              string  `bun:"rate" json:"rate"`
	AppliesToShipping bool    `bun:"applies_to_shipping" json:"applies_to_shipping"`
}

const taxRateColumns = `id, name, country_code, region, tax_class, rate::text AS rate, applies_to_shipping`

func (r taxRateRow) taxRate() (TaxRate, error) {
	num, den, err := money.ParseRate(r.Rate)
	if err != nil {
		return TaxRate{}, fmt.Errorf("decode tax rate %s: %w", r.ID, err)
	}
	return TaxRate{ID: r.ID, Name: r.Name, CountryCode: r.CountryCode, Region: r.Region, TaxClass: r.TaxClass,
		Rate: pricing.Rate{Num: num, Den: den}, AppliesToShipping: r.AppliesToShipping}, nil
}

// destinationSQL is one scalar subquery (a json object) with what prices a
// cart for a country: whether any zone and any rate exist, the active
// methods of the country's zone (each with its zone) and the country's
// rates. Its two placeholders are the country code. It is cheap when
// nothing is configured: two EXISTS on empty tables and two index probes.
const destinationSQL = `(SELECT json_build_object(
	'has_zones', EXISTS (SELECT 1 FROM shipping_zones),
	'has_rates', EXISTS (SELECT 1 FROM tax_rates),
	'methods', coalesce((
		SELECT json_agg(json_build_object('method', m, 'zone', json_build_object('id', z.id, 'name', z.name, 'countries', z.countries, 'created_at', z.created_at)) ORDER BY m.name, m.id)
		FROM shipping_zones z JOIN shipping_methods m ON m.zone_id = z.id
		WHERE z.countries @> ARRAY[?::text] AND m.is_active), '[]'),
	'rates', coalesce((
		SELECT json_agg(json_build_object('id', t.id, 'name', t.name, 'country_code', t.country_code, 'region', t.region,
			'tax_class', t.tax_class, 'rate', t.rate::text, 'applies_to_shipping', t.applies_to_shipping) ORDER BY t.id)
		FROM tax_rates t WHERE t.country_code = ?), '[]')))`

// DestinationExpr is destinationSQL for the select list of another
// statement, so that checkout loads the destination with its variants in
// one statement; pass DestinationArgs for its placeholders and decode the
// column with DecodeDestination.
const DestinationExpr = destinationSQL

// DestinationArgs are the arguments of DestinationExpr's placeholders.
func DestinationArgs(country string) []any {
	c := strings.ToUpper(country)
	return []any{c, c}
}

// destinationJSON is destinationSQL's result.
type destinationJSON struct {
	HasZones bool `json:"has_zones"`
	HasRates bool `json:"has_rates"`
	Methods  []struct {
		Method methodRow `json:"method"`
		Zone   zoneRow   `json:"zone"`
	} `json:"methods"`
	Rates []taxRateRow `json:"rates"`
}

// DecodeDestination reads DestinationExpr for the address's country and
// region.
func DecodeDestination(raw []byte, country, region string) (Destination, error) {
	var j destinationJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return Destination{}, fmt.Errorf("decode shipping destination: %w", err)
	}
	d := Destination{Country: strings.ToUpper(country), Region: strings.TrimSpace(region), HasZones: j.HasZones, HasRates: j.HasRates}
	zones := map[string]*Zone{}
	for _, mz := range j.Methods {
		m, err := mz.Method.method()
		if err != nil {
			return Destination{}, err
		}
		z := zones[mz.Zone.ID]
		if z == nil {
			z = mz.Zone.zone()
			zones[z.ID] = z
		}
		z.Methods = append(z.Methods, m)
		m.Zone = z
		d.Methods = append(d.Methods, m)
	}
	for _, r := range j.Rates {
		t, err := r.taxRate()
		if err != nil {
			return Destination{}, err
		}
		d.Rates = append(d.Rates, t)
	}
	return d, nil
}

// selectDestination loads the destination of a country in one statement.
func selectDestination(ctx context.Context, idb bun.IDB, country, region string) (Destination, error) {
	var raw []byte
	if err := idb.NewRaw(`SELECT `+destinationSQL, DestinationArgs(country)...).Scan(ctx, &raw); err != nil {
		return Destination{}, fmt.Errorf("load shipping destination: %w", err)
	}
	return DecodeDestination(raw, country, region)
}

// selectZones returns every zone with all its methods, by name.
func selectZones(ctx context.Context, idb bun.IDB) ([]*Zone, error) {
	var zones []zoneRow
	if err := idb.NewRaw(`SELECT id, name, countries, created_at FROM shipping_zones ORDER BY name, id`).Scan(ctx, &zones); err != nil {
		return nil, fmt.Errorf("list shipping zones: %w", err)
	}
	var methods []methodRow
	if err := idb.NewRaw(`SELECT `+methodColumns+` FROM shipping_methods ORDER BY name, id`).Scan(ctx, &methods); err != nil {
		return nil, fmt.Errorf("list shipping methods: %w", err)
	}
	out := make([]*Zone, len(zones))
	byID := map[string]*Zone{}
	for i, r := range zones {
		out[i] = r.zone()
		byID[r.ID] = out[i]
	}
	for _, r := range methods {
		m, err := r.method()
		if err != nil {
			return nil, err
		}
		if z := byID[m.ZoneID]; z != nil {
			m.Zone = z
			z.Methods = append(z.Methods, m)
		}
	}
	return out, nil
}

// selectZone returns one zone with its methods; sql.ErrNoRows when none.
func selectZone(ctx context.Context, idb bun.IDB, id string) (*Zone, error) {
	var r zoneRow
	if err := idb.NewRaw(`SELECT id, name, countries, created_at FROM shipping_zones WHERE id = ?`, id).Scan(ctx, &r); err != nil {
		return nil, err
	}
	var methods []methodRow
	if err := idb.NewRaw(`SELECT `+methodColumns+` FROM shipping_methods WHERE zone_id = ? ORDER BY name, id`, id).Scan(ctx, &methods); err != nil {
		return nil, fmt.Errorf("load shipping methods: %w", err)
	}
	z := r.zone()
	for _, mr := range methods {
		m, err := mr.method()
		if err != nil {
			return nil, err
		}
		m.Zone = z
		z.Methods = append(z.Methods, m)
	}
	return z, nil
}

// lockZones serialises the changes of zones' countries, so that two of
// them cannot put one country in two zones.
func lockZones(ctx context.Context, tx bun.Tx) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('shipping_zones'))`)
	return err
}

// countriesTaken returns, of countries, those already in another zone than
// except, with that zone's name.
func countriesTaken(ctx context.Context, idb bun.IDB, countries []string, except string) (map[string]string, error) {
	var rows []struct {
		Country string `bun:"country"`
		Name    string `bun:"name"`
	}
	err := idb.NewRaw(`SELECT c AS country, z.name FROM shipping_zones z, unnest(z.countries) c
		WHERE z.countries && ?::text[] AND z.id <> ?::uuid AND c = ANY (?::text[])`,
		pgdialect.Array(countries), except, pgdialect.Array(countries)).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("check zone countries: %w", err)
	}
	out := map[string]string{}
	for _, r := range rows {
		out[r.Country] = r.Name
	}
	return out, nil
}

func insertZone(ctx context.Context, idb bun.IDB, name string, countries []string) (*zoneRow, error) {
	var r zoneRow
	err := idb.NewRaw(`INSERT INTO shipping_zones (name, countries) VALUES (?, ?) RETURNING id, name, countries, created_at`,
		name, pgdialect.Array(countries)).Scan(ctx, &r)
	return &r, err
}

func updateZone(ctx context.Context, idb bun.IDB, id, name string, countries []string) (*zoneRow, error) {
	var r zoneRow
	err := idb.NewRaw(`UPDATE shipping_zones SET name = ?, countries = ?, updated_at = now() WHERE id = ?
		RETURNING id, name, countries, created_at`, name, pgdialect.Array(countries), id).Scan(ctx, &r)
	return &r, err
}

// deleteRow deletes the row of id from table and reports whether there
// was one.
func deleteRow(ctx context.Context, idb bun.IDB, table, id string) (bool, error) {
	res, err := idb.NewRaw(`DELETE FROM ? WHERE id = ?`, bun.Ident(table), id).Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("delete from %s: %w", table, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// writeMethod inserts the method (id "") or replaces the one of id; no row
// when the zone or the method is gone.
func writeMethod(ctx context.Context, idb bun.IDB, id string, m *Method) (*methodRow, error) {
	rates, err := json.Marshal(m.Bands)
	if err != nil {
		return nil, err
	}
	var free *int64
	if m.FreeAbove != nil {
		free = &m.FreeAbove.Amount
	}
	args := []any{m.Name, m.Carrier, string(m.Condition), string(rates), m.Currency, free, m.MinDays, m.MaxDays, m.IsActive}
	var r methodRow
	if id == "" {
		err = idb.NewRaw(`INSERT INTO shipping_methods (zone_id, name, carrier, condition, rates, currency, free_above,
			min_delivery_days, max_delivery_days, is_active)
			SELECT z.id, ?, ?, ?, ?::jsonb, ?, ?, ?, ?, ? FROM shipping_zones z WHERE z.id = ?
			RETURNING `+methodColumns, append(args, m.ZoneID)...).Scan(ctx, &r)
	} else {
		err = idb.NewRaw(`UPDATE shipping_methods SET name = ?, carrier = ?, condition = ?, rates = ?::jsonb, currency = ?,
			free_above = ?, min_delivery_days = ?, max_delivery_days = ?, is_active = ?, updated_at = now()
			WHERE id = ? RETURNING `+methodColumns, append(args, id)...).Scan(ctx, &r)
	}
	return &r, err
}

func selectTaxRates(ctx context.Context, idb bun.IDB) ([]TaxRate, error) {
	var rows []taxRateRow
	if err := idb.NewRaw(`SELECT `+taxRateColumns+` FROM tax_rates
		ORDER BY country_code, region NULLS FIRST, tax_class NULLS FIRST, id`).Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("list tax rates: %w", err)
	}
	out := make([]TaxRate, len(rows))
	for i, r := range rows {
		t, err := r.taxRate()
		if err != nil {
			return nil, err
		}
		out[i] = t
	}
	return out, nil
}

// writeTaxRate inserts the rate (id "") or replaces the one of id; rate is
// the decimal as written.
func writeTaxRate(ctx context.Context, idb bun.IDB, id string, t TaxRate, rate string) (*taxRateRow, error) {
	args := []any{t.Name, t.CountryCode, t.Region, t.TaxClass, rate, t.AppliesToShipping}
	var r taxRateRow
	var err error
	if id == "" {
		err = idb.NewRaw(`INSERT INTO tax_rates (name, country_code, region, tax_class, rate, applies_to_shipping)
			VALUES (?, ?, ?, ?, ?::numeric, ?) RETURNING `+taxRateColumns, args...).Scan(ctx, &r)
	} else {
		err = idb.NewRaw(`UPDATE tax_rates SET name = ?, country_code = ?, region = ?, tax_class = ?, rate = ?::numeric,
			applies_to_shipping = ?, updated_at = now() WHERE id = ? RETURNING `+taxRateColumns, append(args, id)...).Scan(ctx, &r)
	}
	return &r, err
}
