-- API keys (CONTRACT §4, migration 005): create, list, revoke, and the
-- lookup by key id that authenticates a request. Timestamps are read and
-- written as microseconds since the epoch (domain::timestamp_us).

-- fragment: api_key_columns
-- Columns of a key row, in the order read_api_key expects.
id, org_id, workspace_id, name, role, secret_hash,
(extract(epoch FROM created_at) * 1000000)::bigint,
(extract(epoch FROM expires_at) * 1000000)::bigint,
(extract(epoch FROM revoked_at) * 1000000)::bigint

-- name: insert_api_key
-- A new key; $7 is expires_at in microseconds, NULL for never. No row back
-- when the id is taken (the caller says so; 64 random bits make that a
-- near impossibility, but it must never overwrite a key).
INSERT INTO api_keys (id, org_id, workspace_id, name, role, secret_hash,
  expires_at)
VALUES ($1, $2, $3, $4, $5, $6,
  timestamptz 'epoch' + $7::bigint * interval '1 microsecond')
ON CONFLICT (id) DO NOTHING
RETURNING {{api_key_columns}};

-- name: find_api_key
SELECT {{api_key_columns}} FROM api_keys WHERE id = $1;

-- name: list_api_keys
SELECT {{api_key_columns}} FROM api_keys ORDER BY created_at, id;

-- name: list_api_keys_of_org
-- Served by api_keys_org_idx, in its order.
SELECT {{api_key_columns}} FROM api_keys WHERE org_id = $1
ORDER BY created_at, id;

-- name: revoke_api_key
-- The first revocation's time stays: revoking twice changes nothing.
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
WHERE id = $1
RETURNING id;
