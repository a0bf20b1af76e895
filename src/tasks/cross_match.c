/* Task type cross match (6): every reference object (faces, events or
 * attributes chosen by reference_filters) against every candidate (chosen by
 * candidate_filters); per reference the candidates with similarity >=
 * threshold, sorted by similarity descending (ties by candidate id), at most
 * limit of them; references left with no candidate are left out.
 * Workload: millions of candidates. Planning makes a grid: it pages through
 * the reference ids and cuts them into chunks (id ranges) of [TASKS]
 * CROSS_MATCH_REFERENCES_PER_SUBTASK, and steps through the candidate id
 * index to cut the candidates into at most [TASKS]
 * CROSS_MATCH_CANDIDATE_RANGES id ranges of about equal size (each at least
 * MATCH_BLOCK_ROWS and a chunk's references); one subtask per chunk and range (they run on every
 * scheduler that is up), so every chunk reads the candidates once however
 * many subtasks share it. A subtask opens its candidate cursor first (with
 * MATCH_READ_AHEAD the first blocks are read while the references load),
 * loads its references and prepares them once (match_topk_prepare), then
 * streams its candidates [TASKS] MATCH_BLOCK_ROWS at a time (as many as
 * its chunk had references at planning, when more) through
 * match_topk_prepared, folding
 * each block into a running top limit per reference, so its memory does not
 * grow with the number of candidates. match_topk reports the canonical
 * similarity (match.h), so the result is the same however references and
 * candidates are split.
 * A task planned as one subtask (one chunk, one range: bench/tasks' 20,000
 * x 20,000) is "alone": that subtask writes the task's result document
 * straight into the store, the scheduler marks its row so, and collecting
 * adopts the blob without calling collect (store_alone).
 * Collect: a task with one candidate range concatenates the partials' text
 * in subtask order (references ascending); with several, the partials of
 * one chunk (consecutive, ranges ascending) carry each similarity's exact
 * float and are merged one at a time into the chunk's top limit per
 * reference, which is written out before the next chunk's. Memory holds one
 * partial and one chunk's merged lists.
 * Result: [{reference_id, candidates: [{candidate_id, similarity}]}]. */
#include "tasks/task_type.h"
#include "tasks/task_util.h"
#include "backends/objects.h"
#include "backends/storage.h"
#include "common/errors.h"
#include "match/match.h"
#include "common/big_alloc.h"
#include "common/fmt.h"
#include "common/uuid.h"
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cross_match_validate(struct task_ctx *ctx, json_object *content, struct task_fail *fail)
{
	json_object *filters = task_json_get(content, "filters");
	static const char *const sides[2][2] = {{"reference_type", "reference_filters"},
						{"candidate_type", "candidate_filters"}};
	for (int s = 0; s < 2; s++) {
		enum objects_kind kind = objects_kind_from_name(task_json_str(filters, sides[s][0], NULL));
		char err[512];
		if (objects_validate_filters(ctx->cfg, kind, task_json_get(filters, sides[s][1]), err, sizeof(err))) {
			task_fail(fail, E_BAD_JSON,
				  "Failed to validate input json. Path: 'content.filters.%s', message: '%s'",
				  sides[s][1], err);
			return -1;
		}
	}
	return 0;
}

/* The reference objects' kind; fail set when the content names none. */
static enum objects_kind side_kind(json_object *filters, const char *type_key, struct task_fail *fail)
{
	enum objects_kind kind = objects_kind_from_name(task_json_str(filters, type_key, NULL));
	if (!kind)
		task_fail(fail, E_BAD_JSON, "%s must be faces, events or attributes", type_key);
	return kind;
}

static json_object *range_subtask(const char *after, const char *upto)
{
	json_object *s = json_object_new_object();
	json_object_object_add(s, "after", after ? json_object_new_string(after) : NULL);
	json_object_object_add(s, "upto", upto ? json_object_new_string(upto) : NULL);
	return s;
}

/* The chunk (after, upto] of n references, into out. */
static void add_chunk(json_object *out, const char *after, const char *upto, size_t n)
{
	json_object *chunk = range_subtask(after, upto);
	json_object_object_add(chunk, "references", json_object_new_int64((int64_t)n));
	json_object_array_add(out, chunk);
}

/* Reference id ranges (after, upto] of CROSS_MATCH_REFERENCES_PER_SUBTASK
 * ids each, the last one what is left, into *chunks (empty: no
 * references); *largest: the references of the largest chunk. One walk of
 * the reference id index that sends a chunk's last id and the tail's count,
 * not every id (20,000 ids cost planning 8-18 ms, as long as the rest of it). */
static int reference_chunks(struct task_ctx *ctx, json_object *filters, enum objects_kind kind,
			    json_object **chunks, size_t *largest, struct task_fail *fail)
{
	size_t per = (size_t)ctx->cfg->cross_match_references, n;
	struct objects_steps_tail tail;
	struct arena *a = arena_new();
	char **ends;
	*chunks = NULL;
	*largest = 0;
	if (objects_step_ids(ctx->objects, a, kind, task_json_get(filters, "reference_filters"),
			     task_account(ctx, filters), per, SIZE_MAX, &ends, &n, &tail)) {
		arena_free(a);
		return task_objects_fail(ctx, fail, "reference_filters");
	}
	json_object *out = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		add_chunk(out, i ? ends[i - 1] : NULL, ends[i], per);
	/* objects added since the walk may make the tail a chunk or more: its
	 * subtask reads them all (refs_use_copies), its blocks sized for a chunk */
	size_t rest = tail.n < per ? tail.n : per;
	if (rest && tail.last[0])
		add_chunk(out, n ? ends[n - 1] : NULL, tail.last, rest);
	*largest = n ? per : rest;
	arena_free(a);
	*chunks = out;
	return 0;
}

/* Most range units planning looks at (a larger task's last range grows
 * instead). */
#define CANDIDATE_UNITS_MAX 65536

/* Boundaries of the candidate id ranges, from arena a: at most
 * CROSS_MATCH_CANDIDATE_RANGES ranges of about equal size, each of whole
 * units of `unit` candidates; *n boundaries make n + 1 ranges, 0 one range
 * of every candidate. One walk of the candidate id index gives the last id
 * of every unit (the ids between are not sent); the ranges take the units in
 * equal shares, the last also what is left after the last whole unit. */
static int candidate_bounds(struct task_ctx *ctx, json_object *filters, size_t unit, struct arena *a,
			    char ***bounds, size_t *n, struct task_fail *fail)
{
	enum objects_kind kind = side_kind(filters, "candidate_type", fail);
	size_t ranges = (size_t)ctx->cfg->cross_match_candidate_ranges, units;
	char **ends;
	*n = 0;
	if (!kind)
		return -1;
	if (ranges < 2)
		return 0;
	if (objects_step_ids(ctx->objects, a, kind, task_json_get(filters, "candidate_filters"),
			     task_account(ctx, filters), unit, CANDIDATE_UNITS_MAX, &ends, &units, NULL))
		return task_objects_fail(ctx, fail, "candidate_filters");
	if (ranges > units)
		ranges = units;
	*bounds = arena_alloc(a, (ranges ? ranges : 1) * sizeof(char *));
	for (size_t r = 1; r < ranges; r++)
		(*bounds)[(*n)++] = ends[r * units / ranges - 1];
	return 0;
}

/* The subtasks of reference chunk `chunk` (its range in ref) against each
 * candidate range (after, upto] between the boundaries, into out. */
static void add_chunk_subtasks(json_object *out, json_object *ref, size_t chunk, char **bounds, size_t nb)
{
	for (size_t j = 0; j <= nb; j++) {
		json_object *s = range_subtask(task_json_str(ref, "after", NULL), task_json_str(ref, "upto", NULL));
		json_object_object_add(s, "references", json_object_get(task_json_get(ref, "references")));
		const char *after = j ? bounds[j - 1] : NULL, *upto = j < nb ? bounds[j] : NULL;
		json_object_object_add(s, "chunk", json_object_new_int64((int64_t)chunk));
		json_object_object_add(s, "candidates_after", after ? json_object_new_string(after) : NULL);
		json_object_object_add(s, "candidates_upto", upto ? json_object_new_string(upto) : NULL);
		json_object_array_add(out, s);
	}
}

/* A plan of one subtask marks it "alone": it writes the task's result
 * document itself and collect adopts it (store_alone). */
static json_object *mark_alone(json_object *subtasks)
{
	if (json_object_array_length(subtasks) == 1)
		json_object_object_add(json_object_array_get_idx(subtasks, 0), "alone", json_object_new_boolean(1));
	return subtasks;
}

/* The grid of reference chunks x candidate ranges, chunk by chunk; one
 * candidate range: the chunks alone; no references: one subtask over all. */
static int cross_match_plan(struct task_ctx *ctx, json_object *content, json_object **subtasks,
			    struct task_fail *fail)
{
	if (task_require_objects(ctx, fail))
		return -1;
	json_object *filters = task_json_get(content, "filters");
	enum objects_kind kind = side_kind(filters, "reference_type", fail);
	json_object *chunks;
	size_t refs;
	if (!kind || reference_chunks(ctx, filters, kind, &chunks, &refs, fail))
		return -1;
	size_t nchunks = json_object_array_length(chunks);
	if (nchunks == 0) {
		json_object_array_add(chunks, range_subtask(NULL, NULL));
		*subtasks = mark_alone(chunks);
		return 0;
	}
	/* A range holds at least a block (a smaller one reads no faster) and as
	 * many candidates as a chunk has references: each range's subtask reads
	 * its chunk's references again, at most as much as its candidates. */
	size_t unit = (size_t)ctx->cfg->match_block_rows;
	if (unit < refs)
		unit = refs;
	struct arena *a = arena_new();
	char **bounds = NULL;
	size_t nb = 0;
	int rc = task_check_cancelled(ctx, fail) || candidate_bounds(ctx, filters, unit, a, &bounds, &nb, fail) ? -1 : 0;
	if (rc == 0 && nb == 0) {
		*subtasks = mark_alone(chunks);
		chunks = NULL;
	} else if (rc == 0) {
		json_object *out = json_object_new_array();
		for (size_t i = 0; i < nchunks; i++)
			add_chunk_subtasks(out, json_object_array_get_idx(chunks, i), i, bounds, nb);
		*subtasks = out;
	}
	json_object_put(chunks);
	arena_free(a);
	return rc;
}

/* One subtask's references, ascending by id: the rows of the cursor's one
 * block, in place (a copy cost 40 MB of fresh memory and its filling at
 * 20,000 references, as much CPU as matching a few thousand candidates),
 * or, when more than a chunk came (objects added inside the range since
 * planning), copies. */
struct refs {
	size_t n, d;
	const float *x;
	char *const *ids;
	struct objects_cursor *cursor; /* open while x and ids are its block's */
	size_t cap;                    /* the copies: rows own_x and own_ids have room for */
	float *own_x;
	char (*own_ids)[OBJECTS_ID_SIZE];
	char **own_ptrs;
};

static void refs_free(struct refs *r)
{
	objects_cursor_close(r->cursor);
	free(r->own_x);
	free(r->own_ids);
	free(r->own_ptrs);
}

/* Room for at least rows copied references of d values: x in huge pages
 * (big_alloc.h; 40 MB of fresh 4 KiB pages cost 0.1-0.15 s of faults). */
static int refs_reserve(struct refs *r, size_t rows, size_t d)
{
	if (rows <= r->cap)
		return 0;
	float *x = big_alloc(rows * d * sizeof(float));
	char(*ids)[OBJECTS_ID_SIZE] = malloc(rows * OBJECTS_ID_SIZE);
	if (!x || !ids) {
		free(x);
		free(ids);
		return -1;
	}
	if (r->n) {
		memcpy(x, r->own_x, r->n * d * sizeof(float));
		memcpy(ids, r->own_ids, r->n * OBJECTS_ID_SIZE);
	}
	free(r->own_x);
	free(r->own_ids);
	r->own_x = x;
	r->own_ids = ids;
	r->cap = rows;
	return 0;
}

/* Appends a block of references to the copies. */
static int refs_append(struct refs *r, const struct objects_block *b)
{
	size_t need = r->n + b->n;
	if (need > r->cap && refs_reserve(r, need > 2 * r->cap ? need : 2 * r->cap, b->d))
		return -1;
	memcpy(r->own_x + r->n * b->d, b->x, b->n * b->d * sizeof(float));
	for (size_t i = 0; i < b->n; i++)
		memcpy(r->own_ids[r->n + i], b->ids[i], OBJECTS_ID_SIZE);
	r->n += b->n;
	r->d = b->d;
	return 0;
}

/* The copies become the references. */
static int refs_use_copies(struct refs *r)
{
	r->own_ptrs = malloc((r->n ? r->n : 1) * sizeof(*r->own_ptrs));
	if (!r->own_ptrs)
		return -1;
	for (size_t i = 0; i < r->n; i++)
		r->own_ptrs[i] = r->own_ids[i];
	r->x = r->own_x;
	r->ids = r->own_ptrs;
	return 0;
}

/* What selects one side's descriptors. */
struct side {
	enum objects_kind kind;
	json_object *filters;
	const char *filters_key;
	const char *account;
	enum descriptor_type dtype;
	int version;
};

static int side_open(struct task_ctx *ctx, const struct side *s, unsigned flags, size_t rows, const char *after,
		     const char *upto, struct objects_cursor **c, struct task_fail *fail)
{
	if (objects_cursor_open(ctx->objects, s->kind, s->filters, s->account, s->dtype, s->version, flags, rows, after,
				upto, c))
		return task_objects_fail(ctx, fail, s->filters_key);
	return 0;
}

/* Rows of the references' block: one more than the chunk had at planning
 * (a subtask planned without the count: than a whole chunk), so that a
 * small chunk maps a small block, not one of CROSS_MATCH_REFERENCES_PER_SUBTASK. */
static size_t refs_block_rows(const struct task_ctx *ctx, json_object *subtask)
{
	long long planned = task_json_int(subtask, "references", 0);
	size_t rows = planned > 0 ? (size_t)planned : (size_t)ctx->cfg->cross_match_references;
	return rows < OBJECTS_BLOCK_MAX_ROWS ? rows + 1 : OBJECTS_BLOCK_MAX_ROWS;
}

/* The references in one block of one more row than the chunk had at
 * planning: they come as one short block, the last (the cursor reads no
 * more), and stay in it (refs->cursor). A full block means more came since:
 * copies. */
static int load_refs(struct task_ctx *ctx, const struct side *s, json_object *subtask, struct refs *r,
		     struct task_fail *fail)
{
	struct objects_cursor *c;
	const struct objects_block *b;
	size_t rows = refs_block_rows(ctx, subtask);
	if (side_open(ctx, s, 0, rows, task_json_str(subtask, "after", NULL), task_json_str(subtask, "upto", NULL), &c,
		      fail))
		return -1;
	if (objects_cursor_next(c, &b)) {
		objects_cursor_close(c);
		return task_objects_fail(ctx, fail, s->filters_key);
	}
	if (b->n < rows) {
		*r = (struct refs){.n = b->n, .d = b->d, .x = b->x, .ids = b->ids, .cursor = c};
		return 0;
	}
	int rc = 0;
	while (rc == 0 && b->n) {
		if (refs_append(r, b)) {
			task_fail(fail, E_INTERNAL, "out of memory");
			rc = -1;
		} else if (objects_cursor_next(c, &b)) {
			rc = task_objects_fail(ctx, fail, s->filters_key);
		}
	}
	if (rc == 0 && refs_use_copies(r)) {
		task_fail(fail, E_INTERNAL, "out of memory");
		rc = -1;
	}
	objects_cursor_close(c);
	return rc;
}

/* The running top k of every reference over the candidate blocks so far:
 * hits best first with global candidate indices, and each hit's id (the
 * blocks they came from are gone). */
struct running {
	size_t nq, k;
	float threshold;
	int nthreads;
	uint32_t offset;               /* global index of the next block's first row */
	struct match_hit *hits;        /* nq x k */
	size_t *counts;                /* nq */
	char (*ids)[OBJECTS_ID_SIZE];  /* nq x k */
	struct match_hit *blk;         /* nq x k: one block's hits */
	size_t *bcounts;               /* nq */
	struct match_hit *merged;      /* k */
	char (*merged_ids)[OBJECTS_ID_SIZE];  /* k */
	struct match_topk_queries *queries;   /* the references, prepared once for every block */
};

static void running_free(struct running *r)
{
	free(r->hits);
	free(r->counts);
	big_free_warm(r->ids);
	free(r->blk);
	free(r->bcounts);
	free(r->merged);
	free(r->merged_ids);
	match_topk_queries_free(r->queries);
}

static int running_alloc(struct running *r, const struct refs *refs, size_t k)
{
	size_t nq = refs->n;
	r->nq = nq;
	r->k = k;
	r->queries = match_topk_prepare(refs->x, nq, refs->d, r->nthreads);
	r->hits = malloc(nq * k * sizeof(*r->hits));
	r->counts = calloc(nq, sizeof(*r->counts));
	r->ids = big_alloc(nq * k * OBJECTS_ID_SIZE);   /* 3.7 MB at 20,000 x 5: warm pages */
	r->blk = malloc(nq * k * sizeof(*r->blk));
	r->bcounts = malloc(nq * sizeof(*r->bcounts));
	r->merged = malloc(k * sizeof(*r->merged));
	r->merged_ids = malloc(k * OBJECTS_ID_SIZE);
	int ok = r->hits && r->counts && r->ids && r->blk && r->bcounts && r->merged && r->merged_ids;
	return ok && r->queries ? 0 : -1;
}

/* Merges query q's hits of the current block into its running list. The
 * merge keeps the earlier hits in their order, so their ids are found by a
 * forward walk. */
static void fold_query(struct running *r, size_t q, const struct objects_block *b)
{
	struct match_hit *old = r->hits + q * r->k, *blk = r->blk + q * r->k;
	char(*old_ids)[OBJECTS_ID_SIZE] = r->ids + q * r->k;
	size_t nb = r->bcounts[q];
	if (nb == 0)
		return;
	size_t m = match_topk_merge(old, r->counts[q], blk, nb, r->offset, r->k, r->merged);
	for (size_t i = 0, j = 0; i < m; i++) {
		uint32_t idx = r->merged[i].idx;
		if (idx >= r->offset) {
			memcpy(r->merged_ids[i], b->ids[idx - r->offset], OBJECTS_ID_SIZE);
			continue;
		}
		while (old[j].idx != idx)
			j++;
		memcpy(r->merged_ids[i], old_ids[j++], OBJECTS_ID_SIZE);
	}
	memcpy(old, r->merged, m * sizeof(*old));
	memcpy(old_ids, r->merged_ids, m * OBJECTS_ID_SIZE);
	r->counts[q] = m;
}

/* One candidate block through the kernel (its exact top k per reference:
 * match_topk ranks and reports match_similarity, so blocks merge into the
 * same result however the candidates are split), merged. */
static int fold_block(struct running *r, const struct objects_block *b)
{
	if (b->n > UINT32_MAX - r->offset) {
		errno = EOVERFLOW;
		return -1;
	}
	if (match_topk_prepared(r->queries, b->x, b->n, r->k, r->threshold, 0, r->nthreads, r->blk, r->bcounts))
		return -1;
	for (size_t q = 0; q < r->nq; q++)
		fold_query(r, q, b);
	r->offset += (uint32_t)b->n;
	return 0;
}

/* Rows of a candidate block: MATCH_BLOCK_ROWS, or as many as the chunk had
 * references at planning when that is more. A subtask holds its chunk's
 * references anyway, so the bound O((chunk + block) x d) stays, and fewer,
 * larger blocks cost the kernel less per candidate (each call quantizes
 * its block and sets up its scratch): 20,000 x 20,000 is one call, not
 * 16,384 + 3,616. */
static size_t candidate_block_rows(const struct task_ctx *ctx, json_object *subtask)
{
	long long refs = task_json_int(subtask, "references", 0);
	size_t rows = (size_t)ctx->cfg->match_block_rows;
	if (refs > 0 && (unsigned long long)refs > rows)
		rows = (unsigned long long)refs < OBJECTS_BLOCK_MAX_ROWS ? (size_t)refs : OBJECTS_BLOCK_MAX_ROWS;
	return rows;
}

/* The subtask's range of the candidates (all when it has none). Read ahead:
 * the next block comes from MariaDB while this one is matched, and the
 * first ones while the references are loaded (the cursor is opened first). */
static int open_candidates(struct task_ctx *ctx, const struct side *s, json_object *subtask,
			   struct objects_cursor **c, struct task_fail *fail)
{
	unsigned flags = ctx->cfg->match_read_ahead ? OBJECTS_CURSOR_READ_AHEAD : 0u;
	return side_open(ctx, s, flags, candidate_block_rows(ctx, subtask),
			 task_json_str(subtask, "candidates_after", NULL), task_json_str(subtask, "candidates_upto", NULL),
			 c, fail);
}

/* Every block of cursor c folded into r. */
static int stream_candidates(struct task_ctx *ctx, const struct side *s, struct objects_cursor *c,
			     const struct refs *refs, struct running *r, struct task_fail *fail)
{
	const struct objects_block *b;
	int rc = 0;
	while (rc == 0 && (rc = task_check_cancelled(ctx, fail)) == 0) {
		if (objects_cursor_next(c, &b)) {
			rc = task_objects_fail(ctx, fail, s->filters_key);
			break;
		}
		if (b->n == 0)
			break;
		if (b->d != refs->d) {
			task_fail(fail, E_BAD_JSON, "reference descriptors have %zu values, candidate ones %zu",
				  refs->d, b->d);
			rc = -1;
		} else if (fold_block(r, b)) {
			task_fail(fail, E_INTERNAL, "matching failed: %s", strerror(errno));
			rc = -1;
		}
	}
	return rc;
}

/* One reference's item of the result: its n best candidates. */
static void reference_text(struct printbuf *pb, const char *ref_id, const struct match_hit *hits,
			   const char (*ids)[OBJECTS_ID_SIZE], size_t n)
{
	printbuf_strappend(pb, "{\"reference_id\":");
	task_text_string(pb, ref_id);
	printbuf_strappend(pb, ",\"candidates\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			printbuf_memappend_fast(pb, ",", 1);
		printbuf_strappend(pb, "{\"candidate_id\":");
		task_text_string(pb, ids[i]);
		printbuf_strappend(pb, ",\"similarity\":");
		task_text_similarity(pb, hits[i].sim);
		printbuf_memappend_fast(pb, "}", 1);
	}
	printbuf_strappend(pb, "]}");
}

/* One reference's item written to f through pb (reused: one item at a
 * time), after a comma unless it is the first. */
static void reference_item(struct printbuf *pb, FILE *f, int *first, const char *ref_id, const struct match_hit *hits,
			   const char (*ids)[OBJECTS_ID_SIZE], size_t n)
{
	printbuf_reset(pb);
	if (!*first)
		printbuf_memappend_fast(pb, ",", 1);
	*first = 0;
	reference_text(pb, ref_id, hits, ids, n);
	fwrite(pb->buf, 1, (size_t)pb->bpos, f);
}

/* The references and their running lists, for write_running. */
struct finished {
	const struct refs *refs;
	const struct running *r;
};

/* The second half of a long result is formatted on a thread of its own
 * while the first half is written: a 20,000 x 5 document is ~9 MB of text,
 * ~50 ms of one core at the end of the task, when the other core is idle.
 * Only from PARALLEL_TEXT_REFS references, and only while that half's text
 * (estimated from its hits) stays within PARALLEL_TEXT_MAX bytes of memory;
 * otherwise every item is written as it is made. */
#define PARALLEL_TEXT_REFS 2048
#define PARALLEL_TEXT_MAX ((size_t)64 << 20)
#define TEXT_PER_REF 96   /* ,{"reference_id":"<36>","candidates":[]}: 73 */
#define TEXT_PER_HIT 112  /* ,{"candidate_id":"<36>","similarity":0.xxxxxxx}: ~80 */

struct text_half {
	const struct finished *fin;
	size_t from, to;
	struct printbuf *pb;  /* every item after a comma */
};

static void *format_half(void *arg)
{
	struct text_half *h = arg;
	const struct running *r = h->fin->r;
	for (size_t q = h->from; q < h->to; q++) {
		if (!r->counts[q])
			continue;
		printbuf_memappend_fast(h->pb, ",", 1);
		reference_text(h->pb, h->fin->refs->ids[q], r->hits + q * r->k,
			       (const char(*)[OBJECTS_ID_SIZE])(r->ids + q * r->k), r->counts[q]);
	}
	return NULL;
}

/* Starts formatting the references [mid, n) on a thread into h->pb; 0 when
 * it did not (short or too large a result, no memory, no thread). */
static int start_second_half(const struct finished *fin, struct text_half *h, pthread_t *thread)
{
	size_t n = fin->refs->n, mid = n / 2, bytes = 0;
	if (n < PARALLEL_TEXT_REFS)
		return 0;
	for (size_t q = mid; q < n; q++)
		bytes += TEXT_PER_REF + fin->r->counts[q] * TEXT_PER_HIT;
	if (bytes > PARALLEL_TEXT_MAX)
		return 0;
	*h = (struct text_half){fin, mid, n, task_printbuf_sized(bytes)};
	if (!h->pb)
		return 0;
	if (pthread_create(thread, NULL, format_half, h) == 0)
		return 1;
	task_printbuf_free_warm(h->pb);
	return 0;
}

/* A subtask's lists as result items into f (task_items_writer). */
static int write_running(struct task_ctx *ctx, void *ud, FILE *f, struct task_fail *fail)
{
	const struct finished *fin = ud;
	const struct running *r = fin->r;
	struct printbuf *pb = printbuf_new();
	struct text_half half;
	pthread_t thread;
	int first = 1;
	(void)ctx;
	if (!pb) {
		task_fail(fail, E_INTERNAL, "out of memory");
		return -1;
	}
	int threaded = start_second_half(fin, &half, &thread);
	size_t upto = threaded ? half.from : fin->refs->n;
	for (size_t q = 0; q < upto; q++) {
		if (r->counts[q])
			reference_item(pb, f, &first, fin->refs->ids[q], r->hits + q * r->k,
				       (const char(*)[OBJECTS_ID_SIZE])(r->ids + q * r->k), r->counts[q]);
	}
	printbuf_free(pb);
	if (threaded) {
		pthread_join(thread, NULL);
		if (half.pb->bpos > 0) /* its leading comma only after an item of the first half */
			fwrite(half.pb->buf + first, 1, (size_t)half.pb->bpos - (size_t)first, f);
		task_printbuf_free_warm(half.pb);
	}
	return 0;
}

/* The task's only subtask ("alone"): the result document written from the
 * lists straight into the store (a file, never a 9 MB text grown in memory
 * at 20,000 references), under a blob that collecting adopts as the task
 * result (ctx->stored_partial, ctx->stored_document): written once, not
 * stored as a partial, read back and written again. */
static int store_alone(struct task_ctx *ctx, const struct refs *refs, const struct running *r,
		       struct task_fail *fail)
{
	struct finished fin = {refs, r};
	char id[37];
	uuid4(id);
	if (!ctx->store) {
		task_fail(fail, E_STORAGE, "no result store");
		return -1;
	}
	if (task_store_document(ctx, id, write_running, &fin, fail))
		return -1;
	ctx->stored_partial = arena_strdup(ctx->arena, id);
	ctx->stored_document = 1;
	return 0;
}

/* The partial, written as text while it is made (task_util.h): a json-c tree
 * of every reference's candidates cost more to build, print and free than
 * the matching of a small run. NULL when out of memory. */
static json_object *matches_json(const struct refs *refs, const struct running *r)
{
	struct printbuf *pb = printbuf_new();
	int first = 1;
	if (!pb)
		return NULL;
	printbuf_memappend_fast(pb, "[", 1);
	for (size_t q = 0; q < refs->n; q++) {
		if (!r->counts[q])
			continue;
		if (!first)
			printbuf_memappend_fast(pb, ",", 1);
		first = 0;
		reference_text(pb, refs->ids[q], r->hits + q * r->k, (const char(*)[OBJECTS_ID_SIZE])(r->ids + q * r->k),
			       r->counts[q]);
	}
	printbuf_memappend_fast(pb, "]", 1);
	return task_json_text_array(pb);
}

static void text_uint(struct printbuf *pb, unsigned long long v)
{
	char buf[24];
	char *end = fmt_dec(buf, (long long)v, 1);
	printbuf_memappend_fast(pb, buf, (int)(end - buf));
}

/* The partial of a grid subtask, for collect to merge with the other ranges'
 * (grid_read): [chunk, ref_id, n, cand_id, sim_bits, ... (n pairs), ref_id,
 * ...], references ascending, each similarity as its float's bits so that
 * merging compares and writes exactly the values one subtask would have. */
static json_object *grid_json(long long chunk, const struct refs *refs, const struct running *r)
{
	struct printbuf *pb = printbuf_new();
	if (!pb)
		return NULL;
	printbuf_memappend_fast(pb, "[", 1);
	text_uint(pb, (unsigned long long)chunk);
	for (size_t q = 0; q < refs->n; q++) {
		if (!r->counts[q])
			continue;
		printbuf_memappend_fast(pb, ",", 1);
		task_text_string(pb, refs->ids[q]);
		printbuf_memappend_fast(pb, ",", 1);
		text_uint(pb, r->counts[q]);
		for (size_t i = 0; i < r->counts[q]; i++) {
			uint32_t bits;
			memcpy(&bits, &r->hits[q * r->k + i].sim, sizeof(bits));
			printbuf_memappend_fast(pb, ",", 1);
			task_text_string(pb, r->ids[q * r->k + i]);
			printbuf_memappend_fast(pb, ",", 1);
			text_uint(pb, bits);
		}
	}
	printbuf_memappend_fast(pb, "]", 1);
	return task_json_text_array(pb);
}

/* Both sides of the content; -1 with fail set. */
static int read_sides(struct task_ctx *ctx, json_object *content, struct side *ref, struct side *cand,
		      struct task_fail *fail)
{
	json_object *filters = task_json_get(content, "filters");
	enum descriptor_type dtype = task_descriptor_type(task_json_get(filters, "descriptor"));
	const char *account = task_account(ctx, filters);
	int version = descriptor_default_version(ctx->cfg, dtype);
	*ref = (struct side){side_kind(filters, "reference_type", fail), task_json_get(filters, "reference_filters"),
			     "reference_filters", account, dtype, version};
	*cand = (struct side){side_kind(filters, "candidate_type", fail), task_json_get(filters, "candidate_filters"),
			      "candidate_filters", account, dtype, version};
	return ref->kind && cand->kind ? 0 : -1;
}

static int cross_match_run(struct task_ctx *ctx, json_object *content, json_object *subtask, json_object **partial,
			   struct task_fail *fail)
{
	struct side ref, cand;
	struct refs refs = {0};
	struct running run = {0};
	struct objects_cursor *cands = NULL;
	int rc = -1;
	if (task_require_objects(ctx, fail) || read_sides(ctx, content, &ref, &cand, fail))
		return -1;
	long long limit = task_json_int(content, "limit", 5);
	run.threshold = (float)task_json_double(content, "threshold", 0.0);
	run.nthreads = ctx->cfg->match_threads;
	if (open_candidates(ctx, &cand, subtask, &cands, fail) || load_refs(ctx, &ref, subtask, &refs, fail) ||
	    task_check_cancelled(ctx, fail))
		goto out;
	if (refs.n) {
		if (running_alloc(&run, &refs, limit < 1 ? 1 : (size_t)limit)) {
			task_fail(fail, E_INTERNAL, "out of memory");
			goto out;
		}
		if (stream_candidates(ctx, &cand, cands, &refs, &run, fail))
			goto out;
	}
	json_object *chunk = task_json_get(subtask, "chunk");
	if (!chunk && json_object_get_boolean(task_json_get(subtask, "alone"))) {
		rc = store_alone(ctx, &refs, &run, fail);
		goto out;
	}
	*partial = chunk ? grid_json(json_object_get_int64(chunk), &refs, &run) : matches_json(&refs, &run);
	if (!*partial) {
		task_fail(fail, E_INTERNAL, "out of memory");
		goto out;
	}
	rc = 0;
out:
	objects_cursor_close(cands);
	refs_free(&refs);
	running_free(&run);
	return rc;
}

/* ---- Collect: merging the candidate ranges of a chunk ---------------------- */

/* Per reference (ascending), its best hits (sim only) and their ids: the
 * merged lists of a chunk, or one grid partial read back. */
struct tops {
	size_t n, cap, k;
	char (*refs)[OBJECTS_ID_SIZE];
	size_t *counts;
	struct match_hit *hits;        /* cap x k */
	char (*ids)[OBJECTS_ID_SIZE];  /* cap x k */
};

static void tops_free(struct tops *t)
{
	free(t->refs);
	free(t->counts);
	free(t->hits);
	free(t->ids);
	*t = (struct tops){.k = t->k};
}

/* Room for cap references; the lists are empty. */
static int tops_alloc(struct tops *t, size_t cap)
{
	size_t k = t->k;
	*t = (struct tops){.cap = cap, .k = k};
	t->refs = malloc((cap ? cap : 1) * OBJECTS_ID_SIZE);
	t->counts = malloc((cap ? cap : 1) * sizeof(*t->counts));
	t->hits = malloc((cap ? cap : 1) * k * sizeof(*t->hits));
	t->ids = malloc((cap ? cap : 1) * k * OBJECTS_ID_SIZE);
	if (t->refs && t->counts && t->hits && t->ids)
		return 0;
	tops_free(t);
	return -1;
}

/* A cursor over a grid partial's text (grid_json). */
struct reader {
	const char *p, *end;
};

/* Skips blanks and one separating comma; the next character, 0 at the end. */
static char reader_peek(struct reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == ',' || *r->p == '\n'))
		r->p++;
	return r->p < r->end ? *r->p : 0;
}

static int read_uint(struct reader *r, unsigned long long max, unsigned long long *v)
{
	char c = reader_peek(r);
	if (c < '0' || c > '9')
		return -1;
	*v = 0;
	while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
		*v = *v * 10 + (unsigned long long)(*r->p++ - '0');
		if (*v > max)
			return -1;
	}
	return 0;
}

/* A JSON string of an id (as task_text_string writes it: escapes of ASCII
 * characters only) into out. */
static int read_id(struct reader *r, char out[OBJECTS_ID_SIZE])
{
	static const char esc_in[] = "\"\\/bfnrt", esc_out[] = "\"\\/\b\f\n\r\t";
	size_t n = 0;
	if (reader_peek(r) != '"')
		return -1;
	for (r->p++; r->p < r->end && *r->p != '"'; r->p++) {
		char c = *r->p;
		if (c == '\\' && ++r->p < r->end) {
			const char *e = strchr(esc_in, *r->p);
			unsigned u;
			if (*r->p == 'u' && r->end - r->p > 4 && sscanf(r->p + 1, "%4x", &u) == 1 && u < 0x80) {
				c = (char)u;
				r->p += 4;
			} else if (e && *e) {
				c = esc_out[e - esc_in];
			} else {
				return -1;
			}
		}
		if (n + 1 >= OBJECTS_ID_SIZE)
			return -1;
		out[n++] = c;
	}
	if (r->p >= r->end)
		return -1;
	r->p++;
	out[n] = 0;
	return 0;
}

/* 1 when text is a grid partial ([chunk, ...]), 0 when it is a result array. */
static int is_grid_partial(const char *text, size_t len)
{
	struct reader r = {text, text + len};
	if (reader_peek(&r) != '[')
		return 0;
	r.p++;
	char c = reader_peek(&r);
	return c >= '0' && c <= '9';
}

/* One reference's list of a grid partial into slot i of t. */
static int read_reference(struct reader *r, struct tops *t, size_t i)
{
	unsigned long long n, bits;
	if (read_id(r, t->refs[i]) || read_uint(r, t->k, &n))
		return -1;
	for (size_t j = 0; j < n; j++) {
		float sim;
		if (read_id(r, t->ids[i * t->k + j]) || read_uint(r, UINT32_MAX, &bits))
			return -1;
		uint32_t b32 = (uint32_t)bits;
		memcpy(&sim, &b32, sizeof(sim));
		t->hits[i * t->k + j] = (struct match_hit){(uint32_t)j, sim};
	}
	t->counts[i] = n;
	return 0;
}

/* Counts the references of a grid partial (the items after the chunk). */
static size_t grid_references(const char *text, size_t len)
{
	int in_string = 0;
	size_t items = 0;
	for (size_t i = 0; i < len; i++) {
		if (in_string && text[i] == '\\')
			i++;
		else if (text[i] == '"')
			in_string = !in_string;
		else if (!in_string && text[i] == ',')
			items++;
		else if (!in_string && text[i] == ']')
			break;
	}
	/* items (commas) after the chunk; each reference is at least 2 (id, count) */
	return items / 2;
}

/* A grid partial into t (allocated here) and its chunk; -1 when malformed. */
static int grid_read(const char *text, size_t len, long long *chunk, struct tops *t)
{
	struct reader r = {text, text + len};
	unsigned long long c;
	if (reader_peek(&r) != '[')
		return -1;
	r.p++;
	if (read_uint(&r, LLONG_MAX, &c) || tops_alloc(t, grid_references(text, len)))
		return -1;
	*chunk = (long long)c;
	while (reader_peek(&r) == '"') {
		if (t->n == t->cap || read_reference(&r, t, t->n))
			return -1;
		t->n++;
	}
	return reader_peek(&r) == ']' ? 0 : -1;
}

/* Hit i of list a before hit j of list b: similarity descending, then id. */
static int hit_before(const struct tops *a, size_t ia, const struct tops *b, size_t ib)
{
	float sa = a->hits[ia].sim, sb = b->hits[ib].sim;
	if (sa != sb)
		return sa > sb;
	return strcmp(a->ids[ia], b->ids[ib]) < 0;
}

/* The best k of reference ia of a and ib of b into slot i of out. */
static void merge_lists(const struct tops *a, size_t ia, const struct tops *b, size_t ib, struct tops *out, size_t i)
{
	size_t k = out->k, x = 0, y = 0, na = a->counts[ia], nb = b->counts[ib], n = 0;
	while (n < k && (x < na || y < nb)) {
		int from_a = y >= nb || (x < na && hit_before(a, ia * k + x, b, ib * k + y));
		const struct tops *s = from_a ? a : b;
		size_t src = from_a ? ia * k + x++ : ib * k + y++;
		out->hits[i * k + n] = s->hits[src];
		memcpy(out->ids[i * k + n], s->ids[src], OBJECTS_ID_SIZE);
		n++;
	}
	out->counts[i] = n;
}

/* Copies reference ia of a into slot i of out. */
static void copy_list(const struct tops *a, size_t ia, struct tops *out, size_t i)
{
	size_t k = out->k, n = a->counts[ia];
	memcpy(out->refs[i], a->refs[ia], OBJECTS_ID_SIZE);
	memcpy(out->hits + i * k, a->hits + ia * k, n * sizeof(*out->hits));
	memcpy(out->ids + i * k, a->ids + ia * k, n * OBJECTS_ID_SIZE);
	out->counts[i] = n;
}

/* acc and the lists of p (references ascending in both) merged into acc. */
static int tops_merge(struct tops *acc, const struct tops *p)
{
	struct tops out = {.k = acc->k};
	if (tops_alloc(&out, acc->n + p->n))
		return -1;
	size_t x = 0, y = 0;
	while (x < acc->n || y < p->n) {
		int c = x >= acc->n ? 1 : y >= p->n ? -1 : strcmp(acc->refs[x], p->refs[y]);
		if (c < 0) {
			copy_list(acc, x++, &out, out.n);
		} else if (c > 0) {
			copy_list(p, y++, &out, out.n);
		} else {
			memcpy(out.refs[out.n], acc->refs[x], OBJECTS_ID_SIZE);
			merge_lists(acc, x++, p, y++, &out, out.n);
		}
		out.n++;
	}
	tops_free(acc);
	*acc = out;
	return 0;
}

/* The merged lists of a chunk as result items into f. */
static int tops_write(const struct tops *t, FILE *f, int *first)
{
	struct printbuf *pb = printbuf_new();
	if (!pb)
		return -1;
	for (size_t i = 0; i < t->n; i++)
		reference_item(pb, f, first, t->refs[i], t->hits + i * t->k,
			       (const char(*)[OBJECTS_ID_SIZE])(t->ids + i * t->k), t->counts[i]);
	printbuf_free(pb);
	return 0;
}

/* The result items of every partial: result arrays copied as text, the
 * grid partials of each chunk merged, the chunk written once the next
 * partial is of another chunk. */
struct collect_state {
	json_object *partial_ids;
	size_t k;
	struct tops acc;        /* the current chunk's merged lists */
	long long chunk;        /* -1: none */
	int first;
};

static int flush_chunk(struct collect_state *st, FILE *f)
{
	int rc = st->chunk >= 0 ? tops_write(&st->acc, f, &st->first) : 0;
	tops_free(&st->acc);
	st->chunk = -1;
	return rc;
}

/* One stored partial into the result or the current chunk. */
static int collect_partial(struct collect_state *st, const char *text, size_t len, FILE *f)
{
	if (!is_grid_partial(text, len))
		return flush_chunk(st, f) || task_write_items_text(f, text, len, &st->first) ? -1 : 0;
	struct tops p = {.k = st->k};
	long long chunk = -1;
	int rc = grid_read(text, len, &chunk, &p);
	if (rc == 0 && chunk != st->chunk)
		rc = flush_chunk(st, f);
	st->chunk = chunk;
	if (rc == 0)
		rc = tops_merge(&st->acc, &p);
	tops_free(&p);
	return rc;
}

static int write_matches(struct task_ctx *ctx, void *ud, FILE *f, struct task_fail *fail)
{
	struct collect_state *st = ud;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < json_object_array_length(st->partial_ids); i++) {
		const char *id = json_object_get_string(json_object_array_get_idx(st->partial_ids, i));
		void *data = NULL;
		size_t len;
		if (!id)
			continue;
		if (ctx->store->ops->get(ctx->store, id, &data, &len)) {
			task_fail(fail, E_STORAGE, "cannot read the partial result %s: %s", id, strerror(errno));
			rc = -1;
		} else if (collect_partial(st, data, len, f)) {
			task_fail(fail, E_STORAGE, "the partial result %s cannot be merged (malformed, or out of memory)",
				  id);
			rc = -1;
		}
		free(data);
		if (rc == 0)
			rc = task_check_cancelled(ctx, fail);
	}
	if (rc == 0 && flush_chunk(st, f)) {
		task_fail(fail, E_INTERNAL, "out of memory");
		rc = -1;
	}
	tops_free(&st->acc);
	return rc;
}

/* partials are the blob ids of the subtasks' partials (collect_reads_partials),
 * read one at a time, never parsed into one tree. A task planned as one
 * subtask whose run stored the result document (store_alone) does not come
 * here: the scheduler adopts that blob by the subtask row's mark. One
 * planned by a release without the "alone" mark stored a partial list, made
 * into the document here. */
static int cross_match_collect(struct task_ctx *ctx, json_object *content, json_object *partials,
			       json_object **result, struct task_fail *fail)
{
	long long limit = task_json_int(content, "limit", 5);
	struct collect_state st = {partials, limit < 1 ? 1 : (size_t)limit, {0}, -1, 1};
	st.acc.k = st.k;
	*result = NULL;
	if (!ctx->store) {
		task_fail(fail, E_STORAGE, "no result store");
		return -1;
	}
	return task_store_result_items(ctx, write_matches, &st, fail);
}

const struct task_type task_cross_match = {
	.id = 6,
	.name = "cross_match",
	.result_is_zip = 0,
	.collect_reads_partials = 1,
	.validate = cross_match_validate,
	.plan = cross_match_plan,
	.run_subtask = cross_match_run,
	.collect = cross_match_collect,
};
