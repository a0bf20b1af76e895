/* Schedules (extension): /2/tasks/schedules and /2/tasks/schedules/{schedule_id}.
 * A schedule holds the create body of a task of any type, checked as its
 * POST /2/tasks/{type} would check it (the [LIMITS], the type's schema with
 * its defaults, then task_create_check: the account rule and the type's own
 * checks), a cron expression and an IANA time zone (common/cron.h). The
 * schedulers create its tasks (src/scheduler/schedules.c); here the
 * schedule is stored, shown, replaced, started, stopped and deleted, and
 * next_run_time is set from the DB clock whenever the schedule (re)starts. */
#include "api/router.h"
#include "api/task_json.h"
#include "common/cron.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/status.h"
#include "common/timefmt.h"
#include "scheduler/task_create.h"
#include "tasks/task_limits.h"
#include "tasks/task_type.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEDULE_COLUMNS "schedule_id, account_id, task_type, task, cron, timezone, status, create_time, " \
	"last_update_time, next_run_time, last_run_time, last_task_id, runs, missed_runs, last_error_code, " \
	"last_error_detail"

/* A schedule as the body describes it, once checked. */
struct schedule_def {
	const struct task_type *type;
	json_object *task;          /* the task's create body, defaults applied */
	const char *cron, *timezone, *account_id;
};

static json_object *member(json_object *o, const char *key)
{
	json_object *v = NULL;
	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static void reply_bad_field(struct request *req, const char *path, const char *message)
{
	char detail[1024];
	luna_error_detail(detail, sizeof(detail), E_BAD_JSON, path, message);
	reply_error(req, 400, E_BAD_JSON, detail);
}

/* A 12022 detail of the task body names its path from the body's root: here
 * the body is under "task". */
static const char *under_task(struct request *req, int code, const char *detail)
{
	const char *mark = "Path: '", *at = strstr(detail, mark);
	if (code != E_BAD_JSON || !at)
		return detail;
	size_t head = (size_t)(at - detail) + strlen(mark);
	return arena_printf(req->arena, "%.*stask.%s", (int)head, detail, detail + head);
}

/* The task body checked as POST /2/tasks/{type} checks it, its paths under
 * "task". 0, or -1 when answered. */
static int check_task_body(struct request *req, struct schedule_def *d)
{
	struct task_fail fail = {0};
	if (task_limits_check(&req->api->cfg, d->type->name, d->task, "task", &fail)) {
		reply_error(req, fail.status, fail.code, fail.detail);
		return -1;
	}
	struct schema_error se;
	if (schema_validate(req->api->spec, router_create_schema(d->type), d->task, SCHEMA_STRICT | SCHEMA_DEFAULTS,
			    &se)) {
		char path[300];
		snprintf(path, sizeof(path), se.path[0] ? "task.%s" : "task", se.path);
		reply_bad_field(req, path, se.message);
		return -1;
	}
	struct task_create tc = {.type = d->type, .body = d->task, .request_id = req->request_id};
	if (task_create_check(&req->api->cfg, req->api->db, req->arena, &tc, &fail)) {
		if (fail.code == E_DB)
			reply_db_error(req);
		else
			reply_error(req, fail.status, fail.code, under_task(req, fail.code, fail.detail));
		return -1;
	}
	json_object *acc = member(d->task, "account_id");
	d->account_id = acc ? json_object_get_string(acc) : NULL;
	return 0;
}

/* The DB clock, seconds since the epoch; -1 answered. */
static int64_t db_now(struct request *req)
{
	struct db_result r;
	int64_t us;
	if (DB_EXEC(req->api->db, req->arena, &r, "SELECT UTC_TIMESTAMP(6)") || r.nrows != 1 ||
	    time_parse_db(r.rows[0][0], &us)) {
		reply_db_error(req);
		return -1;
	}
	return us / 1000000;
}

/* The first due time after now as DB text (NULL: none), checking cron and
 * timezone on the way. 0, or -1 when answered (400 naming the field). */
static int next_run(struct request *req, const char *cron, const char *zone, const char **next)
{
	char err[256];
	int64_t now = db_now(req), t;
	if (now < 0)
		return -1;
	int rc = cron_next_in_zone(cron, zone, now, &t, err, sizeof(err));
	if (rc) {
		reply_bad_field(req, rc == -1 ? "cron" : "timezone", err);
		return -1;
	}
	if (t < 0) {
		reply_bad_field(req, "cron", "the expression matches no time within 8 years");
		return -1;
	}
	char *buf = arena_alloc(req->arena, 32);
	time_format_db(t * 1000000, buf, 32);
	*next = buf;
	return 0;
}

/* The body of POST and PUT, checked. 0, or -1 when answered. */
static int read_definition(struct request *req, struct schedule_def *d, const char **next)
{
	d->type = task_type_by_id((int)json_object_get_int(member(req->body, "task_type")));
	d->task = member(req->body, "task");
	d->cron = json_object_get_string(member(req->body, "cron"));
	d->timezone = json_object_get_string(member(req->body, "timezone"));
	if (!d->type) {
		reply_bad_field(req, "task_type", "0 is not a type of task that can be created");
		return -1;
	}
	/* The cron and time zone first: the cheapest checks, and the ones a schedule adds. */
	if (next_run(req, d->cron, d->timezone, next) || check_task_body(req, d))
		return -1;
	return 0;
}

static const char *task_text(struct schedule_def *d)
{
	return json_object_to_json_string_ext(d->task, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

void h_schedule_create(struct request *req)
{
	struct schedule_def d;
	const char *next;
	if (read_definition(req, &d, &next))
		return;
	int stopped = json_object_get_boolean(member(req->body, "create_stopped"));
	struct db_result r;
	if (DB_EXEC(req->api->db, NULL, &r,
		    "INSERT INTO schedule (account_id, task_type, task, cron, timezone, status, create_time, "
		    "last_update_time, next_run_time) VALUES (?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), ?)",
		    DBP_STR(d.account_id), DBP_I64(d.type->id), DBP_STR(task_text(&d)), DBP_STR(d.cron),
		    DBP_STR(d.timezone), DBP_I64(stopped ? SCHEDULE_STOPPED : SCHEDULE_RUNNING),
		    stopped ? DBP_NULL : DBP_STR(next))) {
		reply_db_error(req);
		return;
	}
	log_info("schedule %llu created (%s, '%s' in %s%s)", r.insert_id, d.type->name, d.cron, d.timezone,
		 stopped ? ", stopped" : "");
	json_object *o = json_object_new_object();
	json_object_object_add(o, "schedule_id", json_object_new_int64((int64_t)r.insert_id));
	reply_json(req, 201, o);
}

static json_object *schedule_json(struct request *req, char **row)
{
	json_object *o = json_object_new_object();
	json_object *task = json_tokener_parse(row[3] ? row[3] : "{}");
	json_mask_secrets(task);
	json_object_object_add(o, "schedule_id", int_or_null(row[0]));
	json_object_object_add(o, "account_id", str_or_null(row[1]));
	json_object_object_add(o, "task_type", int_or_null(row[2]));
	json_object_object_add(o, "task", task ? task : json_object_new_object());
	json_object_object_add(o, "cron", json_object_new_string(row[4]));
	json_object_object_add(o, "timezone", json_object_new_string(row[5]));
	json_object_object_add(o, "status",
			       json_object_new_string(atoi(row[6]) == SCHEDULE_RUNNING ? "running" : "stopped"));
	json_object_object_add(o, "create_time", json_time_from_db(req, row[7]));
	json_object_object_add(o, "last_update_time", json_time_from_db(req, row[8]));
	json_object_object_add(o, "next_run_time", json_time_from_db(req, row[9]));
	json_object_object_add(o, "last_run_time", json_time_from_db(req, row[10]));
	json_object_object_add(o, "last_task_id", int_or_null(row[11]));
	json_object_object_add(o, "runs", int_or_null(row[12]));
	json_object_object_add(o, "missed_runs", int_or_null(row[13]));
	json_object *err = NULL;
	if (row[14]) {
		err = json_object_new_object();
		json_object_object_add(err, "error_code", int_or_null(row[14]));
		json_object_object_add(err, "detail", json_object_new_string(row[15] ? row[15] : ""));
	}
	json_object_object_add(o, "last_error", err);
	return o;
}

static void schedule_filters(struct request *req, struct sql_build *w)
{
	where_init(w, req->arena);
	where_str(w, req, "account_id", "account_id");
	where_int(w, req, "task_type", "task_type");
	const char *status = req_param_str(req, "status");
	if (status) {
		struct db_param p = DBP_I64(strcmp(status, "running") == 0 ? SCHEDULE_RUNNING : SCHEDULE_STOPPED);
		where_add(w, "status = ?", &p, 1);
	}
}

void h_schedules_list(struct request *req)
{
	struct sql_build w, wc;
	schedule_filters(req, &w);
	schedule_filters(req, &wc);
	where_page(&w, req);
	char *sql = arena_printf(req->arena, "SELECT " SCHEDULE_COLUMNS " FROM schedule WHERE %s "
					     "ORDER BY schedule_id DESC LIMIT ? OFFSET ?", w.sql);
	char *count_sql = arena_printf(req->arena, "SELECT COUNT(*) FROM schedule WHERE %s", wc.sql);
	struct db_result r, c;
	if (db_exec(req->api->db, req->arena, sql, w.p, w.np, &r) ||
	    db_exec(req->api->db, req->arena, count_sql, wc.p, wc.np, &c) || c.nrows != 1) {
		reply_db_error(req);
		return;
	}
	json_object *list = json_object_new_array_ext((int)r.nrows);
	for (size_t i = 0; i < r.nrows; i++)
		json_object_array_add(list, schedule_json(req, r.rows[i]));
	json_object *o = json_object_new_object();
	json_object_object_add(o, "schedules", list);
	json_object_object_add(o, "count", json_object_new_int64(strtoll(c.rows[0][0], NULL, 10)));
	reply_json(req, 200, o);
}

/* The row of {schedule_id} visible to the request's account, or NULL
 * (answered: 404 28107, or 500 on a DB failure). */
static char **find_schedule(struct request *req)
{
	return find_visible(req, SCHEDULE_COLUMNS, "schedule", "schedule_id", E_SCHEDULE_NOT_FOUND);
}

/* Answers the schedule as it is now (after a change). */
static void reply_schedule(struct request *req)
{
	char **row = find_schedule(req);
	if (row)
		reply_json(req, 200, schedule_json(req, row));
}

void h_schedule_get(struct request *req)
{
	reply_schedule(req);
}

void h_schedule_replace(struct request *req)
{
	char **row = find_schedule(req);
	struct schedule_def d;
	const char *next;
	if (!row || read_definition(req, &d, &next))
		return;
	/* A client scoped to an account keeps the schedule in it. */
	const char *acc = req_account(req);
	if (acc && (!d.account_id || strcmp(acc, d.account_id))) {
		reply_bad_field(req, "task.account_id", "the task's account_id must be the account_id of the query");
		return;
	}
	int running = atoi(row[6]) == SCHEDULE_RUNNING;
	if (DB_EXEC(req->api->db, NULL, NULL,
		    "UPDATE schedule SET account_id = ?, task_type = ?, task = ?, cron = ?, timezone = ?, "
		    "next_run_time = ?, last_update_time = UTC_TIMESTAMP(6) WHERE schedule_id = ?",
		    DBP_STR(d.account_id), DBP_I64(d.type->id), DBP_STR(task_text(&d)), DBP_STR(d.cron),
		    DBP_STR(d.timezone), running ? DBP_STR(next) : DBP_NULL, DBP_I64(req->path_id))) {
		reply_db_error(req);
		return;
	}
	log_info("schedule %lld replaced (%s, '%s' in %s)", req->path_id, d.type->name, d.cron, d.timezone);
	reply_schedule(req);
}

/* PATCH {"action": "start" | "stop"}: a started schedule runs from its next
 * due time after now (a stop in between skips the due times, uncounted). */
void h_schedule_patch(struct request *req)
{
	char **row = find_schedule(req);
	if (!row)
		return;
	int start = strcmp(json_object_get_string(member(req->body, "action")), "start") == 0;
	int running = atoi(row[6]) == SCHEDULE_RUNNING;
	const char *next = NULL;
	if (start && !running && next_run(req, row[4], row[5], &next))
		return;
	if (start != running &&
	    DB_EXEC(req->api->db, NULL, NULL,
		    "UPDATE schedule SET status = ?, next_run_time = ?, last_update_time = UTC_TIMESTAMP(6) "
		    "WHERE schedule_id = ?",
		    DBP_I64(start ? SCHEDULE_RUNNING : SCHEDULE_STOPPED), start ? DBP_STR(next) : DBP_NULL,
		    DBP_I64(req->path_id))) {
		reply_db_error(req);
		return;
	}
	if (start != running)
		log_info("schedule %lld %s", req->path_id, start ? "started" : "stopped");
	reply_schedule(req);
}

void h_schedule_delete(struct request *req)
{
	if (!find_schedule(req))
		return;
	if (DB_EXEC(req->api->db, NULL, NULL, "DELETE FROM schedule WHERE schedule_id = ?", DBP_I64(req->path_id))) {
		reply_db_error(req);
		return;
	}
	log_info("schedule %lld deleted", req->path_id);
	reply_empty(req, 204);
}
