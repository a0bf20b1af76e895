/* Task type roc (7): a ROC curve over a labelled markup of faces and/or
 * attributes (face descriptors of the default version). Items with equal
 * labels are the same person. All pairs within the markup, walked by
 * similarity descending, give the curve: TPR = TP / P, FPR = FP / (T − P)
 * (ordered pairs; the ratios equal those of unordered pairs). Reported: the
 * curve (thinned to steps of 0.001 in FPR or TPR), the AUC (trapezoids over
 * every distinct similarity), the point where 1 − TPR = FPR, the last point
 * with FPR <= each key_FPRs value, and the top-1…5 hit probability: per item
 * with a same-label partner, whether its first same-label candidate (among its
 * top `limit` candidates with similarity >= threshold_hit_top) ranks <= N.
 * Ids that do not exist or lack the descriptor become task errors.
 * Workload: one subtask, up to 20000 items (2·10^8 pairs). The markup's
 * descriptors, asked for in id order and each id once, are read straight
 * into their items' rows (markup order, one buffer advised for huge pages),
 * found among the items sorted by id. Up to
 * EXACT_MAX_PAIRS pairs are kept and sorted exactly; beyond that they are
 * counted in a histogram of HIST_BINS similarity bins (1e-6 wide), so memory
 * stays O(N·d + bins). */
#include "tasks/task_type.h"
#include "tasks/task_util.h"
#include "backends/objects.h"
#include "common/big_alloc.h"
#include "common/errors.h"
#include "match/match.h"
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define EXACT_MAX_PAIRS (2u << 20)
#define HIST_BINS (1u << 20)
#define CURVE_STEP 0.001
#define TOP_N 5

struct markup_item {
	const char *id;
	int is_attribute;
	long long label;
};

/* One similarity level of the walk: pairs at (or, binned, around) sim. */
struct roc_group {
	double sim;
	uint64_t pos, neg;
};

/* The levels of the walk from the top: the exact pairs' groups, or the
 * histogram's non-empty bins, read where they are (no copy of up to a
 * million bins to walk them once). */
struct roc_levels {
	struct roc_group *exact;       /* exact: ng groups; NULL: binned */
	size_t ng;
	uint64_t *pos, *neg;           /* binned: HIST_BINS bins each (big_alloc) */
	size_t next;                   /* exact: the next group; binned: bins not yet walked */
};

struct roc_point {
	double fpr, tpr, sim;
};

static int roc_validate(struct task_ctx *ctx, json_object *content, struct task_fail *fail)
{
	(void)ctx;
	json_object *markup = task_json_get(content, "markup");
	size_t n = markup ? json_object_array_length(markup) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *it = json_object_array_get_idx(markup, i);
		if (!task_json_get(it, "face_id") == !task_json_get(it, "attribute_id")) {
			task_fail(fail, E_BAD_JSON,
				  "Failed to validate input json. Path: 'content.markup.%zu', message: 'exactly one of "
				  "face_id and attribute_id is required'",
				  i);
			return -1;
		}
	}
	return 0;
}

static int roc_plan(struct task_ctx *ctx, json_object *content, json_object **subtasks, struct task_fail *fail)
{
	(void)ctx;
	(void)content;
	(void)fail;
	*subtasks = json_object_new_array();
	json_object_array_add(*subtasks, json_object_new_object());
	return 0;
}

/* ---- Loading the markup --------------------------------------------------- */

/* An item's place among the items sorted by (is_attribute, id, index). */
struct item_key {
	const char *id;
	uint32_t idx;
	int is_attribute;
};

/* The markup being loaded: every descriptor read goes straight to the row of
 * its item (markup order), found by binary search among the sorted keys. */
struct markup_load {
	struct item_key *keys;
	size_t m, d;
	float *x;                      /* m x d, allocated with the first descriptor */
	unsigned char *found;          /* per item: its row holds its descriptor */
	int is_attribute;              /* of the load under way */
	int mismatch;                  /* face and attribute descriptors differ in length */
	int oom;
};

static int cmp_key(int attr, const char *id, const struct item_key *k)
{
	if (attr != k->is_attribute)
		return attr < k->is_attribute ? -1 : 1;
	return strcmp(id, k->id);
}

static int cmp_keys(const void *a, const void *b)
{
	const struct item_key *x = a, *y = b;
	int c = cmp_key(x->is_attribute, x->id, y);
	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* The first key of (is_attribute, id); m when absent. */
static size_t first_key(const struct markup_load *l, int is_attribute, const char *id)
{
	size_t lo = 0, hi = l->m;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (cmp_key(is_attribute, id, &l->keys[mid]) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < l->m && cmp_key(is_attribute, id, &l->keys[lo]) == 0 ? lo : l->m;
}

/* objects_vector_slot_cb: the row of the first item naming id. */
static int markup_slot(void *ud, const char *id, size_t d, float **row)
{
	struct markup_load *l = ud;
	*row = NULL;
	if (!l->x) {
		l->d = d;
		if (!(l->x = big_alloc(l->m * d * sizeof(float))))
			return l->oom = -1;
	}
	if (d != l->d) {
		l->mismatch = 1;
		return -1;
	}
	size_t k = first_key(l, l->is_attribute, id);
	if (k < l->m) {
		l->found[l->keys[k].idx] = 1;
		*row = l->x + (size_t)l->keys[k].idx * d;
	}
	return 0;
}

/* Items naming an id again get the descriptor of its first item. */
static void copy_repeated_items(struct markup_load *l)
{
	for (size_t k = 1; k < l->m; k++) {
		const struct item_key *first = &l->keys[k - 1], *again = &l->keys[k];
		if (cmp_key(first->is_attribute, first->id, again) != 0 || !l->found[first->idx])
			continue;
		memcpy(l->x + (size_t)again->idx * l->d, l->x + (size_t)first->idx * l->d, l->d * sizeof(float));
		l->found[again->idx] = 1;
		l->keys[k].idx = first->idx;   /* a third one copies from the first as well */
	}
}

/* Descriptors of the markup in markup order; unknown items are reported and dropped. */
static int load_markup(struct task_ctx *ctx, json_object *content, float **x, int32_t **labels, size_t *n,
		       size_t *d, struct task_fail *fail)
{
	json_object *markup = task_json_get(content, "markup");
	const char *account = task_account(ctx, task_json_get(content, "filters"));
	size_t m = markup ? json_object_array_length(markup) : 0;
	char **ids[2];
	size_t nids[2] = {0, 0};
	ids[0] = arena_alloc(ctx->arena, (m + 1) * sizeof(char *));
	ids[1] = arena_alloc(ctx->arena, (m + 1) * sizeof(char *));
	struct markup_item *items = arena_alloc(ctx->arena, (m + 1) * sizeof(*items));
	struct markup_load l = {arena_alloc(ctx->arena, (m + 1) * sizeof(struct item_key)), m, 0, NULL,
				arena_alloc(ctx->arena, m + 1), 0, 0, 0};
	for (size_t i = 0; i < m; i++) {
		json_object *it = json_object_array_get_idx(markup, i);
		const char *fid = task_json_str(it, "face_id", NULL);
		items[i] = (struct markup_item){fid ? fid : task_json_str(it, "attribute_id", ""), fid == NULL,
						task_json_int(it, "label", 0)};
		l.keys[i] = (struct item_key){items[i].id, (uint32_t)i, items[i].is_attribute};
		l.found[i] = 0;
	}
	qsort(l.keys, m, sizeof(*l.keys), cmp_keys);
	/* Each id once, in id order: the database then reads its index pages in
	 * order, and no row is named twice. */
	for (size_t k = 0; k < m; k++)
		if (k == 0 || cmp_key(l.keys[k - 1].is_attribute, l.keys[k - 1].id, &l.keys[k]) != 0)
			ids[l.keys[k].is_attribute][nids[l.keys[k].is_attribute]++] = (char *)l.keys[k].id;
	int version = descriptor_default_version(ctx->cfg, DESCRIPTOR_FACE);
	int loaded = 0;
	for (int attr = 0; attr < 2 && loaded == 0; attr++) {
		l.is_attribute = attr;
		loaded = objects_load_vectors_by_ids(ctx->objects, attr ? OBJ_ATTRIBUTES : OBJ_FACES, account, ids[attr],
						     nids[attr], DESCRIPTOR_FACE, version, markup_slot, &l);
	}
	*x = l.x;
	if (l.mismatch) {
		task_fail(fail, E_BAD_JSON, "face and attribute descriptors differ in length");
		return -1;
	}
	if (loaded && !l.oom)
		return task_objects_fail(ctx, fail, "loading the markup descriptors");
	*labels = malloc((m + 1) * sizeof(int32_t));
	if (l.oom || !*labels) {
		task_fail(fail, E_INTERNAL, "out of memory");
		return -1;
	}
	copy_repeated_items(&l);
	size_t k = 0;
	for (size_t i = 0; i < m; i++) {
		if (!l.found[i]) {
			task_report_error(ctx, E_OBJECTS_NOT_FOUND, "%s with id '%s' not found or without a face descriptor "
				       "of version %d", items[i].is_attribute ? "Attribute" : "Face", items[i].id, version);
			continue;
		}
		if (k != i)
			memmove(l.x + k * l.d, l.x + i * l.d, l.d * sizeof(float));
		(*labels)[k++] = (int32_t)items[i].label;
	}
	*n = k;
	*d = l.d;
	return 0;
}

/* ---- Exact pairs ------------------------------------------------------------- */

struct pair_sim {
	float sim;
	uint32_t pos;
};

struct exact_job {
	const int32_t *labels;
	struct pair_sim *pairs;
	size_t npairs;
	pthread_mutex_t lock;
	atomic_int *cancelled;
};

static int collect_tile(void *ud, int thread, size_t i0, size_t ni, size_t j0, size_t nj, const float *sims)
{
	struct exact_job *job = ud;
	(void)thread;
	if (job->cancelled && atomic_load(job->cancelled))
		return 1;
	size_t cap = ni * nj, k = 0;
	struct pair_sim *buf = malloc((cap ? cap : 1) * sizeof(*buf));
	if (!buf)
		return 1;
	for (size_t r = 0; r < ni; r++)
		for (size_t c = (i0 == j0 ? r + 1 : 0); c < nj; c++)
			buf[k++] = (struct pair_sim){sims[r * nj + c],
						     job->labels[i0 + r] == job->labels[j0 + c]};
	pthread_mutex_lock(&job->lock);
	memcpy(job->pairs + job->npairs, buf, k * sizeof(*buf));
	job->npairs += k;
	pthread_mutex_unlock(&job->lock);
	free(buf);
	return 0;
}

static int cmp_pair_desc(const void *a, const void *b)
{
	float x = ((const struct pair_sim *)a)->sim, y = ((const struct pair_sim *)b)->sim;
	return x > y ? -1 : x < y;
}

/* Every pair, sorted, grouped by equal similarity. */
static int exact_groups(struct task_ctx *ctx, const float *x, const int32_t *labels, size_t n, size_t d,
			struct roc_levels *lv)
{
	size_t total = n * (n - 1) / 2;
	struct exact_job job = {labels, malloc(total * sizeof(struct pair_sim)), 0, PTHREAD_MUTEX_INITIALIZER,
				ctx->cancelled};
	int rc = -1;
	if (!job.pairs || match_self_tiles(x, n, d, ctx->cfg->match_threads, collect_tile, &job) || job.npairs != total)
		goto out;
	qsort(job.pairs, total, sizeof(*job.pairs), cmp_pair_desc);
	struct roc_group *groups = lv->exact = malloc(total * sizeof(*groups));
	if (!groups)
		goto out;
	size_t g = 0;
	for (size_t i = 0; i < total; i++) {
		if (g == 0 || groups[g - 1].sim != job.pairs[i].sim)
			groups[g++] = (struct roc_group){job.pairs[i].sim, 0, 0};
		if (job.pairs[i].pos)
			groups[g - 1].pos++;
		else
			groups[g - 1].neg++;
	}
	lv->ng = g;
	rc = 0;
out:
	free(job.pairs);
	return rc;
}

/* The pairs' histogram (match_pair_histogram zeroes the bins itself, so
 * warm blocks of an earlier task serve: no fresh pages to fault in). */
static int binned_groups(const float *x, const int32_t *labels, size_t n, size_t d, int nthreads,
			 struct roc_levels *lv)
{
	lv->pos = big_alloc(HIST_BINS * sizeof(uint64_t));
	lv->neg = big_alloc(HIST_BINS * sizeof(uint64_t));
	lv->next = HIST_BINS;
	return !lv->pos || !lv->neg || match_pair_histogram(x, labels, n, d, HIST_BINS, nthreads, lv->pos, lv->neg);
}

/* The next level from the top into *g; 0 when none is left. */
static int next_level(struct roc_levels *lv, struct roc_group *g)
{
	if (lv->exact) {
		if (lv->next == lv->ng)
			return 0;
		*g = lv->exact[lv->next++];
		return 1;
	}
	while (lv->next > 0) {
		size_t b = --lv->next;
		if (lv->pos[b] || lv->neg[b]) {
			*g = (struct roc_group){(double)b / HIST_BINS, lv->pos[b], lv->neg[b]};
			return 1;
		}
	}
	return 0;
}

static void levels_free(struct roc_levels *lv)
{
	free(lv->exact);
	big_free_warm(lv->pos);
	big_free_warm(lv->neg);
}

/* ---- The curve --------------------------------------------------------------- */

static json_object *point_json(const struct roc_point *p)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "FPR", json_object_new_double(p->fpr));
	json_object_object_add(o, "TPR", json_object_new_double(p->tpr));
	json_object_object_add(o, "similarity", task_json_similarity(p->sim));
	return o;
}

/* Walks the levels into out: curve points, AUC, the equal-error point and
 * key points. -1 when out of memory (out unchanged). */
static int walk_curve(struct roc_levels *lv, uint64_t npos, uint64_t nneg, json_object *key_fprs, json_object *out)
{
	struct roc_point prev = {0, 0, 1}, last_emitted = {0, 0, 1}, eer = {0, 0, 1};
	double auc = 0, best_gap = 2;
	size_t nkeys = key_fprs ? json_object_array_length(key_fprs) : 0;
	struct roc_point *keys = calloc(nkeys ? nkeys : 1, sizeof(*keys));
	double *key_fpr = calloc(nkeys ? nkeys : 1, sizeof(*key_fpr));
	uint64_t tp = 0, fp = 0;
	if (!keys || !key_fpr) {
		free(keys);
		free(key_fpr);
		return -1;
	}
	json_object *curve = json_object_new_array();
	for (size_t k = 0; k < nkeys; k++) {
		keys[k] = (struct roc_point){0, 0, 1};
		key_fpr[k] = json_object_get_double(json_object_array_get_idx(key_fprs, k));
	}
	struct roc_group g, after;
	int walked = next_level(lv, &g), more = walked;
	while (more) {
		more = next_level(lv, &after); /* the last level is always a point of the curve */
		tp += g.pos;
		fp += g.neg;
		struct roc_point p = {(double)fp / (double)nneg, (double)tp / (double)npos, g.sim};
		auc += (p.fpr - prev.fpr) * (p.tpr + prev.tpr) / 2;
		double gap = fabs(p.fpr - (1 - p.tpr));
		if (gap < best_gap) {
			best_gap = gap;
			eer = p;
		}
		for (size_t k = 0; k < nkeys; k++)
			if (p.fpr <= key_fpr[k])
				keys[k] = p;
		if (p.fpr - last_emitted.fpr >= CURVE_STEP || p.tpr - last_emitted.tpr >= CURVE_STEP || !more) {
			json_object_array_add(curve, point_json(&p));
			last_emitted = p;
		}
		prev = p;
		g = after;
	}
	json_object_object_add(out, "roc", curve);
	json_object_object_add(out, "auc", json_object_new_double(auc));
	json_object_object_add(out, "type_I_and_II_error_rates_equal_point", walked ? point_json(&eer) : NULL);
	json_object *kp = NULL;
	if (key_fprs) {
		kp = json_object_new_array();
		for (size_t k = 0; k < nkeys; k++)
			json_object_array_add(kp, point_json(&keys[k]));
	}
	json_object_object_add(out, "key_points", kp);
	free(keys);
	free(key_fpr);
	return 0;
}

/* Share of items (with a same-label partner) whose first same-label candidate ranks within top-N. */
static int hit_top(const float *x, const int32_t *labels, const uint32_t *group, size_t n, size_t d, size_t limit,
		   double threshold, int nthreads, json_object *out)
{
	size_t k = limit < n - 1 ? limit : n - 1;
	struct match_hit *hits = malloc(n * (k ? k : 1) * sizeof(*hits));
	size_t *counts = calloc(n, sizeof(size_t));
	uint64_t hit[TOP_N + 1] = {0}, eligible = 0;
	int rc = -1;
	if (!hits || !counts)
		goto out;
	if (k && match_topk(x, n, x, n, d, k, (float)threshold, 1, nthreads, hits, counts))
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (group[i] < 2)
			continue;
		eligible++;
		for (size_t r = 0; r < counts[i]; r++)
			if (labels[hits[i * k + r].idx] == labels[i]) {
				for (size_t t = r + 1; t <= TOP_N; t++)
					hit[t]++;
				break;
			}
	}
	json_object *probs = json_object_new_object();
	for (int t = 1; t <= TOP_N; t++) {
		char key[8];
		snprintf(key, sizeof(key), "top-%d", t);
		json_object_object_add(probs, key,
				       eligible ? json_object_new_double((double)hit[t] / (double)eligible) : NULL);
	}
	json_object_object_add(out, "hit_top_probability", probs);
	rc = 0;
out:
	free(hits);
	free(counts);
	return rc;
}

struct label_ref {
	int32_t label;
	uint32_t idx;
};

static int cmp_label(const void *a, const void *b)
{
	int32_t x = ((const struct label_ref *)a)->label, y = ((const struct label_ref *)b)->label;
	return x < y ? -1 : x > y;
}

/* group[i] = number of items sharing item i's label (itself included);
 * positive (same-label) and negative unordered pair counts. */
static int label_groups(const int32_t *labels, size_t n, uint32_t *group, uint64_t *npos, uint64_t *nneg)
{
	struct label_ref *refs = malloc(n * sizeof(*refs));
	if (!refs)
		return -1;
	for (size_t i = 0; i < n; i++)
		refs[i] = (struct label_ref){labels[i], (uint32_t)i};
	qsort(refs, n, sizeof(*refs), cmp_label);
	*npos = 0;
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i; j < n && refs[j].label == refs[i].label; j++)
			;
		uint64_t size = j - i;
		*npos += size * (size - 1) / 2;
		for (size_t k = i; k < j; k++)
			group[refs[k].idx] = (uint32_t)size;
	}
	*nneg = (uint64_t)n * (n - 1) / 2 - *npos;
	free(refs);
	return 0;
}

static int roc_run(struct task_ctx *ctx, json_object *content, json_object *subtask, json_object **partial,
		   struct task_fail *fail)
{
	float *x = NULL;
	int32_t *labels = NULL;
	struct roc_levels levels = {0};
	uint32_t *group = NULL;
	size_t n = 0, d = 0;
	int rc = -1;
	(void)subtask;
	if (task_require_objects(ctx, fail))
		return -1;
	if (load_markup(ctx, content, &x, &labels, &n, &d, fail))
		goto out;
	if (n < 2) {
		task_fail(fail, E_OBJECTS_NOT_FOUND, "fewer than 2 markup objects with descriptors were found");
		goto out;
	}
	uint64_t npos, nneg;
	group = malloc(n * sizeof(uint32_t));
	if (!group || label_groups(labels, n, group, &npos, &nneg)) {
		task_fail(fail, E_INTERNAL, "out of memory");
		goto out;
	}
	if (!npos || !nneg) {
		task_fail(fail, E_BAD_JSON,
			  "the markup needs at least one pair with equal labels and one with different labels");
		goto out;
	}
	int grouped = n * (n - 1) / 2 <= EXACT_MAX_PAIRS ? exact_groups(ctx, x, labels, n, d, &levels)
							 : binned_groups(x, labels, n, d, ctx->cfg->match_threads, &levels);
	if (task_check_cancelled(ctx, fail))
		goto out;
	if (grouped) {
		task_fail(fail, E_INTERNAL, "matching failed");
		goto out;
	}
	json_object *res = json_object_new_object();
	if (walk_curve(&levels, npos, nneg, task_json_get(content, "key_FPRs"), res)) {
		json_object_put(res);
		task_fail(fail, E_INTERNAL, "out of memory");
		goto out;
	}
	if (hit_top(x, labels, group, n, d, (size_t)task_json_int(content, "limit", 5),
		    task_json_double(content, "threshold_hit_top", 0), ctx->cfg->match_threads, res)) {
		json_object_put(res);
		task_fail(fail, E_INTERNAL, "matching failed");
		goto out;
	}
	*partial = res;
	rc = 0;
out:
	big_free_warm(x); /* the next task's rows need no fresh pages */
	free(labels);
	levels_free(&levels);
	free(group);
	return rc;
}

const struct task_type task_roc = {
	.id = 7,
	.name = "roc",
	.result_is_zip = 0,
	.validate = roc_validate,
	.plan = roc_plan,
	.run_subtask = roc_run,
	.result_from_subtask = 1,
};
