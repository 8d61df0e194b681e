-- The node itself: its heartbeat row, and what the health check reads
-- (a round trip, and the depth of the queue).

-- name: heartbeat
INSERT INTO scheduler_nodes (node_id, host, pid, version)
VALUES ($1, $2, $3, $4) ON CONFLICT (node_id) DO UPDATE SET
  host = excluded.host, pid = excluded.pid, version = excluded.version,
  heartbeat_at = now();

-- name: ping
SELECT 1;

-- name: queue_depth
SELECT count(*) FROM batch_jobs WHERE status = 'pending'
  AND run_after <= now();
