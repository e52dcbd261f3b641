-- The catalog's version, which the response cache of anonymous catalog
-- reads polls: every transaction that changes what a catalog read shows
-- (products, their variants and stock, options, images) adds one to it
-- before it commits, through the statement triggers below.
--
-- A single counter row would serialise every checkout (each reserves
-- stock) on its row lock until commit. Instead each database backend
-- counts in a row of its own, which no concurrent transaction shares (a
-- backend runs one transaction at a time): the version is the sum of the
-- rows, and it grows with every committed change. Rows of backends that
-- have ended are folded into the row of pid 0 now and then by the service
-- (internal/catalogcache), which keeps the sum.
CREATE TABLE catalog_versions (
    backend_pid integer PRIMARY KEY,
    version     bigint NOT NULL CHECK (version >= 0)
);
INSERT INTO catalog_versions (backend_pid, version) VALUES (0, 0);

-- bump_catalog_version counts a transaction once, however many statements
-- of it change the catalog: the transaction-local setting remembers it
-- (and is undone with a savepoint rolled back, like the row it wrote).
CREATE FUNCTION bump_catalog_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('commerce.catalog_version_bumped', true) = 'on' THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('commerce.catalog_version_bumped', 'on', true);
    INSERT INTO catalog_versions AS cv (backend_pid, version) VALUES (pg_backend_pid(), 1)
    ON CONFLICT (backend_pid) DO UPDATE SET version = cv.version + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER products_catalog_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON products
    FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
CREATE TRIGGER product_variants_catalog_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON product_variants
    FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
CREATE TRIGGER product_options_catalog_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON product_options
    FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
CREATE TRIGGER product_images_catalog_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON product_images
    FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
