/* Planning: a pending task becomes subtasks. A worker claims the oldest
 * unplanned task (SKIP LOCKED, then a
 * lease on the task row), calls the type's plan hook outside any
 * transaction, and stores the subtasks and the task's new state in one
 * transaction, only if the task is still pending and still leased to us.
 *
 * Workload: one claim per created task; plan hooks may query the objects
 * backend (counting, id ranges) for a while; a plan may yield thousands of
 * subtasks, inserted in batches. */
#include "scheduler/sched.h"
#include "common/errors.h"
#include "common/log.h"
#include "tasks/task_limits.h"
#include "tasks/task_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INSERT_BATCH 100

struct plan_claim {
	struct worker *w;
	long long task_id;
	int type_id, gave_up;
	int attempts;                  /* counting this one */
	const char *content, *account_id, *request_id;
};

struct plan_store {
	struct worker *w;
	long long task_id;
	json_object *subtasks;         /* array of contents, or NULL when planning failed */
	const struct task_fail *fail;
	int stored;
};

static int claim_body(struct db *db, struct arena *a, void *ud)
{
	struct plan_claim *c = ud;
	struct sched *s = c->w->s;
	struct db_result r;
	if (DB_EXEC(db, a, &r,
		    "SELECT task_id, task_type, content, account_id, request_id, attempts FROM task "
		    "WHERE " SQL_PLANNABLE " ORDER BY task_id LIMIT 1 FOR UPDATE SKIP LOCKED"))
		return TXN_ERROR;
	if (r.nrows == 0)
		return TXN_ABORT;
	char **row = r.rows[0];
	c->task_id = atoll(row[0]);
	c->type_id = atoi(row[1]);
	c->content = row[2];
	c->account_id = row[3];
	c->request_id = row[4];
	int attempts = atoi(row[5]);
	c->attempts = attempts + 1;
	return sched_take_task(s, db, c->task_id, attempts, "Planning", 0, &c->gave_up);
}

/* INSERT of n subtasks (n ≤ INSERT_BATCH) starting at index from. */
static int insert_batch(struct db *db, struct arena *a, long long task_id, json_object *subtasks, size_t from,
			size_t n)
{
	static const char head[] = "INSERT INTO subtask (task_id, content, create_time) VALUES ";
	static const char group[] = "(?, ?, UTC_TIMESTAMP(6)), ";
	size_t cap = sizeof(head) + n * (sizeof(group) - 1);
	char *sql = arena_alloc(a, cap);
	struct db_param *p = arena_alloc(a, 2 * n * sizeof(*p));
	char *end = sql;
	end += snprintf(end, cap, "%s", head);
	for (size_t i = 0; i < n; i++) {
		json_object *one = json_object_array_get_idx(subtasks, from + i);
		size_t len;
		const char *text = json_object_to_json_string_length(one, JSON_C_TO_STRING_PLAIN, &len);
		end += snprintf(end, cap - (size_t)(end - sql), "%s", group);
		p[2 * i] = DBP_I64(task_id);
		p[2 * i + 1] = DBP_BLOB(text, len);
	}
	end[-2] = '\0';   /* the last ", " */
	return db_exec(db, NULL, sql, p, 2 * n, NULL);
}

static int store_body(struct db *db, struct arena *a, void *ud)
{
	struct plan_store *ps = ud;
	struct db_result r;
	ps->stored = 0;
	if (DB_EXEC(db, a, &r,
		    "SELECT task_status, worker_id FROM task WHERE task_id = ? FOR UPDATE", DBP_I64(ps->task_id)))
		return TXN_ERROR;
	if (r.nrows == 0 || atoi(r.rows[0][0]) != TASK_PENDING || !r.rows[0][1] ||
	    strcmp(r.rows[0][1], ps->w->s->worker_id) != 0)
		return TXN_ABORT;
	if (!ps->subtasks)
		return sched_fail_task(db, ps->task_id, STAGE_PLANNING, ps->fail->code, ps->fail->detail)
			       ? TXN_ERROR
			       : TXN_COMMIT;
	size_t n = json_object_array_length(ps->subtasks);
	for (size_t from = 0; from < n; from += INSERT_BATCH)
		if (insert_batch(db, a, ps->task_id, ps->subtasks, from, n - from < INSERT_BATCH ? n - from : INSERT_BATCH))
			return TXN_ERROR;
	if (DB_EXEC(db, NULL, NULL,
		    "UPDATE task SET task_status = " SQL_VAL(TASK_RUNNING) ", planned = 1, count_task_parts_all = ?, "
		    "count_task_parts_done = 0, "
		    "worker_id = NULL, lease_until = NULL, attempts = 0, last_update_time = UTC_TIMESTAMP(6) "
		    "WHERE task_id = ?", DBP_I64((long long)n), DBP_I64(ps->task_id)))
		return TXN_ERROR;
	ps->stored = 1;
	return TXN_COMMIT;
}

/* Calls the plan hook; NULL with fail filled when planning failed. */
static json_object *call_plan(struct worker *w, struct arena *a, const struct plan_claim *c, struct task_fail *fail)
{
	const struct task_type *type = task_type_by_id(c->type_id);
	struct task_ctx ctx;
	json_object *subtasks = NULL;
	json_object *content = sched_parse_json(a, c->content);
	if (!type || !type->plan) {
		task_fail(fail, E_NOT_IMPLEMENTED, "task type %d cannot be planned in this build", c->type_id);
		return NULL;
	}
	if (!content) {
		task_fail(fail, E_INTERNAL, "the stored task content is not valid JSON");
		return NULL;
	}
	sched_ctx_init(w, &ctx, a, c->task_id, 0, c->account_id, c->request_id);
	/* Checked at creation too; this catches tasks created before [LIMITS] was lowered. */
	if (task_limits_check(ctx.cfg, type->name, content, "content", fail))
		return NULL;
	/* Checked at creation too; a row stored before that check fails here. */
	if (task_check_content_accounts(c->account_id, content, fail))
		return NULL;
	if (type->plan(&ctx, content, &subtasks, fail)) {
		json_object_put(subtasks);
		if (!fail->code)
			task_fail(fail, E_INTERNAL, "planning failed without a reason");
		return NULL;
	}
	sched_own_json(a, subtasks);
	if (!json_object_is_type(subtasks, json_type_array)) {
		task_fail(fail, E_INTERNAL, "the plan of task type %d is not an array of subtasks", c->type_id);
		return NULL;
	}
	return subtasks;
}

int sched_plan_one(struct worker *w)
{
	struct plan_claim c = {.w = w};
	struct task_fail fail;
	struct arena *a;
	int rc;
	if (atomic_load(&w->s->stopping))
		return 0;
	a = arena_new();
	rc = sched_txn(w->db, a, claim_body, &c);
	if (rc != TXN_COMMIT) {
		rc = rc == TXN_ABORT ? 0 : -1;
		goto out;
	}
	rc = 1;
	log_set_request_id(c.request_id);
	if (c.gave_up) {
		log_error("task %lld: planning was interrupted %d times; task failed", c.task_id, w->s->cfg.max_attempts);
		goto out;
	}
	sched_set_hold(w, HOLD_PLAN, c.task_id, 0);
	memset(&fail, 0, sizeof(fail));
	struct plan_store ps = {.w = w, .task_id = c.task_id, .fail = &fail};
	sched_throttle(w, w->s->throttle_task_ms);
	ps.subtasks = atomic_load(&w->cancelled) ? NULL : call_plan(w, a, &c, &fail);
	if (atomic_load(&w->cancelled)) {
		log_info("task %lld: planning stopped (cancelled, deleted, taken over or shutting down)", c.task_id);
		sched_release_task(w, c.task_id);
		goto out;
	}
	if (!ps.subtasks && sched_failure_is_transient(&fail) && c.attempts < w->s->cfg.max_attempts) {
		int delay = sched_retry_delay(c.attempts);
		if (sched_defer_task(w, c.task_id, TASK_PENDING, delay) > 0)
			log_warn("task %lld: planning attempt %d of %d failed (%d %s); retrying in %d s", c.task_id,
				 c.attempts, w->s->cfg.max_attempts, fail.code, fail.detail, delay);
		goto out;
	}
	if (sched_txn(w->db, a, store_body, &ps) == TXN_ERROR) {
		log_error("task %lld: cannot store the plan: %s", c.task_id, db_error(w->db));
		rc = -1;
		goto out;
	}
	if (!ps.stored && ps.subtasks)
		log_info("task %lld: cancelled, deleted or taken over while planning; plan dropped", c.task_id);
	else if (!ps.subtasks)
		log_warn("task %lld: planning failed: %d %s", c.task_id, fail.code, fail.detail);
	else
		log_info("task %lld: planned into %zu subtasks", c.task_id, json_object_array_length(ps.subtasks));
	/* This worker claims a subtask at once; idle ones wake for the others. */
	if (ps.stored && ps.subtasks && json_object_array_length(ps.subtasks) > 1)
		sched_wake_all(w->s);
out:
	sched_set_hold(w, HOLD_NONE, 0, 0);
	log_set_request_id(NULL);
	arena_free(a);
	return rc;
}
