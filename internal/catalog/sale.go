package catalog

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/money"
	"commerce/internal/shipping"
)

// SaleVariant is a variant as carts and checkout see it: its price, its
// product's name, whether both are for sale, and how many active variants
// the product has (a line that names the product needs exactly one).
type SaleVariant struct {
	ID              string           `bun:"id"`
	ProductID       string           `bun:"product_id"`
	SKU             string           `bun:"sku"`
	Name            string           `bun:"name"`
	Title           string           `bun:"title"`
	SelectedOptions []SelectedOption `bun:"selected_options,type:jsonb"`
	Price           int64            `bun:"price"`
	Currency        string           `bun:"currency"`
	WeightGrams     *int64           `bun:"weight_grams"`
	TaxClass        *string          `bun:"tax_class"` // the product's; nil is the standard class
	ForSale         bool             `bun:"for_sale"`
	ActiveSiblings  int              `bun:"active_siblings"`
	// Category and Tags are the product's, which promotions target.
	Category *string  `bun:"category"`
	Tags     []string `bun:"tags,array"`
	// Extra is the value of the caller's ExtraColumn, the same on every row.
	Extra []byte `bun:"extra"`
}

// ExtraColumn is one more expression, of no table, that a caller of
// LoadForSale reads in the same round trip (checkout's shipping
// destination), with the arguments of its placeholders.
type ExtraColumn struct {
	SQL  string
	Args []any
	// Variants, when set, is a subquery of more variant ids to load (a
	// cart's lines, which checkout reads in the same statement), with
	// VariantsArgs for its placeholders.
	Variants     string
	VariantsArgs []any
}

// UnitPrice is the variant's current price.
func (v SaleVariant) UnitPrice() money.Money { return money.New(v.Price, v.Currency) }

// ShippingItem is what shipping and tax need of a line of quantity units of
// the variant: its price, weight and tax class.
func (v SaleVariant) ShippingItem(quantity int) shipping.Item {
	it := shipping.Item{UnitPrice: v.UnitPrice(), Quantity: quantity}
	if v.WeightGrams != nil {
		it.Grams = *v.WeightGrams
	}
	if v.TaxClass != nil {
		it.TaxClass = *v.TaxClass
	}
	return it
}

// LineRef names the variant of a cart or order line by exactly one of its
// id, its sku, or its product's id (for a product with one active variant).
type LineRef struct {
	VariantID, ProductID, SKU *string
}

// Field is the input field that names the variant: "variantId",
// "productId" or "sku".
func (r LineRef) Field() string {
	switch {
	case r.VariantID != nil:
		return "variantId"
	case r.ProductID != nil:
		return "productId"
	}
	return "sku"
}

// LoadForSale loads, in one query inside idb, every variant the refs name:
// by id, by sku, and the active variants of the products named; with each,
// the value of extra when it is given.
func LoadForSale(ctx context.Context, idb bun.IDB, refs []LineRef, extra *ExtraColumn) ([]SaleVariant, error) {
	// The nil UUID and the empty sku keep the lists non-empty; neither
	// matches a variant.
	variantIDs, productIDs, skus := []string{uuid.Nil.String()}, []string{uuid.Nil.String()}, []string{""}
	for _, r := range refs {
		switch {
		case r.VariantID != nil:
			if id, ok := canonicalID(*r.VariantID); ok {
				variantIDs = append(variantIDs, id)
			}
		case r.ProductID != nil:
			if id, ok := canonicalID(*r.ProductID); ok {
				productIDs = append(productIDs, id)
			}
		case r.SKU != nil:
			skus = append(skus, strings.ToLower(strings.TrimSpace(*r.SKU)))
		}
	}
	extraSQL, args, more := "NULL", []any{}, ""
	if extra != nil {
		extraSQL, args = extra.SQL, append(args, extra.Args...)
	}
	args = append(args, bun.In(variantIDs), bun.In(skus), bun.In(productIDs))
	if extra != nil && extra.Variants != "" {
		// = ANY (ARRAY(…)) makes the subquery an InitPlan run once, so the
		// OR stays a BitmapOr of index scans; `IN (subquery)` inside an OR
		// made Postgres scan every variant (45 ms a checkout at 50k).
		more, args = ` OR v.id = ANY (ARRAY(`+extra.Variants+`))`, append(args, extra.VariantsArgs...)
	}
	var out []SaleVariant
	err := idb.NewRaw(`SELECT v.id, v.product_id, v.sku, p.name, v.title, v.selected_options, v.price, v.currency,
			v.weight_grams, p.tax_class, v.is_active AND p.is_active AS for_sale, p.category, p.tags,
			(SELECT count(*) FROM product_variants AS s WHERE s.product_id = v.product_id AND s.is_active) AS active_siblings,
			`+extraSQL+` AS extra
		FROM product_variants AS v JOIN products AS p ON p.id = v.product_id
		WHERE v.id IN (?) OR lower(v.sku) IN (?) OR (v.product_id IN (?) AND v.is_active)`+more, args...).Scan(ctx, &out)
	if err != nil {
		return nil, fmt.Errorf("load variants for sale: %w", err)
	}
	return out, nil
}

// ResolveForSale finds the variant ref names among loaded and checks that it
// can be sold in currency. It returns a NotFound userError at path(field)
// for a missing or inactive variant or product, VARIANT_REQUIRED for a
// product with several active variants, and Invalid for another currency.
func ResolveForSale(loaded []SaleVariant, ref LineRef, currency string, path func(field string) []string) (*SaleVariant, error) {
	field := ref.Field()
	var found *SaleVariant
	for i := range loaded {
		v := &loaded[i]
		switch field {
		case "variantId":
			if id, ok := canonicalID(*ref.VariantID); ok && v.ID == id {
				found = v
			}
		case "productId":
			if id, ok := canonicalID(*ref.ProductID); ok && v.ProductID == id && v.ForSale {
				found = v
			}
		default:
			if strings.EqualFold(v.SKU, strings.TrimSpace(*ref.SKU)) {
				found = v
			}
		}
		if found != nil {
			break
		}
	}
	switch {
	case found == nil || !found.ForSale:
		return nil, apperr.Field(apperr.NotFound, path(field), "product not found")
	case field == "productId" && found.ActiveSiblings > 1:
		return nil, apperr.Coded("VARIANT_REQUIRED", path(field),
			"the product has %d variants: name one by variantId or sku", found.ActiveSiblings)
	case found.Currency != currency:
		return nil, apperr.InvalidField(path(field), "%s is sold in %s, not in the store currency %s", found.SKU, found.Currency, currency)
	}
	return found, nil
}

// ForSale is LoadForSale outside a transaction.
func (s *Service) ForSale(ctx context.Context, refs []LineRef) ([]SaleVariant, error) {
	return LoadForSale(ctx, s.db.Bun, refs, nil)
}
