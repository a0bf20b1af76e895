/*
 * match.c - the public all-pairs entry points of src/match: normalisation,
 * single similarities, self/cross tile iteration with user callbacks, the
 * thresholded pair search used by clustering and the ROC pair histogram.
 *
 * Workload: all pairs of ~20000 x 512-d descriptors per call (2e8 pairs).
 * The products come from match_run_tiles (OpenBLAS sgemm per 1024^2 tile on
 * each worker thread); the per-tile work here is a vectorised scan, so the
 * run time stays close to that of the bare products.
 */
#include "match/match.h"
#include "match/match_internal.h"
#include "match/match_pairs_blocked.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

int match_max_threads(int nthreads)
{
	return match_thread_count(nthreads, (size_t)-1);
}

/* ---- single vectors ------------------------------------------------------- */

void match_normalize(float *x, size_t n, size_t d)
{
	for (size_t i = 0; i < n; i++) {
		float *row = x + i * d;
		double ss = 0.0;
		for (size_t k = 0; k < d; k++)
			ss += (double)row[k] * row[k];
		if (!(ss > 0.0))
			continue;
		double inv = 1.0 / sqrt(ss);
		for (size_t k = 0; k < d; k++)
			row[k] = (float)(row[k] * inv);
	}
}

float match_similarity(const float *a, const float *b, size_t d)
{
	return match_clamp01(match_dot_canonical(a, b, d));
}

/* ---- user tile callbacks -------------------------------------------------- */

struct user_tiles {
	match_tile_cb cb;
	void *ud;
};

static int clamp_and_forward(void *p, int thread, size_t i0, size_t ni, size_t j0, size_t nj,
                             float *dots)
{
	struct user_tiles *u = p;
	match_clamp_array(dots, ni * nj);
	return u->cb(u->ud, thread, i0, ni, j0, nj, dots);
}

int match_self_tiles(const float *x, size_t n, size_t d, int nthreads, match_tile_cb cb, void *ud)
{
	struct user_tiles u = { cb, ud };
	if (!cb) {
		errno = EINVAL;
		return -1;
	}
	return match_run_tiles(x, n, x, n, d, 1, nthreads, clamp_and_forward, &u);
}

int match_cross_tiles(const float *a, size_t na, const float *b, size_t nb, size_t d, int nthreads,
                      match_tile_cb cb, void *ud)
{
	struct user_tiles u = { cb, ud };
	if (!cb) {
		errno = EINVAL;
		return -1;
	}
	return match_run_tiles(a, na, b, nb, d, 0, nthreads, clamp_and_forward, &u);
}

/* ---- pairs above a threshold ---------------------------------------------- */

#define PAIR_BATCH 2048

struct pair_rec {
	uint32_t i, j;
	float sim;
};

struct pairs_ctx {
	const struct match_product *prod;
	size_t from; /* only pairs i < j with j >= from */
	float lo; /* canonical dot >= lo  <=>  sim > threshold */
	match_scan_fn next_ge;
	match_pair_cb cb;
	void *ud;
	pthread_mutex_t lock;
	int rc; /* first nonzero callback result, under lock */
};

/* Deliver a batch under the lock; once a callback has said stop, nothing
 * more is delivered. */
static int deliver_pairs(struct pairs_ctx *ctx, const struct pair_rec *recs, size_t n)
{
	pthread_mutex_lock(&ctx->lock);
	for (size_t k = 0; k < n && ctx->rc == 0; k++)
		ctx->rc = ctx->cb(ctx->ud, recs[k].i, recs[k].j, recs[k].sim);
	int rc = ctx->rc;
	pthread_mutex_unlock(&ctx->lock);
	return rc;
}

/* A proposed pair (within radius of the floor or above): is it above the
 * threshold by the canonical dot, and with which similarity? Below zero for
 * sure means similarity +0 without computing it (threshold < 0 only). */
static int confirm_pair(const struct pairs_ctx *ctx, size_t i, size_t j, float proposed,
                        float radius, float *sim)
{
	const struct match_product *p = ctx->prod;
	if (ctx->lo == -INFINITY && proposed + radius < 0.0f) {
		*sim = 0.0f;
		return 1;
	}
	float f = match_dot_canonical(p->a + i * p->d, p->a + j * p->d, p->d);
	*sim = match_clamp01(f);
	return f >= ctx->lo;
}

/* Pairs i < j, j >= from, of a tile (or stripe) whose proposed dot is
 * within the row's radius of the floor or above, confirmed one by one. */
static int pairs_tile(void *p, int thread, size_t i0, size_t ni, size_t j0, size_t nj, float *dots)
{
	struct pairs_ctx *ctx = p;
	struct pair_rec recs[PAIR_BATCH];
	size_t nrec = 0;
	(void)thread;

	for (size_t r = 0; r < ni; r++) {
		const float *row = dots + r * nj;
		size_t i = i0 + r, first = i + 1 > ctx->from ? i + 1 : ctx->from;
		size_t c = first > j0 ? first - j0 : 0;
		float radius = ctx->prod->radius[i], lo = ctx->lo - radius;
		float sim;
		while ((c = ctx->next_ge(row, c, nj, lo)) < nj) {
			if (confirm_pair(ctx, i, j0 + c, row[c], radius, &sim))
				recs[nrec++] = (struct pair_rec){ (uint32_t)i, (uint32_t)(j0 + c), sim };
			if (nrec == PAIR_BATCH) {
				int rc = deliver_pairs(ctx, recs, nrec);
				if (rc != 0)
					return rc;
				nrec = 0;
			}
			c++;
		}
	}
	return nrec ? deliver_pairs(ctx, recs, nrec) : 0;
}

int match_pairs_run(const struct match_product *prod, size_t from, float threshold, int nthreads,
                    match_pair_cb cb, void *ud, struct match_tile_bufs *kept)
{
	struct pairs_ctx ctx = { .prod = prod, .from = from, .lo = match_strict_floor(threshold),
				 .next_ge = match_kernels()->next_ge, .cb = cb, .ud = ud };
	pthread_mutex_init(&ctx.lock, NULL);
	int rc = match_run_product_tiles(prod, 1, from, nthreads, pairs_tile, &ctx, kept);
	pthread_mutex_destroy(&ctx.lock);
	return rc;
}

int match_pairs_above_from(const float *x, size_t from, size_t n, size_t d, float threshold,
                           int nthreads, match_pair_cb cb, void *ud)
{
	if (!cb || isnan(threshold) || from > n) {
		errno = EINVAL;
		return -1;
	}
	if (match_check_dims(n, d) < 0)
		return -1;
	if (threshold >= 1.0f || n < 2 || from == n)
		return 0; /* no similarity exceeds 1 */

	struct match_product prod;
	if (match_product_init(&prod, x, n, x, n, d, 1, nthreads) < 0)
		return -1;
	int rc = match_pairs_run(&prod, from, threshold, nthreads, cb, ud, NULL);
	match_product_free(&prod);
	return rc;
}

int match_pairs_above(const float *x, size_t n, size_t d, float threshold, int nthreads,
                      match_pair_cb cb, void *ud)
{
	return match_pairs_above_from(x, 0, n, d, threshold, nthreads, cb, ud);
}

/* ---- pair histogram ------------------------------------------------------- */

/* Per thread, two copies of [pos | neg] bins: even and odd columns count into
 * different copies, so runs of equal bins (clamped zeros are common) do not
 * wait on each other's increments. */
#define HIST_COPIES 2
#define HIST_MAX_BINS (1u << 24) /* bins exact in float */

struct hist_ctx {
	const int32_t *labels;
	size_t nbins;
	float fbins;
	uint64_t *hists; /* per thread: HIST_COPIES x (pos[nbins], neg[nbins]) */
};

/* Bin of a raw dot: min(floor(clamp01(dot) * nbins), nbins - 1). */
static inline size_t sim_bin(float dot, float fbins, size_t nbins)
{
	size_t b = (uint32_t)(match_clamp01(dot) * fbins); /* <= nbins <= 2^24 */
	return b - (b == nbins);
}

/* Count row[c, nj) against labels lj (the row's own label is li) into
 * [pos | neg] bins, alternating copies h0 and h1. The SSE2 path computes
 * four bins at once, with the same single-precision arithmetic. */
static void hist_row(const float *row, const int32_t *lj, int32_t li, size_t c, size_t nj,
                     float fbins, size_t nbins, uint64_t *h0, uint64_t *h1)
{
#ifdef __SSE2__
	const __m128 zero = _mm_setzero_ps(), one = _mm_set1_ps(1.0f);
	const __m128 scale = _mm_set1_ps(fbins), top = _mm_set1_ps(fbins - 1.0f);
	const __m128i label = _mm_set1_epi32(li), neg = _mm_set1_epi32((int)nbins);
	for (; c + 4 <= nj; c += 4) {
		__m128 s = _mm_min_ps(_mm_max_ps(_mm_loadu_ps(row + c), zero), one);
		__m128i b = _mm_cvttps_epi32(_mm_min_ps(_mm_mul_ps(s, scale), top));
		__m128i same = _mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)(lj + c)), label);
		uint32_t k[4];
		_mm_storeu_si128((__m128i *)k, _mm_add_epi32(b, _mm_andnot_si128(same, neg)));
		h0[k[0]]++;
		h1[k[1]]++;
		h0[k[2]]++;
		h1[k[3]]++;
	}
#endif
	for (; c < nj; c++)
		h0[sim_bin(row[c], fbins, nbins) + (size_t)(lj[c] != li) * nbins]++;
}

static int hist_tile(void *p, int thread, size_t i0, size_t ni, size_t j0, size_t nj, float *dots)
{
	struct hist_ctx *ctx = p;
	uint64_t *h0 = ctx->hists + (size_t)thread * HIST_COPIES * 2 * ctx->nbins;
	uint64_t *h1 = h0 + 2 * ctx->nbins;

	for (size_t r = 0; r < ni; r++)
		hist_row(dots + r * nj, ctx->labels + j0, ctx->labels[i0 + r], i0 == j0 ? r + 1 : 0, nj,
		         ctx->fbins, ctx->nbins, h0, h1);
	return 0;
}

int match_pair_histogram(const float *x, const int32_t *labels, size_t n, size_t d, size_t nbins,
                         int nthreads, uint64_t *pos_hist, uint64_t *neg_hist)
{
	if (nbins == 0 || nbins > HIST_MAX_BINS || !pos_hist || !neg_hist || (n > 0 && !labels)) {
		errno = EINVAL;
		return -1;
	}
	if (match_check_dims(n, d) < 0)
		return -1;
	memset(pos_hist, 0, nbins * sizeof *pos_hist);
	memset(neg_hist, 0, nbins * sizeof *neg_hist);
	if (n < 2)
		return 0;

	int nt = match_thread_count(nthreads, (size_t)-1);
	size_t per_thread = HIST_COPIES * 2 * nbins;
	struct hist_ctx ctx = { .labels = labels, .nbins = nbins, .fbins = (float)nbins };
	ctx.hists = calloc((size_t)nt * per_thread, sizeof *ctx.hists);
	if (!ctx.hists) {
		errno = ENOMEM;
		return -1;
	}
	int rc = match_run_tiles(x, n, x, n, d, 1, nt, hist_tile, &ctx);
	if (rc == 0) {
		for (size_t copy = 0; copy < (size_t)nt * HIST_COPIES; copy++) {
			const uint64_t *h = ctx.hists + copy * 2 * nbins;
			for (size_t b = 0; b < nbins; b++) {
				pos_hist[b] += h[b];
				neg_hist[b] += h[nbins + b];
			}
		}
	}
	free(ctx.hists);
	return rc;
}
