/* Task type linker (1): links faces chosen by filters to a list, or makes
 * faces from events chosen by filters (the event's face descriptors, basic
 * attributes, external_id, user_data and event_id) and links those. The list
 * must exist in the task's account unless create_list = 1, in which case
 * planning creates it there (with user_data); only faces of that account are
 * ever linked to it. Without create_time__lt in the
 * filters, planning fixes it to the task's creation time, so the set does
 * not grow while the task runs.
 * Workload: planning pages through the matching ids and cuts them into
 * id ranges of [TASKS] LINKER_CHUNK objects, one subtask each; a subtask
 * re-reads its range with the filters and links it (retrying a subtask
 * creates nothing twice: a face already made from an event is reused).
 * Result: {list_id, face_ids}. */
#include "tasks/task_type.h"
#include "tasks/task_util.h"
#include "backends/objects.h"
#include "common/errors.h"
#include "common/timefmt.h"
#include "common/uuid.h"
#include <stdlib.h>
#include <string.h>

static int linker_validate(struct task_ctx *ctx, json_object *content, struct task_fail *fail)
{
	enum objects_kind kind = objects_kind_from_name(task_json_str(content, "objects_type", NULL));
	if (!task_json_int(content, "create_list", 0) && !task_json_str(content, "list_id", NULL)) {
		task_fail(fail, E_BAD_JSON,
			  "Failed to validate input json. Path: 'content', message: 'list_id is required unless "
			  "create_list is 1'");
		return -1;
	}
	char err[512];
	if (objects_validate_filters(ctx->cfg, kind, task_json_get(content, "filters"), err, sizeof(err))) {
		task_fail(fail, E_BAD_JSON, "Failed to validate input json. Path: 'content.filters', message: '%s'",
			  err);
		return -1;
	}
	return 0;
}

/* The task's creation time as RFC 3339 (UTC), from its host. */
static const char *task_create_time(struct task_ctx *ctx, struct task_fail *fail)
{
	struct task_row row;
	if (task_lookup(ctx, ctx->task_id, NULL, &row) != 1) {
		task_fail(fail, E_DB, "cannot read the creation time of task %lld", ctx->task_id);
		return NULL;
	}
	char *buf = arena_alloc(ctx->arena, 40);
	time_format_rfc3339(row.create_time_us, 0, buf, 40);
	return buf;
}

/* The list to link to: an existing one of the account, or one created now
 * (create_list = 1: with the given list_id when there is one). */
static const char *plan_list(struct task_ctx *ctx, json_object *content, const char *account, struct task_fail *fail)
{
	const char *list_id = task_json_str(content, "list_id", NULL);
	int create = task_json_int(content, "create_list", 0) != 0, exists = 0;
	if (list_id && objects_list_exists(ctx->objects, account, list_id, &exists)) {
		task_objects_fail(ctx, fail, "looking up the list");
		return NULL;
	}
	if (exists)
		return list_id;
	if (!create) {
		task_fail_detail(fail, E_LIST_NOT_FOUND, list_id ? list_id : "");
		return NULL;
	}
	if (!list_id) {
		char *id = arena_alloc(ctx->arena, 37);
		uuid4(id);
		list_id = id;
	}
	int created = 0;
	if (objects_list_create(ctx->objects, account, list_id, task_json_str(content, "user_data", ""), &created)) {
		task_objects_fail(ctx, fail, "creating the list");
		return NULL;
	}
	if (!created) {   /* the id is taken, by a list of another account */
		task_fail(fail, E_BAD_JSON, "List with id '%s' cannot be created: the id is in use", list_id);
		return NULL;
	}
	return list_id;
}

static json_object *range_subtask(const char *list_id, json_object *filters, const char *after, const char *upto)
{
	json_object *s = json_object_new_object();
	json_object_object_add(s, "list_id", json_object_new_string(list_id));
	json_object_object_add(s, "filters", json_object_get(filters));
	json_object_object_add(s, "after", after ? json_object_new_string(after) : NULL);
	json_object_object_add(s, "upto", upto ? json_object_new_string(upto) : NULL);
	return s;
}

static int linker_plan(struct task_ctx *ctx, json_object *content, json_object **subtasks, struct task_fail *fail)
{
	json_object *out = NULL, *filters = NULL;
	int rc = -1;
	if (task_require_objects(ctx, fail))
		return -1;
	enum objects_kind kind = objects_kind_from_name(task_json_str(content, "objects_type", "faces"));
	json_object *given = task_json_get(content, "filters");
	const char *account = task_account(ctx, given);
	filters = given ? json_tokener_parse(json_object_to_json_string(given)) : json_object_new_object();
	if (!task_json_get(filters, "create_time__lt")) {
		const char *created = task_create_time(ctx, fail);
		if (!created)
			goto out;
		json_object_object_add(filters, "create_time__lt", json_object_new_string(created));
	}
	const char *list_id = plan_list(ctx, content, account, fail);
	if (!list_id)
		goto out;
	out = json_object_new_array();
	size_t chunk = ctx->cfg->linker_chunk > 0 ? (size_t)ctx->cfg->linker_chunk : 1000;
	const char *after = NULL;
	for (;;) {
		char **ids;
		size_t n;
		if (task_check_cancelled(ctx, fail))
			goto out;
		if (objects_page_ids(ctx->objects, ctx->arena, kind, filters, account, after, NULL, chunk, &ids, &n)) {
			task_objects_fail(ctx, fail, "listing the objects");
			goto out;
		}
		if (n == 0)
			break;
		json_object_array_add(out, range_subtask(list_id, filters, after, ids[n - 1]));
		after = ids[n - 1];
		if (n < chunk)
			break;
	}
	if (json_object_array_length(out) == 0)
		json_object_array_add(out, range_subtask(list_id, filters, NULL, NULL));
	*subtasks = out;
	out = NULL;
	rc = 0;
out:
	json_object_put(out);
	json_object_put(filters);
	return rc;
}

static int linker_run(struct task_ctx *ctx, json_object *content, json_object *subtask, json_object **partial,
		      struct task_fail *fail)
{
	char **ids = NULL, **face_ids;
	size_t n = 0;
	if (task_require_objects(ctx, fail))
		return -1;
	enum objects_kind kind = objects_kind_from_name(task_json_str(content, "objects_type", "faces"));
	json_object *filters = task_json_get(subtask, "filters");
	const char *account = task_account(ctx, filters);
	const char *list_id = task_json_str(subtask, "list_id", NULL), *upto = task_json_str(subtask, "upto", NULL);
	json_object *linked = json_object_new_array();
	*partial = json_object_new_object();
	json_object_object_add(*partial, "list_id", list_id ? json_object_new_string(list_id) : NULL);
	json_object_object_add(*partial, "face_ids", linked);
	if (!upto)
		return 0;                      /* nothing matched at planning time */
	if (objects_page_ids(ctx->objects, ctx->arena, kind, filters, account, task_json_str(subtask, "after", NULL),
			     upto, 0, &ids, &n))
		return task_objects_fail(ctx, fail, "listing the objects");
	if (task_check_cancelled(ctx, fail))
		return -1;
	face_ids = ids;
	if (kind == OBJ_EVENTS) {
		if (objects_faces_from_events(ctx->objects, ctx->arena, account, ids, n, &face_ids))
			return task_objects_fail(ctx, fail, "making faces from events");
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if (face_ids[i])
				face_ids[k++] = face_ids[i];
		n = k;
	}
	if (objects_list_link(ctx->objects, account, list_id, face_ids, n))
		return task_objects_fail(ctx, fail, "linking faces");
	for (size_t i = 0; i < n; i++)
		json_object_array_add(linked, json_object_new_string(face_ids[i]));
	return 0;
}

static int linker_collect(struct task_ctx *ctx, json_object *content, json_object *partials, json_object **result,
			  struct task_fail *fail)
{
	json_object *res = json_object_new_object(), *ids = json_object_new_array();
	const char *list_id = NULL;
	for (size_t i = 0; i < json_object_array_length(partials); i++) {
		json_object *part = json_object_array_get_idx(partials, i);
		if (!list_id)
			list_id = task_json_str(part, "list_id", NULL);
		task_json_append_all(ids, task_json_get(part, "face_ids"));
	}
	if (!list_id)
		list_id = task_json_str(content, "list_id", NULL);
	json_object_object_add(res, "list_id", list_id ? json_object_new_string(list_id) : NULL);
	json_object_object_add(res, "face_ids", ids);
	*result = task_result_document(ctx, res, fail);
	return *result ? 0 : -1;
}

const struct task_type task_linker = {
	.id = 1,
	.name = "linker",
	.result_is_zip = 0,
	.validate = linker_validate,
	.plan = linker_plan,
	.run_subtask = linker_run,
	.collect = linker_collect,
};
