-- 006: a per-tenant quota of unfinished batches (CONTRACT §4,
-- --max-pending-batches), checked in the transaction of the submit.
--
-- What counts: a tenant's unfinished batches - pending, queued or
-- processing - the admitted work it still waits for. (Counting 'pending'
-- alone would free quota at every claim and put the poller's claims on the
-- counter too; "unfinished" changes only at submit, finish, cancel, retry
-- and delete.)
--
-- Kept by statement-level AFTER triggers on batch_jobs with transition
-- tables: one pass per statement over the rows it changed, per tenant, so a
-- group submit or a bundle's finish_many costs one counter update per
-- tenant, and the statements that change no status (claims, records,
-- renewals) touch no counter row.
--
-- A tenant's count is the sum of its rows here:
--   slot 0       batches admitted (inserted, or retried back to pending).
--                Every submit updates this row, so concurrent submits of
--                one tenant wait for each other on its row lock (READ
--                COMMITTED, ON CONFLICT DO UPDATE acts on the newest
--                version) and each sees all admissions committed before
--                it: the check below cannot be overshot.
--   slots 1..64  batches that ended (finished, cancelled, deleted), as
--                negative numbers, the slot picked by the backend's pid, so
--                that workers ending batches of one tenant neither wait for
--                each other nor for its submits. A submit reads them
--                without waiting: an end not yet committed is not seen,
--                which can only make the count larger (a submit refused
--                that would just have fitted), never smaller.
-- Counter rows are locked in (org, workspace, slot) order within a
-- statement, and only by the last statement of each writing transaction,
-- after its batch rows: no deadlock between them.
CREATE TABLE tenant_open_batches (
  org_id       text NOT NULL,
  workspace_id text NOT NULL,
  slot         smallint NOT NULL,
  open_batches bigint NOT NULL,
  PRIMARY KEY (org_id, workspace_id, slot)
) WITH (fillfactor = 50); -- room for HOT updates: rewritten at every submit

-- The slot of this backend's ends of batches.
CREATE FUNCTION tenant_open_batches_release_slot() RETURNS smallint
LANGUAGE sql STABLE AS $$ SELECT (1 + pg_backend_pid() % 64)::smallint $$;

-- Adds the net change of each tenant's unfinished batches in a statement:
-- increases to slot 0, decreases to this backend's slot; tenants whose
-- count did not change are left alone. PL/pgSQL, not SQL: a SQL function
-- that cannot be inlined is planned at every call (~150 us per status
-- change measured, against ~40 us with the plan PL/pgSQL keeps).
CREATE FUNCTION tenant_open_batches_add(orgs text[], workspaces text[],
                                        deltas bigint[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO tenant_open_batches AS t (org_id, workspace_id, slot,
                                        open_batches)
  SELECT d.org, d.ws,
         CASE WHEN d.delta > 0 THEN 0
              ELSE tenant_open_batches_release_slot() END,
         d.delta
  FROM unnest(orgs, workspaces, deltas) AS d(org, ws, delta)
  WHERE d.delta <> 0
  ORDER BY 1, 2, 3
  ON CONFLICT (org_id, workspace_id, slot)
    DO UPDATE SET open_batches = t.open_batches + excluded.open_batches;
END
$$;

-- INSERT: counts the new batches and refuses the statement when a tenant
-- then has more unfinished batches than the session's limit
-- (ogf.max_pending_batches, set by the engine's API connections at
-- connect; unset: no check, as for the engine's other connections and for
-- tools). The refusal is SQLSTATE OGF01 with the refused tenants as JSON
-- after "ogf: quota exceeded ", each with its count before the statement,
-- so a group submit can keep the members that fit and send it again.
-- An insert that inserts nothing (an idempotent replay) changes nothing.
-- A group submit sets ogf.commit_before (epoch ms, transaction-local): its
-- deadline check ran before this trigger waited for the tenant's row, so
-- it is made again here, after the wait (see insert_batches).
CREATE FUNCTION tenant_open_batches_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  max_open bigint :=
    nullif(current_setting('ogf.max_pending_batches', true), '')::bigint;
  commit_before numeric :=
    nullif(current_setting('ogf.commit_before', true), '')::numeric;
  orgs text[];
  workspaces text[];
  admitted bigint[];
  added bigint[];
  refused jsonb;
BEGIN
  WITH a AS (
    SELECT org_id, workspace_id, count(*) AS n
    FROM new_batches
    WHERE status IN ('pending', 'queued', 'processing')
    GROUP BY org_id, workspace_id),
  counted AS (
    INSERT INTO tenant_open_batches AS t (org_id, workspace_id, slot,
                                          open_batches)
    SELECT org_id, workspace_id, 0, n FROM a ORDER BY org_id, workspace_id
    ON CONFLICT (org_id, workspace_id, slot)
      DO UPDATE SET open_batches = t.open_batches + excluded.open_batches
    RETURNING t.org_id, t.workspace_id, t.open_batches)
  SELECT array_agg(c.org_id), array_agg(c.workspace_id),
         array_agg(c.open_batches), array_agg(a.n)
  INTO orgs, workspaces, admitted, added
  FROM counted c JOIN a USING (org_id, workspace_id);

  IF commit_before IS NOT NULL
     AND extract(epoch FROM clock_timestamp()) * 1000 >= commit_before THEN
    RAISE EXCEPTION 'ogf: a caller gave up';
  END IF;
  IF max_open IS NULL OR orgs IS NULL THEN
    RETURN NULL;
  END IF;

  -- A new snapshot: the ends committed by now. Slot 0 as this statement
  -- left it; the ends are <= 0, so only a tenant over on slot 0 alone can
  -- be over at all.
  SELECT jsonb_agg(jsonb_build_object(
           'org_id', u.org, 'workspace_id', u.ws,
           'open', u.adm + e.ended - u.n, 'limit', max_open)
         ORDER BY u.org, u.ws)
  INTO refused
  FROM unnest(orgs, workspaces, admitted, added) AS u(org, ws, adm, n)
  CROSS JOIN LATERAL (
    SELECT coalesce(sum(o.open_batches), 0) AS ended
    FROM tenant_open_batches o
    WHERE o.org_id = u.org AND o.workspace_id = u.ws AND o.slot <> 0) e
  WHERE u.adm > max_open AND u.adm + e.ended > max_open;
  IF refused IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'OGF01',
      MESSAGE = 'ogf: quota exceeded ' || refused::text;
  END IF;
  RETURN NULL;
END
$$;

-- UPDATE: a status change into or out of the unfinished ones (finish,
-- cancel, retry, a claim failing an exhausted batch). Never refused: a
-- retry counts but may take a tenant over its limit.
CREATE FUNCTION tenant_open_batches_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tenant_open_batches_add(array_agg(org_id), array_agg(workspace_id),
                                  array_agg(delta))
  FROM (
    SELECT org_id, workspace_id, sum(d) AS delta
    FROM (
      SELECT org_id, workspace_id, 1 AS d FROM new_batches
      WHERE status IN ('pending', 'queued', 'processing')
      UNION ALL
      SELECT org_id, workspace_id, -1 FROM old_batches
      WHERE status IN ('pending', 'queued', 'processing')) c
    GROUP BY org_id, workspace_id
    HAVING sum(d) <> 0) x
  HAVING count(*) > 0;
  RETURN NULL;
END
$$;

-- DELETE: a deleted pending batch ends (deleted terminal ones did already).
CREATE FUNCTION tenant_open_batches_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tenant_open_batches_add(array_agg(org_id), array_agg(workspace_id),
                                  array_agg(-n))
  FROM (
    SELECT org_id, workspace_id, count(*) AS n FROM old_batches
    WHERE status IN ('pending', 'queued', 'processing')
    GROUP BY org_id, workspace_id) x
  HAVING count(*) > 0;
  RETURN NULL;
END
$$;

-- TRUNCATE (tests, operators): nothing is left to count.
CREATE FUNCTION tenant_open_batches_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM tenant_open_batches;
  RETURN NULL;
END
$$;

-- No batch may change while the triggers start and the existing batches
-- are counted (the triggers' own CREATE takes this lock too; taking it
-- first makes the order plain).
LOCK TABLE batch_jobs IN SHARE ROW EXCLUSIVE MODE;

CREATE TRIGGER tenant_open_batches_insert
  AFTER INSERT ON batch_jobs REFERENCING NEW TABLE AS new_batches
  FOR EACH STATEMENT EXECUTE FUNCTION tenant_open_batches_insert();
CREATE TRIGGER tenant_open_batches_update
  AFTER UPDATE ON batch_jobs
  REFERENCING OLD TABLE AS old_batches NEW TABLE AS new_batches
  FOR EACH STATEMENT EXECUTE FUNCTION tenant_open_batches_update();
CREATE TRIGGER tenant_open_batches_delete
  AFTER DELETE ON batch_jobs REFERENCING OLD TABLE AS old_batches
  FOR EACH STATEMENT EXECUTE FUNCTION tenant_open_batches_delete();
CREATE TRIGGER tenant_open_batches_truncate
  AFTER TRUNCATE ON batch_jobs
  FOR EACH STATEMENT EXECUTE FUNCTION tenant_open_batches_truncate();

-- The batches already there, in slot 0.
INSERT INTO tenant_open_batches (org_id, workspace_id, slot, open_batches)
SELECT org_id, workspace_id, 0, count(*)
FROM batch_jobs
WHERE status IN ('pending', 'queued', 'processing')
GROUP BY org_id, workspace_id;
