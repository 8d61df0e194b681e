-- 004: results are appended, never updated in place.
--
-- Before 004 a submit inserted one batch_items row per activity and every
-- recorded result UPDATEd that row (status, emissions, factor, ...): a new
-- row version per item, its index entries, and a dead tuple for vacuum, on
-- the engine's hottest path. Now:
--   batch_item_ids  the submitted activity ids of a batch (what batch_items
--                   was, without the result columns), written once at submit;
--   batch_results   one row per recorded result, INSERTed (unnest) under the
--                   batch's fence and never updated. Its key
--                   (batch_id, activity_id, attempt) holds one result per
--                   item per attempt of the batch (attempt = the batch's
--                   retry_count when it was recorded), so recording a chunk
--                   twice inserts nothing the second time and nothing is
--                   counted twice; a retry makes the failed items pending
--                   again without touching them (their result belongs to an
--                   earlier attempt).
--   batch_items     a view with the shape batch_items had, derived from the
--                   two: an item is succeeded if any attempt succeeded,
--                   failed if the current attempt failed, else pending.
-- The batch counters stay on batch_jobs, bumped by the rows each record
-- actually inserted; the activity's latest result stays on activities.

ALTER TABLE batch_items RENAME TO batch_item_ids;
ALTER TABLE batch_item_ids RENAME CONSTRAINT batch_items_pkey
  TO batch_item_ids_pkey;
-- No foreign keys from the per-item tables to batch_jobs: a key check per
-- inserted row (10 per 10-activity submit, one per recorded result; 20 %
-- of a bundle's record) for what the writers guarantee by construction -
-- ids are inserted in the statement that inserts their batch, results
-- under the batch's locked fence row. Deleting a batch (delete_batch,
-- drop_group_members) deletes its ids and results in the same statement.
ALTER TABLE batch_item_ids DROP CONSTRAINT batch_items_batch_id_fkey;

CREATE TABLE batch_results (
  batch_id          uuid NOT NULL,
  activity_id       text NOT NULL,
  -- the batch's retry_count when this result was recorded
  attempt           integer NOT NULL,
  status            text NOT NULL CHECK (status IN ('succeeded', 'failed')),
  scope             smallint,
  emissions_kg_co2e numeric,
  factor_id         text,
  error             text,
  -- fencing token under which the result was written (audit)
  lease_token       bigint NOT NULL,
  -- the activity's version the result was computed from (activities.version)
  activity_version  bigint NOT NULL DEFAULT 0,
  processed_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (batch_id, activity_id, attempt)
);

-- Existing results move over as results of the batch's current attempt.
-- (A pending item that had failed before a retry had its result erased by
-- that retry; only its attempt count is lost, which no total depends on.)
INSERT INTO batch_results (batch_id, activity_id, attempt, status, scope,
                           emissions_kg_co2e, factor_id, error, lease_token,
                           processed_at)
SELECT i.batch_id, i.activity_id, b.retry_count, i.status, i.scope,
       i.emissions_kg_co2e, i.factor_id, i.error, coalesce(i.lease_token, 0),
       coalesce(i.processed_at, now())
  FROM batch_item_ids i JOIN batch_jobs b ON b.id = i.batch_id
 WHERE i.status <> 'pending';

ALTER TABLE batch_item_ids
  DROP COLUMN status, DROP COLUMN scope, DROP COLUMN emissions_kg_co2e,
  DROP COLUMN factor_id, DROP COLUMN error, DROP COLUMN attempts,
  DROP COLUMN lease_token, DROP COLUMN processed_at;

CREATE VIEW batch_items AS
SELECT i.batch_id, i.activity_id,
       coalesce(r.status, 'pending') AS status,
       r.scope, r.emissions_kg_co2e, r.factor_id, r.error,
       (SELECT count(*)::integer FROM batch_results x
         WHERE x.batch_id = i.batch_id AND x.activity_id = i.activity_id)
         AS attempts,
       r.lease_token, r.processed_at
  FROM batch_item_ids i
  JOIN batch_jobs b ON b.id = i.batch_id
  LEFT JOIN LATERAL (
    SELECT x.status, x.scope, x.emissions_kg_co2e, x.factor_id, x.error,
           x.lease_token, x.processed_at
      FROM batch_results x
     WHERE x.batch_id = i.batch_id AND x.activity_id = i.activity_id
       AND (x.status = 'succeeded' OR x.attempt = b.retry_count)
     ORDER BY x.attempt DESC
     LIMIT 1) r ON true;
