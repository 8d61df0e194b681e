-- 004 down: the schema of 003, results folded back into batch_items rows
-- (the item's current result, as batch_items showed it).
DROP VIEW batch_items;
ALTER TABLE batch_item_ids
  ADD COLUMN status text NOT NULL DEFAULT 'pending'
    CONSTRAINT batch_items_status_check
    CHECK (status IN ('pending', 'succeeded', 'failed')),
  ADD COLUMN scope smallint,
  ADD COLUMN emissions_kg_co2e numeric,
  ADD COLUMN factor_id text,
  ADD COLUMN error text,
  ADD COLUMN attempts integer NOT NULL DEFAULT 0,
  ADD COLUMN lease_token bigint,
  ADD COLUMN processed_at timestamptz;
UPDATE batch_item_ids i SET
  status = r.status, scope = r.scope, emissions_kg_co2e = r.emissions_kg_co2e,
  factor_id = r.factor_id, error = r.error, lease_token = r.lease_token,
  processed_at = r.processed_at
  FROM batch_jobs b, batch_results r
 WHERE b.id = i.batch_id AND r.batch_id = i.batch_id
   AND r.activity_id = i.activity_id
   AND (r.status = 'succeeded' OR r.attempt = b.retry_count)
   AND NOT EXISTS (SELECT 1 FROM batch_results y
                    WHERE y.batch_id = r.batch_id
                      AND y.activity_id = r.activity_id
                      AND y.attempt > r.attempt
                      AND (y.status = 'succeeded' OR y.attempt = b.retry_count));
UPDATE batch_item_ids i SET attempts = c.n
  FROM (SELECT batch_id, activity_id, count(*)::integer AS n
          FROM batch_results GROUP BY batch_id, activity_id) c
 WHERE c.batch_id = i.batch_id AND c.activity_id = i.activity_id;
DROP TABLE batch_results;
DELETE FROM batch_item_ids i
 WHERE NOT EXISTS (SELECT 1 FROM batch_jobs b WHERE b.id = i.batch_id);
ALTER TABLE batch_item_ids ADD CONSTRAINT batch_items_batch_id_fkey
  FOREIGN KEY (batch_id) REFERENCES batch_jobs (id) ON DELETE CASCADE;
ALTER TABLE batch_item_ids RENAME CONSTRAINT batch_item_ids_pkey
  TO batch_items_pkey;
ALTER TABLE batch_item_ids RENAME TO batch_items;
