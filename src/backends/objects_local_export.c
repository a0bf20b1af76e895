/* Report and export rows from the local objects database (see
 * objects_export.h): one SELECT per stream built from a table of columns
 * (structure only) and the filter builder's clauses (values bound), read
 * through db_stream so that no result set is ever buffered.
 * Workload: exports scan up to millions of events by id ranges of a few
 * tens of thousands; reports look up at most 20000 objects by id. */
#include "backends/objects_local.h"
#include "backends/objects_where.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_LIST_SQL(owner_cond)                                                                                        \
	"(SELECT GROUP_CONCAT(s.sample_id ORDER BY s.sample_id) FROM sample s WHERE " owner_cond " AND s.sample_type = ?)"

/* A column with the SQL that reads it over alias o (expr2: the second cell
 * of an EXV_GEO column); callers see the struct export_column only. */
struct local_column {
	struct export_column col;
	const char *expr, *expr2;
};

static const struct local_column event_columns[] = {
	{{"event_id", EXV_TEXT}, "o.event_id", NULL},
	{{"create_time", EXV_TIME}, "CAST(o.create_time AS CHAR)", NULL},
	{{"end_time", EXV_TIME}, "CAST(o.end_time AS CHAR)", NULL},
	{{"external_id", EXV_TEXT}, "o.external_id", NULL},
	{{"handler_id", EXV_TEXT}, "o.handler_id", NULL},
	{{"source", EXV_TEXT}, "o.source", NULL},
	{{"top_match", EXV_JSON}, "o.top_match_json", NULL},
	{{"match_result", EXV_JSON}, "o.match_result_json", NULL},
	{{"face_detections", EXV_JSON}, "o.face_detections_json", NULL},
	{{"body_detections", EXV_JSON}, "o.body_detections_json", NULL},
	{{"face_id", EXV_TEXT}, "o.face_id", NULL},
	{{"attach_result", EXV_JSON}, "o.attach_result_json", NULL},
	{{"gender", EXV_TEXT}, "o.gender", NULL},
	{{"age", EXV_TEXT}, "o.age", NULL},
	{{"emotion", EXV_TEXT}, "o.emotion", NULL},
	{{"ethnic_group", EXV_TEXT}, "o.ethnic_group", NULL},
	{{"mask", EXV_TEXT}, "o.mask", NULL},
	{{"liveness", EXV_TEXT}, "o.liveness", NULL},
	{{"tags", EXV_JSON}, "o.tags_json", NULL},
	{{"user_data", EXV_TEXT}, "o.user_data", NULL},
	{{"track_id", EXV_TEXT}, "o.track_id", NULL},
	{{"city", EXV_TEXT}, "o.city", NULL},
	{{"area", EXV_TEXT}, "o.area", NULL},
	{{"district", EXV_TEXT}, "o.district", NULL},
	{{"street", EXV_TEXT}, "o.street", NULL},
	{{"house_number", EXV_TEXT}, "o.house_number", NULL},
	{{"geo_position", EXV_GEO}, "CAST(o.latitude AS CHAR)", "CAST(o.longitude AS CHAR)"},
	{{NULL, 0}, NULL, NULL},
};

static const struct local_column face_columns[] = {
	{{"face_id", EXV_TEXT}, "o.face_id", NULL},
	{{"user_data", EXV_TEXT}, "o.user_data", NULL},
	{{"create_time", EXV_TIME}, "CAST(o.create_time AS CHAR)", NULL},
	{{"lists", EXV_ID_LIST},
	 "(SELECT GROUP_CONCAT(fl.list_id ORDER BY fl.list_id) FROM list_face fl WHERE fl.face_id = o.face_id)", NULL},
	{{"external_id", EXV_TEXT}, "o.external_id", NULL},
	{{"avatar", EXV_TEXT}, "o.avatar", NULL},
	{{"event_id", EXV_TEXT}, "o.event_id", NULL},
	{{NULL, 0}, NULL, NULL},
};

/* Table, id column and the image cells of each kind (structure only). */
struct export_table {
	const char *table, *id;
	const char *images;   /* selects the sample ids (one '?': the sample type) then, for faces, the avatar */
};

static const struct export_table *export_table(enum objects_kind kind)
{
	static const struct export_table events = {
		"event", "event_id", ID_LIST_SQL("s.owner_id = o.event_id AND s.owner_kind = 3") ", NULL"};
	static const struct export_table faces = {
		"face", "face_id",
		ID_LIST_SQL("((s.owner_id = o.face_id AND s.owner_kind = 1) OR "
			    "(s.owner_id = o.attribute_id AND s.owner_kind = 2))") ", o.avatar"};
	return kind == OBJ_EVENTS ? &events : kind == OBJ_FACES ? &faces : NULL;
}

const struct export_column *objects_export_column(enum objects_kind kind, const char *name)
{
	const struct local_column *cols = kind == OBJ_EVENTS ? event_columns : kind == OBJ_FACES ? face_columns : NULL;
	for (size_t i = 0; cols && name && cols[i].col.name; i++)
		if (strcmp(cols[i].col.name, name) == 0)
			return &cols[i].col;
	return NULL;
}

/* "o.id, <columns…>[, <sample ids>, <avatar>]" */
static char *select_list(struct arena *a, const struct export_table *t, const struct objects_export_query *q)
{
	char *sql = arena_printf(a, "o.%s", t->id);
	for (size_t i = 0; i < q->ncolumns; i++) {
		const struct local_column *c = (const struct local_column *)q->columns[i];
		sql = c->expr2 ? arena_printf(a, "%s, %s, %s", sql, c->expr, c->expr2)
			       : arena_printf(a, "%s, %s", sql, c->expr);
	}
	if (q->images)
		sql = arena_printf(a, "%s, %s", sql, t->images);
	return sql;
}

static size_t cell_count(const struct objects_export_query *q)
{
	size_t n = 1;
	for (size_t i = 0; i < q->ncolumns; i++)
		n += q->columns[i]->value == EXV_GEO ? 2 : 1;
	return n + (q->images ? 2 : 0);
}

struct row_reader {
	const struct objects_export_query *q;
	size_t ncells;
	objects_export_cb cb;
	void *ud;
};

static int read_row(void *ud, size_t ncols, char **cells, unsigned long *lens)
{
	struct row_reader *r = ud;
	if (ncols != r->ncells || !cells[0])
		return 1;
	size_t data = ncols - (r->q->images ? 2 : 0);
	struct objects_export_row row = {
		.id = cells[0],
		.cells = cells + 1,
		.lens = lens + 1,
		.samples = r->q->images ? cells[data] : NULL,
		.avatar = r->q->images && r->q->kind == OBJ_FACES ? (cells[data + 1] ? cells[data + 1] : "") : NULL,
	};
	return r->cb(r->ud, &row);
}

/* Parameters: the image sample type (when asked) first, as it appears first in the text. */
static struct db_param *params_with(struct arena *a, const struct objects_export_query *q,
				    const struct db_param *rest, size_t nrest, size_t *np)
{
	size_t lead = q->images ? 1 : 0;
	struct db_param *p = arena_alloc(a, (lead + nrest + 1) * sizeof(*p));
	if (lead)
		p[0] = DBP_I64(q->images);
	if (nrest)
		memcpy(p + lead, rest, nrest * sizeof(*p));
	*np = lead + nrest;
	return p;
}

static int check_query(struct objects *o, const struct objects_export_query *q, const struct export_table **t)
{
	*t = export_table(q->kind);
	if (!*t)
		return objects_local_fail(o, 1, "exports are made of faces or events only");
	return 0;
}

static int stream_failed(struct objects *o)
{
	return objects_local_fail(o, 0, "objects database: export: %s", db_error(local_db(o)));
}

int objects_local_export_stream(struct objects *o, const struct objects_export_query *q, json_object *filters,
				const char *account_id, const char *after, const char *upto, objects_export_cb cb,
				void *ud)
{
	struct arena *a = arena_new();
	const struct export_table *t;
	struct objects_where w;
	char err[512];
	int rc = -1;
	if (check_query(o, q, &t))
		goto out;
	if (objects_where_build_by_list(a, q->kind, filters, account_id, &w, err, sizeof(err))) {
		objects_local_fail(o, 1, "%s", err);
		goto out;
	}
	const char *key, *from = objects_where_from(a, &w, t->table, t->id, NULL, &key);
	struct db_param *bounded = arena_alloc(a, (w.nparams + 2) * sizeof(*bounded));
	size_t nb = w.nparams;
	if (w.nparams)
		memcpy(bounded, w.params, w.nparams * sizeof(*bounded));
	char *range = "";
	if (after) {
		range = arena_printf(a, "%s AND %s > ?", range, key);
		bounded[nb++] = DBP_STR(after);
	}
	if (upto) {
		range = arena_printf(a, "%s AND %s <= ?", range, key);
		bounded[nb++] = DBP_STR(upto);
	}
	size_t np;
	struct db_param *p = params_with(a, q, bounded, nb, &np);
	char *sql = arena_printf(a, OBJECTS_ROW_EXISTS "SELECT %s FROM %s WHERE (%s)%s ORDER BY %s", select_list(a, t, q),
				 from, w.sql, range, key);
	struct row_reader r = {q, cell_count(q), cb, ud};
	rc = db_stream(local_db(o), sql, p, np, read_row, &r);
	if (rc)
		stream_failed(o);
out:
	arena_free(a);
	return rc;
}

int objects_local_export_by_ids(struct objects *o, const struct objects_export_query *q, const char *account_id,
				char *const *ids, size_t n, objects_export_cb cb, void *ud)
{
	struct arena *a = NULL;
	const struct export_table *t;
	int rc = -1;
	if (check_query(o, q, &t))
		return -1;
	if (n == 0)
		return 0;
	if (n > OBJECTS_EXPORT_MAX_IDS)
		return objects_local_fail(o, 1, "at most %d ids per lookup", OBJECTS_EXPORT_MAX_IDS);
	a = arena_new();
	struct db_param *rest = arena_alloc(a, (n + 1) * sizeof(*rest));
	char *marks = arena_alloc(a, 3 * n + 1), *m = marks;
	for (size_t i = 0; i < n; i++) {
		rest[i] = DBP_STR(ids[i]);
		m += sprintf(m, i ? ",?" : "?");
	}
	size_t nrest = n;
	const char *account = "";
	if (account_id) {
		rest[nrest++] = DBP_STR(account_id);
		account = " AND o.account_id = ?";
	}
	size_t np;
	struct db_param *p = params_with(a, q, rest, nrest, &np);
	char *sql = arena_printf(a, "SELECT %s FROM %s o WHERE o.%s IN (%s)%s ORDER BY o.%s", select_list(a, t, q),
				 t->table, t->id, marks, account, t->id);
	struct row_reader r = {q, cell_count(q), cb, ud};
	rc = db_stream(local_db(o), sql, p, np, read_row, &r);
	if (rc)
		stream_failed(o);
	arena_free(a);
	return rc;
}

int objects_local_export_bounds(struct objects *o, struct arena *a, enum objects_kind kind, json_object *filters,
				const char *account_id, size_t chunk, char ***bounds, size_t *n)
{
	struct arena *tmp = arena_new();
	const struct export_table *t = export_table(kind);
	struct objects_where w;
	char err[512];
	size_t cap = 16;
	int rc = -1;
	*bounds = arena_alloc(a, cap * sizeof(char *));
	*n = 0;
	if (!t) {
		objects_local_fail(o, 1, "exports are made of faces or events only");
		goto out;
	}
	if (chunk == 0 || objects_where_build_by_list(tmp, kind, filters, account_id, &w, err, sizeof(err))) {
		objects_local_fail(o, 1, "%s", chunk ? err : "chunk size 0");
		goto out;
	}
	const char *key, *from = objects_where_from(tmp, &w, t->table, t->id, NULL, &key);
	struct db_param *p = arena_alloc(tmp, (w.nparams + 2) * sizeof(*p));
	if (w.nparams)
		memcpy(p, w.params, w.nparams * sizeof(*p));
	/* The first boundary, then each one after the previous: each statement
	 * reads its chunk's rows (a filter's EXISTS per row: materialized or as a
	 * semi-join, every statement read and sorted every match after the
	 * previous bound). */
	const char *first = arena_printf(tmp, OBJECTS_ROW_EXISTS "SELECT o.%s FROM %s WHERE (%s) ORDER BY %s LIMIT 1 OFFSET ?",
					 t->id, from, w.sql, key);
	const char *next = arena_printf(tmp,
					OBJECTS_ROW_EXISTS
					"SELECT o.%s FROM %s WHERE (%s) AND %s > ? ORDER BY %s LIMIT 1 OFFSET ?",
					t->id, from, w.sql, key, key);
	const char *last = NULL;
	for (;;) {
		struct db_result r;
		size_t np = w.nparams;
		if (last)
			p[np++] = DBP_STR(last);
		p[np++] = DBP_I64((long long)chunk - 1);
		if (db_exec(local_db(o), a, last ? next : first, p, np, &r)) {
			stream_failed(o);
			goto out;
		}
		if (r.nrows == 0 || !r.rows[0][0])
			break;
		if (*n == cap) {
			char **grown = arena_alloc(a, 2 * cap * sizeof(char *));
			memcpy(grown, *bounds, cap * sizeof(char *));
			*bounds = grown;
			cap *= 2;
		}
		last = (*bounds)[(*n)++] = r.rows[0][0];
	}
	rc = 0;
out:
	arena_free(tmp);
	return rc;
}
