-- Orders. Money columns are integer minor units of `currency`.
CREATE TABLE orders (
    id                    uuid PRIMARY KEY,
    order_number          text NOT NULL,
    customer_id           uuid REFERENCES customers (id),
    email                 text NOT NULL,
    currency              text NOT NULL,
    subtotal              bigint NOT NULL CHECK (subtotal >= 0),
    tax                   bigint NOT NULL CHECK (tax >= 0),
    shipping_cost         bigint NOT NULL CHECK (shipping_cost >= 0),
    discount              bigint NOT NULL DEFAULT 0 CHECK (discount >= 0),
    total                 bigint NOT NULL CHECK (total >= 0),
    refunded_amount       bigint NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0),
    status                text NOT NULL DEFAULT 'PENDING'
                          CHECK (status IN ('PENDING', 'PROCESSING', 'FULFILLED', 'CANCELLED')),
    payment_status        text NOT NULL DEFAULT 'PENDING'
                          CHECK (payment_status IN ('PENDING', 'PAID', 'PARTIALLY_REFUNDED', 'REFUNDED', 'FAILED')),
    fulfillment_status    text NOT NULL DEFAULT 'UNFULFILLED'
                          CHECK (fulfillment_status IN ('UNFULFILLED', 'FULFILLED', 'DELIVERED')),
    -- Not unique: a test provider (stripe-mock) hands every intent the same id.
    payment_intent_id     text,
    payment_client_secret text,
    shipping_address      jsonb NOT NULL,
    billing_address       jsonb NOT NULL,
    carrier               text,
    tracking_number       text,
    tracking_url          text,
    shipped_at            timestamptz,
    delivered_at          timestamptz,
    paid_at               timestamptz,
    cancelled_at          timestamptz,
    notes                 text,
    cart_id               uuid,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX orders_order_number_key ON orders (order_number);
CREATE INDEX orders_created_idx ON orders (created_at, id);
CREATE INDEX orders_customer_idx ON orders (customer_id, created_at, id);
CREATE INDEX orders_email_idx ON orders (email);
CREATE INDEX orders_status_idx ON orders (status, created_at);
CREATE INDEX orders_payment_intent_idx ON orders (payment_intent_id);

CREATE TABLE order_lines (
    order_id   uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position   integer NOT NULL,
    product_id uuid REFERENCES products (id) ON DELETE SET NULL,
    sku        text NOT NULL,
    name       text NOT NULL,
    quantity   integer NOT NULL CHECK (quantity > 0),
    unit_price bigint NOT NULL CHECK (unit_price >= 0),
    line_total bigint NOT NULL CHECK (line_total >= 0),
    PRIMARY KEY (order_id, position)
);

-- The order's timeline; seq orders events written in one transaction.
CREATE TABLE order_events (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id   uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    type       text NOT NULL,
    message    text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_events_order_idx ON order_events (order_id, seq);

-- Checkout idempotency: the key binds to the hash of the canonical input
-- and to the order it created. A row exists only for committed checkouts.
CREATE TABLE idempotency_keys (
    key          text PRIMARY KEY,
    request_hash text NOT NULL,
    order_id     uuid NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Provider events already applied; a replay finds its id here.
CREATE TABLE payment_events (
    id          text PRIMARY KEY,
    type        text NOT NULL,
    intent_id   text,
    order_id    uuid,
    received_at timestamptz NOT NULL DEFAULT now()
);
