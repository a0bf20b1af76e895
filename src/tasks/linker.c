/* Task type linker (1): links faces (or faces made from events) to a list. */
#include "tasks/task_type.h"

const struct task_type task_linker = {
	.id = 1,
	.name = "linker",
	.schema = "linker_task",
	.result_is_zip = 0,
};
