DROP TRIGGER product_images_catalog_version ON product_images;
DROP TRIGGER product_options_catalog_version ON product_options;
DROP TRIGGER product_variants_catalog_version ON product_variants;
DROP TRIGGER products_catalog_version ON products;
DROP FUNCTION bump_catalog_version();
DROP TABLE catalog_versions;
