-- Indexes for list query shapes that, at realistic volume (50k products,
-- 500k orders), walked a sort index far, filtering most rows, or scanned the
-- table. Each serves a query the code issues; see the comments.

-- products(filter: {category}) with each sort key (catalog selectPage:
-- WHERE category = ? ORDER BY <key>, id). Without these the planner walks the
-- whole sort index filtering on category, reading thousands of rows per
-- page when a category's products sit late in that order.
CREATE INDEX IF NOT EXISTS products_category_created_idx ON products (category, created_at, id);
CREATE INDEX IF NOT EXISTS products_category_price_idx ON products (category, price, id);
CREATE INDEX IF NOT EXISTS products_category_name_idx ON products (category, lower(name), id);
CREATE INDEX IF NOT EXISTS products_category_units_sold_idx ON products (category, units_sold, id);
-- Its leading column makes products_category_created_idx serve every
-- equality on category that this one did.
DROP INDEX IF EXISTS products_category_idx;

-- Storefront lists are of active products only: categories (SELECT DISTINCT
-- category ... WHERE is_active), products { totalCount } and the category
-- count read this small, deduplicated index instead of the table.
CREATE INDEX IF NOT EXISTS products_active_category_idx ON products (category) WHERE is_active;

-- products(filter: {isFeatured: true}), newest first, and its totalCount.
CREATE INDEX IF NOT EXISTS products_featured_created_idx ON products (created_at, id)
    WHERE is_featured AND is_active;

-- orders(filter: {paymentStatus}) and orders(filter: {fulfillmentStatus}),
-- newest first with the (created_at, id) cursor, and their totalCount. A
-- rare status (PARTIALLY_REFUNDED, FAILED) otherwise scans the table.
CREATE INDEX IF NOT EXISTS orders_payment_status_idx ON orders (payment_status, created_at, id);
CREATE INDEX IF NOT EXISTS orders_fulfillment_status_idx ON orders (fulfillment_status, created_at, id);
