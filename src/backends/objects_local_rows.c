/* Objects as the API shows them, streamed from the local objects database
 * for reports and exports: one JSON object per face, event or attribute,
 * built from one row at a time (nothing is buffered, so exports of millions
 * of events run in constant memory).
 * Workload: full scans by filters, ascending id order. */
#include "backends/objects_local.h"
#include "backends/objects_where.h"
#include "common/timefmt.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How one selected column becomes a JSON field. */
enum col_kind { C_STR, C_STR_OR_EMPTY, C_INT, C_DBL, C_TIME, C_JSON, C_LIST };

struct row_col {
	const char *name;   /* JSON field (NULL: handled by a composite) */
	const char *expr;   /* SQL expression over alias o */
	enum col_kind kind;
};

static const struct row_col face_cols[] = {
	{"face_id", "o.face_id", C_STR},
	{"account_id", "o.account_id", C_STR},
	{"event_id", "o.event_id", C_STR},
	{"user_data", "o.user_data", C_STR_OR_EMPTY},
	{"external_id", "o.external_id", C_STR_OR_EMPTY},
	{"avatar", "o.avatar", C_STR_OR_EMPTY},
	{"create_time", "o.create_time", C_TIME},
	{"lists", "(SELECT GROUP_CONCAT(lf.list_id ORDER BY lf.list_id) FROM list_face lf WHERE lf.face_id = o.face_id)",
	 C_LIST},
	{NULL, NULL, C_STR},
};

static const struct row_col attribute_cols[] = {
	{"attribute_id", "o.attribute_id", C_STR},
	{"account_id", "o.account_id", C_STR},
	{"face_id", "o.face_id", C_STR},
	{"create_time", "o.create_time", C_TIME},
	{"age", "o.age", C_INT},
	{"gender", "o.gender", C_INT},
	{"ethnicity", "o.ethnicity", C_INT},
	{NULL, NULL, C_STR},
};

/* Location fields are gathered into "location" after the row is read. */
static const struct row_col event_cols[] = {
	{"event_id", "o.event_id", C_STR},
	{"account_id", "o.account_id", C_STR},
	{"create_time", "o.create_time", C_TIME},
	{"end_time", "o.end_time", C_TIME},
	{"insert_time", "o.insert_time", C_TIME},
	{"external_id", "o.external_id", C_STR_OR_EMPTY},
	{"handler_id", "o.handler_id", C_STR},
	{"source", "o.source", C_STR},
	{"top_match", "o.top_match_json", C_JSON},
	{"match_result", "o.match_result_json", C_JSON},
	{"face_detections", "o.face_detections_json", C_JSON},
	{"body_detections", "o.body_detections_json", C_JSON},
	{"face_id", "o.face_id", C_STR},
	{"attach_result", "o.attach_result_json", C_JSON},
	{"gender", "o.gender", C_INT},
	{"age", "o.age", C_INT},
	{"emotion", "o.emotion", C_INT},
	{"ethnic_group", "o.ethnic_group", C_INT},
	{"mask", "o.mask", C_INT},
	{"liveness", "o.liveness", C_INT},
	{"tags", "o.tags_json", C_JSON},
	{"user_data", "o.user_data", C_STR_OR_EMPTY},
	{"track_id", "o.track_id", C_STR},
	{"city", "o.city", C_STR},
	{"area", "o.area", C_STR},
	{"district", "o.district", C_STR},
	{"street", "o.street", C_STR},
	{"house_number", "o.house_number", C_STR},
	{"longitude", "o.longitude", C_DBL},
	{"latitude", "o.latitude", C_DBL},
	{NULL, NULL, C_STR},
};

struct row_stream {
	const struct row_col *cols;
	int is_event;
	objects_row_cb cb;
	void *ud;
};

static json_object *cell_json(const struct row_col *c, const char *cell, unsigned long len)
{
	char buf[40];
	int64_t us;
	if (!cell)
		return c->kind == C_STR_OR_EMPTY ? json_object_new_string("") :
		       c->kind == C_LIST	  ? json_object_new_array() :
						    NULL;
	switch (c->kind) {
	case C_STR:
	case C_STR_OR_EMPTY:
		return json_object_new_string_len(cell, (int)len);
	case C_INT:
		return json_object_new_int64(atoll(cell));
	case C_DBL:
		return json_object_new_double(atof(cell));
	case C_TIME:
		if (time_parse_db(cell, &us))
			return json_object_new_string_len(cell, (int)len);
		time_format_rfc3339(us, 0, buf, sizeof(buf));
		return json_object_new_string(buf);
	case C_JSON:
		return json_tokener_parse(cell);
	case C_LIST: {
		json_object *arr = json_object_new_array();
		const char *p = cell;
		while (*p) {
			const char *comma = strchr(p, ',');
			size_t n = comma ? (size_t)(comma - p) : strlen(p);
			json_object_array_add(arr, json_object_new_string_len(p, (int)n));
			p += n + (comma ? 1 : 0);
		}
		return arr;
	}
	}
	return NULL;
}

/* Moves city … longitude/latitude into "location" {…, geo_position}. */
static void nest_location(json_object *row)
{
	static const char *const fields[] = {"city", "area", "district", "street", "house_number"};
	json_object *loc = json_object_new_object(), *v;
	int any = 0;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (json_object_object_get_ex(row, fields[i], &v)) {
			any |= v != NULL;
			json_object_object_add(loc, fields[i], json_object_get(v));
			json_object_object_del(row, fields[i]);
		}
	}
	json_object *lon = NULL, *lat = NULL;
	json_object_object_get_ex(row, "longitude", &lon);
	json_object_object_get_ex(row, "latitude", &lat);
	if (lon && lat) {
		json_object *geo = json_object_new_object();
		json_object_object_add(geo, "longitude", json_object_get(lon));
		json_object_object_add(geo, "latitude", json_object_get(lat));
		json_object_object_add(loc, "geo_position", geo);
		any = 1;
	} else {
		json_object_object_add(loc, "geo_position", NULL);
	}
	json_object_object_del(row, "longitude");
	json_object_object_del(row, "latitude");
	if (!any) {
		json_object_put(loc);
		loc = NULL;
	}
	json_object_object_add(row, "location", loc);
}

static int stream_row(void *ud, size_t ncols, char **cells, unsigned long *lens)
{
	struct row_stream *s = ud;
	json_object *row = json_object_new_object();
	for (size_t i = 0; i < ncols && s->cols[i].name; i++)
		json_object_object_add(row, s->cols[i].name, cell_json(&s->cols[i], cells[i], lens[i]));
	if (s->is_event)
		nest_location(row);
	int stop = s->cb(s->ud, row);
	json_object_put(row);
	return stop;
}

int objects_local_stream(struct objects *o, enum objects_kind kind, json_object *filters, const char *account_id,
			 objects_row_cb cb, void *ud)
{
	struct arena *a = arena_new();
	struct objects_where w;
	char err[512];
	int rc = -1;
	const struct row_col *cols = kind == OBJ_FACES ? face_cols : kind == OBJ_EVENTS ? event_cols : attribute_cols;
	const char *table = kind == OBJ_FACES ? "face" : kind == OBJ_EVENTS ? "event" : "attribute";
	if (objects_where_build(a, kind, filters, account_id, &w, err, sizeof(err))) {
		objects_local_fail(o, 1, "%s", err);
		goto out;
	}
	char *select = "";
	for (size_t i = 0; cols[i].name; i++)
		select = arena_printf(a, "%s%s%s", select, i ? ", " : "", cols[i].expr);
	char *sql = arena_printf(a, "SELECT %s FROM %s o WHERE %s ORDER BY o.%s", select, table, w.sql, cols[0].expr + 2);
	struct row_stream s = {cols, kind == OBJ_EVENTS, cb, ud};
	rc = db_stream(local_db(o), sql, w.params, w.nparams, stream_row, &s);
	if (rc)
		objects_local_fail(o, 0, "objects database: stream: %s", db_error(local_db(o)));
out:
	arena_free(a);
	return rc;
}
