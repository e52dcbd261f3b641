ALTER TABLE order_lines DROP COLUMN discount;
ALTER TABLE orders DROP COLUMN discount_allocations;
ALTER TABLE carts DROP COLUMN discount_codes;
DROP TABLE promotion_customer_uses;
DROP TABLE promotions;
