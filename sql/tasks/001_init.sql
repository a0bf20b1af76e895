-- Tasks database: tasks, their subtasks and errors, scheduler heartbeats.
-- Times are UTC DATETIME(6).

CREATE TABLE IF NOT EXISTS task (
  task_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  task_type TINYINT NOT NULL,
  task_status TINYINT NOT NULL DEFAULT 0,
  account_id CHAR(36) NULL,
  description VARCHAR(128) NULL,
  content LONGTEXT NOT NULL,
  create_time DATETIME(6) NOT NULL,
  last_update_time DATETIME(6) NOT NULL,
  end_time DATETIME(6) NULL,
  result_id CHAR(36) NULL,
  count_task_parts_done INT NOT NULL DEFAULT 0,
  count_task_parts_all INT NOT NULL DEFAULT 1,
  planned TINYINT NOT NULL DEFAULT 0,
  request_id VARCHAR(64) NULL,
  KEY task_account_create (account_id, create_time),
  KEY task_create (create_time),
  KEY task_end (end_time),
  KEY task_status_type (task_status, task_type),
  KEY task_type_idx (task_type),
  KEY task_result (result_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS subtask (
  subtask_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  task_id BIGINT NOT NULL,
  subtask_status TINYINT NOT NULL DEFAULT 0,
  content LONGTEXT NOT NULL,
  result_id CHAR(36) NULL,
  create_time DATETIME(6) NOT NULL,
  end_time DATETIME(6) NULL,
  worker_id VARCHAR(128) NULL,
  lease_until DATETIME(6) NULL,
  attempts INT NOT NULL DEFAULT 0,
  KEY subtask_task (task_id, subtask_id),
  KEY subtask_claim (subtask_status, lease_until),
  CONSTRAINT subtask_task_fk FOREIGN KEY (task_id) REFERENCES task (task_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS task_error (
  error_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  task_id BIGINT NOT NULL,
  subtask_id BIGINT NULL,
  error_code INT NOT NULL,
  description VARCHAR(256) NOT NULL,
  detail TEXT NOT NULL,
  additional_info TEXT NULL,
  error_time DATETIME(6) NOT NULL,
  KEY task_error_task (task_id, error_id),
  KEY task_error_time (error_time),
  KEY task_error_code (error_code),
  CONSTRAINT task_error_task_fk FOREIGN KEY (task_id) REFERENCES task (task_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS scheduler_heartbeat (
  worker_id VARCHAR(128) NOT NULL PRIMARY KEY,
  host VARCHAR(255) NOT NULL,
  pid INT NOT NULL,
  started DATETIME(6) NOT NULL,
  last_seen DATETIME(6) NOT NULL,
  KEY heartbeat_seen (last_seen)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
