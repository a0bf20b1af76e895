/* The admin importer's bulk writes on the local objects database (see the
 * import section of objects.h): one transaction per batch, rows as
 * multi-row INSERTs with bound parameters (vectors as binary) of
 * ROWS_PER_STATEMENT rows, re-imported objects replaced by ON DUPLICATE KEY
 * UPDATE, the batch's lists looked up in one statement per
 * ROWS_PER_STATEMENT lists. Each table's rows go sorted by primary key.
 * Measured on 100,000 faces (bench/scale data, same server): sorting cuts
 * the server's CPU per face by about 15-25 %; LOAD DATA LOCAL INFILE fed
 * from memory instead of the INSERTs cost the server 15-35 % more (it parses
 * and converts the escaped text of every vector).
 * Workload: up to millions of faces with 512-d descriptors, batches of
 * about a thousand lines; bench/scale measures it against LOAD DATA of the
 * same rows. */
#include "backends/objects_local.h"
#include "common/timefmt.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROWS_PER_STATEMENT 256

/* The INSERT of a table: head, rows of placeholders, tail. */
struct import_sql {
	const char *head;      /* "INSERT INTO t (a, b) VALUES " */
	const char *tail;      /* "" or " ON DUPLICATE KEY UPDATE …" */
};

static const struct import_sql *import_sql(enum objects_import_table table)
{
	static const struct import_sql faces = {
		"INSERT INTO face (face_id, account_id, event_id, attribute_id, user_data, external_id, avatar, "
		"create_time) VALUES ",
		" ON DUPLICATE KEY UPDATE account_id = VALUES(account_id), event_id = VALUES(event_id), "
		"attribute_id = VALUES(attribute_id), user_data = VALUES(user_data), external_id = "
		"VALUES(external_id), avatar = VALUES(avatar), create_time = VALUES(create_time)"};
	static const struct import_sql attributes = {
		"INSERT INTO attribute (attribute_id, account_id, face_id, create_time, age, gender, ethnicity) VALUES ",
		" ON DUPLICATE KEY UPDATE account_id = VALUES(account_id), face_id = VALUES(face_id), create_time = "
		"VALUES(create_time), age = VALUES(age), gender = VALUES(gender), ethnicity = VALUES(ethnicity)"};
	static const struct import_sql descriptors = {
		"INSERT INTO descriptor (owner_id, descriptor_type, descriptor_version, owner_kind, account_id, vector) "
		"VALUES ",
		" ON DUPLICATE KEY UPDATE owner_kind = VALUES(owner_kind), account_id = VALUES(account_id), vector = "
		"VALUES(vector)"};
	static const struct import_sql list_faces = {
		"INSERT IGNORE INTO list_face (list_id, face_id, link_time) VALUES ", ""};
	static const struct import_sql events = {
		"INSERT INTO event (event_id, account_id, create_time, end_time, insert_time, handler_id, external_id, "
		"source, user_data, face_id, track_id, gender, age, emotion, ethnic_group, mask, liveness, city, area, "
		"district, street, house_number, longitude, latitude, top_similar_object_id, top_similar_external_id, "
		"top_similar_object_similarity, tags_json, top_match_json, match_result_json, face_detections_json, "
		"body_detections_json, attach_result_json) VALUES ",
		" ON DUPLICATE KEY UPDATE account_id = VALUES(account_id), create_time = VALUES(create_time), end_time = "
		"VALUES(end_time), insert_time = VALUES(insert_time), handler_id = VALUES(handler_id), external_id = "
		"VALUES(external_id), source = VALUES(source), user_data = VALUES(user_data), face_id = VALUES(face_id), "
		"track_id = VALUES(track_id), gender = VALUES(gender), age = VALUES(age), emotion = VALUES(emotion), "
		"ethnic_group = VALUES(ethnic_group), mask = VALUES(mask), liveness = VALUES(liveness), city = "
		"VALUES(city), area = VALUES(area), district = VALUES(district), street = VALUES(street), house_number "
		"= VALUES(house_number), longitude = VALUES(longitude), latitude = VALUES(latitude), "
		"top_similar_object_id = VALUES(top_similar_object_id), top_similar_external_id = "
		"VALUES(top_similar_external_id), top_similar_object_similarity = VALUES(top_similar_object_similarity), "
		"tags_json = VALUES(tags_json), top_match_json = VALUES(top_match_json), match_result_json = "
		"VALUES(match_result_json), face_detections_json = VALUES(face_detections_json), body_detections_json = "
		"VALUES(body_detections_json), attach_result_json = VALUES(attach_result_json)"};
	static const struct import_sql tags = {"INSERT INTO event_tag (event_id, tag) VALUES ", ""};
	static const struct import_sql matches = {
		"INSERT INTO event_match (event_id, label, object_id, external_id, similarity) VALUES ", ""};
	static const struct import_sql samples = {
		"INSERT INTO sample (sample_id, owner_id, owner_kind, sample_type, image_origin) VALUES ",
		" ON DUPLICATE KEY UPDATE owner_id = VALUES(owner_id), owner_kind = VALUES(owner_kind), sample_type = "
		"VALUES(sample_type), image_origin = COALESCE(VALUES(image_origin), image_origin)"};
	switch (table) {
	case IMPORT_FACES:
		return &faces;
	case IMPORT_ATTRIBUTES:
		return &attributes;
	case IMPORT_DESCRIPTORS:
		return &descriptors;
	case IMPORT_LIST_FACES:
		return &list_faces;
	case IMPORT_EVENTS:
		return &events;
	case IMPORT_TAGS:
		return &tags;
	case IMPORT_MATCHES:
		return &matches;
	case IMPORT_SAMPLES:
		return &samples;
	}
	return NULL;
}

/* The failure of the last statement, with the server's words after prefix. */
static int import_failed(struct objects *o, const char *prefix)
{
	return objects_local_fail(o, 0, "%s%s", prefix, db_error(local_db(o)));
}

/* "head(?,?,…),(?,?,…)…tail": m rows of ncols placeholders; malloc'd. */
static char *placeholder_rows(const char *head, const char *tail, size_t m, size_t ncols)
{
	char *sql = malloc(strlen(head) + strlen(tail) + m * (ncols * 2 + 2) + 1);
	if (!sql)
		return NULL;
	char *p = sql + sprintf(sql, "%s", head);
	for (size_t r = 0; r < m; r++) {
		if (r)
			*p++ = ',';
		*p++ = '(';
		for (size_t c = 0; c < ncols; c++) {
			*p++ = '?';
			*p++ = c + 1 < ncols ? ',' : ')';
		}
	}
	strcpy(p, tail);
	return sql;
}

/* INSERT … VALUES (?,…),(?,…) … in statements of ROWS_PER_STATEMENT rows:
 * full statements repeat one SQL text, which the connection keeps prepared.
 * *affected (may be NULL): the server's count of rows changed. */
static int insert_rows(struct objects *o, const struct import_sql *q, size_t ncols, const struct db_param *cells,
		       size_t nrows, unsigned long long *affected)
{
	struct db_result r;
	for (size_t off = 0; off < nrows; off += ROWS_PER_STATEMENT) {
		size_t m = nrows - off < ROWS_PER_STATEMENT ? nrows - off : ROWS_PER_STATEMENT;
		char *sql = placeholder_rows(q->head, q->tail, m, ncols);
		if (!sql)
			return objects_local_fail(o, 0, "out of memory");
		int rc = db_exec(local_db(o), NULL, sql, cells + off * ncols, m * ncols, &r);
		free(sql);
		if (rc)
			return import_failed(o, "");
		if (affected)
			*affected += r.affected;
	}
	return 0;
}

/* Read committed: the DELETEs of objects_local_import_clear_events lock the
 * rows they find, not the gaps around absent ids where another connection's
 * batch inserts (an import may write on several connections at once; under
 * repeatable read two of them deadlock there). */
int objects_local_import_begin(struct objects *o)
{
	if (DB_EXEC(local_db(o), NULL, NULL, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"))
		return import_failed(o, "");
	return db_begin(local_db(o)) ? import_failed(o, "") : 0;
}

int objects_local_import_commit(struct objects *o)
{
	return db_commit(local_db(o)) ? import_failed(o, "commit: ") : 0;
}

void objects_local_import_rollback(struct objects *o)
{
	db_rollback(local_db(o));
}

/* ---- Rows in key order ------------------------------------------------------ */

struct key_order {
	size_t ncols, nkey;
	const struct db_param *rows;
};

static int compare_values(const struct db_param *a, const struct db_param *b)
{
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	if (a->type == DB_T_I64)
		return a->i < b->i ? -1 : a->i > b->i;
	if (a->type != DB_T_STR && a->type != DB_T_BYTES)
		return 0;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->s, b->s, n);
	return c ? c : a->len < b->len ? -1 : a->len > b->len;
}

/* By primary key, then by position: a key given twice keeps its file order,
 * so the last row of it is written last and wins. */
static int compare_rows(const void *x, const void *y, void *arg)
{
	const struct key_order *k = arg;
	size_t i = *(const size_t *)x, j = *(const size_t *)y;
	for (size_t c = 0; c < k->nkey; c++) {
		int r = compare_values(k->rows + i * k->ncols + c, k->rows + j * k->ncols + c);
		if (r)
			return r;
	}
	return i < j ? -1 : i > j;
}

/* A copy of the rows sorted by primary key (malloc'd; NULL when out of
 * memory). InnoDB inserts rows in key order with less work: consecutive rows
 * land in the same or neighbouring pages of every index whose key ends in the
 * primary key (most of them here), instead of all over the tree. */
static struct db_param *rows_in_key_order(size_t ncols, size_t nkey, const struct db_param *rows, size_t nrows)
{
	size_t *order = malloc(nrows * sizeof(*order));
	struct db_param *sorted = malloc(nrows * ncols * sizeof(*sorted));
	if (!order || !sorted) {
		free(order);
		free(sorted);
		return NULL;
	}
	for (size_t i = 0; i < nrows; i++)
		order[i] = i;
	struct key_order k = {ncols, nkey, rows};
	qsort_r(order, nrows, sizeof(*order), compare_rows, &k);
	for (size_t i = 0; i < nrows; i++)
		memcpy(sorted + i * ncols, rows + order[i] * ncols, ncols * sizeof(*sorted));
	free(order);
	return sorted;
}

/* The primary key's columns: the first ones of every table's rows. */
static size_t key_columns(enum objects_import_table table)
{
	switch (table) {
	case IMPORT_DESCRIPTORS:
		return 3;
	case IMPORT_LIST_FACES:
	case IMPORT_TAGS:
	case IMPORT_MATCHES:
		return 2;
	default:
		return 1;
	}
}

int objects_local_import_rows(struct objects *o, enum objects_import_table table, const struct db_param *cells,
			      size_t nrows)
{
	const struct import_sql *q = import_sql(table);
	if (!q)
		return objects_local_fail(o, 1, "unknown import table %d", (int)table);
	size_t ncols = objects_import_columns(table);
	struct db_param *sorted = rows_in_key_order(ncols, key_columns(table), cells, nrows);
	if (!sorted)
		return objects_local_fail(o, 0, "out of memory");
	int rc = insert_rows(o, q, ncols, sorted, nrows, NULL);
	free(sorted);
	return rc;
}

int objects_local_import_clear_events(struct objects *o, struct arena *a, char *const *event_ids, size_t n)
{
	static const char *const tables[][2] = {{"event_tag", "event_id"}, {"event_match", "event_id"},
						{"sample", "owner_id"}};
	if (!n)
		return 0;
	struct db_param *p = arena_alloc(a, n * sizeof(*p));
	char *marks = arena_alloc(a, n * 2 + 1);
	char *m = marks;
	for (size_t i = 0; i < n; i++) {
		p[i] = DBP_STR(event_ids[i]);
		m += sprintf(m, i ? ",?" : "?");
	}
	for (size_t t = 0; t < 3; t++) {
		char *sql = arena_printf(a, "DELETE FROM %s WHERE %s IN (%s)", tables[t][0], tables[t][1], marks);
		if (db_exec(local_db(o), NULL, sql, p, n, NULL))
			return import_failed(o, "");
	}
	return 0;
}

/* Lists u[0..m) looked up in one statement; found[i] set for those that
 * exist (in the account of their faces, else the batch fails). */
static int find_lists(struct objects *o, struct arena *a, const struct objects_import_list *u, size_t m, char *found)
{
	struct db_param *p = arena_alloc(a, m * sizeof(*p));
	for (size_t i = 0; i < m; i++) {
		p[i] = DBP_STR(u[i].list_id);
		found[i] = 0;
	}
	char *sql = placeholder_rows("SELECT list_id, account_id FROM list WHERE list_id IN (", ")", m, 1);
	struct db_result r;
	int rc = sql ? db_exec(local_db(o), a, sql, p, m, &r) : -1;
	free(sql);
	if (rc)
		return sql ? import_failed(o, "list lookup: ") : objects_local_fail(o, 0, "list lookup: out of memory");
	for (size_t k = 0; k < r.nrows; k++)
		for (size_t i = 0; i < m; i++)
			if (strcmp(u[i].list_id, r.rows[k][0]) == 0) {
				if (strcmp(u[i].account_id, r.rows[k][1]) != 0)
					return objects_local_fail(o, 1, "list %s belongs to another account", u[i].list_id);
				found[i] = 1;
			}
	return 0;
}

int objects_local_import_lists(struct objects *o, struct arena *a, const struct objects_import_list *lists, size_t n,
			       size_t *created)
{
	static const struct import_sql insert_list = {
		"INSERT IGNORE INTO list (list_id, account_id, create_time) VALUES ", ""};
	char buf[32];
	time_format_db(time_now_us(), buf, sizeof(buf));
	const char *now = arena_strdup(a, buf);
	*created = 0;
	for (size_t off = 0; off < n; off += ROWS_PER_STATEMENT) {
		size_t m = n - off < ROWS_PER_STATEMENT ? n - off : ROWS_PER_STATEMENT, k = 0;
		const struct objects_import_list *u = lists + off;
		char *found = arena_alloc(a, m);
		if (find_lists(o, a, u, m, found))
			return -1;
		struct db_param *rows = arena_alloc(a, m * 3 * sizeof(*rows));
		for (size_t i = 0; i < m; i++)
			if (!found[i]) {
				rows[k * 3] = DBP_STR(u[i].list_id);
				rows[k * 3 + 1] = DBP_STR(u[i].account_id);
				rows[k * 3 + 2] = DBP_STR(now);
				k++;
			}
		/* a list another connection of the import created meanwhile is
		 * ignored, and not counted */
		unsigned long long added = 0;
		if (insert_rows(o, &insert_list, 3, rows, k, &added))
			return -1;
		*created += (size_t)added;
	}
	return 0;
}
