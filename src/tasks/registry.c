/* The registry of task types: one line per type. */
#include "tasks/task_type.h"
#include "common/redact.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

extern const struct task_type task_linker, task_clustering, task_reporter, task_gc, task_additional_extract,
	task_cross_match, task_roc, task_exporter, task_estimator;

const struct task_type *const task_types[] = {
	&task_linker, &task_clustering, &task_reporter, &task_gc, &task_additional_extract,
	&task_cross_match, &task_roc, &task_exporter, &task_estimator, NULL,
};

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

void task_fail_set(struct task_fail *f, int status, int code, const char *fmt, ...)
{
	va_list ap;
	f->status = status;
	f->code = code;
	va_start(ap, fmt);
	url_redact_vsnprintf(f->detail, sizeof(f->detail), fmt, ap);   /* it reaches error rows, logs and replies */
	va_end(ap);
}
