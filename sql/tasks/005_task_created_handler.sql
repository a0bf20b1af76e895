-- task.created_handler_id: the handler an estimator task's planning created
-- in the handlers service (the task gave policies, not a handler id). It is
-- recorded as soon as the handler exists, so a planning attempt retried after
-- a crash, a lost lease or a transient failure uses that handler instead of
-- creating another one.

ALTER TABLE task
  ADD COLUMN IF NOT EXISTS created_handler_id CHAR(36) NULL;
