/* Bounds of the lists and numbers a client sizes in a task body ([LIMITS]). */
#ifndef LUNA_TASK_LIMITS_H
#define LUNA_TASK_LIMITS_H
#include "tasks/task_type.h"

/* Checks value (a task body, or a part of it found at the dot-joined path,
 * e.g. "content") of a task of type `type` (its name) against [LIMITS]:
 * every list and the numbers the limits name. 0 when within the limits;
 * -1 with fail set to 400/12022 naming the JSON path, the limit and its key. */
int task_limits_check(const struct luna_config *cfg, const char *type, json_object *value, const char *path,
		      struct task_fail *fail);
#endif
