-- Refunds of an order (staff refunds, cancellations, and refunds made in
-- the provider's dashboard). A refund that is not FAILED holds its amount
-- against the order's refundable amount (total − every such refund); the
-- order row is locked while one is written, so concurrent refunds cannot
-- exceed what was paid. idempotency_key makes a retried request return
-- the same refund; provider_refund_id is the provider's id once known.
CREATE TABLE refunds (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    order_id           uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    amount             bigint NOT NULL CHECK (amount > 0),
    currency           text NOT NULL,
    reason             text,
    status             text NOT NULL CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED')),
    includes_shipping  boolean NOT NULL DEFAULT false,
    notify_customer    boolean NOT NULL DEFAULT false,
    idempotency_key    text,
    provider_refund_id text UNIQUE,
    created_at         timestamptz NOT NULL DEFAULT now(),
    processed_at       timestamptz,
    UNIQUE (order_id, idempotency_key)
);
CREATE INDEX refunds_order_idx ON refunds (order_id, created_at);

-- The units a refund covers, and whether they went back to stock.
CREATE TABLE refund_lines (
    refund_id     uuid NOT NULL REFERENCES refunds (id) ON DELETE CASCADE,
    order_line_id uuid NOT NULL REFERENCES order_lines (id) ON DELETE CASCADE,
    quantity      integer NOT NULL CHECK (quantity > 0),
    restocked     boolean NOT NULL,
    PRIMARY KEY (refund_id, order_line_id)
);
CREATE INDEX refund_lines_line_idx ON refund_lines (order_line_id);
