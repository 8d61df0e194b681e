-- The user side of the batch aggregate: submit (with idempotency keys),
-- read, list, cancel, retry and delete. Prepared once per connection by
-- batch_store (persistence/named_queries.hpp describes the format).

-- fragment: batch_columns
-- Columns of a batch row, in the order read_batch expects.
b.id::text, b.org_id, b.workspace_id, b.status, b.priority,
b.max_retries, b.retry_count, b.total_activities,
b.processed_activities, b.succeeded_activities, b.failed_activities,
b.total_emissions_kg_co2e::text, b.cancel_requested, b.error,
b.metadata::text, b.idempotency_key,
(extract(epoch FROM b.created_at) * 1000000)::bigint,
(extract(epoch FROM b.updated_at) * 1000000)::bigint,
(extract(epoch FROM b.started_at) * 1000000)::bigint,
(extract(epoch FROM b.completed_at) * 1000000)::bigint,
(extract(epoch FROM b.run_after) * 1000000)::bigint,
-- the callback (migration 009), read by name
b.callback_url, b.callback_status, b.callback_attempts, b.callback_last_error

-- name: expire_idempotency_key
-- Frees an idempotency key older than 24 h, so it can be used again.
-- The old batch keeps showing its key; only its uniqueness lapses (the
-- unique index covers live keys only, migration 003).
UPDATE batch_jobs SET idempotency_expired = true
WHERE org_id = $1 AND workspace_id = $2 AND idempotency_key = $3
  AND NOT idempotency_expired
  AND created_at < now() - interval '24 hours';

-- name: insert_batch
-- The batch row; on a concurrent or earlier insert with the same key,
-- nothing (the caller then reads the existing row). $9: run_after in
-- microseconds since the epoch, or null; a time already past means now
-- (greatest ignores a null), so that no submit can date itself ahead of
-- the batches already waiting. $10: the callback URL, or null.
INSERT INTO batch_jobs AS b (org_id, workspace_id, priority, max_retries,
  total_activities, metadata, idempotency_key, request_hash, run_after,
  callback_url)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8,
  greatest(timestamptz 'epoch' + $9::bigint * interval '1 microsecond',
           now()), $10)
ON CONFLICT (org_id, workspace_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL AND NOT idempotency_expired
  DO NOTHING
RETURNING {{batch_columns}};

-- name: insert_batches
-- Group commit: the batch rows (ids made by the caller, so results map
-- back by id) and all their items in ONE statement, run outside an
-- explicit transaction: its own implicit transaction commits as it ends,
-- so a group costs one round trip instead of four (BEGIN, insert, NOTIFY,
-- COMMIT), each a wake-up of a backend competing for the cores.
-- No member may be written after its caller gave up ($10: milliseconds
-- each caller still waited when the statement was sent). The check runs
-- on the rows the insert returns - after the statement got its locks, so
-- after any stall on them - right before the implicit commit; if any
-- member's time is up, the statement fails on purpose (the cast of a
-- marked text to int, whose message the store recognises), nothing is
-- written, and the store sends the group again without the late members.
-- The tenants' quota trigger (migration 006) runs after this check and
-- may wait for a tenant's counter row, so the earliest member's deadline
-- also goes to it (commit_by: ogf.commit_before, epoch milliseconds, for
-- this transaction only), and it checks again after that wait; a member
-- over its tenant's quota fails the statement too (SQLSTATE OGF01, the
-- store keeps the members that fit and sends the group again).
-- $11/$12: the wake-up NOTIFY of pollers, sent at commit only when $12
-- (at most once per interval). $13: each member's run_after in
-- microseconds since the epoch, or null (as insert_batch's $9). $14:
-- callback URLs (NULL: none).
WITH u AS MATERIALIZED (
  SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::smallint[],
    $5::smallint[], $6::int[], $7::jsonb[], $10::bigint[], $13::bigint[],
    $14::text[])
    WITH ORDINALITY
    AS u(id, org, ws, prio, maxr, total, meta, left_ms, run_after_us, cb,
         ord)),
commit_by AS MATERIALIZED (
  SELECT set_config('ogf.commit_before',
    (extract(epoch FROM transaction_timestamp()) * 1000
      + min(u.left_ms))::text, true)
  FROM u),
ins AS (
  INSERT INTO batch_jobs AS b (id, org_id, workspace_id, priority,
    max_retries, total_activities, metadata, created_at, updated_at,
    run_after, callback_url)
  SELECT u.id, u.org, u.ws, u.prio, u.maxr, u.total, u.meta,
    clock_timestamp(), clock_timestamp(),
    greatest(timestamptz 'epoch' + u.run_after_us * interval '1 microsecond',
             now()), u.cb
  FROM u CROSS JOIN commit_by
  ORDER BY u.ord
  RETURNING {{batch_columns}}, b.id AS inserted_id),
items AS (
  INSERT INTO batch_item_ids (batch_id, activity_id)
  SELECT * FROM unnest($8::uuid[], $9::text[]))
SELECT ins.*,
  -- in the target list, so that it runs (once per row; PostgreSQL
  -- delivers identical notifications of a transaction once)
  CASE WHEN $12::boolean THEN pg_notify($11, '') END
FROM ins
JOIN u ON u.id = ins.inserted_id
WHERE CASE WHEN clock_timestamp()
             >= transaction_timestamp() + u.left_ms * interval '1 millisecond'
           THEN ('ogf: a caller gave up ' || u.id::text)::int = 0
           ELSE true END;

-- name: insert_items
INSERT INTO batch_item_ids (batch_id, activity_id)
SELECT $1::uuid, a FROM unnest($2::text[]) AS a;

-- name: find_by_key
SELECT {{batch_columns}}, b.request_hash FROM batch_jobs b
WHERE b.org_id = $1 AND b.workspace_id = $2 AND b.idempotency_key = $3
  AND NOT b.idempotency_expired;

-- name: get_batch
SELECT {{batch_columns}} FROM batch_jobs b
WHERE b.id = $1::uuid AND b.org_id = $2 AND b.workspace_id = $3;

-- name: list_batches
-- $5, $6 and $7 are microseconds since the epoch (created_after,
-- created_before, and the page token's created_at, with $8 its id).
SELECT {{batch_columns}} FROM batch_jobs b
WHERE b.org_id = $1 AND b.workspace_id = $2
  AND ($3::text[] IS NULL OR b.status = ANY($3::text[]))
  AND ($4::int IS NULL OR b.priority = $4::int)
  AND ($5::bigint IS NULL OR b.created_at >
    (timestamptz 'epoch' + $5::bigint * interval '1 microsecond'))
  AND ($6::bigint IS NULL OR b.created_at <
    (timestamptz 'epoch' + $6::bigint * interval '1 microsecond'))
  AND ($7::bigint IS NULL OR (b.created_at, b.id) <
    ((timestamptz 'epoch' + $7::bigint * interval '1 microsecond'), $8::uuid))
ORDER BY b.created_at DESC, b.id DESC LIMIT $9 OFFSET $10;

-- name: list_items
SELECT i.activity_id, i.status, i.scope, i.emissions_kg_co2e::text,
  i.factor_id, i.error, i.attempts,
  (extract(epoch FROM i.processed_at) * 1000000)::bigint
FROM batch_items i JOIN batch_jobs b ON b.id = i.batch_id
WHERE i.batch_id = $1::uuid AND b.org_id = $2 AND b.workspace_id = $3
  AND ($4::text IS NULL OR i.status = $4)
  AND ($5::text IS NULL OR i.activity_id > $5)
ORDER BY i.activity_id LIMIT $6;

-- name: cancel_batch
-- Cancel decides in one statement: pending/queued end now, processing
-- only asks the worker (which stops within 2 s).
UPDATE batch_jobs b SET
  status = CASE WHEN b.status = 'processing' THEN 'processing'
    ELSE 'cancelled' END,
  cancel_requested = true,
  completed_at = CASE WHEN b.status = 'processing' THEN NULL ELSE now() END,
  lease_owner = CASE WHEN b.status = 'processing' THEN b.lease_owner END,
  lease_expires_at = CASE WHEN b.status = 'processing'
    THEN b.lease_expires_at END,
  updated_at = now()
WHERE b.id = $1::uuid AND b.org_id = $2 AND b.workspace_id = $3
  AND b.status IN ('pending', 'queued', 'processing')
RETURNING {{batch_columns}};

-- name: notify_cancel
-- Tells every node's listener ($1, the cancel channel) that batch $2 was
-- asked to cancel while processing: the node running it may be another.
SELECT pg_notify($1, $2);

-- name: status_of
SELECT status FROM batch_jobs
WHERE id = $1::uuid AND org_id = $2 AND workspace_id = $3;

-- name: retry_batch
-- Retry keeps succeeded items and their totals; failed and unprocessed
-- items go back to pending. Nothing is written to the items: the retry
-- count is the attempt, and a failed result belongs to an earlier attempt,
-- so the item is pending again (batch_results, migration 004).
UPDATE batch_jobs b SET status = 'pending', retry_count = retry_count + 1,
  processed_activities = succeeded_activities, failed_activities = 0,
  error = NULL, cancel_requested = false, completed_at = NULL,
  run_after = now(), lease_expiries = 0, lease_owner = NULL,
  lease_expires_at = NULL, updated_at = now()
WHERE b.id = $1::uuid AND b.org_id = $2 AND b.workspace_id = $3
  AND b.status IN ('failed', 'cancelled')
RETURNING {{batch_columns}};

-- name: delete_batch
-- The batch with its items and results, which carry no foreign key (a
-- check per inserted row on the hottest paths; migration 004).
WITH gone AS (
  DELETE FROM batch_jobs
  WHERE id = $1::uuid AND org_id = $2 AND workspace_id = $3
    AND status IN ('pending', 'completed', 'failed', 'cancelled')
  RETURNING id),
items AS (
  DELETE FROM batch_item_ids
  WHERE batch_id = $1::uuid AND batch_id IN (SELECT id FROM gone)),
results AS (
  DELETE FROM batch_results
  WHERE batch_id = $1::uuid AND batch_id IN (SELECT id FROM gone))
SELECT id FROM gone;

-- name: batch_counts
-- A tenant's batches by status, for the dashboard: the tenant's rows
-- through batch_jobs_tenant_created_idx.
SELECT b.status, count(*) FROM batch_jobs b
WHERE b.org_id = $1 AND b.workspace_id = $2
GROUP BY b.status;

-- name: batch_emissions
-- A batch's succeeded items by scope: one row with a null scope while it
-- has none, no row when the batch is not the tenant's. Read from
-- batch_results through its key's batch_id prefix, not through the
-- batch_items view (a lookup per item): an item succeeds at most once
-- (record_results inserts a result only while none succeeded before), so
-- its succeeded rows are the batch's succeeded items.
SELECT s.scope, coalesce(s.items, 0), s.kg::text
FROM batch_jobs b
LEFT JOIN LATERAL (
  SELECT r.scope, count(*) AS items, sum(r.emissions_kg_co2e) AS kg
  FROM batch_results r
  WHERE r.batch_id = b.id AND r.status = 'succeeded' AND r.scope IS NOT NULL
  GROUP BY r.scope) s ON true
WHERE b.id = $1::uuid AND b.org_id = $2 AND b.workspace_id = $3
ORDER BY s.scope;
