/*
 * match_pairs_blocked.c - match_pairs_above_from: the pairs a block of new
 * rows [from, n) adds to rows [0, from) that were matched before.
 *
 * One self product over rows [0, n) (int8 or sgemm as match_set_kernel
 * chose) whose upper-triangle tiles are run only where they hold a pair
 * with j >= from: the tiles of the earlier rows alone are skipped. Proposals
 * within the product's error radius of the floor are confirmed by the
 * canonical dot, as match_pairs_above confirms its own, so which pairs are
 * reported and their similarities are decided on match_similarity alone:
 * they do not depend on where the blocks end.
 *
 * Workload: a clustering of 20000 x 512-d rows in two steps. A step
 * quantizes all its rows for the int8 product, the earlier ones again, so
 * two steps quantize 1.4 times the rows of one call (the quantization is
 * about 7 % of an int8 match); a step that ends on a multiple of
 * MATCH_TILE rows wastes no product on tiles the next one skips.
 */
#include "match/match_pairs_blocked.h"
#include "match/match_internal.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

/* Pairs passed to the callback at once, under the lock. */
#define BLOCKED_BATCH 1024

struct blocked_rec {
	uint32_t i, j;
	float sim;
};

struct blocked_job {
	const struct match_product *prod; /* self product of rows [0, n) */
	size_t from;
	size_t first_col, ncols;          /* tile columns first_col .. ncols-1 */
	size_t ntiles;
	atomic_size_t next;
	struct match_stop stop;
	float lo;                         /* canonical dot >= lo  <=>  sim > threshold */
	match_scan_fn next_ge;
	match_pair_cb cb;
	void *ud;
	pthread_mutex_t lock;
	int rc;                           /* first nonzero callback result, under lock */
	float **bufs;                     /* one tile buffer per thread */
};

static int deliver(struct blocked_job *job, const struct blocked_rec *recs, size_t n)
{
	pthread_mutex_lock(&job->lock);
	for (size_t k = 0; k < n && job->rc == 0; k++)
		job->rc = job->cb(job->ud, recs[k].i, recs[k].j, recs[k].sim);
	int rc = job->rc;
	pthread_mutex_unlock(&job->lock);
	return rc;
}

/* Tile number k of the columns that hold a j >= from, column after column
 * (rows 0 .. column in each), so consecutive tiles share their columns. */
static void tile_at(const struct blocked_job *job, size_t k, size_t *ti, size_t *tj)
{
	size_t col = job->first_col;
	while (k > col) {
		k -= col + 1;
		col++;
	}
	*ti = k;
	*tj = col;
}

/* Rows i0 .. i0+ni (a stripe) against columns j0 .. j0+nj of dots: the
 * pairs i < j, j >= from, proposed within the row's radius of the floor and
 * confirmed canonically. */
static int scan_stripe(struct blocked_job *job, size_t i0, size_t ni, size_t j0, size_t nj, const float *dots,
                       struct blocked_rec *recs, size_t *nrec)
{
	const struct match_product *p = job->prod;
	for (size_t r = 0; r < ni; r++) {
		size_t i = i0 + r, first = i + 1 > job->from ? i + 1 : job->from;
		size_t c = first > j0 ? first - j0 : 0;
		const float *row = dots + r * nj, *a = p->a + i * p->d;
		float lo = job->lo - p->radius[i];
		while ((c = job->next_ge(row, c, nj, lo)) < nj) {
			float f = match_dot_canonical(a, p->a + (j0 + c) * p->d, p->d);
			if (f >= job->lo)
				recs[(*nrec)++] = (struct blocked_rec){ (uint32_t)i, (uint32_t)(j0 + c), match_clamp01(f) };
			if (*nrec == BLOCKED_BATCH) {
				int rc = deliver(job, recs, *nrec);
				*nrec = 0;
				if (rc != 0)
					return rc;
			}
			c++;
		}
	}
	return 0;
}

/* One tile, as stripes of prod->stripe rows (the whole tile for sgemm). */
static int run_tile(struct blocked_job *job, float *buf, size_t ti, size_t tj)
{
	const struct match_product *p = job->prod;
	struct blocked_rec recs[BLOCKED_BATCH];
	size_t nrec = 0, i0 = ti * MATCH_TILE, j0 = tj * MATCH_TILE;
	size_t ni = p->na - i0 < MATCH_TILE ? p->na - i0 : MATCH_TILE;
	size_t nj = p->na - j0 < MATCH_TILE ? p->na - j0 : MATCH_TILE;
	for (size_t s = 0; s < ni; s += p->stripe) {
		size_t h = ni - s < p->stripe ? ni - s : p->stripe;
		match_product_tile(p, i0 + s, h, j0, nj, buf);
		int rc = scan_stripe(job, i0 + s, h, j0, nj, buf, recs, &nrec);
		if (rc != 0)
			return rc;
	}
	return nrec ? deliver(job, recs, nrec) : 0;
}

static void worker(void *arg, int thread)
{
	struct blocked_job *job = arg;
	while (!match_stopped(&job->stop)) {
		size_t k = atomic_fetch_add(&job->next, 1), ti, tj;
		if (k >= job->ntiles)
			break;
		tile_at(job, k, &ti, &tj);
		match_stop_with(&job->stop, run_tile(job, job->bufs[thread], ti, tj));
	}
}

static void free_bufs(float **bufs, int n)
{
	for (int t = 0; t < n; t++)
		free(bufs[t]);
	free(bufs);
}

static float **alloc_bufs(int n, size_t floats_each)
{
	float **bufs = calloc((size_t)n, sizeof *bufs);
	for (int t = 0; bufs && t < n; t++)
		if (!(bufs[t] = match_alloc_floats(floats_each))) {
			free_bufs(bufs, t);
			return NULL;
		}
	return bufs;
}

/* The tiles with a pair j >= from, on nthreads workers. */
static int run_blocked(struct blocked_job *job, int nthreads)
{
	size_t n = job->prod->na, side = n < MATCH_TILE ? n : MATCH_TILE;
	job->first_col = job->from / MATCH_TILE;
	job->ncols = (n + MATCH_TILE - 1) / MATCH_TILE;
	/* Column c holds c + 1 tiles (rows 0 .. c). */
	job->ntiles = (job->ncols * (job->ncols + 1) - job->first_col * (job->first_col + 1)) / 2;
	int nt = match_thread_count(nthreads, job->ntiles);
	if (!(job->bufs = alloc_bufs(nt, side * side))) {
		errno = ENOMEM;
		return -1;
	}
	atomic_init(&job->next, 0);
	atomic_init(&job->stop.rc, 0);
	match_blas_begin();
	match_run_parallel(nt, worker, job);
	match_blas_end();
	free_bufs(job->bufs, nt);
	return atomic_load(&job->stop.rc);
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
	struct blocked_job job = { .prod = &prod, .from = from, .lo = match_strict_floor(threshold),
		                   .next_ge = match_kernels()->next_ge, .cb = cb, .ud = ud };
	pthread_mutex_init(&job.lock, NULL);
	int rc = run_blocked(&job, nthreads);
	pthread_mutex_destroy(&job.lock);
	match_product_free(&prod);
	return rc;
}
