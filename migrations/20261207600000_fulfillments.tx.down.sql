DROP TABLE fulfillment_lines;
DROP TABLE fulfillments;
UPDATE orders SET fulfillment_status = 'UNFULFILLED' WHERE fulfillment_status = 'PARTIALLY_FULFILLED';
ALTER TABLE orders DROP CONSTRAINT orders_fulfillment_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_fulfillment_status_check
    CHECK (fulfillment_status IN ('UNFULFILLED', 'FULFILLED', 'DELIVERED'));
