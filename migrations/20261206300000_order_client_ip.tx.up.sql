-- The address a checkout came from (web.ClientIP: the peer, or the first
-- untrusted hop of X-Forwarded-For), so that the units held by unpaid
-- orders can be bounded per client IP as well as per email
-- (MAX_UNPAID_UNITS). NULL for orders placed before this column, and for
-- checkouts that did not come over HTTP.
ALTER TABLE orders ADD COLUMN client_ip text;

-- Checkout sums the units of the unpaid orders of an email and of an IP;
-- only PENDING orders count, so the indexes hold only those.
CREATE INDEX orders_unpaid_email_idx ON orders (email) WHERE status = 'PENDING';
CREATE INDEX orders_unpaid_client_ip_idx ON orders (client_ip) WHERE status = 'PENDING';
