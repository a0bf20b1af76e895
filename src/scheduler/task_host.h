/* The tasks database behind struct task_host (tasks/task_type.h): the reads
 * every host offers task hooks (the scheduler's workers and janitor, and the
 * API for validate and cleanup), and the one JSON rendering of an error row,
 * shared by the API's replies and the {result, errors} task results.
 * Compiled into libluna, since both programs host task hooks; the
 * scheduler's own host adds the writes (sched_task_host, common.c). */
#ifndef LUNA_SCHED_TASK_HOST_H
#define LUNA_SCHED_TASK_HOST_H
#include "tasks/task_type.h"

/* Columns task_error_json() expects, in order (e = task_error). */
#define TASK_ERROR_COLUMNS "e.error_id, e.task_id, e.subtask_id, e.error_code, e.description, e.detail, " \
	"e.additional_info, e.error_time"
/* An error row as the spec's task_error object; times in [API] TIME_ZONE. */
json_object *task_error_json(const struct luna_config *cfg, char **row);

/* The task_host reads, over ctx->tasks_db (see struct task_host). */
int task_host_lookup_task(const struct task_ctx *ctx, long long task_id, const char *account_id,
			  struct task_row *row);
int task_host_subtask_ids(const struct task_ctx *ctx, long long **ids, size_t *n);
json_object *task_host_errors_json(const struct task_ctx *ctx);
int task_host_is_task_result(const struct task_ctx *ctx, const char *blob_id);

/* A host with the reads only: what the API offers validate and cleanup hooks. */
extern const struct task_host task_host_reads;
#endif
