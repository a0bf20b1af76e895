/*
 * test_match_blocked.c - unit test of match_pairs_above_from and
 * match_pairs_stream: the pairs of rows matched in blocks (several splits:
 * one step, blocks across the 1024-row tile edge, a block of one row) are
 * exactly the pairs of match_pairs_above over all rows, with the same
 * similarity bits, under the fp32 and the int8 products, also when a later
 * block holds non-finite values; argument checks; the stream's thread pool
 * (every run calls each thread index below its count once, whatever the
 * counts of the runs before).
 *
 * Workload: 2,200 rows of 64-d around 300 centres (many pairs above the
 * threshold, some exactly duplicated rows: ties), a threshold of 0.9 and
 * thresholds that are similarities of the data (a pair right at the
 * threshold, one a float step above it: where a product's error matters);
 * a few seconds.
 *
 * Prints one line per failed check and "N passed, M failed"; exits nonzero
 * on failure.
 */
#include "match/match_pairs_blocked.h"
#include "match/match_internal.h"
#include "check.h"

#include <stdatomic.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROWS 2200
#define DIM 64
#define CENTRES 300
#define THRESHOLD 0.9f
/* Thresholds taken from the data: pairs at and one float step above them. */
#define EDGE_THRESHOLDS 2

struct pair {
	uint32_t i, j;
	float sim;
};

struct pairs {
	struct pair *v;
	size_t n, cap;
};

static int add_pair(void *ud, uint32_t i, uint32_t j, float sim)
{
	struct pairs *p = ud;
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 1024;
		p->v = realloc(p->v, p->cap * sizeof *p->v);
		if (!p->v) {
			printf("out of memory\n");
			exit(2);
		}
	}
	p->v[p->n++] = (struct pair){ i, j, sim };
	return 0;
}

static int cmp_pair(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	if (x->i != y->i)
		return x->i < y->i ? -1 : 1;
	return x->j < y->j ? -1 : x->j > y->j;
}

#define TEST_RNG_SEED 4242
#include "test_rng.h"

/* Rows near random centres, every 97th row a copy of the row before. */
static float *make_rows(void)
{
	float *c = malloc(CENTRES * DIM * sizeof *c), *x = malloc(ROWS * DIM * sizeof *x);
	if (!c || !x) {
		printf("out of memory\n");
		exit(2);
	}
	for (size_t k = 0; k < CENTRES * DIM; k++)
		c[k] = (float)uniform();
	for (size_t i = 0; i < ROWS; i++) {
		size_t p = (size_t)((uniform() + 1.0) * 0.5 * CENTRES) % CENTRES;
		for (size_t k = 0; k < DIM; k++)
			x[i * DIM + k] = i % 97 == 1 ? x[(i - 1) * DIM + k] : c[p * DIM + k] + (float)(0.12 * uniform());
	}
	free(c);
	match_normalize(x, ROWS, DIM);
	return x;
}

/* The pairs of the split bounds[0] = 0 < ... < bounds[nb - 1] = ROWS, sorted. */
static struct pairs blocked(const float *x, float t, const size_t *bounds, size_t nb, int nthreads)
{
	struct pairs p = { 0 };
	for (size_t k = 1; k < nb; k++)
		CHECK(match_pairs_above_from(x, bounds[k - 1], bounds[k], DIM, t, nthreads, add_pair, &p) == 0,
		      "step %zu", k);
	qsort(p.v, p.n, sizeof *p.v, cmp_pair);
	return p;
}

/* The same split through one match_pairs_stream, starting with nthreads
 * (1 or 2) and alternating (its kept tile buffers then grow). */
static struct pairs streamed(const float *x, float t, const size_t *bounds, size_t nb, int nthreads)
{
	struct pairs p = { 0 };
	struct match_pairs_stream *s = match_pairs_stream_new(x, ROWS, DIM, t, add_pair, &p);
	CHECK(s != NULL, "stream");
	for (size_t k = 1; s && k < nb; k++)
		CHECK(match_pairs_stream_add(s, bounds[k], 1 + (int)((k - 1 + (size_t)nthreads - 1) % 2)) == 0 &&
		      match_pairs_stream_rows(s) == bounds[k], "stream step %zu", k);
	match_pairs_stream_free(s);
	qsort(p.v, p.n, sizeof *p.v, cmp_pair);
	return p;
}

static int same_pairs(const struct pairs *a, const struct pairs *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t k = 0; k < a->n; k++)
		if (a->v[k].i != b->v[k].i || a->v[k].j != b->v[k].j ||
		    memcmp(&a->v[k].sim, &b->v[k].sim, sizeof(float)) != 0)
			return 0;
	return 1;
}

static void test_splits(const float *x, float t)
{
	static const size_t one[] = { 0, ROWS };
	static const size_t halves[] = { 0, 1100, ROWS };
	static const size_t edges[] = { 0, 1, 1023, 1024, 1025, 2048, 2199, ROWS };
	static const size_t uneven[] = { 0, 700, 1900, ROWS };
	const struct {
		const size_t *b;
		size_t n;
	} splits[] = { { one, 2 }, { halves, 3 }, { edges, 8 }, { uneven, 4 } };
	struct pairs all = { 0 };
	CHECK(match_pairs_above(x, ROWS, DIM, t, 2, add_pair, &all) == 0);
	qsort(all.v, all.n, sizeof *all.v, cmp_pair);
	CHECK(all.n > 0, "no pairs above %.9g: the data should give some", (double)t);
	for (size_t s = 0; s < sizeof splits / sizeof *splits; s++) {
		int nt = 1 + (int)(s % 2);   /* one and two threads in turn */
		struct pairs p = blocked(x, t, splits[s].b, splits[s].n, nt);
		CHECK(same_pairs(&all, &p), "%s, threshold %.9g, split %zu, %d threads: %zu pairs, want %zu",
		      match_kernel_in_use(), (double)t, s, nt, p.n, all.n);
		free(p.v);
		p = streamed(x, t, splits[s].b, splits[s].n, 3 - nt);
		CHECK(same_pairs(&all, &p), "stream: %s, threshold %.9g, split %zu, %d threads: %zu pairs, want %zu",
		      match_kernel_in_use(), (double)t, s, 3 - nt, p.n, all.n);
		free(p.v);
	}
	free(all.v);
}

static int cmp_float_desc(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return x > y ? -1 : x < y;
}

/* Similarities of row 0's nearest rows (below 1, so not its copy): each is a
 * threshold with a pair right at it. */
static void edge_thresholds(const float *x, float *t)
{
	float *sims = malloc(ROWS * sizeof *sims);
	if (!sims) {
		printf("out of memory\n");
		exit(2);
	}
	for (size_t j = 1; j < ROWS; j++)
		sims[j - 1] = match_similarity(x, x + j * DIM, DIM);
	qsort(sims, ROWS - 1, sizeof *sims, cmp_float_desc);
	size_t k = 0;
	for (size_t j = 0; j < ROWS - 1 && k < EDGE_THRESHOLDS; j++)
		if (sims[j] < 0.999f)
			t[k++] = sims[j];
	free(sims);
}

static void test_kernel(const float *x, enum match_kernel kernel)
{
	float edges[EDGE_THRESHOLDS];
	match_set_kernel(kernel);
	edge_thresholds(x, edges);
	test_splits(x, THRESHOLD);
	for (size_t k = 0; k < EDGE_THRESHOLDS; k++) {
		test_splits(x, edges[k]);
		test_splits(x, nextafterf(edges[k], 0.0f));
	}
}

static int stop_at_once(void *ud, uint32_t i, uint32_t j, float sim)
{
	(void)ud;
	(void)i;
	(void)j;
	(void)sim;
	return 7;
}

static void test_arguments(const float *x)
{
	struct pairs p = { 0 };
	errno = 0;
	CHECK(match_pairs_above_from(x, 11, 10, DIM, THRESHOLD, 1, add_pair, &p) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(match_pairs_above_from(x, 0, 10, DIM, NAN, 1, add_pair, &p) == -1 && errno == EINVAL);
	CHECK(match_pairs_above_from(x, 10, 10, DIM, THRESHOLD, 1, add_pair, &p) == 0 && p.n == 0);
	CHECK(match_pairs_above_from(x, 5, 10, DIM, 1.0f, 1, add_pair, &p) == 0 && p.n == 0);
	/* A callback's stop ends the cross part too (copies guarantee pairs there). */
	CHECK(match_pairs_above_from(x, 1, 2, DIM, THRESHOLD, 1, stop_at_once, NULL) == 7);
	free(p.v);
}

/* A block with non-finite values turns a stream's int8 product into sgemm
 * over all rows: still the pairs of one match_pairs_above call. */
static void test_stream_non_finite(const float *x)
{
	static const size_t split[] = { 0, 1024, 1500, ROWS };
	float *y = malloc(ROWS * DIM * sizeof *y);
	if (!y) {
		printf("out of memory\n");
		exit(2);
	}
	memcpy(y, x, ROWS * DIM * sizeof *y);
	y[1200 * DIM + 3] = INFINITY;
	y[1201 * DIM] = NAN;
	match_set_kernel(MATCH_KERNEL_INT8);
	struct pairs all = { 0 };
	CHECK(match_pairs_above(y, ROWS, DIM, THRESHOLD, 2, add_pair, &all) == 0);
	qsort(all.v, all.n, sizeof *all.v, cmp_pair);
	struct pairs p = streamed(y, THRESHOLD, split, 4, 2);
	CHECK(all.n > 0 && same_pairs(&all, &p), "non-finite block: %zu pairs, want %zu", p.n, all.n);
	free(p.v);
	free(all.v);
	free(y);
}

static void test_stream_arguments(const float *x)
{
	struct pairs p = { 0 };
	errno = 0;
	CHECK(match_pairs_stream_new(x, 10, DIM, NAN, add_pair, &p) == NULL && errno == EINVAL);
	errno = 0;
	CHECK(match_pairs_stream_new(x, 10, DIM, THRESHOLD, NULL, &p) == NULL && errno == EINVAL);
	struct match_pairs_stream *s = match_pairs_stream_new(x, 10, DIM, THRESHOLD, add_pair, &p);
	CHECK(s != NULL);
	if (s) {
		errno = 0;
		CHECK(match_pairs_stream_add(s, 11, 1) == -1 && errno == EINVAL);
		CHECK(match_pairs_stream_add(s, 5, 1) == 0 && match_pairs_stream_rows(s) == 5 && p.n > 0);
		errno = 0;
		CHECK(match_pairs_stream_add(s, 4, 1) == -1 && errno == EINVAL);
		CHECK(match_pairs_stream_add(s, 5, 1) == 0);
		match_pairs_stream_free(s);
	}
	p.n = 0;
	s = match_pairs_stream_new(x, 10, DIM, 1.0f, add_pair, &p);
	CHECK(s && match_pairs_stream_add(s, 10, 1) == 0 && p.n == 0);
	match_pairs_stream_free(s);
	/* A callback's stop is the add's result (row 1 is a copy of row 0). */
	s = match_pairs_stream_new(x, 10, DIM, THRESHOLD, stop_at_once, NULL);
	CHECK(s && match_pairs_stream_add(s, 1, 1) == 0 && match_pairs_stream_add(s, 2, 1) == 7);
	match_pairs_stream_free(s);
	free(p.v);
}

#define POOL_MAX 5

struct pool_calls {
	atomic_int calls[POOL_MAX + 1];
};

static void count_call(void *job, int thread)
{
	struct pool_calls *c = job;
	atomic_fetch_add(&c->calls[thread < POOL_MAX ? thread : POOL_MAX], 1);
}

/* Runs of 1..POOL_MAX threads in a mixed order on one pool: each calls
 * thread indices 0..n-1 once each and no other. */
static void test_pool(void)
{
	static const int counts[] = { 1, 3, 2, 1, 5, 4, 1, 5, 2, 3 };
	struct match_pool *pool = match_pool_new();
	CHECK(pool != NULL);
	for (int round = 0; pool && round < 50; round++) {
		int n = counts[round % (int)(sizeof counts / sizeof *counts)];
		struct pool_calls c;
		for (int t = 0; t <= POOL_MAX; t++)
			atomic_init(&c.calls[t], 0);
		match_pool_run(pool, n, count_call, &c);
		int ok = 1;
		for (int t = 0; t <= POOL_MAX; t++)
			ok &= atomic_load(&c.calls[t]) == (t < n);
		CHECK(ok, "run %d of %d threads", round, n);
	}
	match_pool_free(pool);
}

int main(void)
{
	float *x = make_rows();
	test_kernel(x, MATCH_KERNEL_FP32);
	test_kernel(x, MATCH_KERNEL_INT8);
	test_kernel(x, MATCH_KERNEL_INT8_256);
	test_arguments(x);
	test_stream_arguments(x);
	test_stream_non_finite(x);
	test_pool();
	free(x);
	return CHECK_DONE();
}
