-- Fails while an email has both a guest record and an account: merging
-- them is exactly what the up migration exists to prevent.
DROP INDEX customers_email_kind_key;
CREATE UNIQUE INDEX customers_email_key ON customers (email);
ALTER TABLE customers DROP CONSTRAINT customers_guest_no_password;
ALTER TABLE customers DROP COLUMN kind;
