-- Promotions and discount codes (package promotions). value is in
-- hundredths of a percent for PERCENTAGE, in minor units of currency for
-- FIXED_AMOUNT, 0 for FREE_SHIPPING. times_used counts the orders holding a
-- use; checkout takes one with a conditional update, a cancellation gives
-- it back.
CREATE TABLE promotions (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq                bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    name               text NOT NULL,
    code               text CHECK (code = upper(code)),
    value_type         text NOT NULL CHECK (value_type IN ('PERCENTAGE', 'FIXED_AMOUNT', 'FREE_SHIPPING')),
    value              bigint NOT NULL CHECK (value >= 0),
    currency           text NOT NULL,
    categories         text[] NOT NULL DEFAULT '{}',
    tags               text[] NOT NULL DEFAULT '{}',
    product_ids        uuid[] NOT NULL DEFAULT '{}',
    minimum_subtotal   bigint CHECK (minimum_subtotal >= 0),
    starts_at          timestamptz,
    ends_at            timestamptz,
    usage_limit        integer CHECK (usage_limit >= 0),
    per_customer_limit integer CHECK (per_customer_limit >= 1),
    times_used         integer NOT NULL DEFAULT 0 CHECK (times_used >= 0),
    combines           boolean NOT NULL DEFAULT false,
    is_active          boolean NOT NULL DEFAULT true,
    archived_at        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
-- A code is unique among promotions that are not archived.
CREATE UNIQUE INDEX promotions_code_key ON promotions (code) WHERE archived_at IS NULL;
-- Pricing loads the live automatic promotions on every cart read.
CREATE INDEX promotions_automatic_idx ON promotions (seq) WHERE code IS NULL AND archived_at IS NULL AND is_active;

-- Uses per customer email; the row lock of the upsert makes the
-- per-customer limit exact under concurrency.
CREATE TABLE promotion_customer_uses (
    promotion_id uuid NOT NULL REFERENCES promotions (id) ON DELETE CASCADE,
    email        text NOT NULL,
    uses         integer NOT NULL CHECK (uses >= 0),
    PRIMARY KEY (promotion_id, email)
);

ALTER TABLE carts ADD COLUMN discount_codes text[] NOT NULL DEFAULT '{}';
-- What each promotion took off the order (the allocations of the contract,
-- with the promotion id and whether a use was taken), and per line.
ALTER TABLE orders ADD COLUMN discount_allocations jsonb NOT NULL DEFAULT '[]';
ALTER TABLE order_lines ADD COLUMN discount bigint NOT NULL DEFAULT 0;
