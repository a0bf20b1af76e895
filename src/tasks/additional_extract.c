/* Task type additional extract (5): extracts missing descriptors or attributes from samples. */
#include "tasks/task_type.h"

const struct task_type task_additional_extract = {
	.id = 5,
	.name = "additional_extract",
	.schema = "additional_extract_task",
	.result_is_zip = 0,
};
