-- Returns: a shopper (or staff for them) asks to send shipped units back;
-- staff approve or reject, and on receipt restock and refund them. A
-- return's units count against what may still be returned of a line while
-- it is not REJECTED or CANCELLED. Every write locks the order row first, so
-- concurrent requests cannot return more than was shipped. refund_id is the
-- refund made on receipt (unique: one refund is one return's).
CREATE TABLE returns (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    return_number text NOT NULL UNIQUE CHECK (return_number ~ '^RET-[0-9A-HJKMNP-TV-Z]{10}$'),
    order_id      uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    status        text NOT NULL DEFAULT 'REQUESTED'
                  CHECK (status IN ('REQUESTED', 'APPROVED', 'REJECTED', 'RECEIVED', 'REFUNDED', 'CANCELLED')),
    customer_note text,
    staff_note    text,
    refund_id     uuid UNIQUE REFERENCES refunds (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- The staff list, newest first, with and without a status filter.
CREATE INDEX returns_status_idx ON returns (status, created_at, id);
CREATE INDEX returns_created_idx ON returns (created_at, id);
CREATE INDEX returns_order_idx ON returns (order_id, created_at);

-- The units of each order line a return covers, and why.
CREATE TABLE return_lines (
    return_id     uuid NOT NULL REFERENCES returns (id) ON DELETE CASCADE,
    order_line_id uuid NOT NULL REFERENCES order_lines (id) ON DELETE CASCADE,
    quantity      integer NOT NULL CHECK (quantity > 0),
    reason        text,
    PRIMARY KEY (return_id, order_line_id)
);
CREATE INDEX return_lines_line_idx ON return_lines (order_line_id);
