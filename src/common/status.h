/* The statuses of tasks and subtasks (DESIGN §3): the values of the columns
 * task.task_status and subtask.subtask_status, shared by the API, the
 * scheduler and the task types. They are macros, not an enum, so that SQL
 * text can carry them: SQL_VAL(TASK_DONE) is the string literal "5", built
 * at compile time (the statement text stays constant, hence cached). */
#ifndef LUNA_STATUS_H
#define LUNA_STATUS_H

#define TASK_PENDING 0
#define TASK_RUNNING 1
#define TASK_CANCELLED 2
#define TASK_FAILED 3
#define TASK_COLLECTING 4
#define TASK_DONE 5

#define SUB_PENDING 0
#define SUB_RUNNING 1
#define SUB_CANCELLED 2
#define SUB_FAILED 3
#define SUB_DONE 4

/* schedule.status: a stopped schedule has no next run time. */
#define SCHEDULE_STOPPED 0
#define SCHEDULE_RUNNING 1

/* A status (or any integer macro) as an SQL literal. */
#define SQL_VAL(x) SQL_VAL_TEXT_(x)
#define SQL_VAL_TEXT_(x) #x

/* The sets the statements test, as SQL lists for IN. */
#define SQL_TASKS_UNFINISHED "(" SQL_VAL(TASK_PENDING) ", " SQL_VAL(TASK_RUNNING) ", " SQL_VAL(TASK_COLLECTING) ")"
/* a task a worker may hold a lease on: being planned or being collected */
#define SQL_TASKS_LEASED "(" SQL_VAL(TASK_PENDING) ", " SQL_VAL(TASK_COLLECTING) ")"
#define SQL_TASKS_ENDED_BADLY "(" SQL_VAL(TASK_CANCELLED) ", " SQL_VAL(TASK_FAILED) ")"
#define SQL_SUBTASKS_UNFINISHED "(" SQL_VAL(SUB_PENDING) ", " SQL_VAL(SUB_RUNNING) ")"
#define SQL_SUBTASKS_ENDED "(" SQL_VAL(SUB_FAILED) ", " SQL_VAL(SUB_DONE) ")"
#endif
