/* Task type garbage collection (4): removes descriptors, events and samples. */
#include "tasks/task_type.h"

const struct task_type task_gc = {
	.id = 4,
	.name = "gc",
	.schema = "gc_task",
	.result_is_zip = 0,
};
