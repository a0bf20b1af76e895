/* The local objects backend: the luna_objects MariaDB database
 * (sql/objects/001_init.sql). Reads objects by the spec's filters (see
 * objects_local_filters.c), loads descriptors for matching, links faces to lists,
 * makes faces from events and removes descriptors and events for gc; the
 * table objects_local_ops at the end gathers these and the operations of the
 * other objects_local_*.c files (the interface is objects.h).
 * Workload: keyset-paginated id scans over millions of rows, bulk loads of
 * up to 20000 descriptors (streamed, never buffered twice), chunked writes of
 * about a thousand rows per transaction. Every value is a bound parameter. */
#include "backends/objects_local.h"
#include "backends/objects_where.h"
#include "common/db_explain.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "common/uuid.h"
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Table and id column of each kind (structure only, never user input). */
struct kind_table {
	const char *table, *id;
	enum objects_owner owner;
	const char *account_index;   /* over (account_id, id) */
};

static const struct kind_table *kind_table(enum objects_kind kind)
{
	static const struct kind_table faces = {"face", "face_id", OWNER_FACE, "face_account"};
	static const struct kind_table events = {"event", "event_id", OWNER_EVENT, "event_account"};
	static const struct kind_table attributes = {"attribute", "attribute_id", OWNER_ATTRIBUTE, "attribute_account"};
	switch (kind) {
	case OBJ_FACES:
		return &faces;
	case OBJ_EVENTS:
		return &events;
	case OBJ_ATTRIBUTES:
		return &attributes;
	}
	return NULL;
}

int objects_local_fail(struct objects *o, int input, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(o->err, sizeof(o->err), fmt, ap);
	va_end(ap);
	o->input_error = input;
	return -1;
}

static int db_failed(struct objects *o, const char *what)
{
	return objects_local_fail(o, 0, "objects database: %s: %s", what, db_error(local_db(o)));
}

static struct objects *local_open(const struct luna_config *cfg, char *err, size_t errlen)
{
	struct objects_local *l = calloc(1, sizeof(*l));
	if (!l || !(l->db = db_open(&cfg->objects_db))) {
		free(l);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->base.ops = &objects_local_ops;
	l->cfg = cfg;
	return &l->base;
}

static void local_close(struct objects *o)
{
	db_close(local_db(o));
	free(o);
}

static int local_check(struct objects *o, char *err, size_t errlen)
{
	if (db_ping(local_db(o)) == 0)
		return 0;
	snprintf(err, errlen, "%s", db_error(local_db(o)));
	return -1;
}

/* The check with db_explain's reading of a failed connection. */
static int local_diagnose(struct objects *o, char *err, size_t errlen)
{
	struct objects_local *l = (struct objects_local *)o;
	if (db_ping(l->db) == 0)
		return 0;
	db_explain(l->db, &l->cfg->objects_db, "[OBJECTS]", err, errlen);
	return -1;
}

/* Opens a transaction; *in_txn tells the caller's exit path to roll it back. */
static int txn_begin(struct objects *o, int *in_txn)
{
	if (db_begin(local_db(o)))
		return db_failed(o, "begin");
	*in_txn = 1;
	return 0;
}

/* Commits; the transaction is over whether or not that succeeds. */
static int txn_commit(struct objects *o, int *in_txn)
{
	*in_txn = 0;
	if (db_commit(local_db(o)))
		return db_failed(o, "commit");
	return 0;
}

/* The table of kind; NULL with the error set for an unknown kind. */
static const struct kind_table *known_table(struct objects *o, enum objects_kind kind)
{
	const struct kind_table *t = kind_table(kind);
	if (!t)
		objects_local_fail(o, 1, "unknown objects type");
	return t;
}

/* The table of kind and the WHERE clause of the filters (allocated in a);
 * NULL with the error set when either cannot be had. */
static const struct kind_table *table_where(struct objects *o, struct arena *a, enum objects_kind kind,
					    json_object *filters, const char *account_id, struct objects_where *w)
{
	char err[512];
	const struct kind_table *t = known_table(o, kind);
	if (t && objects_where_build(a, kind, filters, account_id, w, err, sizeof(err))) {
		objects_local_fail(o, 1, "%s", err);
		return NULL;
	}
	return t;
}

int objects_local_where(struct objects *o, struct arena *a, enum objects_kind kind, json_object *filters,
			const char *account_id, struct objects_local_table *t, struct objects_where *w)
{
	char err[512];
	const struct kind_table *k = known_table(o, kind);
	if (!k)
		return -1;
	if (objects_where_build_by_list(a, kind, filters, account_id, w, err, sizeof(err)))
		return objects_local_fail(o, 1, "%s", err);
	*t = (struct objects_local_table){k->table, k->id, account_id ? k->account_index : "PRIMARY"};
	/* A filter's equality narrows the range read to the matching rows
	 * (bench/tasks: half the account's faces, each without a lookup of its
	 * row, MariaDB 2.4 against 4-9 µs per descriptor read). */
	if (account_id && !w->by_list && w->equality_index)
		t->id_order_index = w->equality_index;
	return 0;
}

int objects_local_db_fail(struct objects *o, const char *what)
{
	return db_failed(o, what);
}

/* "?,?,…,?" with n marks, for IN lists. */
static char *in_marks(struct arena *a, size_t n)
{
	char *s = arena_alloc(a, n * 2 + 1);
	for (size_t i = 0; i < n; i++)
		strcat(s, i ? ",?" : "?");
	return s;
}

/* Parameters of the WHERE clause followed by extra ones. */
static struct db_param *params_with(struct arena *a, const struct objects_where *w, const struct db_param *extra,
				    size_t nextra, size_t *np)
{
	struct db_param *p = arena_alloc(a, (w->nparams + nextra + 1) * sizeof(*p));
	if (w->nparams)
		memcpy(p, w->params, w->nparams * sizeof(*p));
	if (nextra)
		memcpy(p + w->nparams, extra, nextra * sizeof(*p));
	*np = w->nparams + nextra;
	return p;
}

static int local_count(struct objects *o, enum objects_kind kind, json_object *filters, const char *account_id,
		       long long *count)
{
	struct arena *a = arena_new();
	struct objects_where w;
	struct db_result r;
	int rc = -1;
	const struct kind_table *t = table_where(o, a, kind, filters, account_id, &w);
	if (!t)
		goto out;
	char *sql = arena_printf(a, "SELECT COUNT(*) FROM %s o WHERE %s", t->table, w.sql);
	if (db_exec(local_db(o), a, sql, w.params, w.nparams, &r) || r.nrows != 1) {
		db_failed(o, "count");
		goto out;
	}
	*count = atoll(r.rows[0][0]);
	rc = 0;
out:
	arena_free(a);
	return rc;
}

/* ---- Paging ids ------------------------------------------------------- */

/* A growing array of strings in an arena. */
struct id_list {
	struct arena *a;
	char **ids;
	size_t n, cap;
};

static void id_list_push(struct id_list *l, const char *s, size_t len)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		char **ids = arena_alloc(l->a, cap * sizeof(*ids));
		if (l->n)
			memcpy(ids, l->ids, l->n * sizeof(*ids));
		l->ids = ids;
		l->cap = cap;
	}
	l->ids[l->n++] = arena_strndup(l->a, s, len);
}

static int collect_first_cell(void *ud, size_t ncols, char **cells, unsigned long *lens)
{
	struct id_list *l = ud;
	if (ncols && cells[0])
		id_list_push(l, cells[0], lens[0]);
	return 0;
}

static int local_page_ids(struct objects *o, struct arena *a, enum objects_kind kind, json_object *filters,
			  const char *account_id, const char *after, const char *upto, size_t limit, char ***ids,
			  size_t *n)
{
	struct arena *tmp = arena_new();
	struct objects_local_table t;
	struct objects_where w;
	int rc = -1;
	if (objects_local_where(o, tmp, kind, filters, account_id, &t, &w))
		goto out;
	/* In id order through (account_id, id), or through a list's own rows
	 * (objects_where_from): left alone, the optimizer may start from a
	 * filter's table (list_face) and sort every remaining id for each
	 * page, which makes paging through millions quadratic. */
	const char *key, *from = objects_where_from(tmp, &w, t.table, t.id, t.id_order_index, &key);
	struct db_param extra[3];
	size_t ne = 0;
	char *bounds = "";
	if (after) {
		bounds = arena_printf(tmp, " AND %s > ?", key);
		extra[ne++] = DBP_STR(after);
	}
	if (upto) {
		bounds = arena_printf(tmp, "%s AND %s <= ?", bounds, key);
		extra[ne++] = DBP_STR(upto);
	}
	const char *lim = "";
	if (limit) {
		lim = " LIMIT ?";
		extra[ne++] = DBP_I64(limit);
	}
	size_t np;
	struct db_param *p = params_with(tmp, &w, extra, ne, &np);
	char *sql = arena_printf(tmp, "SELECT STRAIGHT_JOIN o.%s FROM %s WHERE (%s)%s ORDER BY %s%s", t.id, from, w.sql,
				 bounds, key, lim);
	struct id_list l = {.a = a};
	if (db_stream(local_db(o), sql, p, np, collect_first_cell, &l)) {
		db_failed(o, "ids");
		goto out;
	}
	*ids = l.ids;
	*n = l.n;
	rc = 0;
out:
	arena_free(tmp);
	return rc;
}

/* Every step-th id: one statement per id, the step-th after the previous
 * one (LIMIT 1 OFFSET step - 1), so the server walks the id index once but
 * sends one id per step. In id order through (account_id, id), or a list's
 * own rows, as in page_ids; a filter's EXISTS stays a per-row lookup
 * (OBJECTS_ROW_EXISTS, as in the block cursor): materialized, the whole
 * list would be read for every step. */
/* The list_id of faces filters that hold nothing but a list (and the
 * account, or keys without a value); NULL for any other filters. */
static const char *only_a_list(enum objects_kind kind, json_object *filters, const char *account_id)
{
	const char *list_id = NULL;
	if (kind != OBJ_FACES || !account_id || !filters || !json_object_is_type(filters, json_type_object))
		return NULL;
	json_object_object_foreach(filters, key, val) {
		if (!val || strcmp(key, "objects_type") == 0)
			continue;
		if (strcmp(key, "list_id") == 0 && json_object_is_type(val, json_type_string))
			list_id = json_object_get_string(val);
		else if (strcmp(key, "account_id") != 0 || !json_object_is_type(val, json_type_string) ||
			 strcmp(json_object_get_string(val), account_id) != 0)
			return NULL;
	}
	return list_id;
}

/* step_ids' walk when the filters hold nothing but a list: the list's own
 * rows, the list checked once to be the account's, instead of a lookup of
 * each face for its account (MariaDB 0.2 against 1.8-6.8 µs per row; cross
 * match walks every candidate so before its subtasks start). The steps are
 * the same as the filtered walk's while every face of a list is a face of
 * the list's account, as list_link and the import keep them; a face
 * re-imported into another account still counts in its old lists' steps
 * (its range then holds one object less, the reads filter it out). */
static void list_rows_walk(struct arena *a, const char *list_id, const char *account_id, struct objects_where *w,
			   const char **from, const char **key)
{
	w->sql = "l.list_id = ? AND l.account_id = ?";
	w->params = arena_alloc(a, 2 * sizeof(*w->params));
	w->params[0] = DBP_STR(list_id);
	w->params[1] = DBP_STR(account_id);
	w->nparams = 2;
	*from = "list l STRAIGHT_JOIN list_face lf FORCE INDEX (PRIMARY) ON lf.list_id = l.list_id";
	*key = "lf.face_id";
}

/* The count and the last id of one row (COUNT(*), MAX(id)) into a tail. */
static int tail_row(void *ud, size_t ncols, char **cells, unsigned long *lens)
{
	struct objects_steps_tail *tail = ud;
	if (ncols < 2 || !cells[0])
		return 0;
	tail->n = (size_t)strtoull(cells[0], NULL, 10);
	if (cells[1] && lens[1] < OBJECTS_ID_SIZE) {
		memcpy(tail->last, cells[1], lens[1]);
		tail->last[lens[1]] = 0;
	}
	return 0;
}

/* step_ids' tail: the objects after the last step, counted and their
 * largest id taken in one walk that sends one row. from, key, w and p
 * are the walk's own, p[w->nparams] its "after" parameter (the last step). */
static int steps_tail(struct objects *o, struct arena *tmp, const char *from, const char *key,
		      const struct objects_where *w, struct db_param *p, size_t np, struct objects_steps_tail *tail)
{
	const char *sql = arena_printf(tmp,
				       OBJECTS_ROW_EXISTS "SELECT STRAIGHT_JOIN COUNT(*), MAX(%s) FROM %s WHERE (%s) AND %s > ?",
				       key, from, w->sql, key);
	*tail = (struct objects_steps_tail){0};
	if (db_stream(local_db(o), sql, p, np - 1, tail_row, tail)) /* the OFFSET is not the tail's */
		return db_failed(o, "ids");
	return 0;
}

static int local_step_ids(struct objects *o, struct arena *a, enum objects_kind kind, json_object *filters,
			  const char *account_id, size_t step, size_t max, char ***ids, size_t *n,
			  struct objects_steps_tail *tail)
{
	struct arena *tmp = arena_new();
	struct objects_local_table t;
	struct objects_where w;
	struct id_list l = {.a = a};
	int rc = -1;
	*n = 0;
	if (objects_local_where(o, tmp, kind, filters, account_id, &t, &w))
		goto out;
	if (step == 0) {
		objects_local_fail(o, 1, "a step of 0 ids");
		goto out;
	}
	const char *key, *from, *list_id = only_a_list(kind, filters, account_id);
	if (list_id)
		list_rows_walk(tmp, list_id, account_id, &w, &from, &key);
	else
		from = objects_where_from(tmp, &w, t.table, t.id, t.id_order_index, &key);
	const char *sql = arena_printf(tmp,
				       OBJECTS_ROW_EXISTS "SELECT STRAIGHT_JOIN %s FROM %s WHERE (%s) AND %s > ? "
				       "ORDER BY %s LIMIT 1 OFFSET ?",
				       key, from, w.sql, key, key);
	struct db_param extra[2] = {DBP_STR(""), DBP_I64((long long)step - 1)}; /* every id is > "" */
	size_t np;
	struct db_param *p = params_with(tmp, &w, extra, 2, &np);
	while (l.n < max) {
		size_t before = l.n;
		if (l.n)
			p[w.nparams] = DBP_STR(l.ids[l.n - 1]);
		if (db_stream(local_db(o), sql, p, np, collect_first_cell, &l)) {
			db_failed(o, "ids");
			goto out;
		}
		if (l.n == before)
			break;
	}
	if (tail && l.n < max && steps_tail(o, tmp, from, key, &w, p, np, tail))
		goto out;
	*ids = l.ids;
	*n = l.n;
	rc = 0;
out:
	arena_free(tmp);
	return rc;
}

/* ---- Descriptors for matching ----------------------------------------- */

int objects_local_vector_size(struct objects *o, const char *id, size_t idlen, size_t bytes, size_t *d)
{
	if (bytes == 0 || bytes % sizeof(float))
		return objects_local_fail(o, 0, "descriptor of object %.*s has a bad length (%zu bytes)", (int)idlen, id,
					  bytes);
	if (!*d)
		*d = bytes / sizeof(float);
	if (bytes != *d * sizeof(float))
		return objects_local_fail(o, 1, "descriptors of different lengths (%zu and %zu floats) in one set", *d,
					  bytes / sizeof(float));
	return 0;
}

/* Rows of objects_load_vectors_by_ids: each goes where the caller's slot says. */
struct slot_sink {
	struct objects *o;
	objects_vector_slot_cb slot;
	void *ud;
	pthread_mutex_t *lock;         /* held around slot when two handles read; else NULL */
	size_t d;                      /* 0 until the first row */
	int bad;
};

static int slot_row(void *ud, size_t ncols, char **cells, unsigned long *lens)
{
	struct slot_sink *s = ud;
	float *row = NULL;
	if (ncols < 2 || !cells[0] || !cells[1] || lens[0] >= OBJECTS_ID_SIZE)
		return 0;
	if (objects_local_vector_size(s->o, cells[0], lens[0], lens[1], &s->d)) {
		s->bad = -1;
		return 1;
	}
	char id[OBJECTS_ID_SIZE];
	memcpy(id, cells[0], lens[0]);
	id[lens[0]] = 0;
	if (s->lock)
		pthread_mutex_lock(s->lock);
	int stop = s->slot(s->ud, id, s->d, &row);
	if (s->lock)
		pthread_mutex_unlock(s->lock);
	if (stop) {
		s->bad = objects_local_fail(s->o, 0, "loading descriptors stopped at object %s", id);
		return 1;
	}
	if (row) { /* rows of different ids: the copies need no lock */
		memcpy(row, cells[1], s->d * sizeof(float));
		objects_l2_normalize(row, s->d);
	}
	return 0;
}

/* One handle's share of a load by ids: chunks of BY_IDS_CHUNK ids, one
 * statement each, on the handle of the sink. */
#define BY_IDS_CHUNK 1000

struct by_ids_read {
	struct slot_sink s;
	const struct kind_table *t;
	const char *account_id;
	char *const *ids;
	size_t nids;
	enum descriptor_type type;
	int version;
	int rc;
};

static int read_by_ids(struct by_ids_read *r)
{
	struct arena *tmp = arena_new();
	struct db_param *p = arena_alloc(tmp, (BY_IDS_CHUNK + 3) * sizeof(*p));
	const char *sql = NULL;
	size_t sql_ids = 0;
	int rc = 0;
	for (size_t off = 0; off < r->nids && rc == 0; off += BY_IDS_CHUNK) {
		size_t m = r->nids - off < BY_IDS_CHUNK ? r->nids - off : BY_IDS_CHUNK, np = 0;
		if (m != sql_ids) { /* every full chunk shares one statement */
			sql = arena_printf(tmp,
					   "SELECT o.%s, d.vector FROM %s o JOIN descriptor d ON d.owner_id = o.%s "
					   "WHERE o.%s IN (%s) AND d.descriptor_type = ? AND d.descriptor_version = ?%s",
					   r->t->id, r->t->table, r->t->id, r->t->id, in_marks(tmp, m),
					   r->account_id ? " AND o.account_id = ?" : "");
			sql_ids = m;
		}
		for (size_t i = 0; i < m; i++)
			p[np++] = DBP_STR(r->ids[off + i]);
		p[np++] = DBP_I64(r->type);
		p[np++] = DBP_I64(r->version);
		if (r->account_id)
			p[np++] = DBP_STR(r->account_id);
		if (db_stream(local_db(r->s.o), sql, p, np, slot_row, &r->s))
			rc = db_failed(r->s.o, "descriptors by id");
		else if (r->s.bad)
			rc = -1;
	}
	arena_free(tmp);
	return r->rc = rc;
}

static void *read_by_ids_main(void *arg)
{
	read_by_ids(arg);
	return NULL;
}

/* With more than one chunk, the second half of the ids is read at the same
 * time on a handle of its own (a second connection, so a second server
 * thread): the server's work per row is most of a load's time. Without
 * that handle or thread, the caller's handle reads everything. */
static int local_load_vectors_by_ids(struct objects *o, enum objects_kind kind, const char *account_id,
				     char *const *ids, size_t nids, enum descriptor_type type, int version,
				     objects_vector_slot_cb slot, void *ud)
{
	const struct kind_table *t = known_table(o, kind);
	if (!t)
		return -1;
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct by_ids_read own = {{o, slot, ud, NULL, 0, 0}, t, account_id, ids, nids, type, version, 0}, half = own;
	size_t chunks = (nids + BY_IDS_CHUNK - 1) / BY_IDS_CHUNK;
	struct objects *second = NULL;
	pthread_t thread;
	char err[256];
	if (chunks > 1 && (second = objects_local_ops.open(((struct objects_local *)o)->cfg, err, sizeof(err)))) {
		own.nids = chunks / 2 * BY_IDS_CHUNK;
		half.ids = ids + own.nids;
		half.nids = nids - own.nids;
		half.s.o = second;
		own.s.lock = half.s.lock = &lock;
		if (pthread_create(&thread, NULL, read_by_ids_main, &half)) {
			objects_local_ops.close(second);
			second = NULL;
			own.nids = nids;
			own.s.lock = NULL;
		}
	}
	int rc = read_by_ids(&own);
	if (second) {
		pthread_join(thread, NULL);
		if (rc == 0 && half.rc)
			rc = objects_local_fail(o, second->input_error, "%s", second->err);
		objects_local_ops.close(second);
	}
	return rc;
}

/* ---- Lists and linking ------------------------------------------------ */

static int local_list_exists(struct objects *o, const char *account_id, const char *list_id, int *exists)
{
	struct arena *a = arena_new();
	struct db_result r;
	int rc = 0;
	if (DB_EXEC(local_db(o), a, &r,
		    "SELECT 1 FROM list WHERE list_id = ? AND account_id = ?", DBP_STR(list_id), DBP_STR(account_id)))
		rc = db_failed(o, "list lookup");
	else
		*exists = r.nrows > 0;
	arena_free(a);
	return rc;
}

/* The current UTC time as DB text, in buf (which it returns). */
static const char *now_db(char buf[32])
{
	time_format_db(time_now_us(), buf, 32);
	return buf;
}

static int local_list_create(struct objects *o, const char *account_id, const char *list_id, const char *user_data,
			     int *created)
{
	char buf[32];
	const char *now = now_db(buf);
	struct db_result r = {0};
	if (DB_EXEC(local_db(o), NULL, &r,
		    "INSERT IGNORE INTO list (list_id, account_id, user_data, create_time) VALUES (?, ?, ?, ?)",
		    DBP_STR(list_id), DBP_STR(account_id), DBP_STR(user_data ? user_data : ""), DBP_STR(now)))
		return db_failed(o, "list create");
	*created = r.affected > 0;
	return 0;
}

/* INSERT IGNORE … SELECT of the given faces that are, like the list, in the
 * account; 500 ids a statement. */
static int local_list_link(struct objects *o, const char *account_id, const char *list_id, char *const *face_ids,
			   size_t n)
{
	const size_t rows = 500;
	char buf[32];
	const char *now = now_db(buf);
	int rc = 0;
	for (size_t off = 0; off < n && rc == 0; off += rows) {
		struct arena *a = arena_new();
		size_t m = n - off < rows ? n - off : rows, np = 0;
		struct db_param *p = arena_alloc(a, (m + 3) * sizeof(*p));
		p[np++] = DBP_STR(now);
		p[np++] = DBP_STR(list_id);
		p[np++] = DBP_STR(account_id);
		for (size_t i = 0; i < m; i++)
			p[np++] = DBP_STR(face_ids[off + i]);
		char *sql = arena_printf(a,
					 "INSERT IGNORE INTO list_face (list_id, face_id, link_time) "
					 "SELECT l.list_id, f.face_id, ? FROM list l JOIN face f ON f.account_id = l.account_id "
					 "WHERE l.list_id = ? AND l.account_id = ? AND f.face_id IN (%s)",
					 in_marks(a, m));
		if (db_exec(local_db(o), NULL, sql, p, np, NULL))
			rc = db_failed(o, "link faces");
		arena_free(a);
	}
	return rc;
}

/* One event's fields a face is made from. */
struct event_face_source {
	char *event_id, *account_id, *external_id, *user_data;
	char *age, *gender, *ethnicity;   /* NULL when unknown */
	char *face_id;                    /* face already made from it */
};

static int make_face_from_event(struct objects *o, struct event_face_source *e, const char *now, char *face_id)
{
	char attribute_buf[37];
	const char *attribute_id = attribute_buf;
	uuid4(face_id);
	int has_attributes = e->age || e->gender || e->ethnicity;
	if (has_attributes)
		uuid4(attribute_buf);
	if (DB_EXEC(local_db(o), NULL, NULL,
		    "INSERT INTO face (face_id, account_id, event_id, attribute_id, user_data, external_id, avatar, "
		    "create_time) VALUES (?, ?, ?, ?, ?, ?, '', ?)",
		    DBP_STR(face_id), DBP_STR(e->account_id), DBP_STR(e->event_id),
		    has_attributes ? DBP_STR(attribute_id) : DBP_NULL, DBP_STR(e->user_data ? e->user_data : ""),
		    DBP_STR(e->external_id ? e->external_id : ""), DBP_STR(now)))
		return db_failed(o, "face from event");
	if (has_attributes) {
		if (DB_EXEC(local_db(o), NULL, NULL,
			    "INSERT INTO attribute (attribute_id, account_id, face_id, create_time, age, gender, ethnicity) "
			    "VALUES (?, ?, ?, ?, ?, ?, ?)",
			    DBP_STR(attribute_id), DBP_STR(e->account_id), DBP_STR(face_id), DBP_STR(now),
			    e->age ? DBP_I64(atoll(e->age)) : DBP_NULL,
			    e->gender ? DBP_I64(atoll(e->gender)) : DBP_NULL,
			    e->ethnicity ? DBP_I64(atoll(e->ethnicity)) : DBP_NULL))
			return db_failed(o, "attributes from event");
	}
	if (DB_EXEC(local_db(o), NULL, NULL,
		    "INSERT INTO descriptor (owner_id, descriptor_type, descriptor_version, owner_kind, account_id, vector) "
		    "SELECT ?, descriptor_type, descriptor_version, ?, account_id, vector FROM descriptor "
		    "WHERE owner_id = ? AND descriptor_type = ?",
		    DBP_STR(face_id), DBP_I64(OWNER_FACE), DBP_STR(e->event_id), DBP_I64(DESCRIPTOR_FACE)))
		return db_failed(o, "descriptors from event");
	return 0;
}

static int local_faces_from_events(struct objects *o, struct arena *a, const char *account_id, char *const *event_ids,
				   size_t n, char ***face_ids)
{
	struct arena *tmp = arena_new();
	char **out = arena_alloc(a, (n ? n : 1) * sizeof(char *));
	int rc = -1, in_txn = 0;
	char buf[32];
	const char *now = now_db(buf);
	if (txn_begin(o, &in_txn))
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct db_result r;
		if (DB_EXEC(local_db(o), tmp, &r,
			    "SELECT e.event_id, e.account_id, e.external_id, e.user_data, e.age, e.gender, e.ethnic_group, "
			    "(SELECT f.face_id FROM face f WHERE f.event_id = e.event_id AND f.account_id = e.account_id "
			    "ORDER BY f.create_time LIMIT 1) FROM event e WHERE e.event_id = ? AND e.account_id = ? "
			    "FOR UPDATE", DBP_STR(event_ids[i]), DBP_STR(account_id))) {
			db_failed(o, "event lookup");
			goto out;
		}
		if (r.nrows == 0)
			continue;
		char **c = r.rows[0];
		struct event_face_source e = {c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]};
		if (e.face_id) {
			out[i] = arena_strdup(a, e.face_id);
			continue;
		}
		char fid[37];
		if (make_face_from_event(o, &e, now, fid))
			goto out;
		out[i] = arena_strdup(a, fid);
	}
	if (txn_commit(o, &in_txn))
		goto out;
	*face_ids = out;
	rc = 0;
out:
	if (in_txn)
		db_rollback(local_db(o));
	arena_free(tmp);
	return rc;
}

/* ---- Removal ----------------------------------------------------------- */

static int local_page_descriptor_owners(struct objects *o, struct arena *a, enum objects_owner owner,
					const char *account_id, enum descriptor_type type, int version,
					const char *after, size_t limit, char ***ids, size_t *n)
{
	struct arena *tmp = arena_new();
	struct db_param p[6];
	size_t np = 0;
	p[np++] = DBP_STR(account_id);
	p[np++] = DBP_I64(owner);
	p[np++] = DBP_I64(version);
	if (type)
		p[np++] = DBP_I64(type);
	if (after)
		p[np++] = DBP_STR(after);
	if (limit)
		p[np++] = DBP_I64(limit);
	char *sql = arena_printf(tmp,
				 "SELECT DISTINCT owner_id FROM descriptor WHERE account_id = ? AND owner_kind = ? AND "
				 "descriptor_version = ?%s%s ORDER BY owner_id%s",
				 type ? " AND descriptor_type = ?" : "", after ? " AND owner_id > ?" : "",
				 limit ? " LIMIT ?" : "");
	struct id_list l = {.a = a};
	int rc = 0;
	if (db_stream(local_db(o), sql, p, np, collect_first_cell, &l))
		rc = db_failed(o, "descriptor owners");
	*ids = l.ids;
	*n = l.n;
	arena_free(tmp);
	return rc;
}

static int local_delete_descriptors(struct objects *o, struct arena *a, enum objects_owner owner,
				    const char *account_id, enum descriptor_type type, int version,
				    char *const *owner_ids, size_t n, char ***removed, size_t *nremoved)
{
	struct arena *tmp = arena_new();
	struct id_list l = {.a = a};
	int rc = -1, in_txn = 0;
	*removed = NULL;
	*nremoved = 0;
	if (n == 0) {
		rc = 0;
		goto out;
	}
	struct db_param *p = arena_alloc(tmp, (n + 4) * sizeof(*p));
	size_t np = 0;
	for (size_t i = 0; i < n; i++)
		p[np++] = DBP_STR(owner_ids[i]);
	p[np++] = DBP_STR(account_id);
	p[np++] = DBP_I64(owner);
	p[np++] = DBP_I64(version);
	if (type)
		p[np++] = DBP_I64(type);
	const char *marks = in_marks(tmp, n);
	const char *type_clause = type ? " AND d.descriptor_type = ?" : "";
	/* Attributes report their face (or themselves without one). */
	char *select = arena_printf(tmp,
				    "SELECT DISTINCT %s FROM descriptor d%s WHERE d.owner_id IN (%s) AND d.account_id = ? "
				    "AND d.owner_kind = ? AND d.descriptor_version = ?%s ORDER BY 1 FOR UPDATE",
				    owner == OWNER_ATTRIBUTE ? "COALESCE(at.face_id, d.owner_id)" : "d.owner_id",
				    owner == OWNER_ATTRIBUTE ? " LEFT JOIN attribute at ON at.attribute_id = d.owner_id"
							     : "",
				    marks, type_clause);
	char *del = arena_printf(tmp,
				 "DELETE d FROM descriptor d WHERE d.owner_id IN (%s) AND d.account_id = ? AND "
				 "d.owner_kind = ? AND d.descriptor_version = ?%s",
				 marks, type_clause);
	if (txn_begin(o, &in_txn))
		goto out;
	if (db_stream(local_db(o), select, p, np, collect_first_cell, &l) || db_exec(local_db(o), NULL, del, p, np, NULL)) {
		db_failed(o, "delete descriptors");
		goto out;
	}
	if (txn_commit(o, &in_txn))
		goto out;
	*removed = l.ids;
	*nremoved = l.n;
	rc = 0;
out:
	if (in_txn)
		db_rollback(local_db(o));
	arena_free(tmp);
	return rc;
}

static int collect_origin(void *ud, size_t ncols, char **cells, unsigned long *lens)
{
	struct id_list *l = ud;
	if (ncols && cells[0] && lens[0])
		id_list_push(l, cells[0], lens[0]);
	return 0;
}

static int remove_one_event(struct objects *o, struct arena *a, const char *account_id, const char *event_id,
			    struct objects_removed_event *ev, int *found)
{
	struct db_result r;
	*found = 0;
	if (DB_EXEC(local_db(o), a, &r,
		    "SELECT 1 FROM event WHERE event_id = ? AND account_id = ? FOR UPDATE",
		    DBP_STR(event_id), DBP_STR(account_id)))
		return db_failed(o, "event lookup");
	if (r.nrows == 0)
		return 0;
	*found = 1;
	struct db_param p[] = {DBP_STR(event_id)};
	struct id_list samples = {.a = a}, origins = {.a = a};
	if (db_stream(local_db(o), "SELECT sample_id FROM sample WHERE owner_id = ? ORDER BY sample_id", p, 1,
		      collect_first_cell, &samples) ||
	    db_stream(local_db(o),
		      "SELECT DISTINCT image_origin FROM sample WHERE owner_id = ? AND image_origin IS NOT NULL "
		      "ORDER BY image_origin",
		      p, 1, collect_origin, &origins))
		return db_failed(o, "event samples");
	static const char *const deletes[] = {
		"DELETE FROM descriptor WHERE owner_id = ?", "DELETE FROM sample WHERE owner_id = ?",
		"DELETE FROM event_tag WHERE event_id = ?",  "DELETE FROM event_match WHERE event_id = ?",
		"DELETE FROM event WHERE event_id = ?",
	};
	for (size_t i = 0; i < sizeof(deletes) / sizeof(deletes[0]); i++)
		if (DB_EXEC(local_db(o), NULL, NULL, deletes[i], DBP_STR(event_id)))
			return db_failed(o, "delete event");
	ev->event_id = arena_strdup(a, event_id);
	ev->sample_ids = samples.ids;
	ev->nsamples = samples.n;
	ev->image_origins = origins.ids;
	ev->norigins = origins.n;
	return 0;
}

static int local_delete_events(struct objects *o, struct arena *a, const char *account_id, char *const *event_ids,
			       size_t n, struct objects_removed_event **removed, size_t *nremoved)
{
	struct objects_removed_event *out = arena_alloc(a, (n ? n : 1) * sizeof(*out));
	size_t k = 0;
	int rc = -1, in_txn = 0;
	if (txn_begin(o, &in_txn))
		goto out;
	for (size_t i = 0; i < n; i++) {
		int found;
		if (remove_one_event(o, a, account_id, event_ids[i], &out[k], &found))
			goto out;
		k += found;
	}
	if (txn_commit(o, &in_txn))
		goto out;
	*removed = out;
	*nremoved = k;
	rc = 0;
out:
	if (in_txn)
		db_rollback(local_db(o));
	return rc;
}

static int local_blob_in_use(struct objects *o, const char *blob_id, const char *origin, int *in_use)
{
	struct arena *a = arena_new();
	struct db_result r;
	int rc = 0;
	if (DB_EXEC(local_db(o), a, &r,
		    "SELECT 1 FROM sample WHERE sample_id = ? UNION ALL "
		    "(SELECT 1 FROM sample WHERE image_origin = ? LIMIT 1) LIMIT 1", DBP_STR(blob_id), DBP_STR(origin)))
		rc = db_failed(o, "sample lookup");
	else
		*in_use = r.nrows > 0;
	arena_free(a);
	return rc;
}

static int local_put_descriptor(struct objects *o, enum objects_owner owner, const char *owner_id,
				const char *account_id, enum descriptor_type type, int version, const float *v,
				size_t d)
{
	float *copy = malloc(d * sizeof(float));
	if (!copy)
		return objects_local_fail(o, 0, "out of memory");
	memcpy(copy, v, d * sizeof(float));
	objects_l2_normalize(copy, d);
	int rc = 0;
	if (DB_EXEC(local_db(o), NULL, NULL,
		    "REPLACE INTO descriptor (owner_id, descriptor_type, descriptor_version, owner_kind, account_id, "
		    "vector) VALUES (?, ?, ?, ?, ?, ?)",
		    DBP_STR(owner_id), DBP_I64(type), DBP_I64(version), DBP_I64(owner), DBP_STR(account_id),
		    DBP_BLOB(copy, d * sizeof(float))))
		rc = db_failed(o, "put descriptor");
	free(copy);
	return rc;
}

const struct objects_ops objects_local_ops = {
	.name = "local",
	.open = local_open,
	.close = local_close,
	.check = local_check,
	.diagnose = local_diagnose,
	.validate_filters = objects_local_validate_filters,
	.count = local_count,
	.page_ids = local_page_ids,
	.step_ids = local_step_ids,
	.load_vectors_by_ids = local_load_vectors_by_ids,
	.cursor_open = objects_local_cursor_open,
	.cursor_next = objects_local_cursor_next,
	.cursor_close = objects_local_cursor_close,
	.list_exists = local_list_exists,
	.list_create = local_list_create,
	.list_link = local_list_link,
	.faces_from_events = local_faces_from_events,
	.page_descriptor_owners = local_page_descriptor_owners,
	.delete_descriptors = local_delete_descriptors,
	.delete_events = local_delete_events,
	.blob_in_use = local_blob_in_use,
	.put_descriptor = local_put_descriptor,
	.export_stream = objects_local_export_stream,
	.export_by_ids = objects_local_export_by_ids,
	.export_bounds = objects_local_export_bounds,
	.extract_page_missing = objects_local_extract_page_missing,
	.extract_samples = objects_local_extract_samples,
	.extract_account = objects_local_extract_account,
	.extract_put_attributes = objects_local_extract_put_attributes,
	.import_begin = objects_local_import_begin,
	.import_lists = objects_local_import_lists,
	.import_clear_events = objects_local_import_clear_events,
	.import_rows = objects_local_import_rows,
	.import_commit = objects_local_import_commit,
	.import_rollback = objects_local_import_rollback,
};
