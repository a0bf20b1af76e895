-- Notification policies of tasks and the queue of their notifications.
-- task_callback: one row per callback of a task's notification_policy
-- (events 1: task status changes, 2: subtask status changes; position: its
-- index in task_callbacks or subtask_callbacks; callback: the JSON as the
-- client gave it, secrets included, never answered unmasked). A PUT of the
-- policy marks the rows it replaces (replaced = 1): what was queued for them
-- is still delivered, nothing new is.
-- notification: one row per status change and callback, written by the
-- triggers below in the transaction that changes the status, whoever
-- changes it (API, any scheduler, a migration), so no status change is
-- missed and none is announced that was rolled back. The scheduler's
-- delivery threads send them in notification_id order per callback
-- (state 0 queued, 1 delivered, 2 failed: MAX_ATTEMPTS used up); the row
-- stays as the delivery log of the task until the task is deleted.

CREATE TABLE IF NOT EXISTS task_callback (
  callback_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  task_id BIGINT NOT NULL,
  events TINYINT NOT NULL,
  position INT NOT NULL,
  callback TEXT NOT NULL,
  enabled TINYINT NOT NULL DEFAULT 1,
  replaced TINYINT NOT NULL DEFAULT 0,
  KEY task_callback_events (task_id, events, replaced, enabled),
  CONSTRAINT task_callback_task_fk FOREIGN KEY (task_id) REFERENCES task (task_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS notification (
  notification_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  callback_id BIGINT NOT NULL,
  task_id BIGINT NOT NULL,
  subtask_id BIGINT NULL,
  status TINYINT NOT NULL,
  event_time DATETIME(6) NOT NULL,
  end_time DATETIME(6) NULL,
  parts_done INT NULL,
  parts_all INT NULL,
  result_id CHAR(36) NULL,
  state TINYINT NOT NULL DEFAULT 0,
  attempts INT NOT NULL DEFAULT 0,
  next_attempt DATETIME(6) NOT NULL,
  worker_id VARCHAR(128) NULL,
  lease_until DATETIME(6) NULL,
  http_status INT NULL,
  last_error VARCHAR(512) NULL,
  done_time DATETIME(6) NULL,
  KEY notification_due (state, next_attempt),
  KEY notification_order (callback_id, state, notification_id),
  KEY notification_task (task_id, notification_id),
  CONSTRAINT notification_callback_fk FOREIGN KEY (callback_id) REFERENCES task_callback (callback_id)
    ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TRIGGER IF NOT EXISTS task_status_notified AFTER UPDATE ON task FOR EACH ROW
  INSERT INTO notification (callback_id, task_id, status, event_time, end_time, parts_done, parts_all, result_id,
                            next_attempt)
    SELECT c.callback_id, NEW.task_id, NEW.task_status, UTC_TIMESTAMP(6), NEW.end_time, NEW.count_task_parts_done,
           NEW.count_task_parts_all, NEW.result_id, UTC_TIMESTAMP(6)
      FROM task_callback c
     WHERE NEW.task_status <> OLD.task_status AND c.task_id = NEW.task_id AND c.events = 1 AND c.replaced = 0
       AND c.enabled = 1
     ORDER BY c.position;

CREATE TRIGGER IF NOT EXISTS subtask_status_notified AFTER UPDATE ON subtask FOR EACH ROW
  INSERT INTO notification (callback_id, task_id, subtask_id, status, event_time, end_time, next_attempt)
    SELECT c.callback_id, NEW.task_id, NEW.subtask_id, NEW.subtask_status, UTC_TIMESTAMP(6), NEW.end_time,
           UTC_TIMESTAMP(6)
      FROM task_callback c
     WHERE NEW.subtask_status <> OLD.subtask_status AND c.task_id = NEW.task_id AND c.events = 2
       AND c.replaced = 0 AND c.enabled = 1
     ORDER BY c.position;
