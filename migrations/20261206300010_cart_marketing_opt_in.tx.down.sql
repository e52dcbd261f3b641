ALTER TABLE carts DROP COLUMN IF EXISTS marketing_opt_in;
