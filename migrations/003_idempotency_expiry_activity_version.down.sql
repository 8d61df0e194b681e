-- 003 down: the schema of 002. Expired keys are erased again, as 002's code
-- did, so that the plain unique index can be rebuilt.
UPDATE batch_jobs SET idempotency_key = NULL WHERE idempotency_expired;
DROP INDEX batch_jobs_idempotency_idx;
ALTER TABLE batch_jobs DROP COLUMN idempotency_expired;
CREATE UNIQUE INDEX batch_jobs_idempotency_idx
  ON batch_jobs (org_id, workspace_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
ALTER TABLE activities DROP COLUMN version;
