DROP INDEX IF EXISTS webhook_deliveries_pending_idx;
