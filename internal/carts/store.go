package carts

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"commerce/internal/customers"
	"commerce/internal/platform/db"
)

// cartRow is a carts row as stored.
type cartRow struct {
	ID               string    `bun:"id"`
	Email            *string   `bun:"email"`
	MarketingOptIn   bool      `bun:"marketing_opt_in"`
	Currency         string    `bun:"currency"`
	Status           string    `bun:"status"`
	CompletedOrderID *string   `bun:"completed_order_id"`
	ShippingAddress  []byte    `bun:"shipping_address"`
	ShippingMethodID *string   `bun:"shipping_method_id"`
	DiscountCodes    []string  `bun:"discount_codes,array"`
	CreatedAt        time.Time `bun:"created_at"`
	UpdatedAt        time.Time `bun:"updated_at"`
}

const cartColumns = `id, email, marketing_opt_in, currency, status, completed_order_id, shipping_address,
	shipping_method_id, discount_codes, created_at, updated_at`

// lineRow is a cart_lines row as stored.
type lineRow struct {
	ID        string `bun:"id" json:"id"`
	ProductID string `bun:"product_id" json:"product_id"`
	VariantID string `bun:"variant_id" json:"variant_id"`
	Quantity  int    `bun:"quantity" json:"quantity"`
}

func (r *cartRow) cart(lines []lineRow) *Cart {
	c := &Cart{ID: r.ID, Email: r.Email, MarketingOptIn: r.MarketingOptIn, Currency: r.Currency, Status: Status(r.Status),
		CompletedOrderID: r.CompletedOrderID, ShippingMethodID: r.ShippingMethodID, DiscountCodes: r.DiscountCodes,
		Lines:     make([]Line, len(lines)),
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if len(r.ShippingAddress) > 0 {
		// The service wrote it from a customers.Address.
		var a customers.Address
		if json.Unmarshal(r.ShippingAddress, &a) == nil {
			c.ShippingAddress = &a
		}
	}
	for i, l := range lines {
		c.Lines[i] = Line{ID: l.ID, ProductID: l.ProductID, VariantID: l.VariantID, Quantity: l.Quantity}
	}
	return c
}

// insertCart creates a cart with its lines (new variants of products,
// merged by the caller) in one statement, as a cart-only transaction, and
// returns it with its lines.
func insertCart(ctx context.Context, idb bun.IDB, email *string, optIn bool, currency string,
	variantIDs, productIDs []string, quantities []int) (*Cart, error) {
	var r cartWithLines
	err := idb.NewRaw(`
		WITH c AS (
			INSERT INTO carts (email, marketing_opt_in, currency) VALUES (?, ?, ?)
			RETURNING `+cartColumns+`, `+cartTransaction+` AS async
		), l AS (
			INSERT INTO cart_lines (cart_id, variant_id, product_id, quantity, created_at, updated_at)
			SELECT c.id, u.variant_id, u.product_id, u.quantity, clock_timestamp(), now()
			FROM c, unnest(?::uuid[], ?::uuid[], ?::integer[]) WITH ORDINALITY AS u (variant_id, product_id, quantity, n)
			ORDER BY u.n
			RETURNING id, product_id, variant_id, quantity, created_at
		)
		SELECT `+prefixed("c.", cartColumns)+`,
			`+linesFrom+`l`+linesEnd+` AS lines
		FROM c`,
		email, optIn, currency, pgdialect.Array(variantIDs), pgdialect.Array(productIDs), pgdialect.Array(quantities)).
		Scan(ctx, &r)
	if err != nil {
		return nil, err
	}
	return r.cart()
}

// selectCart returns the cart, its row locked until the transaction ends,
// so that concurrent changes of one cart serialize. The lines are read by
// a statement after it (selectLines): one that waited for the lock would
// read them from the snapshot it took before waiting.
func selectCart(ctx context.Context, idb bun.IDB, id string) (*cartRow, error) {
	var r cartRow
	err := idb.NewRaw(`SELECT `+cartColumns+` FROM carts WHERE id = ? FOR UPDATE`, id).Scan(ctx, &r)
	return &r, err
}

// lockForChange is selectCart with its lock for a cart-only transaction
// (see cartTransaction).
func lockForChange(ctx context.Context, idb bun.IDB, id string) (*cartRow, error) {
	var r cartRow
	err := idb.NewRaw(`SELECT `+cartColumns+` FROM carts WHERE id = ? AND `+cartTransaction+` IS NOT NULL FOR UPDATE`, id).
		Scan(ctx, &r)
	return &r, err
}

// selectCartWithLines returns the cart with its lines in one statement,
// nil when there is none.
func selectCartWithLines(ctx context.Context, idb bun.IDB, id string) (*Cart, error) {
	var r cartWithLines
	err := idb.NewRaw(`SELECT `+cartColumns+`, `+linesOf+`carts.id`+linesEnd+` AS lines FROM carts WHERE id = ?`, id).Scan(ctx, &r)
	if db.IsNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return r.cart()
}

// selectLines returns the lines of a cart in the order they were added.
func selectLines(ctx context.Context, idb bun.IDB, cartID string) ([]lineRow, error) {
	var rows []lineRow
	err := idb.NewRaw(`
		SELECT id, product_id, variant_id, quantity FROM cart_lines
		WHERE cart_id = ?
		ORDER BY created_at, id`, cartID).Scan(ctx, &rows)
	return rows, err
}

// upsertLines adds quantities of variants (of the products in productIDs)
// to the cart, to the variant's line when there is one, in one statement
// that reads the cart's lines itself: only when afterwards no variant holds
// more than MaxQuantity units and the cart no more than MaxLinesPerCart
// variants (plan's rule, which then explains a refusal from current). The
// caller holds the cart's lock, so the lines it reads are the latest.
// clock_timestamp() keeps the lines of one request in request order; the
// quantity check constraint backs the bound up. variantIDs has no
// duplicates (ON CONFLICT cannot update one row twice).
func upsertLines(ctx context.Context, idb bun.IDB, cartID string, variantIDs, productIDs []string, quantities []int) (current []lineRow, applied bool, err error) {
	var r struct {
		Applied bool            `bun:"applied"`
		Current json.RawMessage `bun:"current"`
	}
	err = idb.NewRaw(`
		WITH current AS (
			SELECT id, product_id, variant_id, quantity FROM cart_lines WHERE cart_id = ?0
		), added AS (
			SELECT * FROM unnest(?1::uuid[], ?2::uuid[], ?3::integer[]) WITH ORDINALITY AS u (variant_id, product_id, quantity, n)
		), totals AS (
			SELECT variant_id, sum(quantity) AS quantity
			FROM (SELECT variant_id, quantity FROM current UNION ALL SELECT variant_id, quantity FROM added) AS t
			GROUP BY variant_id
		), fits AS MATERIALIZED (
			SELECT coalesce(bool_and(quantity <= ?4), true) AND count(*) <= ?5 AS ok FROM totals
		), upserted AS (
			INSERT INTO cart_lines (cart_id, variant_id, product_id, quantity, created_at, updated_at)
			SELECT ?0, a.variant_id, a.product_id, a.quantity, clock_timestamp(), now()
			FROM added AS a WHERE (SELECT ok FROM fits)
			ORDER BY a.n
			ON CONFLICT (cart_id, variant_id) DO UPDATE
				SET quantity = cart_lines.quantity + EXCLUDED.quantity, updated_at = now()
		)
		SELECT (SELECT ok FROM fits) AS applied,
			coalesce((SELECT json_agg(current) FROM current), '[]') AS current`,
		cartID, pgdialect.Array(variantIDs), pgdialect.Array(productIDs), pgdialect.Array(quantities),
		MaxQuantity, MaxLinesPerCart).Scan(ctx, &r)
	if err != nil {
		return nil, false, err
	}
	if r.Applied {
		return nil, true, nil
	}
	current, err = decodeLineRows(r.Current)
	return current, false, err
}

// setQuantities sets the quantities of lines of the cart.
func setQuantities(ctx context.Context, idb bun.IDB, cartID string, lineIDs []string, quantities []int) error {
	_, err := idb.NewRaw(`
		UPDATE cart_lines l SET quantity = u.quantity, updated_at = now()
		FROM unnest(?::uuid[], ?::integer[]) AS u (id, quantity)
		WHERE l.id = u.id AND l.cart_id = ?`,
		pgdialect.Array(lineIDs), pgdialect.Array(quantities), cartID).Exec(ctx)
	return err
}

// deleteLines removes lines of the cart.
func deleteLines(ctx context.Context, idb bun.IDB, cartID string, lineIDs []string) error {
	_, err := idb.NewRaw(`DELETE FROM cart_lines WHERE cart_id = ? AND id = ANY (?::uuid[])`,
		cartID, pgdialect.Array(lineIDs)).Exec(ctx)
	return err
}

// setDiscountCodes replaces the cart's discount codes.
func setDiscountCodes(ctx context.Context, idb bun.IDB, id string, codes []string) error {
	_, err := idb.NewRaw(`UPDATE carts SET discount_codes = ? WHERE id = ?`, pgdialect.Array(codes), id).Exec(ctx)
	return err
}

// touchCart records a change of the cart and returns it with its lines as
// this transaction left them (the caller holds the cart's lock, so nobody
// else changed them since its snapshot).
func touchCart(ctx context.Context, idb bun.IDB, id string) (*Cart, error) {
	var r cartWithLines
	err := idb.NewRaw(`UPDATE carts SET updated_at = now() WHERE id = ?
		RETURNING `+cartColumns+`, `+linesOf+`carts.id`+linesEnd+` AS lines`, id).Scan(ctx, &r)
	if err != nil {
		return nil, err
	}
	return r.cart()
}

// updateEmail sets the cart's email and its marketing consent: optIn when
// given, else the consent stays with an unchanged email and is cleared for a
// new one (it was given for the old address). It returns the cart's row.
func updateEmail(ctx context.Context, idb bun.IDB, id, email string, optIn *bool) (*cartRow, error) {
	var r cartRow
	err := idb.NewRaw(`
		UPDATE carts SET email = ?,
			marketing_opt_in = coalesce(?::boolean, email IS NOT DISTINCT FROM ? AND marketing_opt_in),
			updated_at = now()
		WHERE id = ? RETURNING `+cartColumns,
		email, optIn, email, id).Scan(ctx, &r)
	return &r, err
}

// completeCart locks the cart and marks it completed by the order when it
// is active, and returns its row as it was before. It returns no row when
// the cart is missing. The CTE locks the row and reads its newest
// committed status (after waiting for a checkout or change holding it);
// the UPDATE then writes that same newest version.
func completeCart(ctx context.Context, idb bun.IDB, id, orderID string) (*cartRow, error) {
	var r cartRow
	err := idb.NewRaw(`
		WITH before AS MATERIALIZED (SELECT `+cartColumns+` FROM carts WHERE id = ? FOR UPDATE)
		UPDATE carts AS c SET
			status = 'COMPLETED',
			completed_order_id = CASE WHEN b.status = 'ACTIVE' THEN ?::uuid ELSE c.completed_order_id END,
			updated_at = CASE WHEN b.status = 'ACTIVE' THEN now() ELSE c.updated_at END
		FROM before AS b WHERE c.id = b.id
		RETURNING `+prefixed("b.", cartColumns), id, orderID).Scan(ctx, &r)
	return &r, err
}

// prefixed qualifies each column of a comma-separated list.
func prefixed(prefix, columns string) string {
	parts := strings.Split(columns, ",")
	for i, c := range parts {
		parts[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// linesFrom is a scalar subquery (a json array, read by decodeLineRows)
// of cart lines, in the order they were added; the relation "l" they come
// from follows it, then linesEnd.
const linesFrom = `coalesce((SELECT json_agg(json_build_object('id', l.id, 'product_id', l.product_id,
	'variant_id', l.variant_id, 'quantity', l.quantity) ORDER BY l.created_at, l.id)
	FROM `

// linesOf is linesFrom the lines of a cart; the cart's id follows it, then
// linesEnd.
const linesOf = linesFrom + `cart_lines AS l WHERE l.cart_id = `

const linesEnd = `), '[]')`

// LinesExpr is linesOf the cart named by its one placeholder, for the
// select list of another statement; decode it with DecodeLines.
const LinesExpr = linesOf + `?` + linesEnd

// LineVariantsExpr is a subquery of the variant ids of the lines of the
// cart named by its one placeholder.
const LineVariantsExpr = `SELECT variant_id FROM cart_lines WHERE cart_id = ?`

// DecodeLines reads LinesExpr.
func DecodeLines(raw []byte) ([]Line, error) {
	rows, err := decodeLineRows(raw)
	if err != nil {
		return nil, err
	}
	out := make([]Line, len(rows))
	for i, l := range rows {
		out[i] = Line{ID: l.ID, ProductID: l.ProductID, VariantID: l.VariantID, Quantity: l.Quantity}
	}
	return out, nil
}

func decodeLineRows(raw []byte) ([]lineRow, error) {
	var rows []lineRow
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, fmt.Errorf("decode cart lines: %w", err)
	}
	return rows, nil
}

// cartWithLines is a cart's row with its lines as linesOf reads them.
type cartWithLines struct {
	cartRow
	Lines json.RawMessage `bun:"lines"`
}

func (r *cartWithLines) cart() (*Cart, error) {
	rows, err := decodeLineRows(r.Lines)
	if err != nil {
		return nil, err
	}
	return r.cartRow.cart(rows), nil
}

// cartTransaction is how a cart-only transaction starts its first
// statement: set_config(…, true) is SET LOCAL, so that only this
// transaction commits without waiting for its WAL flush (see
// docs/design.md, "Cart writes are not synchronous"). It costs no
// statement of its own, and is safe behind PgBouncer in transaction mode.
const cartTransaction = `set_config('synchronous_commit', 'off', true)`

// canonicalID returns the lowercase hyphenated form of a UUID, so that a
// malformed id is "not found" rather than an SQL error.
func canonicalID(id string) (string, bool) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// updateShippingAddress sets the cart's shipping address (JSON).
func updateShippingAddress(ctx context.Context, idb bun.IDB, id string, address []byte) error {
	_, err := idb.NewRaw(`UPDATE carts SET shipping_address = ?::jsonb WHERE id = ?`, string(address), id).Exec(ctx)
	return err
}

// updateShippingMethod sets the cart's chosen shipping method.
func updateShippingMethod(ctx context.Context, idb bun.IDB, id, methodID string) error {
	_, err := idb.NewRaw(`UPDATE carts SET shipping_method_id = ? WHERE id = ?`, methodID, id).Exec(ctx)
	return err
}
