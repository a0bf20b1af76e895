/* Collecting: when every subtask of a task has finished, one worker claims
 * the task (SKIP LOCKED, status 4 and a lease on the task row), loads the
 * partial results in subtask order (null for failed subtasks), calls the
 * type's collect hook, stores the task result under a new id, and moves the
 * task to done (or failed) only if it is still collecting under our lease.
 * A result_from_subtask type's result was stored once, when its one subtask
 * ended: its blob becomes the task result as it is. So does the blob of a
 * task's only subtask whose row says it is the task's result document
 * (subtask.result_document, set by the worker; a cross match planned as one
 * subtask), without calling collect or reading the blob. The other
 * partial-result blobs are deleted once the task has its final state.
 *
 * Workload: one claim per task; the partial results are read whole (they
 * are small for every type but the chunked ones, where they are id lists),
 * except for types with collect_reads_partials (estimator), which read them
 * one at a time. */
#include "scheduler/sched.h"
#include "backends/storage.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/uuid.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct collect_claim {
	struct worker *w;
	long long task_id;
	int type_id, gave_up;
	int attempts;                  /* counting this one */
	int repaired;                  /* the counters were wrong: nothing to collect yet */
	const char *content, *account_id, *request_id;
};

struct collect_final {
	struct worker *w;
	long long task_id;
	int failed;
	const struct task_fail *fail;  /* error row when failed and fail->code != 0 */
	const char *result_id;
	const struct db_result *partial_rows;  /* subtask_id, status, result_id of every subtask */
	int stored;
};

/* The counters say all subtasks finished; make sure, and repair them if not. */
static int all_finished(struct db *db, struct arena *a, long long task_id, int *ok)
{
	if (sched_all_subtasks_ended(db, a, task_id, ok))
		return -1;
	if (*ok)
		return 0;
	log_warn("task %lld: progress counters were wrong; repaired", task_id);
	return DB_EXEC(db, NULL, NULL,
		       "UPDATE task SET count_task_parts_done = (SELECT COUNT(*) FROM subtask "
		       "WHERE task_id = ? AND subtask_status IN " SQL_SUBTASKS_ENDED ") WHERE task_id = ?",
		       DBP_I64(task_id), DBP_I64(task_id));
}

static int claim_body(struct db *db, struct arena *a, void *ud)
{
	struct collect_claim *c = ud;
	struct sched *s = c->w->s;
	struct db_result r;
	if (DB_EXEC(db, a, &r,
		    "SELECT task_type, task_status, content, account_id, request_id, attempts FROM task "
		    "WHERE task_id = ? AND " SQL_COLLECTABLE " FOR UPDATE SKIP LOCKED", DBP_I64(c->task_id)))
		return TXN_ERROR;
	if (r.nrows == 0)
		return TXN_ABORT;
	char **row = r.rows[0];
	c->type_id = atoi(row[0]);
	c->content = row[2];
	c->account_id = row[3];
	c->request_id = row[4];
	int attempts = atoi(row[5]);
	if (atoi(row[1]) == TASK_RUNNING) {
		int ok;
		if (all_finished(db, a, c->task_id, &ok))
			return TXN_ERROR;
		c->repaired = !ok;
		if (!ok)
			return TXN_COMMIT;
	}
	c->attempts = attempts + 1;
	return sched_take_task(s, db, c->task_id, attempts, "Collecting the results", 1, &c->gave_up);
}

/* The task's subtasks in order: subtask_id, subtask_status, result_id,
 * result_document. NULL on a DB error. */
static const struct db_result *partial_rows(struct worker *w, struct arena *a, long long task_id)
{
	struct db_result *rp = arena_alloc(a, sizeof(*rp));
	if (DB_EXEC(w->db, a, rp,
		    "SELECT subtask_id, subtask_status, result_id, result_document FROM subtask WHERE task_id = ? "
		    "ORDER BY subtask_id",
		    DBP_I64(task_id)))
		return NULL;
	return rp;
}

/* The blob of the task's only subtask when its row marks it as the task's
 * result document (worker.c), else NULL. Only the mark counts: a subtask
 * finished by a release without it stored a partial. */
static const char *only_document(const struct db_result *rows)
{
	if (rows->nrows != 1)
		return NULL;
	char **row = rows->rows[0];
	return atoi(row[1]) == SUB_DONE && row[2] && row[3] && atoi(row[3]) == 1 ? row[2] : NULL;
}

/* The partial results of rows in subtask order (null for failed or empty
 * ones), or with ids_only their blob ids. *nfailed counts failed subtasks.
 * 0 ok, -2 a blob is unreadable (fail filled). */
static int load_partials(struct worker *w, struct arena *a, const struct db_result *rows, int ids_only,
			 json_object **out, size_t *n, size_t *nfailed, struct task_fail *fail)
{
	const struct db_result r = *rows;
	json_object *arr = sched_own_json(a, json_object_new_array_ext((int)r.nrows));
	*n = r.nrows;
	*nfailed = 0;
	for (size_t i = 0; i < r.nrows; i++) {
		const char *blob = r.rows[i][2];
		json_object *one = NULL;
		if (atoi(r.rows[i][1]) != SUB_DONE)
			(*nfailed)++;
		if (atoi(r.rows[i][1]) == SUB_DONE && blob && ids_only) {
			one = json_object_new_string(blob);
		} else if (atoi(r.rows[i][1]) == SUB_DONE && blob) {
			void *data = NULL;
			size_t len;
			if (!w->store || w->store->ops->get(w->store, blob, &data, &len)) {
				task_fail(fail, E_STORAGE, "cannot read the partial result %s of subtask %s: %s",
					  blob, r.rows[i][0], w->store ? strerror(errno) : "no result store");
				return -2;
			}
			one = json_tokener_parse(data);
			free(data);
			if (!one) {
				task_fail(fail, E_STORAGE, "the partial result %s of subtask %s is not valid JSON",
					  blob, r.rows[i][0]);
				return -2;
			}
		}
		json_object_array_add(arr, one);
	}
	*out = arr;
	return 0;
}

/* Stores a JSON result under id. */
static int store_result(struct worker *w, const char *id, json_object *result, struct task_fail *fail)
{
	size_t len;
	const char *text = json_object_to_json_string_length(result, JSON_C_TO_STRING_PLAIN, &len);
	if (w->store && w->store->ops->put(w->store, id, text, len) == 0)
		return 0;
	task_fail(fail, E_STORAGE, "cannot store the task result: %s",
		  w->store ? strerror(errno) : "no result store");
	return -1;
}

/* A result_from_subtask type: the blob of its one subtask (ids: the partial
 * ids) is the task result as it was stored; nothing is read or written. */
static int adopt_subtask_result(const struct task_type *type, json_object *ids, const char **result_id,
				int *has_result, struct task_fail *fail)
{
	json_object *id = json_object_array_length(ids) == 1 ? json_object_array_get_idx(ids, 0) : NULL;
	if (!id) {
		task_fail(fail, E_INTERNAL, "the %s subtask left no result", type->name);
		return 1;
	}
	*result_id = json_object_get_string(id);
	*has_result = 1;
	return 0;
}

/* Works out the result. 0 ok (*has_result: a blob exists under *result_id,
 * which is the given new id, or the blob of the only subtask when it is the
 * result document: a result_from_subtask type's, or one marked so), 1 the
 * task fails (fail filled, or fail->code 0 when the subtask errors say it
 * all), -1 DB error. */
static int make_result(struct worker *w, struct arena *a, const struct collect_claim *c, const char **result_id,
		       int *has_result, const struct db_result **rows, struct task_fail *fail)
{
	const struct task_type *type = task_type_by_id(c->type_id);
	json_object *partials = NULL, *result = NULL;
	size_t n = 0, nfailed = 0;
	struct task_ctx ctx;
	*has_result = 0;
	if (!(*rows = partial_rows(w, a, c->task_id)))
		return -1;
	const char *document = only_document(*rows);
	if (document) {
		*result_id = document;    /* the result as the subtask stored it */
		*has_result = 1;
		return 0;
	}
	int ids_only = type && (type->result_from_subtask || (type->collect && type->collect_reads_partials));
	if (load_partials(w, a, *rows, ids_only, &partials, &n, &nfailed, fail))
		return 1;
	if (n > 0 && nfailed == n)
		return 1;                 /* every subtask failed: their errors are the reason */
	if (type && type->result_from_subtask)
		return adopt_subtask_result(type, partials, result_id, has_result, fail);
	if (!type || !type->collect) {
		if (nfailed)
			return 1;
		result = n == 1 ? json_object_array_get_idx(partials, 0) : partials;
		if (!result)
			return 0;
		if (store_result(w, *result_id, result, fail))
			return 1;
		*has_result = 1;
		return 0;
	}
	json_object *content = sched_parse_json(a, c->content);
	if (!content) {
		task_fail(fail, E_INTERNAL, "the stored task content is not valid JSON");
		return 1;
	}
	sched_ctx_init(w, &ctx, a, c->task_id, 0, c->account_id, c->request_id);
	ctx.result_id = *result_id;
	if (type->collect(&ctx, content, partials, &result, fail)) {
		json_object_put(result);
		if (!fail->code)
			task_fail(fail, E_INTERNAL, "collecting the results failed without a reason");
		return 1;
	}
	sched_own_json(a, result);
	if (result) {
		if (store_result(w, *result_id, result, fail))
			return 1;
		*has_result = 1;
	} else if (type->result_is_zip || type->collect_reads_partials) {
		*has_result = 1;          /* the hook stored its result under result_id */
	}
	return 0;
}

/* The task left status 4: was that our own earlier commit (a COMMIT whose
 * answer was lost with the connection)? Then the result blob must stay.
 * row: task_status, worker_id, result_id. */
static int recorded_before(const struct collect_final *f, char **row)
{
	int status = atoi(row[0]);
	if (status != (f->failed ? TASK_FAILED : TASK_DONE) || row[1])
		return 0;
	if (!f->result_id)
		return !row[2];
	return row[2] && strcmp(row[2], f->result_id) == 0;
}

static int final_body(struct db *db, struct arena *a, void *ud)
{
	struct collect_final *f = ud;
	struct db_result r;
	f->stored = 0;
	if (DB_EXEC(db, a, &r,
		    "SELECT task_status, worker_id, result_id FROM task WHERE task_id = ? FOR UPDATE",
		    DBP_I64(f->task_id)))
		return TXN_ERROR;
	if (r.nrows == 0)
		return TXN_ABORT;
	if (atoi(r.rows[0][0]) != TASK_COLLECTING || !r.rows[0][1] || strcmp(r.rows[0][1], f->w->s->worker_id) != 0) {
		f->stored = recorded_before(f, r.rows[0]);
		return TXN_ABORT;
	}
	if (f->failed && f->fail->code && sched_stage_error(db, f->task_id, STAGE_COLLECTING, f->fail->code, f->fail->detail))
		return TXN_ERROR;
	if (DB_EXEC(db, NULL, NULL,
		    "UPDATE task SET task_status = ?, result_id = ?, end_time = UTC_TIMESTAMP(6), "
		    "last_update_time = UTC_TIMESTAMP(6), worker_id = NULL, lease_until = NULL WHERE task_id = ?",
		    DBP_I64(f->failed ? TASK_FAILED : TASK_DONE), DBP_STR(f->result_id), DBP_I64(f->task_id)))
		return TXN_ERROR;
	if (DB_EXEC(db, NULL, NULL,
		    "UPDATE subtask SET result_id = NULL WHERE task_id = ? AND result_id IS NOT NULL",
		    DBP_I64(f->task_id)))
		return TXN_ERROR;
	f->stored = 1;
	return TXN_COMMIT;
}

/* Partial results are of no use once the task has its final state, but for
 * the one that became the task result (result_from_subtask). */
static void delete_partials(struct worker *w, const struct db_result *rows, const char *result_id)
{
	for (size_t i = 0; rows && i < rows->nrows && w->store; i++) {
		const char *blob = rows->rows[i][2];
		if (blob && result_id && strcmp(blob, result_id) == 0)
			continue;
		if (blob && w->store->ops->del(w->store, blob))
			log_warn("cannot delete the partial result %s: %s", blob, strerror(errno));
	}
}

/* Records the task's final state if it is still collecting under our lease,
 * waiting out a DB outage while we hold it. 1 recorded (now, or by an earlier
 * COMMIT whose answer was lost), 0 dropped. */
static int record_final(struct worker *w, struct arena *a, struct collect_final *f)
{
	for (;;) {
		int rc = sched_txn(w->db, a, final_body, f);
		if (rc != TXN_ERROR && f->stored)
			break;
		if (rc != TXN_ERROR) {
			log_info("task %lld: cancelled, deleted or taken over while collecting; result dropped", f->task_id);
			return 0;
		}
		if (!db_error_is_connection(w->db)) {
			log_error("task %lld: cannot record the result: %s", f->task_id, db_error(w->db));
			return 0;
		}
		sched_db_trouble(w->s, w->db, &w->db_failures, "recording a task result");
	}
	sched_db_ok(&w->db_failures);
	return 1;
}

/* Claims task_id and collects it. 1 did, 0 nothing (not ready, or another
 * scheduler has it), -1 DB error. */
static int collect(struct worker *w, long long task_id)
{
	struct collect_claim c = {.w = w, .task_id = task_id};
	struct task_fail fail;
	struct arena *a;
	char result_id[37];
	const char *final_id = result_id;   /* result_id, or the adopted subtask blob */
	int rc, has_result = 0;
	if (atomic_load(&w->s->stopping))
		return 0;
	a = arena_new();
	rc = sched_txn(w->db, a, claim_body, &c);
	if (rc != TXN_COMMIT || c.repaired) {
		rc = rc == TXN_ERROR ? -1 : 0;
		goto out;
	}
	rc = 1;
	log_set_request_id(c.request_id);
	if (c.gave_up) {
		log_error("task %lld: collecting was interrupted %d times; task failed", c.task_id, w->s->cfg.max_attempts);
		goto out;
	}
	sched_set_hold(w, HOLD_COLLECT, c.task_id, 0);
	memset(&fail, 0, sizeof(fail));
	uuid4(result_id);
	const struct db_result *rows = NULL;
	sched_throttle(w, w->s->throttle_task_ms);
	int made = atomic_load(&w->cancelled) ? 1 : make_result(w, a, &c, &final_id, &has_result, &rows, &fail);
	if (made < 0) {
		/* The DB went away: the lease expires and someone collects again. */
		rc = -1;
		goto out;
	}
	if (made == 1 && sched_failure_is_transient(&fail) && c.attempts < w->s->cfg.max_attempts) {
		int delay = sched_retry_delay(c.attempts);
		if (w->store)
			w->store->ops->del(w->store, result_id);
		if (sched_defer_task(w, c.task_id, TASK_COLLECTING, delay) > 0)
			log_warn("task %lld: collecting attempt %d of %d failed (%d %s); retrying in %d s", c.task_id,
				 c.attempts, w->s->cfg.max_attempts, fail.code, fail.detail, delay);
		goto out;
	}
	if (atomic_load(&w->cancelled)) {
		/* Whatever the hook made of being stopped, it is not the result. */
		log_info("task %lld: collecting stopped (cancelled, deleted, taken over or shutting down)", c.task_id);
		sched_release_task(w, c.task_id);
		if (w->store)
			w->store->ops->del(w->store, result_id);
		goto out;
	}
	struct collect_final f = {
		.w = w, .task_id = c.task_id, .failed = made == 1, .fail = &fail,
		.result_id = made == 0 && has_result ? final_id : NULL, .partial_rows = rows,
	};
	if (!record_final(w, a, &f)) {
		if (w->store)
			w->store->ops->del(w->store, result_id);
		goto out;
	}
	delete_partials(w, f.partial_rows, f.result_id);
	if (f.failed && fail.code)
		log_warn("task %lld failed: error %d: %s", c.task_id, fail.code, fail.detail);
	else if (f.failed)
		log_warn("task %lld failed: every subtask failed (their errors: GET /2/tasks/%lld/errors)", c.task_id,
			 c.task_id);
	else
		log_info("task %lld done", c.task_id);
out:
	sched_set_hold(w, HOLD_NONE, 0, 0);
	log_set_request_id(NULL);
	arena_free(a);
	return rc;
}

/* The candidate is found without locks, so the scan over running tasks never
 * holds their rows (finishing workers lock them); only the claim locks. */
int sched_collect_one(struct worker *w)
{
	struct db_result r;
	struct arena *a = arena_new();
	int rc = DB_EXEC(w->db, a, &r, "SELECT task_id FROM task WHERE " SQL_COLLECTABLE " ORDER BY task_id LIMIT 1");
	long long task_id = rc == 0 && r.nrows ? atoll(r.rows[0][0]) : 0;
	arena_free(a);
	if (rc)
		return -1;
	return task_id ? collect(w, task_id) : 0;
}

int sched_collect_task(struct worker *w, long long task_id)
{
	return collect(w, task_id);
}
