-- task.error_count: how many task_error rows the task has. The scheduler
-- adds 1 in the transaction that inserts a row, after locking the task row,
-- so [TASKS] MAX_ERRORS is enforced with one primary-key update per error
-- (exactly, across any number of schedulers) instead of counting the task's
-- rows for every insert. Existing tasks get their current count.

ALTER TABLE task
  ADD COLUMN IF NOT EXISTS error_count INT NOT NULL DEFAULT 0;

UPDATE task t SET error_count = (SELECT COUNT(*) FROM task_error e WHERE e.task_id = t.task_id);
