/* Schedules (their own thread, every second): each schedule whose next run
 * time has come gets its task, checked and created as a client's POST
 * would be, and moves next_run_time on. Two steps per due time:
 * - outside any transaction: the due row is read (skipping one another
 *   scheduler holds) and its task checked, which may call out (an
 *   estimator's handler is looked up in the handlers service, up to its
 *   timeout), so no transaction stays open across a call;
 * - one transaction that takes the row again (FOR UPDATE SKIP LOCKED) only
 *   if it is unchanged since it was read (same next_run_time and
 *   last_update_time: still due for the same time, not edited meanwhile),
 *   stores the task (or the refusal) and moves next_run_time on.
 * So a due time gives exactly one task across any number of schedulers
 * (also backed by the unique key task (schedule_id, schedule_time)); a
 * scheduler that lost the row to another, or read it before an edit, drops
 * its check and reads the next due row; one that dies mid-way leaves the row
 * to the next one. The checks create nothing outside the database (an
 * estimator's new handler is created when its task is planned), so a
 * dropped check leaves nothing behind. A schedule whose due times passed
 * while no scheduler ran runs once, for the latest of them, and counts the
 * others in missed_runs (logged), instead of catching up.
 * The thread has its own DB connection: a check waiting on the handlers
 * service (up to [HANDLERS] TIMEOUT) delays the next schedule only, never
 * the main thread's recovery of expired leases nor the liveness thread.
 * Workload: one indexed SELECT per second when nothing is due; per run the
 * task's checks, one zone file read, a few cron searches and four
 * statements. */
#include "scheduler/sched.h"
#include "scheduler/task_create.h"
#include "common/cron.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/task_metrics.h"
#include "common/uuid.h"
#include "common/timefmt.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNS_PER_ROUND 100
#define ROUND_MS 1000
/* Due times counted one by one after an outage; past this many the rest are
 * counted as one (a schedule every minute after a week away). */
#define MISSED_COUNT_MAX 100000

/* A due schedule as read before its transaction (row: schedule_id,
 * task_type, task, next_run_time, last_update_time), with its task checked. */
struct schedule_run {
	char **row;
	struct task_create tc;
	int refused;                 /* the checks refused the task: fail says why */
	struct task_fail fail;
	int lost;                    /* another scheduler took the row, or it changed */
};

/* The latest due time <= now from due on (*missed: the ones skipped), and
 * the one after now. */
static void plan_run(const struct cron *c, const struct tz_zone *z, int64_t due, int64_t now, int64_t *run_for,
		     long long *missed, int64_t *next)
{
	*run_for = due;
	*missed = 0;
	int64_t t = cron_next(c, z, due);
	while (t >= 0 && t <= now && *missed < MISSED_COUNT_MAX) {
		*run_for = t;
		++*missed;
		t = cron_next(c, z, t);
	}
	if (t >= 0 && t <= now) {
		*run_for = t;
		t = cron_next(c, z, now);
	}
	*next = t;
}

static const char *db_time(struct arena *a, int64_t sec)
{
	if (sec < 0)
		return NULL;
	char *buf = arena_alloc(a, 32);
	time_format_db(sec * 1000000, buf, 32);
	return buf;
}

/* Stores the checked task of run for schedule row f (schedule_id,
 * task_type, cron, timezone, next_run_time, now; held) and moves the
 * schedule on. */
static int run_schedule(struct db *db, struct arena *a, struct schedule_run *run, char **f)
{
	long long id = strtoll(f[0], NULL, 10);
	int64_t due_us, now_us;
	struct cron c;
	char err[256];
	struct tz_zone *z = tz_load(f[3]);
	if (time_parse_db(f[4], &due_us) || time_parse_db(f[5], &now_us) || cron_parse(f[2], &c, err, sizeof(err)) ||
	    !z) {
		/* The API checked all of these; a row edited by hand stops here. */
		log_error("schedule %lld: cannot read its cron expression or time zone; stopping it", id);
		tz_free(z);
		return DB_EXEC(db, NULL, NULL,
			       "UPDATE schedule SET status = " SQL_VAL(SCHEDULE_STOPPED) ", next_run_time = NULL "
			       "WHERE schedule_id = ?", DBP_I64(id)) ? TXN_ERROR : TXN_COMMIT;
	}
	int64_t run_for, next;
	long long missed;
	plan_run(&c, z, due_us / 1000000, now_us / 1000000, &run_for, &missed, &next);
	tz_free(z);
	if (missed)
		log_warn("schedule %lld: %lld due time%s passed while no scheduler ran; running once, for %s", id, missed,
			 missed == 1 ? "" : "s", db_time(a, run_for));
	run->tc.schedule_time = db_time(a, run_for);
	struct task_fail fail = run->fail;
	long long task_id = 0;
	int rc = run->refused ? -1 : task_create_store(db, &run->tc, &task_id, &fail);
	if (rc && !run->refused)
		return TXN_ERROR;   /* E_DB: the transaction is retried or the round ends */
	if (rc)
		log_warn("schedule %lld: its task was refused (%d): %s", id, fail.code, fail.detail);
	int type_id = atoi(f[1]);
	if (DB_EXEC(db, NULL, NULL,
		    "UPDATE schedule SET next_run_time = ?, last_run_time = ?, last_task_id = ?, runs = runs + ?, "
		    "missed_runs = missed_runs + ?, last_error_code = ?, last_error_detail = ? WHERE schedule_id = ?",
		    DBP_STR(db_time(a, next)), DBP_STR(db_time(a, run_for)), rc ? DBP_NULL : DBP_I64(task_id),
		    DBP_I64(rc ? 0 : 1), DBP_I64(missed), rc ? DBP_I64(fail.code) : DBP_NULL,
		    rc ? DBP_STR(fail.detail) : DBP_NULL, DBP_I64(id)) ||
	    sched_count(db, METRIC_SCHEDULE_RUNS, type_id, rc ? "refused" : "created", 1) ||
	    (missed && sched_count(db, METRIC_SCHEDULE_RUNS, type_id, "missed", (double)missed)))
		return TXN_ERROR;
	return TXN_COMMIT;
}

/* The transaction: the row read before, if no other scheduler holds it and
 * it is unchanged (else run->lost), then the task and the schedule moved on. */
static int take_and_run(struct db *db, struct arena *a, void *ud)
{
	struct schedule_run *run = ud;
	char **due = run->row;
	struct db_result r;
	if (DB_EXEC(db, a, &r,
		    "SELECT schedule_id, task_type, cron, timezone, next_run_time, UTC_TIMESTAMP(6) FROM schedule "
		    "WHERE schedule_id = ? AND status = " SQL_VAL(SCHEDULE_RUNNING) " AND next_run_time = ? "
		    "AND last_update_time = ? FOR UPDATE SKIP LOCKED",
		    DBP_STR(due[0]), DBP_STR(due[3]), DBP_STR(due[4])))
		return TXN_ERROR;
	if (r.nrows == 0) {
		run->lost = 1;
		return TXN_ABORT;
	}
	return run_schedule(db, a, run, r.rows[0]);
}

/* The earliest due schedule no other scheduler holds, without a
 * transaction (the row lock ends with the statement): 1 with run->row, 0
 * when none is due, -1 on a DB error. */
static int read_due(struct db *db, struct arena *a, struct schedule_run *run)
{
	struct db_result r;
	if (DB_EXEC(db, a, &r,
		    "SELECT schedule_id, task_type, task, next_run_time, last_update_time FROM schedule "
		    "WHERE status = " SQL_VAL(SCHEDULE_RUNNING) " AND next_run_time <= UTC_TIMESTAMP(6) "
		    "ORDER BY next_run_time LIMIT 1 FOR UPDATE SKIP LOCKED"))
		return -1;
	if (r.nrows == 0)
		return 0;
	run->row = r.rows[0];
	return 1;
}

/* One due time: read, checked, then taken and stored. 1 when a due
 * schedule was found (run or lost to another scheduler), 0 when none is
 * due, -1 on a DB error. */
static int run_next_due(struct sched *s, struct db *db, struct arena *a)
{
	struct schedule_run run = {0};
	int found = read_due(db, a, &run);
	if (found <= 0)
		return found;
	long long id = strtoll(run.row[0], NULL, 10);
	char request_id[48];
	request_id_new(request_id);
	json_object *body = json_tokener_parse(run.row[2]);
	run.tc = (struct task_create){.type = task_type_by_id(atoi(run.row[1])), .body = body, .schedule_id = id,
				      .request_id = request_id};
	int rc = 1;
	if (task_create_check(&s->cfg, db, a, &run.tc, &run.fail)) {
		if (run.fail.code == E_DB)
			rc = -1;
		run.refused = 1;
	}
	if (rc > 0 && sched_txn(db, a, take_and_run, &run) == TXN_ERROR)
		rc = -1;
	if (run.lost)
		log_debug("schedule %lld: taken or changed since it was read; its check is dropped", id);
	else if (rc > 0 && !run.refused)
		sched_wake_all(s);   /* its task is committed: plan it now, not at the next poll */
	json_object_put(body);
	return rc;
}

/* The due schedules, up to RUNS_PER_ROUND of them. 0, or -1 on a DB failure. */
static int run_due_schedules(void *owner)
{
	struct sched_rounds *r = owner;
	for (int i = 0; i < RUNS_PER_ROUND && !atomic_load(&r->stop) && !atomic_load(&r->s->stopping); i++) {
		struct arena *a = arena_new();
		if (!a)
			return -1;
		int rc = run_next_due(r->s, r->db, a);
		arena_free(a);
		if (rc < 0)
			return -1;
		if (rc == 0)
			break;
	}
	return 0;
}

int schedules_start(struct schedules *t, struct sched *s)
{
	if (sched_rounds_open(&t->r, s))
		return -1;
	return sched_rounds_start(&t->r, "schedules", ROUND_MS, run_due_schedules, &t->r);
}

int schedules_stop(struct schedules *t, long long wait_us)
{
	/* -1: still waiting on the handlers service, left behind */
	return sched_rounds_stop(&t->r, wait_us);
}
