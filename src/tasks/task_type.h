/* A task type: one source file per type under src/tasks/, one line in the
 * registry (registry.c). The API uses the identity and validate(); the
 * scheduler uses plan/run_subtask/collect. Hooks that a type does not need
 * are NULL. What a hook needs of the tasks database it asks its host for
 * (struct task_host): task code never queries the database itself. */
#ifndef LUNA_TASK_TYPE_H
#define LUNA_TASK_TYPE_H
#include <json-c/json.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include "common/arena.h"
#include "common/config.h"
#include "common/db.h"
#include "common/redact.h"

struct storage;
struct objects;
struct task_host;

/* Everything a task type may use; filled by the host process. */
struct task_ctx {
	const struct luna_config *cfg;
	struct arena *arena;           /* dies with the request / subtask */
	struct db *tasks_db;           /* the host's connection; task code goes through host */
	struct objects *objects;       /* objects backend; NULL when the host has none */
	struct storage *store;         /* result store; NULL when the host has none */
	long long task_id;             /* 0 before the task exists (API validation) */
	long long subtask_id;
	const char *account_id;        /* of the task */
	const char *request_id;
	const char *result_id;         /* collect: the id the task result is stored under */
	/* run_subtask: the blob id it stored its partial under itself (with
	 * *partial NULL), e.g. the task's result document written straight to
	 * the store; the scheduler records it as the subtask's result, or
	 * deletes it when the run ends otherwise. In the ctx arena. */
	const char *stored_partial;
	/* run_subtask: nonzero when stored_partial is the task's whole result
	 * document (task_store_document), not a partial result. The scheduler
	 * marks the subtask row (subtask.result_document), and when it is the
	 * task's only subtask, collecting makes that blob the task result as it
	 * is, without calling collect or reading the blob. */
	int stored_document;
	/* Set by the scheduler's liveness thread, polled (atomic_load) by long-running
	 * work on any of its threads; nonzero = stop now. */
	atomic_int *cancelled;
	/* What the process running the hook offers it (below); NULL: nothing. */
	const struct task_host *host;
};

/* A task as task_lookup() finds it; strings live in the ctx arena. */
struct task_row {
	int type, status;
	const char *result_id;         /* NULL when it has none */
	const char *content;           /* its JSON text */
	int64_t create_time_us;
};

/* The operations a host (the scheduler; the API for validate and cleanup)
 * offers task hooks; NULL when the host does not offer one. Implemented in
 * src/scheduler/ over the tasks database. Task code calls the task_*
 * wrappers below, which behave as documented when there is no host. */
struct task_host {
	/* Adds an error row linked to ctx's task and subtask; 0 ok. Rows past
	 * [TASKS] MAX_ERRORS per task are dropped silently. */
	int (*report_error)(const struct task_ctx *ctx, int code, const char *detail);
	/* The handler an earlier plan of ctx's task created: 1 (id filled), 0 none, -1 DB error. */
	int (*created_handler)(const struct task_ctx *ctx, char id[37]);
	/* Records id as the task's created handler unless one is recorded
	 * already (a concurrent plan after a lost lease): then id becomes that
	 * one. 0 ok, -1 DB error. */
	int (*record_created_handler)(const struct task_ctx *ctx, char id[37]);
	/* Task task_id of account_id (NULL: of any account): 1 found (*row
	 * filled), 0 none, -1 DB error. */
	int (*lookup_task)(const struct task_ctx *ctx, long long task_id, const char *account_id, struct task_row *row);
	/* The ids of the subtasks of ctx's task, in id order (arena array). 0 ok, -1 DB error. */
	int (*subtask_ids)(const struct task_ctx *ctx, long long **ids, size_t *n);
	/* The error rows of ctx's task (at most [TASKS] MAX_ERRORS), rendered
	 * as GET /2/tasks/{task_id}/errors shows them; NULL on a DB error. */
	json_object *(*errors_json)(const struct task_ctx *ctx);
	/* Whether blob_id is the result of some task or subtask: 1 yes, 0 no, -1 DB error. */
	int (*is_task_result)(const struct task_ctx *ctx, const char *blob_id);
};

/* printf-style report_error, URL credentials redacted; a no-op (returning 0)
 * when the host records no errors. */
static inline int task_report_error(const struct task_ctx *ctx, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline int task_report_error(const struct task_ctx *ctx, int code, const char *fmt, ...)
{
	const struct task_host *host = ctx ? ctx->host : NULL;
	char detail[1024];
	va_list ap;
	if (!host || !host->report_error)
		return 0;
	va_start(ap, fmt);
	url_redact_vsnprintf(detail, sizeof(detail), fmt, ap);   /* no URL credentials in error rows */
	va_end(ap);
	return host->report_error(ctx, code, detail);
}

/* 0 (none) without a host that records handlers. */
static inline int task_created_handler(const struct task_ctx *ctx, char id[37])
{
	const struct task_host *host = ctx ? ctx->host : NULL;
	return host && host->created_handler ? host->created_handler(ctx, id) : 0;
}

/* 0 (nothing to record) without a host that records handlers. */
static inline int task_record_created_handler(const struct task_ctx *ctx, char id[37])
{
	const struct task_host *host = ctx ? ctx->host : NULL;
	return host && host->record_created_handler ? host->record_created_handler(ctx, id) : 0;
}

/* -1 without a host that looks tasks up. */
static inline int task_lookup(const struct task_ctx *ctx, long long task_id, const char *account_id,
			      struct task_row *row)
{
	const struct task_host *host = ctx ? ctx->host : NULL;
	return host && host->lookup_task ? host->lookup_task(ctx, task_id, account_id, row) : -1;
}

/* -1 without a host that lists subtasks. */
static inline int task_subtask_ids(const struct task_ctx *ctx, long long **ids, size_t *n)
{
	const struct task_host *host = ctx ? ctx->host : NULL;
	return host && host->subtask_ids ? host->subtask_ids(ctx, ids, n) : -1;
}

/* An empty array without a host that keeps errors. */
static inline json_object *task_errors_json(const struct task_ctx *ctx)
{
	const struct task_host *host = ctx ? ctx->host : NULL;
	return host && host->errors_json ? host->errors_json(ctx) : json_object_new_array();
}

/* -1 without a host that knows the results. */
static inline int task_is_result(const struct task_ctx *ctx, const char *blob_id)
{
	const struct task_host *host = ctx ? ctx->host : NULL;
	return host && host->is_task_result ? host->is_task_result(ctx, blob_id) : -1;
}

/* An error a hook reports: HTTP status (API), code of errors.h, detail text. */
struct task_fail {
	int status;
	int code;
	char detail[1024];
};

struct task_type {
	int id;                        /* task_type of the spec, 1..9 */
	const char *name;              /* POST /2/tasks/<name>: the spec's path, with its body schema */
	int result_is_zip;             /* result downloaded as application/zip */
	int needs_handlers;            /* creation refused without [HANDLERS] URL (E_HANDLERS_NOT_CONFIGURED) */
	/* collect gets the partial results' blob ids (strings; null for failed
	 * subtasks) instead of the results, reads them itself one at a time and
	 * stores the result under ctx->result_id (*result NULL): for types whose
	 * whole result would not fit in memory. */
	int collect_reads_partials;
	/* Planned as one subtask whose partial result is the task result: the
	 * scheduler stores it once, as the result document of
	 * task_result_document(), when the subtask ends, and collecting makes
	 * that blob the task result without reading or writing it. No collect hook. */
	int result_from_subtask;
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
/* Sets why the work failed: the error code, and a detail made like printf's
 * (checked by the compiler). The HTTP status, answered when the check runs as
 * the task is created, is the code's own in the error table. */
void task_fail(struct task_fail *f, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* task_fail_detail(f, CODE, args...): the detail is the table's template of
 * CODE (CODE##_DETAIL, common/errors.h) filled in. */
#define task_fail_detail(f, code, ...) task_fail((f), (code), code##_DETAIL, __VA_ARGS__)
/* The same with a status other than the table's (an answer of the original
 * service that differs from the code's usual one). */
void task_fail_set(struct task_fail *f, int status, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#endif
