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
	int by_list;   /* objects_where_build_by_list with a list_id: sql reads list_face lf */
	/* objects_where_descriptors_by_list: sql compares the descriptor's
	 * account (d.account_id) and reads no column of the object row */
	int descriptor_account;
	int object_clauses; /* clauses on columns of the object row (not its account, not the list) */
	/* An index (account_id, column) of the object table whose column a
	 * filter fixes by equality or an IN list of one value (user_data,
	 * external_ids, an event's handler_id, gender, sources, ...), or NULL. With the account fixed too, its entries that match
	 * are one range in id order (InnoDB appends the key to every index):
	 * only the matching rows are read, not every object of the account. */
	const char *equality_index;
};

/* Most values one WHERE may bind: a statement takes at most DB_MAX_PARAMS,
 * and the queries around it add a few of their own (ranges, paging). */
#define OBJECTS_WHERE_MAX_PARAMS (DB_MAX_PARAMS - 64)

/* Prefix of a statement whose EXISTS conditions must stay per-row
 * primary-key lookups in the order the statement reads its rows: left
 * alone, MariaDB turns an EXISTS (or NOT EXISTS) into a semi-join or
 * materializes its subquery, a temporary table of every matching row of the
 * whole table, for every statement of a paged read (an additional extract
 * page of 2 faces materialized every descriptor of the database: 0.5 s
 * against 1 ms per page at 300,000 descriptors). */
#define OBJECTS_ROW_EXISTS "SET STATEMENT optimizer_switch='semijoin=off,materialization=off' FOR "

/* Translates filters (may be NULL) for kind. Unknown keys, wrong value
 * types, bad times or uuids fail with a message naming the key; so do
 * filters holding more than OBJECTS_WHERE_MAX_PARAMS values in all. */
int objects_where_build(struct arena *a, enum objects_kind kind, json_object *filters, const char *account_id,
			struct objects_where *w, char *err, size_t errlen);

/* objects_where_build for statements that read a list's faces from the
 * list's rows: a faces list_id filter becomes "lf.list_id = ?" instead of
 * an EXISTS per face (which makes a statement cost the account's size, not
 * the list's) and sets by_list; such a WHERE is only valid over the FROM of
 * objects_where_from. Without a list_id it is objects_where_build's. */
int objects_where_build_by_list(struct arena *a, enum objects_kind kind, json_object *filters, const char *account_id,
				struct objects_where *w, char *err, size_t errlen);

/* w (objects_where_build_by_list's, of filters and account_id) for a
 * statement that joins each face's descriptor d by primary key (d.owner_id
 * = the face id): when the filters ask for nothing but the account
 * (account_id given) and a list, w is built again: the account
 * conditions compare the account the descriptor carries (written with its
 * face, the same) and descriptor_account is set, so that objects_where_from
 * reads the list's rows alone, not each face row too (about a quarter of
 * MariaDB's CPU per descriptor row). A face is in the set when a list row
 * and a descriptor of the account name it: faces are written with their
 * list rows and descriptors and never deleted without them. Any other
 * filter: w is left as it is. */
int objects_where_descriptors_by_list(struct arena *a, enum objects_kind kind, json_object *filters,
				      const char *account_id, struct objects_where *w, char *err, size_t errlen);

/* The FROM of a statement over w (allocated in a) for the object table
 * (aliased o, id column id) and, in *key, the column its rows are ordered
 * and keyset-paged by: w->by_list: the list's rows (list_face lf) in face
 * id order, each joined to its face by primary key (none with
 * descriptor_account: the caller joins the descriptors on the key), key
 * "lf.face_id"; else the table, through index when it is not NULL, key
 * "o.<id>". Both keys hold the object's id. */
const char *objects_where_from(struct arena *a, const struct objects_where *w, const char *table, const char *id,
			       const char *index, const char **key);

/* objects_where_build without keeping the result: the local backend's validate_filters. */
int objects_local_validate_filters(enum objects_kind kind, json_object *filters, char *err, size_t errlen);
#endif
