/*
 * test_match.c - unit test of src/match against a naive double-precision
 * brute force on random data: normalisation, single similarities, self and
 * cross tiles, pairs above a threshold, top-k and the ROC pair histogram.
 *
 * Workload: sizes of a few hundred to ~2300 rows (just past the 1024-row tile
 * and block edges; 8300 queries once, so that a 2-thread top-k splits only
 * the queries), n = 0/1/2 edge cases, data with
 * exact similarity ties (rows of four +-0.5 entries, whose dot products are
 * exact multiples of 0.25 in any summation order) and 1..3 threads.
 * Runs in a few seconds; small enough for valgrind.
 *
 * Prints one line per failed check and finally "N passed, M failed"; exits
 * nonzero on failure. Standalone build from the top of the tree:
 *   cc -std=gnu11 -O2 -Isrc tests/unit/test_match.c src/match/match*.c \
 *      src/common/big_alloc.c $(pkg-config --cflags --libs openblas) -lpthread -lm -o test_match
 */
#include "match/match.h"
#include "check.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 2e-5 /* float products vs double brute force, unit vectors */

/* ---- data ------------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rng_uniform(void) /* [-1, 1) */
{
	return (double)(rng_next() >> 11) / (double)(1ull << 52) - 1.0;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p) {
		printf("out of memory\n");
		exit(2);
	}
	return p;
}

static void ref_normalize(float *x, size_t n, size_t d)
{
	for (size_t i = 0; i < n; i++) {
		double ss = 0;
		for (size_t k = 0; k < d; k++)
			ss += (double)x[i * d + k] * x[i * d + k];
		if (ss > 0)
			for (size_t k = 0; k < d; k++)
				x[i * d + k] = (float)(x[i * d + k] / sqrt(ss));
	}
}

/* Unit rows with uniform random entries. */
static float *random_rows(size_t n, size_t d)
{
	float *x = xcalloc(n * d, sizeof *x);
	for (size_t i = 0; i < n * d; i++)
		x[i] = (float)rng_uniform();
	ref_normalize(x, n, d);
	return x;
}

/* Unit rows around ncl centres (row i in cluster i % ncl), so high
 * similarities are common; labels (if wanted) are the cluster ids. */
static float *clustered_rows(size_t n, size_t d, size_t ncl, double noise, int32_t *labels)
{
	float *c = random_rows(ncl, d);
	float *x = xcalloc(n * d, sizeof *x);
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < d; k++)
			x[i * d + k] = (float)(c[(i % ncl) * d + k] + noise * rng_uniform());
		if (labels)
			labels[i] = (int32_t)(i % ncl);
	}
	ref_normalize(x, n, d);
	free(c);
	return x;
}

/* Rows of four +-0.5 entries among d: unit length, every dot product an
 * exact multiple of 0.25, so similarities tie exactly and often. */
static float *tie_rows(size_t n, size_t d)
{
	float *x = xcalloc(n * d, sizeof *x);
	for (size_t i = 0; i < n; i++) {
		size_t placed = 0;
		while (placed < 4) {
			size_t k = rng_next() % d;
			if (x[i * d + k] != 0.0f)
				continue;
			x[i * d + k] = (rng_next() & 3) == 0 ? -0.5f : 0.5f;
			placed++;
		}
	}
	return x;
}

static double ref_sim(const float *a, const float *b, size_t d)
{
	double s = 0;
	for (size_t k = 0; k < d; k++)
		s += (double)a[k] * b[k];
	return s < 0 ? 0 : (s > 1 ? 1 : s);
}

/* ---- normalize / similarity ------------------------------------------------ */

static void test_normalize(void)
{
	size_t n = 37, d = 13;
	float *x = xcalloc(n * d, sizeof *x), *orig = xcalloc(n * d, sizeof *x);
	for (size_t i = 0; i < n * d; i++)
		x[i] = (float)(rng_uniform() * 10.0);
	for (size_t k = 0; k < d; k++) {
		x[5 * d + k] = 0.0f;                          /* zero row */
		x[6 * d + k] = (float)(rng_uniform() * 1e-20); /* tiny row */
	}
	memcpy(orig, x, n * d * sizeof *x);
	match_normalize(x, n, d);

	int bad_norm = 0, bad_dir = 0, bad_zero = 0;
	for (size_t i = 0; i < n; i++) {
		double ss = 0, oss = 0;
		for (size_t k = 0; k < d; k++) {
			ss += (double)x[i * d + k] * x[i * d + k];
			oss += (double)orig[i * d + k] * orig[i * d + k];
		}
		if (i == 5) {
			bad_zero += ss != 0.0;
			continue;
		}
		bad_norm += fabs(sqrt(ss) - 1.0) > 1e-6;
		for (size_t k = 0; k < d; k++)
			bad_dir += fabs(x[i * d + k] - orig[i * d + k] / sqrt(oss)) > 1e-6;
	}
	CHECK(bad_norm == 0, "%d rows not unit length", bad_norm);
	CHECK(bad_dir == 0, "%d entries changed direction", bad_dir);
	CHECK(bad_zero == 0, "zero row became nonzero");

	match_normalize(x, 0, d); /* no-ops must not crash */
	match_normalize(x, n, 0);
	CHECK(1, "empty normalise");
	free(x);
	free(orig);
}

static void test_similarity(void)
{
	size_t d = 64, n = 50;
	float *x = random_rows(n, d);
	int bad = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			float s = match_similarity(x + i * d, x + j * d, d);
			bad += fabs(s - ref_sim(x + i * d, x + j * d, d)) > 1e-6 || s < 0 || s > 1;
		}
	CHECK(bad == 0, "%d similarities differ from brute force", bad);

	float e0[4] = { 1, 0, 0, 0 }, e1[4] = { 0, 1, 0, 0 }, m0[4] = { -1, 0, 0, 0 };
	CHECK(match_similarity(e0, e0, 4) == 1.0f, "identical unit vectors: %g",
	      match_similarity(e0, e0, 4));
	CHECK(match_similarity(e0, e1, 4) == 0.0f, "orthogonal vectors");
	CHECK(match_similarity(e0, m0, 4) == 0.0f, "opposite vectors must clamp to 0");
	float big[4] = { 2, 0, 0, 0 };
	CHECK(match_similarity(big, e0, 4) == 1.0f, "dot above 1 must clamp to 1");
	CHECK(match_similarity(e0, e1, 0) == 0.0f, "d = 0");
	free(x);
}

/* ---- tiles ----------------------------------------------------------------- */

struct tiles_check {
	const float *a, *b;
	size_t na, nb, d;
	int self, nthreads, abort_rc;
	pthread_mutex_t lock;
	unsigned char *seen; /* na * nb visit counts */
	long bad_value, bad_shape, bad_thread, calls;
};

static int tiles_cb(void *ud, int thread, size_t i0, size_t ni, size_t j0, size_t nj,
                    const float *sims)
{
	struct tiles_check *t = ud;
	long bad_value = 0, bad_shape = 0;

	if (ni == 0 || nj == 0 || ni > MATCH_TILE || nj > MATCH_TILE || i0 + ni > t->na ||
	    j0 + nj > t->nb || (t->self && (j0 < i0 || (j0 == i0 && ni != nj))))
		bad_shape++;
	pthread_mutex_lock(&t->lock);
	t->calls++;
	if (thread < 0 || thread >= match_max_threads(t->nthreads))
		t->bad_thread++;
	if (!bad_shape) {
		for (size_t r = 0; r < ni; r++)
			for (size_t c = (t->self && i0 == j0) ? r + 1 : 0; c < nj; c++) {
				size_t i = i0 + r, j = j0 + c;
				float s = sims[r * nj + c];
				double ref = ref_sim(t->a + i * t->d, t->b + j * t->d, t->d);
				bad_value += !(s >= 0.0f && s <= 1.0f) || fabs(s - ref) > TOL;
				if (t->seen[i * t->nb + j] < 255)
					t->seen[i * t->nb + j]++;
			}
	}
	t->bad_value += bad_value;
	t->bad_shape += bad_shape;
	pthread_mutex_unlock(&t->lock);
	return t->abort_rc;
}

static void run_tiles_case(size_t na, size_t nb, size_t d, int self, int nthreads)
{
	float *a = random_rows(na, d), *b = self ? a : random_rows(nb, d);
	struct tiles_check t = { .a = a, .b = b, .na = na, .nb = nb, .d = d, .self = self,
	                         .nthreads = nthreads };
	pthread_mutex_init(&t.lock, NULL);
	t.seen = xcalloc(na * nb, 1);

	int rc = self ? match_self_tiles(a, na, d, nthreads, tiles_cb, &t)
	              : match_cross_tiles(a, na, b, nb, d, nthreads, tiles_cb, &t);
	long missing = 0, twice = 0, extra = 0;
	for (size_t i = 0; i < na; i++)
		for (size_t j = 0; j < nb; j++) {
			int want = !self || j > i;
			unsigned char got = t.seen[i * nb + j];
			missing += want && got == 0;
			twice += got > 1;
			extra += !want && got != 0;
		}
	const char *kind = self ? "self" : "cross";
	CHECK(rc == 0, "%s %zux%zu d=%zu: rc %d", kind, na, nb, d, rc);
	CHECK(t.bad_shape == 0, "%s %zux%zu: %ld bad tile shapes", kind, na, nb, t.bad_shape);
	CHECK(t.bad_thread == 0, "%s %zux%zu: %ld bad thread ids", kind, na, nb, t.bad_thread);
	CHECK(t.bad_value == 0, "%s %zux%zu d=%zu: %ld values off", kind, na, nb, d, t.bad_value);
	CHECK(missing == 0 && twice == 0 && extra == 0,
	      "%s %zux%zu: coverage missing %ld, twice %ld, outside %ld", kind, na, nb, missing, twice,
	      extra);
	if (na == 0 || nb == 0)
		CHECK(t.calls == 0, "%s empty input: %ld callbacks", kind, t.calls);

	/* abort: the callback's value comes back */
	if (na > 0 && nb > 0) {
		t.abort_rc = 42;
		rc = self ? match_self_tiles(a, na, d, nthreads, tiles_cb, &t)
		          : match_cross_tiles(a, na, b, nb, d, nthreads, tiles_cb, &t);
		CHECK(rc == 42, "%s abort: rc %d", kind, rc);
	}
	pthread_mutex_destroy(&t.lock);
	free(t.seen);
	if (!self)
		free(b);
	free(a);
}

static void test_tiles(void)
{
	static const struct {
		size_t na, nb, d;
		int self, threads;
	} cases[] = {
		{ 0, 0, 8, 1, 2 },       { 1, 1, 8, 1, 2 },       { 2, 2, 8, 1, 2 },
		{ 3, 3, 5, 1, 1 },       { 1023, 1023, 17, 1, 2 }, { 1025, 1025, 33, 1, 2 },
		{ 2100, 2100, 20, 1, 3 }, { 7, 7, 0, 1, 2 },       { 0, 5, 8, 0, 2 },
		{ 5, 0, 8, 0, 2 },       { 1, 1, 3, 0, 2 },       { 3, 1030, 9, 0, 2 },
		{ 1100, 1500, 9, 0, 0 },  { 2050, 40, 6, 0, 3 },
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
		run_tiles_case(cases[c].na, cases[c].nb, cases[c].d, cases[c].self, cases[c].threads);
}

/* ---- pairs above ------------------------------------------------------------ */

struct pairs_check {
	const float *x;
	size_t n, d;
	unsigned char *seen;
	atomic_int inside;
	long concurrent, bad_order, bad_value, calls, stop_after;
	int exact;
};

static int pairs_cb(void *ud, uint32_t i, uint32_t j, float sim)
{
	struct pairs_check *p = ud;
	if (atomic_exchange(&p->inside, 1) != 0)
		p->concurrent++;
	p->calls++;
	if (i >= j || j >= p->n) {
		p->bad_order++;
	} else {
		double ref = ref_sim(p->x + i * p->d, p->x + (size_t)j * p->d, p->d);
		p->bad_value += p->exact ? (double)sim != ref : fabs(sim - ref) > TOL;
		if (p->seen[(size_t)i * p->n + j] < 255)
			p->seen[(size_t)i * p->n + j]++;
	}
	atomic_store(&p->inside, 0);
	return p->stop_after > 0 && p->calls >= p->stop_after ? 5 : 0;
}

static void run_pairs_case(const char *name, const float *x, size_t n, size_t d, float thr,
                           int nthreads, int exact)
{
	struct pairs_check p = { .x = x, .n = n, .d = d, .exact = exact };
	atomic_init(&p.inside, 0);
	p.seen = xcalloc(n * n, 1);
	int rc = match_pairs_above(x, n, d, thr, nthreads, pairs_cb, &p);

	long missing = 0, wrong = 0, twice = 0, expected = 0;
	double band = exact ? 0.0 : TOL;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			double ref = ref_sim(x + i * d, x + j * d, d);
			unsigned char got = p.seen[i * n + j];
			twice += got > 1;
			if (ref > thr + band) {
				expected++;
				missing += got == 0;
			} else if (ref <= thr - band) {
				wrong += got != 0;
			}
		}
	CHECK(rc == 0, "pairs %s: rc %d", name, rc);
	CHECK(p.concurrent == 0, "pairs %s: callback entered concurrently", name);
	CHECK(p.bad_order == 0, "pairs %s: %ld pairs with i >= j or out of range", name, p.bad_order);
	CHECK(p.bad_value == 0, "pairs %s: %ld sims off", name, p.bad_value);
	CHECK(missing == 0 && wrong == 0 && twice == 0,
	      "pairs %s (thr %g): %ld of %ld missing, %ld at or below threshold, %ld twice", name,
	      (double)thr, missing, expected, wrong, twice);

	if (p.calls > 20) { /* stop after 10: exactly 10 calls, the value comes back */
		memset(p.seen, 0, n * n);
		p.calls = 0;
		p.stop_after = 10;
		rc = match_pairs_above(x, n, d, thr, nthreads, pairs_cb, &p);
		CHECK(rc == 5 && p.calls == 10, "pairs %s abort: rc %d after %ld calls", name, rc, p.calls);
	}
	free(p.seen);
}

static void test_pairs_above(void)
{
	float *r = random_rows(1500, 24);
	run_pairs_case("random", r, 1500, 24, 0.3f, 2, 0);
	run_pairs_case("random-1thread", r, 1500, 24, 0.45f, 1, 0);
	run_pairs_case("all", r, 60, 24, -0.5f, 2, 0);
	run_pairs_case("none", r, 60, 24, 1.0f, 2, 0);
	free(r);

	float *c = clustered_rows(2100, 32, 150, 0.25, NULL);
	run_pairs_case("clustered", c, 2100, 32, 0.8f, 3, 0);
	run_pairs_case("clustered-auto", c, 1100, 32, 0.9f, 0, 0);
	free(c);

	float *t = tie_rows(1100, 16);
	run_pairs_case("ties-0.5", t, 1100, 16, 0.5f, 2, 1);
	run_pairs_case("ties-0.25", t, 1100, 16, 0.25f, 2, 1);
	run_pairs_case("ties-0", t, 300, 16, 0.0f, 2, 1);
	run_pairs_case("ties-0.75", t, 300, 16, 0.75f, 2, 1);
	run_pairs_case("ties-1", t, 1100, 16, 1.0f, 2, 1);
	run_pairs_case("n0", t, 0, 16, 0.1f, 2, 1);
	run_pairs_case("n1", t, 1, 16, 0.1f, 2, 1);
	run_pairs_case("n2", t, 2, 16, -1.0f, 2, 1);
	free(t);

	float dup[6] = { 0.6f, 0.8f, 0, 0.6f, 0.8f, 0 };
	run_pairs_case("duplicates", dup, 2, 3, 0.99f, 2, 0);

	errno = 0;
	CHECK(match_pairs_above(dup, 2, 3, NAN, 2, pairs_cb, NULL) == -1 && errno == EINVAL,
	      "NaN threshold must be EINVAL");
}

/* ---- top-k ----------------------------------------------------------------- */

struct ref_hit {
	uint32_t idx;
	double sim;
};

static int ref_hit_cmp(const void *pa, const void *pb)
{
	const struct ref_hit *a = pa, *b = pb;
	if (a->sim != b->sim)
		return a->sim > b->sim ? -1 : 1;
	return a->idx < b->idx ? -1 : (a->idx > b->idx);
}

/* Compare one query's result with the brute force. Float data: a position
 * may hold a different index only if its true similarity is within TOL of
 * the reference's; counts may differ only by candidates within TOL of the
 * threshold. Exact data: identical. */
static int topk_query_ok(const float *q, const float *base, size_t nb, size_t d, size_t k,
                         float thr, int excl, size_t qi, const struct match_hit *got, size_t count,
                         int exact, struct ref_hit *all)
{
	size_t m = 0, near_thr = 0;
	double band = exact ? 0.0 : TOL;
	for (size_t j = 0; j < nb; j++) {
		if (excl && j == qi)
			continue;
		double s = ref_sim(q + qi * d, base + j * d, d);
		if (fabs(s - thr) <= band && band > 0)
			near_thr++;
		if (s >= thr)
			all[m++] = (struct ref_hit){ (uint32_t)j, s };
	}
	qsort(all, m, sizeof *all, ref_hit_cmp);
	size_t want = m < k ? m : k;
	size_t diff = count > want ? count - want : want - count;
	if (count > k || diff > near_thr)
		return 0;
	for (size_t p = 0; p < count; p++) {
		if (got[p].idx >= nb || (excl && got[p].idx == qi))
			return 0;
		if (p > 0 && (got[p].sim > got[p - 1].sim ||
		              (got[p].sim == got[p - 1].sim && got[p].idx <= got[p - 1].idx)))
			return 0; /* order, and no duplicates among equal sims */
		double truth = ref_sim(q + qi * d, base + (size_t)got[p].idx * d, d);
		if (exact) {
			if (p >= want || got[p].idx != all[p].idx || (double)got[p].sim != all[p].sim)
				return 0;
		} else {
			if (fabs(got[p].sim - truth) > TOL || truth < thr - TOL)
				return 0;
			if (p < want && fabs(truth - all[p].sim) > 2 * TOL)
				return 0;
		}
	}
	return 1;
}

static void run_topk_case(const char *name, const float *q, size_t nq, const float *base, size_t nb,
                          size_t d, size_t k, float thr, int excl, int nthreads, int exact)
{
	struct match_hit *out = xcalloc(nq * k + 1, sizeof *out);
	size_t *counts = xcalloc(nq + 1, sizeof *counts);
	struct ref_hit *all = xcalloc(nb + 1, sizeof *all);
	for (size_t i = 0; i < nq; i++)
		counts[i] = 12345; /* must be overwritten */

	int rc = match_topk(q, nq, base, nb, d, k, thr, excl, nthreads, out, counts);
	size_t bad = 0, first_bad = 0, total = 0;
	for (size_t i = 0; i < nq; i++) {
		total += counts[i];
		if (!topk_query_ok(q, base, nb, d, k, thr, excl, i, out + i * k, counts[i], exact, all)) {
			if (bad++ == 0)
				first_bad = i;
		}
	}
	CHECK(rc == 0, "topk %s: rc %d", name, rc);
	CHECK(bad == 0, "topk %s (nq %zu nb %zu k %zu thr %g): %zu queries wrong, first %zu", name, nq,
	      nb, k, (double)thr, bad, first_bad);
	if (k > 0 && nq > 0 && nb > (size_t)(excl != 0) && thr <= 0)
		CHECK(total > 0, "topk %s: no hits at all", name);
	free(out);
	free(counts);
	free(all);
}

static void test_topk(void)
{
	float *a = random_rows(700, 24), *b = random_rows(2500, 24);
	run_topk_case("cross-chunks", a, 700, b, 2500, 24, 10, 0.0f, 0, 2, 0);
	run_topk_case("cross-thr", a, 700, b, 2500, 24, 10, 0.45f, 0, 3, 0);
	run_topk_case("single-query", a, 1, b, 2500, 24, 50, -1.0f, 0, 2, 0);
	run_topk_case("k>nb", a, 5, b, 3, 24, 10, 0.0f, 0, 2, 0);
	run_topk_case("k=all", a, 3, b, 2500, 24, 2500, 0.0f, 0, 2, 0);
	run_topk_case("k=0", a, 5, b, 30, 24, 0, 0.0f, 0, 2, 0);
	run_topk_case("k=1", a, 700, b, 2500, 24, 1, 0.0f, 0, 2, 0);
	run_topk_case("nq=0", a, 0, b, 30, 24, 5, 0.0f, 0, 2, 0);
	run_topk_case("nb=0", a, 4, b, 0, 24, 5, 0.0f, 0, 2, 0);
	run_topk_case("d=0", a, 4, b, 9, 0, 5, 0.0f, 0, 2, 1);
	run_topk_case("d=0-thr", a, 4, b, 9, 0, 5, 0.01f, 0, 2, 1);
	run_topk_case("above-1", a, 4, b, 9, 24, 5, 1.5f, 0, 2, 0);
	free(a);
	free(b);

	float *c = clustered_rows(2300, 16, 200, 0.3, NULL);
	run_topk_case("self-chunks", c, 2300, c, 2300, 16, 7, 0.5f, 1, 2, 0);
	run_topk_case("self-1thread", c, 2300, c, 2300, 16, 12, 0.0f, 1, 1, 0);
	run_topk_case("many-queries", c, 2300, c, 700, 16, 9, 0.0f, 1, 2, 0);
	run_topk_case("self-auto", c, 2300, c, 2300, 16, 3, 0.9f, 1, 0, 0);
	run_topk_case("self-keep", c, 300, c, 300, 16, 4, 0.0f, 0, 2, 0);
	free(c);

	float *t = tie_rows(8300, 12);
	run_topk_case("ties-blocks", t, 8300, t, 1100, 12, 15, 0.5f, 1, 2, 1);
	run_topk_case("ties-self", t, 2300, t, 2300, 12, 15, 0.5f, 1, 2, 1);
	run_topk_case("ties-1thread", t, 2300, t, 2300, 12, 20, 0.0f, 1, 1, 1);
	run_topk_case("ties-chunks", t, 300, t, 2300, 12, 40, 0.25f, 1, 3, 1);
	run_topk_case("ties-zero", t, 20, t, 2300, 12, 30, 0.0f, 0, 2, 1);
	run_topk_case("ties-all", t, 9, t, 2300, 12, 2300, 0.0f, 1, 2, 1);
	run_topk_case("ties-one", t, 2300, t, 2300, 12, 5, 1.0f, 0, 2, 1);
	run_topk_case("ties-k1", t, 1500, t, 2300, 12, 1, 0.0f, 1, 2, 1);
	run_topk_case("ties-n1", t, 1, t, 1, 12, 5, 0.0f, 1, 2, 1);
	run_topk_case("ties-n2", t, 2, t, 2, 12, 5, 0.0f, 1, 2, 1);
	free(t);

	struct match_hit h;
	size_t cnt;
	float v[2] = { 1, 0 };
	errno = 0;
	CHECK(match_topk(v, 1, v, 1, 2, 1, NAN, 0, 1, &h, &cnt) == -1 && errno == EINVAL,
	      "NaN threshold must be EINVAL");
}

/* ---- pair histogram -------------------------------------------------------- */

static size_t ref_bin(double s, size_t nbins)
{
	size_t b = (size_t)(s * (double)nbins);
	return b < nbins ? b : nbins - 1;
}

static void run_hist_case(const char *name, const float *x, const int32_t *labels, size_t n,
                          size_t d, size_t nbins, int nthreads, int exact)
{
	uint64_t *pos = xcalloc(nbins + 1, sizeof *pos), *neg = xcalloc(nbins + 1, sizeof *neg);
	uint64_t *rpos = xcalloc(nbins + 1, sizeof *rpos), *rneg = xcalloc(nbins + 1, sizeof *rneg);
	for (size_t b = 0; b < nbins; b++)
		pos[b] = neg[b] = 777; /* must be overwritten */

	uint64_t ambiguous = 0, rpos_total = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			double s = ref_sim(x + i * d, x + j * d, d);
			int same = labels[i] == labels[j];
			(same ? rpos : rneg)[ref_bin(s, nbins)]++;
			rpos_total += same;
			double lo = s - TOL < 0 ? 0 : s - TOL, hi = s + TOL > 1 ? 1 : s + TOL;
			ambiguous += !exact && ref_bin(lo, nbins) != ref_bin(hi, nbins);
		}
	int rc = match_pair_histogram(x, labels, n, d, nbins, nthreads, pos, neg);

	uint64_t diff = 0, total = 0, pos_total = 0;
	for (size_t b = 0; b < nbins; b++) {
		diff += (pos[b] > rpos[b] ? pos[b] - rpos[b] : rpos[b] - pos[b]) +
		        (neg[b] > rneg[b] ? neg[b] - rneg[b] : rneg[b] - neg[b]);
		total += pos[b] + neg[b];
		pos_total += pos[b];
	}
	uint64_t npairs = n < 2 ? 0 : (uint64_t)n * (n - 1) / 2;
	CHECK(rc == 0, "hist %s: rc %d", name, rc);
	CHECK(total == npairs, "hist %s: %llu pairs counted, want %llu", name,
	      (unsigned long long)total, (unsigned long long)npairs);
	CHECK(pos_total == rpos_total, "hist %s: %llu positives, want %llu", name,
	      (unsigned long long)pos_total, (unsigned long long)rpos_total);
	CHECK(diff <= 2 * ambiguous, "hist %s: bins differ by %llu (%llu pairs near bin edges)", name,
	      (unsigned long long)diff, (unsigned long long)ambiguous);
	free(pos);
	free(neg);
	free(rpos);
	free(rneg);
}

static void test_histogram(void)
{
	size_t n = 2100;
	int32_t *labels = xcalloc(n, sizeof *labels);
	float *c = clustered_rows(n, 16, 300, 0.4, labels);
	run_hist_case("clustered", c, labels, n, 16, 100, 2, 0);
	run_hist_case("clustered-1bin", c, labels, 1200, 16, 1, 3, 0);
	run_hist_case("clustered-auto", c, labels, 1100, 16, 1000, 0, 0);
	free(c);

	float *t = tie_rows(n, 12);
	for (size_t i = 0; i < n; i++)
		labels[i] = (int32_t)(rng_next() % 5);
	run_hist_case("ties-8", t, labels, n, 12, 8, 2, 1);
	run_hist_case("ties-4", t, labels, 1030, 12, 4, 1, 1);
	run_hist_case("n0", t, labels, 0, 12, 4, 2, 1);
	run_hist_case("n1", t, labels, 1, 12, 4, 2, 1);
	run_hist_case("n2", t, labels, 2, 12, 4, 2, 1);

	uint64_t h1[1], h2[1];
	errno = 0;
	CHECK(match_pair_histogram(t, labels, 4, 12, 0, 2, h1, h2) == -1 && errno == EINVAL,
	      "nbins = 0 must be EINVAL");
	free(t);
	free(labels);
}

/* ---- OpenBLAS thread count is restored ------------------------------------- */

static int count_tiles(void *ud, int thread, size_t i0, size_t ni, size_t j0, size_t nj,
                       const float *sims)
{
	(void)thread, (void)i0, (void)ni, (void)j0, (void)nj, (void)sims;
	atomic_fetch_add((atomic_int *)ud, 1);
	return 0;
}

static void test_max_threads(void)
{
	CHECK(match_max_threads(3) == 3, "match_max_threads(3) = %d", match_max_threads(3));
	CHECK(match_max_threads(0) >= 1 && match_max_threads(-1) == match_max_threads(0),
	      "match_max_threads(0) = %d", match_max_threads(0));
}

static void test_blas_threads_restored(void)
{
	int before = openblas_get_num_threads();
	float *x = random_rows(1500, 8);
	atomic_int tiles;
	atomic_init(&tiles, 0);
	int rc = match_self_tiles(x, 1500, 8, 2, count_tiles, &tiles);
	CHECK(rc == 0 && atomic_load(&tiles) == 3, "self tiles of 1500 rows: rc %d, %d tiles", rc,
	      atomic_load(&tiles));
	CHECK(openblas_get_num_threads() == before, "OpenBLAS threads %d, was %d",
	      openblas_get_num_threads(), before);
	free(x);
}


/* The exact top k of one query by brute force: match_similarity of every
 * base row, at or above thr, best first (sim descending, index ascending). */
static size_t exact_topk(const float *q, const float *base, size_t nb, size_t d, size_t k, float thr,
                         struct ref_hit *all, struct match_hit *out)
{
	size_t m = 0;
	for (size_t j = 0; j < nb; j++) {
		float sim = match_similarity(q, base + j * d, d);
		if (sim >= thr)
			all[m++] = (struct ref_hit){ (uint32_t)j, sim };
	}
	qsort(all, m, sizeof *all, ref_hit_cmp);
	size_t n = m < k ? m : k;
	for (size_t p = 0; p < n; p++)
		out[p] = (struct match_hit){ all[p].idx, (float)all[p].sim };
	return n;
}

/* Streams base through match_topk block by block (k hits a block) and folds
 * each block in with match_topk_merge; the result must be the exact top k,
 * bit for bit (indices, order, sims), whatever the block size. */
static void run_stream_case(const char *name, const float *q, size_t nq, const float *base, size_t nb, size_t d,
                            size_t k, float thr, size_t block, int nthreads)
{
	struct match_hit *run = xcalloc(nq * k + 1, sizeof *run), *blk = xcalloc(nq * k + 1, sizeof *blk);
	struct match_hit *want = xcalloc(k + 1, sizeof *want), *merged = xcalloc(k + 1, sizeof *merged);
	struct ref_hit *all = xcalloc(nb + 1, sizeof *all);
	size_t *counts = xcalloc(nq + 1, sizeof *counts), *bcounts = xcalloc(nq + 1, sizeof *bcounts);
	int rc = 0;
	for (size_t b0 = 0; rc == 0 && b0 < nb; b0 += block) {
		size_t nj = nb - b0 < block ? nb - b0 : block;
		rc = match_topk(q, nq, base + b0 * d, nj, d, k, thr, 0, nthreads, blk, bcounts);
		for (size_t i = 0; rc == 0 && i < nq; i++) {
			counts[i] = match_topk_merge(run + i * k, counts[i], blk + i * k, bcounts[i], (uint32_t)b0, k,
			                             merged);
			memcpy(run + i * k, merged, counts[i] * sizeof *merged);
		}
	}
	size_t bad = 0;
	for (size_t i = 0; i < nq; i++) {
		size_t n = exact_topk(q + i * d, base, nb, d, k, thr, all, want);
		int same = counts[i] == n;
		for (size_t p = 0; same && p < n; p++)
			same = run[i * k + p].idx == want[p].idx && memcmp(&run[i * k + p].sim, &want[p].sim, sizeof(float)) == 0;
		bad += !same;
	}
	CHECK(rc == 0, "stream %s: rc %d", name, rc);
	CHECK(bad == 0, "stream %s (nq %zu nb %zu k %zu block %zu): %zu queries differ from the exact top k", name,
	      nq, nb, k, block, bad);
	free(run);
	free(blk);
	free(want);
	free(all);
	free(merged);
	free(counts);
	free(bcounts);
}

/* Hand-made lists: ties across the two lists go to the smaller global
 * index, the block's indices are moved by the offset, k cuts the tail. */
static void test_topk_merge_lists(void)
{
	const struct match_hit a[] = { { 3, 0.9f }, { 1, 0.5f }, { 7, 0.5f } };
	const struct match_hit b[] = { { 0, 0.9f }, { 2, 0.5f }, { 4, 0.1f } };
	struct match_hit out[6];
	size_t n = match_topk_merge(a, 3, b, 3, 10, 6, out);
	const struct match_hit want[] = { { 3, 0.9f }, { 10, 0.9f }, { 1, 0.5f }, { 7, 0.5f }, { 12, 0.5f },
	                                  { 14, 0.1f } };
	int same = n == 6;
	for (size_t i = 0; same && i < n; i++)
		same = out[i].idx == want[i].idx && out[i].sim == want[i].sim;
	CHECK(same, "merge: wrong order of the merged lists (n %zu)", n);
	CHECK(match_topk_merge(a, 3, b, 3, 10, 2, out) == 2 && out[1].idx == 10, "merge: k = 2 keeps the best two");
	CHECK(match_topk_merge(a, 0, b, 0, 10, 5, out) == 0, "merge: two empty lists give nothing");
	CHECK(match_topk_merge(a, 3, b, 0, 10, 5, out) == 3 && out[2].idx == 7, "merge: an empty block keeps a");
	CHECK(match_topk_merge(a, 3, b, 3, 10, 0, out) == 0, "merge: k = 0 keeps nothing");
}

static void test_topk_stream(void)
{
	test_topk_merge_lists();
	float *a = random_rows(300, 24), *b = random_rows(2500, 24);
	run_stream_case("blocks-1000", a, 300, b, 2500, 24, 10, 0.0f, 1000, 2);
	run_stream_case("blocks-97", a, 300, b, 2500, 24, 5, 0.3f, 97, 2);
	run_stream_case("block-1", a, 20, b, 300, 24, 3, 0.0f, 1, 1);
	run_stream_case("k>block", a, 50, b, 2500, 24, 40, 0.0f, 16, 2);
	run_stream_case("one-block", a, 300, b, 2500, 24, 7, 0.0f, 4096, 0);
	/* duplicated base rows across block edges: equal similarities, ties
	 * must go to the smaller global index as in one call */
	float *dup = xcalloc(2000 * 24, sizeof *dup);
	for (size_t i = 0; i < 2000; i++)
		memcpy(dup + i * 24, b + (i % 50) * 24, 24 * sizeof *dup);
	run_stream_case("ties", a, 100, dup, 2000, 24, 9, 0.0f, 33, 2);
	free(dup);
	free(a);
	free(b);
}

int main(void)
{
	test_normalize();
	test_similarity();
	test_tiles();
	test_pairs_above();
	test_topk();
	test_topk_stream();
	test_histogram();
	test_max_threads();
	test_blas_threads_restored();
	return CHECK_DONE();
}
