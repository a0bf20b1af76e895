/* Task type estimator (9): sends images of an archive, bucket, folder or FTP server to a handler. */
#include "tasks/task_type.h"

const struct task_type task_estimator = {
	.id = 9,
	.name = "estimator",
	.schema = "estimator_task",
	.result_is_zip = 0,
};
