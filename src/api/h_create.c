/* POST /2/tasks/{type} (the router resolved the type from task_types[]): the body was validated against the type's schema by
 * the front door (defaults applied); here the account rule (an account_id in
 * the content must be the task's) and the type's own checks run, and the
 * task is stored as pending for the schedulers. */
#include "api/router.h"
#include "common/errors.h"
#include "common/status.h"
#include "common/log.h"
#include "scheduler/task_host.h"
#include "tasks/task_limits.h"
#include "tasks/task_type.h"
#include "tasks/task_util.h"
#include <string.h>

static const char *body_str(json_object *body, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(body, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

/* Replies show description as the spec's task_description (maxLength 128);
 * most request schemas set no limit, so the longest one is checked here. */
static int description_too_long(struct request *req)
{
	json_object *d;
	if (!json_object_object_get_ex(req->body, "description", &d) || !json_object_is_type(d, json_type_string))
		return 0;
	size_t chars = 0;
	for (const unsigned char *p = (const unsigned char *)json_object_get_string(d); *p; p++)
		chars += (*p & 0xC0) != 0x80;
	if (chars <= 128)
		return 0;
	char detail[512];
	luna_error_detail(detail, sizeof(detail), E_BAD_JSON, "description",
			  "the description is longer than 128 characters");
	reply_error(req, 400, E_BAD_JSON, detail);
	return 1;
}

int h_task_body_limits(struct request *req, json_object *body)
{
	struct task_fail fail = {0};
	if (task_limits_check(&req->api->cfg, req->task_type->name, body, "", &fail) == 0)
		return 0;
	reply_error(req, fail.status, fail.code, fail.detail);
	return -1;
}

void h_task_create(struct request *req)
{
	const struct task_type *tt = req->task_type;
	json_object *content = NULL;
	json_object_object_get_ex(req->body, "content", &content);
	if (!tt || !content) {
		reply_error(req, 500, E_INTERNAL, NULL);
		return;
	}
	if (description_too_long(req))
		return;
	const char *account = body_str(req->body, "account_id");
	const char *description = body_str(req->body, "description");
	struct task_ctx ctx = {
		.cfg = &req->api->cfg,
		.arena = req->arena,
		.tasks_db = req->api->db,
		.host = &task_host_reads,
		.account_id = account,
		.request_id = req->request_id,
	};
	struct task_fail fail = {0};
	if (task_check_content_accounts(account, content, &fail) ||
	    (tt->validate && tt->validate(&ctx, content, &fail))) {
		if (fail.code == E_DB)
			reply_db_error(req);
		else
			reply_error(req, fail.status ? fail.status : 400, fail.code, fail.detail);
		return;
	}
	/* What the service can do is checked after what the client sent. */
	if (tt->needs_handlers && !req->api->cfg.handlers_url[0]) {
		reply_errorf(req, E_HANDLERS_NOT_CONFIGURED, tt->name);
		return;
	}
	const char *text = json_object_to_json_string_ext(content, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	struct db_result r;
	if (DB_EXEC(req->api->db, NULL, &r,
		    "INSERT INTO task (task_type, task_status, account_id, description, content, create_time, "
		    "last_update_time, request_id) VALUES (?, " SQL_VAL(TASK_PENDING) ", ?, ?, ?, UTC_TIMESTAMP(6), "
		    "UTC_TIMESTAMP(6), ?)",
		    DBP_I64(tt->id), DBP_STR(account), DBP_STR(description ? description : ""), DBP_STR(text),
		    DBP_STR(req->request_id))) {
		reply_db_error(req);
		return;
	}
	log_info("task %llu created (%s)", r.insert_id, tt->name);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "task_id", json_object_new_int64((int64_t)r.insert_id));
	reply_json(req, 202, o);
}
