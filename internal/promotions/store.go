package promotions

import (
	"context"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// row is a promotions row as stored.
type row struct {
	ID               string     `bun:"id"`
	Seq              int64      `bun:"seq"`
	Name             string     `bun:"name"`
	Code             *string    `bun:"code"`
	ValueType        string     `bun:"value_type"`
	Value            int64      `bun:"value"`
	Currency         string     `bun:"currency"`
	Categories       []string   `bun:"categories,array"`
	Tags             []string   `bun:"tags,array"`
	ProductIDs       []string   `bun:"product_ids,array"`
	MinimumSubtotal  *int64     `bun:"minimum_subtotal"`
	StartsAt         *time.Time `bun:"starts_at"`
	EndsAt           *time.Time `bun:"ends_at"`
	UsageLimit       *int       `bun:"usage_limit"`
	PerCustomerLimit *int       `bun:"per_customer_limit"`
	TimesUsed        int        `bun:"times_used"`
	Combines         bool       `bun:"combines"`
	IsActive         bool       `bun:"is_active"`
	ArchivedAt       *time.Time `bun:"archived_at"`
	CreatedAt        time.Time  `bun:"created_at"`
	UpdatedAt        time.Time  `bun:"updated_at"`
}

const columns = `id, seq, name, code, value_type, value, currency, categories, tags, product_ids, minimum_subtotal,
	starts_at, ends_at, usage_limit, per_customer_limit, times_used, combines, is_active, archived_at, created_at, updated_at`

func (r *row) promotion() Promotion {
	return Promotion{ID: r.ID, Name: r.Name, Code: r.Code, ValueType: ValueType(r.ValueType), Value: r.Value,
		Currency: r.Currency, Target: Target{Categories: r.Categories, Tags: r.Tags, ProductIDs: r.ProductIDs},
		MinimumSubtotal: r.MinimumSubtotal, StartsAt: r.StartsAt, EndsAt: r.EndsAt, UsageLimit: r.UsageLimit,
		PerCustomerLimit: r.PerCustomerLimit, TimesUsed: r.TimesUsed, Combines: r.Combines, IsActive: r.IsActive,
		ArchivedAt: r.ArchivedAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

func rowArgs(p *Promotion) []any {
	return []any{p.Name, p.Code, string(p.ValueType), p.Value, p.Currency, pgdialect.Array(nonNil(p.Target.Categories)),
		pgdialect.Array(nonNil(p.Target.Tags)), pgdialect.Array(nonNil(p.Target.ProductIDs)), p.MinimumSubtotal,
		p.StartsAt, p.EndsAt, p.UsageLimit, p.PerCustomerLimit, p.Combines, p.IsActive}
}

func insertPromotion(ctx context.Context, idb bun.IDB, p *Promotion) (row, error) {
	var r row
	err := idb.NewRaw(`INSERT INTO promotions (name, code, value_type, value, currency, categories, tags, product_ids,
			minimum_subtotal, starts_at, ends_at, usage_limit, per_customer_limit, combines, is_active)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+columns, rowArgs(p)...).Scan(ctx, &r)
	return r, err
}

// updatePromotion replaces the settings of a promotion that is not
// archived; times_used is kept.
func updatePromotion(ctx context.Context, idb bun.IDB, id string, p *Promotion) (row, error) {
	var r row
	err := idb.NewRaw(`UPDATE promotions SET name = ?, code = ?, value_type = ?, value = ?, currency = ?, categories = ?,
			tags = ?, product_ids = ?, minimum_subtotal = ?, starts_at = ?, ends_at = ?, usage_limit = ?,
			per_customer_limit = ?, combines = ?, is_active = ?, updated_at = now()
		WHERE id = ? AND archived_at IS NULL RETURNING `+columns, append(rowArgs(p), id)...).Scan(ctx, &r)
	return r, err
}

// archivePromotion archives a promotion; archiving twice keeps the first time.
func archivePromotion(ctx context.Context, idb bun.IDB, id string) (row, error) {
	var r row
	err := idb.NewRaw(`UPDATE promotions SET archived_at = coalesce(archived_at, now()), updated_at = now()
		WHERE id = ? RETURNING `+columns, id).Scan(ctx, &r)
	return r, err
}

func selectPromotion(ctx context.Context, idb bun.IDB, id string) (row, error) {
	var r row
	err := idb.NewRaw(`SELECT `+columns+` FROM promotions WHERE id = ?`, id).Scan(ctx, &r)
	return r, err
}

// selectForPricing returns the live automatic promotions and the promotions
// of the codes that are not archived, automatic ones first, oldest first.
func selectForPricing(ctx context.Context, idb bun.IDB, codes []string) ([]row, error) {
	var rows []row
	err := idb.NewRaw(`SELECT `+columns+` FROM promotions
		WHERE archived_at IS NULL AND ((code IS NULL AND is_active) OR code = ANY (?::text[]))
		ORDER BY code IS NOT NULL, seq`, pgdialect.Array(nonNil(codes))).Scan(ctx, &rows)
	return rows, err
}

// automaticExists reports whether any live automatic promotion exists.
func automaticExists(ctx context.Context, idb bun.IDB) (bool, error) {
	var ok bool
	err := idb.NewRaw(`SELECT EXISTS (SELECT 1 FROM promotions
		WHERE code IS NULL AND archived_at IS NULL AND is_active AND (ends_at IS NULL OR ends_at > now()))`).Scan(ctx, &ok)
	return ok, err
}

// listPromotions returns up to limit promotions, newest first, older than
// beforeSeq when it is > 0, matching the search and the active filter.
func listPromotions(ctx context.Context, idb bun.IDB, beforeSeq int64, limit int, search string, active *bool) ([]row, int, error) {
	where := `(? = 0 OR seq < ?) AND (? = '' OR name ILIKE ? OR code ILIKE ?) AND (?::boolean IS NULL OR is_active = ?)`
	pattern := "%" + escapeLike(search) + "%"
	args := []any{beforeSeq, beforeSeq, search, pattern, pattern, active, active}
	var rows []row
	if err := idb.NewRaw(`SELECT `+columns+` FROM promotions WHERE `+where+` ORDER BY seq DESC LIMIT ?`,
		append(args, limit)...).Scan(ctx, &rows); err != nil {
		return nil, 0, err
	}
	var total int
	err := idb.NewRaw(`SELECT count(*) FROM promotions WHERE `+where, append([]any{int64(0), int64(0)}, args[2:]...)...).Scan(ctx, &total)
	return rows, total, err
}

// existingProducts returns which of ids are products.
func existingProducts(ctx context.Context, idb bun.IDB, ids []string) (map[string]bool, error) {
	var found []string
	err := idb.NewRaw(`SELECT id FROM products WHERE id = ANY (?::uuid[])`, pgdialect.Array(ids)).Scan(ctx, &found)
	out := make(map[string]bool, len(found))
	for _, id := range found {
		out[id] = true
	}
	return out, err
}

// customerUses returns how many uses email holds of each promotion.
func customerUses(ctx context.Context, idb bun.IDB, email string, ids []string) (map[string]int, error) {
	var rows []struct {
		PromotionID string `bun:"promotion_id"`
		Uses        int    `bun:"uses"`
	}
	err := idb.NewRaw(`SELECT promotion_id, uses FROM promotion_customer_uses WHERE email = ? AND promotion_id = ANY (?::uuid[])`,
		email, pgdialect.Array(ids)).Scan(ctx, &rows)
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.PromotionID] = r.Uses
	}
	return out, err
}

// takeUses takes, in one statement, a use of each promotion (while it is
// live and under its usage limit) and, for those with a per-customer
// limit, a use of email (while under that limit). The updates lock the
// rows until the transaction ends, so concurrent checkouts queue and each
// sees the count the previous one committed. It returns the promotions
// whose use was taken and whether email's was, where it is limited.
func takeUses(ctx context.Context, idb bun.IDB, ids []string, email string) (map[string]bool, error) {
	var rows []struct {
		ID         string `bun:"id"`
		CustomerOK bool   `bun:"customer_ok"`
	}
	err := idb.NewRaw(`
		WITH taken AS (
			UPDATE promotions p SET times_used = p.times_used + 1
			WHERE p.id = ANY (?::uuid[]) AND p.archived_at IS NULL AND p.is_active
				AND (p.usage_limit IS NULL OR p.times_used < p.usage_limit)
			RETURNING p.id, p.per_customer_limit
		), customer AS (
			INSERT INTO promotion_customer_uses AS u (promotion_id, email, uses)
			SELECT t.id, ?, 1 FROM taken t WHERE t.per_customer_limit IS NOT NULL
			ON CONFLICT (promotion_id, email) DO UPDATE SET uses = u.uses + 1
			WHERE u.uses < (SELECT l.per_customer_limit FROM promotions l WHERE l.id = u.promotion_id)
			RETURNING u.promotion_id
		)
		SELECT t.id, t.per_customer_limit IS NULL OR EXISTS (SELECT 1 FROM customer c WHERE c.promotion_id = t.id) AS customer_ok
		FROM taken t`, pgdialect.Array(ids), email).Scan(ctx, &rows)
	out := make(map[string]bool, len(rows))
	for _, r := range rows {
		out[r.ID] = r.CustomerOK
	}
	return out, err
}

// giveUsesBack returns a use of each promotion and of email's, in one
// statement.
func giveUsesBack(ctx context.Context, idb bun.IDB, ids []string, email string) error {
	_, err := idb.NewRaw(`
		WITH back AS (
			UPDATE promotions SET times_used = times_used - 1 WHERE id = ANY (?::uuid[]) AND times_used > 0
		)
		UPDATE promotion_customer_uses SET uses = uses - 1 WHERE email = ? AND promotion_id = ANY (?::uuid[]) AND uses > 0`,
		pgdialect.Array(ids), email, pgdialect.Array(ids)).Exec(ctx)
	return err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func escapeLike(s string) string {
	r := make([]rune, 0, len(s))
	for _, c := range s {
		if c == '%' || c == '_' || c == '\\' {
			r = append(r, '\\')
		}
		r = append(r, c)
	}
	return string(r)
}
