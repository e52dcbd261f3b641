-- A registered account and the guest record of checkouts under the same
-- email are two customers that share nothing: registering never adopts the
-- guest's orders, addresses, phone or name (linking them needs proof of the
-- mailbox), and a guest checkout never writes into an account. kind says
-- which one a row is; an email has at most one of each. Existing rows with
-- a password are accounts, the rest guests; an account that adopted a
-- guest record before this migration cannot be told apart and stays whole.
ALTER TABLE customers ADD COLUMN kind text NOT NULL DEFAULT 'GUEST'
    CONSTRAINT customers_kind_check CHECK (kind IN ('GUEST', 'ACCOUNT'));
UPDATE customers SET kind = 'ACCOUNT' WHERE password_hash IS NOT NULL;
ALTER TABLE customers ADD CONSTRAINT customers_guest_no_password CHECK (kind = 'ACCOUNT' OR password_hash IS NULL);
DROP INDEX customers_email_key;
CREATE UNIQUE INDEX customers_email_kind_key ON customers (email, kind);
