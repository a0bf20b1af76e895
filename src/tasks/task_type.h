/* A task type: one source file per type under src/tasks/, one line in the
 * registry (registry.c). The API uses the identity, the request schema and
 * validate(); the scheduler uses plan/run_subtask/collect. Hooks that a type
 * does not need are NULL. */
#ifndef LUNA_TASK_TYPE_H
#define LUNA_TASK_TYPE_H
#include <json-c/json.h>
#include <stdatomic.h>
#include "common/arena.h"
#include "common/config.h"
#include "common/db.h"

struct storage;
struct objects;

/* Everything a task type may use; filled by the host process. */
struct task_ctx {
	const struct luna_config *cfg;
	struct arena *arena;           /* dies with the request / subtask */
	struct db *tasks_db;
	struct objects *objects;       /* objects backend; NULL when the host has none */
	struct storage *store;         /* result store; NULL when the host has none */
	long long task_id;             /* 0 before the task exists (API validation) */
	long long subtask_id;
	const char *account_id;        /* of the task */
	const char *request_id;
	const char *result_id;         /* collect: the id the task result is stored under */
	/* Set by the scheduler's liveness thread, polled (atomic_load) by long-running
	 * work on any of its threads; nonzero = stop now. */
	atomic_int *cancelled;
	/* Scheduler hooks for progress and errors (NULL in the API). */
	void *host;
};

/* An error a hook reports: HTTP status (API), code of errors.h, detail text. */
struct task_fail {
	int status;
	int code;
	char detail[1024];
};

struct task_type {
	int id;                        /* task_type of the spec, 1..9 */
	const char *name;              /* path segment of POST /2/tasks/<name> */
	const char *schema;            /* request body schema in the spec */
	int result_is_zip;             /* result downloaded as application/zip */
	/* collect gets the partial results' blob ids (strings; null for failed
	 * subtasks) instead of the results, reads them itself one at a time and
	 * stores the result under ctx->result_id (*result NULL): for types whose
	 * whole result would not fit in memory. */
	int collect_reads_partials;
	/* API: checks beyond the schema on the (defaulted) content. Optional. */
	int (*validate)(struct task_ctx *ctx, json_object *content, struct task_fail *fail);
	/* Scheduler: content → array of subtask contents (≥ 1). */
	int (*plan)(struct task_ctx *ctx, json_object *content, json_object **subtasks, struct task_fail *fail);
	/* Scheduler: run one subtask; *partial is its partial result (may be NULL). */
	int (*run_subtask)(struct task_ctx *ctx, json_object *content, json_object *subtask, json_object **partial,
			   struct task_fail *fail);
	/* Scheduler: merge the partial results (array, in subtask order) into the result.
	 * A JSON *result is stored by the scheduler under ctx->result_id; a type with
	 * result_is_zip stores its archive itself under ctx->result_id and sets *result NULL
	 * (as does a type with collect_reads_partials). */
	int (*collect)(struct task_ctx *ctx, json_object *content, json_object *partials, json_object **result,
		       struct task_fail *fail);
	/* Removes blobs the type keeps outside the task and subtask results (e.g.
	 * a downloaded archive). Called when the task is deleted and when it ends
	 * failed or cancelled; must accept blobs that do not exist. Optional. */
	void (*cleanup)(struct task_ctx *ctx);
};

const struct task_type *task_type_by_id(int id);
const struct task_type *task_type_by_name(const char *name);
/* NULL-terminated list, in id order. */
extern const struct task_type *const task_types[];
void task_fail_set(struct task_fail *f, int status, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#endif
