-- 007 down: the schema of 006 (the claim's index as 001 made it).
DROP TRIGGER batch_claim_queues_truncate ON batch_jobs;
DROP TRIGGER batch_claim_queues_insert ON batch_jobs;
DROP FUNCTION batch_claim_queues_truncate();
DROP FUNCTION batch_claim_queues_insert();
CREATE INDEX batch_jobs_claimable_idx
  ON batch_jobs (priority DESC, created_at, id)
  WHERE status = 'pending';
DROP INDEX batch_jobs_queue_idx;
DROP TABLE batch_claim_queues;
