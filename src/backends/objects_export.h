/* Objects read for reports and exports (reporter and exporter tasks), part
 * of the objects backend interface (objects.h): rows of raw text cells
 * straight from the objects database, streamed one at a
 * time so that an export of millions of events runs in constant memory, plus
 * the id boundaries that cut such an export into chunks.
 *
 * A column is one of the spec's report/export columns; its cells are the DB's
 * text (NULL cells are NULL) and its kind says how a writer renders them:
 * plain text, a UTC DATETIME(6), a JSON document as the API shows it, a
 * comma-separated id list, or a (latitude, longitude) pair of two cells.
 * Workload: full filtered scans in ascending id order (by id ranges), or
 * lookups of up to a few thousand ids by primary key. */
#ifndef LUNA_OBJECTS_EXPORT_H
#define LUNA_OBJECTS_EXPORT_H
#include <stddef.h>
#include <json-c/json.h>
#include "backends/objects.h"

enum export_value {
	EXV_TEXT = 1,   /* as is */
	EXV_TIME,       /* "YYYY-MM-DD HH:MM:SS.ffffff", UTC */
	EXV_JSON,       /* a JSON document */
	EXV_ID_LIST,    /* "id,id,…" (ids never contain commas) */
	EXV_GEO,        /* two cells: latitude, longitude */
};

/* A column as the backend defines it (how it reads one is its own). */
struct export_column {
	const char *name;
	enum export_value value;
};

/* The column of kind (faces or events) with that name; NULL when the spec
 * has no such column. Queries name columns by these pointers only. */
const struct export_column *objects_export_column(enum objects_kind kind, const char *name);

/* What to read: the columns in order, and the sample ids of the given
 * sample type (0: none) for images. */
struct objects_export_query {
	enum objects_kind kind;
	const struct export_column *const *columns;
	size_t ncolumns;
	enum descriptor_type images;
};

/* One object. cells[c] / lens[c] start at the first cell of column c
 * (EXV_GEO columns have two). samples: comma-separated sample ids of the
 * image type, NULL when none; avatar: the face's avatar ("" when none;
 * NULL for events). Everything is valid during the callback only. */
struct objects_export_row {
	const char *id;
	char **cells;
	unsigned long *lens;
	const char *samples;
	const char *avatar;
};
/* objects_export_cb (objects.h) returns nonzero to stop the stream. */

/* Objects matching filters within the account, after < id <= upto (either
 * bound NULL: open), in ascending id order. The connection is busy while
 * streaming: cb must not use o. */
static inline int objects_export_stream(struct objects *o, const struct objects_export_query *q,
					json_object *filters, const char *account_id, const char *after,
					const char *upto, objects_export_cb cb, void *ud)
{
	return o->ops->export_stream(o, q, filters, account_id, after, upto, cb, ud);
}

/* The given ids (at most OBJECTS_EXPORT_MAX_IDS) of the account (NULL: any),
 * in ascending id order; ids that do not exist are left out. */
#define OBJECTS_EXPORT_MAX_IDS 1000
static inline int objects_export_by_ids(struct objects *o, const struct objects_export_query *q,
					const char *account_id, char *const *ids, size_t n, objects_export_cb cb,
					void *ud)
{
	return o->ops->export_by_ids(o, q, account_id, ids, n, cb, ud);
}

/* Chunk boundaries of the matching objects: (*bounds)[i] is the last id of
 * chunk i, every chunk holding chunk objects; the objects after the last
 * boundary form the last chunk. *n may be 0 (fewer than chunk objects).
 * Strings come from arena a. */
static inline int objects_export_bounds(struct objects *o, struct arena *a, enum objects_kind kind,
					json_object *filters, const char *account_id, size_t chunk, char ***bounds,
					size_t *n)
{
	return o->ops->export_bounds(o, a, kind, filters, account_id, chunk, bounds, n);
}
#endif
