/* Task type cross match (6): matches reference objects against candidates. */
#include "tasks/task_type.h"

const struct task_type task_cross_match = {
	.id = 6,
	.name = "cross_match",
	.schema = "cross_match_task",
	.result_is_zip = 0,
};
