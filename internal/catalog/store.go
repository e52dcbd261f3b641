package catalog

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"commerce/internal/money"
)

// productRow is the storage row of a product. Besides what its variants
// share it holds a summary of them, rewritten by syncProductSummary
// whenever a variant or option changes: the lowest and highest active
// variant price (lists sort and filter on price), the first active
// variant's sku, prices, threshold and measures, and whether it has
// options. Stock is summed from the variants on every read (summaryJoins):
// it changes with every order, and copying it would make the product row
// a second hot spot.
type productRow struct {
	bun.BaseModel `bun:"table:products,alias:p"`

	ID                string    `bun:"id,pk,type:uuid,nullzero"`
	Handle            string    `bun:"handle"`
	Name              string    `bun:"name"`
	Description       *string   `bun:"description"`
	Currency          string    `bun:"currency"`
	Price             int64     `bun:"price"`
	MaxPrice          int64     `bun:"max_price"`
	Category          *string   `bun:"category"`
	Tags              []string  `bun:"tags,array"`
	IsActive          bool      `bun:"is_active"`
	IsFeatured        bool      `bun:"is_featured"`
	TaxClass          *string   `bun:"tax_class"`
	UnitsSold         int64     `bun:"units_sold"`
	SKU               string    `bun:"sku"`
	CompareAtPrice    *int64    `bun:"compare_at_price"`
	CostPrice         *int64    `bun:"cost_price"`
	LowStockThreshold int       `bun:"low_stock_threshold"`
	WeightGrams       *int      `bun:"weight_grams"`
	LengthMm          *int      `bun:"length_mm"`
	WidthMm           *int      `bun:"width_mm"`
	HeightMm          *int      `bun:"height_mm"`
	HasOptions        bool      `bun:"has_options"`
	CreatedAt         time.Time `bun:"created_at,nullzero"`
	UpdatedAt         time.Time `bun:"updated_at,nullzero"`

	OnHand    int `bun:"on_hand,scanonly"`
	Available int `bun:"available,scanonly"`
}

// summaryJoins joins each product p to the stock totals st of its active
// variants (product_variants_product_idx); summaryColumns reads them.
const (
	summaryJoins = `LEFT JOIN LATERAL (
		SELECT coalesce(sum(v.on_hand), 0) AS on_hand, coalesce(sum(v.available), 0) AS available
		FROM product_variants AS v WHERE v.product_id = p.id AND v.is_active) AS st ON true`
	summaryColumns = `st.on_hand, st.available`
)

// withSummary selects a product's own columns and its stock totals.
func withSummary(q *bun.SelectQuery) *bun.SelectQuery {
	return q.ColumnExpr("?TableColumns").ColumnExpr(summaryColumns).Join(summaryJoins)
}

func (r *productRow) product() *Product {
	p := &Product{ID: r.ID, SKU: r.SKU, Handle: r.Handle, Name: r.Name, Description: r.Description,
		Price: money.New(r.Price, r.Currency), MaxPrice: money.New(max(r.MaxPrice, r.Price), r.Currency),
		Category: r.Category, Tags: r.Tags,
		OnHand: r.OnHand, Available: r.Available, LowStockThreshold: r.LowStockThreshold,
		IsActive: r.IsActive, IsFeatured: r.IsFeatured, HasOptions: r.HasOptions, TaxClass: r.TaxClass, WeightGrams: r.WeightGrams,
		UnitsSold: r.UnitsSold, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	p.CompareAtPrice = moneyOrNil(r.CompareAtPrice, r.Currency)
	p.CostPrice = moneyOrNil(r.CostPrice, r.Currency)
	p.Dimensions = dimensionsOf(r.LengthMm, r.WidthMm, r.HeightMm)
	if p.Tags == nil {
		p.Tags = []string{}
	}
	return p
}

func moneyOrNil(amount *int64, currency string) *money.Money {
	if amount == nil {
		return nil
	}
	m := money.New(*amount, currency)
	return &m
}

func dimensionsOf(l, w, h *int) *Dimensions {
	if l == nil && w == nil && h == nil {
		return nil
	}
	return &Dimensions{LengthMm: l, WidthMm: w, HeightMm: h}
}

// productColumns are the product's own columns Update may change.
var productColumns = []string{"handle", "name", "description", "category", "tags", "is_active", "is_featured", "tax_class"}

// insertProduct inserts r and fills in its id and defaults. Its summary
// is set once its variants are inserted (syncProductSummary).
func insertProduct(ctx context.Context, idb bun.IDB, r *productRow) error {
	_, err := idb.NewInsert().Model(r).Returning("id, created_at, updated_at").Exec(ctx)
	return err
}

// takenHandles returns the handles equal to base or of the form base-N.
func takenHandles(ctx context.Context, idb bun.IDB, base string) ([]string, error) {
	var handles []string
	err := idb.NewSelect().Table("products").Column("handle").
		Where("handle = ? OR handle ~ ?", base, "^"+base+"-[0-9]+$").
		Scan(ctx, &handles)
	return handles, err
}

// selectProduct returns the product matching where with its summary. With
// lock, it first takes the product's row lock, which every write to a
// product or its variants and options holds.
func selectProduct(ctx context.Context, idb bun.IDB, lock bool, where string, arg any) (*productRow, error) {
	if lock {
		var id string
		err := idb.NewSelect().TableExpr("products AS p").ColumnExpr("p.id").
			Where(where, arg).For("UPDATE OF p").Scan(ctx, &id)
		if err != nil {
			return nil, err
		}
		where, arg = "p.id = ?", id
	}
	r := new(productRow)
	if err := withSummary(idb.NewSelect().Model(r)).Where(where, arg).Scan(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// updateProduct writes r's own editable columns.
func updateProduct(ctx context.Context, idb bun.IDB, r *productRow) error {
	_, err := idb.NewUpdate().Model(r).Column(productColumns...).
		Set("updated_at = now()").
		WherePK().
		Exec(ctx)
	return err
}

// archiveProduct deactivates a product; it reports false when there is none.
func archiveProduct(ctx context.Context, idb bun.IDB, id string) (bool, error) {
	res, err := idb.NewUpdate().Table("products").
		Set("is_active = false").
		Set("updated_at = now()").
		Where("id = ?", id).
		Exec(ctx)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func selectByIDs(ctx context.Context, idb bun.IDB, ids []string) ([]productRow, error) {
	var rows []productRow
	err := withSummary(idb.NewSelect().Model(&rows)).Where("p.id IN (?)", bun.List(ids)).Scan(ctx)
	return rows, err
}

// imageRow is the storage row of a product image.
type imageRow struct {
	bun.BaseModel `bun:"table:product_images,alias:i"`

	ID          string    `bun:"id,pk,type:uuid"`
	ProductID   string    `bun:"product_id,type:uuid"`
	StorageKey  string    `bun:"storage_key"`
	ContentType string    `bun:"content_type"`
	AltText     *string   `bun:"alt_text"`
	Position    int       `bun:"position"`
	Width       *int      `bun:"width"`
	Height      *int      `bun:"height"`
	SizeBytes   int64     `bun:"size_bytes"`
	CreatedAt   time.Time `bun:"created_at,nullzero"`
}

func (r imageRow) image() Image {
	return Image{ID: r.ID, ProductID: r.ProductID, StorageKey: r.StorageKey, ContentType: r.ContentType,
		AltText: r.AltText, Position: r.Position, Width: r.Width, Height: r.Height, SizeBytes: r.SizeBytes,
		CreatedAt: r.CreatedAt}
}

// productExists reports whether there is a product with the id.
func productExists(ctx context.Context, idb bun.IDB, id string) (bool, error) {
	return idb.NewSelect().Table("products").Where("id = ?", id).Exists(ctx)
}

// insertImage inserts r after the product's last image. The caller holds
// the product's row lock, so the position is free.
func insertImage(ctx context.Context, idb bun.IDB, r *imageRow) error {
	err := idb.NewSelect().Table("product_images").
		ColumnExpr("coalesce(max(position) + 1, 0)").
		Where("product_id = ?", r.ProductID).
		Scan(ctx, &r.Position)
	if err != nil {
		return err
	}
	_, err = idb.NewInsert().Model(r).Returning("created_at").Exec(ctx)
	return err
}

// imageProductID returns the product of an image.
func imageProductID(ctx context.Context, idb bun.IDB, imageID string) (string, error) {
	var pid string
	err := idb.NewSelect().Table("product_images").Column("product_id").
		Where("id = ?", imageID).
		Scan(ctx, &pid)
	return pid, err
}

// deleteImage deletes an image of the product and returns its storage key;
// sql.ErrNoRows when there is none.
func deleteImage(ctx context.Context, idb bun.IDB, imageID, productID string) (string, error) {
	var key string
	err := idb.NewRaw("DELETE FROM product_images WHERE id = ? AND product_id = ? RETURNING storage_key",
		imageID, productID).Scan(ctx, &key)
	return key, err
}

// compactImagePositions renumbers a product's images 0..n-1, keeping
// their order.
func compactImagePositions(ctx context.Context, idb bun.IDB, productID string) error {
	_, err := idb.NewRaw(`UPDATE product_images AS i SET position = o.pos
		FROM (SELECT id, row_number() OVER (ORDER BY position, id) - 1 AS pos
		      FROM product_images WHERE product_id = ?) AS o
		WHERE i.id = o.id AND i.position <> o.pos`, productID).Exec(ctx)
	return err
}

// imageIDsOf returns the ids of a product's images.
func imageIDsOf(ctx context.Context, idb bun.IDB, productID string) ([]string, error) {
	var ids []string
	err := idb.NewSelect().Table("product_images").Column("id").
		Where("product_id = ?", productID).
		Scan(ctx, &ids)
	return ids, err
}

// setImageOrder gives the images positions 0..n-1 in the order of ids.
func setImageOrder(ctx context.Context, idb bun.IDB, productID string, ids []string) error {
	_, err := idb.NewRaw(`UPDATE product_images AS i SET position = o.ord - 1
		FROM unnest(CAST(? AS uuid[])) WITH ORDINALITY AS o(id, ord)
		WHERE i.id = o.id AND i.product_id = ?`, pgdialect.Array(ids), productID).Exec(ctx)
	return err
}

func selectImages(ctx context.Context, idb bun.IDB, productIDs []string) ([]imageRow, error) {
	var rows []imageRow
	err := idb.NewSelect().Model(&rows).
		Where("i.product_id IN (?)", bun.List(productIDs)).
		OrderExpr("i.product_id, i.position, i.id").
		Scan(ctx)
	return rows, err
}

func selectCategories(ctx context.Context, idb bun.IDB) ([]string, error) {
	var cats []string
	err := idb.NewSelect().Table("products").ColumnExpr("DISTINCT category").
		Where("is_active AND category IS NOT NULL").
		OrderExpr("category").
		Scan(ctx, &cats)
	return cats, err
}

func anyProduct(ctx context.Context, idb bun.IDB) (bool, error) {
	return idb.NewSelect().Table("products").Exists(ctx)
}

// sortColumn is how one sort key reads in SQL: the expression ordered by,
// its value rendered as text for cursors, and the type that text is cast
// back to when a cursor is used.
type sortColumn struct {
	expr  string
	value string
	cast  string
}

// relevanceSQL ranks a product against the search held in the FROM item s
// (see searchFromSQL): full-text rank plus how well the query matches a
// word run of the name, so that a typo ("hedphones") still ranks. It is
// rounded to numeric so that a cursor carries it exactly.
const relevanceSQL = "round((ts_rank(p.search, s.tsq) + word_similarity(s.q, lower(p.name)))::numeric, 6)"

var sortColumns = map[SortKey]sortColumn{
	SortCreatedAt: {
		expr:  "p.created_at",
		value: `to_char(p.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
		cast:  "timestamptz",
	},
	SortPrice:       {expr: "p.price", value: "p.price::text", cast: "bigint"},
	SortName:        {expr: "lower(p.name)", value: "lower(p.name)", cast: "text"},
	SortBestSelling: {expr: "p.units_sold", value: "p.units_sold::text", cast: "bigint"},
	SortRelevance:   {expr: relevanceSQL, value: relevanceSQL + "::text", cast: "numeric"},
}

// searchFromSQL is the FROM item that parses the search once per query.
const searchFromSQL = "(SELECT websearch_to_tsquery('english', ?) AS tsq, lower(?) AS q) AS s"

// searchMatchSQL matches the full text (name, category, description), a
// fuzzy match of the name (pg_trgm's <% at word_similarity ≥ 0.6, served by
// the trigram index), or the exact sku of any of the product's variants:
// skus are unique, so that is one product id, found once per statement (an
// InitPlan), which keeps the three conditions a BitmapOr of indexes.
const searchMatchSQL = `(p.search @@ s.tsq OR s.q <% lower(p.name)
	OR p.id = (SELECT product_id FROM product_variants WHERE lower(sku) = lower(?)))`

// listRow is a product with the text of its sort value.
type listRow struct {
	productRow `bun:",extend"`
	SortValue  string `bun:"sort_value,scanonly"`
}

// selectPage is the product list: one statement, keyset-paginated.
func selectPage(ctx context.Context, idb bun.IDB, l listQuery) ([]listRow, error) {
	col := sortColumns[l.order.key]
	dir, cmp := "ASC", ">"
	if l.order.desc {
		dir, cmp = "DESC", "<"
	}
	var rows []listRow
	q := withSummary(idb.NewSelect().Model(&rows)).
		ColumnExpr(col.value + " AS sort_value")
	q = filtered(q, l.filter)
	if l.after != nil {
		q = q.Where("("+col.expr+", p.id) "+cmp+" (CAST(? AS "+col.cast+"), CAST(? AS uuid))", l.after.Value, l.after.ID)
	}
	err := q.OrderExpr(col.expr + " " + dir).
		OrderExpr("p.id " + dir).
		Limit(int64(l.limit)).
		Scan(ctx)
	return rows, err
}

// countProducts counts the products matching f.
func countProducts(ctx context.Context, idb bun.IDB, f filterQuery) (int, error) {
	n, err := filtered(idb.NewSelect().TableExpr("products AS p"), f).Count(ctx)
	return int(n), err
}

// filtered adds the search FROM item and the WHERE clause of f to q.
func filtered(q *bun.SelectQuery, f filterQuery) *bun.SelectQuery {
	if f.search != "" {
		q = q.TableExpr(searchFromSQL, f.search, f.search)
	}
	where := f.where(facetNone)
	return q.Where(where.sql(), where.args...)
}

// sqlAnd is a conjunction of SQL conditions with their arguments.
type sqlAnd struct {
	conds []string
	args  []any
}

func (w *sqlAnd) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *sqlAnd) sql() string {
	if len(w.conds) == 0 {
		return "true"
	}
	return "(" + strings.Join(w.conds, ") AND (") + ")"
}

// facetNone is the facet key of a plain list: every filter applies.
const facetNone = ""

// where is the condition a product p must meet, with every filter applied
// except the one of the facet except ("category", "tag", "option:<name>";
// facetNone for all): a facet is counted over the set its own filter does
// not narrow. The variant conditions (price, stock, options) must hold for
// one and the same active variant.
func (f filterQuery) where(except string) sqlAnd {
	var w sqlAnd
	if f.search != "" {
		w.add(searchMatchSQL, f.search)
	}
	if !f.includeInactive {
		w.add("p.is_active")
	}
	if except != facetCategory {
		if f.category != nil {
			w.add("p.category = ?", *f.category)
		}
		if len(f.categories) > 0 {
			w.add("p.category IN (?)", bun.List(f.categories))
		}
	}
	if len(f.tags) > 0 && except != facetTag {
		w.add("p.tags @> ?", pgdialect.Array(f.tags))
	}
	if f.isFeatured != nil {
		w.add("p.is_featured = ?", *f.isFeatured)
	}
	// A product with an active variant in the price range has its price
	// range overlap it: the product's own price columns rule most products
	// out before the variant subquery runs, and products_price_idx serves
	// the upper bound.
	if f.minPrice != nil {
		w.add("p.max_price >= ?", *f.minPrice)
	}
	if f.maxPrice != nil {
		w.add("p.price <= ?", *f.maxPrice)
	}
	if v := f.variantWhere("fv", except); len(v.conds) > 0 {
		w.add("EXISTS (SELECT 1 FROM product_variants AS fv WHERE fv.product_id = p.id AND fv.is_active AND "+v.sql()+")", v.args...)
	}
	if f.inStock != nil && !*f.inStock {
		w.add("NOT EXISTS (SELECT 1 FROM product_variants AS sv WHERE sv.product_id = p.id AND sv.is_active AND sv.available > 0)")
	}
	if f.lowStockOnly {
		w.add("EXISTS (SELECT 1 FROM product_variants AS lv WHERE lv.product_id = p.id AND lv.is_active AND lv.available <= lv.low_stock_threshold)")
	}
	return w
}

// variantWhere is the condition on one active variant (alias v) of the
// price range, inStock true and the options filter except the facet's own.
func (f filterQuery) variantWhere(v, except string) sqlAnd {
	var w sqlAnd
	if f.minPrice != nil {
		w.add(v+".price >= ?", *f.minPrice)
	}
	if f.maxPrice != nil {
		w.add(v+".price <= ?", *f.maxPrice)
	}
	if f.inStock != nil && *f.inStock {
		w.add(v + ".available > 0")
	}
	for _, o := range f.options {
		if except == facetOption+o.name {
			continue
		}
		anyOf := make([]string, len(o.values))
		args := make([]any, len(o.values))
		for i, val := range o.values {
			anyOf[i] = v + ".selected_options @> ?::jsonb"
			args[i] = containment(o.name, val)
		}
		w.add(strings.Join(anyOf, " OR "), args...)
	}
	return w
}

// containment is the jsonb that a variant's selected_options contains when
// it has value for the option name.
func containment(name, value string) string {
	b, _ := json.Marshal([]SelectedOption{{Name: name, Value: value}})
	return string(b)
}
