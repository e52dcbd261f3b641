-- Addresses that asked, through the signed one-click link of a marketing
-- email, for no more marketing email. Kept apart from customers so that a
-- guest without a customer row is covered too; notify skips marketing
-- templates to these addresses, and the unsubscribe also clears the
-- customer's marketing_opt_in when there is one.
CREATE TABLE marketing_unsubscribes (
    email      text PRIMARY KEY CHECK (email = lower(email)),
    created_at timestamptz NOT NULL DEFAULT now()
);
