-- Scheduler bookkeeping.
-- task.worker_id / lease_until / attempts: the lease a scheduler holds while it
-- plans (status 0) or collects (status 4) a task, renewed while it works; an
-- expired lease lets another scheduler take over, at most [SCHEDULER]
-- MAX_ATTEMPTS times.
-- orphan_blob: result-store blobs whose task row was deleted; the trigger
-- fills it in the deleting transaction, the scheduler deletes the blobs and
-- the rows. It closes the window in which a subtask stores its partial result
-- while the API deletes the task.

ALTER TABLE task
  ADD COLUMN IF NOT EXISTS worker_id VARCHAR(128) NULL,
  ADD COLUMN IF NOT EXISTS lease_until DATETIME(6) NULL,
  ADD COLUMN IF NOT EXISTS attempts INT NOT NULL DEFAULT 0,
  ADD KEY IF NOT EXISTS task_sched (task_status, planned, task_id);

ALTER TABLE subtask
  ADD KEY IF NOT EXISTS subtask_result (result_id),
  ADD KEY IF NOT EXISTS subtask_worker (worker_id);

CREATE TABLE IF NOT EXISTS orphan_blob (
  blob_id CHAR(36) NOT NULL PRIMARY KEY,
  orphaned DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TRIGGER IF NOT EXISTS task_blobs_orphaned BEFORE DELETE ON task FOR EACH ROW
  INSERT IGNORE INTO orphan_blob (blob_id, orphaned)
    SELECT result_id, UTC_TIMESTAMP(6) FROM subtask WHERE task_id = OLD.task_id AND result_id IS NOT NULL
    UNION ALL SELECT OLD.result_id, UTC_TIMESTAMP(6) FROM DUAL WHERE OLD.result_id IS NOT NULL;
