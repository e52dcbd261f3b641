-- The webhook outbox's backlog, outbox_pending{outbox="webhooks"}, is
-- counted at every metrics scrape: a partial index on the PENDING rows
-- keeps that count as small as the backlog, however many deliveries were
-- made, and serves the sweeper's scan of PENDING rows in seq order too.
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (seq) WHERE status = 'PENDING';
