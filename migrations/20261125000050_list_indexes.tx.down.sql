DROP INDEX IF EXISTS orders_fulfillment_status_idx;
DROP INDEX IF EXISTS orders_payment_status_idx;
DROP INDEX IF EXISTS products_featured_created_idx;
DROP INDEX IF EXISTS products_active_category_idx;
CREATE INDEX IF NOT EXISTS products_category_idx ON products (category);
DROP INDEX IF EXISTS products_category_units_sold_idx;
DROP INDEX IF EXISTS products_category_name_idx;
DROP INDEX IF EXISTS products_category_price_idx;
DROP INDEX IF EXISTS products_category_created_idx;
