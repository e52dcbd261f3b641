-- Product variants (issue 14). Stock, prices, the sku and the ledger move
-- from products to product_variants; every existing product becomes a
-- product with one default variant ("Default") carrying its sku, prices and
-- stock, and every ledger row, cart line and order line points at it.
--
-- products keeps what is shared by all variants, plus a summary of them
-- kept by the catalog whenever a variant is written (see below):
--   price      the lowest price of the product's active variants (lists
--              sort and filter on it), max_price the highest;
--   units_sold the product's sales over all variants (BEST_SELLING).

-- Options: a product's 0..3 named dimensions, each with its values.
CREATE TABLE product_options (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    product_id uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    name       text NOT NULL,
    position   integer NOT NULL CHECK (position >= 0),
    "values"   text[] NOT NULL,
    UNIQUE (product_id, position)
);
CREATE UNIQUE INDEX product_options_name_key ON product_options (product_id, lower(name));

-- Variants. The stock checks are those products had: on_hand - reserved
-- (available) can never go below zero whatever the code above does.
-- selected_options is [{"name":..,"value":..}] in option order; option_key
-- is its values lowercased and joined, so that each combination exists once
-- in a product (the empty key of a default variant, too).
CREATE TABLE product_variants (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    product_id           uuid NOT NULL REFERENCES products (id),
    sku                  text NOT NULL,
    title                text NOT NULL,
    selected_options     jsonb NOT NULL DEFAULT '[]',
    option_key           text NOT NULL DEFAULT '',
    currency             text NOT NULL,
    price                bigint NOT NULL CHECK (price >= 0),
    compare_at_price     bigint CHECK (compare_at_price >= 0),
    cost_price           bigint CHECK (cost_price >= 0),
    on_hand              integer NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    reserved             integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    available            integer GENERATED ALWAYS AS (on_hand - reserved) STORED,
    low_stock_threshold  integer NOT NULL DEFAULT 10 CHECK (low_stock_threshold >= 0),
    low_stock_alerted_at timestamptz,
    weight_grams         integer CHECK (weight_grams >= 0),
    length_mm            integer CHECK (length_mm >= 0),
    width_mm             integer CHECK (width_mm >= 0),
    height_mm            integer CHECK (height_mm >= 0),
    image_id             uuid REFERENCES product_images (id) ON DELETE SET NULL,
    position             integer NOT NULL CHECK (position >= 0),
    is_active            boolean NOT NULL DEFAULT true,
    units_sold           bigint NOT NULL DEFAULT 0,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT product_variants_reserved_within_on_hand CHECK (reserved <= on_hand)
);
CREATE UNIQUE INDEX product_variants_sku_key ON product_variants (lower(sku));
CREATE UNIQUE INDEX product_variants_option_key ON product_variants (product_id, option_key);
CREATE INDEX product_variants_product_idx ON product_variants (product_id, position, id);
CREATE INDEX product_variants_image_idx ON product_variants (image_id) WHERE image_id IS NOT NULL;
CREATE INDEX product_variants_options_idx ON product_variants USING gin (selected_options jsonb_path_ops);
CREATE INDEX product_variants_low_stock_idx ON product_variants (id)
    WHERE is_active AND available <= low_stock_threshold;

INSERT INTO product_variants (product_id, sku, title, currency, price, compare_at_price, cost_price,
        on_hand, reserved, low_stock_threshold, low_stock_alerted_at,
        weight_grams, length_mm, width_mm, height_mm, position, units_sold, created_at, updated_at)
SELECT id, sku, 'Default', currency, price, compare_at_price, cost_price,
       on_hand, reserved, low_stock_threshold, low_stock_alerted_at,
       weight_grams, length_mm, width_mm, height_mm, 0, units_sold, created_at, updated_at
FROM products;

-- The ledger: each row names its variant (product_id stays, for a
-- product's whole history).
ALTER TABLE inventory_transactions ADD COLUMN variant_id uuid REFERENCES product_variants (id);
UPDATE inventory_transactions AS t SET variant_id = v.id
FROM product_variants AS v WHERE v.product_id = t.product_id;
ALTER TABLE inventory_transactions ALTER COLUMN variant_id SET NOT NULL;
CREATE INDEX inventory_transactions_variant_idx ON inventory_transactions (variant_id, seq);

-- Cart lines: one line per variant and cart.
ALTER TABLE cart_lines ADD COLUMN variant_id uuid REFERENCES product_variants (id);
UPDATE cart_lines AS l SET variant_id = v.id
FROM product_variants AS v WHERE v.product_id = l.product_id;
ALTER TABLE cart_lines ALTER COLUMN variant_id SET NOT NULL;
ALTER TABLE cart_lines DROP CONSTRAINT cart_lines_cart_id_product_id_key;
ALTER TABLE cart_lines ADD CONSTRAINT cart_lines_cart_id_variant_id_key UNIQUE (cart_id, variant_id);

-- Order lines: an id of their own, the variant, and a snapshot of its
-- title and options as they were when the order was placed.
ALTER TABLE order_lines
    ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid(),
    ADD COLUMN variant_id uuid REFERENCES product_variants (id) ON DELETE SET NULL,
    ADD COLUMN variant_title text NOT NULL DEFAULT 'Default',
    ADD COLUMN selected_options jsonb NOT NULL DEFAULT '[]';
ALTER TABLE order_lines ADD CONSTRAINT order_lines_id_key UNIQUE (id);
UPDATE order_lines AS l SET variant_id = v.id
FROM product_variants AS v WHERE v.product_id = l.product_id;
CREATE INDEX order_lines_variant_idx ON order_lines (variant_id);

-- Stock leaves products. sku, compare_at_price, cost_price,
-- low_stock_threshold, weight_grams and the dimensions stay as a copy of the
-- first active variant's, max_price and has_options join price: the catalog
-- rewrites them whenever a variant or option changes, so that a product
-- read needs no join but the stock totals. The search document no longer
-- holds the sku: a search matches any variant's sku exactly instead.
ALTER TABLE products DROP COLUMN search;
DROP INDEX products_sku_key;
ALTER TABLE products
    DROP COLUMN available,
    DROP COLUMN on_hand,
    DROP COLUMN reserved,
    DROP COLUMN low_stock_alerted_at,
    ADD COLUMN max_price bigint NOT NULL DEFAULT 0,
    ADD COLUMN has_options boolean NOT NULL DEFAULT false,
    ALTER COLUMN sku SET DEFAULT '';
UPDATE products SET max_price = price;
ALTER TABLE products ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', name), 'A') ||
    setweight(to_tsvector('english', coalesce(category, '')), 'B') ||
    setweight(to_tsvector('english', coalesce(description, '')), 'C')
) STORED;
CREATE INDEX products_search_idx ON products USING gin (search);
