/* POST /2/tasks/{type} (the router resolved the type from task_types[]): the
 * body was validated against the type's schema by the front door (defaults
 * applied); task_create() (scheduler/task_create.h) runs the account rule
 * and the type's own checks and stores the task as pending for the
 * schedulers. */
#include "api/router.h"
#include "common/errors.h"
#include "common/wake.h"
#include "scheduler/task_create.h"
#include "tasks/task_limits.h"

int h_task_body_limits(struct request *req, json_object *body)
{
	struct task_fail fail = {0};
	if (task_limits_check(&req->api->cfg, req->task_type->name, body, "", &fail) == 0)
		return 0;
	reply_error(req, fail.status, fail.code, fail.detail);
	return -1;
}

/* task_create, in a transaction when the body needs one (a notification
 * policy: a scheduler may plan the task as soon as it is committed, and its
 * first status change must find the callbacks). */
static int create_task(struct request *req, const struct task_create *tc, long long *task_id,
		       struct task_fail *fail)
{
	struct db *db = req->api->db;
	int txn = task_create_needs_txn(tc);
	if (txn && db_begin(db)) {
		task_fail(fail, E_DB, "%s", db_error(db));
		return -1;
	}
	if (task_create(&req->api->cfg, db, req->arena, tc, task_id, fail)) {
		if (txn)
			db_rollback(db);
		return -1;
	}
	if (txn && db_commit(db)) {
		task_fail(fail, E_DB, "%s", db_error(db));
		db_rollback(db);
		return -1;
	}
	return 0;
}

void h_task_create(struct request *req)
{
	struct task_create tc = {.type = req->task_type, .body = req->body, .request_id = req->request_id};
	struct task_fail fail = {0};
	long long task_id;
	if (create_task(req, &tc, &task_id, &fail)) {
		if (fail.code == E_DB)
			reply_db_error(req);
		else
			reply_error(req, fail.status, fail.code, fail.detail);
		return;
	}
	/* Committed: an idle scheduler on this host may plan it now (a shortcut; the others poll). */
	wake_send(&req->api->cfg.tasks_db);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "task_id", json_object_new_int64(task_id));
	reply_json(req, 202, o);
}
