/* Task type exporter (8): writes faces or events to a CSV inside a zip. */
#include "tasks/task_type.h"

const struct task_type task_exporter = {
	.id = 8,
	.name = "exporter",
	.schema = "exporter_task",
	.result_is_zip = 1,
};
