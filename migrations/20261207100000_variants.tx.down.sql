-- Back to one stock level a product: each product keeps its first active
-- variant's sku, prices and dimensions and takes the sums of its variants'
-- stock. Lines and ledger rows keep their product ids.
ALTER TABLE products DROP COLUMN search;
ALTER TABLE products
    DROP COLUMN max_price,
    DROP COLUMN has_options,
    ALTER COLUMN sku DROP DEFAULT,
    ADD COLUMN on_hand integer NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    ADD COLUMN reserved integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    ADD COLUMN low_stock_alerted_at timestamptz;
UPDATE products AS p SET low_stock_alerted_at = f.low_stock_alerted_at
FROM (SELECT DISTINCT ON (product_id) * FROM product_variants ORDER BY product_id, position, id) AS f
WHERE f.product_id = p.id;
UPDATE products AS p SET on_hand = s.on_hand, reserved = s.reserved
FROM (SELECT product_id, sum(on_hand)::integer AS on_hand, sum(reserved)::integer AS reserved
      FROM product_variants GROUP BY product_id) AS s
WHERE s.product_id = p.id;
ALTER TABLE products ALTER COLUMN sku SET NOT NULL;
ALTER TABLE products ADD COLUMN available integer GENERATED ALWAYS AS (on_hand - reserved) STORED;
ALTER TABLE products ADD CONSTRAINT products_reserved_within_on_hand CHECK (reserved <= on_hand);
CREATE UNIQUE INDEX products_sku_key ON products (lower(sku));
CREATE INDEX products_low_stock_idx ON products (id) WHERE available <= low_stock_threshold;
ALTER TABLE products ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', sku), 'A') ||
    setweight(to_tsvector('english', name), 'A') ||
    setweight(to_tsvector('english', coalesce(category, '')), 'B') ||
    setweight(to_tsvector('english', coalesce(description, '')), 'C')
) STORED;
CREATE INDEX products_search_idx ON products USING gin (search);

ALTER TABLE order_lines DROP COLUMN selected_options, DROP COLUMN variant_title,
    DROP COLUMN variant_id, DROP COLUMN id;
-- Lines of two variants of one product merge into one.
DELETE FROM cart_lines AS l USING cart_lines AS o
WHERE l.cart_id = o.cart_id AND l.product_id = o.product_id AND l.id > o.id;
ALTER TABLE cart_lines DROP CONSTRAINT cart_lines_cart_id_variant_id_key;
ALTER TABLE cart_lines DROP COLUMN variant_id;
ALTER TABLE cart_lines ADD CONSTRAINT cart_lines_cart_id_product_id_key UNIQUE (cart_id, product_id);
ALTER TABLE inventory_transactions DROP COLUMN variant_id;
DROP TABLE product_variants;
DROP TABLE product_options;
