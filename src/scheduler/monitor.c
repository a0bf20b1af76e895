/* The monitor's duties on the caller's own DB connection: heartbeat, lease
 * renewal, the cancellation watch and giving work back at shutdown (the
 * liveness thread's, liveness.c), and recovery of expired leases (the main
 * thread's). None of them touches the result store. Each works on a
 * snapshot of the workers' holds taken under the lock.
 *
 * Workload: a handful of primary-key statements per tick (4 ticks a second)
 * per busy worker; recovery scans a small indexed range. */
#include "scheduler/sched.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/task_metrics.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RECOVER_BATCH 100

struct hold_snapshot {
	int index;
	enum hold_kind kind;
	long long task_id, subtask_id;
	unsigned long gen;
};

/* Copies the current holds into out[CONFIG_MAX_WORKERS] (a fixed size:
 * [SCHEDULER] WORKERS never exceeds it); returns how many. */
static int snapshot_holds(struct sched *s, struct hold_snapshot *out)
{
	int n = 0;
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->nworkers && i < CONFIG_MAX_WORKERS; i++) {
		struct worker *w = &s->workers[i];
		if (w->hold == HOLD_NONE)
			continue;
		out[n++] = (struct hold_snapshot){i, w->hold, w->hold_task, w->hold_subtask, w->hold_gen};
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* Tells a worker to stop, unless it has moved on to other work meanwhile. */
static void cancel_if_unchanged(struct sched *s, const struct hold_snapshot *h, const char *why)
{
	struct worker *w = &s->workers[h->index];
	int cancelled = 0;
	pthread_mutex_lock(&s->lock);
	if (w->hold_gen == h->gen && !atomic_load(&w->cancelled)) {
		atomic_store(&w->cancelled, 1);
		cancelled = 1;
	}
	pthread_mutex_unlock(&s->lock);
	if (cancelled)
		log_info("task %lld%s%.0lld: %s; telling worker %d to stop", h->task_id,
			 h->subtask_id ? " subtask " : "", h->subtask_id, why, h->index);
}

int sched_heartbeat(struct sched *s, struct db *mdb)
{
	return DB_EXEC(mdb, NULL, NULL,
		       "INSERT INTO scheduler_heartbeat (worker_id, host, pid, started, last_seen) "
		       "VALUES (?, ?, ?, ?, UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE host = VALUES(host), "
		       "pid = VALUES(pid), started = VALUES(started), last_seen = VALUES(last_seen)",
		       DBP_STR(s->worker_id), DBP_STR(s->host), DBP_I64(getpid()), DBP_STR(s->started));
}

void sched_heartbeat_remove(struct sched *s, struct db *mdb)
{
	if (DB_EXEC(mdb, NULL, NULL,
		    "DELETE FROM scheduler_heartbeat WHERE worker_id = ? AND pid = ?",
		    DBP_STR(s->worker_id), DBP_I64(getpid())))
		log_warn("cannot remove the heartbeat: %s", db_error(mdb));
}

int sched_renew_leases(struct sched *s, struct db *mdb)
{
	struct hold_snapshot h[CONFIG_MAX_WORKERS];
	int n = snapshot_holds(s, h);
	for (int i = 0; i < n; i++) {
		const char *sql = h[i].kind == HOLD_SUBTASK
			? "UPDATE subtask SET lease_until = UTC_TIMESTAMP(6) + INTERVAL ? SECOND "
			  "WHERE subtask_id = ? AND worker_id = ? AND subtask_status = " SQL_VAL(SUB_RUNNING)
			: "UPDATE task SET lease_until = UTC_TIMESTAMP(6) + INTERVAL ? SECOND "
			  "WHERE task_id = ? AND worker_id = ? AND task_status IN " SQL_TASKS_LEASED;
		if (DB_EXEC(mdb, NULL, NULL, sql, DBP_I64(s->cfg.lease_seconds),
			    DBP_I64(h[i].subtask_id ? h[i].subtask_id : h[i].task_id), DBP_STR(s->worker_id)))
			return -1;
	}
	return 0;
}

/* Why the holder of h must stop, or NULL while its work is still wanted. */
static const char *stop_reason(struct sched *s, struct db *mdb, struct arena *a, const struct hold_snapshot *h,
			       int *err)
{
	struct db_result r;
	*err = 0;
	if (h->kind == HOLD_SUBTASK) {
		if (DB_EXEC(mdb, a, &r,
			    "SELECT t.task_status, s.subtask_status, s.worker_id FROM subtask s "
			    "JOIN task t ON t.task_id = s.task_id WHERE s.subtask_id = ?", DBP_I64(h->subtask_id))) {
			*err = 1;
			return NULL;
		}
		if (r.nrows == 0)
			return "the task was deleted";
		if (atoi(r.rows[0][0]) != TASK_RUNNING)
			return atoi(r.rows[0][0]) == TASK_CANCELLED ? "the task was cancelled" : "the task is no longer running";
		if (atoi(r.rows[0][1]) != SUB_RUNNING || !r.rows[0][2] || strcmp(r.rows[0][2], s->worker_id) != 0)
			return "the subtask is no longer ours";
		return NULL;
	}
	if (DB_EXEC(mdb, a, &r, "SELECT task_status, worker_id FROM task WHERE task_id = ?", DBP_I64(h->task_id))) {
		*err = 1;
		return NULL;
	}
	if (r.nrows == 0)
		return "the task was deleted";
	int want = h->kind == HOLD_PLAN ? TASK_PENDING : TASK_COLLECTING;
	if (atoi(r.rows[0][0]) != want)
		return atoi(r.rows[0][0]) == TASK_CANCELLED ? "the task was cancelled" : "the task changed state";
	if (!r.rows[0][1] || strcmp(r.rows[0][1], s->worker_id) != 0)
		return "the task is no longer ours";
	return NULL;
}

int sched_watch_cancellation(struct sched *s, struct db *mdb)
{
	struct hold_snapshot h[CONFIG_MAX_WORKERS];
	int n = snapshot_holds(s, h), rc = 0;
	struct arena *a = arena_new();
	for (int i = 0; i < n; i++) {
		int err;
		const char *why = stop_reason(s, mdb, a, &h[i], &err);
		if (err) {
			rc = -1;
			break;
		}
		if (why)
			cancel_if_unchanged(s, &h[i], why);
	}
	arena_free(a);
	return rc;
}

struct recover_args {
	struct sched *s;
	long long task_id, subtask_id;
	int attempts;
	const char *worker;
	enum { REC_NONE, REC_PENDING, REC_FAILED, REC_CANCELLED } action;
};

static int recover_body(struct db *db, struct arena *a, void *ud)
{
	struct recover_args *ra = ud;
	struct db_result t, r;
	ra->action = REC_NONE;
	if (DB_EXEC(db, a, &t, "SELECT task_status, task_type FROM task WHERE task_id = ? FOR UPDATE",
		    DBP_I64(ra->task_id)))
		return TXN_ERROR;
	if (t.nrows == 0)
		return TXN_ABORT;
	int type = atoi(t.rows[0][1]);
	if (DB_EXEC(db, a, &r,
		    "SELECT attempts, worker_id FROM subtask WHERE subtask_id = ? AND subtask_status = "
		    SQL_VAL(SUB_RUNNING) " "
		    "AND lease_until < UTC_TIMESTAMP(6) FOR UPDATE", DBP_I64(ra->subtask_id)))
		return TXN_ERROR;
	if (r.nrows == 0)
		return TXN_ABORT;
	ra->attempts = atoi(r.rows[0][0]);
	ra->worker = r.rows[0][1] ? r.rows[0][1] : "?";
	if (atoi(t.rows[0][0]) != TASK_RUNNING) {
		ra->action = REC_CANCELLED;
		if (DB_EXEC(db, NULL, NULL,
			    "UPDATE subtask SET subtask_status = " SQL_VAL(SUB_CANCELLED) ", end_time = "
			    "UTC_TIMESTAMP(6), lease_until = NULL "
			    "WHERE subtask_id = ?", DBP_I64(ra->subtask_id)) ||
		    sched_count(db, METRIC_LEASE_EXPIRIES, type, "cancelled", 1))
			return TXN_ERROR;
		return TXN_COMMIT;
	}
	if (ra->attempts < ra->s->cfg.max_attempts) {
		ra->action = REC_PENDING;
		if (DB_EXEC(db, NULL, NULL,
			    "UPDATE subtask SET subtask_status = " SQL_VAL(SUB_PENDING) ", worker_id = NULL, "
			    "lease_until = NULL WHERE subtask_id = ?",
			    DBP_I64(ra->subtask_id)) ||
		    sched_count(db, METRIC_LEASE_EXPIRIES, type, "retried", 1) ||
		    sched_count(db, METRIC_SUBTASK_RETRIES, type, "lease_expired", 1))
			return TXN_ERROR;
		return TXN_COMMIT;
	}
	char detail[512];
	char why[256];
	snprintf(why, sizeof(why), "its worker (%s) stopped answering every time", ra->worker);
	luna_error_detail(detail, sizeof(detail), E_SUBTASK_ATTEMPTS, ra->subtask_id, ra->attempts, why);
	ra->action = REC_FAILED;
	if (DB_EXEC(db, NULL, NULL,
		    "UPDATE subtask SET subtask_status = " SQL_VAL(SUB_FAILED) ", end_time = UTC_TIMESTAMP(6), "
		    "lease_until = NULL WHERE subtask_id = ?",
		    DBP_I64(ra->subtask_id)) ||
	    sched_insert_error(db, ra->task_id, ra->subtask_id, E_SUBTASK_ATTEMPTS, detail) ||
	    DB_EXEC(db, NULL, NULL,
		    "UPDATE task SET count_task_parts_done = count_task_parts_done + 1, "
		    "last_update_time = UTC_TIMESTAMP(6) WHERE task_id = ?", DBP_I64(ra->task_id)) ||
	    sched_count(db, METRIC_LEASE_EXPIRIES, type, "failed", 1))
		return TXN_ERROR;
	return TXN_COMMIT;
}

static void log_recovery(const struct recover_args *ra)
{
	switch (ra->action) {
	case REC_PENDING:
		log_warn("task %lld subtask %lld: the lease of %s expired; back to pending (attempt %d of %d)",
			 ra->task_id, ra->subtask_id, ra->worker, ra->attempts, ra->s->cfg.max_attempts);
		break;
	case REC_FAILED:
		log_error("task %lld subtask %lld: the lease of %s expired after %d attempts; subtask failed",
			  ra->task_id, ra->subtask_id, ra->worker, ra->attempts);
		break;
	case REC_CANCELLED:
		log_info("task %lld subtask %lld: expired lease of a stopped task; subtask cancelled", ra->task_id,
			 ra->subtask_id);
		break;
	case REC_NONE:
		break;
	}
}

int sched_recover_expired(struct sched *s, struct db *mdb)
{
	struct arena *a = arena_new();
	struct db_result r;
	int rc = 0, recovered = 0;
	if (DB_EXEC(mdb, a, &r,
		    "SELECT subtask_id, task_id FROM subtask WHERE subtask_status = " SQL_VAL(SUB_RUNNING) " "
		    "AND lease_until < UTC_TIMESTAMP(6) ORDER BY subtask_id LIMIT ?", DBP_I64(RECOVER_BATCH))) {
		rc = -1;
		goto out;
	}
	for (size_t i = 0; i < r.nrows; i++) {
		struct recover_args ra = {.s = s, .subtask_id = atoll(r.rows[i][0]), .task_id = atoll(r.rows[i][1])};
		int t = sched_txn(mdb, a, recover_body, &ra);
		if (t == TXN_ERROR) {
			rc = -1;
			goto out;
		}
		if (t == TXN_COMMIT) {
			log_recovery(&ra);
			recovered++;
		}
	}
out:
	arena_free(a);
	if (recovered)
		sched_wake_all(s);
	return rc;
}

int sched_expire_own_leases(struct sched *s, struct db *mdb)
{
	struct db_result r1, r2;
	if (DB_EXEC(mdb, NULL, &r1,
		    "UPDATE subtask SET lease_until = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND "
		    "WHERE worker_id = ? AND subtask_status = " SQL_VAL(SUB_RUNNING), DBP_STR(s->worker_id)) ||
	    DB_EXEC(mdb, NULL, &r2,
		    "UPDATE task SET lease_until = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND "
		    "WHERE worker_id = ? AND task_status IN " SQL_TASKS_LEASED, DBP_STR(s->worker_id)))
		return -1;
	if (r1.affected || r2.affected)
		log_warn("a previous run as %s left %llu subtasks and %llu tasks leased; released them",
			 s->worker_id, r1.affected, r2.affected);
	return 0;
}

static void hand_back_one(struct sched *s, struct db *mdb, const struct hold_snapshot *h)
{
	struct db_result r;
	const char *sql = h->kind == HOLD_SUBTASK
		? "UPDATE subtask SET subtask_status = " SQL_VAL(SUB_PENDING) ", worker_id = NULL, lease_until = NULL, "
		  "attempts = GREATEST(attempts - 1, 0) WHERE subtask_id = ? AND worker_id = ? AND subtask_status = "
		  SQL_VAL(SUB_RUNNING)
		: "UPDATE task SET worker_id = NULL, lease_until = NULL, attempts = GREATEST(attempts - 1, 0) "
		  "WHERE task_id = ? AND worker_id = ? AND task_status IN " SQL_TASKS_LEASED;
	if (DB_EXEC(mdb, NULL, &r, sql, DBP_I64(h->subtask_id ? h->subtask_id : h->task_id), DBP_STR(s->worker_id))) {
		log_warn("task %lld: cannot hand back the work (its lease will expire instead): %s", h->task_id,
			 db_error(mdb));
		return;
	}
	if (r.affected)
		log_info("task %lld%s%.0lld: handed back unfinished", h->task_id, h->subtask_id ? " subtask " : "",
			 h->subtask_id);
}

void sched_hand_back(struct sched *s, struct db *mdb)
{
	struct hold_snapshot h[CONFIG_MAX_WORKERS];
	int n = snapshot_holds(s, h);
	/* The rows first, then the flags: a worker told to stop then finds its
	 * work already handed back instead of racing the hand-back to it. */
	for (int i = 0; i < n; i++)
		hand_back_one(s, mdb, &h[i]);
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < n; i++)
		atomic_store(&s->workers[h[i].index].cancelled, 1);
	pthread_mutex_unlock(&s->lock);
}
