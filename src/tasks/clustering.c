/* Task type clustering (2): faces or events chosen by filters (at most
 * limit, default and max 20000, in ascending id order; objects without a
 * descriptor of the type and version are skipped) are grouped into
 * clusters: the connected components of the graph whose edges are the pairs
 * with similarity strictly greater than the threshold; with use_track_info,
 * events of one track_id are joined as well.
 * Workload: one subtask; the descriptors are read through the objects
 * cursor (in id order, on the task's own connection) into one buffer
 * advised for huge pages and kept warm for the next clustering; all pairs
 * of 20000 × 512-d descriptors through match_pairs_stream (tiled, never an
 * N×N matrix, each row quantized once): a thread of its own matches the
 * rows read so far, 1,024 at a time against themselves and every row
 * before them, on every core, while the rest is read; then what it did not
 * reach; a union-find over the pairs; the clusters are written as text (a
 * counting sort of the members by cluster), not as a json-c tree of every
 * id.
 * Result: {clusters, total_objects, total_clusters}. */
#include "tasks/task_type.h"
#include "tasks/task_util.h"
#include "backends/objects.h"
#include "common/big_alloc.h"
#include "common/errors.h"
#include "common/log.h"
#include "match/match_pairs_blocked.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define CLUSTERING_MAX_LIMIT 20000

struct union_find {
	uint32_t *parent;
	atomic_int *cancelled;
	atomic_int stop;               /* reading failed: the matcher's step ends */
};

static uint32_t uf_find(uint32_t *parent, uint32_t i)
{
	while (parent[i] != i) {
		parent[i] = parent[parent[i]];
		i = parent[i];
	}
	return i;
}

/* The smaller index becomes the root, so a cluster's root is its first id. */
static void uf_union(uint32_t *parent, uint32_t a, uint32_t b)
{
	a = uf_find(parent, a);
	b = uf_find(parent, b);
	if (a < b)
		parent[b] = a;
	else if (b < a)
		parent[a] = b;
}

static int join_pair(void *ud, uint32_t i, uint32_t j, float sim)
{
	struct union_find *uf = ud;
	(void)sim;
	if ((uf->cancelled && atomic_load(uf->cancelled)) || atomic_load(&uf->stop))
		return 1;
	uf_union(uf->parent, i, j);
	return 0;
}

struct track_ref {
	const char *track;
	uint32_t idx;
};

static int cmp_track(const void *a, const void *b)
{
	return strcmp(((const struct track_ref *)a)->track, ((const struct track_ref *)b)->track);
}

/* Events with the same track_id end up in one cluster. */
static int join_tracks(const struct objects_block *v, uint32_t *parent)
{
	struct track_ref *refs = malloc((v->n ? v->n : 1) * sizeof(*refs));
	size_t m = 0;
	if (!refs)
		return -1;
	for (size_t i = 0; i < v->n; i++)
		if (v->track_ids[i])
			refs[m++] = (struct track_ref){v->track_ids[i], (uint32_t)i};
	qsort(refs, m, sizeof(*refs), cmp_track);
	for (size_t i = 1; i < m; i++)
		if (strcmp(refs[i].track, refs[i - 1].track) == 0)
			uf_union(parent, refs[i - 1].idx, refs[i].idx);
	free(refs);
	return 0;
}

struct cluster_ref {
	uint32_t root, size;
};

/* Larger clusters first; equal sizes by their first id. */
static int cmp_cluster(const void *a, const void *b)
{
	const struct cluster_ref *x = a, *y = b;
	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return x->root < y->root ? -1 : x->root > y->root;
}

/* Members of every cluster, cluster after cluster in their order, each
 * cluster's in ascending index (= id) order: a counting sort by cluster. */
static uint32_t *cluster_members(uint32_t *parent, const struct cluster_ref *refs, size_t k, size_t n,
				 uint32_t *slot)
{
	uint32_t *members = malloc((n ? n : 1) * sizeof(uint32_t)), *next = malloc((k ? k : 1) * sizeof(uint32_t));
	if (!members || !next) {
		free(members);
		free(next);
		return NULL;
	}
	uint32_t at = 0;
	for (size_t c = 0; c < k; c++) {
		slot[refs[c].root] = (uint32_t)c;
		next[c] = at;
		at += refs[c].size;
	}
	for (size_t i = 0; i < n; i++)
		members[next[slot[uf_find(parent, (uint32_t)i)]]++] = (uint32_t)i;
	free(next);
	return members;
}

/* Clusters as arrays of ids: members in ascending id order (the load order),
 * written as text (task_util.h) rather than a json-c tree of every id. */
static json_object *clusters_json(const struct objects_block *v, uint32_t *parent, size_t *nclusters)
{
	size_t n = v->n, k = 0;
	uint32_t *size = calloc(n, sizeof(uint32_t)), *slot = malloc(n * sizeof(uint32_t)), *members = NULL;
	struct cluster_ref *refs = malloc(n * sizeof(*refs));
	struct printbuf *pb = NULL;
	json_object *out = NULL;
	if (!size || !slot || !refs)
		goto out;
	for (size_t i = 0; i < n; i++)
		size[uf_find(parent, (uint32_t)i)]++;
	for (size_t i = 0; i < n; i++)
		if (parent[i] == i)
			refs[k++] = (struct cluster_ref){(uint32_t)i, size[i]};
	qsort(refs, k, sizeof(*refs), cmp_cluster);
	if (!(members = cluster_members(parent, refs, k, n, slot)) || !(pb = printbuf_new()))
		goto out;
	printbuf_memappend_fast(pb, "[", 1);
	for (size_t c = 0, at = 0; c < k; c++) {
		if (c)
			printbuf_memappend_fast(pb, ",", 1);
		printbuf_memappend_fast(pb, "[", 1);
		for (size_t m = 0; m < refs[c].size; m++, at++) {
			if (m)
				printbuf_memappend_fast(pb, ",", 1);
			task_text_string(pb, v->ids[members[at]]);
		}
		printbuf_memappend_fast(pb, "]", 1);
	}
	printbuf_memappend_fast(pb, "]", 1);
	out = task_json_text_array(pb);
	pb = NULL;
	*nclusters = k;
out:
	if (pb)
		printbuf_free(pb);
	free(size);
	free(slot);
	free(refs);
	free(members);
	return out;
}

static int clustering_plan(struct task_ctx *ctx, json_object *content, json_object **subtasks, struct task_fail *fail)
{
	(void)ctx;
	(void)content;
	(void)fail;
	*subtasks = json_object_new_array();
	json_object_array_add(*subtasks, json_object_new_object());
	return 0;
}

/* Rows per cursor block. The block's buffer is reused for every block, and
 * its rows are copied into one buffer advised for huge pages and kept warm
 * for the next clustering (big_free_warm): 40 MB of fresh 4 KiB pages
 * (20,000 x 512-d in one block) took a page fault each, about as much CPU
 * as the matching itself on a paravirtualised kernel, and fresh huge pages
 * still cost ~80 ms of CPU to zero where the hypervisor maps them on first
 * touch; when the buffer is fresh, the matcher prefaults it. The cursor's
 * block buffer is fresh for every clustering: 2,000 faces of 512-d with
 * their ids and pointers take just under 4 MiB, two huge pages, where
 * 2,048 took three.
 * The cursor does not read ahead (OBJECTS_CURSOR_READ_AHEAD: a thread, a
 * connection and a second block buffer of its own, which with the other
 * spares does not stay warm): MariaDB waits while a block is copied (~0.5
 * ms), but the matcher has the cores then; the scheduler spent ~13 ms less
 * CPU per clustering (perf stat, same run) and the first block comes
 * sooner. Wall time was a toss-up on a lightly loaded machine (median task
 * / kernel 1.22 against 1.34 with read-ahead in one run of 9 tasks each,
 * 1.27 against 1.19 in the other): measure again on a quiet one. */
#define CLUSTERING_READ_ROWS 2000

/* The descriptors read (v: x, ids and track ids point into the buffers below). */
struct loaded {
	struct objects_block v;
	char (*id_slots)[OBJECTS_ID_SIZE];
	char (*track_slots)[OBJECTS_ID_SIZE];
};

static void loaded_free(struct loaded *l)
{
	big_free_warm(l->v.x);
	free(l->v.ids);
	free(l->v.track_ids);
	free(l->id_slots);
	free(l->track_slots);
}

/* Room for limit rows of d floats; -1 when out of memory. */
static int loaded_alloc(struct loaded *l, size_t limit, size_t d, int use_track)
{
	l->v.d = d;
	l->v.x = big_alloc(limit * d * sizeof(float));
	l->v.ids = malloc(limit * sizeof(char *));
	l->id_slots = malloc(limit * OBJECTS_ID_SIZE);
	if (use_track) {
		l->v.track_ids = malloc(limit * sizeof(char *));
		l->track_slots = malloc(limit * OBJECTS_ID_SIZE);
	}
	return l->v.x && l->v.ids && l->id_slots && (!use_track || (l->v.track_ids && l->track_slots)) ? 0 : -1;
}

/* Appends up to limit rows of block b in total. */
static void loaded_append(struct loaded *l, const struct objects_block *b, size_t limit)
{
	size_t n = b->n < limit - l->v.n ? b->n : limit - l->v.n;
	memcpy(l->v.x + l->v.n * l->v.d, b->x, n * b->d * sizeof(float));
	for (size_t i = 0, at = l->v.n; i < n; i++, at++) {
		l->v.ids[at] = strcpy(l->id_slots[at], b->ids[i]);   /* the cursor's ids fit a slot */
		if (l->v.track_ids)
			l->v.track_ids[at] = b->track_ids[i] ? strcpy(l->track_slots[at], b->track_ids[i]) : NULL;
	}
	l->v.n += n;
}

/* While reading, the matcher takes the rows read in steps of this many (a
 * whole number of 1,024-row tiles), so that it starts on rows as soon as
 * they are read. Its steps run on every core (threads of the stream's own,
 * started once), as the last one does:
 * the cores MariaDB and the cursor leave idle are matched on, and when
 * reading ends no core waits for a step that runs on one (a step of 1,024
 * rows against 20,000 is a tenth of the matching). */
#define CLUSTERING_STEP_ROWS 1024

/* Matches the rows read so far on a thread of its own (and its step's
 * workers) while the rest is read: each step adds the rows read since the
 * last one to the stream (each row quantized once; the pairs it makes with
 * itself and every earlier row).
 * ready and reading are under mu; the rows below ready are never written
 * again (the buffers hold limit rows). */
struct matcher {
	struct match_pairs_stream *s;  /* NULL until the first block gave d */
	float *x;                      /* the rows' buffer: limit rows of d */
	size_t limit, d;
	int nthreads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t ready;                  /* rows read */
	int reading;                   /* more rows may come */
	int started;
	pthread_t thread;
	int rc;                        /* the thread's first nonzero step */
};

static void *matcher_main(void *arg)
{
	struct matcher *m = arg;
	/* the page faults of the rows still to come (none when the buffer is
	 * warm), here rather than on the reading thread */
	pthread_mutex_lock(&m->mu);
	size_t first = m->ready;
	pthread_mutex_unlock(&m->mu);
	big_alloc_prefault(m->x + first * m->d, (m->limit - first) * m->d * sizeof(float));
	for (;;) {
		size_t at = match_pairs_stream_rows(m->s);
		pthread_mutex_lock(&m->mu);
		/* whole steps only: a step ending inside a tile has the next one
		 * compute that tile's column again */
		while (m->reading && m->ready < at + CLUSTERING_STEP_ROWS)
			pthread_cond_wait(&m->cv, &m->mu);
		int reading = m->reading;
		pthread_mutex_unlock(&m->mu);
		if (!reading) /* the rest is matched with every thread */
			return NULL;
		if ((m->rc = match_pairs_stream_add(m->s, at + CLUSTERING_STEP_ROWS, m->nthreads)) != 0)
			return NULL;
	}
}

/* Rows read up to n: the matcher is told (and started with the first). */
static void matcher_rows(struct matcher *m, size_t n)
{
	if (!m->started) {
		m->ready = n;
		m->reading = 1;
		pthread_mutex_init(&m->mu, NULL);
		pthread_cond_init(&m->cv, NULL);
		m->started = pthread_create(&m->thread, NULL, matcher_main, m) == 0 ? 1 : -1;
		return;
	}
	pthread_mutex_lock(&m->mu);
	m->ready = n;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

/* Reading is over: waits for the matcher's step in hand; its result. */
static int matcher_join(struct matcher *m)
{
	if (!m->started)
		return 0;
	pthread_mutex_lock(&m->mu);
	m->reading = 0;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
	if (m->started > 0)
		pthread_join(m->thread, NULL);
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
	m->started = 0;
	return m->rc;
}

/* The first limit objects in id order (the cursor's order), read block by
 * block into buffers of limit rows: nothing grown or sorted afterwards; the
 * matcher matches the rows read on the way. */
static int load_objects(struct task_ctx *ctx, enum objects_kind kind, json_object *filters,
			enum descriptor_type type, int use_track, size_t limit, struct matcher *m,
			struct union_find *uf, float threshold, struct loaded *l, struct task_fail *fail)
{
	struct objects_cursor *cur = NULL;
	const struct objects_block *b;
	size_t rows = limit < CLUSTERING_READ_ROWS ? limit : CLUSTERING_READ_ROWS;
	int rc = 0;
	if (objects_cursor_open(ctx->objects, kind, filters, ctx->account_id, type,
				descriptor_default_version(ctx->cfg, type),
				use_track ? OBJECTS_CURSOR_TRACK_IDS : 0u, rows,
				NULL, NULL, &cur))
		return task_objects_fail(ctx, fail, "loading descriptors");
	while (rc == 0 && l->v.n < limit && (rc = task_check_cancelled(ctx, fail)) == 0) {
		if (objects_cursor_next(cur, &b)) {
			rc = task_objects_fail(ctx, fail, "loading descriptors");
			break;
		}
		if (b->n == 0)
			break;
		if (!l->v.x && (loaded_alloc(l, limit, b->d, use_track) ||
				!(m->s = match_pairs_stream_new(l->v.x, limit, b->d, threshold, join_pair, uf)))) {
			task_fail(fail, E_INTERNAL, "out of memory");
			rc = -1;
		} else {
			m->x = l->v.x;
			m->limit = limit;
			m->d = b->d;
			loaded_append(l, b, limit);
			matcher_rows(m, l->v.n);
		}
	}
	objects_cursor_close(cur);
	return rc;
}

/* Every pair above the threshold joined in parent: the rows the matcher
 * did not reach while reading, with every thread. 0, or fail filled. */
static int match_all(struct task_ctx *ctx, const struct objects_block *v, struct matcher *m,
		     struct task_fail *fail)
{
	int rc = matcher_join(m);
	log_debug("clustering: %zu rows read, %zu of them matched meanwhile", v->n, match_pairs_stream_rows(m->s));
	if (rc == 0)
		rc = match_pairs_stream_add(m->s, v->n, m->nthreads);
	log_debug("clustering: all %zu rows matched", v->n);
	if (task_check_cancelled(ctx, fail))
		return -1;
	if (rc) {
		task_fail(fail, E_INTERNAL, "matching failed");
		return -1;
	}
	return 0;
}

static int clustering_run(struct task_ctx *ctx, json_object *content, json_object *subtask, json_object **partial,
			  struct task_fail *fail)
{
	struct loaded objects = {0};
	struct union_find uf = {.cancelled = ctx->cancelled};
	struct matcher m = {.nthreads = ctx->cfg->match_threads};
	int rc = -1;
	(void)subtask;
	if (task_require_objects(ctx, fail))
		return -1;
	enum objects_kind kind = objects_kind_from_name(task_json_str(content, "objects_type", "faces"));
	json_object *filters = task_json_get(content, "filters");
	double threshold = task_json_double(content, "threshold", ctx->cfg->clustering_threshold);
	long long limit = task_json_int(content, "limit", CLUSTERING_MAX_LIMIT);
	enum descriptor_type type = task_descriptor_type(task_json_get(content, "descriptor"));
	int use_track = kind == OBJ_EVENTS && task_json_int(task_json_get(content, "params"), "use_track_info", 0);
	if (limit < 1 || limit > CLUSTERING_MAX_LIMIT)
		limit = CLUSTERING_MAX_LIMIT;
	if (!kind) {
		task_fail(fail, E_BAD_JSON, "objects_type must be faces or events");
		return -1;
	}
	/* Every row the limit allows is its own root until joined: the matcher
	 * joins pairs while later rows are still being read. */
	uf.parent = malloc((size_t)limit * sizeof(uint32_t));
	if (!uf.parent) {
		task_fail(fail, E_INTERNAL, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < (size_t)limit; i++)
		uf.parent[i] = (uint32_t)i;
	if (load_objects(ctx, kind, filters, type, use_track, (size_t)limit, &m, &uf, (float)threshold, &objects,
			 fail)) {
		atomic_store(&uf.stop, 1);
		matcher_join(&m);
		goto out;
	}
	const struct objects_block v = objects.v;
	if (v.n == 0) {
		task_fail(fail, E_CLUSTER_EMPTY, "Objects for clustering not found (empty set)");
		goto out;
	}
	if (match_all(ctx, &v, &m, fail))
		goto out;
	if (use_track && join_tracks(&v, uf.parent)) {
		task_fail(fail, E_INTERNAL, "out of memory");
		goto out;
	}
	size_t nclusters = 0;
	json_object *clusters = clusters_json(&v, uf.parent, &nclusters);
	if (!clusters) {
		task_fail(fail, E_INTERNAL, "out of memory");
		goto out;
	}
	*partial = json_object_new_object();
	json_object_object_add(*partial, "clusters", clusters);
	json_object_object_add(*partial, "total_objects", json_object_new_int64((int64_t)v.n));
	json_object_object_add(*partial, "total_clusters", json_object_new_int64((int64_t)nclusters));
	rc = 0;
out:
	match_pairs_stream_free(m.s);
	free(uf.parent);
	loaded_free(&objects);
	return rc;
}

const struct task_type task_clustering = {
	.id = 2,
	.name = "clustering",
	.result_is_zip = 0,
	.plan = clustering_plan,
	.run_subtask = clustering_run,
	.result_from_subtask = 1,
};
