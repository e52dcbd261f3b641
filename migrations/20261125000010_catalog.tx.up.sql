-- The catalog sorts by name case-insensitively (lower(name), id); the init
-- migration's (name, id) index cannot serve that order.
CREATE INDEX products_name_lower_idx ON products (lower(name), id);
