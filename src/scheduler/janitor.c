/* The janitor thread: every few seconds it deletes blobs nobody needs any
 * more (those of deleted tasks, the partial results of cancelled and failed
 * tasks), runs the type's cleanup hook of tasks that ended failed or
 * cancelled, and forgets heartbeats of schedulers gone for a day. It has its
 * own DB connection and its own result-store handle; a store call may wait
 * up to [STORAGE] S3_TIMEOUT, which delays only the next cleanup, never the
 * heartbeat or a lease (those are the liveness thread's, liveness.c).
 *
 * Workload: a few indexed scans of at most CLEANUP_BATCH rows every 5 s and
 * one store delete per blob found. */
#include "scheduler/sched.h"
#include "backends/storage.h"
#include "common/log.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLEANUP_BATCH 200
#define ROUND_MS 5000

/* Deletes the blobs that list_sql names (LIMIT ? rows; the blob id is the
 * last of at most two columns) and, for each one gone, runs forget_sql with
 * the row's columns as parameters. An id the store refuses (EINVAL) names
 * no blob: its row is forgotten too. A blob that cannot be deleted stays
 * listed and is tried again next round. */
static int drop_blobs(struct janitor *j, struct arena *a, const char *list_sql, const char *forget_sql,
		      const char *what)
{
	struct db_result r;
	if (DB_EXEC(j->r.db, a, &r, list_sql, DBP_I64(CLEANUP_BATCH)))
		return -1;
	size_t failed = 0, done = 0;
	for (size_t i = 0; i < r.nrows && r.ncols <= 2 && !atomic_load(&j->r.stop); i++) {
		char **row = r.rows[i];
		const char *blob = row[r.ncols - 1];
		if (j->store->ops->del(j->store, blob) && errno != EINVAL) {
			if (failed++ == 0)
				log_warn("cannot delete the %s %s: %s", what, blob, strerror(errno));
			continue;
		}
		struct db_param pf[] = {DBP_STR(row[0]), DBP_STR(blob)};
		if (db_exec(j->r.db, NULL, forget_sql, pf, r.ncols, NULL))
			return -1;
		done++;
	}
	if (failed > 1)
		log_warn("%zu blobs (%s) could not be deleted; retrying later", failed, what);
	if (done)
		log_debug("deleted %zu blobs (%s)", done, what);
	return 0;
}

/* Blobs whose task row was deleted (filled by the task_blobs_orphaned trigger). */
static int drop_orphan_blobs(struct janitor *j, struct arena *a)
{
	return drop_blobs(j, a, "SELECT blob_id FROM orphan_blob ORDER BY orphaned LIMIT ?",
			  "DELETE FROM orphan_blob WHERE blob_id = ?", "orphaned blob");
}

/* Partial results of cancelled and failed tasks are never collected. */
static int drop_stopped_partials(struct janitor *j, struct arena *a)
{
	return drop_blobs(j, a,
			  "SELECT s.subtask_id, s.result_id FROM subtask s JOIN task t ON t.task_id = s.task_id "
			  "WHERE s.result_id IS NOT NULL AND t.task_status IN " SQL_TASKS_ENDED_BADLY " LIMIT ?",
			  "UPDATE subtask SET result_id = NULL WHERE subtask_id = ? AND result_id = ?", "partial result");
}

/* Tasks that ended failed or cancelled get their type's cleanup hook once
 * (the API calls it again on delete; hooks accept missing blobs). */
static int clean_up_ended_tasks(struct janitor *j, struct arena *a)
{
	struct db_result r;
	if (DB_EXEC(j->r.db, a, &r,
		    "SELECT task_id, task_type, account_id, request_id FROM task "
		    "WHERE cleaned = 0 AND task_status IN " SQL_TASKS_ENDED_BADLY " LIMIT ?", DBP_I64(CLEANUP_BATCH)))
		return -1;
	for (size_t i = 0; i < r.nrows && !atomic_load(&j->r.stop); i++) {
		long long task_id = atoll(r.rows[i][0]);
		const struct task_type *type = task_type_by_id(atoi(r.rows[i][1]));
		if (type && type->cleanup) {
			struct task_ctx ctx = {
				.cfg = &j->r.s->cfg, .arena = a, .tasks_db = j->r.db, .store = j->store, .task_id = task_id,
				.account_id = r.rows[i][2], .request_id = r.rows[i][3], .cancelled = &j->r.stop,
				.host = &sched_task_host,
			};
			log_set_request_id(r.rows[i][3]);
			type->cleanup(&ctx);
			log_set_request_id(NULL);
		}
		if (DB_EXEC(j->r.db, NULL, NULL, "UPDATE task SET cleaned = 1 WHERE task_id = ?", DBP_I64(task_id)))
			return -1;
	}
	return 0;
}

static int cleanup_round(void *owner)
{
	struct janitor *j = owner;
	struct arena *a = arena_new();
	int rc = 0;
	if (j->store && (drop_orphan_blobs(j, a) || drop_stopped_partials(j, a) || clean_up_ended_tasks(j, a)))
		rc = -1;
	if (rc == 0 && DB_EXEC(j->r.db, NULL, NULL,
			       "DELETE FROM scheduler_heartbeat WHERE last_seen < UTC_TIMESTAMP(6) - INTERVAL 1 DAY"))
		rc = -1;
	arena_free(a);
	return rc;
}

int janitor_start(struct janitor *j, struct sched *s)
{
	char err[256] = "";
	if (sched_rounds_open(&j->r, s))
		return -1;
	j->store = storage_open(&s->cfg, err, sizeof(err));
	if (!j->store)
		log_error("result store not available (blob cleanup disabled): %s", err);
	return sched_rounds_start(&j->r, "cleanup", ROUND_MS, cleanup_round, j);
}

int janitor_stop(struct janitor *j, long long wait_us)
{
	int started = j->r.started;
	if (sched_rounds_stop(&j->r, wait_us))
		return -1;   /* still in a store call: left behind, like a stuck worker */
	if (started)
		storage_close(j->store);
	return 0;
}
