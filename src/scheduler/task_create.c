/* Creating a task from a validated create body (see task_create.h).
 * Workload: once per created task; the type's validate may read the tasks
 * database through the task_host reads. */
#include "scheduler/task_create.h"
#include "scheduler/task_host.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/status.h"
#include "notify/policy.h"
#include "tasks/task_util.h"
#include <string.h>

#define DESCRIPTION_MAX_CHARS 128

static const char *body_str(json_object *body, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(body, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

static json_object *body_obj(json_object *body, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(body, key, &v) ? v : NULL;
}

int task_create_needs_txn(const struct task_create *tc)
{
	return body_obj(tc->body, NOTIFY_POLICY_KEY) != NULL;
}

/* Replies show description as the spec's task_description (maxLength 128);
 * most request schemas set no limit, so the longest one is checked here. */
static int description_too_long(json_object *body, struct task_fail *fail)
{
	const char *d = body_str(body, "description");
	size_t chars = 0;
	for (const unsigned char *p = (const unsigned char *)(d ? d : ""); *p; p++)
		chars += (*p & 0xC0) != 0x80;
	if (chars <= DESCRIPTION_MAX_CHARS)
		return 0;
	task_fail_detail(fail, E_BAD_JSON, "description", "the description is longer than 128 characters");
	return 1;
}

int task_create_check(const struct luna_config *cfg, struct db *db, struct arena *arena,
		      const struct task_create *tc, struct task_fail *fail)
{
	const struct task_type *tt = tc->type;
	json_object *content = NULL;
	json_object_object_get_ex(tc->body, "content", &content);
	if (!tt || !content) {
		task_fail(fail, E_INTERNAL, "no task type or no content");
		return -1;
	}
	if (description_too_long(tc->body, fail))
		return -1;
	if (notify_policy_check(cfg, body_obj(tc->body, NOTIFY_POLICY_KEY), NOTIFY_POLICY_KEY, fail))
		return -1;
	const char *account = body_str(tc->body, "account_id");
	struct task_ctx ctx = {
		.cfg = cfg,
		.arena = arena,
		.tasks_db = db,
		.host = &task_host_reads,
		.account_id = account,
		.request_id = tc->request_id,
	};
	if (task_check_content_accounts(account, content, fail) || (tt->validate && tt->validate(&ctx, content, fail))) {
		if (!fail->status)
			fail->status = 400;
		return -1;
	}
	/* What the service can do is checked after what the client sent. */
	if (tt->needs_handlers && !cfg->handlers_url[0]) {
		task_fail_detail(fail, E_HANDLERS_NOT_CONFIGURED, tt->name);
		return -1;
	}
	return 0;
}

int task_create_store(struct db *db, const struct task_create *tc, long long *task_id, struct task_fail *fail)
{
	json_object *content = NULL;
	json_object_object_get_ex(tc->body, "content", &content);
	const char *description = body_str(tc->body, "description");
	const char *text = json_object_to_json_string_ext(content, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	struct db_result r;
	if (DB_EXEC(db, NULL, &r,
		    "INSERT INTO task (task_type, task_status, account_id, description, content, create_time, "
		    "last_update_time, request_id, schedule_id, schedule_time) VALUES (?, " SQL_VAL(TASK_PENDING) ", ?, ?, ?, "
		    "UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), ?, ?, ?)",
		    DBP_I64(tc->type->id), DBP_STR(body_str(tc->body, "account_id")),
		    DBP_STR(description ? description : ""), DBP_STR(text), DBP_STR(tc->request_id),
		    tc->schedule_id ? DBP_I64(tc->schedule_id) : DBP_NULL, tc->schedule_id ? DBP_STR(tc->schedule_time) : DBP_NULL)) {
		task_fail(fail, E_DB, "%s", db_error(db));
		return -1;
	}
	if (notify_policy_store(db, (long long)r.insert_id, body_obj(tc->body, NOTIFY_POLICY_KEY))) {
		task_fail(fail, E_DB, "%s", db_error(db));
		return -1;
	}
	*task_id = (long long)r.insert_id;
	if (tc->schedule_id)
		log_info("task %lld created (%s) by schedule %lld", *task_id, tc->type->name, tc->schedule_id);
	else
		log_info("task %lld created (%s)", *task_id, tc->type->name);
	return 0;
}

int task_create(const struct luna_config *cfg, struct db *db, struct arena *arena, const struct task_create *tc,
		long long *task_id, struct task_fail *fail)
{
	if (task_create_check(cfg, db, arena, tc, fail))
		return -1;
	return task_create_store(db, tc, task_id, fail);
}
