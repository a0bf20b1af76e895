/* Unit tests of objects_where_build (src/backends/objects_local_filters.c): the
 * spec's filter objects become WHERE clauses whose values are all bound
 * parameters, never SQL text; unknown keys, wrong types and bad times fail
 * with the key named. Also the [LIMITS] walk over task bodies
 * (src/tasks/task_limits.c) and the account rule of task contents
 * (task_check_content_accounts), and objects_l2_normalize. No database is
 * needed. */
#include "backends/objects_local.h"
#include "backends/objects_where.h"
#include "check.h"
#include "common/errors.h"
#include "tasks/task_limits.h"
#include "tasks/task_util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void put_json(void *obj)
{
	json_object_put(obj);
}

/* The parameters point into the filter object: it lives as long as the arena. */
static struct objects_where build(struct arena *a, enum objects_kind kind, const char *json, const char *account,
				  int *rc, char *err, size_t errlen)
{
	struct objects_where w = {0};
	json_object *f = json ? json_tokener_parse(json) : NULL;
	*rc = objects_where_build(a, kind, f, account, &w, err, errlen);
	arena_defer(a, put_json, f);
	return w;
}

static int count_marks(const char *sql)
{
	int n = 0;
	for (; *sql; sql++)
		n += *sql == '?';
	return n;
}

static void test_no_filters(struct arena *a)
{
	char err[256];
	int rc;
	struct objects_where w = build(a, OBJ_FACES, NULL, NULL, &rc, err, sizeof(err));
	CHECK(rc == 0 && strcmp(w.sql, "1") == 0 && w.nparams == 0);
	w = build(a, OBJ_FACES, "{}", "6d071cca-fda5-4a03-84d5-5bea65904480", &rc, err, sizeof(err));
	CHECK(rc == 0 && strcmp(w.sql, "o.account_id = ?") == 0 && w.nparams == 1);
}

static void test_values_are_parameters(struct arena *a)
{
	char err[256];
	int rc;
	const char *evil = "{\"user_data\": \"x' OR '1'='1\", \"sources\": [\"a\", \"b; DROP TABLE event\"],"
			   " \"tags\": [\"t1\", \"t2\"], \"age__gte\": 3, \"gender\": 1,"
			   " \"create_time__gte\": \"2021-07-28T01:23:21.537604+03:00\"}";
	struct objects_where w = build(a, OBJ_EVENTS, evil, NULL, &rc, err, sizeof(err));
	CHECK(rc == 0);
	CHECK(strstr(w.sql, "OR '1'") == NULL && strstr(w.sql, "DROP") == NULL);
	CHECK(count_marks(w.sql) == (int)w.nparams);
	CHECK(w.nparams == 8);
	CHECK(strstr(w.sql, "o.source IN (?, ?)") != NULL);
	CHECK(strstr(w.sql, "et.tag = ?") != NULL);
	int found_time = 0;
	for (size_t i = 0; i < w.nparams; i++)
		if (w.params[i].type == DB_T_STR && strcmp(w.params[i].s, "2021-07-27 22:23:21.537604") == 0)
			found_time = 1;
	CHECK(found_time);
}

/* The task's account always applies; a filter's account can only narrow it. */
static void test_filter_account_narrows(struct arena *a)
{
	char err[256];
	int rc;
	struct objects_where w = build(a, OBJ_FACES, "{\"account_id\": \"11111111-1111-4111-8111-111111111111\"}",
				       "22222222-2222-4222-8222-222222222222", &rc, err, sizeof(err));
	CHECK(rc == 0 && w.nparams == 2 && strcmp(w.params[0].s, "22222222-2222-4222-8222-222222222222") == 0 &&
	      strcmp(w.params[1].s, "11111111-1111-4111-8111-111111111111") == 0);
	w = build(a, OBJ_FACES, "{\"account_id\": \"22222222-2222-4222-8222-222222222222\"}",
		  "22222222-2222-4222-8222-222222222222", &rc, err, sizeof(err));
	CHECK(rc == 0 && w.nparams == 1 && strcmp(w.params[0].s, "22222222-2222-4222-8222-222222222222") == 0);
	w = build(a, OBJ_FACES, "{\"account_id\": \"11111111-1111-4111-8111-111111111111\"}", NULL, &rc, err,
		  sizeof(err));
	CHECK(rc == 0 && w.nparams == 1 && strcmp(w.params[0].s, "11111111-1111-4111-8111-111111111111") == 0);
}

/* For every kind: the task's account is the first clause; another filter
 * account adds a second one (so nothing matches); a null one adds nothing. */
static void test_filter_account_narrows_every_kind(struct arena *a)
{
	static const char *const task = "22222222-2222-4222-8222-222222222222";
	char err[256];
	int rc;
	for (int kind = OBJ_FACES; kind <= OBJ_ATTRIBUTES; kind++) {
		struct objects_where w = build(a, (enum objects_kind)kind,
					       "{\"account_id\": \"11111111-1111-4111-8111-111111111111\"}", task, &rc,
					       err, sizeof(err));
		CHECK(rc == 0 && strcmp(w.sql, "o.account_id = ? AND o.account_id = ?") == 0 && w.nparams == 2);
		CHECK(rc == 0 && strcmp(w.params[0].s, task) == 0);
		w = build(a, (enum objects_kind)kind, "{\"account_id\": null}", task, &rc, err, sizeof(err));
		CHECK(rc == 0 && strcmp(w.sql, "o.account_id = ?") == 0 && w.nparams == 1);
		build(a, (enum objects_kind)kind, "{\"account_id\": 7}", task, &rc, err, sizeof(err));
		CHECK(rc != 0 && strstr(err, "'account_id'") != NULL);
	}
}

static int content_accounts(const char *account, const char *json, struct task_fail *fail)
{
	json_object *content = json_tokener_parse(json);
	memset(fail, 0, sizeof(*fail));
	int rc = task_check_content_accounts(account, content, fail);
	json_object_put(content);
	return rc;
}

/* An account_id anywhere in a task's content must be the task's; the path of
 * the first other one is named. */
static void test_content_accounts(void)
{
	static const char *const task = "22222222-2222-4222-8222-222222222222";
	struct task_fail f;
	CHECK(content_accounts(task, "{\"filters\": {\"account_id\": \"22222222-2222-4222-8222-222222222222\", "
				     "\"x\": [{\"account_id\": null}]}}", &f) == 0);
	CHECK(content_accounts(task, "{\"filters\": {\"account_id\": \"11111111-1111-4111-8111-111111111111\"}}",
			       &f) != 0);
	CHECK(f.status == 400 && f.code == E_BAD_JSON &&
	      strstr(f.detail, "Path: 'content.filters.account_id', message: 'content.filters.account_id must equal") !=
		      NULL);
	CHECK(content_accounts(task, "{\"filters\": {\"reference_filters\": {\"face_ids\": []}, \"candidate_filters\": "
				     "{\"account_id\": 5}}}", &f) != 0);
	CHECK(strstr(f.detail, "'content.filters.candidate_filters.account_id'") != NULL);
	CHECK(content_accounts(task, "{\"markup\": [{\"face_id\": \"a\"}, {\"account_id\": \"b\"}]}", &f) != 0);
	CHECK(strstr(f.detail, "'content.markup.1.account_id'") != NULL);
	/* A task without an account (not possible through the API): the filters narrow. */
	CHECK(content_accounts(NULL, "{\"filters\": {\"account_id\": \"11111111-1111-4111-8111-111111111111\"}}",
			       &f) == 0);
}

static void test_top_similar(struct arena *a)
{
	char err[256];
	int rc;
	struct objects_where w = build(a, OBJ_EVENTS, "{\"top_similar_object_similarity__gte\": 0.5}", NULL, &rc, err,
				       sizeof(err));
	CHECK(rc == 0 && strstr(w.sql, "o.top_similar_object_similarity >= ?") != NULL);
	w = build(a, OBJ_EVENTS,
		  "{\"top_matching_candidates_label\": \"L\", \"top_similar_external_ids\": [\"e\"],"
		  " \"top_similar_object_similarity__lt\": 0.9}",
		  NULL, &rc, err, sizeof(err));
	CHECK(rc == 0 && strstr(w.sql, "EXISTS (SELECT 1 FROM event_match m") != NULL);
	CHECK(strstr(w.sql, "m.external_id IN (?)") != NULL && strstr(w.sql, "m.similarity < ?") != NULL);
	CHECK(count_marks(w.sql) == (int)w.nparams && w.nparams == 3);
}

static void test_geo_and_empty_list(struct arena *a)
{
	char err[256];
	int rc;
	struct objects_where w = build(a, OBJ_EVENTS, "{\"geo_position\": {\"origin_longitude\": 10, \"origin_latitude\": 20}}",
				       NULL, &rc, err, sizeof(err));
	CHECK(rc == 0 && w.nparams == 4 && w.params[0].type == DB_T_DOUBLE);
	CHECK(w.params[0].d > 9.98 && w.params[0].d < 9.995 && w.params[3].d > 20.005 && w.params[3].d < 20.02);
	w = build(a, OBJ_FACES, "{\"face_ids\": []}", NULL, &rc, err, sizeof(err));
	CHECK(rc == 0 && strcmp(w.sql, "0 = 1") == 0);
	w = build(a, OBJ_FACES, "{\"list_id\": \"11111111-1111-4111-8111-111111111111\"}", NULL, &rc, err, sizeof(err));
	CHECK(rc == 0 && strstr(w.sql, "list_face") != NULL && w.nparams == 1);
}

static void test_rejections(struct arena *a)
{
	char err[256];
	int rc;
	build(a, OBJ_FACES, "{\"sources\": [\"cam\"]}", NULL, &rc, err, sizeof(err));
	CHECK(rc != 0 && strstr(err, "'sources'") != NULL);
	build(a, OBJ_EVENTS, "{\"age__gte\": \"old\"}", NULL, &rc, err, sizeof(err));
	CHECK(rc != 0 && strstr(err, "'age__gte'") != NULL);
	build(a, OBJ_EVENTS, "{\"create_time__lt\": \"yesterday\"}", NULL, &rc, err, sizeof(err));
	CHECK(rc != 0 && strstr(err, "RFC 3339") != NULL);
	build(a, OBJ_FACES, "{\"face_ids\": [\"not-a-uuid\"]}", NULL, &rc, err, sizeof(err));
	CHECK(rc != 0 && strstr(err, "uuid") != NULL);
	build(a, OBJ_ATTRIBUTES, "{\"user_data\": \"x\"}", NULL, &rc, err, sizeof(err));
	CHECK(rc != 0);
	build(a, 0, "{}", NULL, &rc, err, sizeof(err));
	CHECK(rc != 0);
}

/* {"content": {"filters": {"<key>": [n uuids]}}} */
static json_object *body_with_list(const char *key, size_t n)
{
	json_object *ids = json_object_new_array_ext((int)n);
	for (size_t i = 0; i < n; i++)
		json_object_array_add(ids, json_object_new_string("6d071cca-fda5-4a03-84d5-5bea65904480"));
	json_object *filters = json_object_new_object(), *content = json_object_new_object();
	json_object *body = json_object_new_object();
	json_object_object_add(filters, key, ids);
	json_object_object_add(content, "filters", filters);
	json_object_object_add(body, "content", content);
	return body;
}

static void test_body_limits(void)
{
	struct luna_config cfg;
	char err[256];
	struct task_fail fail = {0};
	CHECK(config_load(&cfg, NULL, err, sizeof(err)) == 0);
	cfg.limits.max_list_items = 100;
	cfg.limits.max_match_limit = 50;
	json_object *body = body_with_list("external_ids", 100);
	CHECK(task_limits_check(&cfg, "linker", body, "", &fail) == 0);
	json_object_put(body);
	body = body_with_list("external_ids", 101);
	CHECK(task_limits_check(&cfg, "linker", body, "", &fail) == -1 && fail.status == 400 && fail.code == E_BAD_JSON);
	CHECK(strstr(fail.detail, "Path: 'content.filters.external_ids'") &&
	      strstr(fail.detail, "101 items, more than the limit of 100 ([LIMITS] MAX_LIST_ITEMS)"), "%s", fail.detail);
	/* The scheduler checks the stored content under the path "content". */
	json_object *content = json_object_object_get(body, "content");
	CHECK(task_limits_check(&cfg, "linker", content, "content", &fail) == -1 &&
	      strstr(fail.detail, "'content.filters.external_ids'"), "%s", fail.detail);
	json_object_put(body);
	/* limit: bounded for cross match and roc, not for clustering (the spec's maximum). */
	body = json_tokener_parse("{\"content\": {\"limit\": 51, \"markup\": [{\"face_id\": \"x\", \"label\": 1}]}}");
	CHECK(task_limits_check(&cfg, "cross_match", body, "", &fail) == -1 &&
	      strstr(fail.detail, "Path: 'content.limit'") && strstr(fail.detail, "51 is too large") &&
	      strstr(fail.detail, "MAX_MATCH_LIMIT"), "%s", fail.detail);
	CHECK(task_limits_check(&cfg, "roc", body, "", &fail) == -1);
	CHECK(task_limits_check(&cfg, "clustering", body, "", &fail) == 0);
	cfg.limits.max_roc_markup = 2;
	CHECK(task_limits_check(&cfg, "clustering", body, "", &fail) == 0);
	json_object_put(body);
	body = json_tokener_parse("{\"content\": {\"markup\": [{}, {}, {}]}}");
	CHECK(task_limits_check(&cfg, "roc", body, "", &fail) == -1 && strstr(fail.detail, "'content.markup'") &&
	      strstr(fail.detail, "3 items, more than the limit of 2 ([LIMITS] MAX_ROC_MARKUP)"), "%s", fail.detail);
	CHECK(task_limits_check(&cfg, "exporter", body, "", &fail) == 0);
	json_object_put(body);
	/* Lists nested in objects of lists are walked too; the path names the index. */
	body = json_tokener_parse("{\"content\": {\"markup\": [{}, {\"x\": [1, 2, 3]}]}}");
	cfg.limits.max_list_items = 2;
	CHECK(task_limits_check(&cfg, "roc", body, "", &fail) == -1 && strstr(fail.detail, "'content.markup.1.x'"),
	      "%s", fail.detail);
	json_object_put(body);
	/* A row's path is matched whole: "content.markupx" and "content.markup.0" are other lists. */
	cfg.limits.max_list_items = 5;
	body = json_tokener_parse("{\"content\": {\"markupx\": [1, 2, 3], \"markup\": [[1, 2, 3]]}}");
	CHECK(task_limits_check(&cfg, "roc", body, "", &fail) == 0, "%s", fail.detail);
	json_object_put(body);
}

/* A filter of the largest list (and more) builds on the heap: one parameter per id. */
static void test_big_list(struct arena *a)
{
	char err[256];
	json_object *body = body_with_list("face_ids", 50000);
	json_object *filters = json_object_object_get(json_object_object_get(body, "content"), "filters");
	struct objects_where w = {0};
	CHECK(objects_where_build(a, OBJ_FACES, filters, "6d071cca-fda5-4a03-84d5-5bea65904480", &w, err,
				  sizeof(err)) == 0);
	CHECK(w.nparams == 50001 && count_marks(w.sql) == 50001);
	/* Lists within their own limit that together would not fit one statement. */
	json_object *more = json_object_new_array();
	for (int i = 0; i < 20000; i++)
		json_object_array_add(more, json_object_new_string("x"));
	json_object_object_add(filters, "external_ids", more);
	CHECK(objects_where_build(a, OBJ_FACES, filters, NULL, &w, err, sizeof(err)) == -1 &&
	      strstr(err, "70000 values, more than"), "%s", err);
	json_object_put(body);
}

/* A list read from its own rows: the list is a comparison on list_face lf,
 * in the order of the parameters, and the FROM and key follow; without a
 * list (or for another kind) the WHERE is objects_where_build's. */
static void test_list_by_its_rows(struct arena *a)
{
	char err[256];
	const char *acc = "6d071cca-fda5-4a03-84d5-5bea65904480";
	json_object *f = json_tokener_parse("{\"user_data\": \"u\", \"list_id\": "
					    "\"3f5a1c2e-8d4b-4e6f-9a7c-1b2d3e4f5a6b\", \"face_id__gte\": "
					    "\"00000000-0000-4000-8000-000000000000\"}");
	struct objects_where w = {0}, plain = {0};
	const char *key;
	CHECK(objects_where_build_by_list(a, OBJ_FACES, f, acc, &w, err, sizeof(err)) == 0, "%s", err);
	CHECK(w.by_list && strcmp(w.sql, "o.account_id = ? AND o.user_data = ? AND lf.list_id = ? AND o.face_id >= ?") == 0,
	      "%s", w.sql);
	CHECK(w.nparams == 4 && strcmp(w.params[2].s, "3f5a1c2e-8d4b-4e6f-9a7c-1b2d3e4f5a6b") == 0);
	const char *from = objects_where_from(a, &w, "face", "face_id", "face_account", &key);
	CHECK(strcmp(key, "lf.face_id") == 0 && strstr(from, "list_face lf FORCE INDEX (PRIMARY) STRAIGHT_JOIN face o "
							  "ON o.face_id = lf.face_id") == from, "%s", from);
	CHECK(objects_where_build(a, OBJ_FACES, f, acc, &plain, err, sizeof(err)) == 0 && !plain.by_list &&
	      strstr(plain.sql, "EXISTS (SELECT 1 FROM list_face lf WHERE lf.face_id = o.face_id AND lf.list_id = ?)"));
	json_object_object_del(f, "list_id");
	CHECK(objects_where_build_by_list(a, OBJ_FACES, f, acc, &w, err, sizeof(err)) == 0 && !w.by_list &&
	      strstr(w.sql, "lf.") == NULL);
	from = objects_where_from(a, &w, "face", "face_id", "face_account", &key);
	CHECK(strcmp(from, "face o FORCE INDEX (face_account)") == 0 && strcmp(key, "o.face_id") == 0, "%s", from);
	from = objects_where_from(a, &w, "event", "event_id", NULL, &key);
	CHECK(strcmp(from, "event o") == 0 && strcmp(key, "o.event_id") == 0, "%s", from);
	json_object_put(f);
}

/* For a descriptor read: a list and the account alone compare the
 * descriptor's account and read no face row; any other filter, or no
 * account given, leaves the WHERE as objects_where_build_by_list made it. */
static void test_list_descriptors_only(struct arena *a)
{
	char err[256];
	const char *acc = "6d071cca-fda5-4a03-84d5-5bea65904480", *list = "3f5a1c2e-8d4b-4e6f-9a7c-1b2d3e4f5a6b";
	json_object *f = json_object_new_object();
	json_object_object_add(f, "list_id", json_object_new_string(list));
	struct objects_where w = {0};
	const char *key;
	CHECK(objects_where_build_by_list(a, OBJ_FACES, f, acc, &w, err, sizeof(err)) == 0 && w.object_clauses == 0);
	CHECK(objects_where_descriptors_by_list(a, OBJ_FACES, f, acc, &w, err, sizeof(err)) == 0, "%s", err);
	CHECK(w.descriptor_account && w.by_list && strcmp(w.sql, "d.account_id = ? AND lf.list_id = ?") == 0, "%s", w.sql);
	CHECK(w.nparams == 2 && strcmp(w.params[0].s, acc) == 0 && strcmp(w.params[1].s, list) == 0);
	const char *from = objects_where_from(a, &w, "face", "face_id", "face_account", &key);
	CHECK(strcmp(from, "list_face lf FORCE INDEX (PRIMARY)") == 0 && strcmp(key, "lf.face_id") == 0, "%s", from);
	/* a filter naming another account narrows on the descriptor's too */
	json_object_object_add(f, "account_id", json_object_new_string("0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"));
	CHECK(objects_where_build_by_list(a, OBJ_FACES, f, acc, &w, err, sizeof(err)) == 0 &&
	      objects_where_descriptors_by_list(a, OBJ_FACES, f, acc, &w, err, sizeof(err)) == 0);
	CHECK(w.descriptor_account && strcmp(w.sql, "d.account_id = ? AND d.account_id = ? AND lf.list_id = ?") == 0,
	      "%s", w.sql);
	/* a column of the face: the face row is read */
	json_object_object_add(f, "user_data", json_object_new_string("u"));
	CHECK(objects_where_build_by_list(a, OBJ_FACES, f, acc, &w, err, sizeof(err)) == 0 && w.object_clauses == 1 &&
	      objects_where_descriptors_by_list(a, OBJ_FACES, f, acc, &w, err, sizeof(err)) == 0);
	CHECK(!w.descriptor_account && strstr(w.sql, "o.account_id = ? AND ") == w.sql && strstr(w.sql, "d.") == NULL,
	      "%s", w.sql);
	from = objects_where_from(a, &w, "face", "face_id", "face_account", &key);
	CHECK(strstr(from, "STRAIGHT_JOIN face o ON o.face_id = lf.face_id") != NULL, "%s", from);
	json_object_object_del(f, "user_data");
	json_object_object_del(f, "account_id");
	/* no account given, or no list: unchanged */
	CHECK(objects_where_build_by_list(a, OBJ_FACES, f, NULL, &w, err, sizeof(err)) == 0 &&
	      objects_where_descriptors_by_list(a, OBJ_FACES, f, NULL, &w, err, sizeof(err)) == 0 &&
	      !w.descriptor_account && strcmp(w.sql, "lf.list_id = ?") == 0, "%s", w.sql);
	json_object_object_del(f, "list_id");
	CHECK(objects_where_build_by_list(a, OBJ_FACES, f, acc, &w, err, sizeof(err)) == 0 &&
	      objects_where_descriptors_by_list(a, OBJ_FACES, f, acc, &w, err, sizeof(err)) == 0 &&
	      !w.descriptor_account && strcmp(w.sql, "o.account_id = ?") == 0, "%s", w.sql);
	json_object_put(f);
}

/* The objects schema's text (LUNA_SPEC is <tree>/docs/luna-tasks.yaml, the
 * schema <tree>/sql/objects/001_init.sql); NULL when unreadable. */
static char *objects_schema(void)
{
	const char *spec = getenv("LUNA_SPEC");
	char path[4096];
	char *docs;
	if (!spec || snprintf(path, sizeof(path), "%s", spec) >= (int)sizeof(path) - 32 || !strrchr(path, '/'))
		return NULL;
	*strrchr(path, '/') = 0;
	if (!(docs = strrchr(path, '/')))
		return NULL;
	strcpy(docs, "/sql/objects/001_init.sql");
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *text = calloc(1, 1 << 16);
	if (text && fread(text, 1, (1 << 16) - 1, f) == 0) {
		free(text);
		text = NULL;
	}
	fclose(f);
	return text;
}

/* An equality (or an IN list of one value) on a column with an (account_id,
 * column) index of the schema names that index; a range, a longer IN list,
 * a column without one or a label's top match names none. */
static void test_equality_index(struct arena *a)
{
	static const struct {
		enum objects_kind kind;
		const char *filters, *index, *column;
	} cases[] = {
		{OBJ_FACES, "{\"user_data\": \"u\", \"create_time__gte\": \"2024-01-01T00:00:00Z\"}", "face_user_data",
		 "user_data"},
		{OBJ_FACES, "{\"external_ids\": [\"x\"]}", "face_external", "external_id"},
		{OBJ_EVENTS, "{\"user_data\": \"u\"}", "event_user_data", "user_data"},
		{OBJ_EVENTS, "{\"handler_id\": \"3f5a1c2e-8d4b-4e6f-9a7c-1b2d3e4f5a6b\", \"age__gte\": 3}", "event_handler",
		 "handler_id"},
		{OBJ_EVENTS, "{\"age__lt\": 30, \"gender\": 1}", "event_gender", "gender"},
		{OBJ_EVENTS, "{\"sources\": [\"s\"]}", "event_source", "source"},
		{OBJ_EVENTS, "{\"masks\": [1]}", "event_mask", "mask"},
		{OBJ_EVENTS, "{\"top_similar_external_ids\": [\"x\"]}", "event_top_external", "top_similar_external_id"},
		{OBJ_EVENTS, "{\"top_similar_external_ids\": [\"x\"], \"top_matching_candidates_label\": \"l\"}", NULL,
		 NULL},
		{OBJ_EVENTS, "{\"age__gte\": 3, \"sources\": [\"s\", \"t\"]}", NULL, NULL},
		{OBJ_FACES, "{\"external_ids\": [], \"face_id__gte\": \"00000000-0000-4000-8000-000000000000\"}", NULL,
		 NULL},
		{OBJ_FACES, NULL, NULL, NULL},
		{OBJ_ATTRIBUTES, "{\"create_time__lt\": \"2024-01-01T00:00:00Z\"}", NULL, NULL},
	};
	const char *acc = "6d071cca-fda5-4a03-84d5-5bea65904480";
	char *schema = objects_schema();
	CHECK(schema != NULL, "sql/objects/001_init.sql beside LUNA_SPEC (%s)", getenv("LUNA_SPEC"));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;
		char err[256], key[128];
		struct objects_where w = build(a, cases[i].kind, cases[i].filters, acc, &rc, err, sizeof(err));
		const char *got = rc == 0 ? w.equality_index : "(failed)";
		CHECK(cases[i].index ? got && strcmp(got, cases[i].index) == 0 : got == NULL, "case %zu: %s", i,
		      got ? got : "NULL");
		if (!cases[i].index || !schema)
			continue;
		snprintf(key, sizeof(key), "KEY %s (account_id, %s)", cases[i].index, cases[i].column);
		CHECK(strstr(schema, key) != NULL, "the schema has no %s", key);
	}
	free(schema);
}

/* Tasks validate filters through the configured backend's table, without a
 * connection; a backend that is not built is named in the error. */
static void test_validate_through_backend(void)
{
	struct luna_config cfg;
	char err[256];
	CHECK(config_load(&cfg, NULL, err, sizeof(err)) == 0);
	json_object *good = json_tokener_parse("{\"user_data\": \"x\", \"create_time__lt\": \"2024-01-01T00:00:00Z\"}");
	json_object *bad = json_tokener_parse("{\"tags\": [\"a\"]}");
	CHECK(objects_backend(&cfg, err, sizeof(err)) == &objects_local_ops);
	CHECK(objects_validate_filters(&cfg, OBJ_FACES, good, err, sizeof(err)) == 0, "%s", err);
	CHECK(objects_validate_filters(&cfg, OBJ_FACES, NULL, err, sizeof(err)) == 0, "%s", err);
	CHECK(objects_validate_filters(&cfg, OBJ_FACES, bad, err, sizeof(err)) == -1 &&
	      strstr(err, "filter 'tags' is not supported for faces"), "%s", err);
	CHECK(objects_validate_filters(&cfg, OBJ_EVENTS, bad, err, sizeof(err)) == 0, "%s", err);
	snprintf(cfg.objects_backend, sizeof(cfg.objects_backend), "luna");
	CHECK(objects_backend(&cfg, err, sizeof(err)) == NULL && strstr(err, "'luna' is not available"), "%s", err);
	CHECK(objects_validate_filters(&cfg, OBJ_EVENTS, bad, err, sizeof(err)) == -1 &&
	      strstr(err, "'luna' is not available"), "%s", err);
	CHECK(objects_open(&cfg, err, sizeof(err)) == NULL && strstr(err, "'luna' is not available"), "%s", err);
	json_object_put(good);
	json_object_put(bad);
}

/* The normalisation as one running sum: what objects_l2_normalize must
 * give bit for bit (rows read for matching are the same floats as before). */
static void l2_normalize_reference(float *v, size_t d)
{
	double s = 0;
	for (size_t i = 0; i < d; i++)
		s += (double)v[i] * v[i];
	if (s <= 0)
		return;
	float inv = (float)(1.0 / sqrt(s));
	for (size_t i = 0; i < d; i++)
		v[i] *= inv;
}

static void test_l2_normalize(void)
{
	enum { ROWS = 2000 };
	static const size_t dims[] = {512, 7, 3};
	float v[512], ref[512];
	srand(11);
	for (size_t k = 0; k < sizeof(dims) / sizeof(dims[0]); k++) {
		size_t d = dims[k], raw_differ = 0, stored_differ = 0;
		for (int r = 0; r < ROWS; r++) {
			for (size_t i = 0; i < d; i++)
				v[i] = ref[i] = (float)rand() / (float)RAND_MAX - 0.5f;
			objects_l2_normalize(v, d);
			l2_normalize_reference(ref, d);
			raw_differ += memcmp(v, ref, d * sizeof(float)) != 0;
			/* a stored row: normalised when written, normalised again when read */
			objects_l2_normalize(v, d);
			l2_normalize_reference(ref, d);
			stored_differ += memcmp(v, ref, d * sizeof(float)) != 0;
		}
		CHECK(raw_differ == 0, "d %zu: %zu of %d raw rows differ from one running sum", d, raw_differ, ROWS);
		CHECK(stored_differ == 0, "d %zu: %zu of %d stored rows differ", d, stored_differ, ROWS);
		double s = 0;
		for (size_t i = 0; i < d; i++)
			s += (double)v[i] * v[i];
		CHECK(fabs(s - 1) < 1e-6, "d %zu: squared norm %g", d, s);
	}
	float zero[5] = {0, 0, 0, 0, 0};
	objects_l2_normalize(zero, 5);
	CHECK(zero[0] == 0 && zero[4] == 0);
}

int main(void)
{
	struct arena *a = arena_new();
	test_no_filters(a);
	test_values_are_parameters(a);
	test_filter_account_narrows(a);
	test_filter_account_narrows_every_kind(a);
	test_content_accounts();
	test_top_similar(a);
	test_geo_and_empty_list(a);
	test_rejections(a);
	test_body_limits();
	test_big_list(a);
	test_list_by_its_rows(a);
	test_list_descriptors_only(a);
	test_equality_index(a);
	test_validate_through_backend();
	test_l2_normalize();
	arena_free(a);
	return CHECK_DONE();
}
