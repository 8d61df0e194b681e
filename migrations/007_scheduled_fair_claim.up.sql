-- 007: scheduled batches (run_after on submit) and fairness between
-- tenants in the claim (CONTRACT §7). The claim itself is in
-- persistence/sql/engine.sql (`claim`); this is what it reads.
--
-- Claim order: priority first; within a priority the tenants take turns
-- (the one served longest ago first, one batch each per round); within a
-- tenant and priority, FIFO by the time a batch became claimable
-- (run_after: its submit time, the time it was scheduled for, or the end
-- of its retry backoff), then created_at, id. River and Oban order their
-- jobs the same way (priority, scheduled_at, id).
--
-- batch_claim_queues: one row per (tenant, priority) that ever had a
-- batch, with the time the claim last took one of its batches. The claim
-- walks these rows and, for each, reads the first few due batches of that
-- queue by a range scan of batch_jobs_queue_idx: org, workspace and
-- priority equal, run_after <= now(). Batches scheduled for later sit
-- after the due ones in that range and are never read, however many there
-- are; no sequential scan of batch_jobs, and the cost of a claim grows
-- with the number of queues (one index descent each, a few microseconds
-- for an empty one), not with the backlog.
-- Rows are added by a statement trigger on INSERT (one ON CONFLICT DO
-- NOTHING per tenant and priority of the statement, which takes no lock
-- on an existing row) and never deleted by the engine: deleting an empty
-- queue would race with a submit that found the row still there, and the
-- batch would never be claimed. TRUNCATE of batch_jobs clears it.
-- fillfactor 50: last_claimed_at is rewritten by claims and is in no
-- index, so those updates stay HOT.
CREATE TABLE batch_claim_queues (
  org_id          text NOT NULL,
  workspace_id    text NOT NULL,
  priority        smallint NOT NULL,
  last_claimed_at timestamptz NOT NULL DEFAULT '-infinity',
  PRIMARY KEY (org_id, workspace_id, priority)
) WITH (fillfactor = 50);

-- Replaces batch_jobs_claimable_idx (priority DESC, created_at, id): in
-- that order a claim had to filter out, one by one, every batch scheduled
-- for later that was created before the first due one.
CREATE INDEX batch_jobs_queue_idx
  ON batch_jobs (org_id, workspace_id, priority, run_after, created_at, id)
  WHERE status = 'pending';
DROP INDEX batch_jobs_claimable_idx;

CREATE FUNCTION batch_claim_queues_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO batch_claim_queues (org_id, workspace_id, priority)
  SELECT DISTINCT org_id, workspace_id, priority FROM new_batches
  ORDER BY 1, 2, 3
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$$;

CREATE FUNCTION batch_claim_queues_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM batch_claim_queues;
  RETURN NULL;
END
$$;

-- No batch may be inserted between the trigger's start and the backfill.
LOCK TABLE batch_jobs IN SHARE ROW EXCLUSIVE MODE;

CREATE TRIGGER batch_claim_queues_insert
  AFTER INSERT ON batch_jobs REFERENCING NEW TABLE AS new_batches
  FOR EACH STATEMENT EXECUTE FUNCTION batch_claim_queues_insert();
CREATE TRIGGER batch_claim_queues_truncate
  AFTER TRUNCATE ON batch_jobs
  FOR EACH STATEMENT EXECUTE FUNCTION batch_claim_queues_truncate();

INSERT INTO batch_claim_queues (org_id, workspace_id, priority)
SELECT DISTINCT org_id, workspace_id, priority FROM batch_jobs;
