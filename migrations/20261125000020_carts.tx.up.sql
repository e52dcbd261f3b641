-- Carts. The id (gen_random_uuid, 122 random bits) is the only credential
-- needed to use a cart, so it must never be guessable. A cart is priced at
-- the current catalog price when read; it holds no prices and reserves no
-- stock. Checkout completes it (status COMPLETED, completed_order_id).
CREATE TABLE carts (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email              text,
    currency           text NOT NULL,
    status             text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'COMPLETED')),
    completed_order_id uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- One line per product and cart: adding a product again adds to its line.
CREATE TABLE cart_lines (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    cart_id    uuid NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    product_id uuid NOT NULL REFERENCES products (id),
    quantity   integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (cart_id, product_id)
);
CREATE INDEX cart_lines_cart_idx ON cart_lines (cart_id);
