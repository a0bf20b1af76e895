/* Task error endpoints: /2/tasks/errors[/count|/{error_id}] and
 * /2/tasks/{task_id}/errors[/count]. Errors belong to tasks; account_id
 * scopes them through their task. */
#include "api/router.h"
#include "api/task_json.h"
#include "common/errors.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERROR_FROM " FROM task_error e JOIN task t ON t.task_id = e.task_id WHERE "

/* status_code filter: the codes whose HTTP status is the given one. */
static void where_status_code(struct sql_build *w, struct request *req)
{
	json_object *v = req_param(req, "status_code");
	if (!v)
		return;
	int status = json_object_get_int(v);
	char cond[1024];
	int len = snprintf(cond, sizeof(cond), "e.error_code IN (-1");
	const struct luna_error_def *d;
	for (size_t i = 0; (d = luna_error_at(i)) && len < (int)sizeof(cond) - 16; i++)
		if (d->http_status == status)
			len += snprintf(cond + len, sizeof(cond) - (size_t)len, ", %d", d->code);
	snprintf(cond + len, sizeof(cond) - (size_t)len, ")");
	where_add(w, cond, NULL, 0);
}

static int error_filters(struct request *req, struct sql_build *w)
{
	where_init(w, req->arena);
	where_time(w, req, "error_time__lt", "e.error_time", "<");
	where_time(w, req, "error_time__gte", "e.error_time", ">=");
	if (where_id_list(w, req, "task_ids", "e.task_id") || where_id_list(w, req, "error_ids", "e.error_id"))
		return -1;
	where_int(w, req, "error_code", "e.error_code");
	where_int(w, req, "task_type", "t.task_type");
	where_str(w, req, "account_id", "t.account_id");
	where_status_code(w, req);
	return 0;
}

static void reply_error_list(struct request *req, struct sql_build *w)
{
	where_page(w, req);
	char *sql = arena_printf(req->arena, "SELECT " ERROR_COLUMNS ERROR_FROM "%s ORDER BY e.error_id LIMIT ? OFFSET ?",
				 w->sql);
	struct db_result r;
	if (db_exec(req->api->db, req->arena, sql, w->p, w->np, &r)) {
		reply_db_error(req);
		return;
	}
	json_object *list = json_object_new_array();
	for (size_t i = 0; i < r.nrows; i++)
		json_object_array_add(list, error_json(req, r.rows[i]));
	json_object *o = json_object_new_object();
	json_object_object_add(o, "errors", list);
	reply_json(req, 200, o);
}

static void reply_error_count(struct request *req, struct sql_build *w)
{
	char *sql = arena_printf(req->arena, "SELECT COUNT(*)" ERROR_FROM "%s", w->sql);
	struct db_result r;
	if (db_exec(req->api->db, req->arena, sql, w->p, w->np, &r) || r.nrows != 1) {
		reply_db_error(req);
		return;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "count", json_object_new_int64(strtoll(r.rows[0][0], NULL, 10)));
	reply_json(req, 200, o);
}

void h_errors_list(struct request *req)
{
	struct sql_build w;
	if (error_filters(req, &w) == 0)
		reply_error_list(req, &w);
}

void h_errors_count(struct request *req)
{
	struct sql_build w;
	if (error_filters(req, &w) == 0)
		reply_error_count(req, &w);
}

void h_error_get(struct request *req)
{
	struct sql_build w;
	where_init(&w, req->arena);
	struct db_param id = DBP_I64(req->path_id);
	where_add(&w, "e.error_id = ?", &id, 1);
	where_str(&w, req, "account_id", "t.account_id");
	char *sql = arena_printf(req->arena, "SELECT " ERROR_COLUMNS ERROR_FROM "%s", w.sql);
	struct db_result r;
	if (db_exec(req->api->db, req->arena, sql, w.p, w.np, &r)) {
		reply_db_error(req);
		return;
	}
	if (r.nrows == 0) {
		reply_errorf(req, E_TASK_ERROR_NOT_FOUND, req->path_id);
		return;
	}
	reply_json(req, 200, error_json(req, r.rows[0]));
}

/* Filters of the per-task endpoints; -1 (answered 28001) when the task is not visible. */
static int task_scope(struct request *req, struct sql_build *w)
{
	if (!find_visible(req, "1", "task", "task_id", E_TASK_NOT_FOUND))
		return -1;
	struct db_param p = DBP_I64(req->path_id);
	where_init(w, req->arena);
	where_add(w, "e.task_id = ?", &p, 1);
	return 0;
}

void h_task_errors(struct request *req)
{
	struct sql_build w;
	if (task_scope(req, &w) == 0)
		reply_error_list(req, &w);
}

void h_task_errors_count(struct request *req)
{
	struct sql_build w;
	if (task_scope(req, &w))
		return;
	where_time(&w, req, "error_time__lt", "e.error_time", "<");
	where_time(&w, req, "error_time__gte", "e.error_time", ">=");
	where_int(&w, req, "error_code", "e.error_code");
	reply_error_count(req, &w);
}
