/* Private to the local objects backend (objects_local.c, objects_rows.c). */
#ifndef LUNA_OBJECTS_LOCAL_H
#define LUNA_OBJECTS_LOCAL_H
#include "backends/objects.h"

/* Records the reason of a failure for objects_error(); returns -1. input: a
 * bad filter or argument rather than a database fault. */
int objects_local_fail(struct objects *o, int input, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#endif
