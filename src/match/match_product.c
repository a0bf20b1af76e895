/*
 * match_product.c - the products that propose similarities for
 * match_pairs_above and match_topk: OpenBLAS sgemm or, on CPUs with AVX-512
 * VNNI or AVX-VNNI, an int8 product of per-row quantized descriptors; the choice
 * (match_set_kernel); and the per-row bound on how far a proposed dot may be
 * from the canonical one (derivation in README.md, "Exactness").
 *
 * Workload: one setup per call: quantizing 2 x 20000 x 512 floats and their
 * norms (~10 ms) next to a product of 2e11 multiply-adds.
 */
#include "match/match.h"
#include "match/match_internal.h"
#include "common/big_alloc.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define INT8_STRIPE 64     /* rows of A per int8 product call (32 KB at d = 512) */
#define INT8_MAX_D 65536   /* 255 * 127 * d stays inside int32 */
#define U (1.0 / 16777216) /* unit roundoff of float, 2^-24 */

/* ---- kernel choice ---------------------------------------------------------- */

static atomic_int requested_kernel = MATCH_KERNEL_AUTO;

void match_set_kernel(enum match_kernel k)
{
	atomic_store(&requested_kernel, (int)k);
}

static int cpu_has_avx512_vnni(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#else
	return 0;
#endif
}

/* The 256-bit form (Alder Lake and later client CPUs, Zen 4 and later). */
static int cpu_has_avx_vnni(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
	/* AVX-VNNI is CPUID leaf 7, subleaf 1, EAX bit 4, read directly: not every
	 * compiler's __builtin_cpu_supports knows "avxvnni" (clang 14 does not).
	 * The avx2 check covers the OS's saving of the ymm state. */
	unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
		return 0;
	if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx))
		return 0;
	return (eax >> 4) & 1;
#else
	return 0;
#endif
}

/* auto and int8: the widest int8 form the CPU has, else fp32; int8-256:
 * the 256-bit form or fp32; fp32: sgemm. */
/* The AVX-512 canonical dot runs here (below); so does the fp32 top-k's
 * scanning product (match_f32_scan), which needs the same AVX-512F and VL. */
static int canonical_avx512(void);
static int pairs_pay_here(void);

static enum match_form chosen_form(void)
{
	switch (atomic_load(&requested_kernel)) {
	case MATCH_KERNEL_FP32:
		return MATCH_FORM_FP32;
	case MATCH_KERNEL_INT8_256:
		return cpu_has_avx_vnni() ? MATCH_FORM_INT8_256 : MATCH_FORM_FP32;
	default:
		if (cpu_has_avx512_vnni())
			return MATCH_FORM_INT8_512;
		return cpu_has_avx_vnni() ? MATCH_FORM_INT8_256 : MATCH_FORM_FP32;
	}
}

const char *match_kernel_in_use(void)
{
	switch (chosen_form()) {
	case MATCH_FORM_INT8_512:
		return "int8 (AVX-512 VNNI)";
	case MATCH_FORM_INT8_256:
		return "int8 (AVX-VNNI, 256-bit)";
	default:
		if (!canonical_avx512())
			return "fp32 (OpenBLAS sgemm)";
		return pairs_pay_here() ? "fp32 (OpenBLAS sgemm; top-k: AVX-512 product, paired)"
		                        : "fp32 (OpenBLAS sgemm; top-k: AVX-512 product)";
	}
}

/* ---- canonical dot -------------------------------------------------------- */

#define CANON_LANES 32

/* Element k is accumulated into float lane k % 32 by one fused multiply-add
 * (fmaf: one rounding, so the compiler cannot split or contract it
 * differently), then lanes are summed pairwise: lane l += lane l + w for
 * w = 16, 8, 4, 2, 1. A fixed order, so every CPU and every path (this loop,
 * the AVX2 and the AVX-512 forms) gets the same bits. */
float match_dot_canonical_generic(const float *a, const float *b, size_t d)
{
	float s[CANON_LANES] = { 0 };
	for (size_t k = 0; k < d; k++)
		s[k % CANON_LANES] = fmaf(a[k], b[k], s[k % CANON_LANES]);
	for (size_t w = CANON_LANES / 2; w > 0; w /= 2)
		for (size_t l = 0; l < w; l++)
			s[l] += s[l + w];
	return s[0];
}

enum canon_form { CANON_UNKNOWN = -1, CANON_GENERIC, CANON_AVX2, CANON_AVX512 };

static enum canon_form canonical_form(void)
{
	static atomic_int form = CANON_UNKNOWN;
	int have = atomic_load_explicit(&form, memory_order_relaxed);
	if (have == CANON_UNKNOWN) {
		have = CANON_GENERIC;
#if defined(__x86_64__) && defined(__GNUC__)
		__builtin_cpu_init();
		int fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
		if (fma && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))
			have = CANON_AVX512;
		else if (fma)
			have = CANON_AVX2;
#endif
		atomic_store_explicit(&form, have, memory_order_relaxed);
	}
	return (enum canon_form)have;
}

static int canonical_avx512(void)
{
	return canonical_form() == CANON_AVX512;
}

/* ---- the fp32 scanning product's pairs ------------------------------------- */

static atomic_int f32_pairing = -1;

void match_set_f32_pairing(int mode)
{
	atomic_store(&f32_pairing, mode < 0 ? -1 : mode > 0);
}

/* Does pairing (struct match_f32cols) pay on this CPU? On AMD's cores with
 * AVX-512 (Zen 4 and 5) float additions run on pipes of their own, beside
 * the two FMA pipes, so a pair's two additions cost no FMA slot; on Intel's
 * they share the FMA ports and pairs would be slower. */
static int pairs_pay_here(void)
{
	int mode = atomic_load(&f32_pairing);
	if (!canonical_avx512())
		return 0;
	if (mode >= 0)
		return mode;
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	return __builtin_cpu_is("amd");
#else
	return 0;
#endif
}

/* A row's start: -sum over g < d / 4 of x[4g] x[4g + 1], summed in double,
 * rounded once. */
static float match_pair_start(const float *x, size_t d)
{
	double s = 0.0;
	for (size_t k = 0; k + 4 <= d; k += 4)
		s += (double)x[k] * x[k + 1]; /* exact in double */
	return (float)-s;
}

/* A pair's terms hold the products a_k a_k+1 and b_k b_k+1 that the starts
 * take off again, so its bound grows with ||a||^2 + ||b||^2 where a plain
 * sum's has ||a|| ||b|| (radius_of). Pair only when both sides have starts,
 * every row is finite (an inf would leave inf - inf where the plain sum
 * has an inf), the largest norms are within 4x of each other and far from
 * overflowing a square. */
static int pairs_fit(const struct match_f32cols *c, int nonfinite, double max_a, double max_b)
{
	return c->start_a && c->start_b && !nonfinite && max_a > 0.0 && max_b > 0.0 &&
	       max_a <= 4.0 * max_b && max_b <= 4.0 * max_a && max_a < 0x1p60 && max_b < 0x1p60;
}

float match_dot_canonical(const float *a, const float *b, size_t d)
{
#if defined(__x86_64__) && defined(__GNUC__)
	switch (canonical_form()) {
	case CANON_AVX512:
		return match_dot_canonical_avx512(a, b, d);
	case CANON_AVX2:
		return match_dot_canonical_avx2(a, b, d);
	default:
		break;
	}
#endif
	return match_dot_canonical_generic(a, b, d);
}

static void dot_canonical2_each(const float *a, const float *b, const float *c, const float *e,
                                size_t d, float out[2])
{
	out[0] = match_dot_canonical(a, b, d);
	out[1] = match_dot_canonical(c, e, d);
}

match_dot2_fn match_dot_canonical2_form(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
	if (canonical_avx512())
		return match_dot_canonical2_avx512;
#endif
	return dot_canonical2_each;
}

void match_dot_canonical2(const float *a, const float *b, const float *c, const float *e, size_t d,
                          float out[2])
{
	match_dot_canonical2_form()(a, b, c, e, d, out);
}

/* ---- quantization ----------------------------------------------------------- */

/* What the bound needs of one side: per row the quantization error e =
 * ||x - scale * q||, m = max(||x||, ||scale * q||); and their maxima with
 * that of ||x|| (rows with non-finite values are left out: their products
 * are not finite either, and the canonical dot decides them). */
struct side_stats {
	double *e, *m, *norm;
	double max_norm, max_e, max_m;
};

/* Only finite values in the row? A value is not when its exponent field is
 * all ones (inf, NaN); four at a time with SSE2 (every x86-64 has it): the
 * scalar loop took ~10 ms per side of 20,000 x 512, on one thread before the
 * int8 setup's threads start (~3 % of the wall time of a 20,000 x 20,000
 * top-k). */
static int row_finite(const float *x, size_t d)
{
	size_t k = 0;
#if defined(__SSE2__)
	const __m128i ones = _mm_set1_epi32(0x7f800000);
	__m128i bad = _mm_setzero_si128();
	for (; k + 4 <= d; k += 4) {
		__m128i v = _mm_and_si128(_mm_loadu_si128((const __m128i *)(const void *)(x + k)), ones);
		bad = _mm_or_si128(bad, _mm_cmpeq_epi32(v, ones));
	}
	if (_mm_movemask_epi8(bad))
		return 0;
#endif
	for (; k < d; k++)
		if (!isfinite(x[k]))
			return 0;
	return 1;
}

static float row_max_abs(const float *x, size_t d)
{
	float m = 0.0f;
	for (size_t k = 0; k < d; k++)
		m = fabsf(x[k]) > m ? fabsf(x[k]) : m;
	return m;
}

/* q = round(x / scale) with scale = max|x| / 127, so |q| <= 127; returns the
 * scale and fills the row's statistics. */
float match_quantize_row_scalar(const float *x, size_t d, int8_t *q, struct match_qrow *st)
{
	float scale = row_max_abs(x, d) / 127.0f;
	float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
	double ee = 0, nn = 0;
	int32_t sum = 0, squares = 0; /* 127^2 d < 2^31 for d <= 65536 */
	for (size_t k = 0; k < d; k++) {
		float y = x[k] * inv; /* any rounding will do: e measures the result */
		int v = (int)(y + (y >= 0.0f ? 0.5f : -0.5f));
		v = v > 127 ? 127 : (v < -127 ? -127 : v);
		q[k] = (int8_t)v;
		sum += v;
		squares += v * v;
		double back = (double)scale * (double)v, diff = (double)x[k] - back;
		ee += diff * diff;
		nn += (double)x[k] * x[k];
	}
	*st = (struct match_qrow){ .e = sqrt(ee), .norm = sqrt(nn),
		                   .qnorm = (double)scale * sqrt((double)squares), .sum = sum,
		                   .squares = squares };
	return scale;
}

float match_quantize_row(const float *x, size_t d, int8_t *q, struct match_qrow *st)
{
#if defined(__x86_64__) && defined(__GNUC__)
	if (canonical_avx512())
		return match_quantize_row_avx512(x, d, q, st);
#endif
	return match_quantize_row_scalar(x, d, q, st);
}

/* m = max(||x||, ||x^||), which the bound multiplies (fill_radius). */
static double row_m(double norm, double qnorm)
{
	return norm > qnorm ? norm : qnorm;
}

static void stats_set(struct side_stats *st, size_t i, double e, double norm, double qnorm)
{
	st->e[i] = e;
	st->m[i] = row_m(norm, qnorm);
	st->norm[i] = norm;
}

static void stats_set_q(struct side_stats *st, size_t i, const struct match_qrow *r)
{
	stats_set(st, i, r->e, r->norm, r->qnorm);
}

static double array_max(const double *v, size_t n)
{
	double m = 0.0;
	for (size_t i = 0; i < n; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

static void stats_finish(struct side_stats *st, size_t n)
{
	st->max_norm = array_max(st->norm, n);
	st->max_e = array_max(st->e, n);
	st->max_m = array_max(st->m, n);
}

/* Σ x_k² in double, in eight partial sums: one sum in order is a chain of d
 * dependent additions (~20 ms of one thread for both sides of a 20,000 x
 * 20,000 x 512 top-k, before the workers start); eight vectorize. The order
 * moves the norm by a few units in the last place, far inside the bound's
 * 1 % margin (radius_of). */
static double sum_squares(const float *x, size_t d)
{
	double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
	size_t k = 0;
	for (; k + 8 <= d; k += 8) {
		s0 += (double)x[k] * x[k], s1 += (double)x[k + 1] * x[k + 1];
		s2 += (double)x[k + 2] * x[k + 2], s3 += (double)x[k + 3] * x[k + 3];
		s4 += (double)x[k + 4] * x[k + 4], s5 += (double)x[k + 5] * x[k + 5];
		s6 += (double)x[k + 6] * x[k + 6], s7 += (double)x[k + 7] * x[k + 7];
	}
	for (; k < d; k++)
		s0 += (double)x[k] * x[k];
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
}

/* Row i's statistics for sgemm's product: its norm (0 when not finite). */
static int stats_fp32_row(struct side_stats *st, size_t i, const float *row, size_t d)
{
	int finite = row_finite(row, d);
	double norm = finite ? sqrt(sum_squares(row, d)) : 0.0;
	stats_set(st, i, 0.0, norm, norm);
	return finite;
}

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

/* Both sides are quantized by the call's workers, QUANT_ROWS rows per item;
 * a self product quantizes once and files each row on both sides. */
#define QUANT_ROWS 256

static void free_rows(struct match_i8rows *r)
{
	big_free_warm(r->q); /* warm for the next call: see big_alloc.h */
	free(r->corr);
	free(r->scale);
	free(r->qn);
	*r = (struct match_i8rows){ 0 };
}

/* Rows are filled by the quantizing workers, padding dimensions included;
 * only the padding rows are cleared here (clearing all of them took ~2 ms of
 * one thread at 20,000 x 512, before the workers start). scratch: rows
 * that each call has anew (big_alloc_scratch). */
static int alloc_rows(struct match_i8rows *r, size_t n, size_t dp, int scratch)
{
	size_t rows = n + 8; /* the micro-kernel reads whole groups of 8 rows */
	r->dp = dp;
	r->q = NULL;
	if (dp > 0 && rows <= SIZE_MAX / dp)
		r->q = scratch ? big_alloc_scratch(rows * dp) : big_alloc(rows * dp);
	if (r->q)
		memset(r->q + n * dp, 0, (rows - n) * dp);
	r->corr = calloc(rows, sizeof *r->corr);
	r->scale = calloc(rows, sizeof *r->scale);
	r->qn = calloc(rows, sizeof *r->qn);
	return r->q && r->corr && r->scale && r->qn ? 0 : -1;
}

static int alloc_cols(struct match_u8cols *c, size_t n, size_t dp)
{
	size_t rows = round_up(n, 32);
	c->q = big_alloc(rows * dp + 1);
	c->scale = calloc(rows, sizeof *c->scale);
	c->slack = calloc(rows, sizeof *c->slack);
	if (!c->q || !c->scale || !c->slack)
		return -1;
	/* panel_put fills the rows below n; the padding rows read as q = 0 */
	memset(c->q + n / 16 * 16 * dp, 128, (rows - n / 16 * 16) * dp);
	return 0;
}

/* Store s8 row j as u8 (q + 128) in its panel; padding dimensions too. */
static void panel_put(struct match_u8cols *c, size_t j, const int8_t *q, size_t d, size_t dp)
{
	uint8_t *panel = c->q + j / 16 * 16 * dp + (j % 16) * 4;
	size_t k = 0;
	for (; k + 4 <= d; k += 4) { /* four bytes at a time: q + 128 flips each top bit */
		uint32_t g;
		memcpy(&g, q + k, sizeof g);
		g ^= 0x80808080u;
		memcpy(panel + k / 4 * 64, &g, sizeof g);
	}
	for (; k < dp; k++)
		panel[k / 4 * 64 + k % 4] = (uint8_t)((k < d ? q[k] : 0) + 128);
}

struct quant_job {
	struct match_product *p;
	struct side_stats *sa, *sb;
	int self;
	int a_later; /* rows of A are only checked: blocks quantize them (match_block_init) */
	size_t items_a, items;
	atomic_size_t next;
	atomic_int failed; /* a worker had no scratch row */
	atomic_int nonfinite; /* a row has an inf or NaN: the product is sgemm's */
	int fp32;             /* an fp32 product: the rows' norms (a side without stats: */
	                      /* only whether they are finite), and */
	struct match_f32cols *f32; /* B's rows into its panels, either side's starts (or NULL) */
};

/* Row j of B (d floats) into its fp32 panel: element k at 16 k + j % 16. */
static void f32_panel_put(struct match_f32cols *c, size_t j, const float *row, size_t d)
{
	float *panel = c->q + j / 16 * 16 * d + j % 16;
	for (size_t k = 0; k < d; k++)
		panel[16 * k] = row[k];
}

/* Row i of side A or B into the fp32 scanning product's columns c: B's into
 * its panel, and either side's start where c pairs. */
static void f32_cols_put(struct match_f32cols *c, int side_a, size_t i, const float *row, size_t d)
{
	float *start = side_a ? c->start_a : c->start_b;
	if (!side_a && c->q)
		f32_panel_put(c, i, row, d);
	if (start)
		start[i] = match_pair_start(row, d);
}

/* Row x (d values) as row i of qa: s8 row, padding, scale, correction and
 * ||q||; its statistics to *st. */
static void put_row_a(struct match_i8rows *qa, size_t i, const float *x, size_t d,
                      struct match_qrow *st)
{
	int8_t *q = qa->q + i * qa->dp;
	qa->scale[i] = match_quantize_row(x, d, q, st);
	memset(q + d, 0, qa->dp - d);
	qa->corr[i] = 128 * st->sum;
	qa->qn[i] = (float)sqrt((double)st->squares);
}

/* c's slack (struct match_u8cols) from the stats of its n rows: column j's
 * proposals may move down by ||x_i^|| (E - e_j) and stay within the radius,
 * whose m_i E term covers a row with the largest error. Q slack[j] must not
 * exceed ||q_i|| (E - e_j) / scale_j: the factor 1 - 2^-20 takes up the
 * roundings of slack[j], of qn (float sqrt of an exact integer) and of
 * their product in the micro-kernel. The cap keeps that product under 2^30
 * (qn <= 127 sqrt(65536)), so the shifted sums stay int32s. */
static void fill_slack(struct match_u8cols *c, const struct side_stats *st, size_t n)
{
	for (size_t j = 0; j < n; j++) {
		double w = c->scale[j] > 0.0f ? (st->max_e - st->e[j]) / c->scale[j] : 0.0;
		c->slack[j] = (float)fmin(fmax(w * (1.0 - 0x1p-20), 0.0), 0x1p15);
	}
}

/* Row i of A: s8 row, its correction and statistics (and, for a self
 * product, the same row on the column side). */
static void quantize_a(struct quant_job *job, size_t i)
{
	struct match_product *p = job->p;
	struct match_qrow st;
	int8_t *q = p->qa.q + i * p->qa.dp;
	put_row_a(&p->qa, i, p->a + i * p->d, p->d, &st);
	stats_set_q(job->sa, i, &st);
	if (job->self) {
		panel_put(&p->qb, i, q, p->d, p->qa.dp);
		p->qb.scale[i] = p->qa.scale[i];
	}
}

/* Row j of B on the column side, through q (dp bytes of scratch). */
static void quantize_b(struct quant_job *job, size_t j, int8_t *q)
{
	struct match_product *p = job->p;
	struct match_qrow st;
	p->qb.scale[j] = match_quantize_row(p->b + j * p->d, p->d, q, &st);
	panel_put(&p->qb, j, q, p->d, p->qa.dp);
	stats_set_q(job->sb, j, &st);
}

static void quant_worker(void *arg, int thread)
{
	struct quant_job *job = arg;
	struct match_product *p = job->p;
	int8_t *q = job->fp32 ? NULL : malloc(p->qa.dp + 1);
	(void)thread;
	for (;;) {
		size_t item = atomic_fetch_add(&job->next, 1);
		if (item >= job->items)
			break;
		int side_a = item < job->items_a;
		size_t i0 = (side_a ? item : item - job->items_a) * QUANT_ROWS, n = side_a ? p->na : p->nb;
		for (size_t i = i0; i < n && i < i0 + QUANT_ROWS; i++) {
			const float *row = (side_a ? p->a : p->b) + i * p->d;
			if (job->fp32) {
				struct side_stats *st = side_a ? job->sa : job->sb;
				if (!(st ? stats_fp32_row(st, i, row, p->d) : row_finite(row, p->d)))
					atomic_store(&job->nonfinite, 1);
				if (job->f32)
					f32_cols_put(job->f32, side_a, i, row, p->d);
			} else if (!row_finite(row, p->d))
				atomic_store(&job->nonfinite, 1);
			else if (side_a && job->a_later)
				continue;
			else if (side_a)
				quantize_a(job, i);
			else if (q)
				quantize_b(job, i, q);
			else
				atomic_store(&job->failed, 1);
		}
	}
	free(q);
}

/* Items of QUANT_ROWS rows for n rows. */
static size_t quant_items(size_t n)
{
	return (n + QUANT_ROWS - 1) / QUANT_ROWS;
}

/* Runs quant_worker over job's items on nthreads (its counters cleared). */
static void quant_run(struct quant_job *job, int nthreads)
{
	atomic_init(&job->next, 0);
	atomic_init(&job->failed, 0);
	atomic_init(&job->nonfinite, 0);
	match_run_parallel(match_thread_count(nthreads, job->items), quant_worker, job);
}

/* ---- the bound ---------------------------------------------------------------- */

/* gamma_n = n u / (1 - n u): the relative error of n roundings. */
static double gamma_n(double n)
{
	return n * U / (1.0 - n * U);
}

/* The proposal's own rounding error, relative to m_i m_j: the int8 value is
 * three roundings (int32 -> float, two products); sgemm's any order of its d
 * products and sums. */
static double proposal_gamma(const struct match_product *p)
{
	return p->int8 ? gamma_n(3) : gamma_n((double)p->d + 1);
}

/* p->radius[i] >= |proposed(i, j) - canonical(i, j)| for every row j of B:
 *   e_i ||b_j|| + ||q_i|| e_j      quantization (zero for sgemm)
 *   + g m_i m_j                    the proposal's own rounding (int8: of a
 *                                  value moved by at most m_i E more, the
 *                                  columns' shift: g m_i (m_j + E))
 *   + c m_i m_j                    the canonical dot's: a lane adds ceil(d/32)
 *                                  terms (ceil(d/32) roundings for its first
 *                                  term), the pairwise sum 5 more, so
 *                                  gamma(ceil(d/32) + 5) sum|a_k b_k|, and
 *                                  sum|a_k b_k| <= ||a|| ||b|| <= m_i m_j
 *   + (d + 31) 2^-150              underflow: half a subnormal step per
 *                                  operation at most
 * then 1% and 2^-22 more, so that a floor computed as value - radius in float
 * rounds below the exact one.
 * Paired (struct match_f32cols), the proposal is a chain of at most d FMAs
 * from its start; a pair's two sums round once each, each start once from
 * its double and once where the two are added, so it is within
 *   gamma(d + 3) (sum |(a_k + b_k+1)(a_k+1 + b_k)| + |a_k a_k+1| + |b_k b_k+1|
 *                 over the pairs, + sum |a_k b_k| over the rest)
 *   <= gamma(d + 3) (1.5 (m_i^2 + m_j^2) + m_i m_j)
 * (|(x + y)(z + w)| <= x^2 + y^2 + z^2 + w^2, |xz| <= (x^2 + z^2) / 2) of
 * a.b, plus (d + 8) 2^-150 of underflow (the sums are exact when
 * subnormal). That is more than sgemm's g m_i m_j, so it bounds the tiles
 * of the same call too (first blocks, rescans). */
static float radius_of(const struct match_product *p, double e, double m, double max_norm,
                       double max_e, double max_m)
{
	size_t d = p->d;
	double proposal = proposal_gamma(p) * m * (max_m + (p->int8 ? max_e : 0.0));
	double canon = gamma_n((double)((d + CANON_LANES - 1) / CANON_LANES) + 5);
	double tiny = (double)(d + CANON_LANES - 1) * 0x1p-150;
	if (p->fb.paired) {
		proposal = gamma_n((double)d + 3) * (1.5 * (m * m + max_m * max_m) + m * max_m);
		tiny += (double)(d + 8) * 0x1p-150;
	}
	double r = e * max_norm + m * max_e + proposal + canon * m * max_m + tiny;
	return (float)(r * 1.01 + 0x1p-22);
}

static void fill_radius(struct match_product *p, const struct side_stats *sa,
                        const struct side_stats *sb)
{
	for (size_t i = 0; i < p->na; i++)
		p->radius[i] = radius_of(p, sa->e[i], sa->m[i], sb->max_norm, sb->max_e, sb->max_m);
}

/* ---- setup ------------------------------------------------------------------- */

static int all_finite(const float *x, size_t n, size_t d)
{
	for (size_t i = 0; i < n; i++)
		if (!row_finite(x + i * d, d))
			return 0;
	return 1;
}

static void stats_free(struct side_stats *st)
{
	free(st->e);
	free(st->m);
	free(st->norm);
}

static int stats_alloc(struct side_stats *st, size_t n)
{
	*st = (struct side_stats){ 0 };
	st->e = calloc(n ? n : 1, sizeof *st->e);
	st->m = calloc(n ? n : 1, sizeof *st->m);
	st->norm = calloc(n ? n : 1, sizeof *st->norm);
	return st->e && st->m && st->norm ? 0 : -1;
}

/* The int8 parts of p freed (the large ones warm for the next call: see
 * big_alloc.h); p is sgemm's. */
static void drop_int8(struct match_product *p)
{
	free_rows(&p->qa);
	big_free_warm(p->qb.q);
	free(p->qb.scale);
	free(p->qb.slack);
	p->qb = (struct match_u8cols){ 0 };
	p->int8 = 0;
	p->form = MATCH_FORM_FP32;
}

/* Quantize A as rows (a_later: only check them) and B as columns, with
 * their stats, on nthreads; each row is checked for infs and NaNs as it is
 * read (a pass over both sides before the workers start took ~3.5 ms of one
 * thread at 20,000 x 512). Returns 1 when a row is not finite: the caller
 * falls back to sgemm. */
static int prepare_int8(struct match_product *p, struct side_stats *sa, struct side_stats *sb,
                        int a_later, int nthreads)
{
	size_t dp = round_up(p->d, 4);
	int self = !a_later && p->a == p->b && p->na == p->nb;
	p->qa.dp = dp;
	if ((!a_later && alloc_rows(&p->qa, p->na, dp, 0) < 0) || alloc_cols(&p->qb, p->nb, dp) < 0)
		return -1;
	struct quant_job job = { .p = p, .sa = sa, .sb = sb, .self = self, .a_later = a_later,
		                 .items_a = quant_items(p->na) };
	job.items = job.items_a + (self ? 0 : quant_items(p->nb));
	quant_run(&job, nthreads);
	if (atomic_load(&job.failed))
		return -1;
	if (atomic_load(&job.nonfinite))
		return 1;
	if (!a_later)
		stats_finish(sa, p->na);
	if (self) {
		memcpy(sb->e, sa->e, p->na * sizeof *sb->e);
		memcpy(sb->m, sa->m, p->na * sizeof *sb->m);
		memcpy(sb->norm, sa->norm, p->na * sizeof *sb->norm);
	}
	stats_finish(sb, p->nb);
	fill_slack(&p->qb, sb, p->nb);
	p->stripe = INT8_STRIPE;
	return 0;
}

/* The norms of rows a (na of them) into sa and of rows b (nb) into sb, for
 * sgemm's product, on nthreads (a side without stats is only checked for
 * infs and NaNs), and B's rows into the scanning product's panels, either
 * side's into its starts (panels: or NULL). 1 when a row is not finite. */
static int stats_fp32(const float *a, size_t na, struct side_stats *sa, const float *b, size_t nb,
                      struct side_stats *sb, size_t d, struct match_f32cols *panels, int nthreads)
{
	struct match_product p = { .a = a, .na = na, .b = b, .nb = nb, .d = d };
	struct quant_job job = { .p = &p, .sa = sa, .sb = sb, .fp32 = 1, .f32 = panels,
		                 .items_a = quant_items(na) };
	job.items = job.items_a + quant_items(nb);
	quant_run(&job, nthreads);
	if (sa)
		stats_finish(sa, na);
	if (sb)
		stats_finish(sb, nb);
	return atomic_load(&job.nonfinite);
}

/* B's panels for the fp32 scanning product (p->fb), where it runs: AVX-512,
 * and more rows of B than one tile (a top-k scans only past its chunk's
 * first block). Their padding rows are cleared here, the rows filled by
 * stats_fp32's workers. NULL when not, or when there is no memory for them
 * (then the top-k reads sgemm's tiles back, as it did before). Where pairs
 * pay, room for B's starts too, and for A's when with_a (else the caller's
 * prepared rows bring them). */
static struct match_f32cols *f32_panels(struct match_product *p, int with_a)
{
#if defined(__x86_64__) && defined(__GNUC__)
	if (p->nb <= MATCH_TILE || p->d == 0 || !canonical_avx512())
		return NULL;
	size_t rows = round_up(p->nb, 32);
	if (rows > SIZE_MAX / sizeof(float) / p->d)
		return NULL;
	p->fb.q = match_alloc_floats(rows * p->d); /* 64-byte aligned: the kernel's loads */
	if (!p->fb.q)
		return NULL;
	size_t first = p->nb / 16 * 16; /* the first panel with padding rows */
	memset(p->fb.q + first * p->d, 0, (rows - first) * p->d * sizeof(float));
	if (pairs_pay_here()) { /* without memory for them: unpaired */
		p->fb.start_b = calloc(rows, sizeof(float));
		p->fb.start_a = with_a ? malloc((p->na ? p->na : 1) * sizeof(float)) : NULL;
	}
	return &p->fb;
#else
	(void)p, (void)with_a;
	return NULL;
#endif
}

int match_product_init(struct match_product *p, const float *a, size_t na, const float *b,
                       size_t nb, size_t d, int bounds, int nthreads)
{
	*p = (struct match_product){ .a = a, .b = b, .na = na, .nb = nb, .d = d, .stripe = MATCH_TILE };
	p->form = bounds ? chosen_form() : MATCH_FORM_FP32;
	if (!bounds)
		return 0;
	int later = bounds == MATCH_BOUNDS_LATER;
	/* rows with an inf or NaN are found while quantizing (prepare_int8) */
	p->int8 = p->form != MATCH_FORM_FP32 && d > 0 && d <= INT8_MAX_D;
	struct side_stats sa, sb;
	int rc = stats_alloc(&sa, na) | stats_alloc(&sb, nb);
	if (rc == 0 && p->int8 && (rc = prepare_int8(p, &sa, &sb, later, nthreads)) > 0) {
		drop_int8(p);
		rc = 0;
	}
	if (rc == 0 && !p->int8) {
		int nonfinite = stats_fp32(a, na, &sa, b, nb, &sb, d, later ? f32_panels(p, 1) : NULL,
		                           nthreads);
		p->fb.paired = pairs_fit(&p->fb, nonfinite, sa.max_norm, sb.max_norm);
	}
	if (rc == 0 && p->int8 && later) {
		p->a_later = 1; /* the radius of each row comes with its block */
		p->b_max_norm = sb.max_norm, p->b_max_e = sb.max_e, p->b_max_m = sb.max_m;
	} else if (rc == 0 && (p->radius = calloc(na ? na : 1, sizeof *p->radius))) {
		fill_radius(p, &sa, &sb);
	} else {
		rc = -1;
	}
	stats_free(&sa);
	stats_free(&sb);
	if (rc != 0) {
		match_product_free(p);
		errno = ENOMEM;
	}
	return rc;
}

void match_product_free(struct match_product *p)
{
	free(p->radius);
	p->radius = NULL;
	big_free_warm(p->fb.q);
	free(p->fb.start_a);
	free(p->fb.start_b);
	p->fb = (struct match_f32cols){ 0 };
	drop_int8(p);
}

void match_product_tile(const struct match_product *p, size_t i0, size_t ni, size_t j0, size_t nj,
                        float *out)
{
#if defined(__x86_64__) && defined(__GNUC__)
	if (p->int8) {
		if (p->form == MATCH_FORM_INT8_512)
			match_vnni_tile(&p->qa, i0, ni, &p->qb, j0, nj, out);
		else
			match_avxvnni_tile(&p->qa, i0, ni, &p->qb, j0, nj, out);
		return;
	}
#endif
	match_dot_tile(p->a + i0 * p->d, ni, p->b + j0 * p->d, nj, p->d, out);
}

int match_product_scans(const struct match_product *p)
{
#if defined(__x86_64__) && defined(__GNUC__)
	return (p->int8 && p->form == MATCH_FORM_INT8_512) || p->fb.q != NULL;
#else
	(void)p;
	return 0;
#endif
}

void match_product_scan(const struct match_product *p, size_t i0, size_t ni, size_t j0, size_t nj,
                        struct match_scan_row *rows)
{
#if defined(__x86_64__) && defined(__GNUC__)
	if (p->int8)
		match_vnni_scan(&p->qa, i0, ni, &p->qb, j0, nj, rows);
	else
		match_f32_scan(p->a, p->d, i0, ni, &p->fb, j0, nj, rows);
#else
	(void)p, (void)i0, (void)ni, (void)j0, (void)nj, (void)rows;
#endif
}

/* ---- chosen rows ------------------------------------------------------------- */

int match_gather_init(struct match_gather *g, const struct match_product *p, size_t max_rows)
{
	*g = (struct match_gather){ .view = *p, .max_rows = max_rows };
	g->view.radius = NULL; /* p's own; the view owns only what is allocated here */
	g->view.a_later = 0;
	g->view.qa = (struct match_i8rows){ 0 };
	g->view.fb = (struct match_f32cols){ 0 }; /* gathered rows are proposed by tiles */
	g->view.na = max_rows;
	int rc;
	if (p->int8) {
		rc = alloc_rows(&g->view.qa, max_rows, p->qa.dp, 0);
	} else {
		g->a = match_alloc_floats(max_rows * (p->d ? p->d : 1));
		g->view.a = g->a;
		rc = g->a ? 0 : -1;
	}
	if (rc < 0) {
		match_gather_free(g);
		errno = ENOMEM;
	}
	return rc;
}

void match_gather_rows(struct match_gather *g, const struct match_product *p, const uint32_t *rows,
                       size_t n)
{
	size_t dp = p->qa.dp;
	for (size_t r = 0; r < n; r++) {
		size_t i = rows[r];
		if (!p->int8) {
			memcpy(g->a + r * p->d, p->a + i * p->d, p->d * sizeof *g->a);
			continue;
		}
		memcpy(g->view.qa.q + r * dp, p->qa.q + i * dp, dp);
		g->view.qa.corr[r] = p->qa.corr[i];
		g->view.qa.scale[r] = p->qa.scale[i];
		g->view.qa.qn[r] = p->qa.qn[i];
	}
}

void match_gather_free(struct match_gather *g)
{
	free(g->a);
	free_rows(&g->view.qa);
	*g = (struct match_gather){ 0 };
}

/* ---- blocks of A quantized as they are searched ---------------------------------- */

int match_block_init(struct match_product *blk, const struct match_product *p, size_t max_rows)
{
	*blk = *p;
	blk->a_later = 0;
	blk->na = 0;
	blk->qa = (struct match_i8rows){ 0 };
	blk->radius = malloc((max_rows ? max_rows : 1) * sizeof *blk->radius);
	if (!blk->radius || alloc_rows(&blk->qa, max_rows, p->qa.dp, 1) < 0) {
		match_block_free(blk);
		errno = ENOMEM;
		return -1;
	}
	memset(blk->qa.q, 0, max_rows * p->qa.dp); /* a short last block leaves rows unwritten */
	return 0;
}

void match_block_rows(struct match_product *blk, const struct match_product *p, size_t a0, size_t n)
{
	blk->a = p->a + a0 * p->d;
	blk->na = n;
	for (size_t i = 0; i < n; i++) {
		struct match_qrow st;
		put_row_a(&blk->qa, i, blk->a + i * p->d, p->d, &st);
		blk->radius[i] = radius_of(p, st.e, row_m(st.norm, st.qnorm), p->b_max_norm, p->b_max_e,
		                           p->b_max_m);
	}
}

void match_block_free(struct match_product *blk)
{
	free(blk->radius);
	free_rows(&blk->qa);
	*blk = (struct match_product){ 0 };
}

/* ---- rows prepared once for many products ------------------------------------ */

int match_rows_prepare(struct match_rows *r, const float *a, size_t na, size_t d, int nthreads)
{
	*r = (struct match_rows){ .a = a, .na = na, .d = d };
	r->form = chosen_form();
	r->int8 = r->form != MATCH_FORM_FP32 && d > 0 && d <= INT8_MAX_D && all_finite(a, na, d);
	r->stats = calloc(1, sizeof *r->stats);
	if (!r->stats || stats_alloc(r->stats, na) < 0) {
		match_rows_free(r);
		errno = ENOMEM;
		return -1;
	}
	if (!r->int8) {
		struct match_f32cols starts = { 0 };
		if (pairs_pay_here())
			starts.start_a = r->start = malloc((na ? na : 1) * sizeof *r->start);
		if (stats_fp32(a, na, r->stats, NULL, 0, NULL, d, r->start ? &starts : NULL, nthreads)) {
			free(r->start); /* not finite: never paired */
			r->start = NULL;
		}
		return 0;
	}
	/* A's half of prepare_int8: quantize_a of a product with no B */
	struct match_product p = { .a = a, .na = na, .d = d, .form = r->form, .int8 = 1 };
	struct quant_job job = { .p = &p, .sa = r->stats, .items_a = quant_items(na) };
	job.items = job.items_a;
	if (alloc_rows(&p.qa, na, round_up(d, 4), 0) < 0) {
		r->qa = p.qa;
		match_rows_free(r);
		errno = ENOMEM;
		return -1;
	}
	quant_run(&job, nthreads);
	stats_finish(r->stats, na);
	r->qa = p.qa;
	return 0;
}

void match_rows_free(struct match_rows *r)
{
	if (r->stats)
		stats_free(r->stats);
	free(r->stats);
	free_rows(&r->qa);
	free(r->start);
	*r = (struct match_rows){ 0 };
}

/* As match_product_init(p, r->a, r->na, b, nb, r->d, 1, nthreads), quantizing
 * only B: r's rows, statistics and bound terms are those the call would
 * compute, so the product and its radius are the same bits (fp32 with B's
 * panels too: only a top-k runs on these). A non-finite B (no int8 then)
 * takes the whole call. */
int match_product_init_rows(struct match_product *p, const struct match_rows *r, const float *b,
                            size_t nb, int nthreads)
{
	if (r->int8 && !all_finite(b, nb, r->d))
		return match_product_init(p, r->a, r->na, b, nb, r->d, 1, nthreads);
	*p = (struct match_product){ .a = r->a, .b = b, .na = r->na, .nb = nb, .d = r->d,
		                     .stripe = MATCH_TILE, .form = r->form, .int8 = r->int8 };
	struct side_stats sb;
	int rc = stats_alloc(&sb, nb);
	p->radius = calloc(r->na ? r->na : 1, sizeof *p->radius);
	if (rc == 0 && p->radius && p->int8) {
		p->qa = r->qa;
		rc = alloc_cols(&p->qb, nb, r->qa.dp);
		struct quant_job job = { .p = p, .sb = &sb, .items = quant_items(nb) };
		if (rc == 0)
			quant_run(&job, nthreads);
		rc = rc == 0 && !atomic_load(&job.failed) ? 0 : -1;
		stats_finish(&sb, nb);
		fill_slack(&p->qb, &sb, nb);
		p->stripe = INT8_STRIPE;
	} else if (rc == 0 && p->radius) {
		struct match_f32cols *panels = f32_panels(p, 0);
		if (panels && panels->start_b)
			panels->start_a = r->start; /* r's: match_product_free_rows leaves it */
		int nonfinite = stats_fp32(NULL, 0, NULL, b, nb, &sb, r->d, panels, nthreads);
		p->fb.paired = pairs_fit(&p->fb, nonfinite, r->stats->max_norm, sb.max_norm);
	} else {
		rc = -1;
	}
	if (rc == 0)
		fill_radius(p, r->stats, &sb);
	stats_free(&sb);
	if (rc != 0) {
		match_product_free_rows(p, r);
		errno = ENOMEM;
	}
	return rc;
}

void match_product_free_rows(struct match_product *p, const struct match_rows *r)
{
	if (p->qa.q == r->qa.q)
		p->qa = (struct match_i8rows){ 0 }; /* r's */
	if (p->fb.start_a == r->start)
		p->fb.start_a = NULL; /* r's */
	match_product_free(p);
}

/* ---- a self product over rows that arrive in blocks ---------------------------- */

int match_growing_init(struct match_growing *g, const float *x, size_t cap, size_t d)
{
	*g = (struct match_growing){ .cap = cap };
	struct match_product *p = &g->p;
	*p = (struct match_product){ .a = x, .b = x, .d = d, .stripe = MATCH_TILE, .form = chosen_form() };
	p->int8 = p->form != MATCH_FORM_FP32 && d > 0 && d <= INT8_MAX_D;
	g->stats = calloc(1, sizeof *g->stats);
	p->radius = calloc(cap ? cap : 1, sizeof *p->radius);
	int rc = g->stats && p->radius && stats_alloc(g->stats, cap) == 0 ? 0 : -1;
	if (rc == 0 && p->int8) {
		size_t dp = round_up(d, 4);
		rc = alloc_rows(&p->qa, cap, dp, 0) | alloc_cols(&p->qb, cap, dp);
		p->stripe = INT8_STRIPE;
	}
	if (rc != 0) {
		match_growing_free(g);
		errno = ENOMEM;
	}
	return rc;
}

/* The rows [first, n) of a growing int8 product, QUANT_ROWS per item,
 * each checked for non-finite values on the way (non_finite: one was; the
 * caller then drops the int8 product): the workers check their own rows
 * rather than the caller all of them before it starts them. */
struct grow_job {
	struct quant_job q;
	size_t first, n;
	atomic_int non_finite;
};

static void grow_worker(void *arg, int thread)
{
	struct grow_job *job = arg;
	const struct match_product *p = job->q.p;
	(void)thread;
	while (!atomic_load_explicit(&job->non_finite, memory_order_relaxed)) {
		size_t i0 = job->first + atomic_fetch_add(&job->q.next, 1) * QUANT_ROWS;
		if (i0 >= job->n)
			break;
		for (size_t i = i0; i < job->n && i < i0 + QUANT_ROWS; i++) {
			if (!row_finite(p->a + i * p->d, p->d)) {
				atomic_store(&job->non_finite, 1);
				break;
			}
			quantize_a(&job->q, i);
		}
	}
}

/* Statistics of rows [first, n) for sgemm (no quantization error). */
static void grow_stats_fp32(struct match_growing *g, size_t first, size_t n)
{
	const struct match_product *p = &g->p;
	for (size_t i = first; i < n; i++)
		stats_fp32_row(g->stats, i, p->a + i * p->d, p->d);
}

/* Non-finite rows came: sgemm from now on, over every row. */
static void grow_to_fp32(struct match_growing *g)
{
	struct match_product *p = &g->p;
	float *radius = p->radius;
	p->radius = NULL;
	match_product_free(p);
	p->radius = radius;
	p->int8 = 0;
	p->form = MATCH_FORM_FP32;
	p->stripe = MATCH_TILE;
	grow_stats_fp32(g, 0, p->na);
}

int match_growing_add(struct match_growing *g, size_t n, int nthreads, struct match_pool *pool)
{
	struct match_product *p = &g->p;
	size_t first = p->na;
	if (n < first || n > g->cap) {
		errno = EINVAL;
		return -1;
	}
	if (p->int8) {
		struct grow_job job = { .q = { .p = p, .sa = g->stats, .self = 1 }, .first = first, .n = n };
		atomic_init(&job.q.next, 0);
		atomic_init(&job.q.failed, 0);
		atomic_init(&job.non_finite, 0);
		match_pool_run(pool, match_thread_count(nthreads, (n - first + QUANT_ROWS - 1) / QUANT_ROWS),
		               grow_worker, &job);
		if (atomic_load(&job.non_finite))
			grow_to_fp32(g); /* rows [0, first) only: p->na is still first */
	}
	if (!p->int8)
		grow_stats_fp32(g, first, n);
	p->na = p->nb = n;
	stats_finish(g->stats, n);
	fill_radius(p, g->stats, g->stats);
	return 0;
}

void match_growing_free(struct match_growing *g)
{
	match_product_free(&g->p); /* its rows and panels kept warm for the next stream */
	if (g->stats)
		stats_free(g->stats);
	free(g->stats);
	*g = (struct match_growing){ 0 };
}
