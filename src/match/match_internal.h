/*
 * match_internal.h - shared machinery of src/match: the worker-thread runner,
 * the OpenBLAS thread guard, the tiled product driver and the SIMD scan
 * helpers that find candidate similarities in a tile row.
 *
 * Workload: called once per match_* call; the scan helpers run over every
 * element of every tile (hundreds of millions of floats per call), so they
 * are inline and vectorised.
 */
#ifndef LUNA_MATCH_INTERNAL_H
#define LUNA_MATCH_INTERNAL_H

#include "match/match.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- threads ---------------------------------------------------------- */

/* Resolve a requested thread count (<= 0: usable CPUs), capped by max_useful
 * (the number of work items; at least 1). */
int match_thread_count(int requested, size_t max_useful);

/* Run fn(job, t) for t = 0..nthreads-1, t = 0 on the calling thread. If a
 * thread cannot be started the others still run; work is handed out
 * dynamically, so fewer workers only means less parallelism. */
typedef void (*match_work_fn)(void *job, int thread);
void match_run_parallel(int nthreads, match_work_fn fn, void *job);

/* Worker threads kept for many runs (the steps of a stream: some 40 runs
 * of a few milliseconds each for a clustering, where starting and joining
 * a thread per run costs ~80 us of a core on a VM): started as runs first
 * need them, waiting on a condition variable in between, stopped and
 * joined by match_pool_free. match_pool_run is match_run_parallel on the
 * pool's threads (pool NULL: match_run_parallel itself); one run at a time. */
struct match_pool;
struct match_pool *match_pool_new(void);   /* NULL when out of memory */
void match_pool_run(struct match_pool *pool, int nthreads, match_work_fn fn, void *job);
void match_pool_free(struct match_pool *pool);   /* NULL ok */

/* Shared early-stop state of one call: the first nonzero result wins. */
struct match_stop {
	atomic_int rc;
};
static inline int match_stopped(struct match_stop *s)
{
	return atomic_load_explicit(&s->rc, memory_order_relaxed) != 0;
}
static inline void match_stop_with(struct match_stop *s, int rc)
{
	int zero = 0;
	if (rc != 0)
		atomic_compare_exchange_strong(&s->rc, &zero, rc);
}

/* OpenBLAS must run single-threaded inside our workers; these bracket a call
 * (reference counted, so concurrent match calls are safe) and restore the
 * previous OpenBLAS thread count afterwards. */
void match_blas_begin(void);
void match_blas_end(void);

/* ---- products ----------------------------------------------------------- */

/* out[r*nj + c] = dot(a row r, b row c), raw (not clamped); rows have stride d. */
void match_dot_tile(const float *a, size_t ni, const float *b, size_t nj, size_t d, float *out);

/* 64-byte aligned float buffer (free with free()); NULL on overflow/ENOMEM. */
float *match_alloc_floats(size_t count);

/* Argument checks shared by the public functions; -1/EINVAL when bad. */
int match_check_dims(size_t n, size_t d);

/* Tiled driver: calls fn for every MATCH_TILE-square tile of A x B^T (only
 * tiles with j0 >= i0 when upper), with raw dot products in dots (writable). */
typedef int (*match_raw_tile_fn)(void *ctx, int thread, size_t i0, size_t ni, size_t j0, size_t nj,
                                 float *dots);
int match_run_tiles(const float *a, size_t na, const float *b, size_t nb, size_t d, int upper,
                    int nthreads, match_raw_tile_fn fn, void *ctx);
/* The same over a prepared product; int8 products call fn once per stripe
 * of p->stripe rows (i0 then need not equal j0 on a diagonal tile). Upper:
 * only the tiles that hold a column j >= from (0: all of the triangle). */
struct match_product;
struct match_tile_bufs;
int match_run_product_tiles(const struct match_product *p, int upper, size_t from, int nthreads,
                            match_raw_tile_fn fn, void *ctx, struct match_tile_bufs *kept);
/* Tile buffers (kept above; NULL: the run's own) kept from one run of the
 * driver to the next: the steps of a stream (fresh memory costs a page
 * fault per page). Zero-initialised; sized for MATCH_TILE columns. */
struct match_tile_bufs {
	float **bufs;
	int n;
	size_t floats;
	struct match_pool *pool; /* the runs' threads (NULL: started per run); not freed here */
};
void match_tile_bufs_free(struct match_tile_bufs *kept);

/* ---- proposals: fp32 (sgemm) or int8 products, confirmed canonically ------ */

/* The canonical dot product (match_similarity before its clamp): what every
 * similarity reported by match_pairs_above and match_topk is, whichever
 * product proposed it. 32 float lanes (element k by FMA into lane k % 32),
 * summed pairwise; AVX-512 or AVX2 when the CPU has them, the portable loop
 * otherwise, the same bits from each (the _avx* forms only after a CPU
 * check). */
float match_dot_canonical(const float *a, const float *b, size_t d);
float match_dot_canonical_generic(const float *a, const float *b, size_t d);
float match_dot_canonical_avx2(const float *a, const float *b, size_t d);
float match_dot_canonical_avx512(const float *a, const float *b, size_t d);
/* Two canonical dots, out[0] = a . b and out[1] = c . e, the same bits as
 * two calls; the AVX-512 form runs them together, so that one dot's FMA
 * chains run while the other's wait on their latency. */
void match_dot_canonical2(const float *a, const float *b, const float *c, const float *e, size_t d,
                          float out[2]);
/* The form match_dot_canonical2 runs on this CPU, for callers that make
 * millions of calls (the top-k's confirming: the check per call was ~0.35 %
 * of an int8 top-k's samples). */
typedef void (*match_dot2_fn)(const float *a, const float *b, const float *c, const float *e,
                              size_t d, float out[2]);
match_dot2_fn match_dot_canonical2_form(void);
void match_dot_canonical2_avx512(const float *a, const float *b, const float *c, const float *e,
                                 size_t d, float out[2]);

/* Broadcast side of the int8 product: s8 rows q = round(x / scale), row-major
 * with stride dp (d rounded up to 4, zero padded; MR spare zero rows),
 * corr = 128 * sum(q), which the +128 offset of the other side adds, and
 * qn = ||q|| (float; the columns' shift, struct match_u8cols). */
struct match_i8rows {
	int8_t *q;
	int32_t *corr;
	float *scale;
	float *qn;
	size_t dp;
};

/* Column side: u8 (q + 128) in panels of 16 rows, [dp / 4][16][4] bytes per
 * panel, padded to a whole number of 32-row panel pairs.
 * slack[j] = (E - e_j) / scale_j, a little under (E the largest error norm
 * of the side, e_j row j's; 0 in the padding): the micro-kernels start
 * column j's sums at -trunc(Q slack[j]), Q the least qn of the call's rows,
 * which moves each proposal down by at most ||x_i^|| (E - e_j), the part of
 * the radius that row j does not need (README "The bound"). */
struct match_u8cols {
	uint8_t *q;
	float *scale; /* padded like the panels */
	float *slack; /* padded like the panels */
};

/* out[r * nj + c] ~= dot(a row i0 + r, b row j0 + c); j0 % 32 == 0. The
 * AVX-512 VNNI and the 256-bit AVX-VNNI forms give the same values. */
void match_vnni_tile(const struct match_i8rows *a, size_t i0, size_t ni,
                     const struct match_u8cols *b, size_t j0, size_t nj, float *out);
void match_avxvnni_tile(const struct match_i8rows *a, size_t i0, size_t ni,
                        const struct match_u8cols *b, size_t j0, size_t nj, float *out);

/* A row of a scanning product: each value >= floor is appended, clamped to
 * [0, 1], at sim[n] with its base index at idx[n]. The caller leaves room
 * for every column of the call plus 16 slots (whole vectors are stored). */
struct match_scan_row {
	float floor;
	float *sim;
	uint32_t *idx;
	size_t n;
	int dense; /* hits were many in the last call: append whole vectors */
};
/* match_vnni_tile's values, scanned into rows[0 .. ni) instead of stored. */
void match_vnni_scan(const struct match_i8rows *a, size_t i0, size_t ni,
                     const struct match_u8cols *b, size_t j0, size_t nj,
                     struct match_scan_row *rows);

/* Column side of the fp32 scanning product: B's rows in panels of 16, [d][16]
 * floats per panel (element k of the panel's 16 rows together), zero rows
 * up to a whole number of 32-row panel pairs.
 * paired: elements 4g and 4g + 1 of each row pair go in as Winograd's pair
 * (a_4g + b_4g+1)(a_4g+1 + b_4g), one FMA and two additions for two
 * products, and each value starts at start_a[i] + start_b[j], the rows'
 * -sum of x_4g x_4g+1 (match_pair_start), so that the sum is a.b again. */
struct match_f32cols {
	float *q;
	int paired;
	float *start_a, *start_b;
};
/* Tests: pair the fp32 top-k's product on any CPU with AVX-512 (1), never
 * (0), or where it pays (-1, the default: AMD's cores, whose FP adders are
 * pipes of their own). */
void match_set_f32_pairing(int mode);
/* The products of rows i0 .. i0 + ni of a (row-major, stride d) with panel
 * rows j0 .. j0 + nj (j0 % 32 == 0), scanned into rows[0 .. ni) as
 * match_vnni_scan scans its values. Each value is the sum of its d products
 * in order, one FMA each (or paired): not sgemm's bits, but within the bound
 * radius_of takes for them (match_product.c). AVX-512F and VL only. */
void match_f32_scan(const float *a, size_t d, size_t i0, size_t ni, const struct match_f32cols *b,
                    size_t j0, size_t nj, struct match_scan_row *rows);

/* A quantized row's statistics: e = ||x - x^||, norm = ||x||, qnorm =
 * ||x^|| = scale sqrt(squares) (x^ = scale q; in double; the AVX-512 form's
 * e and norm may be upper bounds from float sums), and the exact sum of q
 * and of its squares. */
struct match_qrow {
	double e, norm, qnorm;
	int32_t sum, squares;
};
/* q = round(x / scale), scale = max|x| / 127 (match_product.c); the AVX-512
 * form gives the same q, scale, sum, squares and qnorm, and e and norm
 * summed in another order or, for most rows, bounds of them from float sums
 * (README "Quantization"). */
float match_quantize_row(const float *x, size_t d, int8_t *q, struct match_qrow *st);
float match_quantize_row_scalar(const float *x, size_t d, int8_t *q, struct match_qrow *st);
float match_quantize_row_avx512(const float *x, size_t d, int8_t *q, struct match_qrow *st);

/* Which product proposes: sgemm, or int8 in one of its two widths. */
enum match_form { MATCH_FORM_FP32, MATCH_FORM_INT8_512, MATCH_FORM_INT8_256 };

/* A product A x B^T that proposes: tile values that differ from the
 * canonical dot of the same rows by at most radius[i] (row i of A, any row
 * of B; already rounded up so that value - radius never rounds up past the
 * true bound). Either sgemm or the int8 kernel (match_set_kernel). */
struct match_product {
	const float *a, *b;
	size_t na, nb, d;
	int int8;             /* an int8 form runs (form) */
	enum match_form form;
	size_t stripe; /* rows of A per product call: int8 keeps a stripe in L1/L2 */
	float *radius; /* na bounds; NULL unless match_product_init asked for them */
	struct match_i8rows qa;
	struct match_u8cols qb;
	/* MATCH_BOUNDS_LATER with fp32 on AVX-512: B in panels, so that a top-k
	 * scans its values in the product (match_f32_scan) instead of reading
	 * sgemm's tiles back; q NULL otherwise */
	struct match_f32cols fb;
	/* MATCH_BOUNDS_LATER with int8: A's rows are quantized block by block
	 * (match_block_rows), with their bounds, from B's largest norm, error
	 * and m; qa holds only dp and radius is NULL */
	int a_later;
	double b_max_norm, b_max_e, b_max_m;
};

/* Sets up the product (quantizes both sides for int8, on nthreads workers;
 * self: a == b). With bounds, fills radius. Returns 0, or -1/ENOMEM.
 * bounds MATCH_BOUNDS_LATER: as 1, but an int8 product leaves the rows of A
 * to match_block_rows (only checks them for infs and NaNs): a top-k
 * quantizes each block of queries as it searches it, so that 20,000 rows
 * of 512 take 0.5 MB per worker instead of 10 MB of fresh memory. */
#define MATCH_BOUNDS_LATER 2
int match_product_init(struct match_product *p, const float *a, size_t na, const float *b,
                       size_t nb, size_t d, int bounds, int nthreads);
/* A block of rows of p's A side (p->a_later): blk is p with its own A of up
 * to max_rows rows; match_block_rows quantizes rows a0 .. a0 + n of p's A
 * into it, as rows 0 .. n, with their radius. -1/ENOMEM. */
int match_block_init(struct match_product *blk, const struct match_product *p, size_t max_rows);
void match_block_rows(struct match_product *blk, const struct match_product *p, size_t a0, size_t n);
void match_block_free(struct match_product *blk);
void match_product_free(struct match_product *p);
/* Rows i0 .. i0+ni of A against j0 .. j0+nj of B into out (ni x nj). */
void match_product_tile(const struct match_product *p, size_t i0, size_t ni, size_t j0, size_t nj,
                        float *out);
/* Can p scan its values (match_product_scan)? The AVX-512 VNNI form, and
 * fp32 with B in panels (fb). */
int match_product_scans(const struct match_product *p);
/* The values of match_product_tile, each row's >= its floor appended to its
 * buffer (struct match_scan_row); only where match_product_scans(p). */
void match_product_scan(const struct match_product *p, size_t i0, size_t ni, size_t j0, size_t nj,
                        struct match_scan_row *rows);

/* The A side of products prepared once for several B (match_topk_prepare:
 * the same queries against every block of a streamed base): rows quantized
 * (int8) and the per-row statistics the radius needs. */
struct side_stats;
struct match_rows {
	const float *a;
	size_t na, d;
	int int8;
	enum match_form form;
	struct match_i8rows qa;
	struct side_stats *stats;
	float *start; /* fp32 paired: match_pair_start of each row (NULL: unpaired) */
};
int match_rows_prepare(struct match_rows *r, const float *a, size_t na, size_t d, int nthreads);
void match_rows_free(struct match_rows *r);
/* As match_product_init(p, r->a, r->na, b, nb, r->d, 1, nthreads), the same
 * bits, quantizing B only; free with match_product_free_rows (r's rows stay). */
int match_product_init_rows(struct match_product *p, const struct match_rows *r, const float *b,
                            size_t nb, int nthreads);
void match_product_free_rows(struct match_product *p, const struct match_rows *r);

/* A self product over rows that arrive in blocks (clustering matches each
 * block it reads): rows [0, p.na) of x are prepared, each quantized once
 * (int8: their s8 rows, column panels and statistics are kept), with room
 * for cap rows. The product and radius over n rows are those
 * match_product_init(x, n, x, n, d, 1) sets up, unless a block brings
 * non-finite values: from then on it is sgemm over all rows, as that call
 * would be. */
struct match_growing {
	struct match_product p;
	size_t cap;
	struct side_stats *stats;
};
int match_growing_init(struct match_growing *g, const float *x, size_t cap, size_t d);
/* Rows [p.na, n) join (n <= cap), quantized on nthreads workers (of pool,
 * when not NULL); the radius
 * of every row [0, n) is refreshed. 0, or -1/ENOMEM. */
int match_growing_add(struct match_growing *g, size_t n, int nthreads, struct match_pool *pool);
void match_growing_free(struct match_growing *g);

/* The pairs i < j < p->na with j >= from and sim > threshold of a self
 * product set up with bounds, confirmed canonically (match_pairs_above's
 * runner: from = 0 for all of them); kept: NULL, or tile buffers for the
 * next run. */
int match_pairs_run(const struct match_product *p, size_t from, float threshold, int nthreads,
                    match_pair_cb cb, void *ud, struct match_tile_bufs *kept);

/* match_topk's parts: its argument checks (counts cleared; 1 when there is
 * nothing to search, 0 to go on, -1/EINVAL) and the search over a product
 * set up with bounds (queries = A, base = B). */
struct match_hit;
int match_topk_check(size_t nq, size_t nb, size_t d, size_t k, float threshold,
                     const struct match_hit *out, size_t *counts);
int match_topk_product(const struct match_product *prod, size_t k, float threshold, int exclude_self,
                       int nthreads, struct match_hit *out, size_t *counts);
/* Tests only: nonzero halves every part of the last items at every block
 * boundary (down to 8 rows), on any number of threads, instead of only for
 * a worker that is idle (match_topk.c, "parts"). Set while no call runs. */
extern int match_topk_split_always;
/* Tests only: added to every floor guess (guess_floor), so that guesses are
 * too high and are disproved at settle or after the first round; and how
 * many queries were scanned again after their first round (confirm_late).
 * Set and read while no call runs. */
extern float match_topk_guess_raise;
extern atomic_size_t match_topk_late_redos;

/* Chosen rows of A, gathered so that one product proposes them together
 * (match_topk scans the queries whose floor guess failed again, as one
 * stripe rather than one product per row): match_product_tile(&g->view, 0,
 * n, ...) after match_gather_rows proposes what the rows in place would, within
 * the same bound (int8: the same bits). */
struct match_gather {
	struct match_product view; /* B and the form of the product; A the gathered rows */
	float *a;                  /* fp32: max_rows x d */
	size_t max_rows;
};
int match_gather_init(struct match_gather *g, const struct match_product *p, size_t max_rows);
/* rows[0 .. n) (n <= max_rows) of p's A become rows 0 .. n of g->view. */
void match_gather_rows(struct match_gather *g, const struct match_product *p, const uint32_t *rows,
                       size_t n);
void match_gather_free(struct match_gather *g);

/* ---- scans -------------------------------------------------------------- */

/* clamp(s, 0, 1); -0 and NaN give +0, so results order like their bits.
 * Branch-free: about half of all dot products are negative. */
static inline float match_clamp01(float s)
{
#ifdef __SSE2__
	__m128 v = _mm_max_ss(_mm_set_ss(s), _mm_setzero_ps()); /* NaN, -0 -> +0 */
	return _mm_cvtss_f32(_mm_min_ss(v, _mm_set_ss(1.0f)));
#else
	return s > 0.0f ? (s < 1.0f ? s : 1.0f) : 0.0f;
#endif
}

/* Clamp n values to [0, 1] in place. */
void match_clamp_array(float *x, size_t n);

/* First index c in [from, n) with x[c] >= lo, or n. Most tile elements fail
 * the test, so 16 are compared at a time before looking closer. */
static inline size_t match_next_ge(const float *x, size_t from, size_t n, float lo)
{
	size_t c = from;
#ifdef __SSE2__
	const __m128 v = _mm_set1_ps(lo);
	for (; c + 16 <= n; c += 16) {
		__m128 m0 = _mm_cmpge_ps(_mm_loadu_ps(x + c), v);
		__m128 m1 = _mm_cmpge_ps(_mm_loadu_ps(x + c + 4), v);
		__m128 m2 = _mm_cmpge_ps(_mm_loadu_ps(x + c + 8), v);
		__m128 m3 = _mm_cmpge_ps(_mm_loadu_ps(x + c + 12), v);
		if (_mm_movemask_ps(_mm_or_ps(_mm_or_ps(m0, m1), _mm_or_ps(m2, m3))) == 0)
			continue;
		unsigned bits = (unsigned)_mm_movemask_ps(m0) | (unsigned)_mm_movemask_ps(m1) << 4 |
		                (unsigned)_mm_movemask_ps(m2) << 8 | (unsigned)_mm_movemask_ps(m3) << 12;
		return c + (size_t)__builtin_ctz(bits);
	}
#endif
	for (; c < n; c++)
		if (x[c] >= lo)
			return c;
	return n;
}

/* Number of x[0, n) that are >= t. */
static inline size_t match_count_ge(const float *x, size_t n, float t)
{
	size_t i = 0, count = 0;
#ifdef __SSE2__
	const __m128 v = _mm_set1_ps(t);
	for (; i + 8 <= n; i += 8) {
		unsigned m = (unsigned)_mm_movemask_ps(_mm_cmpge_ps(_mm_loadu_ps(x + i), v)) |
		             (unsigned)_mm_movemask_ps(_mm_cmpge_ps(_mm_loadu_ps(x + i + 4), v)) << 4;
		count += (size_t)__builtin_popcount(m);
	}
#endif
	for (; i < n; i++)
		count += x[i] >= t;
	return count;
}

/* The scan kernels, chosen once per call for this CPU (AVX-512 when it is
 * there, so the library needs no -march flags). */
typedef size_t (*match_scan_fn)(const float *x, size_t from, size_t n, float lo);
typedef size_t (*match_count_fn)(const float *x, size_t n, float t);
/* Append clamp01(x[c]) to sim and base + c to idx for each c in [from, n)
 * with x[c] >= lo (NaN never qualifies) while room lasts; returns the number
 * appended and sets *stop to n, or to the first position whose hit did not
 * fit. sim and idx must have 16 writable slots past room. */
typedef size_t (*match_collect_fn)(const float *x, size_t from, size_t n, float lo, uint32_t base,
                                   float *sim, uint32_t *idx, size_t room, size_t *stop);
/* Keep the pairs (sim[i], idx[i]) of i < n with sim[i] >= cut, in order, at
 * the front; returns how many and sets *low to the least kept sim (1 when
 * none). sim and idx must have 16 writable slots past n. */
typedef size_t (*match_keep_fn)(float *sim, uint32_t *idx, size_t n, float cut, float *low);
/* After a top-k buffer's first confirming round (conf[i] >= 0: confirmed,
 * else not), keep those confirmed and those with sim[i] >= lo, in order at
 * the front of all three arrays, the kept unconfirmed marked pending in
 * conf; returns how many. Writes nothing past n (conf is packed). */
typedef size_t (*match_band_fn)(float *sim, uint32_t *idx, float *conf, size_t n, float lo,
                                float pending);
/* Keep the slots i < n with conf[i] >= cut, in order, at the front: conf[i]
 * to sim, idx[i] to idx; returns how many. Writes nothing past n (the
 * confirmed similarities replacing a buffer's proposals). */
typedef size_t (*match_take_fn)(const float *conf, float *sim, uint32_t *idx, size_t n, float cut);
/* out[i] = x[i] >= t ? yes : no for i < n; returns how many are yes. Writes
 * nothing past n. */
typedef size_t (*match_mark_fn)(const float *x, float *out, size_t n, float t, float yes, float no);
/* The slots i < n of buffer r with conf[i] == pending, listed in order: the
 * m-th as j[m] = idx[i], row[m] = r, slot[m] = i; returns how many. j, row
 * and slot must have 16 writable slots past that count. */
typedef size_t (*match_list_fn)(const float *conf, const uint32_t *idx, size_t n, float pending,
                                uint32_t r, uint32_t *j, uint32_t *row, uint32_t *slot);
/* Of x[0, n), the values >= L, in order, into out (room for n + 16), where
 * L is the least of the 16 lanes' maxima of x and +0 (lane l: x[l],
 * x[l + 16], ...; NaN never counts); returns how many. When L > 0 each lane
 * holds one of them at least, so the 16 largest values are all there (and
 * when L is +0, every value >= +0 is). */
typedef size_t (*match_lanes_fn)(const float *x, size_t n, float *out);
/* Write the n <= MATCH_BEST_MAX hits (sim[c], idx[c]) (sims in [+0, 1],
 * indices distinct) to out best first (sim descending, then index
 * ascending): a bitonic sort of 64-bit keys (sim bits, ~index), 8 to a
 * register. For a top-k's k ~ 100 that is ~5 times fewer operations than
 * counting each hit's rank, ~10 times fewer than a quicksort. */
#define MATCH_BEST_MAX 256
struct match_hit;
typedef void (*match_best_fn)(const float *sim, const uint32_t *idx, size_t n,
                              struct match_hit *out);
struct match_kernels {
	match_scan_fn next_ge;     /* as match_next_ge */
	match_count_fn count_ge;   /* as match_count_ge */
	match_collect_fn collect;
	match_keep_fn keep_ge;
	match_band_fn keep_band;
	match_take_fn take_ge;
	match_mark_fn mark_ge;
	match_list_fn list_pending;
	match_lanes_fn top_lanes;
	match_best_fn best_first; /* NULL: quicksort instead */
};
const struct match_kernels *match_kernels(void);

/* Smallest raw dot value lo such that clamp01(dot) > t  <=>  dot >= lo, for
 * t < 1 (callers handle t >= 1, which nothing exceeds). */
float match_strict_floor(float t);

#endif /* LUNA_MATCH_INTERNAL_H */
