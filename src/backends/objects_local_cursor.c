/* The descriptor block cursor of the local objects backend (objects.h):
 * keyset paging over the object table (or a list's rows), one statement
 * per block:
 *   SELECT id, vector FROM <table> o JOIN descriptor d ... WHERE (filters)
 *   AND <descriptor type, version> AND o.id > <last id> [AND o.id <= upto]
 *   ORDER BY o.id LIMIT block_rows
 * The object table is read in id order through its (account_id, id) index
 * and each descriptor is a primary-key lookup in the same order, so the
 * server neither sorts nor buffers; a filter that fixes a column of an
 * (account_id, column) index by equality (user_data, ...) reads that index
 * instead, the matching rows only, in the same id order
 * (objects_where.equality_index). With a list_id (faces) the list's own
 * rows are read instead, list_face's key (list_id, face_id) in face id
 * order, each face and its descriptor a primary-key lookup
 * (objects_where_from): a block costs its rows, not the faces of the
 * account it skips (a list of 100,000 in an account of 1,000,000 read every
 * face of the account). With no filter but the account and the list, the
 * face row is not read at all: each descriptor joins the list's row and its
 * own account_id is compared (objects_where_descriptors_by_list; a cross
 * match of one reference over a list of 300,000: MariaDB 1.0 against 1.46 s
 * of CPU, 3.3 against 4.9 us per 512-d row). The join order and the index
 * are forced: left alone, the optimizer may start from another table and
 * sort every remaining row, blobs and all, for each block. A filter's EXISTS (tags:
 * event_tag, ...) stays a per-row primary-key lookup (OBJECTS_ROW_EXISTS):
 * left alone, MariaDB materializes the whole subquery (a temporary table of
 * every matching row, on disk when large) for every block, O(matches) per
 * block. Rows are written straight into the
 * block's slots: nothing grows or moves while rows stream in. With
 * OBJECTS_CURSOR_READ_AHEAD the statements run on a thread and a handle of
 * the cursor's own, one block ahead of the caller, into two buffers in turn,
 * so MariaDB's reading and the caller's matching overlap.
 * Workload: millions of 512-d descriptors in blocks of thousands. */
#include "backends/objects_local.h"
#include "common/big_alloc.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One block and its storage (allocated with the block's first row). */
struct slot {
	void *buf;
	char *track_slots;          /* rows slots for track ids (with_track) */
	struct objects_block block;
	int failed;                 /* its read failed: the reason is in the reading handle */
};

struct local_cursor {
	struct objects_cursor base; /* base.o: the handle */
	struct arena *a;            /* the statement and its parameters */
	json_object *filters;       /* referenced: the parameters point into it */
	char *sql;
	struct db_param *params;
	size_t np, last_param;      /* params[last_param] is the keyset bound */
	size_t rows;                /* block_rows */
	int with_track, done;       /* done: the last block was read */
	char last[OBJECTS_ID_SIZE]; /* id of the last row read */
	struct slot slots[2];       /* read ahead: both in turn; else slots[0] */
	/* Read ahead (OBJECTS_CURSOR_READ_AHEAD): a thread with its own handle
	 * (connection) reads the next block into the other slot while the caller
	 * works on the one it was given. ready, held, stop and a slot's failed
	 * are under mu; the reader alone touches last, done and params, the
	 * caller alone next and finished. */
	struct objects *reader;     /* NULL: no read ahead */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int ready[2];               /* slot read and not yet given out */
	int held;                   /* slot the caller has, -1: none */
	int stop;                   /* close asks the reader to stop */
	int finished;               /* the last block (or a failure) was given out */
	size_t next;                /* slot the next block comes in */
};

/* Keyset bound, upto and the limit follow the filters' own parameters. */
static int cursor_statement(struct local_cursor *c, enum objects_kind kind, const char *account_id,
			    enum descriptor_type type, int version, const char *upto)
{
	struct objects_local_table t;
	struct objects_where w;
	char err[512];
	if (objects_local_where(c->base.o, c->a, kind, c->filters, account_id, &t, &w))
		return -1;
	if (objects_where_descriptors_by_list(c->a, kind, c->filters, account_id, &w, err, sizeof(err)))
		return objects_local_fail(c->base.o, 1, "%s", err);
	const char *key, *from = objects_where_from(c->a, &w, t.table, t.id, t.id_order_index, &key);
	/* the row's id: the face's own, or the list's when no face row is read */
	const char *id = w.descriptor_account ? key : arena_printf(c->a, "o.%s", t.id);
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
			      OBJECTS_ROW_EXISTS "SELECT STRAIGHT_JOIN %s, d.vector%s FROM %s JOIN descriptor d ON d.owner_id = %s "
			      "WHERE (%s) AND d.descriptor_type = ? AND d.descriptor_version = ? AND %s > ?%s "
			      "ORDER BY %s LIMIT ?",
			      id, c->with_track ? ", o.track_id" : "", from, id, w.sql, key,
			      upto ? arena_printf(c->a, " AND %s <= ?", key) : "", key);
	return 0;
}

/* A slot's storage for rows of d floats, in one allocation: the pointer
 * arrays, the rows, then the id slots (each part aligned for its type). o is
 * the handle that reads (its error is set). */
static int block_alloc(const struct local_cursor *c, struct objects *o, struct slot *s, size_t d)
{
	size_t rows = c->rows, tracks = c->with_track ? rows : 0;
	size_t ptr_bytes = (rows + tracks) * sizeof(char *);
	size_t x_bytes = rows * d * sizeof(float);
	size_t slot_bytes = (rows + tracks) * OBJECTS_ID_SIZE;
	char *p = big_alloc(ptr_bytes + x_bytes + slot_bytes); /* huge pages: one fault per 2 MiB */
	if (!p)
		return objects_local_fail(o, 0, "out of memory for a block of %zu descriptors", rows);
	s->buf = p;
	s->block.d = d;
	s->block.ids = (char **)p;
	s->block.track_ids = tracks ? s->block.ids + rows : NULL;
	s->block.x = (float *)(p + ptr_bytes);
	char *ids = p + ptr_bytes + x_bytes;
	for (size_t i = 0; i < rows; i++)
		s->block.ids[i] = ids + i * OBJECTS_ID_SIZE;
	s->track_slots = ids + rows * OBJECTS_ID_SIZE;
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

/* Rows of one statement going into one slot, through handle o. */
struct fill {
	const struct local_cursor *c;
	struct objects *o;
	struct slot *s;
	int bad;
};

static int cursor_row(void *ud, size_t ncols, char **cells, unsigned long *lens)
{
	struct fill *f = ud;
	struct objects_block *b = &f->s->block;
	if (ncols < 2 || !cells[0] || !cells[1])
		return 0;
	/* 0 before the slot's first row: that row sets it; a later slot keeps the first slot's d */
	size_t d = b->d ? b->d : f->c->slots[0].block.d;
	if (objects_local_vector_size(f->o, cells[0], lens[0], lens[1], &d) ||
	    (!f->s->buf && block_alloc(f->c, f->o, f->s, d))) {
		f->bad = 1;
		return 1;
	}
	size_t i = b->n;
	if (slot_copy(b->ids[i], cells[0], lens[0])) {
		f->bad = objects_local_fail(f->o, 0, "object id %.*s is too long", (int)lens[0], cells[0]);
		return 1;
	}
	float *row = b->x + i * d;
	memcpy(row, cells[1], d * sizeof(float));
	objects_l2_normalize(row, d);
	if (b->track_ids) {
		char *slot = f->s->track_slots + i * OBJECTS_ID_SIZE;
		int has = ncols > 2 && cells[2] && slot_copy(slot, cells[2], lens[2]) == 0;
		b->track_ids[i] = has ? slot : NULL;
	}
	b->n++;
	return 0;
}

/* The next block after c->last into slot s through handle o (its error set
 * on failure); done once a block comes back short. */
static int read_block(struct local_cursor *c, struct objects *o, struct slot *s)
{
	struct fill f = {c, o, s, 0};
	s->block.n = 0;
	if (c->done)
		return 0;
	c->params[c->last_param] = DBP_STR(c->last);
	if (db_stream(local_db(o), c->sql, c->params, c->np, cursor_row, &f)) {
		s->block.n = 0;
		return f.bad ? -1 : objects_local_db_fail(o, "descriptor block");
	}
	if (f.bad) {
		s->block.n = 0;
		return -1;
	}
	if (s->block.n < c->rows)
		c->done = 1;
	if (s->block.n)
		memcpy(c->last, s->block.ids[s->block.n - 1], OBJECTS_ID_SIZE);
	return 0;
}

/* The reader thread: fills the slots in turn, each once the caller gave it
 * back, until the last block, a failure or close. */
static void *reader_main(void *arg)
{
	struct local_cursor *c = arg;
	for (size_t s = 0;; s ^= 1) {
		pthread_mutex_lock(&c->mu);
		while (!c->stop && (c->ready[s] || c->held == (int)s))
			pthread_cond_wait(&c->cv, &c->mu);
		int stop = c->stop;
		pthread_mutex_unlock(&c->mu);
		if (stop)
			break;
		int failed = read_block(c, c->reader, &c->slots[s]) != 0;
		int last = failed || c->slots[s].block.n < c->rows;
		pthread_mutex_lock(&c->mu);
		c->slots[s].failed = failed;
		c->ready[s] = 1;
		pthread_cond_broadcast(&c->cv);
		pthread_mutex_unlock(&c->mu);
		if (last)
			break;
	}
	return NULL;
}

/* Read ahead: its own handle of the same backend settings, and the thread. */
static int reader_start(struct local_cursor *c)
{
	struct objects_local *l = (struct objects_local *)c->base.o;
	char err[256];
	c->held = -1;
	if (!(c->reader = objects_local_ops.open(l->cfg, err, sizeof(err))))
		return objects_local_fail(c->base.o, 0, "read ahead: %s", err);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (pthread_create(&c->thread, NULL, reader_main, c)) {
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mu);
		objects_local_ops.close(c->reader);
		c->reader = NULL;
		return objects_local_fail(c->base.o, 0, "read ahead: cannot start its thread");
	}
	return 0;
}

static void reader_stop(struct local_cursor *c)
{
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	objects_local_ops.close(c->reader);
}

/* Gives the caller the slot read next (waiting for the reader) and the one
 * it had back to the reader. */
static int next_read_ahead(struct local_cursor *c, const struct objects_block **block)
{
	pthread_mutex_lock(&c->mu);
	if (c->held >= 0)
		c->held = -1;
	pthread_cond_broadcast(&c->cv);
	while (!c->finished && !c->ready[c->next])
		pthread_cond_wait(&c->cv, &c->mu);
	size_t s = c->next;
	int given = !c->finished;
	if (given) {
		c->ready[s] = 0;
		c->held = (int)s;
		c->next ^= 1;
	}
	pthread_mutex_unlock(&c->mu);
	struct objects_block *b = &c->slots[s].block;
	*block = b;
	if (!given) { /* the reader has ended: nothing writes the slots any more */
		b->n = 0;
		return 0;
	}
	if (c->slots[s].failed) {
		c->finished = 1;
		return objects_local_fail(c->base.o, c->reader->input_error, "%s", c->reader->err);
	}
	c->finished = b->n < c->rows;
	return 0;
}

int objects_local_cursor_next(struct objects_cursor *cursor, const struct objects_block **block)
{
	struct local_cursor *c = (struct local_cursor *)cursor;
	if (c->reader)
		return next_read_ahead(c, block);
	*block = &c->slots[0].block;
	return read_block(c, c->base.o, &c->slots[0]);
}

int objects_local_cursor_open(struct objects *o, enum objects_kind kind, json_object *filters, const char *account_id,
			      enum descriptor_type type, int version, unsigned flags, size_t block_rows,
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
	c->with_track = (flags & OBJECTS_CURSOR_TRACK_IDS) && kind == OBJ_EVENTS;
	c->filters = json_object_get(filters);
	snprintf(c->last, sizeof(c->last), "%s", after ? after : ""); /* every id is > "" */
	if (cursor_statement(c, kind, account_id, type, version, upto) ||
	    ((flags & OBJECTS_CURSOR_READ_AHEAD) && reader_start(c))) {
		objects_local_cursor_close(&c->base);
		return -1;
	}
	*out = &c->base;
	return 0;
}

void objects_local_cursor_close(struct objects_cursor *cursor)
{
	struct local_cursor *c = (struct local_cursor *)cursor;
	if (!c)
		return;
	if (c->reader)
		reader_stop(c);
	/* warm for the next cursor of the same block size (fresh huge pages
	 * cost ~1.5 ms of CPU per MiB to zero on a VM) */
	big_free_warm(c->slots[0].buf);
	big_free_warm(c->slots[1].buf);
	json_object_put(c->filters);
	arena_free(c->a);
	free(c);
}
