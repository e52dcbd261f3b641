CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Products. Money columns are integer minor units of `currency`.
-- Stock: on_hand is what is in the warehouse, reserved what unpaid orders
-- hold; available (on_hand - reserved) is what can still be sold. The checks
-- make overselling impossible whatever the code above does.
CREATE TABLE products (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    sku                  text NOT NULL,
    handle               text NOT NULL,
    name                 text NOT NULL,
    description          text,
    currency             text NOT NULL,
    price                bigint NOT NULL CHECK (price >= 0),
    compare_at_price     bigint CHECK (compare_at_price >= 0),
    cost_price           bigint CHECK (cost_price >= 0),
    category             text,
    tags                 text[] NOT NULL DEFAULT '{}',
    on_hand              integer NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    reserved             integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    available            integer GENERATED ALWAYS AS (on_hand - reserved) STORED,
    low_stock_threshold  integer NOT NULL DEFAULT 10 CHECK (low_stock_threshold >= 0),
    low_stock_alerted_at timestamptz,
    is_active            boolean NOT NULL DEFAULT true,
    is_featured          boolean NOT NULL DEFAULT false,
    weight_grams         integer CHECK (weight_grams >= 0),
    length_mm            integer CHECK (length_mm >= 0),
    width_mm             integer CHECK (width_mm >= 0),
    height_mm            integer CHECK (height_mm >= 0),
    units_sold           bigint NOT NULL DEFAULT 0,
    search               tsvector GENERATED ALWAYS AS (
                             setweight(to_tsvector('simple', sku), 'A') ||
                             setweight(to_tsvector('english', name), 'A') ||
                             setweight(to_tsvector('english', coalesce(category, '')), 'B') ||
                             setweight(to_tsvector('english', coalesce(description, '')), 'C')
                         ) STORED,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT products_reserved_within_on_hand CHECK (reserved <= on_hand)
);
CREATE UNIQUE INDEX products_sku_key ON products (lower(sku));
CREATE UNIQUE INDEX products_handle_key ON products (handle);
CREATE INDEX products_created_idx ON products (created_at, id);
CREATE INDEX products_price_idx ON products (price, id);
CREATE INDEX products_name_idx ON products (name, id);
CREATE INDEX products_units_sold_idx ON products (units_sold, id);
CREATE INDEX products_category_idx ON products (category);
CREATE INDEX products_tags_idx ON products USING gin (tags);
CREATE INDEX products_search_idx ON products USING gin (search);
CREATE INDEX products_name_trgm_idx ON products USING gin (lower(name) gin_trgm_ops);
CREATE INDEX products_low_stock_idx ON products (id) WHERE available <= low_stock_threshold;

CREATE TABLE product_images (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    product_id   uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    storage_key  text NOT NULL,
    content_type text NOT NULL,
    alt_text     text,
    position     integer NOT NULL,
    width        integer,
    height       integer,
    size_bytes   bigint NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX product_images_product_idx ON product_images (product_id, position);

-- The stock ledger. seq orders rows written in the same transaction.
CREATE TABLE inventory_transactions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    product_id      uuid NOT NULL REFERENCES products (id),
    sku             text NOT NULL,
    quantity_change integer NOT NULL CHECK (quantity_change <> 0),
    type            text NOT NULL CHECK (type IN ('SALE', 'RESTOCK', 'ADJUSTMENT', 'RETURN', 'RESERVATION', 'RELEASE')),
    reference_id    text,
    notes           text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inventory_transactions_product_idx ON inventory_transactions (product_id, seq);

CREATE TABLE customers (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email                 text NOT NULL,
    first_name            text NOT NULL,
    last_name             text NOT NULL,
    phone                 text,
    password_hash         text,
    stripe_customer_id    text,
    addresses             jsonb NOT NULL DEFAULT '[]',
    default_address_index integer NOT NULL DEFAULT 0,
    total_orders          integer NOT NULL DEFAULT 0,
    total_spent           bigint NOT NULL DEFAULT 0,
    currency              text NOT NULL,
    marketing_opt_in      boolean NOT NULL DEFAULT false,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customers_email_lower CHECK (email = lower(email))
);
CREATE UNIQUE INDEX customers_email_key ON customers (email);
CREATE INDEX customers_stripe_idx ON customers (stripe_customer_id);
CREATE INDEX customers_created_idx ON customers (created_at, id);
CREATE INDEX customers_search_trgm_idx ON customers
    USING gin ((email || ' ' || lower(first_name) || ' ' || lower(last_name)) gin_trgm_ops);

CREATE TABLE staff_users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL,
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('ADMIN', 'STAFF')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT staff_users_email_lower CHECK (email = lower(email))
);
CREATE UNIQUE INDEX staff_users_email_key ON staff_users (email);

-- The notification outbox: a row per message, written in the transaction
-- of the business change that causes it, delivered by a River job.
CREATE TABLE notifications (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq        bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    channel    text NOT NULL CHECK (channel IN ('EMAIL', 'SMS')),
    recipient  text NOT NULL,
    template   text NOT NULL,
    data       jsonb NOT NULL DEFAULT '{}',
    status     text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
    attempts   integer NOT NULL DEFAULT 0,
    last_error text,
    dedupe_key text UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
CREATE INDEX notifications_template_idx ON notifications (template, seq);
CREATE INDEX notifications_recipient_idx ON notifications (recipient, seq);
