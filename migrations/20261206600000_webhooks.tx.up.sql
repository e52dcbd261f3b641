-- Outbound webhooks (package webhooks). An endpoint keeps its signing
-- secret in clear: the HMAC needs it, and the API never returns it after
-- creation or rotation. During a rotation's overlap the previous secret
-- signs alongside until previous_secret_expires_at.
CREATE TABLE webhook_endpoints (
    id                         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq                        bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    url                        text NOT NULL,
    description                text,
    topics                     text[] NOT NULL CHECK (cardinality(topics) > 0),
    is_active                  boolean NOT NULL DEFAULT true,
    secret                     text NOT NULL,
    previous_secret            text,
    previous_secret_expires_at timestamptz,
    -- Deliveries (not PINGs) that ended FAILED since the last that
    -- succeeded; WEBHOOK_DISABLE_AFTER of them deactivate the endpoint.
    consecutive_failures       integer NOT NULL DEFAULT 0,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);
-- Announce looks up the active endpoints of a topic on every change.
CREATE INDEX webhook_endpoints_topics_idx ON webhook_endpoints USING gin (topics) WHERE is_active;

-- One row per event and endpoint, written in the transaction of the change
-- it reports, with the exact body every attempt sends.
CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    endpoint_id     uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        uuid NOT NULL,
    topic           text NOT NULL,
    -- The order the event is about, if any: deliveries of one endpoint and
    -- order go out in seq order.
    order_id        uuid,
    body            text NOT NULL,
    status          text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED')),
    attempts        integer NOT NULL DEFAULT 0,
    max_attempts    integer NOT NULL CHECK (max_attempts >= 1),
    response_status integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, seq);
CREATE INDEX webhook_deliveries_pending_order_idx ON webhook_deliveries (endpoint_id, order_id, seq)
    WHERE status = 'PENDING' AND order_id IS NOT NULL;
