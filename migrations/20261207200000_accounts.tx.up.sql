-- Sessions: every bearer token names one. A token is accepted only while its
-- session is neither revoked nor expired, which every replica reads here, so
-- logging out or revoking takes effect everywhere at once.
CREATE TABLE sessions (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind       text NOT NULL CHECK (kind IN ('CUSTOMER', 'STAFF')),
    subject_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX sessions_subject_idx ON sessions (subject_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- Emailed links (password reset, email verification, staff invite): the
-- signed token names a row, which it can be used against only once, before
-- it expires.
CREATE TABLE auth_links (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    purpose    text NOT NULL CHECK (purpose IN ('PASSWORD_RESET', 'EMAIL_VERIFY', 'STAFF_INVITE')),
    subject_id uuid NOT NULL,
    email      text NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX auth_links_subject_idx ON auth_links (subject_id, purpose);

ALTER TABLE customers ADD COLUMN email_verified_at timestamptz;

-- The address book: every address of an account gets an id. -1 in
-- default_address_index means no default.
UPDATE customers SET addresses = (
    SELECT coalesce(jsonb_agg(a || jsonb_build_object('id', gen_random_uuid()::text) ORDER BY n), '[]'::jsonb)
    FROM jsonb_array_elements(addresses) WITH ORDINALITY AS t (a, n))
WHERE kind = 'ACCOUNT' AND jsonb_array_length(addresses) > 0;

-- Staff: a name, permissions by area (ADMIN has all whatever is listed), an
-- active flag, and no password until an invitee sets one.
ALTER TABLE staff_users
    ADD COLUMN name text,
    ADD COLUMN permissions text[] NOT NULL
        DEFAULT '{CATALOG,INVENTORY,ORDERS,REFUNDS,CUSTOMERS,PROMOTIONS,NOTIFICATIONS}',
    ADD COLUMN is_active boolean NOT NULL DEFAULT true,
    ADD COLUMN last_login_at timestamptz,
    ALTER COLUMN password_hash DROP NOT NULL;

-- Who acted: the staff account behind an order event, when staff acted.
ALTER TABLE order_events ADD COLUMN staff_user_id uuid;
