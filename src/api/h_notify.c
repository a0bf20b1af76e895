/* Notification policies of tasks (an extension beyond v.3.8.8):
 * GET | PUT /2/tasks/{task_id}/notification_policy and the delivery log
 * GET /2/tasks/{task_id}/notifications. The checks, rows and masking are
 * src/notify/policy.c; the deliveries are the scheduler's
 * (src/scheduler/callbacks.c). Secrets never leave masked or not: the
 * policy and the log answer "********" for them. */
#include "api/router.h"
#include "api/task_json.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/redact.h"
#include "notify/policy.h"
#include <stdlib.h>
#include <string.h>

static int refuse_policy(struct request *req, const struct task_fail *fail)
{
	reply_error(req, fail->status ? fail->status : 400, fail->code, fail->detail);
	return -1;
}

void h_notification_policy_get(struct request *req)
{
	if (!h_task_row(req))
		return;
	json_object *policy = notify_policy_load(req->api->db, req->arena, req->path_id);
	if (!policy) {
		reply_db_error(req);
		return;
	}
	reply_json(req, 200, policy);
}

/* Replaces the policy with the task row locked first, like every writer of a task. */
static int replace_policy(struct request *req, json_object *policy)
{
	struct db *db = req->api->db;
	for (int attempt = 0; attempt < 3; attempt++) {
		struct db_result r;
		if (db_begin(db))
			return -1;
		if (DB_EXEC(db, NULL, &r, "SELECT task_id FROM task WHERE task_id = ? FOR UPDATE", DBP_I64(req->path_id)) ||
		    notify_policy_store(db, req->path_id, policy) || db_commit(db)) {
			int retry = db_error_is_retryable(db);
			db_rollback(db);
			if (retry)
				continue;
			return -1;
		}
		return 0;
	}
	return -1;
}

void h_notification_policy_put(struct request *req)
{
	struct task_fail fail = {0};
	if (!h_task_row(req))
		return;
	if (notify_policy_check(&req->api->cfg, req->body, "", &fail) ||
	    notify_policy_unmask(req->api->db, req->arena, req->path_id, req->body, &fail)) {
		if (fail.code == E_DB)
			reply_db_error(req);
		else
			refuse_policy(req, &fail);
		return;
	}
	if (replace_policy(req, req->body)) {
		reply_db_error(req);
		return;
	}
	log_info("task %lld: notification policy replaced", req->path_id);
	reply_empty(req, 204);
}

static const char *state_name(int state)
{
	switch (state) {
	case NOTIFY_DELIVERED:
		return "delivered";
	case NOTIFY_FAILED:
		return "failed";
	default:
		return "queued";
	}
}

enum { N_ID, N_SUBTASK, N_STATUS, N_EVENT_TIME, N_EVENTS, N_POSITION, N_CALLBACK, N_REPLACED, N_STATE, N_ATTEMPTS,
       N_HTTP, N_ERROR, N_NEXT, N_DONE };

/* Which callback a notification went to: its list, index and (masked) URL. */
static json_object *callback_ref(char **row)
{
	json_object *o = json_object_new_object();
	json_object *cb = json_tokener_parse(row[N_CALLBACK]);
	json_object *url = NULL;
	if (cb) {
		notify_callback_mask(cb);
		json_object_object_get_ex(cb, "url", &url);
	}
	json_object_object_add(o, "list", json_object_new_string(notify_list_name(atoi(row[N_EVENTS]))));
	json_object_object_add(o, "index", int_or_null(row[N_POSITION]));
	json_object_object_add(o, "url", json_object_new_string(url ? json_object_get_string(url) : ""));
	json_object_object_add(o, "replaced", json_object_new_boolean(atoi(row[N_REPLACED])));
	json_object_put(cb);
	return o;
}

static json_object *notification_json(struct request *req, long long task_id, char **row)
{
	json_object *o = json_object_new_object();
	int state = atoi(row[N_STATE]);
	json_object_object_add(o, "notification_id", int_or_null(row[N_ID]));
	json_object_object_add(o, "task_id", json_object_new_int64(task_id));
	json_object_object_add(o, "subtask_id", int_or_null(row[N_SUBTASK]));
	json_object_object_add(o, "event", json_object_new_string(row[N_SUBTASK] ? "subtask_status" : "task_status"));
	json_object_object_add(o, "status", int_or_null(row[N_STATUS]));
	json_object_object_add(o, "event_time", json_time_from_db(req, row[N_EVENT_TIME]));
	json_object_object_add(o, "callback", callback_ref(row));
	json_object_object_add(o, "state", json_object_new_string(state_name(state)));
	json_object_object_add(o, "attempts", int_or_null(row[N_ATTEMPTS]));
	json_object_object_add(o, "http_status", int_or_null(row[N_HTTP]));
	char *error = row[N_ERROR] ? url_redact_dup(row[N_ERROR]) : NULL;
	json_object_object_add(o, "error", str_or_null(error));
	free(error);
	json_object_object_add(o, "next_attempt_time",
			       state == NOTIFY_QUEUED ? json_time_from_db(req, row[N_NEXT]) : NULL);
	json_object_object_add(o, "done_time", json_time_from_db(req, row[N_DONE]));
	return o;
}

void h_notifications_list(struct request *req)
{
	if (!h_task_row(req))
		return;
	json_object *page = req_param(req, "page"), *size = req_param(req, "page_size");
	long long pg = page ? json_object_get_int64(page) : 1, ps = size ? json_object_get_int64(size) : 10;
	if (pg > 1000000000LL)
		pg = 1000000000LL;
	struct db_result r;
	if (DB_EXEC(req->api->db, req->arena, &r,
		    "SELECT n.notification_id, n.subtask_id, n.status, n.event_time, c.events, c.position, c.callback, "
		    "c.replaced, n.state, n.attempts, n.http_status, n.last_error, n.next_attempt, n.done_time "
		    "FROM notification n JOIN task_callback c ON c.callback_id = n.callback_id "
		    "WHERE n.task_id = ? ORDER BY n.notification_id LIMIT ? OFFSET ?",
		    DBP_I64(req->path_id), DBP_I64(ps), DBP_I64((pg - 1) * ps))) {
		reply_db_error(req);
		return;
	}
	json_object *list = json_object_new_array();
	for (size_t i = 0; i < r.nrows; i++)
		json_object_array_add(list, notification_json(req, req->path_id, r.rows[i]));
	json_object *o = json_object_new_object();
	json_object_object_add(o, "notifications", list);
	reply_json(req, 200, o);
}
