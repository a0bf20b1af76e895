/* Private to the local objects backend (objects_local*.c, objects_rows.c). */
#ifndef LUNA_OBJECTS_LOCAL_H
#define LUNA_OBJECTS_LOCAL_H
#include "backends/objects.h"

/* Records the reason of a failure for objects_error(); returns -1. input: a
 * bad filter or argument rather than a database fault. */
int objects_local_fail(struct objects *o, int input, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same for a failed statement of the connection ("what" names it). */
int objects_local_db_fail(struct objects *o, const char *what);
/* The object table of a kind (structure only, never user input). */
struct objects_local_table {
	const char *table, *id;
	/* An index that yields the rows the filters select in id order: (account_id,
	 * id) when there is an account (every WHERE then fixes it), else the key. */
	const char *id_order_index;
};
/* The table of kind and the WHERE clause of the filters, allocated in a; -1
 * with the error set. */
int objects_local_where(struct objects *o, struct arena *a, enum objects_kind kind, json_object *filters,
			const char *account_id, struct objects_local_table *t, struct objects_where *w);
/* Checks a descriptor of bytes bytes read for object id: a whole number of
 * floats, and *d of them once *d is set (the first one sets it). -1 with
 * the error set. */
int objects_local_vector_size(struct objects *o, const char *id, size_t idlen, size_t bytes, size_t *d);
#endif
