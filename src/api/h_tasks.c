/* Task endpoints: list, count, get, cancel, delete, subtasks, result. */
#include "api/roc_svg.h"
#include "api/router.h"
#include "api/task_json.h"
#include "backends/storage.h"
#include "common/errors.h"
#include "common/status.h"
#include "common/log.h"
#include "tasks/task_type.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Builds the filters shared by the list and the count of tasks; -1 if answered. */
static int task_filters(struct request *req, struct sql_build *w)
{
	where_init(w, req->arena);
	where_time(w, req, "create_time__lt", "create_time", "<");
	where_time(w, req, "create_time__gte", "create_time", ">=");
	where_time(w, req, "end_time__lt", "end_time", "<");
	where_time(w, req, "end_time__gte", "end_time", ">=");
	if (where_id_list(w, req, "task_ids", "task_id"))
		return -1;
	where_int(w, req, "task_type", "task_type");
	where_int(w, req, "task_status", "task_status");
	where_str(w, req, "account_id", "account_id");
	where_str(w, req, "result_id", "result_id");
	where_int(w, req, "schedule_id", "schedule_id");
	return 0;
}

void h_tasks_list(struct request *req)
{
	struct sql_build w;
	if (task_filters(req, &w))
		return;
	where_page(&w, req);
	char *sql = arena_printf(req->arena, "SELECT " TASK_COLUMNS " FROM task WHERE %s ORDER BY task_id DESC LIMIT ? OFFSET ?",
				 w.sql);
	struct db_result r;
	if (db_exec(req->api->db, req->arena, sql, w.p, w.np, &r)) {
		reply_db_error(req);
		return;
	}
	json_object *tasks = json_object_new_array();
	for (size_t i = 0; i < r.nrows; i++)
		json_object_array_add(tasks, task_json(req, r.rows[i]));
	json_object *o = json_object_new_object();
	json_object_object_add(o, "tasks", tasks);
	reply_json(req, 200, o);
}

void h_tasks_count(struct request *req)
{
	struct sql_build w;
	if (task_filters(req, &w))
		return;
	char *sql = arena_printf(req->arena, "SELECT COUNT(*) FROM task WHERE %s", w.sql);
	struct db_result r;
	if (db_exec(req->api->db, req->arena, sql, w.p, w.np, &r) || r.nrows != 1) {
		reply_db_error(req);
		return;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "count", json_object_new_int64(strtoll(r.rows[0][0], NULL, 10)));
	reply_json(req, 200, o);
}

/* The task row of {task_id} visible to the request's account, or NULL
 * (answered: 404 28001, or 500 on a DB failure). */
static char **find_task(struct request *req)
{
	return find_visible(req, TASK_COLUMNS, "task", "task_id", E_TASK_NOT_FOUND);
}

void h_task_get(struct request *req)
{
	char **row = find_task(req);
	if (row)
		reply_json(req, 200, task_json(req, row));
}

/* Moves a task that is still running and its unfinished subtasks to
 * cancelled. Returns rows changed (0: already finished), -1 on DB failure. */
static int cancel_task(struct request *req, long long task_id)
{
	struct db_result r;
	struct db *db = req->api->db;
	for (int attempt = 0; attempt < 3; attempt++) {
		if (db_begin(db))
			return -1;
		if (DB_EXEC(db, NULL, &r,
			    "UPDATE task SET task_status = " SQL_VAL(TASK_CANCELLED) ", end_time = UTC_TIMESTAMP(6), "
			    "last_update_time = UTC_TIMESTAMP(6) "
			    "WHERE task_id = ? AND task_status IN " SQL_TASKS_UNFINISHED, DBP_I64(task_id)) ||
		    DB_EXEC(db, NULL, NULL,
			    "UPDATE subtask SET subtask_status = " SQL_VAL(SUB_CANCELLED) ", end_time = "
			    "UTC_TIMESTAMP(6) "
			    "WHERE task_id = ? AND subtask_status IN " SQL_SUBTASKS_UNFINISHED, DBP_I64(task_id)) ||
		    db_commit(db)) {
			int retry = db_error_is_retryable(db);
			db_rollback(db);
			if (retry)
				continue;
			return -1;
		}
		return (int)r.affected;
	}
	return -1;
}

void h_task_cancel(struct request *req)
{
	char **row = find_task(req);
	if (!row)
		return;
	int n = cancel_task(req, req->path_id);
	if (n < 0) {
		reply_db_error(req);
		return;
	}
	if (n == 0) {
		/* Finished before or while we looked: report the status it has now. */
		int status = atoi(row[2]);
		struct db_result r;
		if (DB_EXEC(req->api->db, req->arena, &r,
			    "SELECT task_status FROM task WHERE task_id = ?", DBP_I64(req->path_id)) == 0 &&
		    r.nrows)
			status = atoi(r.rows[0][0]);
		reply_errorf(req, E_CANNOT_CANCEL, req->path_id, status);
		return;
	}
	log_info("task %lld cancelled", req->path_id);
	reply_empty(req, 202);
}

/* Ids of every blob of a task: its result and its subtasks' results. */
static struct db_result task_blobs(struct request *req, long long task_id, int *rc)
{
	struct db_result r;
	*rc = DB_EXEC(req->api->db, req->arena, &r,
		      "SELECT result_id FROM task WHERE task_id = ? AND result_id IS NOT NULL "
		      "UNION ALL SELECT result_id FROM subtask WHERE task_id = ? AND result_id IS NOT NULL",
		      DBP_I64(task_id), DBP_I64(task_id));
	return r;
}

void h_task_delete(struct request *req)
{
	char **row = find_task(req);
	if (!row)
		return;
	int status = atoi(row[2]);
	if ((status == TASK_PENDING || status == TASK_RUNNING || status == TASK_COLLECTING) &&
	    cancel_task(req, req->path_id) < 0) {
		reply_db_error(req);
		return;
	}
	/* The type's own blobs go while its subtask rows still name them. */
	const struct task_type *tt = task_type_by_id(atoi(row[1]));
	if (tt && tt->cleanup) {
		struct task_ctx ctx = {.cfg = &req->api->cfg, .arena = req->arena, .tasks_db = req->api->db,
				       .store = req->api->store, .task_id = req->path_id, .account_id = row[3],
				       .host = &task_host_reads};
		tt->cleanup(&ctx);
	}
	int rc;
	struct db_result blobs = task_blobs(req, req->path_id, &rc);
	if (rc || DB_EXEC(req->api->db, NULL, NULL, "DELETE FROM task WHERE task_id = ?", DBP_I64(req->path_id))) {
		reply_db_error(req);
		return;
	}
	/* The row is gone first, so a blob is never referenced without existing. */
	for (size_t i = 0; i < blobs.nrows && req->api->store; i++)
		if (req->api->store->ops->del(req->api->store, blobs.rows[i][0]))
			log_warn("task %lld: cannot delete blob %s", req->path_id, blobs.rows[i][0]);

	log_info("task %lld deleted", req->path_id);
	reply_empty(req, 204);
}

void h_task_subtasks(struct request *req)
{
	if (!find_task(req))
		return;
	struct db_result r;
	if (DB_EXEC(req->api->db, req->arena, &r,
		    "SELECT " SUBTASK_COLUMNS " FROM subtask WHERE task_id = ? ORDER BY subtask_id",
		    DBP_I64(req->path_id))) {
		reply_db_error(req);
		return;
	}
	json_object *list = json_object_new_array();
	for (size_t i = 0; i < r.nrows; i++)
		json_object_array_add(list, subtask_json(req, r.rows[i]));
	json_object *o = json_object_new_object();
	json_object_object_add(o, "subtasks", list);
	reply_json(req, 200, o);
}

/* Streams a stored blob without holding it in memory. */
static void stream_blob(struct request *req, const char *id, const char *ctype, const char *headers)
{
	FILE *f = NULL;
	size_t len = 0;
	struct storage *st = req->api->store;
	if (!st || st->ops->open_read(st, id, &f, &len)) {
		if (st && errno == ENOENT)
			reply_errorf(req, E_RESULT_NOT_FOUND, req->path_id);
		else
			reply_error(req, 500, E_STORAGE, "result store unavailable");
		return;
	}
	reply_start(req, 200, ctype, headers, (long long)len);
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		if (req_write(req, buf, n))
			break;
	fclose(f);
}

/* The answer asks for the ROC curve as a picture (an extension): the Accept
 * header names image/svg+xml before the result's own media types. */
static int wants_svg(struct request *req)
{
	static const char *const types[] = {"application/json", "application/zip", "image/svg+xml", NULL};
	const char *t = req_negotiate(req, types, NULL);
	return t && strcmp(t, "image/svg+xml") == 0;
}

/* A stored blob read whole into the request's arena (NUL-terminated); NULL
 * when answered. Only for results the limits keep small (a ROC curve). */
static char *read_blob(struct request *req, const char *id, size_t *len)
{
	FILE *f = NULL;
	struct storage *st = req->api->store;
	if (!st || st->ops->open_read(st, id, &f, len)) {
		if (st && errno == ENOENT)
			reply_errorf(req, E_RESULT_NOT_FOUND, req->path_id);
		else
			reply_error(req, 500, E_STORAGE, "result store unavailable");
		return NULL;
	}
	char *buf = arena_alloc(req->arena, *len + 1);
	size_t got = fread(buf, 1, *len, f);
	fclose(f);
	if (got != *len) {
		reply_error(req, 500, E_STORAGE, "cannot read the result from the result store");
		return NULL;
	}
	return buf;
}

/* The ROC result of the task as SVG (roc_svg.c). */
static void reply_roc_svg(struct request *req, const char *blob_id)
{
	size_t len;
	char *text = read_blob(req, blob_id, &len);
	if (!text)
		return;
	json_object *doc = json_tokener_parse(text);
	size_t svg_len = 0;
	char *svg = doc ? roc_svg_render(doc, &svg_len) : NULL;
	json_object_put(doc);
	if (!svg) {
		reply_error(req, 500, E_INTERNAL, "the stored ROC result cannot be drawn");
		return;
	}
	char *hdr = arena_printf(req->arena, "Content-Disposition: inline; filename=task_%lld.svg\r\n", req->path_id);
	reply_body(req, 200, "image/svg+xml", hdr, svg, svg_len);
	free(svg);
}

void h_task_result(struct request *req)
{
	char **row = find_task(req);
	if (!row)
		return;
	int status = atoi(row[2]), type = atoi(row[1]);
	const struct task_type *tt = task_type_by_id(type);
	int svg = wants_svg(req);
	if (svg && (!tt || strcmp(tt->name, "roc") != 0)) {
		reply_error(req, 415, E_MEDIA_TYPE, "only the result of a roc task is available as image/svg+xml");
		return;
	}
	if (status == TASK_CANCELLED || status == TASK_FAILED) {
		reply_errorf(req, E_RESULT_OF_FINISHED, req->path_id, status);
		return;
	}
	if (status != TASK_DONE) {
		reply_errorf(req, E_NO_RESULT_YET, req->path_id);
		return;
	}
	if (!row[9]) {
		reply_errorf(req, E_RESULT_NOT_FOUND, req->path_id);
		return;
	}
	if (svg) {
		reply_roc_svg(req, row[9]);
	} else if (tt && tt->result_is_zip) {
		char *hdr = arena_printf(req->arena, "Content-Disposition: attachment; filename=task_%lld.zip\r\n",
					 req->path_id);
		stream_blob(req, row[9], "application/zip", hdr);
	} else {
		char *hdr = arena_printf(req->arena, "Content-Disposition: inline; filename=task_%lld.json\r\n",
					 req->path_id);
		stream_blob(req, row[9], "application/json", hdr);
	}
}

char **h_task_row(struct request *req)
{
	return find_task(req);
}
