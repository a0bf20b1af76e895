/* Task type cross match (6): every reference object (faces, events or
 * attributes chosen by reference_filters) against every candidate (chosen by
 * candidate_filters); per reference the candidates with similarity >=
 * threshold, sorted by similarity descending (ties by candidate id), at most
 * limit of them; references left with no candidate are left out.
 * Workload: one subtask; up to 20000 × 20000 descriptors through
 * match_topk (tiled products with a per-query top-k, both cores).
 * Result: [{reference_id, candidates: [{candidate_id, similarity}]}]. */
#include "tasks/task_type.h"
#include "tasks/task_util.h"
#include "backends/objects.h"
#include "common/errors.h"
#include "match/match.h"
#include <stdlib.h>
#include <string.h>

static int cross_match_validate(struct task_ctx *ctx, json_object *content, struct task_fail *fail)
{
	(void)ctx;
	json_object *filters = task_json_get(content, "filters");
	static const char *const sides[2][2] = {{"reference_type", "reference_filters"},
						{"candidate_type", "candidate_filters"}};
	for (int s = 0; s < 2; s++) {
		enum objects_kind kind = objects_kind_from_name(task_json_str(filters, sides[s][0], NULL));
		struct arena *a = arena_new();
		struct objects_where w;
		char err[512];
		int bad = objects_where_build(a, kind, task_json_get(filters, sides[s][1]), NULL, &w, err, sizeof(err));
		arena_free(a);
		if (bad) {
			task_fail_set(fail, 400, E_BAD_JSON,
				      "Failed to validate input json. Path: 'content.filters.%s', message: '%s'",
				      sides[s][1], err);
			return -1;
		}
	}
	return 0;
}

static int cross_match_plan(struct task_ctx *ctx, json_object *content, json_object **subtasks,
			    struct task_fail *fail)
{
	(void)ctx;
	(void)content;
	(void)fail;
	*subtasks = json_object_new_array();
	json_object_array_add(*subtasks, json_object_new_object());
	return 0;
}

/* One side's descriptors. */
static int load_side(struct task_ctx *ctx, json_object *filters, const char *type_key, const char *filters_key,
		     enum descriptor_type dtype, const char *account, struct objects_vectors *v, struct task_fail *fail)
{
	enum objects_kind kind = objects_kind_from_name(task_json_str(filters, type_key, NULL));
	if (!kind) {
		task_fail_set(fail, 400, E_BAD_JSON, "%s must be faces, events or attributes", type_key);
		return -1;
	}
	if (objects_load_vectors(ctx->objects, ctx->arena, kind, task_json_get(filters, filters_key), account, dtype,
				 descriptor_default_version(ctx->cfg, dtype), 0, 0, v))
		return task_objects_fail(ctx, fail, filters_key);
	return 0;
}

static json_object *matches_json(const struct objects_vectors *ref, const struct objects_vectors *cand,
				 const struct match_hit *hits, const size_t *counts, size_t k)
{
	json_object *out = json_object_new_array();
	for (size_t q = 0; q < ref->n; q++) {
		if (!counts[q])
			continue;
		json_object *cands = json_object_new_array_ext((int)counts[q]);
		for (size_t i = 0; i < counts[q]; i++) {
			const struct match_hit *h = &hits[q * k + i];
			json_object *c = json_object_new_object();
			json_object_object_add(c, "candidate_id", json_object_new_string(cand->ids[h->idx]));
			json_object_object_add(c, "similarity", task_json_similarity(h->sim));
			json_object_array_add(cands, c);
		}
		json_object *r = json_object_new_object();
		json_object_object_add(r, "reference_id", json_object_new_string(ref->ids[q]));
		json_object_object_add(r, "candidates", cands);
		json_object_array_add(out, r);
	}
	return out;
}

static int cross_match_run(struct task_ctx *ctx, json_object *content, json_object *subtask, json_object **partial,
			   struct task_fail *fail)
{
	struct objects_vectors ref, cand;
	struct match_hit *hits = NULL;
	size_t *counts = NULL;
	int rc = -1;
	(void)subtask;
	if (task_require_objects(ctx, fail))
		return -1;
	json_object *filters = task_json_get(content, "filters");
	const char *account = task_account(ctx, filters);
	enum descriptor_type dtype = task_descriptor_type(task_json_get(filters, "descriptor"));
	double threshold = task_json_double(content, "threshold", 0.0);
	long long limit = task_json_int(content, "limit", 5);
	if (limit < 1)
		limit = 1;
	if (load_side(ctx, filters, "reference_type", "reference_filters", dtype, account, &ref, fail) ||
	    task_check_cancelled(ctx, fail) ||
	    load_side(ctx, filters, "candidate_type", "candidate_filters", dtype, account, &cand, fail) ||
	    task_check_cancelled(ctx, fail))
		return -1;
	if (ref.n && cand.n && ref.d != cand.d) {
		task_fail_set(fail, 400, E_BAD_JSON, "reference descriptors have %zu values, candidate ones %zu", ref.d,
			      cand.d);
		return -1;
	}
	size_t k = (size_t)limit < cand.n ? (size_t)limit : cand.n;
	if (ref.n && k) {
		hits = malloc(ref.n * k * sizeof(*hits));
		counts = calloc(ref.n, sizeof(*counts));
		if (!hits || !counts) {
			task_fail_set(fail, 500, E_INTERNAL, "out of memory");
			goto out;
		}
		if (match_topk(ref.x, ref.n, cand.x, cand.n, ref.d, k, (float)threshold, 0, 0, hits, counts)) {
			task_fail_set(fail, 500, E_INTERNAL, "matching failed");
			goto out;
		}
		if (task_check_cancelled(ctx, fail))
			goto out;
	} else {
		counts = calloc(ref.n ? ref.n : 1, sizeof(*counts));
		if (!counts)
			goto out;
	}
	*partial = matches_json(&ref, &cand, hits, counts, k);
	rc = 0;
out:
	free(hits);
	free(counts);
	return rc;
}

static int cross_match_collect(struct task_ctx *ctx, json_object *content, json_object *partials,
			       json_object **result, struct task_fail *fail)
{
	(void)content;
	return task_collect_single(ctx, partials, "cross match", result, fail);
}

const struct task_type task_cross_match = {
	.id = 6,
	.name = "cross_match",
	.result_is_zip = 0,
	.validate = cross_match_validate,
	.plan = cross_match_plan,
	.run_subtask = cross_match_run,
	.collect = cross_match_collect,
};
