-- 005: API keys (CONTRACT §4). A key belongs to one tenant and has a role;
-- its token is `ogf_<id>_<secret>`, and only the hex SHA-256 of the secret
-- is stored (common/api_token.hpp), so the table holds nothing a client
-- could authenticate with.
--
-- Hot paths and what serves them:
--   authenticate  the primary key: one lookup by the token's key id, on
--                 every request in keys mode (revoked and expired keys are
--                 read too, so the answer is the same 401 for all of them).
--   list          api_keys_org_idx: the keys of one org, oldest first
--                 (created_at, id), as `keys list --org` shows them.
-- Revoking sets revoked_at and keeps the row: an audit trail of who had
-- access when, and a revoked id can never be reused.
CREATE TABLE api_keys (
  id           text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{16}$'),
  -- the tenant header rule (domain/validation.hpp validate_tenant_header)
  org_id       text NOT NULL CHECK (org_id ~ '^[A-Za-z0-9_-]{1,64}$'),
  workspace_id text NOT NULL CHECK (workspace_id ~ '^[A-Za-z0-9_-]{1,64}$'),
  name         text NOT NULL DEFAULT '' CHECK (char_length(name) <= 200),
  role         text NOT NULL CHECK (role IN ('read', 'write')),
  secret_hash  text NOT NULL CHECK (secret_hash ~ '^[0-9a-f]{64}$'),
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NULL,
  revoked_at   timestamptz NULL
);

CREATE INDEX api_keys_org_idx ON api_keys (org_id, created_at, id);
