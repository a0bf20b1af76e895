-- subtask.result_document: 1 when the blob under the subtask's result_id is
-- the task's whole result document rather than a partial result (a cross
-- match planned as one subtask writes it straight into the store; a
-- result_from_subtask type's worker stores it). The worker sets it in the
-- statement that records the subtask's outcome, and collecting makes such a
-- blob of a task's only subtask the task result as it is, without reading
-- it (before, collect looked at the blob's first byte, which on S3 meant
-- downloading the whole blob). Added last, so that the column is instant
-- (no table copy).
--
-- A finished subtask of a cross match planned as one subtask ("alone" in its
-- content) was run by the release before this one, which wrote the result
-- document there too but had no column to say so: it is marked here, so
-- that a task stopped between that subtask and its collect still gets its
-- result as written. Other finished subtasks keep 0: their blobs are partial
-- results. Running it again changes nothing (a worker of this release marks
-- every such subtask itself).

ALTER TABLE subtask
  ADD COLUMN IF NOT EXISTS result_document TINYINT NOT NULL DEFAULT 0;

-- (JSON_VALUE gives a boolean as 1 or as true, depending on the version.)
UPDATE subtask s JOIN task t ON t.task_id = s.task_id
  SET s.result_document = 1
  WHERE t.task_type = 6 AND s.subtask_status = 4 AND s.result_document = 0
    AND JSON_VALUE(s.content, '$.alone') IN ('1', 'true');
