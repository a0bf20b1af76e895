/*
 * match_exec.c - execution machinery for src/match: starting worker threads,
 * keeping OpenBLAS single-threaded inside them, the tiled product driver that
 * hands MATCH_TILE-square blocks of A x B^T to a per-tile function, and the
 * scan kernels over tile rows (SSE2 baseline, AVX-512 chosen at run time).
 *
 * Workload: one driver run per match_* call over up to millions of tiles
 * (20000 x 20000 upper triangle = 210 tiles of 1024^2); tiles are handed out
 * through an atomic counter so the two cores stay busy until the end. The
 * scan kernels see every product (2e8 per all-pairs call), nearly all of
 * them below the cut, so the no-hit path is a few vector ops per 64 floats.
 */
/* sched_getaffinity needs _GNU_SOURCE: the autotools build defines it in
 * config.h (included first), the standalone test and bench builds here. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "match/match_internal.h"
#include "match/match.h"
#include "common/big_alloc.h"

#include <cblas.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#define MATCH_MAX_THREADS 256

/* ---- threads ------------------------------------------------------------ */

/* CPUs this process may run on (its affinity mask), else those online. */
static long usable_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? n : 1;
}

int match_thread_count(int requested, size_t max_useful)
{
	long n = requested > 0 ? requested : usable_cpus();
	if (n > MATCH_MAX_THREADS)
		n = MATCH_MAX_THREADS;
	if (max_useful < 1)
		max_useful = 1;
	if ((size_t)n > max_useful)
		n = (long)max_useful;
	return (int)n;
}

struct worker_arg {
	match_work_fn fn;
	void *job;
	int thread;
};

static void *worker_main(void *p)
{
	struct worker_arg *w = p;
	w->fn(w->job, w->thread);
	return NULL;
}

void match_run_parallel(int nthreads, match_work_fn fn, void *job)
{
	struct worker_arg args[MATCH_MAX_THREADS];
	pthread_t tids[MATCH_MAX_THREADS];
	int started[MATCH_MAX_THREADS];

	if (nthreads > MATCH_MAX_THREADS)
		nthreads = MATCH_MAX_THREADS;
	for (int t = 1; t < nthreads; t++) {
		args[t] = (struct worker_arg){ fn, job, t };
		started[t] = pthread_create(&tids[t], NULL, worker_main, &args[t]) == 0;
	}
	fn(job, 0);
	for (int t = 1; t < nthreads; t++)
		if (started[t])
			pthread_join(tids[t], NULL);
}

struct match_pool {
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	int n;                   /* threads started: workers 1..n (0 is the caller) */
	int want;                /* workers 1..want-1 take part in run gen */
	int running;             /* of those, still working */
	int stop;
	unsigned long gen;       /* runs handed out */
	match_work_fn fn;
	void *job;
	pthread_t tids[MATCH_MAX_THREADS];
	struct pool_worker {
		struct match_pool *pool;
		int thread;
	} args[MATCH_MAX_THREADS];
};

static void *pool_main(void *p)
{
	struct pool_worker *w = p;
	struct match_pool *pool = w->pool;
	unsigned long seen = 0;
	pthread_mutex_lock(&pool->mu);
	for (;;) {
		while (!pool->stop && (pool->gen == seen || w->thread >= pool->want)) {
			seen = pool->gen; /* a run without this worker is passed over */
			pthread_cond_wait(&pool->go, &pool->mu);
		}
		if (pool->stop)
			break;
		seen = pool->gen;
		match_work_fn fn = pool->fn;
		void *job = pool->job;
		pthread_mutex_unlock(&pool->mu);
		fn(job, w->thread);
		pthread_mutex_lock(&pool->mu);
		if (--pool->running == 0)
			pthread_cond_signal(&pool->done);
	}
	pthread_mutex_unlock(&pool->mu);
	return NULL;
}

struct match_pool *match_pool_new(void)
{
	struct match_pool *pool = calloc(1, sizeof *pool);
	if (!pool)
		return NULL;
	pthread_mutex_init(&pool->mu, NULL);
	pthread_cond_init(&pool->go, NULL);
	pthread_cond_init(&pool->done, NULL);
	return pool;
}

/* Workers 1..nthreads-1 started (as many as can be); under mu. */
static void pool_grow(struct match_pool *pool, int nthreads)
{
	while (pool->n + 1 < nthreads) {
		struct pool_worker *w = &pool->args[pool->n + 1];
		*w = (struct pool_worker){ pool, pool->n + 1 };
		if (pthread_create(&pool->tids[pool->n + 1], NULL, pool_main, w) != 0)
			break;
		pool->n++;
	}
}

void match_pool_run(struct match_pool *pool, int nthreads, match_work_fn fn, void *job)
{
	if (!pool) {
		match_run_parallel(nthreads, fn, job);
		return;
	}
	if (nthreads > MATCH_MAX_THREADS)
		nthreads = MATCH_MAX_THREADS;
	pthread_mutex_lock(&pool->mu);
	pool_grow(pool, nthreads);
	int want = nthreads < pool->n + 1 ? nthreads : pool->n + 1;
	pool->fn = fn;
	pool->job = job;
	pool->want = want;
	pool->running = want - 1;
	pool->gen++;
	if (want > 1)
		pthread_cond_broadcast(&pool->go);
	pthread_mutex_unlock(&pool->mu);
	fn(job, 0);
	pthread_mutex_lock(&pool->mu);
	while (pool->running > 0)
		pthread_cond_wait(&pool->done, &pool->mu);
	pthread_mutex_unlock(&pool->mu);
}

void match_pool_free(struct match_pool *pool)
{
	if (!pool)
		return;
	pthread_mutex_lock(&pool->mu);
	pool->stop = 1;
	pthread_cond_broadcast(&pool->go);
	pthread_mutex_unlock(&pool->mu);
	for (int t = 1; t <= pool->n; t++)
		pthread_join(pool->tids[t], NULL);
	pthread_cond_destroy(&pool->go);
	pthread_cond_destroy(&pool->done);
	pthread_mutex_destroy(&pool->mu);
	free(pool);
}

/* ---- OpenBLAS thread guard ---------------------------------------------- */

static pthread_mutex_t blas_lock = PTHREAD_MUTEX_INITIALIZER;
static int blas_users;
static int blas_saved_threads;

void match_blas_begin(void)
{
	pthread_mutex_lock(&blas_lock);
	if (blas_users++ == 0) {
		blas_saved_threads = openblas_get_num_threads();
		if (blas_saved_threads != 1)
			openblas_set_num_threads(1);
	}
	pthread_mutex_unlock(&blas_lock);
}

void match_blas_end(void)
{
	pthread_mutex_lock(&blas_lock);
	if (--blas_users == 0 && blas_saved_threads != 1)
		openblas_set_num_threads(blas_saved_threads);
	pthread_mutex_unlock(&blas_lock);
}

/* ---- products ----------------------------------------------------------- */

void match_dot_tile(const float *a, size_t ni, const float *b, size_t nj, size_t d, float *out)
{
	if (ni == 0 || nj == 0)
		return;
	if (d == 0) {
		memset(out, 0, ni * nj * sizeof *out);
		return;
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)ni, (int)nj, (int)d, 1.0f, a, (int)d,
	            b, (int)d, 0.0f, out, (int)nj);
}

float *match_alloc_floats(size_t count)
{
	void *p = NULL;
	if (count == 0)
		count = 1;
	if (count > SIZE_MAX / sizeof(float)) {
		errno = ENOMEM;
		return NULL;
	}
	size_t bytes = (count * sizeof(float) + 63) & ~(size_t)63;
	if (bytes >= BIG_ALLOC_HUGE) { /* tiles and candidate buffers: huge pages, few faults */
		p = big_alloc(bytes);
		if (!p)
			errno = ENOMEM;
		return p;
	}
	int rc = posix_memalign(&p, 64, bytes);
	if (rc != 0) {
		errno = rc;
		return NULL;
	}
	return p;
}

int match_check_dims(size_t n, size_t d)
{
	if (d > INT_MAX || n > UINT32_MAX || (d != 0 && n > SIZE_MAX / sizeof(float) / d)) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* ---- tiled driver --------------------------------------------------------- */

struct tile_job {
	const struct match_product *prod;
	int upper;
	size_t first_col; /* upper: the first column tile run */
	size_t tiles_a, tiles_b, ntiles;
	atomic_size_t next;
	struct match_stop stop;
	match_raw_tile_fn fn;
	void *ctx;
	float **bufs;
};

static size_t tile_count(size_t n)
{
	return (n + MATCH_TILE - 1) / MATCH_TILE;
}

/* Upper triangle: the first column tile of row tile ti. */
static size_t upper_first(const struct tile_job *job, size_t ti)
{
	return ti > job->first_col ? ti : job->first_col;
}

/* Map a linear tile number to its (row tile, column tile). Upper-triangle
 * tiles (columns from first_col on) are numbered row by row, so consecutive
 * tiles share their A block. */
static void tile_coords(const struct tile_job *job, size_t k, size_t *ti, size_t *tj)
{
	if (!job->upper) {
		*ti = k / job->tiles_b;
		*tj = k % job->tiles_b;
		return;
	}
	size_t row = 0;
	while (k >= job->tiles_b - upper_first(job, row)) {
		k -= job->tiles_b - upper_first(job, row);
		row++;
	}
	*ti = row;
	*tj = upper_first(job, row) + k;
}

/* Upper-triangle tiles with a column tile >= first_col. */
static size_t upper_count(const struct tile_job *job)
{
	size_t count = 0;
	for (size_t row = 0; row < job->tiles_b; row++)
		count += job->tiles_b - upper_first(job, row);
	return count;
}

/* One tile, as stripes of prod->stripe rows (the whole tile for sgemm). */
static int run_tile(const struct tile_job *job, int thread, size_t i0, size_t ni, size_t j0,
                    size_t nj)
{
	float *buf = job->bufs[thread];
	for (size_t s = 0; s < ni; s += job->prod->stripe) {
		size_t h = ni - s < job->prod->stripe ? ni - s : job->prod->stripe;
		match_product_tile(job->prod, i0 + s, h, j0, nj, buf);
		int rc = job->fn(job->ctx, thread, i0 + s, h, j0, nj, buf);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void tile_worker(void *p, int thread)
{
	struct tile_job *job = p;
	size_t na = job->prod->na, nb = job->prod->nb;

	while (!match_stopped(&job->stop)) {
		size_t k = atomic_fetch_add(&job->next, 1);
		if (k >= job->ntiles)
			break;
		size_t ti, tj;
		tile_coords(job, k, &ti, &tj);
		size_t i0 = ti * MATCH_TILE, j0 = tj * MATCH_TILE;
		size_t ni = na - i0 < MATCH_TILE ? na - i0 : MATCH_TILE;
		size_t nj = nb - j0 < MATCH_TILE ? nb - j0 : MATCH_TILE;
		match_stop_with(&job->stop, run_tile(job, thread, i0, ni, j0, nj));
	}
}

static void free_buffers(float **bufs, int n)
{
	for (int t = 0; t < n; t++)
		free(bufs[t]);
	free(bufs);
}

static float **alloc_buffers(int n, size_t floats_each)
{
	float **bufs = calloc((size_t)n, sizeof *bufs);
	if (!bufs)
		return NULL;
	for (int t = 0; t < n; t++) {
		bufs[t] = match_alloc_floats(floats_each);
		if (!bufs[t]) {
			free_buffers(bufs, t);
			errno = ENOMEM;
			return NULL;
		}
	}
	return bufs;
}

void match_tile_bufs_free(struct match_tile_bufs *kept)
{
	if (kept->bufs)
		free_buffers(kept->bufs, kept->n);
	*kept = (struct match_tile_bufs){ .pool = kept->pool };
}

/* nt buffers of floats each: fresh ones, or kept's (more of them when a
 * run has more threads than the runs before). */
static float **tile_buffers(struct match_tile_bufs *kept, int nt, size_t floats)
{
	if (!kept)
		return alloc_buffers(nt, floats);
	if (kept->n && kept->floats < floats)
		match_tile_bufs_free(kept);
	if (kept->n < nt) {
		float **bufs = realloc(kept->bufs, (size_t)nt * sizeof *bufs);
		if (!bufs)
			return NULL;
		kept->bufs = bufs;
		for (; kept->n < nt; kept->n++)
			if (!(bufs[kept->n] = match_alloc_floats(floats)))
				return NULL;
		kept->floats = floats;
	}
	return kept->bufs;
}

int match_run_product_tiles(const struct match_product *p, int upper, size_t from, int nthreads,
                            match_raw_tile_fn fn, void *ctx, struct match_tile_bufs *kept)
{
	size_t na = p->na, nb = p->nb;
	if (na == 0 || nb == 0)
		return 0;

	struct tile_job job = {
		.prod = p, .upper = upper, .first_col = from / MATCH_TILE, .tiles_a = tile_count(na),
		.tiles_b = tile_count(nb), .fn = fn, .ctx = ctx,
	};
	job.ntiles = upper ? upper_count(&job) : job.tiles_a * job.tiles_b;
	atomic_init(&job.next, 0);
	atomic_init(&job.stop.rc, 0);

	int nt = match_thread_count(nthreads, job.ntiles);
	/* a stripe at a time: the int8 product needs 64 rows of a tile, not 1024 */
	size_t rows = p->stripe < MATCH_TILE ? p->stripe : MATCH_TILE;
	size_t tile_floats = kept ? rows * MATCH_TILE : (na < rows ? na : rows) * (nb < MATCH_TILE ? nb : MATCH_TILE);
	job.bufs = tile_buffers(kept, nt, tile_floats);
	if (!job.bufs)
		return -1;

	match_blas_begin();
	match_pool_run(kept ? kept->pool : NULL, nt, tile_worker, &job);
	match_blas_end();

	if (!kept)
		free_buffers(job.bufs, nt);
	return atomic_load(&job.stop.rc);
}

int match_run_tiles(const float *a, size_t na, const float *b, size_t nb, size_t d, int upper,
                    int nthreads, match_raw_tile_fn fn, void *ctx)
{
	if (match_check_dims(na, d) < 0 || match_check_dims(nb, d) < 0)
		return -1;
	struct match_product p;
	match_product_init(&p, a, na, b, nb, d, 0, 1); /* sgemm, nothing to allocate */
	return match_run_product_tiles(&p, upper, 0, nthreads, fn, ctx, NULL);
}

/* ---- scans ---------------------------------------------------------------- */

void match_clamp_array(float *x, size_t n)
{
	size_t i = 0;
#ifdef __SSE2__
	const __m128 zero = _mm_setzero_ps(), one = _mm_set1_ps(1.0f);
	for (; i + 4 <= n; i += 4)
		_mm_storeu_ps(x + i, _mm_min_ps(_mm_max_ps(_mm_loadu_ps(x + i), zero), one));
#endif
	for (; i < n; i++)
		x[i] = match_clamp01(x[i]);
}

static size_t next_ge_generic(const float *x, size_t from, size_t n, float lo)
{
	return match_next_ge(x, from, n, lo);
}

static size_t count_ge_generic(const float *x, size_t n, float t)
{
	return match_count_ge(x, n, t);
}

static size_t collect_generic(const float *x, size_t from, size_t n, float lo, uint32_t base,
                              float *sim, uint32_t *idx, size_t room, size_t *stop)
{
	size_t m = 0, c = from;
	while ((c = match_next_ge(x, c, n, lo)) < n && m < room) {
		sim[m] = match_clamp01(x[c]);
		idx[m++] = base + (uint32_t)c++;
	}
	*stop = c;
	return m;
}

static size_t keep_band_generic(float *sim, uint32_t *idx, float *conf, size_t n, float lo,
                                float pending)
{
	size_t m = 0;
	for (size_t i = 0; i < n; i++) { /* branch-free: keep is a coin flip */
		float c = conf[i], s = sim[i];
		size_t done = c >= 0.0f;
		sim[m] = s;
		idx[m] = idx[i];
		conf[m] = done ? c : pending;
		m += done | (s >= lo);
	}
	return m;
}

static size_t take_ge_generic(const float *conf, float *sim, uint32_t *idx, size_t n, float cut)
{
	size_t m = 0;
	for (size_t i = 0; i < n; i++) { /* branch-free: m <= i, so nothing lands past n */
		float c = conf[i];
		sim[m] = c;
		idx[m] = idx[i];
		m += c >= cut;
	}
	return m;
}

static size_t top_lanes_generic(const float *x, size_t n, float *out)
{
	float lane[16] = { 0 }, least = INFINITY;
	for (size_t i = 0; i < n; i++)
		lane[i % 16] = x[i] > lane[i % 16] ? x[i] : lane[i % 16];
	for (size_t l = 0; l < 16; l++)
		least = lane[l] < least ? lane[l] : least;
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		out[m] = x[i];
		m += x[i] >= least;
	}
	return m;
}

static size_t list_pending_generic(const float *conf, const uint32_t *idx, size_t n, float pending,
                                   uint32_t r, uint32_t *j, uint32_t *row, uint32_t *slot)
{
	size_t m = 0;
	for (size_t i = 0; i < n; i++) { /* branch-free: pending is a coin flip */
		j[m] = idx[i];
		row[m] = r;
		slot[m] = (uint32_t)i;
		m += conf[i] == pending;
	}
	return m;
}

static size_t mark_ge_generic(const float *x, float *out, size_t n, float t, float yes, float no)
{
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		out[i] = x[i] >= t ? yes : no;
		m += x[i] >= t;
	}
	return m;
}

static size_t keep_ge_generic(float *sim, uint32_t *idx, size_t n, float cut, float *low)
{
	size_t m = 0;
	float least = 1.0f;
	for (size_t i = 0; i < n; i++) { /* branch-free: keep is a coin flip */
		float s = sim[i];
		sim[m] = s;
		idx[m] = idx[i];
		m += s >= cut;
		least = s >= cut && s < least ? s : least;
	}
	*low = least;
	return m;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define MATCH_AVX512 __attribute__((target("avx512f")))

static inline MATCH_AVX512 __mmask16 live_lanes(size_t left)
{
	return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
}

/* The next min(left, 16) values at x, the other lanes 0. A whole vector
 * comes by a plain load: a masked load that misses the cache is much
 * slower here (README "Plain loads"), and the buffers these kernels pass
 * over come from L2 or L3. */
static inline MATCH_AVX512 __m512 load_ps16(const float *x, size_t left)
{
	return left >= 16 ? _mm512_loadu_ps(x) : _mm512_maskz_loadu_ps(live_lanes(left), x);
}

static inline MATCH_AVX512 __m512i load_epi16(const uint32_t *x, size_t left)
{
	return left >= 16 ? _mm512_loadu_si512(x) : _mm512_maskz_loadu_epi32(live_lanes(left), x);
}

/* match_next_ge with 512-bit compares: 64 floats per loop, masked tail. */
static MATCH_AVX512 size_t next_ge_avx512(const float *x, size_t c, size_t n, float lo)
{
	const __m512 v = _mm512_set1_ps(lo);
	for (; c + 64 <= n; c += 64) {
		__mmask16 m0 = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + c), v, _CMP_GE_OQ);
		__mmask16 m1 = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + c + 16), v, _CMP_GE_OQ);
		__mmask16 m2 = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + c + 32), v, _CMP_GE_OQ);
		__mmask16 m3 = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + c + 48), v, _CMP_GE_OQ);
		if ((m0 | m1 | m2 | m3) == 0)
			continue;
		uint64_t bits = (uint64_t)m0 | (uint64_t)m1 << 16 | (uint64_t)m2 << 32 | (uint64_t)m3 << 48;
		return c + (size_t)__builtin_ctzll(bits);
	}
	for (; c < n; c += 16) {
		__mmask16 live = live_lanes(n - c);
		__mmask16 m = _mm512_mask_cmp_ps_mask(live, _mm512_maskz_loadu_ps(live, x + c), v,
		                                      _CMP_GE_OQ);
		if (m)
			return c + (size_t)__builtin_ctz(m);
	}
	return n;
}

/* The count of up to 2^30 values in 16 lanes of counters: a compare and a
 * masked add per vector, two vectors per step (the bisections count the same
 * few hundred values ~15 times each, README "Counts in lanes"). */
static inline MATCH_AVX512 size_t count_ge_lanes(const float *x, size_t n, __m512 v)
{
	const __m512i one = _mm512_set1_epi32(1);
	__m512i c0 = _mm512_setzero_si512(), c1 = c0;
	size_t c = 0;
	for (; c + 32 <= n; c += 32) {
		__mmask16 m0 = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + c), v, _CMP_GE_OQ);
		__mmask16 m1 = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + c + 16), v, _CMP_GE_OQ);
		c0 = _mm512_mask_add_epi32(c0, m0, c0, one);
		c1 = _mm512_mask_add_epi32(c1, m1, c1, one);
	}
	for (; c < n; c += 16) {
		__mmask16 live = live_lanes(n - c);
		__mmask16 m = _mm512_mask_cmp_ps_mask(live, _mm512_maskz_loadu_ps(live, x + c), v,
		                                      _CMP_GE_OQ);
		c0 = _mm512_mask_add_epi32(c0, m, c0, one);
	}
	return (uint32_t)_mm512_reduce_add_epi32(_mm512_add_epi32(c0, c1));
}

static MATCH_AVX512 size_t count_ge_avx512(const float *x, size_t n, float t)
{
	const size_t part = (size_t)1 << 30; /* a lane counts at most 2^26 of them */
	const __m512 v = _mm512_set1_ps(t);
	size_t count = 0;
	for (size_t c = 0; c < n; c += part)
		count += count_ge_lanes(x + c, n - c < part ? n - c : part, v);
	return count;
}

/* Append the hits of one 16-lane vector d (lanes in hit, maybe none) at
 * sim/idx + *m, 16 slots written whatever their count. Register compresses
 * are fast where memory ones are not, hence full-width stores and the 16
 * spare slots. */
static inline MATCH_AVX512 void append_lanes(__m512 d, __mmask16 hit, uint32_t first, float *sim,
                                             uint32_t *idx, size_t *m)
{
	const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	__m512 s = _mm512_min_ps(_mm512_max_ps(d, _mm512_setzero_ps()), _mm512_set1_ps(1.0f));
	__m512i j = _mm512_add_epi32(_mm512_set1_epi32((int)first), lanes);
	_mm512_storeu_ps(sim + *m, _mm512_maskz_compress_ps(hit, s));
	_mm512_storeu_si512(idx + *m, _mm512_maskz_compress_epi32(hit, j));
	*m += (size_t)__builtin_popcount(hit);
}

/* As append_lanes; returns 0 when the hits do not fit in room. */
static inline MATCH_AVX512 int append_hits(__m512 d, __mmask16 hit, uint32_t first, float *sim,
                                           uint32_t *idx, size_t room, size_t *m)
{
	if ((size_t)__builtin_popcount(hit) > room - *m)
		return 0;
	append_lanes(d, hit, first, sim, idx, m);
	return 1;
}

/* 64 floats per test while nothing qualifies (the common case once the
 * floor has risen), then 16 lanes at a time with a masked tail. A group
 * with hits whose 64 fit in room appends all four vectors without testing
 * each: under a floor guessed low its vectors hit about as often as not, so
 * a test per vector was a branch mispredicted every other time (the
 * kernel's samples fell by ~18 % on the benchmark's top-k). */
static MATCH_AVX512 size_t collect_avx512(const float *x, size_t from, size_t n, float lo,
                                          uint32_t base, float *sim, uint32_t *idx, size_t room,
                                          size_t *stop)
{
	const __m512 v = _mm512_set1_ps(lo);
	size_t m = 0, c = from;
	for (; c + 64 <= n; c += 64) {
		__m512 d[4];
		__mmask16 hit[4];
		for (int q = 0; q < 4; q++) {
			d[q] = _mm512_loadu_ps(x + c + 16 * q);
			hit[q] = _mm512_cmp_ps_mask(d[q], v, _CMP_GE_OQ);
		}
		if ((hit[0] | hit[1] | hit[2] | hit[3]) == 0)
			continue;
		if (room - m >= 64) {
			for (int q = 0; q < 4; q++)
				append_lanes(d[q], hit[q], base + (uint32_t)(c + 16 * (size_t)q), sim, idx, &m);
			continue;
		}
		for (int q = 0; q < 4; q++) {
			if (hit[q] && !append_hits(d[q], hit[q], base + (uint32_t)(c + 16 * (size_t)q),
			                           sim, idx, room, &m)) {
				*stop = c + 16 * (size_t)q;
				return m;
			}
		}
	}
	for (; c < n; c += 16) {
		__mmask16 live = live_lanes(n - c);
		__m512 d = _mm512_maskz_loadu_ps(live, x + c);
		__mmask16 hit = _mm512_mask_cmp_ps_mask(live, d, v, _CMP_GE_OQ);
		if (hit && !append_hits(d, hit, base + (uint32_t)c, sim, idx, room, &m))
			break;
	}
	*stop = c < n ? c : n;
	return m;
}

/* keep_ge_generic 16 lanes at a time: each vector is loaded before the
 * compressed one is stored at m <= its place (full width: register
 * compresses are fast, memory ones are not; the 16 spare slots take it). */
static MATCH_AVX512 size_t keep_ge_avx512(float *sim, uint32_t *idx, size_t n, float cut,
                                          float *low)
{
	const __m512 v = _mm512_set1_ps(cut);
	__m512 least = _mm512_set1_ps(1.0f);
	size_t m = 0;
	for (size_t c = 0; c < n; c += 16) {
		__mmask16 live = live_lanes(n - c);
		__m512 s = load_ps16(sim + c, n - c);
		__m512i j = load_epi16(idx + c, n - c);
		__mmask16 keep = _mm512_mask_cmp_ps_mask(live, s, v, _CMP_GE_OQ);
		least = _mm512_mask_min_ps(least, keep, least, s);
		_mm512_storeu_ps(sim + m, _mm512_maskz_compress_ps(keep, s));
		_mm512_storeu_si512(idx + m, _mm512_maskz_compress_epi32(keep, j));
		m += (size_t)__builtin_popcount(keep);
	}
	*low = _mm512_reduce_min_ps(least);
	return m;
}

/* The first popcount(keep) lanes. */
static inline MATCH_AVX512 __mmask16 count_mask(__mmask16 keep)
{
	return (__mmask16)((1u << __builtin_popcount(keep)) - 1);
}

/* v's first popcount(keep) lanes to x: all 16 when whole (plain stores
 * rather than masked ones, as with the loads), else under a mask. */
static inline MATCH_AVX512 void store_ps16(float *x, __m512 v, int whole, __mmask16 keep)
{
	if (whole)
		_mm512_storeu_ps(x, v);
	else
		_mm512_mask_storeu_ps(x, count_mask(keep), v);
}

static inline MATCH_AVX512 void store_epi16(uint32_t *x, __m512i v, int whole, __mmask16 keep)
{
	if (whole)
		_mm512_storeu_si512(x, v);
	else
		_mm512_mask_storeu_epi32(x, count_mask(keep), v);
}

/* The kept lanes of (s, j), compressed in registers, to sim and idx; returns
 * their count. Compacting in place, a whole vector's 16 lanes go out
 * whole: they end at or before the vector's own end, read already. The
 * last, partial one is stored under a mask of its count, so that nothing
 * lands past the array's end (conf is packed). */
static inline MATCH_AVX512 size_t store_kept(float *sim, uint32_t *idx, __mmask16 keep, __m512 s,
                                             __m512i j, int whole)
{
	store_ps16(sim, _mm512_maskz_compress_ps(keep, s), whole, keep);
	store_epi16(idx, _mm512_maskz_compress_epi32(keep, j), whole, keep);
	return (size_t)__builtin_popcount(keep);
}

/* keep_band_generic 16 lanes at a time: compressed in registers, stored
 * whole but for the last vector (store_kept). */
static MATCH_AVX512 size_t keep_band_avx512(float *sim, uint32_t *idx, float *conf, size_t n,
                                            float lo, float pending)
{
	const __m512 vlo = _mm512_set1_ps(lo), vpending = _mm512_set1_ps(pending);
	size_t m = 0;
	for (size_t c = 0; c < n; c += 16) {
		__mmask16 live = live_lanes(n - c);
		int whole = n - c >= 16;
		__m512 s = load_ps16(sim + c, n - c), f = load_ps16(conf + c, n - c);
		__m512i j = load_epi16(idx + c, n - c);
		__mmask16 done = _mm512_mask_cmp_ps_mask(live, f, _mm512_setzero_ps(), _CMP_GE_OQ);
		__mmask16 keep = done | _mm512_mask_cmp_ps_mask(live, s, vlo, _CMP_GE_OQ);
		f = _mm512_mask_blend_ps(done, vpending, f);
		store_ps16(conf + m, _mm512_maskz_compress_ps(keep, f), whole, keep);
		m += store_kept(sim + m, idx + m, keep, s, j, whole);
	}
	return m;
}

/* take_ge_generic 16 lanes at a time, stored as store_kept does. */
static MATCH_AVX512 size_t take_ge_avx512(const float *conf, float *sim, uint32_t *idx, size_t n,
                                          float cut)
{
	const __m512 v = _mm512_set1_ps(cut);
	size_t m = 0;
	for (size_t c = 0; c < n; c += 16) {
		__mmask16 live = live_lanes(n - c);
		__m512 f = load_ps16(conf + c, n - c);
		__m512i j = load_epi16(idx + c, n - c);
		m += store_kept(sim + m, idx + m, _mm512_mask_cmp_ps_mask(live, f, v, _CMP_GE_OQ), f, j,
		                n - c >= 16);
	}
	return m;
}

/* mark_ge_generic 16 lanes at a time, the tail stored masked (conf is
 * packed). */
static MATCH_AVX512 size_t mark_ge_avx512(const float *x, float *out, size_t n, float t, float yes,
                                          float no)
{
	const __m512 vt = _mm512_set1_ps(t), vyes = _mm512_set1_ps(yes), vno = _mm512_set1_ps(no);
	size_t m = 0;
	for (size_t c = 0; c < n; c += 16) {
		__mmask16 live = live_lanes(n - c);
		__mmask16 ge = _mm512_mask_cmp_ps_mask(live, load_ps16(x + c, n - c), vt, _CMP_GE_OQ);
		__m512 mark = _mm512_mask_blend_ps(ge, vno, vyes);
		if (n - c >= 16)
			_mm512_storeu_ps(out + c, mark);
		else
			_mm512_mask_storeu_ps(out + c, live, mark);
		m += (size_t)__builtin_popcount(ge);
	}
	return m;
}

/* top_lanes_generic with the lanes in a register (a NaN leaves a lane's
 * maximum as it was: vmaxps returns its second operand then). */
static MATCH_AVX512 size_t top_lanes_avx512(const float *x, size_t n, float *out)
{
	__m512 lane = _mm512_setzero_ps();
	for (size_t c = 0; c < n; c += 16)
		lane = _mm512_max_ps(load_ps16(x + c, n - c), lane);
	const __m512 least = _mm512_set1_ps(_mm512_reduce_min_ps(lane));
	size_t m = 0;
	for (size_t c = 0; c < n; c += 16) {
		__mmask16 live = live_lanes(n - c);
		__m512 v = load_ps16(x + c, n - c);
		__mmask16 ge = _mm512_mask_cmp_ps_mask(live, v, least, _CMP_GE_OQ);
		_mm512_storeu_ps(out + m, _mm512_maskz_compress_ps(ge, v));
		m += (size_t)__builtin_popcount(ge);
	}
	return m;
}

/* list_pending_generic 16 lanes at a time, compressed in registers (the 16
 * spare slots take the full stores). */
static MATCH_AVX512 size_t list_pending_avx512(const float *conf, const uint32_t *idx, size_t n,
                                               float pending, uint32_t r, uint32_t *j,
                                               uint32_t *row, uint32_t *slot)
{
	const __m512 vpending = _mm512_set1_ps(pending);
	const __m512i vr = _mm512_set1_epi32((int)r), sixteen = _mm512_set1_epi32(16);
	__m512i at = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	size_t m = 0;
	for (size_t c = 0; c < n; c += 16, at = _mm512_add_epi32(at, sixteen)) {
		__mmask16 live = live_lanes(n - c);
		__m512 f = load_ps16(conf + c, n - c);
		__mmask16 is = _mm512_mask_cmp_ps_mask(live, f, vpending, _CMP_EQ_OQ);
		__m512i idxs = load_epi16(idx + c, n - c);
		_mm512_storeu_si512(j + m, _mm512_maskz_compress_epi32(is, idxs));
		_mm512_storeu_si512(row + m, vr);
		_mm512_storeu_si512(slot + m, _mm512_maskz_compress_epi32(is, at));
		m += (size_t)__builtin_popcount(is);
	}
	return m;
}

/* One stage of a bitonic sort of the nv vectors of 8 keys in v: keys
 * stride apart are compared and exchanged, the larger first where the
 * position's bit of size is 0 (so the last stages, size = 8 nv, sort all
 * descending). Pairs of whole vectors for strides from 8 on, else lanes of
 * each vector against a permuted copy of it. */
static inline __attribute__((always_inline)) MATCH_AVX512 void
bitonic_stage(__m512i *v, size_t nv, size_t size, size_t stride)
{
	if (stride >= 8) {
		size_t vs = stride / 8;
		for (size_t a = 0; a < nv; a++) {
			if (a & vs)
				continue;
			__m512i hi = _mm512_max_epu64(v[a], v[a | vs]), lo = _mm512_min_epu64(v[a], v[a | vs]);
			int desc = (a * 8 & size) == 0;
			v[a] = desc ? hi : lo;
			v[a | vs] = desc ? lo : hi;
		}
		return;
	}
	const __m512i partner = _mm512_xor_si512(_mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7),
	                                         _mm512_set1_epi64((long long)stride));
	/* lanes that are the first of their pair; lanes that sort descending */
	unsigned first = stride == 4 ? 0x0f : stride == 2 ? 0x33 : 0x55;
	for (size_t a = 0; a < nv; a++) {
		unsigned desc = size == 2 ? 0x33 : size == 4 ? 0x0f : (a * 8 & size) == 0 ? 0xff : 0;
		__mmask8 take_max = (__mmask8)~(first ^ desc);
		__m512i p = _mm512_permutexvar_epi64(partner, v[a]);
		v[a] = _mm512_mask_blend_epi64(take_max, _mm512_min_epu64(v[a], p), _mm512_max_epu64(v[a], p));
	}
}

/* The whole sort of nv vectors, each stage in turn. Inlined for a constant
 * nv (bitonic_sort), its loops unrolled, every stage's masks are constants
 * (with nv and the stages as variables, the masks were computed for every
 * vector of every stage: ~1 % of an int8 top-k of k = 100, half of it
 * saved). */
static inline __attribute__((always_inline)) MATCH_AVX512 void bitonic_sort_n(__m512i *v, size_t nv)
{
#pragma GCC unroll 8
	for (size_t size = 2; size <= 8 * nv; size *= 2)
#pragma GCC unroll 8
		for (size_t stride = size / 2; stride > 0; stride /= 2)
			bitonic_stage(v, nv, size, stride);
}

/* Unrolled for each number of vectors up to 16 (k <= 128); 32 runs the
 * loops with nv a variable. 5 KB of code in all. */
static MATCH_AVX512 void bitonic_sort(__m512i *v, size_t nv)
{
	switch (nv) {
	case 1: bitonic_sort_n(v, 1); break;
	case 2: bitonic_sort_n(v, 2); break;
	case 4: bitonic_sort_n(v, 4); break;
	case 8: bitonic_sort_n(v, 8); break;
	case 16: bitonic_sort_n(v, 16); break;
	default: bitonic_sort_n(v, nv); break;
	}
}

/* A hit's key is its sim's bits over ~idx; struct match_hit is idx then
 * sim, so on little-endian x86 the hit is its key with the low half
 * inverted, and keys go in and out 8 at a time (a scalar loop reading the
 * sorted keys back stalled on store forwarding: a quarter of its time). */
_Static_assert(sizeof(struct match_hit) == 8 && offsetof(struct match_hit, sim) == 4,
               "a hit is its 64-bit key with the low half inverted");

/* The 32-bit values of the lanes in live (0xff: a plain load). */
static inline MATCH_AVX512 __m256i load8(const void *x, __mmask8 live)
{
	return live == 0xff ? _mm256_loadu_si256((const __m256i *)x)
	                    : _mm512_castsi512_si256(_mm512_maskz_loadu_epi32(live, x));
}

static MATCH_AVX512 void best_first_avx512(const float *sim, const uint32_t *idx, size_t n,
                                           struct match_hit *out)
{
	__m512i v[MATCH_BEST_MAX / 8];
	size_t nv = 1;
	while (8 * nv < n)
		nv *= 2;
	const __m512i low = _mm512_set1_epi64(0xffffffffll);
	for (size_t a = 0; a < nv; a++) { /* sims >= +0 order like their bits */
		size_t c = 8 * a;
		__mmask8 live = (__mmask8)(c >= n ? 0 : n - c >= 8 ? 0xff : (1u << (n - c)) - 1);
		__m512i hi = _mm512_cvtepu32_epi64(load8(sim + c, live));
		__m512i lo = _mm512_cvtepu32_epi64(load8(idx + c, live));
		/* dead lanes 0: below every hit, whose ~idx >= 1 (idx < 2^32 - 1) */
		v[a] = _mm512_maskz_xor_epi64(live, _mm512_or_si512(_mm512_slli_epi64(hi, 32), lo), low);
	}
	bitonic_sort(v, nv);
	for (size_t a = 0; 8 * a < n; a++) {
		size_t c = 8 * a;
		__m512i hits = _mm512_xor_si512(v[a], low);
		if (n - c >= 8)
			_mm512_storeu_si512(out + c, hits);
		else
			_mm512_mask_storeu_epi64(out + c, (__mmask8)((1u << (n - c)) - 1), hits);
	}
}
#endif

const struct match_kernels *match_kernels(void)
{
	static const struct match_kernels generic = { next_ge_generic, count_ge_generic,
		                                      collect_generic, keep_ge_generic, keep_band_generic,
		                                      take_ge_generic, mark_ge_generic, list_pending_generic,
		                                      top_lanes_generic, NULL };
#if defined(__x86_64__) && defined(__GNUC__)
	static const struct match_kernels avx512 = { next_ge_avx512, count_ge_avx512, collect_avx512,
		                                     keep_ge_avx512, keep_band_avx512, take_ge_avx512,
		                                     mark_ge_avx512,
		                                     list_pending_avx512, top_lanes_avx512,
		                                     best_first_avx512 };
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f"))
		return &avx512;
#endif
	return &generic;
}

float match_strict_floor(float t)
{
	if (t < 0.0f)
		return -INFINITY;
	return nextafterf(t, INFINITY);
}
