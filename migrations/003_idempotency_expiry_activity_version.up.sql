-- 003: idempotency keys that lapse without being erased; activity versions.
--
-- Idempotency keys.
--
-- A key is unique per tenant for 24 h. Before 003 a submit reusing an older
-- key set the old batch's idempotency_key to NULL, so GET of that batch no
-- longer showed the key it was submitted with. Now the old batch keeps its
-- key and is only marked idempotency_expired; the unique index (and the
-- lookup of the batch a key replays) covers the keys still live.
ALTER TABLE batch_jobs
  ADD COLUMN idempotency_expired boolean NOT NULL DEFAULT false;
DROP INDEX batch_jobs_idempotency_idx;
CREATE UNIQUE INDEX batch_jobs_idempotency_idx
  ON batch_jobs (org_id, workspace_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL AND NOT idempotency_expired;

-- An activity's version, bumped by every upsert. resolve_chunk reads it with
-- the activity's inputs, and record_chunk writes the activity's latest
-- result only if the version is still the same: a result computed from the
-- inputs before a re-upload must not be shown as the result of the new
-- ones. Existing rows start at 1 (no rewrite: a constant default).
ALTER TABLE activities ADD COLUMN version bigint NOT NULL DEFAULT 1;
