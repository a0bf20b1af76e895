/*
 * match_product.c - the products that propose similarities for
 * match_pairs_above and match_topk: OpenBLAS sgemm or, on CPUs with AVX-512
 * VNNI, an int8 product of per-row quantized descriptors; the choice
 * (match_set_kernel); and the per-row bound on how far a proposed dot may be
 * from the canonical one (derivation in README.md, "Exactness").
 *
 * Workload: one setup per call: quantizing 2 x 20000 x 512 floats and their
 * norms (~10 ms) next to a product of 2e11 multiply-adds.
 */
#include "match/match.h"
#include "match/match_internal.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define INT8_STRIPE 64     /* rows of A per int8 product call (32 KB at d = 512) */
#define INT8_MAX_D 65536   /* 255 * 127 * d stays inside int32 */
#define U (1.0 / 16777216) /* unit roundoff of float, 2^-24 */

/* ---- kernel choice ---------------------------------------------------------- */

static atomic_int requested_kernel = MATCH_KERNEL_AUTO;

void match_set_kernel(enum match_kernel k)
{
	atomic_store(&requested_kernel, (int)k);
}

static int cpu_has_vnni(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#else
	return 0;
#endif
}

static int use_int8(void)
{
	return atomic_load(&requested_kernel) != MATCH_KERNEL_FP32 && cpu_has_vnni();
}

const char *match_kernel_in_use(void)
{
	return use_int8() ? "int8 (AVX-512 VNNI)" : "fp32 (OpenBLAS sgemm)";
}

/* ---- canonical dot -------------------------------------------------------- */

#define CANON_LANES 32

/* Element k is added into double lane k % 32 (products of floats are exact
 * in double, so with or without FMA each step rounds once), then lanes are
 * summed pairwise: lane l += lane l + w for w = 16, 8, 4, 2, 1. A fixed order,
 * so every CPU and every path gets the same bits. */
static float sum_lanes(double s[CANON_LANES])
{
	for (size_t w = CANON_LANES / 2; w > 0; w /= 2)
		for (size_t l = 0; l < w; l++)
			s[l] += s[l + w];
	return (float)s[0];
}

static float dot_canonical_generic(const float *a, const float *b, size_t d)
{
	double s[CANON_LANES] = { 0 };
	for (size_t k = 0; k < d; k++)
		s[k % CANON_LANES] += (double)a[k] * b[k];
	return sum_lanes(s);
}

static int canonical_avx512(void)
{
	static atomic_int avx512 = -1;
	int have = atomic_load_explicit(&avx512, memory_order_relaxed);
	if (have < 0) {
#if defined(__x86_64__) && defined(__GNUC__)
		__builtin_cpu_init();
		have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
#else
		have = 0;
#endif
		atomic_store_explicit(&avx512, have, memory_order_relaxed);
	}
	return have;
}

float match_dot_canonical(const float *a, const float *b, size_t d)
{
#if defined(__x86_64__) && defined(__GNUC__)
	if (canonical_avx512())
		return match_dot_canonical_avx512(a, b, d);
#endif
	return dot_canonical_generic(a, b, d);
}


/* ---- quantization ----------------------------------------------------------- */

/* What the bound needs of one side: per row the quantization error e =
 * ||x - scale * q||, m = max(||x||, ||scale * q||); and their maxima with
 * that of ||x|| (rows with non-finite values are left out: their products
 * are not finite either, and the canonical dot decides them). */
struct side_stats {
	double *e, *m;
	double max_norm, max_e, max_m;
};

static int row_finite(const float *x, size_t d)
{
	for (size_t k = 0; k < d; k++)
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
static float quantize_row(const float *x, size_t d, int8_t *q, double *e, double *norm,
                          double *qnorm)
{
	float scale = row_max_abs(x, d) / 127.0f;
	float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
	double ee = 0, nn = 0, qq = 0;
	for (size_t k = 0; k < d; k++) {
		float y = x[k] * inv; /* any rounding will do: e measures the result */
		int v = (int)(y + (y >= 0.0f ? 0.5f : -0.5f));
		v = v > 127 ? 127 : (v < -127 ? -127 : v);
		q[k] = (int8_t)v;
		double back = (double)scale * (double)v, diff = (double)x[k] - back;
		ee += diff * diff;
		nn += (double)x[k] * x[k];
		qq += back * back;
	}
	*e = sqrt(ee);
	*norm = sqrt(nn);
	*qnorm = sqrt(qq);
	return scale;
}

static void stats_add(struct side_stats *st, size_t i, double e, double norm, double qnorm)
{
	double m = norm > qnorm ? norm : qnorm;
	st->e[i] = e;
	st->m[i] = m;
	st->max_norm = norm > st->max_norm ? norm : st->max_norm;
	st->max_e = e > st->max_e ? e : st->max_e;
	st->max_m = m > st->max_m ? m : st->max_m;
}

static void stats_fp32(const float *x, size_t n, size_t d, struct side_stats *st)
{
	for (size_t i = 0; i < n; i++) {
		const float *row = x + i * d;
		double nn = 0;
		for (size_t k = 0; k < d; k++)
			nn += (double)row[k] * row[k];
		double norm = row_finite(row, d) ? sqrt(nn) : 0.0;
		stats_add(st, i, 0.0, norm, norm);
	}
}

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

/* Broadcast side (s8 rows) of x, with statistics. */
static int quantize_rows(const float *x, size_t n, size_t d, size_t dp, struct match_i8rows *r,
                         struct side_stats *st)
{
	size_t rows = n + 8; /* the micro-kernel reads whole groups of 8 rows */
	r->dp = dp;
	r->q = calloc(rows, dp);
	r->corr = calloc(rows, sizeof *r->corr);
	r->scale = calloc(rows, sizeof *r->scale);
	if (!r->q || !r->corr || !r->scale)
		return -1;
	for (size_t i = 0; i < n; i++) {
		double e, norm, qnorm;
		int8_t *q = r->q + i * dp;
		r->scale[i] = quantize_row(x + i * d, d, q, &e, &norm, &qnorm);
		int32_t sum = 0;
		for (size_t k = 0; k < d; k++)
			sum += q[k];
		r->corr[i] = 128 * sum;
		stats_add(st, i, e, norm, qnorm);
	}
	return 0;
}

/* Store s8 row j as u8 (q + 128) in its panel. */
static void panel_put(struct match_u8cols *c, size_t j, const int8_t *q, size_t d, size_t dp)
{
	uint8_t *panel = c->q + j / 16 * 16 * dp + (j % 16) * 4;
	for (size_t k = 0; k < d; k++)
		panel[k / 4 * 64 + k % 4] = (uint8_t)(q[k] + 128);
}

static int alloc_cols(struct match_u8cols *c, size_t n, size_t dp)
{
	size_t rows = round_up(n, 32);
	c->q = malloc(rows * dp + 1);
	c->scale = calloc(rows, sizeof *c->scale);
	if (!c->q || !c->scale)
		return -1;
	memset(c->q, 128, rows * dp);
	return 0;
}

/* Self products: the column side is the row side, rearranged. */
static int cols_from_rows(const struct match_i8rows *r, size_t n, size_t d, struct match_u8cols *c)
{
	if (alloc_cols(c, n, r->dp) < 0)
		return -1;
	for (size_t j = 0; j < n; j++) {
		panel_put(c, j, r->q + j * r->dp, d, r->dp);
		c->scale[j] = r->scale[j];
	}
	return 0;
}

/* Column side (u8 panels of 16 rows) of x, with statistics. */
static int quantize_cols(const float *x, size_t n, size_t d, size_t dp, struct match_u8cols *c,
                         struct side_stats *st)
{
	int8_t *q = calloc(dp ? dp : 1, 1);
	if (!q || alloc_cols(c, n, dp) < 0) {
		free(q);
		return -1;
	}
	for (size_t j = 0; j < n; j++) {
		double e, norm, qnorm;
		c->scale[j] = quantize_row(x + j * d, d, q, &e, &norm, &qnorm);
		panel_put(c, j, q, d, dp);
		stats_add(st, j, e, norm, qnorm);
	}
	free(q);
	return 0;
}

/* ---- the bound ---------------------------------------------------------------- */

/* gamma_n = n u / (1 - n u): the relative error of n roundings. */
static double gamma_n(double n)
{
	return n * U / (1.0 - n * U);
}

/* radius[i] >= |proposed(i, j) - canonical(i, j)| for every row j of B:
 *   e_i ||b_j|| + ||q_i|| e_j      quantization (zero for sgemm)
 *   + g m_i m_j                    the proposal's own rounding
 *   + (u + c) m_i m_j              the canonical dot: one float rounding and
 *                                  its double sums
 * then 1% and 2^-22 more, so that a floor computed as value - radius in float
 * rounds below the exact one. */
static void fill_radius(float *radius, size_t na, const struct side_stats *sa,
                        const struct side_stats *sb, double g, size_t d)
{
	double canon = U * (1.0 + 1e-6) + gamma_n((double)d / CANON_LANES + 6) / (1ull << 29);
	for (size_t i = 0; i < na; i++) {
		double r = sa->e[i] * sb->max_norm + sa->m[i] * sb->max_e +
		           (g + canon) * sa->m[i] * sb->max_m;
		radius[i] = (float)(r * 1.01 + 0x1p-22);
	}
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
}

static int stats_alloc(struct side_stats *st, size_t n)
{
	*st = (struct side_stats){ 0 };
	st->e = calloc(n ? n : 1, sizeof *st->e);
	st->m = calloc(n ? n : 1, sizeof *st->m);
	return st->e && st->m ? 0 : -1;
}

/* Quantize A as rows and B as columns (one pass each) with their stats. */
static int prepare_int8(struct match_product *p, struct side_stats *sa, struct side_stats *sb)
{
	size_t dp = round_up(p->d, 4);
	if (quantize_rows(p->a, p->na, p->d, dp, &p->qa, sa) < 0)
		return -1;
	if (p->a == p->b && p->na == p->nb) {
		memcpy(sb->e, sa->e, p->na * sizeof *sb->e);
		memcpy(sb->m, sa->m, p->na * sizeof *sb->m);
		sb->max_norm = sa->max_norm, sb->max_e = sa->max_e, sb->max_m = sa->max_m;
		return cols_from_rows(&p->qa, p->na, p->d, &p->qb);
	}
	if (quantize_cols(p->b, p->nb, p->d, dp, &p->qb, sb) < 0)
		return -1;
	p->stripe = INT8_STRIPE;
	return 0;
}

int match_product_init(struct match_product *p, const float *a, size_t na, const float *b,
                       size_t nb, size_t d, int bounds)
{
	*p = (struct match_product){ .a = a, .b = b, .na = na, .nb = nb, .d = d, .stripe = MATCH_TILE };
	p->int8 = bounds && use_int8() && d > 0 && d <= INT8_MAX_D && all_finite(a, na, d) &&
	          (a == b || all_finite(b, nb, d));
	if (!bounds)
		return 0;
	struct side_stats sa, sb;
	int rc = stats_alloc(&sa, na) | stats_alloc(&sb, nb);
	p->radius = calloc(na ? na : 1, sizeof *p->radius);
	if (rc == 0 && p->radius) {
		if (p->int8) {
			rc = prepare_int8(p, &sa, &sb);
		} else {
			stats_fp32(a, na, d, &sa);
			stats_fp32(b, nb, d, &sb);
		}
		if (rc == 0)
			fill_radius(p->radius, na, &sa, &sb, p->int8 ? gamma_n(3) : gamma_n((double)d + 1), d);
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
	free(p->qa.q);
	free(p->qa.corr);
	free(p->qa.scale);
	free(p->qb.q);
	free(p->qb.scale);
	p->radius = NULL;
	p->qa = (struct match_i8rows){ 0 };
	p->qb = (struct match_u8cols){ 0 };
}

void match_product_tile(const struct match_product *p, size_t i0, size_t ni, size_t j0, size_t nj,
                        float *out)
{
#if defined(__x86_64__) && defined(__GNUC__)
	if (p->int8) {
		match_vnni_tile(&p->qa, i0, ni, &p->qb, j0, nj, out);
		return;
	}
#endif
	match_dot_tile(p->a + i0 * p->d, ni, p->b + j0 * p->d, nj, p->d, out);
}
