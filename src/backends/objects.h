/* Objects backend: faces, lists, attributes, descriptors and events that
 * tasks read and change. local = the luna_objects MariaDB database
 * (sql/objects/); it is the only backend built so far, and objects_open()
 * refuses any other [OBJECTS] BACKEND with a clear message.
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
 * block through the cursor (cross match candidates); linker and gc change objects in
 * chunks of about a thousand. One handle per thread (it owns a DB connection).
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

/* "faces" / "events" / "attributes" → kind; 0 when unknown. */
enum objects_kind objects_kind_from_name(const char *name);
/* "face" / "body" → type; 0 when unknown. */
enum descriptor_type descriptor_type_from_name(const char *name);
/* The configured default version of a descriptor type. */
int descriptor_default_version(const struct luna_config *cfg, enum descriptor_type type);

struct objects;
/* One handle per thread (it owns a DB connection). NULL with err on failure. */
struct objects *objects_open(const struct luna_config *cfg, char *err, size_t errlen);
void objects_close(struct objects *o);   /* NULL ok */
/* Healthcheck: 0 when reachable. */
int objects_check(struct objects *o, char *err, size_t errlen);
/* Reason of the last failure. */
const char *objects_error(const struct objects *o);
/* True when the last failure was a bad filter (a user error), not the DB. */
int objects_error_is_input(const struct objects *o);

/* ---- Filters ---------------------------------------------------------- */

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

/* ---- Reading ---------------------------------------------------------- */

/* Number of objects matching the filters. */
int objects_count(struct objects *o, enum objects_kind kind, json_object *filters, const char *account_id,
		  long long *count);

/* Ids of matching objects in ascending order: id > after (NULL: from the
 * first), id <= upto (NULL: no bound), at most limit (0: no limit). */
int objects_page_ids(struct objects *o, struct arena *a, enum objects_kind kind, json_object *filters,
		     const char *account_id, const char *after, const char *upto, size_t limit, char ***ids,
		     size_t *n);

/* Descriptors loaded for matching: row i of x (n x d, L2-normalised) is the
 * descriptor of ids[i]; track_ids[i] is the event's track id or NULL (only
 * when asked for, events only). */
struct objects_vectors {
	size_t n, d;
	char **ids;
	float *x;
	char **track_ids;
};

/* Descriptors (type, version) of matching objects in ascending id order; objects
 * without such a descriptor are skipped; at most limit objects (0: no limit). */
int objects_load_vectors(struct objects *o, struct arena *a, enum objects_kind kind, json_object *filters,
			 const char *account_id, enum descriptor_type type, int version, size_t limit,
			 int with_track_ids, struct objects_vectors *out);

/* Descriptors (type, version) of the given ids of one kind within the account
 * (NULL: any). Ids that do not exist or lack the descriptor are absent from
 * out; out->ids are sorted ascending. */
int objects_load_vectors_by_ids(struct objects *o, struct arena *a, enum objects_kind kind, const char *account_id,
				char *const *ids, size_t nids, enum descriptor_type type, int version,
				struct objects_vectors *out);

/* Objects as the API shows them (faces: face_id, account_id, event_id,
 * user_data, external_id, avatar, create_time, lists; events: every event
 * field; attributes: attribute_id, account_id, face_id, create_time,
 * basic_attributes), streamed in ascending id order. The row is owned by the
 * stream (valid during the call); cb returns nonzero to stop. Times are RFC 3339
 * UTC. The connection is busy while streaming: cb must not use o. */
typedef int (*objects_row_cb)(void *ud, json_object *row);
int objects_stream(struct objects *o, enum objects_kind kind, json_object *filters, const char *account_id,
		   objects_row_cb cb, void *ud);

/* ---- Lists and linking ------------------------------------------------ */

int objects_list_exists(struct objects *o, const char *account_id, const char *list_id, int *exists);
/* *created = 0 when list_id is already in use (by any account): nothing changes. */
int objects_list_create(struct objects *o, const char *account_id, const char *list_id, const char *user_data,
			int *created);
/* Links faces to a list (already linked ones stay as they are). Only a list
 * of the account and faces of that account are linked; other ids are skipped. */
int objects_list_link(struct objects *o, const char *account_id, const char *list_id, char *const *face_ids,
		      size_t n);

/* Faces made from events (event_id set, the event's face descriptors, basic
 * attributes, external_id and user_data copied). An event that already
 * has a face made from it gets that face back, so a retried chunk creates
 * nothing twice. face_ids[i] belongs to event_ids[i]; NULL when the event
 * does not exist in the account. */
int objects_faces_from_events(struct objects *o, struct arena *a, const char *account_id, char *const *event_ids,
			      size_t n, char ***face_ids);

/* ---- Removal (gc) ----------------------------------------------------- */

/* Owners (ascending ids) holding a descriptor of version (and type, 0 =
 * any) of the given owner kind in the account; paging as objects_page_ids. */
int objects_page_descriptor_owners(struct objects *o, struct arena *a, enum objects_owner owner,
				   const char *account_id, enum descriptor_type type, int version, const char *after,
				   size_t limit, char ***ids, size_t *n);

/* Deletes those descriptors of the given owners; *removed lists the owners
 * that had one (ids of faces for face and attribute owners: an attribute
 * reports its face, or itself when it has none). */
int objects_delete_descriptors(struct objects *o, struct arena *a, enum objects_owner owner, const char *account_id,
			       enum descriptor_type type, int version, char *const *owner_ids, size_t n,
			       char ***removed, size_t *nremoved);

/* An event removed by objects_delete_events, with its samples and the image
 * origins of its detections. */
struct objects_removed_event {
	char *event_id;
	char **sample_ids;
	size_t nsamples;
	char **image_origins;
	size_t norigins;
};
/* Deletes the events (and their descriptors, tags, matches and sample rows)
 * in one transaction; ids missing from the account are skipped. */
int objects_delete_events(struct objects *o, struct arena *a, const char *account_id, char *const *event_ids,
			  size_t n, struct objects_removed_event **removed, size_t *nremoved);

/* Whether a blob of the result store is still used by an object of any
 * account: it is a sample (blob_id is a sample_id), or a sample names
 * origin as its image origin. */
int objects_blob_in_use(struct objects *o, const char *blob_id, const char *origin, int *in_use);

/* ---- Writing single objects (extraction) ------------------------------- */

/* Stores (or replaces) a descriptor; the vector is L2-normalised first. */
int objects_put_descriptor(struct objects *o, enum objects_owner owner, const char *owner_id, const char *account_id,
			   enum descriptor_type type, int version, const float *v, size_t d);

/* The underlying connection of the local backend (the importer's bulk path). */
struct db *objects_local_db(struct objects *o);

/* ---- Descriptor block cursor ------------------------------------------------
 * Streams the descriptors of matching objects in blocks of a fixed number of
 * rows, for work whose memory must not grow with the number of objects (cross
 * match's candidates): every block lives in one buffer, allocated with the
 * first row and reused for every later block. Selection and account as in
 * objects_load_vectors; ascending id order; objects without the descriptor
 * are skipped. Each block is read by its own statement (keyset paging), so the
 * handle may run other calls between blocks; the filters object must outlive
 * the cursor. */

/* Room for one id of the objects tables (CHAR(36)) and its NUL. */
#define OBJECTS_ID_SIZE 37
/* Most rows one block may hold. */
#define OBJECTS_BLOCK_MAX_ROWS (1u << 20)

/* One block: row i of x (n x d, L2-normalised) is the descriptor of ids[i];
 * track_ids[i] is the event's track id or NULL (NULL array unless asked for,
 * events only). Valid until the next objects_cursor_next or the close. */
struct objects_block {
	size_t n, d;
	char **ids;
	float *x;
	char **track_ids;
};

struct objects_cursor;
/* Objects with id > after (NULL: from the first) and id <= upto (NULL: no
 * bound), block_rows (1..OBJECTS_BLOCK_MAX_ROWS) at a time. */
int objects_cursor_open(struct objects *o, enum objects_kind kind, json_object *filters, const char *account_id,
			enum descriptor_type type, int version, int with_track_ids, size_t block_rows,
			const char *after, const char *upto, struct objects_cursor **out);
/* The next block in *block; n == 0 once every row was returned. */
int objects_cursor_next(struct objects_cursor *c, const struct objects_block **block);
/* NULL ok. */
void objects_cursor_close(struct objects_cursor *c);

/* ---- Helpers shared by the importer and the backend --------------------- */

/* L2-normalises v in place; a zero vector stays zero. */
void objects_l2_normalize(float *v, size_t d);
#endif
