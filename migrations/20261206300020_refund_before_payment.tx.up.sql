-- A refund (charge.refunded) that arrived before the payment it refunds
-- (payment_intent.succeeded): Stripe does not guarantee the order of
-- events. The amount is kept here, in minor units of the order's currency,
-- and applied when the payment arrives.
ALTER TABLE orders ADD COLUMN refund_before_payment bigint NOT NULL DEFAULT 0
    CHECK (refund_before_payment >= 0);
