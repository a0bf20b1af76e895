/* What the scheduler offers task hooks through task_ctx.host (NULL in the
 * API): recording an error that does not stop the work, such as one bad image
 * of an archive, and remembering a handler that planning created, so that a
 * retried plan does not create it again. Task code calls task_report_error(),
 * task_created_handler() and task_record_created_handler(); it costs nothing
 * to include this header in a program that has no scheduler. */
#ifndef LUNA_TASK_HOST_H
#define LUNA_TASK_HOST_H
#include <stdarg.h>
#include <stdio.h>
#include "tasks/task_type.h"
#include "common/redact.h"

struct task_host {
	/* Adds a task_error row linked to ctx's task and subtask; 0 ok. Rows past
	 * [TASKS] MAX_ERRORS per task are dropped silently. */
	int (*report_error)(struct task_ctx *ctx, int code, const char *detail);
	/* The handler an earlier plan of ctx's task created: 1 (id filled), 0 none, -1 DB error. */
	int (*created_handler)(struct task_ctx *ctx, char id[37]);
	/* Records id as the task's created handler unless one is recorded
	 * already (a concurrent plan after a lost lease): then id becomes that
	 * one. 0 ok, -1 DB error. */
	int (*record_created_handler)(struct task_ctx *ctx, char id[37]);
};

/* printf-style; a no-op (returning 0) when the host has no scheduler. */
static inline int task_report_error(struct task_ctx *ctx, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline int task_report_error(struct task_ctx *ctx, int code, const char *fmt, ...)
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

/* 0 (none) without a scheduler. */
static inline int task_created_handler(struct task_ctx *ctx, char id[37])
{
	const struct task_host *host = ctx ? ctx->host : NULL;
	return host && host->created_handler ? host->created_handler(ctx, id) : 0;
}

/* 0 (nothing to record) without a scheduler. */
static inline int task_record_created_handler(struct task_ctx *ctx, char id[37])
{
	const struct task_host *host = ctx ? ctx->host : NULL;
	return host && host->record_created_handler ? host->record_created_handler(ctx, id) : 0;
}
#endif
