-- The previous version works only the default queue: give it back every job
-- still waiting on the queues by concern.
UPDATE river_job
SET queue = 'default'
WHERE queue IN ('workflow', 'notify', 'periodic')
  AND state IN ('available', 'scheduled', 'retryable', 'pending');
