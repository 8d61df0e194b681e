-- The engine side of the batch aggregate: claim, lease renewal and
-- release, resolving and recording chunks under the lease fence, and
-- ending a run. Every write after the claim is fenced by lease_token and
-- lease_owner, so a node that lost its lease writes nothing.

-- name: claim
-- The claim: expired leases first (counted; over max_retries -> failed;
-- a user asked to cancel -> cancelled, never run again), then pending
-- batches that are due (run_after <= now()) in claim order: priority
-- first; within a priority the tenants take turns, one batch each per
-- round, the tenant served longest ago first (CONTRACT §7 fairness); within
-- a tenant and priority FIFO by run_after (the submit time, the time it
-- was scheduled for, or the end of its retry backoff), created_at, id.
-- SKIP LOCKED lets concurrent claimers take disjoint rows; MATERIALIZED
-- keeps each step's LIMIT applied once (see Oban's basic engine for why).
-- Of what is found, the first $5 in claim order are taken whatever their
-- size, the ones after them only while the running sum of their
-- activities stays within $6: a claimer packing small batches into bundles
-- asks for many, but never takes more work than its free workers can
-- start now ($5 = $2 and $6 = 0: simply the first $2).
--
-- Plan (migration 007): a queue is a (tenant, priority) of
-- batch_claim_queues. `heads` keeps the queues with a due batch (one
-- descent of batch_jobs_queue_idx each: the range org, workspace,
-- priority equal and run_after <= now(), so batches scheduled for later
-- are never read); `due` reads the first few due batches of each, enough
-- for the claim order's first $5 exactly (a batch k-th in its queue has
-- k - 1 batches of its own queue before it) plus an even share of the
-- rest of $2; `candidates` locks the first $2 of those in claim order by
-- primary key, SKIP LOCKED, from twice as many as asked (a concurrent
-- claimer holds the first ones). Reading a few rows from each of the
-- queues instead of walking one index in claim order costs the claim one
-- or two descents per queue; a loose index scan over the tenants would
-- cost as many and could not skip the batches scheduled for later.
WITH expired AS MATERIALIZED (
  SELECT id, lease_expiries + 1 > max_retries AS exhausted,
    cancel_requested AS cancelling, total_activities AS total, priority,
    created_at
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
-- LATERAL ... LIMIT 1, not EXISTS: with few queues the planner turned
-- EXISTS into a merge join that read every due batch (30 ms with 100,000
-- pending of one tenant). ORDER BY the primary key: the store's sessions
-- run with enable_seqscan off, and without an order to serve the planner
-- has no index path for reading the whole table, so it took the seq scan
-- at its 1e10 penalty, which put the statement over jit_above_cost: 300 ms
-- of JIT compilation per claim.
heads AS MATERIALIZED (
  SELECT q.org_id, q.workspace_id, q.priority, q.last_claimed_at AS turn
  FROM batch_claim_queues q
  CROSS JOIN LATERAL (
    SELECT 1 FROM batch_jobs b
    WHERE b.org_id = q.org_id AND b.workspace_id = q.workspace_id
      AND b.priority = q.priority AND b.status = 'pending'
      AND b.run_after <= now()
    LIMIT 1) x
  ORDER BY q.org_id, q.workspace_id, q.priority),
due AS MATERIALIZED (
  SELECT x.id, h.priority, x.k, h.turn, h.org_id, h.workspace_id
  FROM heads h
  CROSS JOIN LATERAL (
    SELECT b.id, row_number() OVER (
        ORDER BY b.run_after, b.created_at, b.id) AS k
    FROM batch_jobs b
    WHERE b.org_id = h.org_id AND b.workspace_id = h.workspace_id
      AND b.priority = h.priority AND b.status = 'pending'
      AND b.run_after <= now()
    ORDER BY b.run_after, b.created_at, b.id
    LIMIT $5::bigint + ($2::bigint - $5::bigint
      + (SELECT greatest(count(*), 1) FROM heads) - 1)
      / (SELECT greatest(count(*), 1) FROM heads)) x
  ORDER BY h.priority DESC, x.k, h.turn, h.org_id, h.workspace_id
  LIMIT 2 * $2::bigint + 16),
candidates AS MATERIALIZED (
  SELECT b.id, b.total_activities AS total, b.priority, b.created_at, d.k,
    d.turn, b.org_id, b.workspace_id
  FROM due d JOIN batch_jobs b ON b.id = d.id
  WHERE b.status = 'pending' AND b.run_after <= now()
  ORDER BY d.priority DESC, d.k, d.turn, d.org_id, d.workspace_id
  LIMIT $2 FOR UPDATE OF b SKIP LOCKED),
picked AS (
  SELECT id, reclaimed, org_id, workspace_id, priority FROM (
    SELECT id, reclaimed, org_id, workspace_id, priority,
      row_number() OVER w AS k, sum(total) OVER w AS running
    FROM (
      SELECT id, true AS reclaimed, 0 AS o, total, priority, 0::bigint AS k,
        '-infinity'::timestamptz AS turn, ''::text AS org_id,
        ''::text AS workspace_id, created_at
      FROM expired WHERE NOT exhausted AND NOT cancelling
      UNION ALL SELECT id, false, 1, total, priority, k, turn, org_id,
        workspace_id, created_at
      FROM candidates) u
    WINDOW w AS (ORDER BY o, priority DESC, k, turn, org_id, workspace_id,
      created_at, id)) v
  WHERE k <= $5::bigint OR running <= $6::bigint
  ORDER BY k LIMIT $2),
-- The queues served move to the back of their priority's turns. A queue
-- row another claim is updating right now is left to it (SKIP LOCKED:
-- its turn becomes about now all the same), so claims never wait for
-- each other here.
served AS MATERIALIZED (
  SELECT q.org_id, q.workspace_id, q.priority FROM batch_claim_queues q
  WHERE (q.org_id, q.workspace_id, q.priority) IN (
    SELECT p.org_id, p.workspace_id, p.priority FROM picked p
    WHERE NOT p.reclaimed)
  FOR UPDATE SKIP LOCKED),
turns AS (
  UPDATE batch_claim_queues q SET last_claimed_at = now()
  FROM served s
  WHERE q.org_id = s.org_id AND q.workspace_id = s.workspace_id
    AND q.priority = s.priority)
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
-- Rows are found by id = ANY (the primary key) and locked in id order, as
-- record_results locks its fences, so a renew and a bundle's record never
-- deadlock on them.
WITH l AS MATERIALIZED (
  SELECT b.id FROM batch_jobs b
  WHERE b.id = ANY ($3::uuid[])
    AND b.lease_token = ($4::bigint[])[array_position($3::uuid[], b.id)]
    AND b.lease_owner = $1 AND b.status IN ('queued', 'processing')
  ORDER BY b.id
  FOR UPDATE)
UPDATE batch_jobs b SET
  lease_expires_at = now() + $2::bigint * interval '1 millisecond'
FROM l WHERE b.id = l.id AND b.id = ANY ($3::uuid[])
RETURNING b.id::text, b.cancel_requested;

-- name: next_due
-- Milliseconds until the earliest pending batch that is not due yet
-- becomes due (scheduled, or waiting out a retry backoff); null when there
-- is none. The poller sets its wake-up by it after a claim that found less
-- than it asked for. Relative to the database's clock, as the claim's
-- run_after <= now() is. One descent of batch_jobs_queue_idx per queue
-- (the first entry after now() in its range), never a scan. The queues
-- are read in primary key order for an index path (see claim's heads).
SELECT ceil(extract(epoch FROM min(x.run_after) - now()) * 1000)::bigint
FROM (SELECT org_id, workspace_id, priority FROM batch_claim_queues
      ORDER BY org_id, workspace_id, priority) q
CROSS JOIN LATERAL (
  SELECT b.run_after FROM batch_jobs b
  WHERE b.org_id = q.org_id AND b.workspace_id = q.workspace_id
    AND b.priority = q.priority AND b.status = 'pending'
    AND b.run_after > now()
  ORDER BY b.run_after LIMIT 1) x;

-- name: release
-- Back to pending for any node, or cancelled when a user asked to cancel
-- while it ran (it must not run again). Locked in id order like renew.
-- run_after is kept (it was due when the batch was claimed): the batch
-- keeps its place in its queue (FIFO by run_after, see claim).
WITH l AS MATERIALIZED (
  SELECT b.id FROM batch_jobs b
  WHERE b.id = ANY ($2::uuid[])
    AND b.lease_token = ($3::bigint[])[array_position($2::uuid[], b.id)]
    AND b.lease_owner = $1 AND b.status IN ('queued', 'processing')
  ORDER BY b.id
  FOR UPDATE)
UPDATE batch_jobs b SET
  status = CASE WHEN b.cancel_requested THEN 'cancelled' ELSE 'pending' END,
  completed_at = CASE WHEN b.cancel_requested THEN now() END,
  lease_owner = NULL,
  lease_expires_at = NULL, updated_at = now()
FROM l WHERE b.id = l.id AND b.id = ANY ($2::uuid[])
RETURNING b.id::text;

-- name: start
UPDATE batch_jobs SET status = 'processing',
  started_at = coalesce(started_at, now()), updated_at = now()
WHERE id = $1::uuid AND lease_token = $2 AND lease_owner = $3
  AND status IN ('queued', 'processing')
RETURNING id;

-- name: owner_of
SELECT org_id, workspace_id FROM batch_jobs WHERE id = $1::uuid;

-- name: resolve_items
-- Pending items of one or more batches held under their fence, each with
-- its activity and the factor chosen by the CONTRACT's preference rules
-- (tenant's own, exact region, latest valid_from not after period_start
-- else earliest, own unit, smallest id). Per batch: items after its cursor
-- ($3, '' for all) in activity_id order, at most $4 of them. One call
-- serves a worker's chunk (one batch, keyset cursor) and a bundle (many
-- small batches, all their pending items at once).
-- An item is pending unless it has a result of the batch's current attempt
-- or a succeeded one of an earlier attempt (batch_results, migration 004).
-- Plans: the batch rows are found by id = ANY (their primary key; joined to
-- unnest, a generic plan walked the whole primary key index), items through the
-- (batch_id, activity_id) key with LIMIT per batch, and each activity is
-- looked up by its full primary key in a LATERAL ... LIMIT 1 the planner
-- cannot flatten: joined directly, a generic or misestimated plan sorted
-- every remaining item and merged it with every activity of the tenant on
-- each chunk (0.1 s per 500-item chunk with 300,000 activities).
WITH held AS MATERIALIZED (
  SELECT b.id, b.org_id, b.workspace_id, b.retry_count,
         ($3::text[])[array_position($1::uuid[], b.id)] AS after
    FROM batch_jobs b
   WHERE b.id = ANY ($1::uuid[])
     AND b.lease_token = ($2::bigint[])[array_position($1::uuid[], b.id)]
     AND b.status = 'processing'),
i AS MATERIALIZED (
  SELECT h.id AS batch_id, h.org_id, h.workspace_id, x.activity_id
    FROM held h
    CROSS JOIN LATERAL (
      SELECT p.activity_id FROM batch_item_ids p
       WHERE p.batch_id = h.id AND p.activity_id > h.after
         AND NOT EXISTS (
           SELECT 1 FROM batch_results r
            WHERE r.batch_id = p.batch_id AND r.activity_id = p.activity_id
              AND (r.attempt = h.retry_count OR r.status = 'succeeded')
           OFFSET 0)
       ORDER BY p.activity_id LIMIT $4) x),
-- Each item's activity, by its full primary key.
a AS MATERIALIZED (
  SELECT i.batch_id, i.activity_id, i.org_id, i.workspace_id, x.id,
         x.activity_type, x.quantity, x.unit, x.region, x.period_start,
         x.version
    FROM i
    LEFT JOIN LATERAL (
      SELECT a.id, a.activity_type, a.quantity, a.unit, a.region,
             a.period_start, a.version
        FROM activities a
       WHERE a.org_id = i.org_id AND a.workspace_id = i.workspace_id
         AND a.id = i.activity_id
       LIMIT 1) x ON true),
-- The factor depends only on (tenant, type, region, period start, unit):
-- chosen once per distinct key of the chunk, not once per item (a chunk's
-- activities mostly share a few keys; the choice was half of the
-- statement's time).
k AS MATERIALIZED (
  SELECT DISTINCT org_id, workspace_id, activity_type, region, period_start,
         unit
    FROM a WHERE a.id IS NOT NULL),
kf AS MATERIALIZED (
  SELECT k.*, f.id AS factor_id, f.unit AS factor_unit,
         f.kg_co2e_per_unit, f.scope,
         EXISTS (
           SELECT 1 FROM emission_factors x
            WHERE x.activity_type = k.activity_type
              AND x.region IN (k.region, 'GLOBAL')
              AND (x.org_id IS NULL OR (x.org_id = k.org_id
                                        AND x.workspace_id = k.workspace_id)))
           AS any_factor
    FROM k
    LEFT JOIN units au ON au.unit = k.unit
    LEFT JOIN LATERAL (
      SELECT f.id, f.unit, f.kg_co2e_per_unit, f.scope
        FROM emission_factors f JOIN units fu ON fu.unit = f.unit
       WHERE f.activity_type = k.activity_type
         AND f.region IN (k.region, 'GLOBAL')
         AND (f.org_id IS NULL OR (f.org_id = k.org_id
                                   AND f.workspace_id = k.workspace_id))
         AND fu.dimension = au.dimension
       ORDER BY (f.org_id IS NOT NULL) DESC, (f.region = k.region) DESC,
                (f.valid_from <= k.period_start) DESC,
                CASE WHEN f.valid_from <= k.period_start
                     THEN f.valid_from END DESC,
                f.valid_from ASC, (f.unit = k.unit) DESC,
                f.id COLLATE "C" ASC
       LIMIT 1) f ON true)
SELECT a.batch_id::text, a.activity_id, a.id IS NOT NULL, a.quantity::text,
       a.unit, kf.factor_id, kf.factor_unit, kf.kg_co2e_per_unit::text,
       kf.scope, coalesce(kf.any_factor, false), a.version
  FROM a
  LEFT JOIN kf ON kf.org_id = a.org_id AND kf.workspace_id = a.workspace_id
   AND kf.activity_type = a.activity_type AND kf.region = a.region
   AND kf.period_start = a.period_start AND kf.unit = a.unit
 ORDER BY a.batch_id, a.activity_id;

-- name: record_results
-- Results of one or more batches under their fences, in one statement,
-- appended to batch_results (insert-only, migration 004). Each batch's
-- fence row is locked (in id order, so two recorders never deadlock on
-- them): a concurrent claim of an expired lease either waits for us or we
-- see its new token and write nothing for that batch; the other batches of
-- a bundle are written all the same. A result is inserted only for an item
-- of the batch that is still pending (no result of this attempt - the key
-- - and none succeeded before), and the counters are bumped by the rows
-- actually inserted, so recording twice never counts anything twice. A
-- failed item carries no emissions (whatever the worker passed): the batch
-- total is the sum over succeeded items, and stays so when a retry makes
-- the failed ones pending again.
-- The activity's latest result is written only if the activity is still
-- the one resolve_items read (same version): an upsert meanwhile bumped the
-- version and cleared the result, and a result computed from the old
-- inputs must not come back as the result of the new ones. The result row
-- keeps it: it is the result of the inputs the batch read.
-- Plans: batches are found by id = ANY (their primary key), results, items
-- and activities only through their full primary keys taken from
-- materialised CTEs, and the existence checks are kept as per-row subplans
-- (OFFSET 0 stops the planner from turning them into joins). Written as
-- a join of activities with the fence's tenant, a generic plan walked every
-- activity of the tenant for each chunk (1.2 s per 100 items with 20,000
-- activities) - the trap the statement before 004 documented too.
-- Returns one row per batch still held (a batch missing from the answer
-- lost its lease: nothing was written for it).
WITH fence AS MATERIALIZED (
  SELECT b.id, b.retry_count, b.org_id, b.workspace_id, b.lease_token AS token
    FROM batch_jobs b
   WHERE b.id = ANY ($2::uuid[])
     AND b.lease_token = ($3::bigint[])[array_position($2::uuid[], b.id)]
     AND b.lease_owner = $1 AND b.status = 'processing'
   ORDER BY b.id
     FOR UPDATE),
r AS MATERIALIZED (
  SELECT u.* FROM unnest($4::uuid[], $5::text[], $6::text[], $7::smallint[],
                         $8::numeric[], $9::text[], $10::text[], $11::bigint[])
    AS u(batch_id, activity_id, status, scope, emissions, factor_id, error,
         activity_version)),
ins AS (
  INSERT INTO batch_results AS x (batch_id, activity_id, attempt, status,
                                  scope, emissions_kg_co2e, factor_id, error,
                                  lease_token, activity_version, processed_at)
  SELECT r.batch_id, r.activity_id, f.retry_count, r.status, r.scope,
         CASE WHEN r.status = 'succeeded' THEN r.emissions END,
         r.factor_id, r.error, f.token, r.activity_version, now()
    FROM r JOIN fence f ON f.id = r.batch_id
   WHERE EXISTS (SELECT 1 FROM batch_item_ids p
                  WHERE p.batch_id = r.batch_id
                    AND p.activity_id = r.activity_id
                 OFFSET 0)
     AND (f.retry_count = 0
          OR NOT EXISTS (SELECT 1 FROM batch_results y
                          WHERE y.batch_id = r.batch_id
                            AND y.activity_id = r.activity_id
                            AND y.status = 'succeeded'
                         OFFSET 0))
  ON CONFLICT DO NOTHING
  RETURNING x.batch_id, x.activity_id, x.status, x.scope,
            x.emissions_kg_co2e, x.factor_id, x.processed_at,
            x.activity_version),
done AS MATERIALIZED (
  SELECT ins.*, f.org_id, f.workspace_id
    FROM ins JOIN fence f ON f.id = ins.batch_id),
-- The activities written are locked first, in key order: a bundle's
-- results come grouped by batch, so two bundles sharing activities would
-- otherwise lock them in opposite orders and deadlock (a chunk of one
-- batch used to come in activity order). Each is reached by its full key
-- from the sorted keys (LATERAL), never by a scan.
locked AS MATERIALIZED (
  SELECT x.id
    FROM (SELECT DISTINCT org_id, workspace_id, activity_id FROM done
           WHERE status = 'succeeded'
           ORDER BY org_id, workspace_id, activity_id) k
    CROSS JOIN LATERAL (
      SELECT a.id FROM activities a
       WHERE a.org_id = k.org_id AND a.workspace_id = k.workspace_id
         AND a.id = k.activity_id
         FOR UPDATE) x),
act AS (
  UPDATE activities a SET emissions_kg_co2e = done.emissions_kg_co2e,
         scope = done.scope, factor_id = done.factor_id,
         calculated_at = done.processed_at
    FROM done
   WHERE a.org_id = done.org_id AND a.workspace_id = done.workspace_id
     AND a.id = done.activity_id AND done.status = 'succeeded'
     AND a.version = done.activity_version
     AND (SELECT count(*) FROM locked) >= 0),
sums AS (
  SELECT batch_id,
         count(*) FILTER (WHERE status = 'succeeded') AS ok,
         count(*) FILTER (WHERE status = 'failed') AS bad,
         coalesce(sum(emissions_kg_co2e), 0) AS kg
    FROM done GROUP BY batch_id),
log AS (
  INSERT INTO batch_chunk_log (batch_id, lease_token, node_id, items)
  SELECT f.id, f.token, $1, coalesce(s.ok + s.bad, 0)
    FROM fence f LEFT JOIN sums s ON s.batch_id = f.id),
bump AS (
  UPDATE batch_jobs b SET
         processed_activities = b.processed_activities
                                + coalesce(s.ok + s.bad, 0),
         succeeded_activities = b.succeeded_activities + coalesce(s.ok, 0),
         failed_activities = b.failed_activities + coalesce(s.bad, 0),
         total_emissions_kg_co2e = b.total_emissions_kg_co2e
                                   + coalesce(s.kg, 0),
         updated_at = now()
    FROM fence f LEFT JOIN sums s ON s.batch_id = f.id
   WHERE b.id = f.id
  RETURNING b.id, b.cancel_requested)
SELECT f.id::text, coalesce(s.ok, 0), coalesce(s.bad, 0),
       coalesce(s.kg, 0)::text, bump.cancel_requested
  FROM fence f JOIN bump ON bump.id = f.id
  LEFT JOIN sums s ON s.batch_id = f.id;

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

-- name: finish_many
-- Ends several batches under their fences, as finish does one (same
-- rules: a user's cancel wins; failed items or unprocessed ones fail the
-- batch). Used right after record_results in the same transaction, whose
-- fence locks are still held, for the batches of a bundle that ended.
-- Rows by id = ANY (the primary key), kind and error by the batch's
-- position in $2 - not a join with unnest(), whose generic plan may walk
-- the whole primary key index.
UPDATE batch_jobs b SET
       status = CASE WHEN l.kind = 'cancelled' OR b.cancel_requested
                       THEN 'cancelled'
                     WHEN l.kind = 'failed' OR b.failed_activities > 0
                       OR b.processed_activities < b.total_activities
                       THEN 'failed'
                     ELSE 'completed' END,
       error = CASE WHEN l.kind = 'cancelled' OR b.cancel_requested THEN NULL
                    WHEN l.kind = 'failed' THEN l.error
                    WHEN b.failed_activities > 0
                      THEN b.failed_activities::text || ' of '
                           || b.total_activities::text
                           || ' activities failed'
                    WHEN b.processed_activities < b.total_activities
                      THEN 'not every activity was processed'
                    ELSE NULL END,
       lease_owner = NULL, lease_expires_at = NULL,
       completed_at = now(), updated_at = now()
  FROM (SELECT x.id, p.pos,
               ($4::text[])[p.pos] AS kind, ($5::text[])[p.pos] AS error
          FROM batch_jobs x,
               LATERAL array_position($2::uuid[], x.id) AS p(pos)
         WHERE x.id = ANY ($2::uuid[])) l
 WHERE b.id = l.id AND b.id = ANY ($2::uuid[])
   AND b.lease_token = ($3::bigint[])[l.pos] AND b.lease_owner = $1
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
