/* match_topk_prepare / match_topk_prepared: the prepared queries give the
 * same hits, bit for bit, as match_topk over the same arrays, for fp32 and
 * both int8 forms, over a whole base and over the blocks of a streamed one,
 * with ties, a threshold, exclude_self and a base the int8 product cannot
 * take (a non-finite row); fp32 with its scanning product paired and not. */
#include "match/match.h"
#include "match/match_internal.h"
#include "check.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_RNG_SEED 777
#include "test_rng.h"

static void *alloc_or_exit(size_t bytes)
{
	void *p = calloc(1, bytes ? bytes : 1);
	if (!p) {
		printf("out of memory\n");
		exit(2);
	}
	return p;
}

/* n unit rows; with distinct > 0 only that many different rows (ties). */
static float *rows(size_t n, size_t d, size_t distinct)
{
	float *x = alloc_or_exit(n * d * sizeof *x);
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < d; k++)
			x[i * d + k] = distinct && i >= distinct ? x[(i % distinct) * d + k] : (float)uniform();
	match_normalize(x, n, d);
	return x;
}

struct hits {
	struct match_hit *h;
	size_t *c;
};

static struct hits hits_alloc(size_t nq, size_t k)
{
	return (struct hits){ alloc_or_exit(nq * k * sizeof(struct match_hit)), alloc_or_exit(nq * sizeof(size_t)) };
}

static void hits_free(struct hits *h)
{
	free(h->h);
	free(h->c);
}

/* Queries whose hits differ (count, index or similarity bits). */
static size_t differing(const struct hits *a, const struct hits *b, size_t nq, size_t k)
{
	size_t bad = 0;
	for (size_t q = 0; q < nq; q++)
		bad += a->c[q] != b->c[q] || memcmp(a->h + q * k, b->h + q * k, a->c[q] * sizeof *a->h) != 0;
	return bad;
}

/* match_topk and match_topk_prepared on q x base, and over base in blocks
 * of block rows each (the prepared queries reused for every block). */
static void compare(const char *name, const float *q, size_t nq, const float *base, size_t nb, size_t d,
                    size_t k, float threshold, int exclude_self, size_t block)
{
	struct hits want = hits_alloc(nq, k), got = hits_alloc(nq, k), blk = hits_alloc(nq, k);
	struct match_topk_queries *qs = match_topk_prepare(q, nq, d, 2);
	CHECK(qs != NULL, "%s: prepare failed", name);
	if (!qs)
		goto out;
	int rc = match_topk(q, nq, base, nb, d, k, threshold, exclude_self, 2, want.h, want.c);
	int rp = match_topk_prepared(qs, base, nb, k, threshold, exclude_self, 2, got.h, got.c);
	CHECK(rc == 0 && rp == 0, "%s: rc %d, prepared rc %d", name, rc, rp);
	CHECK(differing(&want, &got, nq, k) == 0, "%s: %zu queries differ", name, differing(&want, &got, nq, k));
	size_t nonempty = 0;
	for (size_t i = 0; i < nq; i++)
		nonempty += want.c[i] > 0;
	CHECK(nonempty > 0, "%s: no query has a hit (the comparison would prove nothing)", name);
	for (size_t b0 = 0; b0 < nb && !exclude_self; b0 += block) {
		size_t n = nb - b0 < block ? nb - b0 : block;
		rc = match_topk(q, nq, base + b0 * d, n, d, k, threshold, 0, 2, want.h, want.c);
		rp = match_topk_prepared(qs, base + b0 * d, n, k, threshold, 0, 2, blk.h, blk.c);
		CHECK(rc == 0 && rp == 0 && differing(&want, &blk, nq, k) == 0,
		      "%s: block at %zu: rc %d/%d, %zu queries differ", name, b0, rc, rp, differing(&want, &blk, nq, k));
	}
out:
	match_topk_queries_free(qs);
	hits_free(&want);
	hits_free(&got);
	hits_free(&blk);
}

static const enum match_kernel kernels[] = { MATCH_KERNEL_FP32, MATCH_KERNEL_FP32, MATCH_KERNEL_INT8,
	                                      MATCH_KERNEL_INT8_256 };
static const char *const kernel_names[] = { "fp32 unpaired", "fp32 paired", "int8", "int8-256" };
static const int pairing[] = { 0, 1, -1, -1 };

static void test_kernel(size_t i)
{
	char name[96];
	size_t d = 128, nq = 700, nb = 2100;
	float *q = rows(nq, d, 0), *base = rows(nb, d, 0), *tied = rows(nb, d, 37);
	match_set_kernel(kernels[i]);
	match_set_f32_pairing(pairing[i]);
	snprintf(name, sizeof name, "%s (%s) random", kernel_names[i], match_kernel_in_use());
	compare(name, q, nq, base, nb, d, 5, 0.0f, 0, 1000);
	snprintf(name, sizeof name, "%s k 100 threshold 0.1", kernel_names[i]);
	compare(name, q, nq, base, nb, d, 100, 0.1f, 0, 777);
	snprintf(name, sizeof name, "%s ties", kernel_names[i]);
	compare(name, tied, nq, tied, nb, d, 20, 0.0f, 0, 600);
	snprintf(name, sizeof name, "%s exclude_self", kernel_names[i]);
	compare(name, base, nb, base, nb, d, 10, 0.0f, 1, nb);
	base[5 * d + 3] = NAN; /* no int8 product for this base */
	snprintf(name, sizeof name, "%s non-finite base", kernel_names[i]);
	compare(name, q, nq, base, nb, d, 5, 0.0f, 0, 1024);
	free(q);
	free(base);
	free(tied);
	match_set_f32_pairing(-1);
}

static void test_arguments(void)
{
	float x[8] = { 1, 0, 0, 0, 0, 1, 0, 0 };
	struct match_hit h[2];
	size_t c[2] = { 9, 9 };
	struct match_topk_queries *qs = match_topk_prepare(x, 2, 4, 1);
	CHECK(qs != NULL);
	CHECK(match_topk_prepared(NULL, x, 2, 1, 0.0f, 0, 1, h, c) == -1, "no queries");
	CHECK(match_topk_prepared(qs, x, 2, 1, NAN, 0, 1, h, c) == -1, "NaN threshold");
	CHECK(match_topk_prepared(qs, x, 0, 1, 0.0f, 0, 1, h, c) == 0 && c[0] == 0 && c[1] == 0, "empty base");
	CHECK(match_topk_prepared(qs, x, 2, 1, 0.0f, 0, 1, h, c) == 0 && c[0] == 1 && h[0].idx == 0 &&
	      h[1].idx == 1 && h[0].sim == 1.0f, "identity");
	match_topk_queries_free(qs);
	match_topk_queries_free(NULL);
}

int main(void)
{
	for (size_t i = 0; i < sizeof kernels / sizeof *kernels; i++)
		test_kernel(i);
	match_set_kernel(MATCH_KERNEL_AUTO);
	test_arguments();
	return CHECK_DONE();
}
