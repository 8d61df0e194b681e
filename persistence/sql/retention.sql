-- Retention (serve --retention): deleting batches that ended longer ago than
-- the window, with their items, results and chunk log, a slice at a time.
-- Run only by the pruner's own connection (actors/pruner.hpp); each slice is
-- one short transaction: prune_lock, then prune_slice, then commit.

-- name: prune_lock
-- The retention lock, transaction-level: only one node prunes at a time,
-- and the lock goes with the slice's commit or rollback (a node that dies
-- mid-slice holds nothing). Not waited for: a node that does not get it
-- skips the round. The key is the ASCII of "OGF_PRUN" (docs/operations.md:
-- an operator may take it too, to pause pruning on every node).
SELECT pg_try_advisory_xact_lock(5712889474445268302);

-- name: prune_slice
-- One slice: the oldest ended batches whose end is older than $1 ms, at
-- most $2 of them, and - after the first, which always goes - only while
-- their activities add up to at most $3, so that a slice's row count (ids,
-- results, chunk log) stays bounded whatever the batch sizes. Read from
-- batch_jobs_ended_idx in completed_at order (migration 008): LIMIT $2
-- index entries, no scan of the table. The deletes take their ids as
-- arrays (= ANY (ARRAY(...))), so that every plan - also the generic one a
-- prepared statement moves to, which cannot know how few ids LIMIT $2
-- leaves - looks them up by primary key instead of hash-joining them with
-- every old ended batch (measured on 200,000 batches, 130,000 of them old:
-- that join read all 130,000 rows; this form deletes a slice of 100
-- batches with 1,000 items and 1,000 results in 12-30 ms in both plans).
-- A batch whose idempotency key is still live (submitted less than 24 h
-- ago, insert_batch) stays until the key lapses, so that a replay of the
-- key within 24 h still answers with the batch rather than creating a new
-- one; only a window under 24 h meets such batches. Likewise a batch whose
-- completion callback (migration 009) is still being delivered stays until
-- it is delivered or given up (at most 24 h after its end): the receiver
-- would otherwise be told of a batch the API no longer knows.
-- No row is read FOR UPDATE: the DELETE re-checks status and end on the
-- row's newest version (READ COMMITTED), so a batch retried or deleted by
-- a user meanwhile is left alone, and a batch is deleted at most once
-- whoever else deletes. Items and results carry no foreign key (migration
-- 004) and go in this statement; the chunk log cascades. The quota
-- triggers of 006 count nothing for ended batches (their DELETE trigger
-- counts only unfinished ones), so pruning leaves the counters alone.
WITH candidates AS (
  SELECT b.id, b.total_activities, b.completed_at
  FROM batch_jobs b
  WHERE b.status IN ('completed', 'failed', 'cancelled')
    AND b.completed_at < now() - $1::bigint * interval '1 millisecond'
    AND (b.idempotency_key IS NULL OR b.idempotency_expired
         OR b.created_at < now() - interval '24 hours')
    AND (b.callback_url IS NULL OR b.callback_status <> 'pending')
  ORDER BY b.completed_at, b.id
  LIMIT $2),
chosen AS (
  SELECT id FROM (
    SELECT id, row_number() OVER w AS n,
           sum(total_activities::bigint) OVER w AS running
    FROM candidates
    WINDOW w AS (ORDER BY completed_at, id)) c
  WHERE n = 1 OR running <= $3::bigint),
gone AS (
  DELETE FROM batch_jobs b
  WHERE b.id = ANY (ARRAY(SELECT id FROM chosen))
    AND b.status IN ('completed', 'failed', 'cancelled')
    AND b.completed_at < now() - $1::bigint * interval '1 millisecond'
    AND (b.callback_url IS NULL OR b.callback_status <> 'pending')
  RETURNING b.id),
items AS (
  DELETE FROM batch_item_ids i
  WHERE i.batch_id = ANY (ARRAY(SELECT id FROM gone))
  RETURNING 1),
results AS (
  DELETE FROM batch_results r
  WHERE r.batch_id = ANY (ARRAY(SELECT id FROM gone))
  RETURNING 1)
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM items),
       (SELECT count(*) FROM results);
