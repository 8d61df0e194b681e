-- 006 down: the schema of 005; the counts go with their table.
DROP TRIGGER tenant_open_batches_truncate ON batch_jobs;
DROP TRIGGER tenant_open_batches_delete ON batch_jobs;
DROP TRIGGER tenant_open_batches_update ON batch_jobs;
DROP TRIGGER tenant_open_batches_insert ON batch_jobs;
DROP FUNCTION tenant_open_batches_truncate();
DROP FUNCTION tenant_open_batches_delete();
DROP FUNCTION tenant_open_batches_update();
DROP FUNCTION tenant_open_batches_insert();
DROP FUNCTION tenant_open_batches_add(text[], text[], bigint[]);
DROP FUNCTION tenant_open_batches_release_slot();
DROP TABLE tenant_open_batches;
