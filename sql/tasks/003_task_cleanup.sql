-- task.cleaned: 1 once a scheduler has run the type's cleanup hook (blobs a
-- task type keeps outside the results, e.g. a downloaded archive) for a
-- task that ended failed or cancelled. The index keeps the scheduler's scan
-- for such tasks to the few not yet cleaned.

ALTER TABLE task
  ADD COLUMN IF NOT EXISTS cleaned TINYINT NOT NULL DEFAULT 0,
  ADD KEY IF NOT EXISTS task_cleanup (cleaned, task_status);
