/* Translation of the spec's filter objects (faces, events, attributes, the
 * additional-extract and gc filters) into a parameterised WHERE clause over
 * the local objects database. One table row per filter key says which object
 * kinds accept it, which column it reads and how it compares; only structure
 * (column names from the table, the number of '?' in an IN list) is written
 * into the SQL text, every value is a bound parameter.
 * Workload: one call per query; lists of up to [LIMITS] MAX_LIST_ITEMS ids,
 * at most OBJECTS_WHERE_MAX_PARAMS values in all. */
#include "backends/objects_where.h"
#include "common/sql_build.h"
#include "common/timefmt.h"
#include "common/uuid.h"
#include <stdio.h>
#include <string.h>

enum filter_op {
	F_ACCOUNT,       /* account_id: handled with the fallback account */
	F_IGNORE,        /* discriminators such as objects_type */
	F_CMP_STR,       /* column = value, or >= / < for keys ending in __gte / __lt */
	F_CMP_UUID,
	F_CMP_INT,
	F_CMP_TIME,
	F_IN_STR,
	F_IN_UUID,
	F_IN_INT,
	F_LIST,          /* faces linked to a list */
	F_TAGS,          /* events holding every given tag */
	F_GEO,           /* events inside a longitude/latitude box */
	F_TOP,           /* top_similar_* family, translated together */
};

#define KF (1u << OBJ_FACES)
#define KE (1u << OBJ_EVENTS)
#define KA (1u << OBJ_ATTRIBUTES)

struct filter_def {
	const char *key;
	unsigned kinds;
	enum filter_op op;
	const char *column;
};

static const struct filter_def filter_defs[] = {
	{"account_id", KF | KE | KA, F_ACCOUNT, NULL},
	{"objects_type", KF | KE, F_IGNORE, NULL},
	{"face_ids", KF | KE, F_IN_UUID, "face_id"},
	{"external_ids", KF | KE, F_IN_STR, "external_id"},
	{"user_data", KF | KE, F_CMP_STR, "user_data"},
	{"create_time__gte", KF | KE | KA, F_CMP_TIME, "create_time"},
	{"create_time__lt", KF | KE | KA, F_CMP_TIME, "create_time"},
	{"face_id__gte", KF, F_CMP_UUID, "face_id"},
	{"face_id__lt", KF, F_CMP_UUID, "face_id"},
	{"list_id", KF, F_LIST, NULL},
	{"attribute_ids", KA, F_IN_UUID, "attribute_id"},
	{"end_time__gte", KE, F_CMP_TIME, "end_time"},
	{"end_time__lt", KE, F_CMP_TIME, "end_time"},
	{"insert_time__gte", KE, F_CMP_TIME, "insert_time"},
	{"insert_time__lt", KE, F_CMP_TIME, "insert_time"},
	{"sources", KE, F_IN_STR, "source"},
	{"event_ids", KE, F_IN_UUID, "event_id"},
	{"event_id__gte", KE, F_CMP_UUID, "event_id"},
	{"event_id__lt", KE, F_CMP_UUID, "event_id"},
	{"handler_ids", KE, F_IN_UUID, "handler_id"},
	{"handler_id", KE, F_CMP_UUID, "handler_id"},
	{"top_matching_candidates_label", KE, F_TOP, NULL},
	{"top_similar_object_ids", KE, F_TOP, NULL},
	{"top_similar_external_ids", KE, F_TOP, NULL},
	{"top_similar_object_similarity__gte", KE, F_TOP, NULL},
	{"top_similar_object_similarity__lt", KE, F_TOP, NULL},
	{"age__gte", KE, F_CMP_INT, "age"},
	{"age__lt", KE, F_CMP_INT, "age"},
	{"gender", KE, F_CMP_INT, "gender"},
	{"emotions", KE, F_IN_INT, "emotion"},
	{"ethnic_groups", KE, F_IN_INT, "ethnic_group"},
	{"tags", KE, F_TAGS, NULL},
	{"cities", KE, F_IN_STR, "city"},
	{"areas", KE, F_IN_STR, "area"},
	{"districts", KE, F_IN_STR, "district"},
	{"streets", KE, F_IN_STR, "street"},
	{"house_numbers", KE, F_IN_STR, "house_number"},
	{"geo_position", KE, F_GEO, NULL},
	{"masks", KE, F_IN_INT, "mask"},
	{"track_ids", KE, F_IN_STR, "track_id"},
	{"liveness", KE, F_IN_INT, "liveness"},
};

/* Indexes (account_id, column) of sql/objects: a filter that fixes column
 * by equality (or an IN list of one value) reads one range of the index in
 * id order. */
static const struct {
	unsigned kinds;
	const char *column, *index;
} equality_indexes[] = {
	{KF, "user_data", "face_user_data"},
	{KF, "external_id", "face_external"},
	{KE, "user_data", "event_user_data"},
	{KE, "external_id", "event_external"},
	{KE, "handler_id", "event_handler"},
	{KE, "source", "event_source"},
	{KE, "track_id", "event_track"},
	{KE, "gender", "event_gender"},
	{KE, "emotion", "event_emotion"},
	{KE, "ethnic_group", "event_ethnic"},
	{KE, "mask", "event_mask"},
	{KE, "liveness", "event_liveness"},
	{KE, "city", "event_city"},
	{KE, "area", "event_area"},
	{KE, "district", "event_district"},
	{KE, "street", "event_street"},
	{KE, "house_number", "event_house"},
	{KE, "top_similar_external_id", "event_top_external"},
};

/* The WHERE clause being built (common/sql_build.h) and where a refusal goes. */
struct where_builder {
	struct sql_build sb;
	enum objects_kind kind;
	const char *equality_index; /* the first of equality_indexes a clause fixes */
	int nclauses;
	int list_driven;   /* objects_where_build_by_list: list_id compares lf.list_id */
	int by_list;       /* it did */
	const char *account_column; /* the account conditions' column: "o.account_id" unless told */
	int account_clauses;        /* how many of the clauses they are */
	char *err;
	size_t errlen;
};

/* Starts a new clause: " AND " between clauses. */
static void clause_begin(struct where_builder *b)
{
	if (b->nclauses++)
		sql_build_text(&b->sb, " AND ");
}

static int fail_key(struct where_builder *b, const char *key, const char *why)
{
	snprintf(b->err, b->errlen, "filter '%s': %s", key, why);
	return -1;
}

static int string_len_ok(const char *s)
{
	return strlen(s) <= 256;
}

static int to_db_time(struct where_builder *b, const char *key, json_object *v, const char **out)
{
	int64_t us;
	if (!json_object_is_type(v, json_type_string) || time_parse_rfc3339(json_object_get_string(v), &us))
		return fail_key(b, key, "expected an RFC 3339 time");
	char *buf = arena_alloc(b->sb.a, 32);
	time_format_db(us, buf, 32);
	*out = buf;
	return 0;
}

/* The comparison a key names: "x__gte" is >=, "x__lt" is <, any other =. */
static const char *key_comparison(const char *key)
{
	size_t n = strlen(key);
	if (n > 5 && strcmp(key + n - 5, "__gte") == 0)
		return ">=";
	if (n > 4 && strcmp(key + n - 4, "__lt") == 0)
		return "<";
	return "=";
}

/* Notes the index of an equality on column, if it has one. */
static void note_equality(struct where_builder *b, const char *column)
{
	for (size_t i = 0; i < sizeof(equality_indexes) / sizeof(equality_indexes[0]) && !b->equality_index; i++)
		if ((equality_indexes[i].kinds & (1u << b->kind)) && strcmp(equality_indexes[i].column, column) == 0)
			b->equality_index = equality_indexes[i].index;
}

/* "o.column <cmp> ?" with its value. */
static int add_compare(struct where_builder *b, const char *column, const char *cmp, struct db_param value)
{
	if (strcmp(cmp, "=") == 0)
		note_equality(b, column);
	clause_begin(b);
	char frag[96];
	snprintf(frag, sizeof(frag), "o.%s %s ?", column, cmp);
	sql_build_text(&b->sb, frag);
	sql_build_param(&b->sb, value);
	return 0;
}

/* "<account column> = ?": the object's own account, or the account its
 * descriptor carries (objects_where_descriptors_by_list). */
static void add_account(struct where_builder *b, const char *account_id)
{
	b->account_clauses++;
	if (strcmp(b->account_column, "o.account_id") == 0) {
		add_compare(b, "account_id", "=", DBP_STR(account_id));
		return;
	}
	clause_begin(b);
	sql_build_text(&b->sb, b->account_column);
	sql_build_text(&b->sb, " = ?");
	sql_build_param(&b->sb, DBP_STR(account_id));
}

static int check_string(struct where_builder *b, const char *key, json_object *v, int uuid)
{
	if (!json_object_is_type(v, json_type_string))
		return fail_key(b, key, "expected a string");
	const char *s = json_object_get_string(v);
	if (uuid && !uuid_valid(s))
		return fail_key(b, key, "expected a uuid");
	if (!string_len_ok(s))
		return fail_key(b, key, "value too long");
	return 0;
}

static int check_int(struct where_builder *b, const char *key, json_object *v)
{
	if (!json_object_is_type(v, json_type_int))
		return fail_key(b, key, "expected an integer");
	return 0;
}

/* "<alias>.column IN (?, ?, …)"; an empty list matches nothing. */
static int add_in_list_as(struct where_builder *b, const struct filter_def *f, const char *alias, json_object *v)
{
	if (!json_object_is_type(v, json_type_array))
		return fail_key(b, f->key, "expected an array");
	size_t n = json_object_array_length(v);
	clause_begin(b);
	if (n == 0) {
		sql_build_text(&b->sb, "0 = 1");
		return 0;
	}
	char frag[96];
	snprintf(frag, sizeof(frag), "%s%s IN (", alias, f->column);
	sql_build_text(&b->sb, frag);
	for (size_t i = 0; i < n; i++) {
		json_object *it = json_object_array_get_idx(v, i);
		if (f->op == F_IN_INT) {
			if (check_int(b, f->key, it))
				return -1;
			sql_build_param(&b->sb, DBP_I64(json_object_get_int64(it)));
		} else {
			if (check_string(b, f->key, it, f->op == F_IN_UUID))
				return -1;
			sql_build_param(&b->sb, DBP_STR(json_object_get_string(it)));
		}
		sql_build_text(&b->sb, i ? ", ?" : "?");
	}
	sql_build_text(&b->sb, ")");
	if (n == 1 && strcmp(alias, "o.") == 0)
		note_equality(b, f->column);
	return 0;
}

static int add_in_list(struct where_builder *b, const struct filter_def *f, json_object *v)
{
	return add_in_list_as(b, f, "o.", v);
}

static int add_list_member(struct where_builder *b, const char *key, json_object *v)
{
	if (check_string(b, key, v, 1))
		return -1;
	clause_begin(b);
	/* Read from the list's own rows, the list's size is the cost; as an
	 * EXISTS per face, the account's size is. */
	if (b->list_driven)
		sql_build_text(&b->sb, "lf.list_id = ?");
	else
		sql_build_text(&b->sb,
			       "EXISTS (SELECT 1 FROM list_face lf WHERE lf.face_id = o.face_id AND lf.list_id = ?)");
	b->by_list = b->list_driven;
	sql_build_param(&b->sb, DBP_STR(json_object_get_string(v)));
	return 0;
}

/* Every given tag must be present: one EXISTS per tag. */
static int add_tags(struct where_builder *b, const char *key, json_object *v)
{
	if (!json_object_is_type(v, json_type_array))
		return fail_key(b, key, "expected an array");
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		json_object *it = json_object_array_get_idx(v, i);
		if (check_string(b, key, it, 0))
			return -1;
		clause_begin(b);
		sql_build_text(&b->sb, "EXISTS (SELECT 1 FROM event_tag et WHERE et.event_id = o.event_id AND et.tag = ?)");
		sql_build_param(&b->sb, DBP_STR(json_object_get_string(it)));
	}
	return 0;
}

static int get_number(json_object *obj, const char *name, double def, int required, double *out)
{
	json_object *v;
	if (!json_object_object_get_ex(obj, name, &v) || json_object_is_type(v, json_type_null)) {
		*out = def;
		return required ? -1 : 0;
	}
	if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
		return -1;
	*out = json_object_get_double(v);
	return 0;
}

/* The box origin ± delta, borders excluded (as the spec says). */
static int add_geo_box(struct where_builder *b, const char *key, json_object *v)
{
	double lon, lat, dlon, dlat;
	if (!json_object_is_type(v, json_type_object) || get_number(v, "origin_longitude", 0, 1, &lon) ||
	    get_number(v, "origin_latitude", 0, 1, &lat) || get_number(v, "longitude_delta", 0.01, 0, &dlon) ||
	    get_number(v, "latitude_delta", 0.01, 0, &dlat))
		return fail_key(b, key, "expected {origin_longitude, origin_latitude, longitude_delta, latitude_delta}");
	clause_begin(b);
	sql_build_text(&b->sb, "o.longitude > ? AND o.longitude < ? AND o.latitude > ? AND o.latitude < ?");
	sql_build_param(&b->sb, DBP_DBL(lon - dlon));
	sql_build_param(&b->sb, DBP_DBL(lon + dlon));
	sql_build_param(&b->sb, DBP_DBL(lat - dlat));
	sql_build_param(&b->sb, DBP_DBL(lat + dlat));
	return 0;
}

/* Column names of the top_similar_* family: on the event row itself (the
 * overall top match) or on event_match m (the top match of one label). */
struct top_columns {
	const char *prefix, *object, *external, *similarity;
};

static int add_top_conditions(struct where_builder *b, json_object *filters, const struct top_columns *c)
{
	json_object *v;
	if (json_object_object_get_ex(filters, "top_similar_object_ids", &v)) {
		const struct filter_def f = {"top_similar_object_ids", KE, F_IN_UUID, c->object};
		if (add_in_list_as(b, &f, c->prefix, v))
			return -1;
	}
	if (json_object_object_get_ex(filters, "top_similar_external_ids", &v)) {
		const struct filter_def f = {"top_similar_external_ids", KE, F_IN_STR, c->external};
		if (add_in_list_as(b, &f, c->prefix, v))
			return -1;
	}
	static const char *const bounds[2] = {"top_similar_object_similarity__gte", "top_similar_object_similarity__lt"};
	for (int i = 0; i < 2; i++) {
		if (!json_object_object_get_ex(filters, bounds[i], &v))
			continue;
		if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
			return fail_key(b, bounds[i], "expected a number");
		clause_begin(b);
		char frag[128];
		snprintf(frag, sizeof(frag), "%s%s %s ?", c->prefix, c->similarity, key_comparison(bounds[i]));
		sql_build_text(&b->sb, frag);
		sql_build_param(&b->sb, DBP_DBL(json_object_get_double(v)));
	}
	return 0;
}

/* Without a label the filters read the event's overall top match; with
 * top_matching_candidates_label they read the top match of that label. */
static int add_top_similar(struct where_builder *b, json_object *filters)
{
	json_object *label;
	if (!json_object_object_get_ex(filters, "top_matching_candidates_label", &label)) {
		const struct top_columns c = {"o.", "top_similar_object_id", "top_similar_external_id",
					      "top_similar_object_similarity"};
		return add_top_conditions(b, filters, &c);
	}
	if (check_string(b, "top_matching_candidates_label", label, 0))
		return -1;
	clause_begin(b);
	sql_build_text(&b->sb, "EXISTS (SELECT 1 FROM event_match m WHERE m.event_id = o.event_id AND m.label = ?");
	sql_build_param(&b->sb, DBP_STR(json_object_get_string(label)));
	/* The nested conditions are joined by AND inside the EXISTS. */
	int saved = b->nclauses;
	b->nclauses = 1;
	const struct top_columns c = {"m.", "object_id", "external_id", "similarity"};
	int rc = add_top_conditions(b, filters, &c);
	b->nclauses = saved;
	sql_build_text(&b->sb, ")");
	return rc;
}

static const struct filter_def *find_def(const char *key)
{
	for (size_t i = 0; i < sizeof(filter_defs) / sizeof(filter_defs[0]); i++)
		if (strcmp(filter_defs[i].key, key) == 0)
			return &filter_defs[i];
	return NULL;
}

static int add_filter(struct where_builder *b, const struct filter_def *f, json_object *v)
{
	const char *t;
	switch (f->op) {
	case F_ACCOUNT:
	case F_IGNORE:
	case F_TOP:
		return 0;
	case F_CMP_STR:
	case F_CMP_UUID:
		if (check_string(b, f->key, v, f->op == F_CMP_UUID))
			return -1;
		return add_compare(b, f->column, key_comparison(f->key), DBP_STR(json_object_get_string(v)));
	case F_CMP_INT:
		if (check_int(b, f->key, v))
			return -1;
		return add_compare(b, f->column, key_comparison(f->key), DBP_I64(json_object_get_int64(v)));
	case F_CMP_TIME:
		if (to_db_time(b, f->key, v, &t))
			return -1;
		return add_compare(b, f->column, key_comparison(f->key), DBP_STR(t));
	case F_IN_STR:
	case F_IN_UUID:
	case F_IN_INT:
		return add_in_list(b, f, v);
	case F_LIST:
		return add_list_member(b, f->key, v);
	case F_TAGS:
		return add_tags(b, f->key, v);
	case F_GEO:
		return add_geo_box(b, f->key, v);
	}
	return 0;
}

static int has_top_filter(json_object *filters)
{
	json_object_object_foreach(filters, key, val) {
		(void)val;
		const struct filter_def *f = find_def(key);
		if (f && f->op == F_TOP)
			return 1;
	}
	return 0;
}

/* objects_where_build with a faces list read from its rows (list_driven)
 * and the account conditions on account_column. */
static int where_build(struct arena *a, enum objects_kind kind, json_object *filters, const char *account_id,
		       int list_driven, const char *account_column, struct objects_where *w, char *err, size_t errlen)
{
	struct where_builder b = {.kind = kind, .list_driven = list_driven, .account_column = account_column,
				  .err = err, .errlen = errlen};
	sql_build_init(&b.sb, a, "");
	int rc = -1;
	if (kind != OBJ_FACES && kind != OBJ_EVENTS && kind != OBJ_ATTRIBUTES) {
		snprintf(err, errlen, "unknown objects type");
		goto out;
	}
	if (filters && !json_object_is_type(filters, json_type_null) &&
	    !json_object_is_type(filters, json_type_object)) {
		snprintf(err, errlen, "filters: expected an object");
		goto out;
	}
	if (filters && json_object_is_type(filters, json_type_null))
		filters = NULL;
	/* The task's account always applies: a filter naming another account
	 * narrows the set (to nothing), it never widens it to that account. */
	json_object *acc = NULL;
	if (account_id)
		add_account(&b, account_id);
	if (filters && json_object_object_get_ex(filters, "account_id", &acc) &&
	    !json_object_is_type(acc, json_type_null)) {
		if (check_string(&b, "account_id", acc, 1))
			goto out;
		if (!account_id || strcmp(account_id, json_object_get_string(acc)))
			add_account(&b, json_object_get_string(acc));
	}
	if (filters) {
		json_object_object_foreach(filters, key, val) {
			const struct filter_def *f = find_def(key);
			if (!f || !(f->kinds & (1u << kind))) {
				snprintf(err, errlen, "filter '%s' is not supported for %s", key,
					 kind == OBJ_FACES ? "faces" : kind == OBJ_EVENTS ? "events" : "attributes");
				goto out;
			}
			if (json_object_is_type(val, json_type_null))
				continue;
			if (add_filter(&b, f, val))
				goto out;
		}
		if (kind == OBJ_EVENTS && has_top_filter(filters) && add_top_similar(&b, filters))
			goto out;
	}
	/* Each list is bounded by [LIMITS] MAX_LIST_ITEMS; together they must
	 * still fit one statement, with room for the caller's own parameters. */
	if (b.sb.np > OBJECTS_WHERE_MAX_PARAMS) {
		snprintf(err, errlen, "the filters hold %zu values, more than %d in all", b.sb.np, OBJECTS_WHERE_MAX_PARAMS);
		goto out;
	}
	if (!b.nclauses)
		sql_build_text(&b.sb, "1");
	w->sql = b.sb.sql;
	w->params = b.sb.p;
	w->nparams = b.sb.np;
	w->by_list = b.by_list;
	w->descriptor_account = 0;
	w->equality_index = b.equality_index;
	w->object_clauses = b.nclauses - b.account_clauses - (b.by_list ? 1 : 0);
	rc = 0;
out:
	return rc;
}

int objects_where_build(struct arena *a, enum objects_kind kind, json_object *filters, const char *account_id,
			struct objects_where *w, char *err, size_t errlen)
{
	return where_build(a, kind, filters, account_id, 0, "o.account_id", w, err, errlen);
}

int objects_where_build_by_list(struct arena *a, enum objects_kind kind, json_object *filters, const char *account_id,
				struct objects_where *w, char *err, size_t errlen)
{
	return where_build(a, kind, filters, account_id, 1, "o.account_id", w, err, errlen);
}

int objects_where_descriptors_by_list(struct arena *a, enum objects_kind kind, json_object *filters,
				      const char *account_id, struct objects_where *w, char *err, size_t errlen)
{
	if (!w->by_list || !account_id || w->object_clauses)
		return 0;
	/* The account and the list alone (a short WHERE): again, on the descriptor's account. */
	if (where_build(a, kind, filters, account_id, 1, "d.account_id", w, err, errlen))
		return -1;
	w->descriptor_account = 1;
	return 0;
}

const char *objects_where_from(struct arena *a, const struct objects_where *w, const char *table, const char *id,
			       const char *index, const char **key)
{
	if (w->by_list && w->descriptor_account) {
		/* The list's key in face id order, the caller joins each
		 * descriptor by primary key: no face row is read. */
		*key = "lf.face_id";
		return "list_face lf FORCE INDEX (PRIMARY)";
	}
	if (w->by_list) {
		*key = "lf.face_id";
		/* The list's key (list_id, face_id) in face id order, each face
		 * and (in the caller's join) its descriptor by primary key. */
		return "list_face lf FORCE INDEX (PRIMARY) STRAIGHT_JOIN face o ON o.face_id = lf.face_id";
	}
	*key = arena_printf(a, "o.%s", id);
	return index ? arena_printf(a, "%s o FORCE INDEX (%s)", table, index) : arena_printf(a, "%s o", table);
}

int objects_local_validate_filters(enum objects_kind kind, json_object *filters, char *err, size_t errlen)
{
	struct arena *a = arena_new();
	struct objects_where w;
	int rc = objects_where_build(a, kind, filters, NULL, &w, err, errlen);
	arena_free(a);
	return rc;
}
