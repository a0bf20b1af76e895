-- metric_counter: what GET /metrics reports about the schedulers' work that
-- the rows of task and subtask do not keep: subtask run times (a histogram
-- by task type), expired subtask leases and retried subtasks. One row per
-- (metric, task type, label) whose value only grows; a scheduler adds to it
-- in the transaction that makes the event it counts, so the counts are exact
-- across any number of schedulers and outlive their restarts and the
-- deletion of tasks. The names are in src/common/task_metrics.h.

CREATE TABLE IF NOT EXISTS metric_counter (
  metric VARCHAR(32) NOT NULL,
  task_type TINYINT NOT NULL,
  label VARCHAR(32) NOT NULL,
  value DOUBLE NOT NULL DEFAULT 0,
  PRIMARY KEY (metric, task_type, label)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
