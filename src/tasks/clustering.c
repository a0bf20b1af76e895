/* Task type clustering (2): groups faces or events by descriptor similarity. */
#include "tasks/task_type.h"

const struct task_type task_clustering = {
	.id = 2,
	.name = "clustering",
	.schema = "clustering_task",
	.result_is_zip = 0,
};
