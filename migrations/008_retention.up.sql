-- 008: retention (serve --retention): the pruner's path to the batches that
-- ended longer ago than the window.
--
--   prune  batch_jobs_ended_idx: partial index on the ended batches only, by
--          completed_at, so that "the oldest ended batches before the
--          cutoff, LIMIT n" reads n index entries from its oldest end and
--          stops - never a scan of batch_jobs, however large - and an
--          empty round (nothing old enough) is one index probe. Unfinished
--          batches are not in it, so claims, records and renewals, which
--          change only unfinished rows' indexed columns, never maintain it;
--          a batch enters it once, when it ends.
CREATE INDEX batch_jobs_ended_idx
  ON batch_jobs (completed_at)
  WHERE status IN ('completed', 'failed', 'cancelled');
