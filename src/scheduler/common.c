/* Helpers shared by the scheduler's threads: transactions retried after
 * deadlocks, error rows, the DB back-off, idling, work holds and hook contexts.
 * Workload: a few calls per work item; nothing here is on a hot path. */
#include "scheduler/sched.h"
#include "scheduler/task_host.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/redact.h"
#include "common/task_metrics.h"
#include <errno.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TXN_RETRIES 8
#define BACKOFF_MAX_MS 5000
#define THROTTLE_SLICE_MS 50
#define RETRY_DELAY_MAX_S 60
#define OUTAGE_REMINDER 30   /* log a still-failing DB every this many failures */
#define EXIT_SLICE_NS (50 * 1000000L)

static void wait_wakeup(struct sched *s, int ms, int idle, unsigned long gen);

/* A short random pause before a retried transaction, so two retrying
 * schedulers do not collide again in lockstep. */
static void pause_before_retry(int attempt)
{
	unsigned ms = 5u + (unsigned)(rand() % 20) * (unsigned)(attempt + 1);
	struct timespec ts = {0, (long)ms * 1000000L};
	nanosleep(&ts, NULL);
}

int sched_txn(struct db *db, struct arena *a, txn_body_fn body, void *ud)
{
	for (int attempt = 0;; attempt++) {
		if (db_begin(db))
			return TXN_ERROR;
		int rc = body(db, a, ud);
		if (rc == TXN_COMMIT && db_commit(db) == 0)
			return TXN_COMMIT;
		if (rc == TXN_ABORT) {
			db_rollback(db);
			return TXN_ABORT;
		}
		int retry = db_error_is_retryable(db) && attempt < TXN_RETRIES;
		if (retry)
			log_debug("transaction retried after: %s", db_error(db));
		db_rollback(db);
		if (!retry)
			return TXN_ERROR;
		pause_before_retry(attempt);
	}
}

/* The row itself; the caller has counted it in task.error_count. */
static int insert_error_row(struct db *db, long long task_id, long long subtask_id, int code, const char *detail)
{
	const struct luna_error_def *def = luna_error_def(code);
	char *clean = url_redact_dup(detail ? detail : def->detail_fmt);   /* no URL credentials in error rows */
	int rc = DB_EXEC(db, NULL, NULL,
			 "INSERT INTO task_error (task_id, subtask_id, error_code, description, detail, error_time) "
			 "VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(6))",
			 DBP_I64(task_id), DBP_I64(subtask_id), DBP_I64(def->code), DBP_STR(def->desc),
			 DBP_STR(clean ? clean : def->desc));
	free(clean);
	return rc;
}

int sched_insert_error(struct db *db, long long task_id, long long subtask_id, int code, const char *detail)
{
	if (DB_EXEC(db, NULL, NULL,
		    "UPDATE task SET error_count = error_count + 1 WHERE task_id = ?", DBP_I64(task_id)))
		return -1;
	return insert_error_row(db, task_id, subtask_id, code, detail);
}

int sched_all_subtasks_ended(struct db *db, struct arena *a, long long task_id, int *ended)
{
	struct db_result r;
	if (DB_EXEC(db, a, &r,
		    "SELECT COUNT(*) FROM subtask WHERE task_id = ? AND subtask_status IN " SQL_SUBTASKS_UNFINISHED,
		    DBP_I64(task_id)))
		return -1;
	*ended = r.nrows && atoll(r.rows[0][0]) == 0;
	return 0;
}

/* A failed subtask row standing for the planning or collecting step, so the
 * step's error names a subtask that exists; the part counters count it like
 * any finished subtask. Its id, or 0 on a DB error. */
static long long insert_stage_subtask(struct db *db, long long task_id, const char *stage)
{
	char buf[64];
	const char *content = buf;
	snprintf(buf, sizeof(buf), "{\"stage\":\"%s\"}", stage);
	struct db_result r;
	if (DB_EXEC(db, NULL, &r,
		    "INSERT INTO subtask (task_id, subtask_status, content, create_time, end_time) "
		    "VALUES (?, " SQL_VAL(SUB_FAILED) ", ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
		    DBP_I64(task_id), DBP_STR(content)))
		return 0;
	if (DB_EXEC(db, NULL, NULL,
		    "UPDATE task SET count_task_parts_all = (SELECT COUNT(*) FROM subtask WHERE task_id = ?), "
		    "count_task_parts_done = (SELECT COUNT(*) FROM subtask WHERE task_id = ? AND subtask_status IN "
		    SQL_SUBTASKS_ENDED ") "
		    "WHERE task_id = ?", DBP_I64(task_id), DBP_I64(task_id), DBP_I64(task_id)))
		return 0;
	return (long long)r.insert_id;
}

int sched_stage_error(struct db *db, long long task_id, const char *stage, int code, const char *detail)
{
	long long subtask_id = insert_stage_subtask(db, task_id, stage);
	return subtask_id ? sched_insert_error(db, task_id, subtask_id, code, detail) : -1;
}

int sched_fail_task(struct db *db, long long task_id, const char *stage, int code, const char *detail)
{
	if (sched_stage_error(db, task_id, stage, code, detail))
		return -1;
	return DB_EXEC(db, NULL, NULL,
		       "UPDATE task SET task_status = " SQL_VAL(TASK_FAILED) ", end_time = UTC_TIMESTAMP(6), "
		       "last_update_time = UTC_TIMESTAMP(6), "
		       "worker_id = NULL, lease_until = NULL WHERE task_id = ?", DBP_I64(task_id));
}

int sched_take_task(struct sched *s, struct db *db, long long task_id, int attempts, const char *phase,
		    int collecting, int *gave_up)
{
	if (attempts >= s->cfg.max_attempts) {
		char detail[256];
		snprintf(detail, sizeof(detail), "%s of task %lld was interrupted %d times; giving up", phase, task_id,
			 attempts);
		*gave_up = 1;
		return sched_fail_task(db, task_id, collecting ? STAGE_COLLECTING : STAGE_PLANNING, E_INTERNAL, detail)
			       ? TXN_ERROR
			       : TXN_COMMIT;
	}
	const char *sql = collecting
		? "UPDATE task SET task_status = " SQL_VAL(TASK_COLLECTING) ", worker_id = ?, lease_until = "
		  "UTC_TIMESTAMP(6) + INTERVAL ? SECOND, "
		  "attempts = attempts + 1, last_update_time = UTC_TIMESTAMP(6) WHERE task_id = ?"
		: "UPDATE task SET worker_id = ?, lease_until = UTC_TIMESTAMP(6) + INTERVAL ? SECOND, "
		  "attempts = attempts + 1 WHERE task_id = ?";
	return DB_EXEC(db, NULL, NULL,
		       sql,
		       DBP_STR(s->worker_id), DBP_I64(s->cfg.lease_seconds), DBP_I64(task_id)) ? TXN_ERROR : TXN_COMMIT;
}

const char *sched_db_hint(struct db *db)
{
	unsigned e = db_errno(db);
	return e == ER_NO_SUCH_TABLE || e == ER_BAD_FIELD_ERROR
		       ? " (is the schema up to date? run luna-tasks-admin db migrate)"
		       : "";
}

void sched_db_failed(struct db *db, int *failures, const char *what)
{
	if (*failures == 0)
		log_warn("%s: database error %u: %s%s; retrying", what, db_errno(db), db_error(db), sched_db_hint(db));
	else if (*failures % OUTAGE_REMINDER == 0)
		log_warn("%s: the database still fails (%d times): %s", what, *failures, db_error(db));
	(*failures)++;
}

void sched_db_trouble(struct sched *s, struct db *db, int *failures, const char *what)
{
	sched_db_failed(db, failures, what);
	int shift = *failures < 6 ? *failures : 6;
	int ms = 100 << shift;
	wait_wakeup(s, ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS, 0, 0);
}

void sched_db_ok(int *failures)
{
	if (*failures)
		log_info("the database answers again after %d failed attempts", *failures);
	*failures = 0;
}

/* Waits on the wake-up condition for up to ms; when the scheduler stops,
 * an idle wait returns at once, a back-off still waits (it must not spin).
 * An idle wait does not start when a wake-up came after gen was read. */
static void wait_wakeup(struct sched *s, int ms, int idle, unsigned long gen)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->lock);
	if (!idle || (!atomic_load(&s->stopping) && s->wake_gen == gen))
		pthread_cond_timedwait(&s->wake, &s->lock, &until);
	pthread_mutex_unlock(&s->lock);
}

int sched_idle(struct sched *s, int ms, unsigned long gen)
{
	wait_wakeup(s, ms, 1, gen);
	return sched_wake_gen(s) != gen;
}

unsigned long sched_wake_gen(struct sched *s)
{
	pthread_mutex_lock(&s->lock);
	unsigned long gen = s->wake_gen;
	pthread_mutex_unlock(&s->lock);
	return gen;
}

void sched_wake_all(struct sched *s)
{
	pthread_mutex_lock(&s->lock);
	s->wake_gen++;
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

void sched_set_hold(struct worker *w, enum hold_kind kind, long long task_id, long long subtask_id)
{
	pthread_mutex_lock(&w->s->lock);
	w->hold = kind;
	w->hold_task = task_id;
	w->hold_subtask = subtask_id;
	w->hold_gen++;
	atomic_store(&w->cancelled, 0);
	pthread_mutex_unlock(&w->s->lock);
}

/* Into the shard of this connection (sql/tasks/011): concurrent events on
 * other connections lock other rows. */
int sched_count(struct db *db, const char *metric, int task_type, const char *label, double value)
{
	return DB_EXEC(db, NULL, NULL,
		       "INSERT INTO metric_counter (metric, task_type, label, shard, value) "
		       "VALUES (?, ?, ?, CONNECTION_ID() MOD " SQL_VAL(METRIC_SHARDS) ", ?) "
		       "ON DUPLICATE KEY UPDATE value = value + VALUES(value)",
		       DBP_STR(metric), DBP_I64(task_type), DBP_STR(label), DBP_DBL(value));
}

int sched_count_subtask_duration(struct db *db, int task_type, double seconds)
{
	const char *bucket = subtask_duration_labels[subtask_duration_bucket(seconds)];
	return sched_count(db, METRIC_SUBTASK_DURATION, task_type, bucket, 1) ||
	       sched_count(db, METRIC_SUBTASK_DURATION, task_type, METRIC_LABEL_SUM, seconds);
}

int sched_failure_is_transient(const struct task_fail *fail)
{
	return fail->code == E_DB;
}

int sched_retry_delay(int attempts)
{
	int shift = attempts < 6 ? (attempts > 0 ? attempts : 1) : 6;
	return (1 << shift) < RETRY_DELAY_MAX_S ? 1 << shift : RETRY_DELAY_MAX_S;
}

int sched_defer_task(struct worker *w, long long task_id, int status, int delay_s)
{
	struct db_result r;
	if (DB_EXEC(w->db, NULL, &r,
		    "UPDATE task SET lease_until = UTC_TIMESTAMP(6) + INTERVAL ? SECOND "
		    "WHERE task_id = ? AND worker_id = ? AND task_status = ?",
		    DBP_I64(delay_s), DBP_I64(task_id), DBP_STR(w->s->worker_id), DBP_I64(status)))
		return -1;
	return r.affected ? 1 : 0;
}

void sched_release_task(struct worker *w, long long task_id)
{
	if (DB_EXEC(w->db, NULL, NULL,
		    "UPDATE task SET worker_id = NULL, lease_until = NULL, attempts = GREATEST(attempts - 1, 0) "
		    "WHERE task_id = ? AND worker_id = ? AND task_status IN " SQL_TASKS_LEASED,
		    DBP_I64(task_id), DBP_STR(w->s->worker_id)))
		log_warn("task %lld: cannot give up the lease (it will expire instead): %s", task_id, db_error(w->db));
}

struct report_args {
	const struct task_ctx *ctx;
	int code;
	const char *detail;
};

/* Counts the error on the task row (locking it first, like every
 * transaction on a task) only while the task has fewer than MAX_ERRORS;
 * the row goes in only when it was counted. One primary-key update and one
 * insert, whatever the number of errors the task already has. */
static int report_body(struct db *db, struct arena *a, void *ud)
{
	const struct report_args *ra = ud;
	struct db_result r;
	(void)a;
	if (DB_EXEC(db, NULL, &r,
		    "UPDATE task SET error_count = error_count + 1 WHERE task_id = ? AND error_count < ?",
		    DBP_I64(ra->ctx->task_id), DBP_I64(ra->ctx->cfg->max_errors)))
		return TXN_ERROR;
	if (r.affected == 0)
		return TXN_ABORT;   /* MAX_ERRORS reached, or the task is gone */
	if (insert_error_row(db, ra->ctx->task_id, ra->ctx->subtask_id, ra->code, ra->detail))
		return TXN_ERROR;
	return TXN_COMMIT;
}

/* task_host.error: a row that does not stop the work (e.g. one bad image),
 * kept while the task has fewer than [TASKS] MAX_ERRORS of them. Only subtask
 * hooks report such errors: plan and collect hooks fail through their `fail`
 * argument, which becomes the error of the step's own subtask row. */
static int host_report_error(const struct task_ctx *ctx, int code, const char *detail)
{
	if (!ctx->subtask_id) {
		log_error("task %lld: error %d reported outside a subtask, not recorded: %s", ctx->task_id, code,
			  detail ? detail : "");
		return -1;
	}
	struct report_args ra = {ctx, code, detail};
	if (sched_txn(ctx->tasks_db, NULL, report_body, &ra) != TXN_ERROR)
		return 0;
	log_warn("task %lld: cannot record error %d (%s): %s", ctx->task_id, code, detail ? detail : "",
		 db_error(ctx->tasks_db));
	return -1;
}

static int host_created_handler(const struct task_ctx *ctx, char id[37])
{
	struct db_result r;
	if (DB_EXEC(ctx->tasks_db, ctx->arena, &r,
		    "SELECT created_handler_id FROM task WHERE task_id = ?", DBP_I64(ctx->task_id)))
		return -1;
	if (r.nrows == 0 || !r.rows[0][0] || strlen(r.rows[0][0]) != 36)
		return 0;
	memcpy(id, r.rows[0][0], 37);
	return 1;
}

static int host_record_created_handler(const struct task_ctx *ctx, char id[37])
{
	struct db_result r;
	char theirs[37];
	if (DB_EXEC(ctx->tasks_db, NULL, &r,
		    "UPDATE task SET created_handler_id = ? WHERE task_id = ? AND created_handler_id IS NULL",
		    DBP_STR(id), DBP_I64(ctx->task_id)))
		return -1;
	if (r.affected || host_created_handler(ctx, theirs) <= 0)
		return 0;   /* recorded; or the task is gone and the plan will be dropped */
	log_warn("task %lld: another planning attempt created handler %s first; using it (handler %s stays unused)",
		 ctx->task_id, theirs, id);
	memcpy(id, theirs, 37);
	return 0;
}

/* The scheduler's host: the reads every host offers, and the writes. */
const struct task_host sched_task_host = {
	.report_error = host_report_error,
	.created_handler = host_created_handler,
	.record_created_handler = host_record_created_handler,
	.lookup_task = task_host_lookup_task,
	.subtask_ids = task_host_subtask_ids,
	.errors_json = task_host_errors_json,
	.is_task_result = task_host_is_task_result,
};

void sched_ctx_init(struct worker *w, struct task_ctx *ctx, struct arena *a, long long task_id,
		    long long subtask_id, const char *account_id, const char *request_id)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->cfg = &w->s->cfg;
	ctx->arena = a;
	ctx->tasks_db = w->db;
	ctx->objects = w->objects;
	ctx->store = w->store;
	ctx->task_id = task_id;
	ctx->subtask_id = subtask_id;
	ctx->account_id = account_id;
	ctx->request_id = request_id;
	ctx->cancelled = &w->cancelled;
	ctx->host = &sched_task_host;
}

void sched_nap(atomic_int *stop, int ms)
{
	for (int left = ms; left > 0 && !atomic_load(stop); left -= THROTTLE_SLICE_MS) {
		int slice = left < THROTTLE_SLICE_MS ? left : THROTTLE_SLICE_MS;
		struct timespec ts = {0, (long)slice * 1000000L};
		nanosleep(&ts, NULL);
	}
}

int sched_wait_exited(atomic_int *exited, long long wait_us)
{
	struct timespec slice = {0, EXIT_SLICE_NS};
	for (long long waited = 0; !atomic_load(exited) && waited < wait_us; waited += EXIT_SLICE_NS / 1000)
		nanosleep(&slice, NULL);
	return atomic_load(exited) ? 0 : -1;
}

static void *rounds_main(void *arg)
{
	struct sched_rounds *r = arg;
	int failures = 0;
	while (!atomic_load(&r->stop)) {
		if (r->round(r->owner) == 0)
			sched_db_ok(&failures);
		else
			sched_db_failed(r->db, &failures, r->what);
		sched_nap(&r->stop, r->round_ms);
	}
	atomic_store(&r->exited, 1);
	return NULL;
}

int sched_rounds_open(struct sched_rounds *r, struct sched *s)
{
	memset(r, 0, sizeof(*r));
	r->s = s;
	return (r->db = db_open(&s->cfg.tasks_db)) ? 0 : -1;
}

int sched_rounds_start(struct sched_rounds *r, const char *what, int round_ms, int (*round)(void *), void *owner)
{
	r->what = what;
	r->round_ms = round_ms;
	r->round = round;
	r->owner = owner;
	if (pthread_create(&r->thread, NULL, rounds_main, r)) {
		log_error("cannot start the %s thread: %s", what, strerror(errno));
		return -1;
	}
	r->started = 1;
	return 0;
}

int sched_rounds_stop(struct sched_rounds *r, long long wait_us)
{
	if (!r->started)
		return 0;
	atomic_store(&r->stop, 1);
	if (sched_wait_exited(&r->exited, wait_us))
		return -1;
	pthread_join(r->thread, NULL);
	r->started = 0;
	db_close(r->db);
	return 0;
}

void sched_throttle(struct worker *w, int ms)
{
	sched_nap(&w->cancelled, ms);
}

static void put_json(void *obj)
{
	json_object_put(obj);
}

json_object *sched_own_json(struct arena *a, json_object *o)
{
	if (o)
		arena_defer(a, put_json, o);
	return o;
}

json_object *sched_parse_json(struct arena *a, const char *text)
{
	return text ? sched_own_json(a, json_tokener_parse(text)) : NULL;
}
