-- The network a checkout came from: the client's address (web.ClientIP:
-- the peer, or the first untrusted hop of X-Forwarded-For), an IPv6
-- address reduced to its /64, which is one client in practice. The units
-- held by unpaid orders are bounded per client network as well as per
-- email (MAX_UNPAID_UNITS). NULL for orders placed before this column, and
-- for checkouts that did not come over HTTP.
ALTER TABLE orders ADD COLUMN client_network text;

-- Checkout sums the units of the unpaid orders of an email and of a client
-- network; only PENDING orders count, so the indexes hold only those.
CREATE INDEX orders_unpaid_email_idx ON orders (email) WHERE status = 'PENDING';
CREATE INDEX orders_unpaid_client_network_idx ON orders (client_network) WHERE status = 'PENDING';
