-- 001: the whole schema of CONTRACT §2/§3, designed around the hot paths.
--
-- Hot paths and what serves them:
--   claim     batch_jobs_claimable_idx: partial index on exactly the rows a
--             claim may take (status = 'pending'), in claim order (priority
--             desc, created_at, id), so "FOR UPDATE SKIP LOCKED LIMIT n"
--             reads the first n index entries even with a deep backlog.
--   reclaim   batch_jobs_lease_expiry_idx: partial index on leased rows by
--             lease expiry, so finding expired leases never scans the table.
--   listing   batch_jobs_tenant_created_idx: (org, workspace, created_at desc,
--             id desc) = the list order and the keyset-pagination key.
--   chunks    batch_items primary key (batch_id, activity_id): workers walk a
--             batch's pending items in activity_id order by keyset.
--   resolve   emission_factors_lookup_idx: (activity_type, region) narrows the
--             candidate factors of an activity to a handful of rows.
-- Money-like quantities (quantity, factors, emissions) are numeric: exact
-- decimal arithmetic, so a batch total always equals the sum of its items.

-- Units and their dimension. to_base converts a quantity to the dimension's
-- base unit (energy: J, volume: L, mass: kg, distance: km, passenger
-- distance: pkm, money: USD, stays: night). Every constant is an exact
-- decimal (1 MMBtu = 293.07107 kWh = 1 055 055 852 J). domain/units.cpp holds
-- the same table; a test checks they agree.
CREATE TABLE units (
  unit       text PRIMARY KEY,
  dimension  text NOT NULL,
  to_base    numeric NOT NULL CHECK (to_base > 0)
);
INSERT INTO units (unit, dimension, to_base) VALUES
  ('kWh',   'energy', 3600000),
  ('MWh',   'energy', 3600000000),
  ('GJ',    'energy', 1000000000),
  ('MJ',    'energy', 1000000),
  ('therm', 'energy', 105505585.2),
  ('MMBtu', 'energy', 1055055852),
  ('L',     'volume', 1),
  ('m3',    'volume', 1000),
  ('gal',   'volume', 3.785411784),
  ('scf',   'volume', 28.3168466),
  ('kg',    'mass', 1),
  ('t',     'mass', 1000),
  ('lb',    'mass', 0.45359237),
  ('km',    'distance', 1),
  ('mi',    'distance', 1.609344),
  ('pkm',   'passenger_distance', 1),
  ('pmi',   'passenger_distance', 1.609344),
  ('USD',   'money', 1),
  ('night', 'stay', 1);

-- A tenant's activities. Tenant-scoped primary key: two tenants may use the
-- same activity id. The latest calculated result lives on the row so that
-- GET /activities/{id} is one index lookup.
CREATE TABLE activities (
  org_id            text NOT NULL,
  workspace_id      text NOT NULL,
  id                text NOT NULL,
  activity_type     text NOT NULL,
  quantity          numeric NOT NULL CHECK (quantity >= 0),
  unit              text NOT NULL REFERENCES units (unit),
  region            text NOT NULL DEFAULT 'GLOBAL',
  period_start      date NOT NULL,
  period_end        date NOT NULL CHECK (period_end >= period_start),
  metadata          jsonb NOT NULL DEFAULT '{}'::jsonb,
  emissions_kg_co2e numeric,
  scope             smallint,
  factor_id         text,
  calculated_at     timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, workspace_id, id)
);

-- Emission factors: built-in rows have NULL org_id/workspace_id; a tenant's
-- own rows carry the tenant. A tenant's id may equal a built-in id, hence
-- uniqueness over (tenant, id) with NULLS NOT DISTINCT (PostgreSQL 15).
CREATE TABLE emission_factors (
  org_id           text,
  workspace_id     text,
  id               text NOT NULL,
  activity_type    text NOT NULL,
  scope            smallint NOT NULL CHECK (scope BETWEEN 1 AND 3),
  region           text NOT NULL DEFAULT 'GLOBAL',
  unit             text NOT NULL REFERENCES units (unit),
  kg_co2e_per_unit numeric NOT NULL CHECK (kg_co2e_per_unit >= 0),
  valid_from       date NOT NULL,
  source           text NOT NULL DEFAULT '',
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CHECK ((org_id IS NULL) = (workspace_id IS NULL)),
  CONSTRAINT emission_factors_tenant_id_key
    UNIQUE NULLS NOT DISTINCT (org_id, workspace_id, id)
);
CREATE INDEX emission_factors_lookup_idx
  ON emission_factors (activity_type, region);

CREATE TABLE batch_jobs (
  id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id                  text NOT NULL,
  workspace_id            text NOT NULL,
  status                  text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'queued', 'processing', 'completed',
                      'failed', 'cancelled')),
  priority                smallint NOT NULL DEFAULT 5 CHECK (priority BETWEEN 1 AND 10),
  max_retries             smallint NOT NULL DEFAULT 3 CHECK (max_retries BETWEEN 0 AND 10),
  retry_count             integer NOT NULL DEFAULT 0,
  total_activities        integer NOT NULL CHECK (total_activities >= 0),
  processed_activities    integer NOT NULL DEFAULT 0,
  succeeded_activities    integer NOT NULL DEFAULT 0,
  failed_activities       integer NOT NULL DEFAULT 0,
  total_emissions_kg_co2e numeric NOT NULL DEFAULT 0,
  metadata                jsonb NOT NULL DEFAULT '{}'::jsonb,
  idempotency_key         text,
  request_hash            text,
  cancel_requested        boolean NOT NULL DEFAULT false,
  error                   text,
  -- earliest time a pending batch may be claimed (retry backoff)
  run_after               timestamptz NOT NULL DEFAULT now(),
  -- lease: which node holds the batch, until when, under which fencing token.
  -- lease_token only ever grows; every write of a worker is conditional on it.
  lease_owner             text,
  lease_expires_at        timestamptz,
  lease_token             bigint NOT NULL DEFAULT 0,
  -- attempts lost: lease expiries (node died or froze) and deferrals after
  -- transient failures; over max_retries the batch fails
  lease_expiries          integer NOT NULL DEFAULT 0,
  created_at              timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at              timestamptz NOT NULL DEFAULT clock_timestamp(),
  started_at              timestamptz,
  completed_at            timestamptz,
  CHECK (processed_activities = succeeded_activities + failed_activities),
  CHECK (processed_activities <= total_activities)
);
CREATE UNIQUE INDEX batch_jobs_idempotency_idx
  ON batch_jobs (org_id, workspace_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX batch_jobs_claimable_idx
  ON batch_jobs (priority DESC, created_at, id)
  WHERE status = 'pending';
CREATE INDEX batch_jobs_lease_expiry_idx
  ON batch_jobs (lease_expires_at)
  WHERE status IN ('queued', 'processing');
CREATE INDEX batch_jobs_tenant_created_idx
  ON batch_jobs (org_id, workspace_id, created_at DESC, id DESC);

CREATE TABLE batch_items (
  batch_id          uuid NOT NULL REFERENCES batch_jobs (id) ON DELETE CASCADE,
  activity_id       text NOT NULL,
  status            text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'succeeded', 'failed')),
  scope             smallint,
  emissions_kg_co2e numeric,
  factor_id         text,
  error             text,
  attempts          integer NOT NULL DEFAULT 0,
  -- fencing token under which the result was written (audit)
  lease_token       bigint,
  processed_at      timestamptz,
  PRIMARY KEY (batch_id, activity_id)
);

-- Audit trail: one row per recorded chunk, so tests (and operators) can prove
-- that no batch was written by two nodes under the same attempt.
CREATE TABLE batch_chunk_log (
  batch_id     uuid NOT NULL REFERENCES batch_jobs (id) ON DELETE CASCADE,
  lease_token  bigint NOT NULL,
  node_id      text NOT NULL,
  items        integer NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX batch_chunk_log_batch_idx ON batch_chunk_log (batch_id, recorded_at);

-- Nodes of the scheduler, for health and diagnostics.
CREATE TABLE scheduler_nodes (
  node_id      text PRIMARY KEY,
  host         text NOT NULL,
  pid          integer NOT NULL,
  version      text NOT NULL,
  started_at   timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);

CREATE VIEW batch_progress AS
SELECT id AS batch_id, org_id, workspace_id, status,
       total_activities AS total,
       processed_activities AS processed,
       succeeded_activities AS succeeded,
       failed_activities AS failed,
       total_activities - processed_activities AS remaining,
       CASE WHEN total_activities = 0 THEN 100
            ELSE round(100.0 * processed_activities / total_activities, 2) END AS percent,
       total_emissions_kg_co2e AS emissions_kg_co2e,
       started_at, updated_at
  FROM batch_jobs;

CREATE VIEW tenant_status_counts AS
SELECT org_id, workspace_id, status, count(*) AS batches
  FROM batch_jobs
 GROUP BY org_id, workspace_id, status;
