-- subtask.result_document: 1 when the blob under the subtask's result_id is
-- the task's whole result document rather than a partial result (a cross
-- match planned as one subtask writes it straight into the store; a
-- result_from_subtask type's worker stores it). The worker sets it in the
-- statement that records the subtask's outcome, and collecting makes such a
-- blob of a task's only subtask the task result as it is, without reading
-- it (before, collect looked at the blob's first byte, which on S3 meant
-- downloading the whole blob). Subtasks finished before this migration keep
-- 0: their blobs are collected as partial results, as their release wrote
-- them. Added last, so that the column is instant (no table copy). Running
-- it again changes nothing.

ALTER TABLE subtask
  ADD COLUMN IF NOT EXISTS result_document TINYINT NOT NULL DEFAULT 0;
