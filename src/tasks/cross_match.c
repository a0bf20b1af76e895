/* Task type cross match (6): every reference object (faces, events or
 * attributes chosen by reference_filters) against every candidate (chosen by
 * candidate_filters); per reference the candidates with similarity >=
 * threshold, sorted by similarity descending (ties by candidate id), at most
 * limit of them; references left with no candidate are left out.
 * Workload: millions of candidates. Planning pages through the reference ids
 * and cuts them into id ranges of [TASKS] CROSS_MATCH_REFERENCES_PER_SUBTASK,
 * one subtask each (they run on every scheduler that is up). A subtask loads
 * its references, then streams the candidates [TASKS] MATCH_BLOCK_ROWS at a
 * time through match_topk, folding each block into a running top limit per
 * reference, so its memory does not grow with the number of candidates.
 * match_topk reports the canonical similarity (match.h), so the result is
 * the same however references and candidates are split.
 * Collect concatenates the partials' text in subtask order (references
 * ascending) into the result, one partial in memory at a time.
 * Result: [{reference_id, candidates: [{candidate_id, similarity}]}]. */
#include "tasks/task_type.h"
#include "tasks/task_util.h"
#include "backends/objects.h"
#include "common/errors.h"
#include "match/match.h"
#include <errno.h>
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

/* Reference id ranges (after, upto] of CROSS_MATCH_REFERENCES_PER_SUBTASK
 * ids each, read one page at a time; no references: one subtask over all. */
static int cross_match_plan(struct task_ctx *ctx, json_object *content, json_object **subtasks,
			    struct task_fail *fail)
{
	if (task_require_objects(ctx, fail))
		return -1;
	json_object *filters = task_json_get(content, "filters");
	enum objects_kind kind = side_kind(filters, "reference_type", fail);
	if (!kind)
		return -1;
	json_object *ref_filters = task_json_get(filters, "reference_filters");
	const char *account = task_account(ctx, filters);
	size_t per = (size_t)ctx->cfg->cross_match_references;
	char after[OBJECTS_ID_SIZE] = "";
	json_object *out = json_object_new_array();
	for (;;) {
		struct arena *page = arena_new();
		char **ids;
		size_t n;
		int rc = task_check_cancelled(ctx, fail);
		if (!rc && objects_page_ids(ctx->objects, page, kind, ref_filters, account, *after ? after : NULL, NULL, per,
					    &ids, &n))
			rc = task_objects_fail(ctx, fail, "reference_filters");
		if (!rc && n)
			json_object_array_add(out, range_subtask(*after ? after : NULL, ids[n - 1]));
		if (!rc && n)
			snprintf(after, sizeof(after), "%s", ids[n - 1]);
		arena_free(page);
		if (rc) {
			json_object_put(out);
			return -1;
		}
		if (n < per)
			break;
	}
	if (json_object_array_length(out) == 0)
		json_object_array_add(out, range_subtask(NULL, NULL));
	*subtasks = out;
	return 0;
}

/* One subtask's references, ascending by id. */
struct refs {
	size_t n, d;
	float *x;
	char (*ids)[OBJECTS_ID_SIZE];
};

static void refs_free(struct refs *r)
{
	free(r->x);
	free(r->ids);
}

/* Appends a block of references (their number is about the planned chunk;
 * more only when objects were added inside the range since planning). */
static int refs_append(struct refs *r, const struct objects_block *b)
{
	float *x = realloc(r->x, (r->n + b->n) * b->d * sizeof(float));
	if (x)
		r->x = x;
	char(*ids)[OBJECTS_ID_SIZE] = realloc(r->ids, (r->n + b->n) * OBJECTS_ID_SIZE);
	if (ids)
		r->ids = ids;
	if (!x || !ids)
		return -1;
	memcpy(r->x + r->n * b->d, b->x, b->n * b->d * sizeof(float));
	for (size_t i = 0; i < b->n; i++)
		memcpy(r->ids[r->n + i], b->ids[i], OBJECTS_ID_SIZE);
	r->n += b->n;
	r->d = b->d;
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

static int load_refs(struct task_ctx *ctx, const struct side *s, json_object *subtask, struct refs *r,
		     struct task_fail *fail)
{
	struct objects_cursor *c;
	const struct objects_block *b;
	size_t rows = (size_t)ctx->cfg->cross_match_references;
	if (side_open(ctx, s, 0, rows, task_json_str(subtask, "after", NULL), task_json_str(subtask, "upto", NULL), &c,
		      fail))
		return -1;
	int rc = 0;
	while (rc == 0) {
		if (objects_cursor_next(c, &b)) {
			rc = task_objects_fail(ctx, fail, s->filters_key);
			break;
		}
		if (b->n == 0)
			break;
		if (refs_append(r, b)) {
			task_fail(fail, E_INTERNAL, "out of memory");
			rc = -1;
		}
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
};

static void running_free(struct running *r)
{
	free(r->hits);
	free(r->counts);
	free(r->ids);
	free(r->blk);
	free(r->bcounts);
	free(r->merged);
	free(r->merged_ids);
}

static int running_alloc(struct running *r, size_t nq, size_t k)
{
	r->nq = nq;
	r->k = k;
	r->hits = malloc(nq * k * sizeof(*r->hits));
	r->counts = calloc(nq, sizeof(*r->counts));
	r->ids = malloc(nq * k * OBJECTS_ID_SIZE);
	r->blk = malloc(nq * k * sizeof(*r->blk));
	r->bcounts = malloc(nq * sizeof(*r->bcounts));
	r->merged = malloc(k * sizeof(*r->merged));
	r->merged_ids = malloc(k * OBJECTS_ID_SIZE);
	return r->hits && r->counts && r->ids && r->blk && r->bcounts && r->merged && r->merged_ids ? 0 : -1;
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
static int fold_block(struct running *r, const struct refs *refs, const struct objects_block *b)
{
	if (b->n > UINT32_MAX - r->offset) {
		errno = EOVERFLOW;
		return -1;
	}
	if (match_topk(refs->x, refs->n, b->x, b->n, b->d, r->k, r->threshold, 0, r->nthreads, r->blk, r->bcounts))
		return -1;
	for (size_t q = 0; q < r->nq; q++)
		fold_query(r, q, b);
	r->offset += (uint32_t)b->n;
	return 0;
}

static int stream_candidates(struct task_ctx *ctx, const struct side *s, const struct refs *refs,
			     struct running *r, struct task_fail *fail)
{
	struct objects_cursor *c;
	const struct objects_block *b;
	/* read ahead: the next block comes from MariaDB while this one is matched */
	unsigned flags = ctx->cfg->match_read_ahead ? OBJECTS_CURSOR_READ_AHEAD : 0u;
	if (side_open(ctx, s, flags, (size_t)ctx->cfg->match_block_rows, NULL, NULL, &c, fail))
		return -1;
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
		} else if (fold_block(r, refs, b)) {
			task_fail(fail, E_INTERNAL, "matching failed: %s", strerror(errno));
			rc = -1;
		}
	}
	objects_cursor_close(c);
	return rc;
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
		printbuf_strappend(pb, "{\"reference_id\":");
		task_text_string(pb, refs->ids[q]);
		printbuf_strappend(pb, ",\"candidates\":[");
		for (size_t i = 0; i < r->counts[q]; i++) {
			if (i)
				printbuf_memappend_fast(pb, ",", 1);
			printbuf_strappend(pb, "{\"candidate_id\":");
			task_text_string(pb, r->ids[q * r->k + i]);
			printbuf_strappend(pb, ",\"similarity\":");
			task_text_similarity(pb, r->hits[q * r->k + i].sim);
			printbuf_memappend_fast(pb, "}", 1);
		}
		printbuf_strappend(pb, "]}");
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
	int rc = -1;
	if (task_require_objects(ctx, fail) || read_sides(ctx, content, &ref, &cand, fail))
		return -1;
	long long limit = task_json_int(content, "limit", 5);
	run.threshold = (float)task_json_double(content, "threshold", 0.0);
	run.nthreads = ctx->cfg->match_threads;
	if (load_refs(ctx, &ref, subtask, &refs, fail) || task_check_cancelled(ctx, fail))
		goto out;
	if (refs.n) {
		if (running_alloc(&run, refs.n, limit < 1 ? 1 : (size_t)limit)) {
			task_fail(fail, E_INTERNAL, "out of memory");
			goto out;
		}
		if (stream_candidates(ctx, &cand, &refs, &run, fail))
			goto out;
	}
	if (!(*partial = matches_json(&refs, &run))) {
		task_fail(fail, E_INTERNAL, "out of memory");
		goto out;
	}
	rc = 0;
out:
	refs_free(&refs);
	running_free(&run);
	return rc;
}

/* The partials hold disjoint, ascending reference ranges in subtask order;
 * partials are their blob ids (collect_reads_partials), copied into the
 * result one at a time as text, never parsed into one tree. */
static int cross_match_collect(struct task_ctx *ctx, json_object *content, json_object *partials,
			       json_object **result, struct task_fail *fail)
{
	(void)content;
	*result = NULL;
	return task_store_concat_stored_result(ctx, partials, fail);
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
