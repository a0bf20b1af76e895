/* Private to the local objects backend (objects_local*.c): the handle, and
 * the functions of the table objects_local_ops that live outside
 * objects_local.c. Only those files, objects.c (the list of backends) and
 * the backend's unit test include it. */
#ifndef LUNA_OBJECTS_LOCAL_H
#define LUNA_OBJECTS_LOCAL_H
#include "backends/objects.h"
#include "backends/objects_export.h"
#include "backends/objects_extract.h"
#include "backends/objects_where.h"

extern const struct objects_ops objects_local_ops;

/* The local handle: one connection to the luna_objects database. */
struct objects_local {
	struct objects base;
	struct db *db;
	const struct luna_config *cfg;
};

static inline struct db *local_db(struct objects *o)
{
	return ((struct objects_local *)o)->db;
}

/* Records the reason of a failure for objects_error(); returns -1. input: a
 * bad filter or argument rather than a database fault. */
int objects_local_fail(struct objects *o, int input, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same for a failed statement of the connection ("what" names it). */
int objects_local_db_fail(struct objects *o, const char *what);
/* The object table of a kind (structure only, never user input). */
struct objects_local_table {
	const char *table, *id;
	/* An index that yields the rows the filters select in id order: (account_id,
	 * id) when there is an account (every WHERE then fixes it), else the key;
	 * (account_id, column) when a filter also fixes that column
	 * (objects_where.equality_index). */
	const char *id_order_index;
};
/* The table of kind and the WHERE clause of the filters, allocated in a,
 * built by objects_where_build_by_list (read it over objects_where_from);
 * -1 with the error set. */
int objects_local_where(struct objects *o, struct arena *a, enum objects_kind kind, json_object *filters,
			const char *account_id, struct objects_local_table *t, struct objects_where *w);
/* Checks a descriptor of bytes bytes read for object id: a whole number of
 * floats, and *d of them once *d is set (the first one sets it). -1 with
 * the error set. */
int objects_local_vector_size(struct objects *o, const char *id, size_t idlen, size_t bytes, size_t *d);

/* objects_local_export.c */
int objects_local_export_stream(struct objects *o, const struct objects_export_query *q, json_object *filters,
				const char *account_id, const char *after, const char *upto, objects_export_cb cb,
				void *ud);
int objects_local_export_by_ids(struct objects *o, const struct objects_export_query *q, const char *account_id,
				char *const *ids, size_t n, objects_export_cb cb, void *ud);
int objects_local_export_bounds(struct objects *o, struct arena *a, enum objects_kind kind, json_object *filters,
				const char *account_id, size_t chunk, char ***bounds, size_t *n);

/* objects_local_extract.c */
int objects_local_extract_page_missing(struct objects *o, struct arena *a, enum objects_kind kind,
				       json_object *ae_filters, const char *account_id, enum extract_target target,
				       int version, int default_version, const char *after, size_t limit, char ***ids,
				       size_t *n);
int objects_local_extract_samples(struct objects *o, struct arena *a, enum objects_kind kind, const char *id,
				  enum extract_target target, char ***sample_ids, size_t *n);
int objects_local_extract_account(struct objects *o, struct arena *a, enum objects_kind kind, const char *id,
				  char **account);
int objects_local_extract_put_attributes(struct objects *o, enum objects_kind kind, const char *id,
					 const char *account_id, int age, int gender, int ethnicity);

/* objects_local_import.c */
int objects_local_import_begin(struct objects *o);
int objects_local_import_lists(struct objects *o, struct arena *a, const struct objects_import_list *lists, size_t n,
			       size_t *created);
int objects_local_import_clear_events(struct objects *o, struct arena *a, char *const *event_ids, size_t n);
int objects_local_import_rows(struct objects *o, enum objects_import_table table, const struct db_param *cells,
			      size_t nrows);
int objects_local_import_commit(struct objects *o);
void objects_local_import_rollback(struct objects *o);

/* objects_local_cursor.c */
int objects_local_cursor_open(struct objects *o, enum objects_kind kind, json_object *filters, const char *account_id,
			      enum descriptor_type type, int version, unsigned flags, size_t block_rows,
			      const char *after, const char *upto, struct objects_cursor **out);
int objects_local_cursor_next(struct objects_cursor *c, const struct objects_block **block);
void objects_local_cursor_close(struct objects_cursor *c);
#endif
