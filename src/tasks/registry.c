/* The registry of task types: one line per type, in id order. The API
 * routes POST /2/tasks/<name> from it, the scheduler plans, runs and collects
 * from it, and the manual's table of task types is printed from it. */
#include "tasks/task_type.h"
#include "common/errors.h"
#include "common/redact.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define TASK_TYPE_LIST(X) \
	X(task_linker) \
	X(task_clustering) \
	X(task_reporter) \
	X(task_gc) \
	X(task_additional_extract) \
	X(task_cross_match) \
	X(task_roc) \
	X(task_exporter) \
	X(task_estimator)

#define DECLARE_TYPE(t) extern const struct task_type t;
TASK_TYPE_LIST(DECLARE_TYPE)

#define LIST_TYPE(t) &t,
const struct task_type *const task_types[] = {TASK_TYPE_LIST(LIST_TYPE) NULL};

const struct task_type *task_type_by_id(int id)
{
	for (size_t i = 0; task_types[i]; i++)
		if (task_types[i]->id == id)
			return task_types[i];
	return NULL;
}

const struct task_type *task_type_by_name(const char *name)
{
	for (size_t i = 0; task_types[i]; i++)
		if (strcmp(task_types[i]->name, name) == 0)
			return task_types[i];
	return NULL;
}

static void task_fail_vset(struct task_fail *f, int status, int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
static void task_fail_vset(struct task_fail *f, int status, int code, const char *fmt, va_list ap)
{
	f->status = status;
	f->code = code;
	url_redact_vsnprintf(f->detail, sizeof(f->detail), fmt, ap);   /* it reaches error rows, logs and replies */
}

void task_fail(struct task_fail *f, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	task_fail_vset(f, luna_error_def(code)->http_status, code, fmt, ap);
	va_end(ap);
}

void task_fail_set(struct task_fail *f, int status, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	task_fail_vset(f, status, code, fmt, ap);
	va_end(ap);
}
