ALTER TABLE orders DROP COLUMN IF EXISTS refund_before_payment;
