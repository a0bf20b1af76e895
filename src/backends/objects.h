/* Objects backend: faces, lists, attributes, descriptors and events that
 * tasks read and change. local = the luna_objects MariaDB database. */
#ifndef LUNA_OBJECTS_H
#define LUNA_OBJECTS_H
#include <stddef.h>
#include "common/config.h"

struct objects;
/* One handle per thread (it owns a DB connection). */
struct objects *objects_open(const struct luna_config *cfg, char *err, size_t errlen);
void objects_close(struct objects *o);   /* NULL ok */
/* Healthcheck: 0 when reachable. */
int objects_check(struct objects *o, char *err, size_t errlen);
#endif
