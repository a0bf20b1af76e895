/* Creating a task from a create body: what POST /2/tasks/{type} does once
 * the body passed its type's schema (defaults applied), shared by the API
 * and by the scheduler's schedules, so that a task is checked and stored
 * the same way whoever creates it. Compiled into libluna, like task_host. */
#ifndef LUNA_SCHED_TASK_CREATE_H
#define LUNA_SCHED_TASK_CREATE_H
#include "tasks/task_type.h"

/* What a task is created from. */
struct task_create {
	const struct task_type *type;
	json_object *body;          /* the create body, valid for type's schema, defaults applied */
	const char *request_id;     /* stored with the task; NULL: none */
	long long schedule_id;      /* the schedule creating it; 0: none (a client's POST) */
	const char *schedule_time;  /* with schedule_id: DB text (UTC) of the due time it is created for */
};

/* The checks beyond the schema, in the API's order: the description's
 * length (128 characters), the notification_policy (notify/policy.h:
 * limits, callback URLs under the outbound policy), the account rule (an account_id in the content
 * must be the task's), the type's validate hook (with the task_host reads
 * over db), then whether the service can run the type (handlers service).
 * 0 when the task may be created; -1 with fail set (status, code, detail;
 * code E_DB: a database failed). */
int task_create_check(const struct luna_config *cfg, struct db *db, struct arena *arena,
		      const struct task_create *tc, struct task_fail *fail);

/* Stores a task that passed task_create_check as pending for the
 * schedulers, with the body's notification_policy if it has one (on db, as
 * task_create). 0 with *task_id set; -1 with fail set (E_DB). For a caller
 * that checks before its transaction (the schedules: the checks may call the
 * handlers service) and stores inside it. */
int task_create_store(struct db *db, const struct task_create *tc, long long *task_id, struct task_fail *fail);

/* task_create_check, then task_create_store: the task stored as pending for the schedulers,
 * with the body's notification_policy if it has one (on db, inside the
 * caller's transaction if it has one; a task with a policy needs one, see
 * task_create_needs_txn). 0 with *task_id set; -1 with fail set as above. */
int task_create(const struct luna_config *cfg, struct db *db, struct arena *arena, const struct task_create *tc,
		long long *task_id, struct task_fail *fail);

/* Whether storing the body takes more than one statement (it has a
 * notification_policy): the caller runs task_create in a transaction then,
 * so that no scheduler sees the task without its callbacks. */
int task_create_needs_txn(const struct task_create *tc);
#endif
