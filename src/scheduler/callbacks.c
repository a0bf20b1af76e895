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
 * per notification a claim, one POST and one update.
 *
 * Idle cost: while nothing is due, one thread of the scheduler at a time
 * (the watcher) looks at the queue; the others wait until a look finds
 * something. The watcher's pause starts at [SCHEDULER] POLL_INTERVAL_MS and
 * doubles after each empty look up to [NOTIFICATIONS] IDLE_POLL_MAX_MS, so a
 * site without policies costs about one query per IDLE_POLL_MAX_MS per
 * scheduler, whatever THREADS is; a look that finds something brings the
 * pause back to POLL_INTERVAL_MS and wakes every thread. A status change is
 * thus sent at most IDLE_POLL_MAX_MS (plus one round) after it is committed,
 * as long as a thread is free. */
#include "scheduler/sched.h"
#include "common/log.h"
#include "common/task_metrics.h"
#include "notify/deliver.h"
#include "notify/policy.h"
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 16
#define LEASE_SLACK_S 10

/* What the delivery threads of this scheduler share while the queue is idle. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;           /* a look found something, or stop */
	int watching;                  /* a thread is the watcher */
	unsigned long long found;      /* looks that found something: waiters wake when it moves */
	int nap_ms;                    /* the watcher's next pause */
} idle = {.lock = PTHREAD_MUTEX_INITIALIZER};

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

/* 1 when this thread now holds the notification, 0 when another one does
 * or it changed since it was read (another thread's attempt: the row read is
 * stale, and its retry not due yet), -1 on a DB error. The lease outlasts
 * the attempt (timeout_s) by LEASE_SLACK_S. */
static int claim(struct deliverer *d, const char *id, const char *attempts, long timeout_s)
{
	struct db_result r;
	long long lease = timeout_s + LEASE_SLACK_S;
	if (DB_EXEC(d->db, NULL, &r,
		    "UPDATE notification SET worker_id = ?, lease_until = UTC_TIMESTAMP(6) + INTERVAL ? SECOND "
		    "WHERE notification_id = ? AND state = " SQL_VAL(NOTIFY_QUEUED) " AND attempts = ? "
		    "AND next_attempt <= UTC_TIMESTAMP(6) AND (lease_until IS NULL OR lease_until <= UTC_TIMESTAMP(6))",
		    DBP_STR(d->s->worker_id), DBP_I64(lease), DBP_STR(id), DBP_STR(attempts)))
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
	int held = claim(d, row[COL_ID], row[COL_ATTEMPTS], notify_callback_timeout(cfg, callback));
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

/* A look found due notifications: the pause is short again, and every
 * waiting thread joins in (before this one starts sending, which may take
 * up to a callback's timeout). */
static void found_work(const struct luna_config *cfg)
{
	pthread_mutex_lock(&idle.lock);
	idle.nap_ms = cfg->poll_interval_ms;
	idle.found++;
	pthread_cond_broadcast(&idle.wake);
	pthread_mutex_unlock(&idle.lock);
}

static struct timespec deadline_in(long ms)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* After a look that found nothing: the first idle thread becomes the watcher
 * and pauses (its pause doubles, up to IDLE_POLL_MAX_MS, until a look finds
 * something); the others wait until a look finds something. Both end early
 * on stop (callbacks_stop wakes them) and when another thread's look found
 * something. */
static void wait_for_work(struct deliverer *d)
{
	const struct luna_config *cfg = &d->s->cfg;
	pthread_mutex_lock(&idle.lock);
	unsigned long long seen = idle.found;
	int watcher = !idle.watching;
	struct timespec until = {0};
	if (watcher) {
		idle.watching = 1;
		until = deadline_in(idle.nap_ms);
		idle.nap_ms = idle.nap_ms * 2 < cfg->notify.idle_poll_max_ms ? idle.nap_ms * 2
									     : cfg->notify.idle_poll_max_ms;
	}
	while (idle.found == seen && !atomic_load(&d->stop)) {
		if (!watcher)
			pthread_cond_wait(&idle.wake, &idle.lock);
		else if (pthread_cond_timedwait(&idle.wake, &idle.lock, &until) == ETIMEDOUT)
			break;
	}
	if (watcher)
		idle.watching = 0;
	pthread_mutex_unlock(&idle.lock);
}

/* One pass over the due heads: how many were attempted, -1 on a DB error. */
static int delivery_round(struct deliverer *d)
{
	struct arena *a = arena_new();
	struct db_result r;
	int done = 0;
	if (due_heads(d, a, &r))
		done = -1;
	else if (r.nrows)
		found_work(&d->s->cfg);
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
		if (n < 0) {
			sched_db_failed(d->db, &d->failures, "notification delivery");
			sched_nap(&d->stop, 1000);
		} else {
			sched_db_ok(&d->failures);
			if (n == 0)
				wait_for_work(d);
		}
	}
	atomic_store(&d->exited, 1);
	return NULL;
}

/* The wake-up waits on the monotonic clock (deadline_in). */
static int idle_init(const struct luna_config *cfg)
{
	pthread_condattr_t attr;
	if (pthread_condattr_init(&attr) || pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) ||
	    pthread_cond_init(&idle.wake, &attr)) {
		log_error("cannot set up the notification delivery threads");
		return -1;
	}
	pthread_condattr_destroy(&attr);
	idle.watching = 0;
	idle.nap_ms = cfg->poll_interval_ms;
	return 0;
}

int callbacks_start(struct deliverer *d, int n, struct sched *s)
{
	http_global_init();
	if (idle_init(&s->cfg))
		return -1;
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
	int stuck = 0;
	for (int i = 0; i < n; i++)
		atomic_store(&d[i].stop, 1);
	pthread_mutex_lock(&idle.lock);
	pthread_cond_broadcast(&idle.wake);
	pthread_mutex_unlock(&idle.lock);
	for (int i = 0; i < n; i++) {
		if (!d[i].started)
			continue;
		if (sched_wait_exited(&d[i].exited, wait_us)) {
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
