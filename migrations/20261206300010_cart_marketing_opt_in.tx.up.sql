-- The shopper's consent to marketing email (the abandoned-cart reminder)
-- at the cart's email, given with cartCreate or cartEmailUpdate. It belongs
-- to the address it was given for: a new email without a new consent
-- clears it.
ALTER TABLE carts ADD COLUMN marketing_opt_in boolean NOT NULL DEFAULT false;
