-- Shipments in parts. An order ships in one or more fulfilments, each with
-- its own lines, tracking and delivery. The order keeps its v1 columns
-- (carrier, tracking_number, tracking_url, shipped_at, delivered_at) as a
-- copy of the latest shipment, so v1 readers need no join; while some
-- units are still to ship, its fulfillment_status is PARTIALLY_FULFILLED
-- and its status stays PROCESSING.
ALTER TABLE orders DROP CONSTRAINT orders_fulfillment_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_fulfillment_status_check
    CHECK (fulfillment_status IN ('UNFULFILLED', 'PARTIALLY_FULFILLED', 'FULFILLED', 'DELIVERED'));

CREATE TABLE fulfillments (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    order_id        uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    carrier         text,
    tracking_number text,
    tracking_url    text,
    status          text NOT NULL DEFAULT 'SHIPPED' CHECK (status IN ('SHIPPED', 'DELIVERED')),
    shipped_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
CREATE INDEX fulfillments_order_idx ON fulfillments (order_id, shipped_at, id);

-- The units of each order line a fulfilment shipped.
CREATE TABLE fulfillment_lines (
    fulfillment_id uuid NOT NULL REFERENCES fulfillments (id) ON DELETE CASCADE,
    order_line_id  uuid NOT NULL REFERENCES order_lines (id) ON DELETE CASCADE,
    quantity       integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (fulfillment_id, order_line_id)
);
CREATE INDEX fulfillment_lines_line_idx ON fulfillment_lines (order_line_id);

-- Orders shipped before this migration shipped whole: one fulfilment each,
-- holding every unit of every line.
WITH shipped AS (
    INSERT INTO fulfillments (order_id, carrier, tracking_number, tracking_url, status, shipped_at, delivered_at)
    SELECT id, carrier, tracking_number, tracking_url,
           CASE WHEN fulfillment_status = 'DELIVERED' THEN 'DELIVERED' ELSE 'SHIPPED' END,
           coalesce(shipped_at, updated_at), delivered_at
    FROM orders
    WHERE fulfillment_status IN ('FULFILLED', 'DELIVERED')
    RETURNING id, order_id
)
INSERT INTO fulfillment_lines (fulfillment_id, order_line_id, quantity)
SELECT s.id, l.id, l.quantity
FROM shipped s JOIN order_lines l ON l.order_id = s.order_id;
