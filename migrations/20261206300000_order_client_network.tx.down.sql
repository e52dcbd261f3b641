DROP INDEX IF EXISTS orders_unpaid_client_network_idx;
DROP INDEX IF EXISTS orders_unpaid_email_idx;
ALTER TABLE orders DROP COLUMN IF EXISTS client_network;
