-- metric_counter in shards: a scheduler adds to the row of its DB
-- connection's shard (CONNECTION_ID() MOD 32, see sched_count), so
-- subtasks finishing at once on many schedulers (and on the workers of one,
-- each with its own connection) no longer queue on one row lock until each
-- other's commit. GET /metrics sums the shards of a (metric, task type,
-- label). A counter keeps at most 32 rows; the rows of before keep shard 0.
-- Running it again changes nothing.

ALTER TABLE metric_counter
  ADD COLUMN IF NOT EXISTS shard TINYINT UNSIGNED NOT NULL DEFAULT 0 AFTER label,
  DROP PRIMARY KEY,
  ADD PRIMARY KEY (metric, task_type, label, shard);
