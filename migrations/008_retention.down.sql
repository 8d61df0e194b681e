-- 008 down: the schema of the migration before it.
DROP INDEX batch_jobs_ended_idx;
