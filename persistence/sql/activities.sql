-- Activities and emission factors of a tenant: bulk upserts (arrays in,
-- one statement) and reads. Changing an activity clears its result and
-- bumps its version, which record_chunk (engine.sql) checks.

-- name: upsert_activities
INSERT INTO activities AS a (org_id, workspace_id, id, activity_type,
  quantity, unit, region, period_start, period_end, metadata)
SELECT $1, $2, u.* FROM unnest($3::text[], $4::text[], $5::numeric[],
  $6::text[], $7::text[], $8::date[], $9::date[], $10::jsonb[]) AS u
ON CONFLICT (org_id, workspace_id, id) DO UPDATE SET
  activity_type = excluded.activity_type, quantity = excluded.quantity,
  unit = excluded.unit, region = excluded.region,
  period_start = excluded.period_start, period_end = excluded.period_end,
  metadata = excluded.metadata, emissions_kg_co2e = NULL, scope = NULL,
  factor_id = NULL, calculated_at = NULL, version = a.version + 1,
  updated_at = now();

-- name: get_activity
SELECT id, activity_type, quantity::text, unit, region,
  period_start::text, period_end::text, metadata::text,
  emissions_kg_co2e::text, scope, factor_id,
  (extract(epoch FROM calculated_at) * 1000000)::bigint
FROM activities WHERE org_id = $1 AND workspace_id = $2 AND id = $3;

-- name: list_factors
SELECT id, activity_type, scope, region, unit, kg_co2e_per_unit::text,
  valid_from::text, source, org_id IS NULL
FROM emission_factors
WHERE (org_id IS NULL OR (org_id = $1 AND workspace_id = $2))
  AND ($3::text IS NULL OR activity_type = $3)
ORDER BY activity_type, org_id NULLS FIRST, id COLLATE "C";

-- name: upsert_factors
INSERT INTO emission_factors AS f (org_id, workspace_id, id,
  activity_type, scope, region, unit, kg_co2e_per_unit, valid_from,
  source)
SELECT $1, $2, u.* FROM unnest($3::text[], $4::text[], $5::smallint[],
  $6::text[], $7::text[], $8::numeric[], $9::date[], $10::text[]) AS u
ON CONFLICT ON CONSTRAINT emission_factors_tenant_id_key DO UPDATE SET
  activity_type = excluded.activity_type, scope = excluded.scope,
  region = excluded.region, unit = excluded.unit,
  kg_co2e_per_unit = excluded.kg_co2e_per_unit,
  valid_from = excluded.valid_from, source = excluded.source,
  updated_at = now();
