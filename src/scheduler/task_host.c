/* The task_host reads over the tasks database and the error-row rendering
 * (see task_host.h).
 * Workload: once per hook that asks; the error read is bounded by MAX_ERRORS,
 * the subtask list by the task's plan. */
#include "scheduler/task_host.h"
#include "common/errors.h"
#include "common/timefmt.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static json_object *int_or_null(const char *s)
{
	return s ? json_object_new_int64(strtoll(s, NULL, 10)) : NULL;
}

static json_object *time_or_null(const struct luna_config *cfg, const char *db_text)
{
	int64_t us;
	char buf[40];
	if (!db_text || time_parse_db(db_text, &us))
		return NULL;
	time_format_rfc3339(us, strcasecmp(cfg->time_zone, "LOCAL") == 0, buf, sizeof(buf));
	return json_object_new_string(buf);
}

json_object *task_error_json(const struct luna_config *cfg, char **row)
{
	json_object *o = json_object_new_object();
	int code = row[3] ? atoi(row[3]) : 0;
	char link[128];
	snprintf(link, sizeof(link), LUNA_ERROR_LINK "%d", code);
	json_object_object_add(o, "error_id", int_or_null(row[0]));
	json_object_object_add(o, "task_id", int_or_null(row[1]));
	json_object_object_add(o, "subtask_id", int_or_null(row[2]));
	json_object_object_add(o, "error_code", json_object_new_int(code));
	/* task_description is a string; rows from before migration 006 may hold NULL. */
	json_object_object_add(o, "description", json_object_new_string(row[4] ? row[4] : ""));
	json_object_object_add(o, "detail", str_or_null(row[5]));
	json_object_object_add(o, "link", json_object_new_string(link));
	json_object_object_add(o, "additional_info", str_or_null(row[6]));
	json_object_object_add(o, "error_time", time_or_null(cfg, row[7]));
	return o;
}

int task_host_lookup_task(const struct task_ctx *ctx, long long task_id, const char *account_id,
			  struct task_row *row)
{
	struct db_result r;
	if (!ctx->tasks_db ||
	    DB_EXEC(ctx->tasks_db, ctx->arena, &r,
		    "SELECT task_type, task_status, result_id, content, create_time FROM task "
		    "WHERE task_id = ? AND (? IS NULL OR account_id = ?)",
		    DBP_I64(task_id), DBP_STR(account_id), DBP_STR(account_id)))
		return -1;
	if (r.nrows == 0)
		return 0;
	char **f = r.rows[0];
	row->type = atoi(f[0]);
	row->status = atoi(f[1]);
	row->result_id = f[2];
	row->content = f[3];
	if (!f[4] || time_parse_db(f[4], &row->create_time_us))
		return -1;
	return 1;
}

int task_host_subtask_ids(const struct task_ctx *ctx, long long **ids, size_t *n)
{
	struct db_result r;
	if (!ctx->tasks_db ||
	    DB_EXEC(ctx->tasks_db, ctx->arena, &r,
		    "SELECT subtask_id FROM subtask WHERE task_id = ? ORDER BY subtask_id", DBP_I64(ctx->task_id)))
		return -1;
	*ids = arena_alloc(ctx->arena, (r.nrows ? r.nrows : 1) * sizeof(**ids));
	for (size_t i = 0; i < r.nrows; i++)
		(*ids)[i] = strtoll(r.rows[i][0], NULL, 10);
	*n = r.nrows;
	return 0;
}

json_object *task_host_errors_json(const struct task_ctx *ctx)
{
	struct db_result r;
	if (!ctx->tasks_db || !ctx->task_id)
		return json_object_new_array();
	if (DB_EXEC(ctx->tasks_db, ctx->arena, &r,
		    "SELECT " TASK_ERROR_COLUMNS " FROM task_error e WHERE e.task_id = ? ORDER BY e.error_id LIMIT ?",
		    DBP_I64(ctx->task_id), DBP_I64(ctx->cfg->max_errors)))
		return NULL;
	json_object *errors = json_object_new_array_ext((int)r.nrows);
	for (size_t i = 0; i < r.nrows; i++)
		json_object_array_add(errors, task_error_json(ctx->cfg, r.rows[i]));
	return errors;
}

int task_host_is_task_result(const struct task_ctx *ctx, const char *blob_id)
{
	struct db_result r;
	if (!ctx->tasks_db ||
	    DB_EXEC(ctx->tasks_db, ctx->arena, &r,
		    "SELECT 1 FROM task WHERE result_id = ? UNION ALL "
		    "(SELECT 1 FROM subtask WHERE result_id = ? LIMIT 1) LIMIT 1", DBP_STR(blob_id), DBP_STR(blob_id)))
		return -1;
	return r.nrows > 0;
}

const struct task_host task_host_reads = {
	.lookup_task = task_host_lookup_task,
	.subtask_ids = task_host_subtask_ids,
	.errors_json = task_host_errors_json,
	.is_task_result = task_host_is_task_result,
};
