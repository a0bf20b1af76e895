/* Private to the local objects backend (src/backends/objects_local*.c) and
 * its unit and fuzz tests: the spec's filter objects translated into SQL
 * (objects_local_filters.c). Callers of the backend validate filters with
 * objects_validate_filters() (objects.h). */
#ifndef LUNA_OBJECTS_WHERE_H
#define LUNA_OBJECTS_WHERE_H
#include "backends/objects.h"

/* A filter object translated into SQL: clauses joined by AND over the
 * object table aliased "o" ("1" when there are none), with their values as
 * bound parameters. Only structure is ever written into sql. */
struct objects_where {
	char *sql;
	struct db_param *params;
	size_t nparams;
};

/* Most values one WHERE may bind: a statement takes at most DB_MAX_PARAMS,
 * and the queries around it add a few of their own (ranges, paging). */
#define OBJECTS_WHERE_MAX_PARAMS (DB_MAX_PARAMS - 64)

/* Translates filters (may be NULL) for kind. Unknown keys, wrong value
 * types, bad times or uuids fail with a message naming the key; so do
 * filters holding more than OBJECTS_WHERE_MAX_PARAMS values in all. */
int objects_where_build(struct arena *a, enum objects_kind kind, json_object *filters, const char *account_id,
			struct objects_where *w, char *err, size_t errlen);

/* objects_where_build without keeping the result: the local backend's validate_filters. */
int objects_local_validate_filters(enum objects_kind kind, json_object *filters, char *err, size_t errlen);
#endif
