-- The previous version has no outbox sweeper job.
DELETE FROM river_job WHERE kind = 'notify-sweep';
DROP INDEX IF EXISTS notifications_pending_idx;
ALTER TABLE notifications DROP COLUMN IF EXISTS max_attempts;
