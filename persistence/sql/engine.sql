-- The engine side of the batch aggregate: claim, lease renewal and
-- release, resolving and recording chunks under the lease fence, and
-- ending a run. Every write after the claim is fenced by lease_token and
-- lease_owner, so a node that lost its lease writes nothing.

-- name: claim
-- The claim: expired leases first (counted; over max_retries -> failed;
-- a user asked to cancel -> cancelled, never run again), then pending
-- batches in priority order. SKIP LOCKED lets concurrent
-- claimers take disjoint rows; MATERIALIZED keeps the LIMIT applied once
-- (see Oban's basic engine for why).
WITH expired AS MATERIALIZED (
  SELECT id, lease_expiries + 1 > max_retries AS exhausted,
    cancel_requested AS cancelling
  FROM batch_jobs
  WHERE status IN ('queued', 'processing') AND lease_expires_at < now()
  ORDER BY lease_expires_at LIMIT $2 FOR UPDATE SKIP LOCKED),
ended AS (
  UPDATE batch_jobs b SET
    status = CASE WHEN e.cancelling THEN 'cancelled' ELSE 'failed' END,
    lease_owner = NULL,
    lease_expires_at = NULL, lease_expiries = b.lease_expiries + 1,
    lease_token = b.lease_token + 1,
    error = CASE WHEN e.cancelling THEN NULL
      ELSE 'lease expired more than max_retries times' END,
    completed_at = now(), updated_at = now()
  FROM expired e WHERE b.id = e.id AND (e.exhausted OR e.cancelling)
  RETURNING b.id),
candidates AS MATERIALIZED (
  SELECT id FROM batch_jobs
  WHERE status = 'pending' AND run_after <= now()
  ORDER BY priority DESC, created_at, id LIMIT $2 FOR UPDATE SKIP LOCKED),
picked AS (
  SELECT id, reclaimed FROM (
    SELECT id, true AS reclaimed, 0 AS o FROM expired
    WHERE NOT exhausted AND NOT cancelling
    UNION ALL SELECT id, false, 1 FROM candidates) u
  ORDER BY o LIMIT $2)
UPDATE batch_jobs b SET
  status = CASE WHEN $4::boolean THEN 'processing' ELSE 'queued' END,
  started_at = CASE WHEN $4::boolean THEN coalesce(b.started_at, now())
    ELSE b.started_at END,
  lease_owner = $1,
  lease_expires_at = now() + $3::bigint * interval '1 millisecond',
  lease_token = b.lease_token + 1,
  lease_expiries = b.lease_expiries + CASE WHEN p.reclaimed THEN 1 ELSE 0 END,
  updated_at = now()
FROM picked p WHERE b.id = p.id
RETURNING b.id::text, b.lease_token, b.priority, b.max_retries,
  b.total_activities, p.reclaimed, b.created_at, b.org_id,
  b.workspace_id;

-- name: renew
UPDATE batch_jobs b SET
  lease_expires_at = now() + $2::bigint * interval '1 millisecond'
FROM unnest($3::uuid[], $4::bigint[]) AS l(id, token)
WHERE b.id = l.id AND b.lease_token = l.token AND b.lease_owner = $1
  AND b.status IN ('queued', 'processing')
RETURNING b.id::text, b.cancel_requested;

-- name: release
-- Back to pending for any node, or cancelled when a user asked to cancel
-- while it ran (it must not run again).
UPDATE batch_jobs b SET
  status = CASE WHEN b.cancel_requested THEN 'cancelled' ELSE 'pending' END,
  completed_at = CASE WHEN b.cancel_requested THEN now() END,
  lease_owner = NULL,
  lease_expires_at = NULL, run_after = now(), updated_at = now()
FROM unnest($2::uuid[], $3::bigint[]) AS l(id, token)
WHERE b.id = l.id AND b.lease_token = l.token AND b.lease_owner = $1
  AND b.status IN ('queued', 'processing')
RETURNING b.id::text;

-- name: start
UPDATE batch_jobs SET status = 'processing',
  started_at = coalesce(started_at, now()), updated_at = now()
WHERE id = $1::uuid AND lease_token = $2 AND lease_owner = $3
  AND status IN ('queued', 'processing')
RETURNING id;

-- name: owner_of
SELECT org_id, workspace_id FROM batch_jobs WHERE id = $1::uuid;

-- name: resolve_chunk
-- Pending items of a chunk with their activity and the factor chosen by
-- the CONTRACT's preference rules (tenant's own, exact region, latest
-- valid_from not after period_start else earliest, own unit, smallest id).
-- The chunk is chosen first (pending items after the cursor, in
-- activity_id order, LIMIT), then each activity is looked up by its full
-- primary key in a LATERAL ... LIMIT 1 the planner cannot flatten: joined
-- directly, a generic or misestimated plan sorted every remaining item
-- of the batch and merged it with every activity of the tenant on each
-- chunk (0.1 s per 500-item chunk with 300,000 activities, growing with
-- the tenant).
SELECT i.activity_id, a.id IS NOT NULL, a.quantity::text, a.unit,
  f.id, f.unit, f.kg_co2e_per_unit::text, f.scope,
  (a.id IS NOT NULL AND EXISTS (SELECT 1 FROM emission_factors x
    WHERE x.activity_type = a.activity_type
    AND x.region IN (a.region, 'GLOBAL')
    AND (x.org_id IS NULL OR (x.org_id = $3 AND x.workspace_id = $4)))),
  a.version
FROM (
  SELECT activity_id FROM batch_items
  WHERE batch_id = $1::uuid AND status = 'pending' AND activity_id > $2
    AND EXISTS (SELECT 1 FROM batch_jobs b WHERE b.id = $1::uuid
      AND b.lease_token = $6 AND b.status = 'processing')
  ORDER BY activity_id LIMIT $5) i
LEFT JOIN LATERAL (
  SELECT a.id, a.activity_type, a.quantity, a.unit, a.region,
    a.period_start, a.version FROM activities a
  WHERE a.org_id = $3 AND a.workspace_id = $4 AND a.id = i.activity_id
  LIMIT 1) a ON true
LEFT JOIN units au ON au.unit = a.unit
LEFT JOIN LATERAL (
  SELECT f.id, f.unit, f.kg_co2e_per_unit, f.scope
  FROM emission_factors f JOIN units fu ON fu.unit = f.unit
  WHERE f.activity_type = a.activity_type
    AND f.region IN (a.region, 'GLOBAL')
    AND (f.org_id IS NULL OR (f.org_id = $3 AND f.workspace_id = $4))
    AND fu.dimension = au.dimension
  ORDER BY (f.org_id IS NOT NULL) DESC, (f.region = a.region) DESC,
    (f.valid_from <= a.period_start) DESC,
    CASE WHEN f.valid_from <= a.period_start THEN f.valid_from END DESC,
    f.valid_from ASC, (f.unit = a.unit) DESC, f.id COLLATE "C" ASC
  LIMIT 1) f ON true
ORDER BY i.activity_id;

-- name: record_chunk
-- Results under the fence, in one statement: the fence row is locked, so
-- a concurrent claim of an expired lease either waits for us or we see
-- its new token and write nothing. Only items still pending are updated,
-- and the batch counters are derived from the rows actually updated, so
-- recording a chunk twice never counts anything twice. A failed item
-- carries no emissions (whatever the worker passed): the batch total is
-- the sum over succeeded items, and stays so when retry resets the
-- failed ones.
-- Plans: items and activities are reached only through their full
-- primary keys, joined from the chunk (r, upd), whose key columns come
-- out of materialised CTEs, so the planner cannot turn them into a
-- (batch_id) or (tenant) prefix scan; the fence gates the update as a
-- one-time EXISTS. Written as "i.batch_id = fence.id" / "a.org_id = $4",
-- a 1-row estimate (fresh or stale statistics, or a generic plan) made
-- the planner walk every pending item of the batch, or every activity of
-- the tenant, and scan the chunk for each: 0.3-3 s per 500-item chunk
-- instead of ~10 ms.
-- The activity's latest result is written only if the activity is still
-- the one resolve_chunk read (same version): an upsert meanwhile bumped
-- the version and cleared the result, and a result computed from the
-- old inputs must not come back as the result of the new ones. The
-- item keeps it: it is the result of the inputs the batch read.
WITH fence AS (
  SELECT id FROM batch_jobs WHERE id = $1::uuid AND lease_token = $2
    AND lease_owner = $3 AND status = 'processing' FOR UPDATE),
r AS MATERIALIZED (
  SELECT $1::uuid AS batch_id, u.* FROM unnest($6::text[], $7::text[],
    $8::smallint[], $9::numeric[], $10::text[], $11::text[],
    $12::bigint[])
    AS u(activity_id, status, scope, emissions, factor_id, error,
      activity_version)),
upd AS (
  UPDATE batch_items i SET status = r.status, scope = r.scope,
    emissions_kg_co2e = CASE WHEN r.status = 'succeeded' THEN r.emissions END,
    factor_id = r.factor_id,
    error = r.error, attempts = i.attempts + 1, lease_token = $2,
    processed_at = now()
  FROM r
  WHERE EXISTS (SELECT 1 FROM fence)
    AND i.batch_id = r.batch_id AND i.activity_id = r.activity_id
    AND i.status = 'pending'
  RETURNING i.activity_id, i.status, i.scope, i.emissions_kg_co2e,
    i.factor_id, i.processed_at, $4::text AS org_id,
    $5::text AS workspace_id, r.activity_version),
act AS (
  UPDATE activities a SET emissions_kg_co2e = upd.emissions_kg_co2e,
    scope = upd.scope, factor_id = upd.factor_id,
    calculated_at = upd.processed_at
  FROM upd WHERE a.org_id = upd.org_id
    AND a.workspace_id = upd.workspace_id
    AND a.id = upd.activity_id AND upd.status = 'succeeded'
    AND a.version = upd.activity_version),
sums AS (
  SELECT count(*) FILTER (WHERE status = 'succeeded') AS ok,
    count(*) FILTER (WHERE status = 'failed') AS bad,
    coalesce(sum(emissions_kg_co2e), 0) AS kg FROM upd),
log AS (
  INSERT INTO batch_chunk_log (batch_id, lease_token, node_id, items)
  SELECT fence.id, $2, $3, (SELECT ok + bad FROM sums) FROM fence),
bump AS (
  UPDATE batch_jobs b SET
    processed_activities = b.processed_activities + s.ok + s.bad,
    succeeded_activities = b.succeeded_activities + s.ok,
    failed_activities = b.failed_activities + s.bad,
    total_emissions_kg_co2e = b.total_emissions_kg_co2e + s.kg,
    updated_at = now()
  FROM sums s, fence WHERE b.id = fence.id
  RETURNING b.cancel_requested)
SELECT (SELECT count(*) FROM fence), s.ok, s.bad, s.kg::text,
  coalesce((SELECT cancel_requested FROM bump), false) FROM sums s;

-- name: finish
-- A user's cancel wins over how the worker meant to end the batch: a
-- 202 to the cancel promised `cancelled`, and the worker may not have
-- heard of it yet (the last chunk was in flight). cancel_requested is
-- read here under the fence's row lock (record_chunk's, or this
-- statement's own), so a cancel either committed before and is seen, or
-- waits and then finds the batch terminal (409).
UPDATE batch_jobs b SET
  status = CASE WHEN $4 = 'cancelled' OR b.cancel_requested
    THEN 'cancelled'
    WHEN $4 = 'failed' OR b.failed_activities > 0
      OR b.processed_activities < b.total_activities THEN 'failed'
    ELSE 'completed' END,
  error = CASE WHEN $4 = 'cancelled' OR b.cancel_requested THEN NULL
    WHEN $4 = 'failed' THEN $5
    WHEN b.failed_activities > 0 THEN b.failed_activities::text
      || ' of ' || b.total_activities::text || ' activities failed'
    WHEN b.processed_activities < b.total_activities THEN
      'not every activity was processed'
    ELSE NULL END,
  lease_owner = NULL, lease_expires_at = NULL,
  completed_at = now(), updated_at = now()
WHERE b.id = $1::uuid AND b.lease_token = $2 AND b.lease_owner = $3
  AND b.status IN ('queued', 'processing')
RETURNING {{batch_columns}};

-- name: defer
-- A deferral is a lost attempt, counted with the lease expiries against
-- max_retries: without that, a batch whose every attempt hits a transient
-- error would go back to pending forever.
-- A cancel requested meanwhile ends it cancelled.
UPDATE batch_jobs SET
  status = CASE WHEN cancel_requested THEN 'cancelled'
    WHEN lease_expiries + 1 > max_retries THEN 'failed'
    ELSE 'pending' END,
  completed_at = CASE WHEN cancel_requested
    OR lease_expiries + 1 > max_retries THEN now() END,
  lease_expiries = lease_expiries + 1,
  lease_owner = NULL, lease_expires_at = NULL,
  error = CASE WHEN cancel_requested THEN NULL ELSE $5 END,
  run_after = now() + $4::bigint * interval '1 millisecond',
  updated_at = now()
WHERE id = $1::uuid AND lease_token = $2 AND lease_owner = $3
  AND status IN ('queued', 'processing')
RETURNING id;
