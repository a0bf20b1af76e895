/* Objects backend: faces, lists, attributes, descriptors and events that
 * tasks read and change. A backend is a table of functions (struct
 * objects_ops, DESIGN §5); task code calls the objects_* wrappers below and
 * never knows which backend it talks to. [OBJECTS] BACKEND names it:
 * local = the luna_objects MariaDB database (sql/objects/, objects_local*.c)
 * is the only one built so far; objects_open() refuses any other name with
 * a clear message. See src/backends/README.md.
 *
 * Objects are selected by the spec's filter objects (faces_filters*,
 * events_filters*, attributes_filters*, ae_*_filters, gc filters) given as
 * JSON, plus an account: the one passed by the caller (the task's) always
 * applies; a filter's own account_id only narrows it (a different one
 * selects nothing). Functions taking ids or a list id from a client stay
 * within the account passed: ids of another account behave as missing.
 *
 * Workload: a task reads up to a few million ids page by page, up to 20000
 * descriptors at once for matching, or millions of descriptors block by
 * block through the cursor (cross match candidates); linker and gc change
 * objects in chunks of about a thousand. One handle per thread (it owns a DB connection).
 * Every function returns 0 on success and -1 on failure with the reason in
 * objects_error(). Memory handed out comes from the caller's arena. */
#ifndef LUNA_OBJECTS_H
#define LUNA_OBJECTS_H
#include <stddef.h>
#include <json-c/json.h>
#include "common/arena.h"
#include "common/config.h"
#include "common/db.h"

enum objects_kind { OBJ_FACES = 1, OBJ_EVENTS = 2, OBJ_ATTRIBUTES = 3 };
/* Who owns a descriptor or a sample (the owner_kind column). */
enum objects_owner { OWNER_FACE = 1, OWNER_ATTRIBUTE = 2, OWNER_EVENT = 3 };
enum descriptor_type { DESCRIPTOR_FACE = 1, DESCRIPTOR_BODY = 2 };
/* What additional extraction adds to an object (objects_extract.h). */
enum extract_target { EXTRACT_FACE_DESCRIPTOR = 1, EXTRACT_BODY_DESCRIPTOR = 2, EXTRACT_BASIC_ATTRIBUTES = 3 };

/* "faces" / "events" / "attributes" → kind; 0 when unknown. */
enum objects_kind objects_kind_from_name(const char *name);
/* "face" / "body" → type; 0 when unknown. */
enum descriptor_type descriptor_type_from_name(const char *name);
/* The configured default version of a descriptor type. */
int descriptor_default_version(const struct luna_config *cfg, enum descriptor_type type);
/* L2-normalises v in place; a zero vector stays zero. */
void objects_l2_normalize(float *v, size_t d);

/* Where objects_load_vectors_by_ids writes the descriptor of object id, d
 * floats: *row (NULL: nowhere); nonzero stops the load. */
typedef int (*objects_vector_slot_cb)(void *ud, const char *id, size_t d, float **row);

/* Descriptor block cursor: streams the descriptors of matching objects in
 * blocks of a fixed number of rows, for work whose memory must not grow with
 * the number of objects (cross match's candidates): every block lives in one
 * buffer, allocated with the first row and reused for every later block.
 * Selection and account as in objects_page_ids; ascending id order;
 * objects without the descriptor are skipped. */

/* Room for one id of the objects tables (CHAR(36)) and its NUL. */
#define OBJECTS_ID_SIZE 37
/* Most rows one block may hold. */
#define OBJECTS_BLOCK_MAX_ROWS (1u << 20)

/* What follows the last step of objects_step_ids. */
struct objects_steps_tail {
	size_t n;                     /* objects after the last step id */
	char last[OBJECTS_ID_SIZE];   /* the last of them; "" when none */
};

/* One block: row i of x (n x d, L2-normalised) is the descriptor of ids[i];
 * track_ids[i] is the event's track id or NULL (NULL array unless asked for,
 * events only). Valid until the next objects_cursor_next or the close. */
struct objects_block {
	size_t n, d;
	char **ids;
	float *x;
	char **track_ids;
};

/* An event removed by objects_delete_events, with its samples and the image
 * origins of its detections. */
struct objects_removed_event {
	char *event_id;
	char **sample_ids;
	size_t nsamples;
	char **image_origins;
	size_t norigins;
};

/* Reports and exports (objects_export.h). */
struct objects_export_query;
struct objects_export_row;
typedef int (*objects_export_cb)(void *ud, const struct objects_export_row *row);

/* The admin importer's bulk writes: the tables it fills, each row a fixed
 * number of typed cells (struct db_param used as a typed value: strings,
 * integers, doubles, bytes or NULL) in the column order given here. */
enum objects_import_table {
	/* face_id, account_id, event_id, attribute_id, user_data, external_id, avatar, create_time */
	IMPORT_FACES = 1,
	/* attribute_id, account_id, face_id, create_time, age, gender, ethnicity */
	IMPORT_ATTRIBUTES,
	/* owner_id, type, version, owner kind, account_id, vector (float32 bytes, normalised) */
	IMPORT_DESCRIPTORS,
	/* list_id, face_id, link_time */
	IMPORT_LIST_FACES,
	/* event_id, account_id, create_time, end_time, insert_time, handler_id, external_id, source,
	 * user_data, face_id, track_id, gender, age, emotion, ethnic_group, mask, liveness, city, area,
	 * district, street, house_number, longitude, latitude, top_similar_object_id,
	 * top_similar_external_id, top_similar_object_similarity, tags_json, top_match_json,
	 * match_result_json, face_detections_json, body_detections_json, attach_result_json */
	IMPORT_EVENTS,
	/* event_id, tag */
	IMPORT_TAGS,
	/* event_id, label, object_id, external_id, similarity */
	IMPORT_MATCHES,
	/* sample_id, owner_id, owner kind, sample type, image_origin (NULL keeps the stored one) */
	IMPORT_SAMPLES,
};
/* Cells of one row of table; 0 for an unknown table. */
size_t objects_import_columns(enum objects_import_table table);
/* A list the batch's faces name, with the account of those faces. */
struct objects_import_list {
	const char *list_id, *account_id;
};

struct objects;
/* What every backend's cursor starts with: the handle it reads through. */
struct objects_cursor {
	struct objects *o;
};

/* The operations of a backend. Every one but open, close, check, diagnose
 * and validate_filters records the reason of a failure in the handle
 * (objects_error). See the wrappers below and in objects_export.h,
 * objects_extract.h for the contract of each. */
struct objects_ops {
	const char *name;
	struct objects *(*open)(const struct luna_config *cfg, char *err, size_t errlen);
	void (*close)(struct objects *o);
	int (*check)(struct objects *o, char *err, size_t errlen);
	int (*diagnose)(struct objects *o, char *err, size_t errlen);
	/* Needs no handle: the API checks filters without a connection. */
	int (*validate_filters)(enum objects_kind kind, json_object *filters, char *err, size_t errlen);

	int (*count)(struct objects *o, enum objects_kind kind, json_object *filters, const char *account_id,
		     long long *count);
	int (*page_ids)(struct objects *o, struct arena *a, enum objects_kind kind, json_object *filters,
			const char *account_id, const char *after, const char *upto, size_t limit, char ***ids,
			size_t *n);
	int (*step_ids)(struct objects *o, struct arena *a, enum objects_kind kind, json_object *filters,
			const char *account_id, size_t step, size_t max, char ***ids, size_t *n,
			struct objects_steps_tail *tail);
	int (*load_vectors_by_ids)(struct objects *o, enum objects_kind kind, const char *account_id,
				   char *const *ids, size_t nids, enum descriptor_type type, int version,
				   objects_vector_slot_cb slot, void *ud);
	int (*cursor_open)(struct objects *o, enum objects_kind kind, json_object *filters, const char *account_id,
			   enum descriptor_type type, int version, unsigned flags, size_t block_rows,
			   const char *after, const char *upto, struct objects_cursor **out);
	int (*cursor_next)(struct objects_cursor *c, const struct objects_block **block);
	void (*cursor_close)(struct objects_cursor *c);

	int (*list_exists)(struct objects *o, const char *account_id, const char *list_id, int *exists);
	int (*list_create)(struct objects *o, const char *account_id, const char *list_id, const char *user_data,
			   int *created);
	int (*list_link)(struct objects *o, const char *account_id, const char *list_id, char *const *face_ids,
			 size_t n);
	int (*faces_from_events)(struct objects *o, struct arena *a, const char *account_id, char *const *event_ids,
				 size_t n, char ***face_ids);

	int (*page_descriptor_owners)(struct objects *o, struct arena *a, enum objects_owner owner,
				      const char *account_id, enum descriptor_type type, int version, const char *after,
				      size_t limit, char ***ids, size_t *n);
	int (*delete_descriptors)(struct objects *o, struct arena *a, enum objects_owner owner, const char *account_id,
				  enum descriptor_type type, int version, char *const *owner_ids, size_t n,
				  char ***removed, size_t *nremoved);
	int (*delete_events)(struct objects *o, struct arena *a, const char *account_id, char *const *event_ids,
			     size_t n, struct objects_removed_event **removed, size_t *nremoved);
	int (*blob_in_use)(struct objects *o, const char *blob_id, const char *origin, int *in_use);

	int (*put_descriptor)(struct objects *o, enum objects_owner owner, const char *owner_id,
			      const char *account_id, enum descriptor_type type, int version, const float *v, size_t d);

	int (*export_stream)(struct objects *o, const struct objects_export_query *q, json_object *filters,
			     const char *account_id, const char *after, const char *upto, objects_export_cb cb,
			     void *ud);
	int (*export_by_ids)(struct objects *o, const struct objects_export_query *q, const char *account_id,
			     char *const *ids, size_t n, objects_export_cb cb, void *ud);
	int (*export_bounds)(struct objects *o, struct arena *a, enum objects_kind kind, json_object *filters,
			     const char *account_id, size_t chunk, char ***bounds, size_t *n);

	int (*extract_page_missing)(struct objects *o, struct arena *a, enum objects_kind kind,
				    json_object *ae_filters, const char *account_id, enum extract_target target,
				    int version, int default_version, const char *after, size_t limit, char ***ids,
				    size_t *n);
	int (*extract_samples)(struct objects *o, struct arena *a, enum objects_kind kind, const char *id,
			       enum extract_target target, char ***sample_ids, size_t *n);
	int (*extract_account)(struct objects *o, struct arena *a, enum objects_kind kind, const char *id,
			       char **account);
	int (*extract_put_attributes)(struct objects *o, enum objects_kind kind, const char *id,
				      const char *account_id, int age, int gender, int ethnicity);

	int (*import_begin)(struct objects *o);
	int (*import_lists)(struct objects *o, struct arena *a, const struct objects_import_list *lists, size_t n,
			    size_t *created);
	int (*import_clear_events)(struct objects *o, struct arena *a, char *const *event_ids, size_t n);
	int (*import_rows)(struct objects *o, enum objects_import_table table, const struct db_param *cells,
			   size_t nrows);
	int (*import_commit)(struct objects *o);
	void (*import_rollback)(struct objects *o);
};

/* What every backend's handle starts with. */
struct objects {
	const struct objects_ops *ops;
	int input_error;               /* the last failure was a bad filter or argument */
	char err[512];                 /* reason of the last failure */
};

/* The backend [OBJECTS] BACKEND names; NULL with err when there is none. */
const struct objects_ops *objects_backend(const struct luna_config *cfg, char *err, size_t errlen);
/* One handle per thread (it owns a DB connection). NULL with err on failure. */
struct objects *objects_open(const struct luna_config *cfg, char *err, size_t errlen);
static inline void objects_close(struct objects *o)   /* NULL ok */
{
	if (o)
		o->ops->close(o);
}
/* Healthcheck: 0 when reachable. */
static inline int objects_check(struct objects *o, char *err, size_t errlen)
{
	return o->ops->check(o, err, errlen);
}
/* As objects_check, a failure explained in an operator's words (what to
 * look at in the configuration); for the admin tools. */
static inline int objects_diagnose(struct objects *o, char *err, size_t errlen)
{
	return o->ops->diagnose(o, err, errlen);
}
/* Reason of the last failure. */
static inline const char *objects_error(const struct objects *o)
{
	return o->err;
}
/* True when the last failure was a bad filter (a user error), not the DB. */
static inline int objects_error_is_input(const struct objects *o)
{
	return o->input_error;
}

/* ---- Filters ---------------------------------------------------------- */

/* Whether filters (may be NULL) are valid for kind in the configured
 * backend: unknown keys, wrong value types, bad times or uuids, too many
 * values in all fail with a message naming the key. Needs no handle. */
int objects_validate_filters(const struct luna_config *cfg, enum objects_kind kind, json_object *filters,
			     char *err, size_t errlen);

/* ---- Reading ---------------------------------------------------------- */

/* Number of objects matching the filters. */
static inline int objects_count(struct objects *o, enum objects_kind kind, json_object *filters,
				const char *account_id, long long *count)
{
	return o->ops->count(o, kind, filters, account_id, count);
}

/* Ids of matching objects in ascending order: id > after (NULL: from the
 * first), id <= upto (NULL: no bound), at most limit (0: no limit). */
static inline int objects_page_ids(struct objects *o, struct arena *a, enum objects_kind kind, json_object *filters,
				   const char *account_id, const char *after, const char *upto, size_t limit,
				   char ***ids, size_t *n)
{
	return o->ops->page_ids(o, a, kind, filters, account_id, after, upto, limit, ids, n);
}

/* Every step-th id of the matching objects in ascending order (the ids at
 * positions step, 2 step, ...; at most max of them): boundaries of id ranges
 * of step objects each, found without reading the ids between them. Filters
 * of a faces list alone may be counted over the list's own rows (the local
 * backend does): the same boundaries while every face of a list is its
 * account's; a range holds a face less for each that left the account.
 * tail (NULL: not wanted): when fewer than max ids came, the objects after
 * the last of them (fewer than step, unless some were added meanwhile) are
 * counted, and the last one's id kept ("" when none): the last, partial
 * range, again without reading its ids. */
static inline int objects_step_ids(struct objects *o, struct arena *a, enum objects_kind kind, json_object *filters,
				   const char *account_id, size_t step, size_t max, char ***ids, size_t *n,
				   struct objects_steps_tail *tail)
{
	return o->ops->step_ids(o, a, kind, filters, account_id, step, max, ids, n, tail);
}

/* Descriptors (type, version) of the given ids of one kind within the account
 * (NULL: any), each written where the caller wants it: slot is called once
 * per object found, in no particular order, with its id and the descriptor's
 * length d, and returns the row of d floats the descriptor goes to
 * (L2-normalised there), or sets *row NULL to skip it; a nonzero return stops
 * the load, which then fails. Ids that do not exist or lack the descriptor
 * are never named. Nothing is sorted, grown or copied on the way: the
 * caller's rows are filled straight from the rows read. A backend may read
 * on more than one connection at once: slot is then still called by one
 * thread at a time, but rows are filled concurrently, so ids should be
 * unique (given in id order, the local backend reads its index in order). */
static inline int objects_load_vectors_by_ids(struct objects *o, enum objects_kind kind, const char *account_id,
					      char *const *ids, size_t nids, enum descriptor_type type, int version,
					      objects_vector_slot_cb slot, void *ud)
{
	return o->ops->load_vectors_by_ids(o, kind, account_id, ids, nids, type, version, slot, ud);
}

/* ---- Lists and linking ------------------------------------------------ */

static inline int objects_list_exists(struct objects *o, const char *account_id, const char *list_id, int *exists)
{
	return o->ops->list_exists(o, account_id, list_id, exists);
}
/* *created = 0 when list_id is already in use (by any account): nothing changes. */
static inline int objects_list_create(struct objects *o, const char *account_id, const char *list_id,
				      const char *user_data, int *created)
{
	return o->ops->list_create(o, account_id, list_id, user_data, created);
}
/* Links faces to a list (already linked ones stay as they are). Only a list
 * of the account and faces of that account are linked; other ids are skipped. */
static inline int objects_list_link(struct objects *o, const char *account_id, const char *list_id,
				    char *const *face_ids, size_t n)
{
	return o->ops->list_link(o, account_id, list_id, face_ids, n);
}

/* Faces made from events (event_id set, the event's face descriptors, basic
 * attributes, external_id and user_data copied). An event that already
 * has a face made from it gets that face back, so a retried chunk creates
 * nothing twice. face_ids[i] belongs to event_ids[i]; NULL when the event
 * does not exist in the account. */
static inline int objects_faces_from_events(struct objects *o, struct arena *a, const char *account_id,
					    char *const *event_ids, size_t n, char ***face_ids)
{
	return o->ops->faces_from_events(o, a, account_id, event_ids, n, face_ids);
}

/* ---- Removal (gc) ----------------------------------------------------- */

/* Owners (ascending ids) holding a descriptor of version (and type, 0 =
 * any) of the given owner kind in the account; paging as objects_page_ids. */
static inline int objects_page_descriptor_owners(struct objects *o, struct arena *a, enum objects_owner owner,
						 const char *account_id, enum descriptor_type type, int version,
						 const char *after, size_t limit, char ***ids, size_t *n)
{
	return o->ops->page_descriptor_owners(o, a, owner, account_id, type, version, after, limit, ids, n);
}

/* Deletes those descriptors of the given owners; *removed lists the owners
 * that had one (ids of faces for face and attribute owners: an attribute
 * reports its face, or itself when it has none). */
static inline int objects_delete_descriptors(struct objects *o, struct arena *a, enum objects_owner owner,
					     const char *account_id, enum descriptor_type type, int version,
					     char *const *owner_ids, size_t n, char ***removed, size_t *nremoved)
{
	return o->ops->delete_descriptors(o, a, owner, account_id, type, version, owner_ids, n, removed, nremoved);
}

/* Deletes the events (and their descriptors, tags, matches and sample rows)
 * in one transaction; ids missing from the account are skipped. */
static inline int objects_delete_events(struct objects *o, struct arena *a, const char *account_id,
					char *const *event_ids, size_t n, struct objects_removed_event **removed,
					size_t *nremoved)
{
	return o->ops->delete_events(o, a, account_id, event_ids, n, removed, nremoved);
}

/* Whether a blob of the result store is still used by an object of any
 * account: it is a sample (blob_id is a sample_id), or a sample names
 * origin as its image origin. */
static inline int objects_blob_in_use(struct objects *o, const char *blob_id, const char *origin, int *in_use)
{
	return o->ops->blob_in_use(o, blob_id, origin, in_use);
}

/* ---- Writing single objects (extraction) ------------------------------- */

/* Stores (or replaces) a descriptor; the vector is L2-normalised first. */
static inline int objects_put_descriptor(struct objects *o, enum objects_owner owner, const char *owner_id,
					 const char *account_id, enum descriptor_type type, int version, const float *v,
					 size_t d)
{
	return o->ops->put_descriptor(o, owner, owner_id, account_id, type, version, v, d);
}

/* ---- Descriptor block cursor -------------------------------------------- */

/* Flags of objects_cursor_open: the events' track ids (OBJECTS_CURSOR_TRACK_IDS);
 * read ahead (OBJECTS_CURSOR_READ_AHEAD): the next block is read on a
 * connection and thread of the cursor's own while the caller works on the
 * current one, so reading and the caller's work overlap (two blocks in
 * memory instead of one; for cursors read to the end, as cross match's
 * candidates). */
#define OBJECTS_CURSOR_TRACK_IDS 1u
#define OBJECTS_CURSOR_READ_AHEAD 2u

/* Objects with id > after (NULL: from the first) and id <= upto (NULL: no
 * bound), block_rows (1..OBJECTS_BLOCK_MAX_ROWS) at a time (see struct
 * objects_block). Each block is read by its own statement (keyset paging),
 * so the handle may run other calls between blocks; the filters object must
 * outlive the cursor. */
static inline int objects_cursor_open(struct objects *o, enum objects_kind kind, json_object *filters,
				      const char *account_id, enum descriptor_type type, int version,
				      unsigned flags, size_t block_rows, const char *after, const char *upto,
				      struct objects_cursor **out)
{
	return o->ops->cursor_open(o, kind, filters, account_id, type, version, flags, block_rows, after, upto, out);
}
/* The next block in *block; n == 0 once every row was returned. */
static inline int objects_cursor_next(struct objects_cursor *c, const struct objects_block **block)
{
	return c->o->ops->cursor_next(c, block);
}
static inline void objects_cursor_close(struct objects_cursor *c)   /* NULL ok */
{
	if (c)
		c->o->ops->cursor_close(c);
}

/* ---- Bulk import (luna-tasks-admin import) ----------------------------- */

/* A batch is written between objects_import_begin and objects_import_commit
 * (or objects_import_rollback after any failure): all of it or nothing. */
static inline int objects_import_begin(struct objects *o)
{
	return o->ops->import_begin(o);
}
/* Settles the lists the batch names (before its list_faces rows): a list of
 * another account fails the batch, a missing one is created for the
 * account of its faces; *created counts those. Scratch memory from a. */
static inline int objects_import_lists(struct objects *o, struct arena *a, const struct objects_import_list *lists,
				       size_t n, size_t *created)
{
	return o->ops->import_lists(o, a, lists, n, created);
}
/* Re-imported events lose their old tags, matches and sample rows (before
 * the batch's rows of those tables). Scratch memory from a. */
static inline int objects_import_clear_events(struct objects *o, struct arena *a, char *const *event_ids, size_t n)
{
	return o->ops->import_clear_events(o, a, event_ids, n);
}
/* Writes nrows rows of table (nrows * objects_import_columns(table) cells,
 * row after row). Faces, attributes, descriptors, events and samples
 * replace the stored object of the same key; list links and the rest add. */
static inline int objects_import_rows(struct objects *o, enum objects_import_table table,
				      const struct db_param *cells, size_t nrows)
{
	return o->ops->import_rows(o, table, cells, nrows);
}
static inline int objects_import_commit(struct objects *o)
{
	return o->ops->import_commit(o);
}
static inline void objects_import_rollback(struct objects *o)
{
	o->ops->import_rollback(o);
}
#endif
