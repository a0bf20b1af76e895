/* Task type reporter (3): a CSV report (inside a zip) of a done clustering
 * task's clusters. */
#include "tasks/task_type.h"
#include "common/errors.h"
#include <stdlib.h>

/* The source must be a done clustering task of the same account, with a result. */
static int reporter_validate(struct task_ctx *ctx, json_object *content, struct task_fail *fail)
{
	json_object *filters, *jid;
	if (!json_object_object_get_ex(content, "filters", &filters) ||
	    !json_object_object_get_ex(filters, "task_id", &jid))
		return 0;
	long long source = json_object_get_int64(jid);
	struct db_param p[] = {DBP_I64(source), DBP_STR(ctx->account_id), DBP_STR(ctx->account_id)};
	struct db_result r;
	if (db_exec(ctx->tasks_db, ctx->arena,
		    "SELECT task_type, task_status, result_id FROM task WHERE task_id = ? AND (? IS NULL OR account_id = ?)",
		    p, 3, &r)) {
		task_fail_set(fail, 500, E_DB, "%s", luna_error_def(E_DB)->detail_fmt);
		return -1;
	}
	if (r.nrows == 0) {
		task_fail_set(fail, 400, E_TASK_NOT_FOUND, "Task with id '%lld' not found", source);
		return -1;
	}
	int type = atoi(r.rows[0][0]), status = atoi(r.rows[0][1]);
	if (type != 2) {
		task_fail_set(fail, 400, E_REPORT_TYPE, "Tasks with type '%d' does not support a build report", type);
		return -1;
	}
	if (status != 5) {
		task_fail_set(fail, 400, E_REPORT_STATUS, "Tasks with status '%d' does not support a build report", status);
		return -1;
	}
	if (!r.rows[0][2]) {
		task_fail_set(fail, 400, E_REPORT_NO_RESULT, "%s", luna_error_def(E_REPORT_NO_RESULT)->detail_fmt);
		return -1;
	}
	return 0;
}

const struct task_type task_reporter = {
	.id = 3,
	.name = "reporter",
	.schema = "reporter_task",
	.result_is_zip = 1,
	.validate = reporter_validate,
};
