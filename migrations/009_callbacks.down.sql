-- 009 down: the schema before completion callbacks; undelivered callbacks
-- are dropped with their table.
DROP TRIGGER batch_callbacks_enqueue ON batch_jobs;
DROP TRIGGER batch_callbacks_reset ON batch_jobs;
DROP FUNCTION batch_callbacks_enqueue();
DROP FUNCTION batch_callbacks_reset();
DROP TABLE batch_callbacks;
ALTER TABLE batch_jobs
  DROP COLUMN callback_last_error,
  DROP COLUMN callback_attempts,
  DROP COLUMN callback_status,
  DROP COLUMN callback_url;
