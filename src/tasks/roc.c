/* Task type roc (7): evaluates a ROC curve over a labelled markup. */
#include "tasks/task_type.h"

const struct task_type task_roc = {
	.id = 7,
	.name = "roc",
	.schema = "roc_task",
	.result_is_zip = 0,
};
