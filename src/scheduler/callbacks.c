/* The delivery threads of notification callbacks ([NOTIFICATIONS] THREADS
 * per scheduler). Each has its own DB connection and its own HTTP
 * connection, and only reads and writes the notification table (plus the
 * rows a notification names): a receiver that is down or slow holds up its
 * own thread for at most the callback's timeout, never a worker, a lease
 * or the heartbeat.
 *
 * A notification is sent only when every earlier one of its callback is
 * delivered or failed (the head of the callback's queue), so a receiver
 * hears of a task's status changes in the order they happened, also while
 * one is being retried. Claiming is one conditional primary-key UPDATE
 * (state queued, lease free), so any number of threads and schedulers
 * share the queue; a scheduler that dies mid-delivery leaves a lease that
 * runs out, and the notification is sent again (at least once). Failed
 * attempts are retried after 1, 2, 4, ... s (at most RETRY_MAX_SECONDS),
 * up to MAX_ATTEMPTS; the outcome of each stays on the row (the delivery
 * log of GET /2/tasks/{task_id}/notifications).
 *
 * Workload: one indexed scan of at most BATCH queue heads per round, then
 * per notification a claim, one POST and one update. */
#include "scheduler/sched.h"
#include "common/log.h"
#include "common/task_metrics.h"
#include "notify/deliver.h"
#include "notify/policy.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 16
#define LEASE_SLACK_S 10
#define SLICE_NS (50 * 1000000L)

enum { COL_ID, COL_TASK, COL_SUBTASK, COL_STATUS, COL_EVENT_TIME, COL_END_TIME, COL_DONE, COL_ALL, COL_RESULT,
       COL_ATTEMPTS, COL_CALLBACK, COL_TYPE, COL_CREATE_TIME };

/* The heads of the callbacks' queues that are due and not leased. */
static int due_heads(struct deliverer *d, struct arena *a, struct db_result *r)
{
	return DB_EXEC(d->db, a, r,
		       "SELECT n.notification_id, n.task_id, n.subtask_id, n.status, n.event_time, n.end_time, "
		       "n.parts_done, n.parts_all, n.result_id, n.attempts, c.callback, t.task_type, "
		       "COALESCE(s.create_time, t.create_time) "
		       "FROM notification n JOIN task_callback c ON c.callback_id = n.callback_id "
		       "JOIN task t ON t.task_id = n.task_id LEFT JOIN subtask s ON s.subtask_id = n.subtask_id "
		       "WHERE n.state = " SQL_VAL(NOTIFY_QUEUED) " AND n.next_attempt <= UTC_TIMESTAMP(6) "
		       "AND (n.lease_until IS NULL OR n.lease_until <= UTC_TIMESTAMP(6)) "
		       "AND NOT EXISTS (SELECT 1 FROM notification p WHERE p.callback_id = n.callback_id "
		       "AND p.state = " SQL_VAL(NOTIFY_QUEUED) " AND p.notification_id < n.notification_id) "
		       "ORDER BY n.notification_id LIMIT ?",
		       DBP_I64(BATCH));
}

/* 1 when this thread now holds the notification, 0 when another one does,
 * -1 on a DB error. The lease outlasts the attempt (timeout_s) by LEASE_SLACK_S. */
static int claim(struct deliverer *d, const char *id, long timeout_s)
{
	struct db_result r;
	long long lease = timeout_s + LEASE_SLACK_S;
	if (DB_EXEC(d->db, NULL, &r,
		    "UPDATE notification SET worker_id = ?, lease_until = UTC_TIMESTAMP(6) + INTERVAL ? SECOND "
		    "WHERE notification_id = ? AND state = " SQL_VAL(NOTIFY_QUEUED) " "
		    "AND (lease_until IS NULL OR lease_until <= UTC_TIMESTAMP(6))",
		    DBP_STR(d->s->worker_id), DBP_I64(lease), DBP_STR(id)))
		return -1;
	return r.affected == 1;
}

/* How an attempt ended, for the row and for the counter of GET /metrics. */
struct attempt {
	struct deliverer *d;
	const char *id;
	int task_type, attempts;
	const char *outcome;           /* "delivered", "retried" or "failed" */
	const struct notify_outcome *o;
};

/* The attempt's outcome on the row we still hold, and its count in
 * metric_counter, in one transaction (nothing is counted when another
 * scheduler took the row over meanwhile). */
static int record_attempt(struct db *db, struct arena *a, void *ud)
{
	(void)a;
	const struct attempt *at = ud;
	const struct luna_config *cfg = &at->d->s->cfg;
	int delivered = strcmp(at->outcome, "delivered") == 0, failed = strcmp(at->outcome, "failed") == 0;
	struct db_result r;
	if (DB_EXEC(db, NULL, &r,
		    "UPDATE notification SET attempts = ?, http_status = ?, last_error = ?, state = ?, "
		    "next_attempt = IF(?, next_attempt, UTC_TIMESTAMP(6) + INTERVAL ? SECOND), "
		    "done_time = IF(?, UTC_TIMESTAMP(6), NULL), worker_id = NULL, lease_until = NULL "
		    "WHERE notification_id = ? AND worker_id = ?",
		    DBP_I64(at->attempts), at->o->http_status ? DBP_I64(at->o->http_status) : DBP_NULL,
		    delivered ? DBP_NULL : DBP_STR(at->o->error),
		    DBP_I64(delivered ? NOTIFY_DELIVERED : failed ? NOTIFY_FAILED : NOTIFY_QUEUED), DBP_I64(delivered),
		    DBP_I64(notify_retry_delay(cfg, at->attempts)), DBP_I64(delivered || failed), DBP_STR(at->id),
		    DBP_STR(at->d->s->worker_id)))
		return TXN_ERROR;
	if (r.affected == 0)
		return TXN_COMMIT;
	return sched_count(db, METRIC_NOTIFICATION_DELIVERIES, at->task_type, at->outcome, 1) ? TXN_ERROR : TXN_COMMIT;
}

static struct notify_event event_of(char **row)
{
	return (struct notify_event){
		.notification_id = row[COL_ID], .task_id = row[COL_TASK], .subtask_id = row[COL_SUBTASK],
		.task_type = row[COL_TYPE], .status = row[COL_STATUS], .create_time = row[COL_CREATE_TIME],
		.event_time = row[COL_EVENT_TIME], .end_time = row[COL_END_TIME], .parts_done = row[COL_DONE],
		.parts_all = row[COL_ALL], .result_id = row[COL_RESULT],
	};
}

/* One attempt at the notification of row; -1 on a DB error. */
static int deliver(struct deliverer *d, char **row)
{
	const struct luna_config *cfg = &d->s->cfg;
	json_object *callback = json_tokener_parse(row[COL_CALLBACK]);
	int held = claim(d, row[COL_ID], notify_callback_timeout(cfg, callback));
	if (held <= 0) {
		json_object_put(callback);
		return held;
	}
	struct notify_event ev = event_of(row);
	json_object *body = notify_body(cfg, &ev);
	struct notify_outcome o = {0};
	int attempts = atoi(row[COL_ATTEMPTS]) + 1, rc;
	struct attempt at = {.d = d, .id = row[COL_ID], .task_type = atoi(row[COL_TYPE]), .attempts = attempts,
			     .outcome = "delivered", .o = &o};
	if (callback && notify_send(d->conn, cfg, callback, json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN),
				    &d->stop, &o) == 0) {
		log_debug("notification %s of task %s delivered (HTTP %ld)", ev.notification_id, ev.task_id,
			  o.http_status);
	} else {
		if (!callback)
			snprintf(o.error, sizeof(o.error), "the stored callback is not JSON");
		at.outcome = attempts >= cfg->notify.max_attempts ? "failed" : "retried";
		if (attempts >= cfg->notify.max_attempts)
			log_error("notification %s of task %s failed after %d attempts: %s", ev.notification_id,
				  ev.task_id, attempts, o.error);
		else
			log_warn("notification %s of task %s, attempt %d: %s", ev.notification_id, ev.task_id, attempts,
				 o.error);
	}
	rc = sched_txn(d->db, NULL, record_attempt, &at) == TXN_ERROR ? -1 : 0;
	json_object_put(callback);
	json_object_put(body);
	return rc;
}

/* One pass over the due heads: how many were attempted, -1 on a DB error. */
static int delivery_round(struct deliverer *d)
{
	struct arena *a = arena_new();
	struct db_result r;
	int done = 0;
	if (due_heads(d, a, &r))
		done = -1;
	for (size_t i = 0; done >= 0 && i < r.nrows && !atomic_load(&d->stop); i++) {
		if (deliver(d, r.rows[i]) < 0)
			done = -1;
		else
			done++;
	}
	arena_free(a);
	return done;
}

static void *deliverer_main(void *arg)
{
	struct deliverer *d = arg;
	while (!atomic_load(&d->stop)) {
		int n = delivery_round(d);
		if (n < 0)
			sched_db_failed(d->db, &d->failures, "notification delivery");
		else
			sched_db_ok(&d->failures);
		if (n <= 0)
			sched_nap(&d->stop, n < 0 ? 1000 : d->s->cfg.poll_interval_ms);
	}
	atomic_store(&d->exited, 1);
	return NULL;
}

int callbacks_start(struct deliverer *d, int n, struct sched *s)
{
	http_global_init();
	for (int i = 0; i < n; i++) {
		memset(&d[i], 0, sizeof(d[i]));
		d[i].s = s;
		if (!(d[i].db = db_open(&s->cfg.tasks_db)) || !(d[i].conn = http_conn_new()))
			return -1;
		if (pthread_create(&d[i].thread, NULL, deliverer_main, &d[i])) {
			log_error("cannot start a notification delivery thread: %s", strerror(errno));
			return -1;
		}
		d[i].started = 1;
	}
	return 0;
}

int callbacks_stop(struct deliverer *d, int n, long long wait_us)
{
	struct timespec slice = {0, SLICE_NS};
	int stuck = 0;
	for (int i = 0; i < n; i++)
		atomic_store(&d[i].stop, 1);
	for (int i = 0; i < n; i++) {
		if (!d[i].started)
			continue;
		for (long long waited = 0; !atomic_load(&d[i].exited) && waited < wait_us; waited += SLICE_NS / 1000)
			nanosleep(&slice, NULL);
		if (!atomic_load(&d[i].exited)) {
			stuck++;   /* left behind, like a stuck worker */
			continue;
		}
		pthread_join(d[i].thread, NULL);
		d[i].started = 0;
		http_conn_free(d[i].conn);
		db_close(d[i].db);
	}
	return stuck;
}
