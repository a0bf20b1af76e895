/* The descriptor block cursor of the local objects backend (objects.h):
 * keyset paging over the object table, one statement per block:
 *   SELECT id, vector FROM <table> o JOIN descriptor d ... WHERE (filters)
 *   AND <descriptor type, version> AND o.id > <last id> [AND o.id <= upto]
 *   ORDER BY o.id LIMIT block_rows
 * The object table is read in id order through its (account_id, id) index
 * and each descriptor is a primary-key lookup in the same order, so the
 * server neither sorts nor buffers. The join order and the index are forced:
 * left alone, the optimizer may start from a filter's table (list_face) and
 * sort every remaining row, blobs and all, for each block. Rows are written straight into the
 * block's slots: nothing grows or moves while rows stream in.
 * Workload: millions of 512-d descriptors in blocks of thousands. */
#include "backends/objects_local.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct local_cursor {
	struct objects_cursor base; /* base.o: the handle */
	struct arena *a;            /* the statement and its parameters */
	json_object *filters;       /* referenced: the parameters point into it */
	char *sql;
	struct db_param *params;
	size_t np, last_param;      /* params[last_param] is the keyset bound */
	size_t rows;                /* block_rows */
	int with_track, done, bad;
	char last[OBJECTS_ID_SIZE]; /* id of the last row returned */
	void *buf;                  /* every block's storage */
	char *track_slots;          /* rows slots for track ids (with_track) */
	struct objects_block block;
};

/* Keyset bound, upto and the limit follow the filters' own parameters. */
static int cursor_statement(struct local_cursor *c, enum objects_kind kind, const char *account_id,
			    enum descriptor_type type, int version, const char *upto)
{
	struct objects_local_table t;
	struct objects_where w;
	if (objects_local_where(c->base.o, c->a, kind, c->filters, account_id, &t, &w))
		return -1;
	const char *id = t.id;
	c->params = arena_alloc(c->a, (w.nparams + 5) * sizeof(*c->params));
	if (w.nparams)
		memcpy(c->params, w.params, w.nparams * sizeof(*c->params));
	c->np = w.nparams;
	c->params[c->np++] = DBP_I64(type);
	c->params[c->np++] = DBP_I64(version);
	c->last_param = c->np;
	c->params[c->np++] = DBP_STR(c->last);
	if (upto)
		c->params[c->np++] = DBP_STR(arena_strdup(c->a, upto));
	c->params[c->np++] = DBP_I64(c->rows);
	c->sql = arena_printf(c->a,
			      "SELECT STRAIGHT_JOIN o.%s, d.vector%s FROM %s o FORCE INDEX (%s) JOIN descriptor d ON "
			      "d.owner_id = o.%s WHERE (%s) AND d.descriptor_type = ? AND d.descriptor_version = ? AND "
			      "o.%s > ?%s ORDER BY o.%s LIMIT ?",
			      id, c->with_track ? ", o.track_id" : "", t.table, t.id_order_index, id, w.sql, id,
			      upto ? arena_printf(c->a, " AND o.%s <= ?", id) : "", id);
	return 0;
}

int objects_local_cursor_open(struct objects *o, enum objects_kind kind, json_object *filters, const char *account_id,
			      enum descriptor_type type, int version, int with_track_ids, size_t block_rows,
			      const char *after, const char *upto, struct objects_cursor **out)
{
	*out = NULL;
	if (block_rows < 1 || block_rows > OBJECTS_BLOCK_MAX_ROWS)
		return objects_local_fail(o, 1, "a block holds 1 to %u rows, not %zu", OBJECTS_BLOCK_MAX_ROWS,
					  block_rows);
	if (after && strlen(after) >= OBJECTS_ID_SIZE)
		return objects_local_fail(o, 1, "id '%s' is too long", after);
	struct local_cursor *c = calloc(1, sizeof(*c));
	if (!c || !(c->a = arena_new())) {
		free(c);
		return objects_local_fail(o, 0, "out of memory");
	}
	c->base.o = o;
	c->rows = block_rows;
	c->with_track = with_track_ids && kind == OBJ_EVENTS;
	c->filters = json_object_get(filters);
	snprintf(c->last, sizeof(c->last), "%s", after ? after : ""); /* every id is > "" */
	if (cursor_statement(c, kind, account_id, type, version, upto)) {
		objects_local_cursor_close(&c->base);
		return -1;
	}
	*out = &c->base;
	return 0;
}

/* The block's storage for rows of d floats, in one allocation: the pointer
 * arrays, the rows, then the id slots (each part aligned for its type). */
static int block_alloc(struct local_cursor *c, size_t d)
{
	size_t rows = c->rows, tracks = c->with_track ? rows : 0;
	size_t ptr_bytes = (rows + tracks) * sizeof(char *);
	size_t x_bytes = rows * d * sizeof(float);
	size_t slot_bytes = (rows + tracks) * OBJECTS_ID_SIZE;
	char *p = malloc(ptr_bytes + x_bytes + slot_bytes);
	if (!p)
		return objects_local_fail(c->base.o, 0, "out of memory for a block of %zu descriptors", rows);
	c->buf = p;
	c->block.d = d;
	c->block.ids = (char **)p;
	c->block.track_ids = tracks ? c->block.ids + rows : NULL;
	c->block.x = (float *)(p + ptr_bytes);
	char *slots = p + ptr_bytes + x_bytes;
	for (size_t i = 0; i < rows; i++)
		c->block.ids[i] = slots + i * OBJECTS_ID_SIZE;
	c->track_slots = slots + rows * OBJECTS_ID_SIZE;
	return 0;
}

/* Copies text of len bytes into an id slot; -1 when it does not fit. */
static int slot_copy(char *slot, const char *s, size_t len)
{
	if (len >= OBJECTS_ID_SIZE)
		return -1;
	memcpy(slot, s, len);
	slot[len] = 0;
	return 0;
}

static int cursor_row(void *ud, size_t ncols, char **cells, unsigned long *lens)
{
	struct local_cursor *c = ud;
	struct objects_block *b = &c->block;
	if (ncols < 2 || !cells[0] || !cells[1])
		return 0;
	size_t d = b->d; /* 0 before the first row: that row sets it */
	if (objects_local_vector_size(c->base.o, cells[0], lens[0], lens[1], &d) || (!c->buf && block_alloc(c, d))) {
		c->bad = 1;
		return 1;
	}
	size_t i = b->n;
	if (slot_copy(b->ids[i], cells[0], lens[0])) {
		c->bad = objects_local_fail(c->base.o, 0, "object id %.*s is too long", (int)lens[0], cells[0]);
		return 1;
	}
	float *row = b->x + i * d;
	memcpy(row, cells[1], d * sizeof(float));
	objects_l2_normalize(row, d);
	if (b->track_ids) {
		char *slot = c->track_slots + i * OBJECTS_ID_SIZE;
		int has = ncols > 2 && cells[2] && slot_copy(slot, cells[2], lens[2]) == 0;
		b->track_ids[i] = has ? slot : NULL;
	}
	b->n++;
	return 0;
}

int objects_local_cursor_next(struct objects_cursor *cursor, const struct objects_block **block)
{
	struct local_cursor *c = (struct local_cursor *)cursor;
	c->block.n = 0;
	*block = &c->block;
	if (c->done)
		return 0;
	c->params[c->last_param] = DBP_STR(c->last);
	if (db_stream(local_db(c->base.o), c->sql, c->params, c->np, cursor_row, c)) {
		c->block.n = 0;
		return c->bad ? -1 : objects_local_db_fail(c->base.o, "descriptor block");
	}
	if (c->bad) {
		c->block.n = 0;
		return -1;
	}
	if (c->block.n < c->rows)
		c->done = 1;
	if (c->block.n)
		memcpy(c->last, c->block.ids[c->block.n - 1], OBJECTS_ID_SIZE);
	return 0;
}

void objects_local_cursor_close(struct objects_cursor *cursor)
{
	struct local_cursor *c = (struct local_cursor *)cursor;
	if (!c)
		return;
	free(c->buf);
	json_object_put(c->filters);
	arena_free(c->a);
	free(c);
}
