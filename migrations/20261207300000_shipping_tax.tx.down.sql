ALTER TABLE orders DROP COLUMN tax_lines, DROP COLUMN shipping_method_name;
ALTER TABLE carts DROP COLUMN shipping_method_id, DROP COLUMN shipping_address;
ALTER TABLE products DROP COLUMN tax_class;
DROP TABLE tax_rates;
DROP TABLE shipping_methods;
DROP TABLE shipping_zones;
