/* Worker threads: each one loops over collect → plan → run, one work item at
 * a time, with its own DB connection, objects handle, result store handle and
 * an arena per item. This file holds the loop and the life of a subtask:
 * claim (SKIP LOCKED + lease), run the type's run_subtask hook, store the
 * partial result (for a result_from_subtask type: the task's result
 * document, stored once; a hook may also have stored it itself,
 * ctx->stored_partial), finish only if the subtask is still ours. A blob
 * that is the task's result document is marked so on the subtask row
 * (result_document): collecting adopts it without reading it.
 *
 * Workload: subtasks last from milliseconds (a GC chunk) to minutes (an
 * estimator chunk); the DB work per subtask is three short transactions. */
#include "scheduler/sched.h"
#include "backends/objects.h"
#include "backends/storage.h"
#include "common/big_alloc.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/task_metrics.h"
#include "common/timefmt.h"
#include "common/uuid.h"
#include "tasks/task_util.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OBJECTS_RETRY_US (60LL * 1000000)

/* A claimed subtask with everything needed to run it. */
struct subtask_job {
	long long subtask_id, task_id;
	int type_id, attempts;
	const char *task_content, *sub_content, *account_id, *request_id;
};

/* How running a subtask ended. */
struct subtask_outcome {
	int abandoned;                 /* told to stop (cancelled, deleted, taken over, shutdown): no outcome */
	int failed;                    /* run_subtask reported an error */
	struct task_fail fail;
	const char *result_id;         /* stored partial result, or NULL */
	int document;                  /* result_id is the task's result document (subtask.result_document) */
	double seconds;                /* run time (luna_tasks_subtask_duration_seconds) */
};

/* What the finish transaction found. */
enum finish_state { FIN_FINISHED, FIN_RETRY_LATER, FIN_HANDED_BACK, FIN_TASK_GONE, FIN_TASK_STOPPED, FIN_LOST };

struct finish_args {
	struct worker *w;
	const struct subtask_job *job;
	const struct subtask_outcome *out;
	int retry_in;                  /* > 0: a transient failure, back to pending after this many seconds */
	enum finish_state state;
	int last;                      /* no unfinished subtask left: collect now */
};

struct claim_args {
	struct worker *w;
	long long subtask_id, task_id;
};

/* The order is the subtask_claim index's (status, lease_until, id): fresh
 * subtasks first, oldest first, then those whose retry delay has passed; no
 * sort, and the scan stops at the first row nobody else has locked. */
static int claim_body(struct db *db, struct arena *a, void *ud)
{
	struct claim_args *c = ud;
	struct db_result r;
	if (DB_EXEC(db, a, &r,
		    "SELECT subtask_id, task_id FROM subtask WHERE " SQL_CLAIMABLE " "
		    "ORDER BY subtask_status, lease_until, subtask_id LIMIT 1 FOR UPDATE SKIP LOCKED"))
		return TXN_ERROR;
	if (r.nrows == 0)
		return TXN_ABORT;
	c->subtask_id = atoll(r.rows[0][0]);
	c->task_id = atoll(r.rows[0][1]);
	if (DB_EXEC(db, NULL, NULL,
		    "UPDATE subtask SET subtask_status = " SQL_VAL(SUB_RUNNING) ", worker_id = ?, "
		    "lease_until = UTC_TIMESTAMP(6) + INTERVAL ? SECOND, attempts = attempts + 1 WHERE subtask_id = ?",
		    DBP_STR(c->w->s->worker_id), DBP_I64(c->w->s->cfg.lease_seconds), DBP_I64(c->subtask_id)))
		return TXN_ERROR;
	return TXN_COMMIT;
}

/* Reads what the claimed subtask needs. 1 loaded, 0 the task is gone, -1 DB error. */
static int load_job(struct worker *w, struct arena *a, struct subtask_job *job)
{
	struct db_result r;
	if (DB_EXEC(w->db, a, &r,
		    "SELECT t.task_type, t.content, t.account_id, t.request_id, s.content, s.attempts "
		    "FROM subtask s JOIN task t ON t.task_id = s.task_id WHERE s.subtask_id = ?",
		    DBP_I64(job->subtask_id)))
		return -1;
	if (r.nrows == 0)
		return 0;
	char **row = r.rows[0];
	job->type_id = atoi(row[0]);
	job->task_content = row[1];
	job->account_id = row[2];
	job->request_id = row[3];
	job->sub_content = row[4];
	job->attempts = atoi(row[5]);
	return 1;
}

/* Stores a partial result under a new id; fills out->result_id or fails the run. */
static void store_partial(struct worker *w, struct arena *a, json_object *partial, struct subtask_outcome *out)
{
	char id[37];
	size_t len;
	const char *text = json_object_to_json_string_length(partial, JSON_C_TO_STRING_PLAIN, &len);
	uuid4(id);
	if (!w->store) {
		out->failed = 1;
		task_fail(&out->fail, E_STORAGE, "the result store is not available");
		return;
	}
	if (w->store->ops->put(w->store, id, text, len)) {
		out->failed = 1;
		task_fail(&out->fail, E_STORAGE, "cannot store the partial result: %s", strerror(errno));
		return;
	}
	out->result_id = arena_strdup(a, id);
}

/* The partial of a result_from_subtask type as the task's result document
 * (owned by the arena); NULL when the task's errors cannot be read, which
 * fails the run (E_DB: retried). */
static json_object *result_document(struct task_ctx *ctx, json_object *partial, struct subtask_outcome *out)
{
	json_object *doc = task_result_document(ctx, json_object_get(partial), &out->fail);
	if (!doc) {
		out->failed = 1;
		return NULL;
	}
	return sched_own_json(ctx->arena, doc);
}

/* Calls the type's hook (unless the work was cancelled meanwhile) and keeps its outcome. */
static void run_job(struct worker *w, struct arena *a, const struct subtask_job *job, struct subtask_outcome *out)
{
	const struct task_type *type = task_type_by_id(job->type_id);
	struct task_ctx ctx;
	json_object *partial = NULL;
	memset(out, 0, sizeof(*out));
	if (!type || !type->run_subtask) {
		out->failed = 1;
		task_fail(&out->fail, E_NOT_IMPLEMENTED, "task type %d cannot run subtasks in this build",
			  job->type_id);
		return;
	}
	json_object *content = sched_parse_json(a, job->task_content);
	json_object *sub = sched_parse_json(a, job->sub_content);
	if (!content || !sub) {
		out->failed = 1;
		task_fail(&out->fail, E_INTERNAL, "the stored task or subtask content is not valid JSON");
		return;
	}
	sched_throttle(w, w->s->throttle_ms);
	if (atomic_load(&w->cancelled)) {
		out->abandoned = 1;
		return;
	}
	sched_ctx_init(w, &ctx, a, job->task_id, job->subtask_id, job->account_id, job->request_id);
	int rc = type->run_subtask(&ctx, content, sub, &partial, &out->fail);
	int stopped = atomic_load(&w->cancelled);
	if ((stopped || rc) && ctx.stored_partial && w->store)
		w->store->ops->del(w->store, ctx.stored_partial);
	if (stopped) {
		/* Whatever the hook made of being stopped, it is not an outcome. */
		json_object_put(partial);
		out->abandoned = 1;
		return;
	}
	if (rc) {
		out->failed = 1;
		if (!out->fail.code)
			task_fail(&out->fail, E_INTERNAL, "subtask failed without a reason");
		if (partial)
			json_object_put(partial);
		return;
	}
	if (ctx.stored_partial) {
		json_object_put(partial);
		out->result_id = ctx.stored_partial;
		out->document = ctx.stored_document != 0;
		return;
	}
	if (partial) {
		sched_own_json(a, partial);
		if (type->result_from_subtask && !(partial = result_document(&ctx, partial, out)))
			return;
		store_partial(w, a, partial, out);
		out->document = type->result_from_subtask && out->result_id;
	}
}

/* A transient failure (the objects database was away, say): the subtask
 * goes back to pending, not to be claimed before retry_in seconds; its
 * attempt stays counted, so MAX_ATTEMPTS still bounds the retries. */
static int give_back_for_retry(struct db *db, struct finish_args *f)
{
	struct db_result u;
	if (DB_EXEC(db, NULL, &u,
		    "UPDATE subtask SET subtask_status = " SQL_VAL(SUB_PENDING) ", worker_id = NULL, "
		    "lease_until = UTC_TIMESTAMP(6) + INTERVAL ? SECOND "
		    "WHERE subtask_id = ? AND worker_id = ? AND subtask_status = " SQL_VAL(SUB_RUNNING),
		    DBP_I64(f->retry_in), DBP_I64(f->job->subtask_id), DBP_STR(f->w->s->worker_id)))
		return TXN_ERROR;
	f->state = u.affected ? FIN_RETRY_LATER : FIN_LOST;
	if (!u.affected)
		return TXN_ABORT;
	if (sched_count(db, METRIC_SUBTASK_RETRIES, f->job->type_id, "transient_error", 1))
		return TXN_ERROR;
	return TXN_COMMIT;
}

/* Work that was told to stop but is still ours in the DB (e.g. handing it
 * back at shutdown failed): back to pending, the attempt not counted. */
static int give_back_abandoned(struct db *db, struct finish_args *f)
{
	struct db_result u;
	if (DB_EXEC(db, NULL, &u,
		    "UPDATE subtask SET subtask_status = " SQL_VAL(SUB_PENDING) ", worker_id = NULL, lease_until = "
		    "NULL, "
		    "attempts = GREATEST(attempts - 1, 0) WHERE subtask_id = ? AND worker_id = ? AND subtask_status = "
		    SQL_VAL(SUB_RUNNING),
		    DBP_I64(f->job->subtask_id), DBP_STR(f->w->s->worker_id)))
		return TXN_ERROR;
	f->state = u.affected ? FIN_HANDED_BACK : FIN_LOST;
	return u.affected ? TXN_COMMIT : TXN_ABORT;
}

/* The subtask is no longer running under us: was it our own earlier commit of
 * this very outcome (a COMMIT whose answer was lost with the connection)?
 * Then the outcome is recorded and its blob must stay. 1 yes, 0 no, -1 DB error. */
static int recorded_before(struct db *db, struct arena *a, const struct finish_args *f)
{
	struct db_result r;
	if (DB_EXEC(db, a, &r,
		    "SELECT subtask_status, worker_id, result_id FROM subtask WHERE subtask_id = ?",
		    DBP_I64(f->job->subtask_id)))
		return -1;
	if (r.nrows == 0)
		return 0;
	char **row = r.rows[0];
	const char *want = f->out->result_id;
	return atoi(row[0]) == (f->out->failed ? SUB_FAILED : SUB_DONE) && row[1] &&
	       strcmp(row[1], f->w->s->worker_id) == 0 &&
	       ((!want && !row[2]) || (want && row[2] && strcmp(want, row[2]) == 0));
}

static int finish_body(struct db *db, struct arena *a, void *ud)
{
	struct finish_args *f = ud;
	const struct subtask_job *job = f->job;
	const struct subtask_outcome *out = f->out;
	struct db_result r;
	/* The task row first: the same lock order as the API's cancel and delete. */
	if (DB_EXEC(db, a, &r, "SELECT task_status FROM task WHERE task_id = ? FOR UPDATE", DBP_I64(job->task_id)))
		return TXN_ERROR;
	if (r.nrows == 0) {
		f->state = FIN_TASK_GONE;
		return TXN_ABORT;
	}
	if (atoi(r.rows[0][0]) != TASK_RUNNING) {
		f->state = FIN_TASK_STOPPED;
		if (DB_EXEC(db, NULL, NULL,
			    "UPDATE subtask SET subtask_status = " SQL_VAL(SUB_CANCELLED) ", end_time = "
			    "UTC_TIMESTAMP(6), lease_until = NULL "
			    "WHERE subtask_id = ? AND worker_id = ? AND subtask_status = " SQL_VAL(SUB_RUNNING),
			    DBP_I64(job->subtask_id), DBP_STR(f->w->s->worker_id)))
			return TXN_ERROR;
		return TXN_COMMIT;
	}
	if (out->abandoned)
		return give_back_abandoned(db, f);
	if (f->retry_in > 0)
		return give_back_for_retry(db, f);
	struct db_result u;
	if (DB_EXEC(db, NULL, &u,
		    "UPDATE subtask SET subtask_status = ?, result_id = ?, result_document = ?, end_time = "
		    "UTC_TIMESTAMP(6), lease_until = NULL "
		    "WHERE subtask_id = ? AND worker_id = ? AND subtask_status = " SQL_VAL(SUB_RUNNING),
		    DBP_I64(out->failed ? SUB_FAILED : SUB_DONE), DBP_STR(out->result_id),
		    DBP_I64(!out->failed && out->document), DBP_I64(job->subtask_id), DBP_STR(f->w->s->worker_id)))
		return TXN_ERROR;
	if (u.affected == 0) {
		int mine = recorded_before(db, a, f);
		if (mine < 0)
			return TXN_ERROR;
		f->state = mine ? FIN_FINISHED : FIN_LOST;
		if (mine && sched_all_subtasks_ended(db, a, job->task_id, &f->last))
			return TXN_ERROR;
		return TXN_ABORT;
	}
	if (out->failed && sched_insert_error(db, job->task_id, job->subtask_id, out->fail.code, out->fail.detail))
		return TXN_ERROR;
	if (DB_EXEC(db, NULL, NULL,
		    "UPDATE task SET count_task_parts_done = count_task_parts_done + 1, "
		    "last_update_time = UTC_TIMESTAMP(6) WHERE task_id = ?", DBP_I64(job->task_id)) ||
	    sched_all_subtasks_ended(db, a, job->task_id, &f->last) ||
	    sched_count_subtask_duration(db, job->type_id, out->seconds))
		return TXN_ERROR;
	f->state = FIN_FINISHED;
	return TXN_COMMIT;
}

/* Records the outcome if the subtask is still ours. Keeps trying through a DB
 * outage while we hold it; gives up once the lease is handed back or taken
 * (recovery then retries the subtask elsewhere). 1 recorded, 0 dropped, -1 DB error. */
static int finish_job(struct worker *w, struct arena *a, const struct subtask_job *job,
		      const struct subtask_outcome *out, int *last)
{
	struct finish_args f = {.w = w, .job = job, .out = out};
	int rc;
	if (!out->abandoned && out->failed && sched_failure_is_transient(&out->fail) &&
	    job->attempts < w->s->cfg.max_attempts)
		f.retry_in = sched_retry_delay(job->attempts);
	for (;;) {
		rc = sched_txn(w->db, a, finish_body, &f);
		if (rc != TXN_ERROR)
			break;
		if (!db_error_is_connection(w->db) || atomic_load(&w->cancelled)) {
			log_error("task %lld subtask %lld: cannot record the outcome: %s", job->task_id,
				  job->subtask_id, db_error(w->db));
			return -1;
		}
		sched_db_trouble(w->s, w->db, &w->db_failures, "finishing a subtask");
	}
	sched_db_ok(&w->db_failures);
	*last = f.last;
	switch (f.state) {
	case FIN_FINISHED:
		return 1;
	case FIN_HANDED_BACK:
		log_info("task %lld subtask %lld: stopped; handed back unfinished", job->task_id, job->subtask_id);
		break;
	case FIN_RETRY_LATER:
		log_warn("task %lld subtask %lld: attempt %d of %d failed (%d %s); retrying in %d s", job->task_id,
			 job->subtask_id, job->attempts, w->s->cfg.max_attempts, out->fail.code, out->fail.detail,
			 f.retry_in);
		break;
	case FIN_TASK_GONE:
		log_info("task %lld subtask %lld: the task was deleted; work dropped", job->task_id, job->subtask_id);
		break;
	case FIN_TASK_STOPPED:
		log_info("task %lld subtask %lld: the task is no longer running; work dropped", job->task_id,
			 job->subtask_id);
		break;
	case FIN_LOST:
		if (atomic_load(&w->s->stopping))
			log_info("task %lld subtask %lld: handed back at shutdown; work dropped", job->task_id,
				 job->subtask_id);
		else
			log_warn("task %lld subtask %lld: the lease was lost (taken over after it expired); work dropped",
				 job->task_id, job->subtask_id);
		break;
	}
	return 0;
}

static double seconds_since(long long start_us)
{
	return (double)(time_now_us() - start_us) / 1e6;
}

static void log_outcome(const struct subtask_job *job, const struct subtask_outcome *out, long long start_us)
{
	if (out->failed)
		log_warn("task %lld subtask %lld failed (attempt %d, %.3f s): %d %s", job->task_id, job->subtask_id,
			 job->attempts, seconds_since(start_us), out->fail.code, out->fail.detail);
	else
		log_info("task %lld subtask %lld done (attempt %d, %.3f s)", job->task_id, job->subtask_id,
			 job->attempts, seconds_since(start_us));
}

/* Opens the objects backend if this worker has none yet (it may have been
 * down at start), at most once a minute; worker 0 says so when it changes. */
static void ensure_objects(struct worker *w, long long *last_try_us, int *said)
{
	char err[256] = "";
	long long now = time_now_us();
	if (w->objects || (*last_try_us && now - *last_try_us < OBJECTS_RETRY_US))
		return;
	*last_try_us = now;
	w->objects = objects_open(&w->s->cfg, err, sizeof(err));
	if (w->index != 0)
		return;
	if (!w->objects && !*said)
		log_info("objects backend not available (task types that need it fail until it is): %s", err);
	else if (w->objects && *said)
		log_info("objects backend available again");
	*said = !w->objects;
}

int sched_run_one(struct worker *w)
{
	struct arena *a = NULL;
	struct claim_args c = {.w = w};
	struct subtask_job job;
	struct subtask_outcome out;
	int rc, last = 0;
	if (atomic_load(&w->s->stopping))
		return 0;
	a = arena_new();
	rc = sched_txn(w->db, a, claim_body, &c);
	if (rc != TXN_COMMIT) {
		rc = rc == TXN_ABORT ? 0 : -1;
		goto out;
	}
	sched_set_hold(w, HOLD_SUBTASK, c.task_id, c.subtask_id);
	memset(&job, 0, sizeof(job));
	job.subtask_id = c.subtask_id;
	job.task_id = c.task_id;
	rc = load_job(w, a, &job);
	if (rc <= 0) {
		/* Gone already, or the DB failed: the lease expires and recovery retries it. */
		rc = rc < 0 ? -1 : 1;
		goto out;
	}
	log_set_request_id(job.request_id);
	long long start = time_now_us();
	log_debug("task %lld subtask %lld: started (attempt %d)", job.task_id, job.subtask_id, job.attempts);
	run_job(w, a, &job, &out);
	out.seconds = seconds_since(start);
	int recorded = finish_job(w, a, &job, &out, &last);
	/* Dropped for sure: the blob is ours to delete. After a DB error it stays,
	 * since a lost COMMIT answer may hide a recorded outcome. */
	if (recorded == 0 && out.result_id && w->store)
		w->store->ops->del(w->store, out.result_id);
	if (recorded > 0)
		log_outcome(&job, &out, start);
	sched_set_hold(w, HOLD_NONE, 0, 0);
	if (last)
		sched_collect_task(w, job.task_id);
	rc = 1;
out:
	sched_set_hold(w, HOLD_NONE, 0, 0);
	log_set_request_id(NULL);
	arena_free(a);
	return rc;
}

/* Opens this thread's handles; a missing result store is logged, not fatal
 * (subtasks that produce results then fail with a storage error). */
static void open_handles(struct worker *w, long long *objects_try, int *objects_said)
{
	char err[256] = "";
	w->db = db_open(&w->s->cfg.tasks_db);
	w->store = storage_open(&w->s->cfg, err, sizeof(err));
	if (!w->store && w->index == 0)
		log_error("result store not available: %s", err);
	ensure_objects(w, objects_try, objects_said);
}

static void close_handles(struct worker *w)
{
	objects_close(w->objects);
	storage_close(w->store);
	db_close(w->db);
	w->objects = NULL;
	w->store = NULL;
	w->db = NULL;
}

/* One round: collect, plan, run. Returns -1 at the first DB failure. */
static int work_steps(struct worker *w, int *did, const char **what)
{
	int r;
	*what = "collecting results";
	if ((r = sched_collect_one(w)) < 0)
		return -1;
	*did |= r;
	*what = "planning tasks";
	if ((r = sched_plan_one(w)) < 0)
		return -1;
	*did |= r;
	*what = "claiming subtasks";
	if ((r = sched_run_one(w)) < 0)
		return -1;
	*did |= r;
	return 0;
}

/* A round, counted in s->in_round while it runs: a release of the warm
 * buffers waits until no worker is inside one. */
static int work_round(struct worker *w, int *did, const char **what)
{
	struct sched *s = w->s;
	atomic_fetch_add(&s->in_round, 1);
	int rc = work_steps(w, did, what);
	if (*did) {
		atomic_store(&s->last_work_us, time_now_us());
		atomic_store(&s->spares_kept, 1);
	}
	atomic_fetch_sub(&s->in_round, 1);
	return rc;
}

/* The warm buffers (common/big_alloc.h: up to BIG_ALLOC_SPARE_MAX bytes)
 * go back to the system once the scheduler has done nothing for [SCHEDULER]
 * SPARES_IDLE_S, once per idle spell: by the first idle worker that sees
 * the time passed and no round running. On a worker's idle path, never on
 * the liveness thread: freeing is munmap, quick, but liveness waits on
 * nothing. A round that starts meanwhile only gets fresh pages. */
static void release_idle_spares(struct worker *w)
{
	struct sched *s = w->s;
	long long idle_us = time_now_us() - atomic_load(&s->last_work_us);
	if (!atomic_load(&s->spares_kept) || atomic_load(&s->in_round) ||
	    idle_us < (long long)s->cfg.spares_idle_s * 1000000 || !atomic_exchange(&s->spares_kept, 0))
		return;
	size_t bytes = big_alloc_release_spares();
	if (bytes)
		log_info("worker %d: idle for %.1f s: gave back %zu bytes of warm buffers", w->index,
			 (double)idle_us / 1e6, bytes);
	else
		log_debug("worker %d: idle for %.1f s: no warm buffers to give back", w->index, (double)idle_us / 1e6);
}

/* An idle worker's look once its poll interval ran out: one statement
 * (autocommit, no locks) for whether any step could find work, instead of
 * the three claims (seven statements, two transactions) of a round that
 * finds nothing. The claims still decide: a row the look sees may be taken
 * by another scheduler first. 1 yes, 0 no, -1 DB error. */
static int work_visible(struct worker *w)
{
	struct db_result r;
	struct arena *a = arena_new();
	int rc = DB_EXEC(w->db, a, &r,
			 "SELECT EXISTS (SELECT 1 FROM task WHERE " SQL_COLLECTABLE ") "
			 "OR EXISTS (SELECT 1 FROM task WHERE " SQL_PLANNABLE ") "
			 "OR EXISTS (SELECT 1 FROM subtask WHERE " SQL_CLAIMABLE ")");
	int seen = rc ? -1 : r.nrows && r.rows[0][0] && atoi(r.rows[0][0]) != 0;
	arena_free(a);
	return seen;
}

/* How an idle spell ended: the number of polls whose interval ran out
 * before work was found (0: a wake-up, a plan of this scheduler or the end
 * of a task's last subtask led to it at once). Debug level, once a spell. */
static void log_idle_spell_end(const struct worker *w, unsigned polls_ran_out)
{
	log_debug("worker %d: work found after %u poll interval%s ran out idle", w->index, polls_ran_out,
		  polls_ran_out == 1 ? "" : "s");
}

void *sched_worker_main(void *arg)
{
	struct worker *w = arg;
	struct sched *s = w->s;
	long long objects_try = 0;
	int objects_said = 0, idle = 0;
	unsigned polls_ran_out = 0;
	int look = 0;                  /* the poll interval ran out: look before a round */
	open_handles(w, &objects_try, &objects_said);
	while (!atomic_load(&s->stopping)) {
		int did = 0;
		const char *what = "looking for work";
		unsigned long gen = sched_wake_gen(s);
		ensure_objects(w, &objects_try, &objects_said);
		int seen = look ? work_visible(w) : 1;
		if (seen < 0 || (seen && work_round(w, &did, &what))) {
			release_idle_spares(w);   /* a tasks DB that is away: idle time too */
			sched_db_trouble(s, w->db, &w->db_failures, what);
			continue;
		}
		sched_db_ok(&w->db_failures);
		if (did && idle)
			log_idle_spell_end(w, polls_ran_out);
		if (did) {
			idle = 0;
			polls_ran_out = 0;
			look = 0;
		} else {
			/* Woken (a wake-up, a plan with subtasks for others): a round at
			 * once; otherwise a look first. */
			idle = 1;
			release_idle_spares(w);
			look = !sched_idle(s, s->cfg.poll_interval_ms, gen);
			polls_ran_out += look;
		}
	}
	close_handles(w);
	pthread_mutex_lock(&s->lock);
	w->exited = 1;
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}
