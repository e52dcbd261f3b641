DROP INDEX IF EXISTS products_name_lower_idx;
