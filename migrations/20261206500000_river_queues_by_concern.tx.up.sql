-- River queues by concern (internal/jobs/queue): jobs used to share River's
-- default queue. Move the ones still waiting to the queue their kind now
-- names, so that an upgrade does not leave, say, payment timeouts behind a
-- backlog of notifications. Running jobs stay where they are; the worker
-- client keeps a few workers on the default queue for them and for jobs a
-- replica of the previous version inserts during a rolling upgrade.
UPDATE river_job
SET queue = CASE kind
        WHEN 'notify-deliver' THEN 'notify'
        WHEN 'daily-inventory-report' THEN 'periodic'
        ELSE 'workflow'
    END
WHERE queue = 'default'
  AND state IN ('available', 'scheduled', 'retryable', 'pending')
  AND kind IN ('payment-timeout', 'payment-intent', 'payment-refund', 'dummy-payment-confirm',
               'fulfillment-reminder', 'review-request', 'delivery-confirmation', 'abandoned-cart',
               'notify-deliver', 'daily-inventory-report');
