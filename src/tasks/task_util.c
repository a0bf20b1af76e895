/* Helpers shared by the objects-reading task types: content access with
 * defaults, failure mapping, the {result, errors} document of a task result
 * (errors read from the task_error rows at collect time) and the merging of
 * partial results.
 * Workload: once per hook call; the error read is bounded by MAX_ERRORS. */
#include "tasks/task_util.h"
#include "common/errors.h"
#include "common/timefmt.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_object *task_json_get(json_object *obj, const char *key)
{
	json_object *v = NULL;
	if (!obj || !json_object_is_type(obj, json_type_object) || !json_object_object_get_ex(obj, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

const char *task_json_str(json_object *obj, const char *key, const char *def)
{
	json_object *v = task_json_get(obj, key);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : def;
}

long long task_json_int(json_object *obj, const char *key, long long def)
{
	json_object *v = task_json_get(obj, key);
	if (v && (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_boolean)))
		return json_object_get_int64(v);
	return def;
}

double task_json_double(json_object *obj, const char *key, double def)
{
	json_object *v = task_json_get(obj, key);
	if (v && (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
		return json_object_get_double(v);
	return def;
}

int task_require_objects(struct task_ctx *ctx, struct task_fail *fail)
{
	if (ctx->objects)
		return 0;
	task_fail_set(fail, 500, E_DB, "the objects backend is not available");
	return -1;
}

int task_objects_fail(struct task_ctx *ctx, struct task_fail *fail, const char *what)
{
	if (objects_error_is_input(ctx->objects))
		task_fail_set(fail, 400, E_BAD_JSON, "%s: %s", what, objects_error(ctx->objects));
	else
		task_fail_set(fail, 500, E_DB, "%s: %s", what, objects_error(ctx->objects));
	return -1;
}

int task_check_cancelled(struct task_ctx *ctx, struct task_fail *fail)
{
	if (!ctx->cancelled || !*ctx->cancelled)
		return 0;
	task_fail_set(fail, 400, E_TASK_CANCELLED, "Task '%lld' has been cancelled", ctx->task_id);
	return -1;
}

enum descriptor_type task_descriptor_type(json_object *descriptor_info)
{
	enum descriptor_type t = descriptor_type_from_name(task_json_str(descriptor_info, "type", "face"));
	return t ? t : DESCRIPTOR_FACE;
}

static json_object *time_json(const struct luna_config *cfg, const char *db_time)
{
	int64_t us;
	char buf[40];
	if (!db_time || time_parse_db(db_time, &us))
		return NULL;
	time_format_rfc3339(us, strcmp(cfg->time_zone, "UTC") != 0, buf, sizeof(buf));
	return json_object_new_string(buf);
}

static json_object *error_row_json(struct task_ctx *ctx, char **row)
{
	json_object *e = json_object_new_object();
	int code = atoi(row[3]);
	json_object_object_add(e, "error_id", json_object_new_int64(atoll(row[0])));
	json_object_object_add(e, "task_id", json_object_new_int64(atoll(row[1])));
	json_object_object_add(e, "subtask_id", row[2] ? json_object_new_int64(atoll(row[2])) : NULL);
	json_object_object_add(e, "error_code", json_object_new_int(code));
	json_object_object_add(e, "link", json_object_new_string(arena_printf(ctx->arena, "%s%d", LUNA_ERROR_LINK, code)));
	json_object_object_add(e, "description", json_object_new_string(row[4] ? row[4] : ""));
	json_object_object_add(e, "detail", json_object_new_string(row[5] ? row[5] : ""));
	json_object_object_add(e, "additional_info", row[6] ? json_object_new_string(row[6]) : NULL);
	json_object_object_add(e, "error_time", time_json(ctx->cfg, row[7]));
	return e;
}

json_object *task_result_document(struct task_ctx *ctx, json_object *result, struct task_fail *fail)
{
	json_object *doc = json_object_new_object(), *errors = json_object_new_array();
	if (result)
		json_object_object_add(doc, "result", result);
	json_object_object_add(doc, "errors", errors);
	if (!ctx->tasks_db || !ctx->task_id)
		return doc;
	struct db_param p[] = {DBP_I64(ctx->task_id), DBP_I64(ctx->cfg->max_errors)};
	struct db_result r;
	if (db_exec(ctx->tasks_db, ctx->arena,
		    "SELECT error_id, task_id, subtask_id, error_code, description, detail, additional_info, error_time "
		    "FROM task_error WHERE task_id = ? ORDER BY error_id LIMIT ?",
		    p, 2, &r)) {
		task_fail_set(fail, 500, E_DB, "cannot read the task errors: %s", db_error(ctx->tasks_db));
		json_object_put(doc);
		return NULL;
	}
	for (size_t i = 0; i < r.nrows; i++)
		json_object_array_add(errors, error_row_json(ctx, r.rows[i]));
	return doc;
}

json_object *task_json_similarity(double sim)
{
	char buf[32];
	if (sim < 0)
		sim = 0;
	if (sim > 1)
		sim = 1;
	snprintf(buf, sizeof(buf), "%.6f", sim);
	return json_object_new_double_s(sim, buf);
}

json_object *task_json_strings(char *const *items, size_t n)
{
	json_object *arr = json_object_new_array_ext((int)n);
	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, json_object_new_string(items[i]));
	return arr;
}

void task_json_append_all(json_object *dst, json_object *src)
{
	if (!src || !json_object_is_type(src, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(src); i++)
		json_object_array_add(dst, json_object_get(json_object_array_get_idx(src, i)));
}

json_object *task_json_concat(json_object *partials, const char *key)
{
	json_object *all = json_object_new_array();
	size_t n = partials ? json_object_array_length(partials) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *part = json_object_array_get_idx(partials, i);
		task_json_append_all(all, key ? task_json_get(part, key) : part);
	}
	return all;
}

int task_collect_single(struct task_ctx *ctx, json_object *partials, const char *what, json_object **result,
			struct task_fail *fail)
{
	json_object *part = json_object_array_length(partials) ? json_object_array_get_idx(partials, 0) : NULL;
	if (!part) {
		task_fail_set(fail, 500, E_INTERNAL, "the %s subtask left no result", what);
		return -1;
	}
	*result = task_result_document(ctx, json_object_get(part), fail);
	return *result ? 0 : -1;
}
