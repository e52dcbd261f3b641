-- Outbox accounting with one source of truth: a notification carries its
-- own attempt budget, fixed when it is enqueued (NOTIFY_MAX_ATTEMPTS then),
-- and attempts now counts the attempts started, claimed before the send.
-- The delivery worker decides final failure from these two columns only,
-- so a changed NOTIFY_MAX_ATTEMPTS or a lost bookkeeping write cannot
-- leave a row PENDING once River has given up on its job.
--
-- The default is NOTIFY_MAX_ATTEMPTS's; rows still pending take their
-- job's budget.
ALTER TABLE notifications ADD COLUMN max_attempts integer NOT NULL DEFAULT 8 CHECK (max_attempts >= 1);
UPDATE notifications n
SET max_attempts = greatest(j.max_attempts, 1)
FROM river_job j
WHERE n.status = 'PENDING'
  AND j.kind = 'notify-deliver'
  AND j.args @> jsonb_build_object('notification_id', n.id::text);

-- The outbox sweeper (notify.Service.Sweep) reads the pending rows.
CREATE INDEX notifications_pending_idx ON notifications (seq) WHERE status = 'PENDING';
