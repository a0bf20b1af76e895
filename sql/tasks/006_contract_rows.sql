-- Rows every answer can render as the contract says.
-- task.description: a string ("" when the client gave none), never NULL.
-- task_error.subtask_id: a required subtask id. Errors of the planning and
-- collecting steps name a failed subtask row made for the step, with the
-- content {"stage": "planning"} or {"stage": "collecting"}; errors written
-- before this migration get one here (planning when the task has no other
-- subtask, collecting otherwise), and the task's part counters count it.

UPDATE task SET description = '' WHERE description IS NULL;
ALTER TABLE task MODIFY description VARCHAR(128) NOT NULL DEFAULT '';

INSERT INTO subtask (task_id, subtask_status, content, create_time, end_time)
  SELECT e.task_id, 3,
         IF(EXISTS (SELECT 1 FROM subtask s WHERE s.task_id = e.task_id),
            '{"stage":"collecting"}', '{"stage":"planning"}'),
         MIN(e.error_time), MIN(e.error_time)
    FROM task_error e WHERE e.subtask_id IS NULL GROUP BY e.task_id;

UPDATE task_error e
   SET e.subtask_id = (SELECT MAX(s.subtask_id) FROM subtask s WHERE s.task_id = e.task_id
                          AND s.content IN ('{"stage":"planning"}', '{"stage":"collecting"}'))
 WHERE e.subtask_id IS NULL;

UPDATE task t
   SET t.count_task_parts_all = (SELECT COUNT(*) FROM subtask s WHERE s.task_id = t.task_id),
       t.count_task_parts_done = (SELECT COUNT(*) FROM subtask s WHERE s.task_id = t.task_id
                                     AND s.subtask_status IN (3, 4))
 WHERE t.task_id IN (SELECT s.task_id FROM subtask s
                      WHERE s.content IN ('{"stage":"planning"}', '{"stage":"collecting"}'));

ALTER TABLE task_error MODIFY subtask_id BIGINT NOT NULL;
