-- Schedules: a task body of any type, a 5-field cron expression and an IANA
-- time zone; the schedulers create the body's task at every due time.
-- schedule.next_run_time: the next due time (UTC), NULL while stopped. A
-- scheduler creates the task, moves next_run_time on and counts the run in
-- one transaction that holds the schedule row (SELECT ... FOR UPDATE SKIP
-- LOCKED), so a due time gives one task whatever the number of schedulers.
-- schedule.missed_runs: due times that passed while no scheduler ran and
-- were not run (after an outage a schedule runs once, not once per due time).
-- task.schedule_id, schedule_time: the schedule and due time a task was
-- created for; the unique key refuses a second task for the same due time.

CREATE TABLE IF NOT EXISTS schedule (
  schedule_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  account_id CHAR(36) NULL,
  task_type TINYINT NOT NULL,
  task LONGTEXT NOT NULL,
  cron VARCHAR(256) NOT NULL,
  timezone VARCHAR(64) NOT NULL DEFAULT 'UTC',
  status TINYINT NOT NULL DEFAULT 0,
  create_time DATETIME(6) NOT NULL,
  last_update_time DATETIME(6) NOT NULL,
  next_run_time DATETIME(6) NULL,
  last_run_time DATETIME(6) NULL,
  last_task_id BIGINT NULL,
  runs BIGINT NOT NULL DEFAULT 0,
  missed_runs BIGINT NOT NULL DEFAULT 0,
  last_error_code INT NULL,
  last_error_detail TEXT NULL,
  KEY schedule_due (status, next_run_time),
  KEY schedule_account (account_id, schedule_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

ALTER TABLE task
  ADD COLUMN IF NOT EXISTS schedule_id BIGINT NULL,
  ADD COLUMN IF NOT EXISTS schedule_time DATETIME(6) NULL,
  ADD UNIQUE KEY IF NOT EXISTS task_schedule_run (schedule_id, schedule_time);
