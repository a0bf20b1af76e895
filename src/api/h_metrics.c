/* GET /metrics: Prometheus text exposition format 0.0.4.
 *
 * Two kinds of sources: the pool's request counters (shared memory,
 * request_metrics.h), and the tasks database, read at scrape time by the
 * functions of db_sources[] below, one per source: each runs a few grouped
 * queries over indexed columns (counts by type and status scan one index)
 * and writes its metric families. A feature
 * with metrics of its own adds one function and one line to that table.
 * Every family is written with its HELP and TYPE lines even when it has no
 * series yet. When the database does not answer, the request metrics are
 * still served and luna_tasks_database_up says 0. */
#include "api/request_metrics.h"
#include "api/router.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/status.h"
#include "common/task_metrics.h"
#include "notify/policy.h"
#include "tasks/task_type.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TYPE_ID 16
#define MAX_STATUSES 8   /* more than any status column has */

static const char *const task_status_names[] = {"pending", "in_progress", "cancelled", "failed", "collect_results",
						"done"};
static const char *const subtask_status_names[] = {"pending", "in_progress", "cancelled", "failed", "done"};
#define NTASK_STATUSES (sizeof(task_status_names) / sizeof(task_status_names[0]))
#define NSUBTASK_STATUSES (sizeof(subtask_status_names) / sizeof(subtask_status_names[0]))

static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value as the format wants it: backslash, quote and newline escaped. */
static void put_label_value(FILE *out, const char *v)
{
	for (; v && *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', out);
		if (*v == '\n') {
			fputs("\\n", out);
			continue;
		}
		fputc(*v, out);
	}
}

static int type_index(const char *cell)
{
	int id = cell ? atoi(cell) : 0;
	return id > 0 && id < MAX_TYPE_ID && task_type_by_id(id) ? id : 0;
}

/* A gauge of rows by task type and status: the query gives (type, status,
 * count); one series per type and status is written, zeros included. */
struct type_status_gauge {
	const char *name, *help, *sql;
	const char *const *status_names;
	size_t nstatuses;
};

static int put_type_status_gauge(struct request *req, FILE *out, const struct type_status_gauge *g)
{
	long long counts[MAX_TYPE_ID][MAX_STATUSES] = {{0}};
	struct db_result r;
	if (DB_EXEC(req->api->db, req->arena, &r, g->sql))
		return -1;
	for (size_t i = 0; i < r.nrows; i++) {
		int t = type_index(r.rows[i][0]);
		int st = r.rows[i][1] ? atoi(r.rows[i][1]) : -1;
		if (t && st >= 0 && (size_t)st < g->nstatuses && st < MAX_STATUSES)
			counts[t][st] = atoll(r.rows[i][2]);
	}
	family(out, g->name, "gauge", g->help);
	for (size_t k = 0; task_types[k]; k++)
		for (size_t st = 0; st < g->nstatuses; st++)
			fprintf(out, "%s{type=\"%s\",status=\"%s\"} %lld\n", g->name, task_types[k]->name,
				g->status_names[st], counts[task_types[k]->id][st]);
	return 0;
}

static int tasks_by_status(struct request *req, FILE *out)
{
	static const struct type_status_gauge g = {
		"luna_tasks_tasks", "Tasks in the database, by type and status.",
		"SELECT task_type, task_status, COUNT(*) FROM task GROUP BY task_type, task_status", task_status_names,
		NTASK_STATUSES};
	return put_type_status_gauge(req, out, &g);
}

static int schedules_by_status(struct request *req, FILE *out)
{
	static const char *const names[] = {"stopped", "running"};   /* SCHEDULE_STOPPED, SCHEDULE_RUNNING */
	static const struct type_status_gauge g = {
		"luna_tasks_schedules", "Schedules, by the type of their task and status.",
		"SELECT task_type, status, COUNT(*) FROM schedule GROUP BY task_type, status", names, 2};
	return put_type_status_gauge(req, out, &g);
}

static int subtasks_by_status(struct request *req, FILE *out)
{
	static const struct type_status_gauge g = {
		"luna_tasks_subtasks", "Subtasks in the database, by the type of their task and status.",
		"SELECT task_type, subtask_status, COUNT(*) FROM subtask GROUP BY task_type, subtask_status",
		subtask_status_names, NSUBTASK_STATUSES};
	return put_type_status_gauge(req, out, &g);
}

/* The pending subtasks are few (the queue), and the claim index leads
 * with the status. subtask.task_type is the task's (migration 009). */
static int queue_age(struct request *req, FILE *out)
{
	struct db_result r;
	double age[MAX_TYPE_ID] = {0};
	if (DB_EXEC(req->api->db, req->arena, &r,
		    "SELECT task_type, TIMESTAMPDIFF(MICROSECOND, MIN(create_time), UTC_TIMESTAMP(6)) FROM subtask "
		    "WHERE subtask_status = " SQL_VAL(SUB_PENDING) " GROUP BY task_type"))
		return -1;
	for (size_t i = 0; i < r.nrows; i++) {
		int t = type_index(r.rows[i][0]);
		if (t && r.rows[i][1])
			age[t] = atof(r.rows[i][1]) / 1e6;
	}
	family(out, "luna_tasks_oldest_pending_subtask_age_seconds", "gauge",
	       "Time since the oldest pending subtask of each task type was created; 0: none is pending.");
	for (size_t k = 0; task_types[k]; k++)
		fprintf(out, "luna_tasks_oldest_pending_subtask_age_seconds{type=\"%s\"} %.6f\n", task_types[k]->name,
			age[task_types[k]->id] > 0 ? age[task_types[k]->id] : 0);
	return 0;
}

/* The counters of metric_counter (its shards summed), in a table the
 * renderers below look into. */
struct counter_rows {
	struct db_result r;
};

/* The counters of metric (NULL: all). */
static int read_counters(struct request *req, const char *metric, struct counter_rows *c)
{
	return DB_EXEC(req->api->db, req->arena, &c->r,
		       "SELECT metric, task_type, label, SUM(value) FROM metric_counter WHERE ? IS NULL OR metric = ? "
		       "GROUP BY metric, task_type, label",
		       DBP_STR(metric), DBP_STR(metric));
}

static double counter_value(const struct counter_rows *c, const char *metric, int type, const char *label)
{
	for (size_t i = 0; i < c->r.nrows; i++) {
		char **row = c->r.rows[i];
		if (strcmp(row[0], metric) == 0 && atoi(row[1]) == type && strcmp(row[2], label) == 0)
			return atof(row[3]);
	}
	return 0;
}

static void put_duration_histogram(FILE *out, const struct counter_rows *c)
{
	family(out, "luna_tasks_subtask_duration_seconds", "histogram",
	       "Run time of the subtasks whose outcome (done or failed) a scheduler recorded, by task type.");
	for (size_t k = 0; task_types[k]; k++) {
		const struct task_type *t = task_types[k];
		double run = 0;
		for (unsigned b = 0; b <= SUBTASK_DURATION_BUCKETS; b++) {
			run += counter_value(c, METRIC_SUBTASK_DURATION, t->id, subtask_duration_labels[b]);
			fprintf(out, "luna_tasks_subtask_duration_seconds_bucket{type=\"%s\",le=\"%s\"} %.0f\n", t->name,
				subtask_duration_labels[b], run);
		}
		fprintf(out, "luna_tasks_subtask_duration_seconds_sum{type=\"%s\"} %.6f\n", t->name,
			counter_value(c, METRIC_SUBTASK_DURATION, t->id, METRIC_LABEL_SUM));
		fprintf(out, "luna_tasks_subtask_duration_seconds_count{type=\"%s\"} %.0f\n", t->name, run);
	}
}

/* A counter by task type and one more label whose values are fixed. */
static void put_counter(FILE *out, const struct counter_rows *c, const char *name, const char *help,
			const char *metric, const char *label_name, const char *const *labels)
{
	family(out, name, "counter", help);
	for (size_t k = 0; task_types[k]; k++)
		for (size_t l = 0; labels[l]; l++)
			fprintf(out, "%s{type=\"%s\",%s=\"%s\"} %.0f\n", name, task_types[k]->name, label_name, labels[l],
				counter_value(c, metric, task_types[k]->id, labels[l]));
}

static int scheduler_counters(struct request *req, FILE *out)
{
	static const char *const expiry_outcomes[] = {"retried", "failed", "cancelled", NULL};
	static const char *const retry_reasons[] = {"lease_expired", "transient_error", NULL};
	static const char *const schedule_outcomes[] = {"created", "refused", "missed", NULL};
	struct counter_rows c;
	if (read_counters(req, NULL, &c))
		return -1;
	put_duration_histogram(out, &c);
	put_counter(out, &c, "luna_tasks_lease_expiries_total",
		    "Subtask leases that expired (their scheduler stopped answering), by task type and what became "
		    "of the subtask.",
		    METRIC_LEASE_EXPIRIES, "outcome", expiry_outcomes);
	put_counter(out, &c, "luna_tasks_subtask_retries_total",
		    "Subtasks sent back to pending for another attempt, by task type and reason.", METRIC_SUBTASK_RETRIES,
		    "reason", retry_reasons);
	put_counter(out, &c, "luna_tasks_schedule_runs_total",
		    "Due times of schedules, by the type of their task and outcome: a task created, its body refused, "
		    "or missed while no scheduler ran (not run).",
		    METRIC_SCHEDULE_RUNS, "outcome", schedule_outcomes);
	return 0;
}

static int scheduler_heartbeats(struct request *req, FILE *out)
{
	struct db_result r;
	if (DB_EXEC(req->api->db, req->arena, &r,
		    "SELECT worker_id, host, pid, TIMESTAMPDIFF(MICROSECOND, last_seen, UTC_TIMESTAMP(6)), "
		    "last_seen > UTC_TIMESTAMP(6) - INTERVAL ? SECOND FROM scheduler_heartbeat ORDER BY worker_id",
		    DBP_I64(req->api->cfg.heartbeat_ttl)))
		return -1;
	long long alive = 0;
	family(out, "luna_tasks_scheduler_heartbeat_age_seconds", "gauge",
	       "Time since each scheduler's last heartbeat (a stopped one's row is removed; a dead one's stays a day).");
	for (size_t i = 0; i < r.nrows; i++) {
		char **row = r.rows[i];
		fputs("luna_tasks_scheduler_heartbeat_age_seconds{worker_id=\"", out);
		put_label_value(out, row[0]);
		fputs("\",host=\"", out);
		put_label_value(out, row[1]);
		fprintf(out, "\",pid=\"%s\"} %.6f\n", row[2] ? row[2] : "", row[3] ? atof(row[3]) / 1e6 : 0);
		alive += row[4] && atoi(row[4]);
	}
	family(out, "luna_tasks_schedulers_alive", "gauge",
	       "Schedulers whose last heartbeat is within [SCHEDULER] HEARTBEAT_TTL.");
	fprintf(out, "luna_tasks_schedulers_alive %lld\n", alive);
	return 0;
}

/* Notification callbacks (src/notify/): attempts by outcome, counted by the
 * schedulers' delivery threads, and the queue (notification.state leads an index). */
static int notifications(struct request *req, FILE *out)
{
	static const char *const outcomes[] = {"delivered", "retried", "failed", NULL};
	struct counter_rows c;
	struct db_result q;
	if (read_counters(req, METRIC_NOTIFICATION_DELIVERIES, &c) ||
	    DB_EXEC(req->api->db, req->arena, &q, "SELECT COUNT(*) FROM notification WHERE state = " SQL_VAL(NOTIFY_QUEUED)))
		return -1;
	put_counter(out, &c, "luna_tasks_notification_deliveries_total",
		    "Attempts to deliver a notification callback, by task type and outcome (delivered; retried: "
		    "failed and tried again later; failed: failed and given up).",
		    METRIC_NOTIFICATION_DELIVERIES, "outcome", outcomes);
	family(out, "luna_tasks_notifications_queued", "gauge",
	       "Notifications waiting for delivery (due, being retried, or behind an earlier one of their callback).");
	fprintf(out, "luna_tasks_notifications_queued %s\n", q.nrows && q.rows[0][0] ? q.rows[0][0] : "0");
	return 0;
}

typedef int (*metrics_source_fn)(struct request *req, FILE *out);

/* The database's sources, in the order of the answer. */
static const metrics_source_fn db_sources[] = {
	tasks_by_status,
	subtasks_by_status,
	queue_age,
	scheduler_counters,
	scheduler_heartbeats,
	schedules_by_status,
	notifications,
};
#define NSOURCES (sizeof(db_sources) / sizeof(db_sources[0]))

/* Runs the database's sources; a source that fails is left out whole (its
 * half-written families with it). 1 when all answered. */
static int put_db_sources(struct request *req, FILE *out)
{
	for (size_t i = 0; i < NSOURCES; i++) {
		char *text = NULL;
		size_t len = 0;
		FILE *part = open_memstream(&text, &len);
		if (!part)
			return 0;
		int rc = db_sources[i](req, part);
		fclose(part);
		if (rc == 0)
			fwrite(text, 1, len, out);
		free(text);
		if (rc) {
			log_warn("/metrics: the tasks database did not answer: %s", db_error(req->api->db));
			return 0;
		}
	}
	return 1;
}

void h_metrics(struct request *req)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	if (!out) {
		reply_error(req, 500, E_INTERNAL, "out of memory");
		return;
	}
	request_metrics_render(out);
	int db_up = put_db_sources(req, out);
	family(out, "luna_tasks_database_up", "gauge", "1 when the tasks database answered this scrape's queries.");
	fprintf(out, "luna_tasks_database_up %d\n", db_up);
	fclose(out);
	reply_body(req, 200, "text/plain; version=0.0.4", NULL, text, len);
	free(text);
}
