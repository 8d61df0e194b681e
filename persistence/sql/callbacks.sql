-- Completion callbacks (migration 009): the outbox that the trigger on
-- batch_jobs fills when a batch with a callback_url ends, claimed and
-- recorded by the callback deliverers of every node.

-- name: claim_callback
-- One due delivery for this node ($1) with a lease of $2 ms: the row's
-- next_attempt_at moves to the lease's expiry, so nobody else finds it due
-- until then (a node that dies mid-delivery leaves it to the next claimer
-- after that), and lease_token + 1 fences the record of this attempt.
-- Returns the delivery and, for the body, the batch as it was at the end
-- this delivery reports (the snapshot the trigger took, migration 009), not
-- as it is now: every attempt sends the same bytes, and a retry of the
-- batch cannot make the body contradict the event.
WITH due AS MATERIALIZED (
  SELECT id FROM batch_callbacks
  WHERE status = 'pending' AND next_attempt_at <= now()
  ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED),
claimed AS (
  UPDATE batch_callbacks c SET
    lease_owner = $1, lease_token = c.lease_token + 1,
    next_attempt_at = now() + $2::bigint * interval '1 millisecond'
  FROM due WHERE c.id = due.id
  RETURNING c.id, c.event, c.url, c.attempts, c.lease_token, c.snapshot)
SELECT {{batch_columns}}, claimed.id::text AS delivery_id,
  claimed.event AS event, claimed.url AS url,
  claimed.attempts AS delivery_attempts, claimed.lease_token AS delivery_token
FROM claimed,
  LATERAL jsonb_populate_record(NULL::batch_jobs, claimed.snapshot) b;

-- name: record_callback_attempt
-- The outcome of one attempt, under the claim's token ($2): a stale
-- deliverer (its lease taken over) writes nothing. $3: 'delivered', or
-- 'retry' with the next attempt $5 ms from now - unless that is past the
-- end + $6 ms (24 h), then 'failed' for good. $4: the attempt's error (a
-- delivered attempt keeps the last one). The batch row mirrors the state
-- while this is still the delivery of its latest end.
WITH d AS (
  UPDATE batch_callbacks c SET
    attempts = c.attempts + 1,
    status = CASE
      WHEN $3 = 'delivered' THEN 'delivered'
      WHEN now() + $5::bigint * interval '1 millisecond'
           > c.ended_at + $6::bigint * interval '1 millisecond' THEN 'failed'
      ELSE 'pending' END,
    last_error = coalesce($4, c.last_error),
    next_attempt_at = now() + $5::bigint * interval '1 millisecond',
    delivered_at = CASE WHEN $3 = 'delivered' THEN now() END,
    lease_owner = NULL
  WHERE c.id = $1::uuid AND c.lease_token = $2 AND c.status = 'pending'
  RETURNING c.batch_id, c.end_seq, c.status, c.attempts, c.last_error),
mirrored AS (
  UPDATE batch_jobs b SET callback_status = d.status,
    callback_attempts = d.attempts, callback_last_error = d.last_error
  FROM d WHERE b.id = d.batch_id AND b.retry_count = d.end_seq)
SELECT d.status FROM d;

-- name: callback_outbox_stats
-- Undelivered deliveries (pending, whether due or not) and the age in
-- seconds of the oldest one's end, for metrics; through the partial index.
SELECT count(*),
  coalesce(extract(epoch FROM now() - min(ended_at)), 0)::float8,
  (extract(epoch FROM min(next_attempt_at) - now()) * 1000)::bigint
FROM batch_callbacks WHERE status = 'pending';
