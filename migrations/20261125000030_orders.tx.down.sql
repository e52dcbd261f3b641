DROP TABLE IF EXISTS payment_events;
DROP TABLE IF EXISTS idempotency_keys;
DROP TABLE IF EXISTS order_events;
DROP TABLE IF EXISTS order_lines;
DROP TABLE IF EXISTS orders;
