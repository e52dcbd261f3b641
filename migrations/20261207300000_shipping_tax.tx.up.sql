-- Shipping zones, methods and tax rates by destination (package shipping).
-- A country is in at most one zone: the service checks it under an
-- advisory lock, since an array overlap cannot be a unique constraint.
CREATE TABLE shipping_zones (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL,
    countries  text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shipping_zones_countries_idx ON shipping_zones USING gin (countries);

-- rates holds the bands [{min, max, price}] in grams or minor units of the
-- store currency; the service validates them (no overlap, no gap).
CREATE TABLE shipping_methods (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    zone_id           uuid NOT NULL REFERENCES shipping_zones (id) ON DELETE CASCADE,
    name              text NOT NULL,
    carrier           text,
    condition         text NOT NULL CHECK (condition IN ('NONE', 'WEIGHT', 'SUBTOTAL')),
    rates             jsonb NOT NULL,
    currency          text NOT NULL,
    free_above        bigint CHECK (free_above >= 0),
    min_delivery_days integer,
    max_delivery_days integer,
    is_active         boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shipping_methods_zone_idx ON shipping_methods (zone_id);

-- One rate per country, region and class (null region: the country rate,
-- null class: the standard one). rate keeps the digits it was written with.
CREATE TABLE tax_rates (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                text NOT NULL,
    country_code        text NOT NULL,
    region              text,
    tax_class           text,
    rate                numeric NOT NULL CHECK (rate >= 0 AND rate < 1),
    applies_to_shipping boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tax_rates_key ON tax_rates (country_code, upper(coalesce(region, '')), lower(coalesce(tax_class, '')));

ALTER TABLE products ADD COLUMN tax_class text;

-- A cart's destination and chosen method; deleting the method unchooses it.
ALTER TABLE carts
    ADD COLUMN shipping_address jsonb,
    ADD COLUMN shipping_method_id uuid REFERENCES shipping_methods (id) ON DELETE SET NULL;

-- What the order was charged for shipping and tax, as it was at checkout.
ALTER TABLE orders
    ADD COLUMN shipping_method_name text,
    ADD COLUMN tax_lines jsonb NOT NULL DEFAULT '[]';
