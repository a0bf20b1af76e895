/* Schedules (the main thread, every second): each schedule whose next run
 * time has come gets its task, created by task_create() as a client's POST
 * would be, in one transaction that holds the schedule row
 * (FOR UPDATE SKIP LOCKED) and moves next_run_time on; so a due time gives
 * exactly one task across any number of schedulers, and a scheduler that
 * dies mid-way leaves the row to the next one. A schedule whose due times
 * passed while no scheduler ran runs once, for the latest of them, and
 * counts the others in missed_runs (logged), instead of catching up.
 * Workload: one indexed SELECT per second when nothing is due; per run one
 * zone file read, a few cron searches and three statements. */
#include "scheduler/sched.h"
#include "scheduler/task_create.h"
#include "common/cron.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/task_metrics.h"
#include "common/uuid.h"
#include "common/timefmt.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNS_PER_ROUND 100
/* Due times counted one by one after an outage; past this many the rest are
 * counted as one (a schedule every minute after a week away). */
#define MISSED_COUNT_MAX 100000

struct schedule_run {
	struct sched *s;
	int ran;                     /* 1 when a due schedule was found */
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

/* Creates the task of schedule row f (schedule_id, task_type, task, cron,
 * timezone, next_run_time, now) and moves the schedule on. */
static int run_schedule(struct db *db, struct arena *a, struct sched *s, char **f)
{
	long long id = strtoll(f[0], NULL, 10);
	int64_t due_us, now_us;
	struct cron c;
	char err[256];
	struct tz_zone *z = tz_load(f[4]);
	if (time_parse_db(f[5], &due_us) || time_parse_db(f[6], &now_us) || cron_parse(f[3], &c, err, sizeof(err)) ||
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
	json_object *body = json_tokener_parse(f[2]);
	struct task_create tc = {.type = task_type_by_id(atoi(f[1])), .body = body, .schedule_id = id,
				 .schedule_time = db_time(a, run_for)};
	char request_id[48];
	request_id_new(request_id);
	tc.request_id = request_id;
	struct task_fail fail = {0};
	long long task_id = 0;
	int rc = task_create(&s->cfg, db, a, &tc, &task_id, &fail);
	json_object_put(body);
	if (rc && fail.code == E_DB)
		return TXN_ERROR;
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

static int run_one_due(struct db *db, struct arena *a, void *ud)
{
	struct schedule_run *run = ud;
	struct db_result r;
	if (DB_EXEC(db, a, &r,
		    "SELECT schedule_id, task_type, task, cron, timezone, next_run_time, UTC_TIMESTAMP(6) FROM schedule "
		    "WHERE status = " SQL_VAL(SCHEDULE_RUNNING) " AND next_run_time <= UTC_TIMESTAMP(6) "
		    "ORDER BY next_run_time LIMIT 1 FOR UPDATE SKIP LOCKED"))
		return TXN_ERROR;
	if (r.nrows == 0)
		return TXN_ABORT;
	run->ran = 1;
	return run_schedule(db, a, run->s, r.rows[0]);
}

int sched_run_schedules(struct sched *s, struct db *db)
{
	struct schedule_run run = {.s = s};
	for (int i = 0; i < RUNS_PER_ROUND && !atomic_load(&s->stopping); i++) {
		struct arena *a = arena_new();
		if (!a)
			return -1;
		run.ran = 0;
		int rc = sched_txn(db, a, run_one_due, &run);
		arena_free(a);
		if (rc == TXN_ERROR)
			return -1;
		if (!run.ran)
			break;
	}
	return 0;
}
