ALTER TABLE order_events DROP COLUMN staff_user_id;
DELETE FROM staff_users WHERE password_hash IS NULL;
ALTER TABLE staff_users
    ALTER COLUMN password_hash SET NOT NULL,
    DROP COLUMN last_login_at,
    DROP COLUMN is_active,
    DROP COLUMN permissions,
    DROP COLUMN name;
UPDATE customers SET addresses = (
    SELECT coalesce(jsonb_agg(a - 'id' ORDER BY n), '[]'::jsonb)
    FROM jsonb_array_elements(addresses) WITH ORDINALITY AS t (a, n))
WHERE jsonb_array_length(addresses) > 0;
ALTER TABLE customers DROP COLUMN email_verified_at;
DROP TABLE auth_links;
DROP TABLE sessions;
