/*
 * match_vnni.c - the x86-64 intrinsics of src/match's products: the
 * u8 x s8 tile product of the int8 path (vpdpbusd, in its AVX-512 VNNI and
 * its 256-bit AVX-VNNI forms: one blocking, two inner products), the fp32
 * top-k's scanning product (AVX-512F, the same micro-tile with FMAs), the
 * AVX-512 and AVX2 forms of the canonical dot product and the AVX-512
 * quantizer. Everything here is compiled with target attributes
 * and only called after a CPU check (match_product.c, match.c), so the rest
 * of the library needs no -march flags.
 *
 * Workload: the tile products are most of the cost of an int8 all-pairs or
 * top-k call and of an fp32 top-k (20000^2 x 512 = 2e11 multiply-adds); the canonical dot runs once per
 * candidate that has to be confirmed (a few hundred per query).
 */
#include "match/match_internal.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define VNNI512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define VNNI256_TARGET __attribute__((target("avx2,fma,avxvnni")))
#define DOT_TARGET __attribute__((target("avx512f,avx512vl,avx2,fma")))
#define FMA256_TARGET __attribute__((target("avx2,fma")))
/* the fp32 scanning product, and what it shares with the int8 one */
#define F32_TARGET __attribute__((target("avx512f,avx512vl")))

/* The first min(left, 16) of 16 lanes (F32_TARGET: every 512-bit form
 * here inlines it). */
static inline F32_TARGET __mmask16 live16(size_t left)
{
	return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
}

#define MR 8    /* rows per micro-tile of the 512-bit kernel */
#define MR256 6 /* of the 256-bit one */
#define NR 32   /* columns per micro-tile (two 16-column panels) */

static inline int32_t row4(const int8_t *p)
{
	int32_t four;
	memcpy(&four, p, sizeof four);
	return four;
}

/* One micro-tile: rows (<= mr of them, s8, stride dp) x the 32 columns of
 * panels p0 and p1 (u8), finished as (acc - corr) * col_scale * row_scale
 * into out (row stride nj), only the first cols columns. */
struct micro {
	const int8_t *rows;
	const int32_t *corr;
	const float *row_scale, *col_scale;
	const float *slack; /* the 32 columns' (struct match_u8cols) */
	float q;            /* the least qn of the call's rows */
	const uint8_t *p0, *p1;
	size_t dp, nrows, cols, nj;
	float *out;
	struct match_scan_row *scan; /* match_vnni_scan: the rows' floors and buffers */
	uint32_t col;                /* base index of the first column */
};

/* The blocking both widths share: micro-tiles of mr rows x NR columns over
 * the tile, column panels outermost so that a panel pair stays in L1 while
 * the stripe's rows pass. Inlined into each width's entry point (the micro
 * kernels need their target's registers). Rows are padded for mr <= 8. */
typedef void (*micro_fn)(const struct micro *m);

static inline __attribute__((always_inline)) void
tile_loop(const struct match_i8rows *a, size_t i0, size_t ni, const struct match_u8cols *b,
          size_t j0, size_t nj, float *out, struct match_scan_row *scan, size_t mr,
          micro_fn kernel)
{
	size_t dp = a->dp, panel = 16 * dp;
	float q = ni ? a->qn[i0] : 0.0f;
	for (size_t r = 1; r < ni; r++)
		q = a->qn[i0 + r] < q ? a->qn[i0 + r] : q;
	for (size_t c = 0; c < nj; c += NR) {
		struct micro m = { .p0 = b->q + (j0 + c) / 16 * panel, .col_scale = b->scale + j0 + c,
			           .slack = b->slack + j0 + c, .q = q, .dp = dp,
			           .cols = nj - c < NR ? nj - c : NR, .nj = nj, .col = (uint32_t)(j0 + c) };
		m.p1 = m.p0 + panel;
		for (size_t r = 0; r < ni; r += mr) {
			m.rows = a->q + (i0 + r) * dp;
			m.corr = a->corr + i0 + r;
			m.row_scale = a->scale + i0 + r;
			m.nrows = ni - r < mr ? ni - r : mr;
			m.out = out ? out + r * nj + c : NULL;
			m.scan = scan ? scan + r : NULL;
			kernel(&m);
		}
	}
}

/* ---- 512-bit: AVX-512 VNNI ---------------------------------------------------- */

/* The 512-bit micro-kernels' sixteen accumulators, acc<row><panel>: named
 * variables, so that they stay in registers (an array of them went to the
 * stack), declared as start0 (panel 0) and start1 (panel 1) and handed out
 * in acc[2 row + panel]. */
#define ACC16_START(type, start0, start1)                                       \
	type acc00 = (start0), acc01 = (start1), acc10 = acc00, acc11 = acc01;  \
	type acc20 = acc00, acc21 = acc01, acc30 = acc00, acc31 = acc01;        \
	type acc40 = acc00, acc41 = acc01, acc50 = acc00, acc51 = acc01;        \
	type acc60 = acc00, acc61 = acc01, acc70 = acc00, acc71 = acc01
#define ACC16_ZERO(type, zero) ACC16_START(type, zero, zero)
/* step(r) for each row r of a micro-tile */
#define EIGHT_ROWS(step) \
	do {                                                                    \
		step(0); step(1); step(2); step(3); step(4); step(5); step(6); step(7); \
	} while (0)
#define ACC16_OUT(acc)                                                          \
	do {                                                                    \
		(acc)[0] = acc00, (acc)[1] = acc01, (acc)[2] = acc10, (acc)[3] = acc11;     \
		(acc)[4] = acc20, (acc)[5] = acc21, (acc)[6] = acc30, (acc)[7] = acc31;     \
		(acc)[8] = acc40, (acc)[9] = acc41, (acc)[10] = acc50, (acc)[11] = acc51;   \
		(acc)[12] = acc60, (acc)[13] = acc61, (acc)[14] = acc70, (acc)[15] = acc71; \
	} while (0)

/* Row r's four bytes of group g, broadcast to the 16 lanes. */
#define ROW4(r) _mm512_set1_epi32(row4(rows + (size_t)(r) * dp + 4 * g))
/* acc r0 / r1 (columns 0-15 / 16-31 of row r) += that row x both panels. */
#define STEP(r)                                                            \
	do {                                                               \
		__m512i a = ROW4(r);                                       \
		acc##r##0 = _mm512_dpbusd_epi32(acc##r##0, b0, a);         \
		acc##r##1 = _mm512_dpbusd_epi32(acc##r##1, b1, a);         \
	} while (0)

/* Sixteen columns' start, -trunc(q slack[j]) (struct match_u8cols). */
static inline VNNI512_TARGET __m512i shift_start512(float q, const float *slack)
{
	__m512i k = _mm512_cvttps_epi32(_mm512_mul_ps(_mm512_set1_ps(q), _mm512_loadu_ps(slack)));
	return _mm512_sub_epi32(_mm512_setzero_si512(), k);
}

/* acc[2r + h] = rows[r] (s8, 4 bytes broadcast at a time) . panel h (u8),
 * from the columns' shifted start. Sixteen named accumulators, so that they
 * stay in registers. */
static inline __attribute__((always_inline)) VNNI512_TARGET void
micro_product512(const struct micro *m, __m512i acc[2 * MR])
{
	const int8_t *rows = m->rows;
	const uint8_t *p0 = m->p0, *p1 = m->p1;
	size_t dp = m->dp;
	ACC16_START(__m512i, shift_start512(m->q, m->slack), shift_start512(m->q, m->slack + 16));
	for (size_t g = 0; g < dp / 4; g++) {
		__m512i b0 = _mm512_loadu_si512(p0 + 64 * g);
		__m512i b1 = _mm512_loadu_si512(p1 + 64 * g);
		EIGHT_ROWS(STEP);
	}
	ACC16_OUT(acc);
}
#undef STEP
#undef ROW4

/* The proposals of 16 columns, (acc - corr) * col_scale * row_scale, with
 * the correction and scales in vectors. */
static inline VNNI512_TARGET __m512 proposals16(__m512i acc, __m512i corr, __m512 col_scale,
                                                __m512 row_scale)
{
	return _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc, corr)), col_scale),
	                     row_scale);
}

static inline VNNI512_TARGET __m512 finish512(__m512i acc, int32_t corr, float row_scale,
                                              const float *col_scale, __mmask16 live)
{
	return proposals16(acc, _mm512_set1_epi32(corr), _mm512_maskz_loadu_ps(live, col_scale),
	                   _mm512_set1_ps(row_scale));
}

/* out row = the proposals, live columns only. */
static inline VNNI512_TARGET void store512(__m512i acc, int32_t corr, float row_scale,
                                           const float *col_scale, size_t left, float *out)
{
	__mmask16 live = live16(left);
	__m512 v = finish512(acc, corr, row_scale, col_scale, live);
	if (left >= 16)
		_mm512_storeu_ps(out, v);
	else
		_mm512_mask_storeu_ps(out, live, v);
}

/* A micro-tile's 32 columns as two vectors: which lanes are live and the
 * columns' indices, the same for each of its rows. */
struct tile_cols {
	__mmask16 live[2];
	__m512i idx[2];
};

static inline __attribute__((always_inline)) F32_TARGET struct tile_cols tile_cols_of(uint32_t col,
                                                                                      size_t cols)
{
	const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	__m512i first = _mm512_add_epi32(_mm512_set1_epi32((int)col), lanes);
	return (struct tile_cols){ .live = { live16(cols), cols > 16 ? live16(cols - 16) : 0 },
		                   .idx = { first, _mm512_add_epi32(first, _mm512_set1_epi32(16)) } };
}

/* The proposals v >= floor (live lanes), clamped to [0, 1], and their
 * columns appended at sim + *n, idx + *n: 16 slots written whatever their
 * count (register compresses are fast where memory ones are not), or 8 when
 * there are at most 8 and the row's hits are sparse: the stores were ~8 % of
 * the scanning product, and half-width ones took ~2.5 % of it off at 2-20 %
 * hits (README "Half-width appends"). Whether a vector hits is no branch
 * (under a guessed floor it hits about as often as not); more than 8 hits in
 * a sparse row is rare, and a dense row always stores whole vectors, so the
 * width's branch predicts well. */
static inline __attribute__((always_inline)) F32_TARGET void
append16(__m512 v, __mmask16 live, __m512i col, __m512 floor, int dense, float *sim, uint32_t *idx,
         size_t *n)
{
	__mmask16 hit = _mm512_mask_cmp_ps_mask(live, v, floor, _CMP_GE_OQ);
	v = _mm512_min_ps(_mm512_max_ps(v, _mm512_setzero_ps()), _mm512_set1_ps(1.0f));
	__m512 cv = _mm512_maskz_compress_ps(hit, v);
	__m512i cj = _mm512_maskz_compress_epi32(hit, col);
	unsigned got = (unsigned)__builtin_popcount(hit);
	if (dense || got > 8) {
		_mm512_storeu_ps(sim + *n, cv);
		_mm512_storeu_si512(idx + *n, cj);
	} else {
		_mm256_storeu_ps(sim + *n, _mm512_castps512_ps256(cv));
		_mm256_storeu_si256((__m256i *)(void *)(idx + *n), _mm512_castsi512_si256(cj));
	}
	*n += got;
}

/* One row of a micro-tile, its proposals v[0] (the first 16 columns) and
 * v[1], appended to the row's buffer (the fp32 scanning product; the int8
 * one does the same in micro512_scan). The row's state is read once and its
 * count written once: appending through the struct reloaded it after every
 * store, which might have changed it, and took the finishing broadcasts
 * along (together ~2 % of the int8 top-k). AVX-512F and VL only. */
static inline __attribute__((always_inline)) F32_TARGET void
append_row(struct match_scan_row *s, const __m512 v[2], const struct tile_cols *t)
{
	size_t n = s->n;
	__m512 floor = _mm512_set1_ps(s->floor);
	append16(v[0], t->live[0], t->idx[0], floor, s->dense, s->sim, s->idx, &n);
	if (t->live[1])
		append16(v[1], t->live[1], t->idx[1], floor, s->dense, s->sim, s->idx, &n);
	s->n = n;
}

static VNNI512_TARGET void micro512(const struct micro *m)
{
	__m512i acc[2 * MR];
	micro_product512(m, acc);
	for (size_t x = 0; x < m->nrows; x++) {
		float *o = m->out + x * m->nj;
		store512(acc[2 * x], m->corr[x], m->row_scale[x], m->col_scale, m->cols, o);
		if (m->cols > 16)
			store512(acc[2 * x + 1], m->corr[x], m->row_scale[x], m->col_scale + 16,
			         m->cols - 16, o + 16);
	}
}

VNNI512_TARGET void match_vnni_tile(const struct match_i8rows *a, size_t i0, size_t ni,
                                    const struct match_u8cols *b, size_t j0, size_t nj, float *out)
{
	tile_loop(a, i0, ni, b, j0, nj, out, NULL, MR, micro512);
}

/* micro512 with the values scanned instead of stored: no tile is written
 * and read back (the top-k's scan of the tile took ~a fifth of the
 * product's time, README "Performance"). As append_row, each row's state is
 * read and written once; the second vector is finished inside its branch
 * (finishing both first and appending them by append_row was ~1 % slower
 * in the int8 top-k). */
static VNNI512_TARGET void micro512_scan(const struct micro *m)
{
	__m512i acc[2 * MR];
	micro_product512(m, acc);
	struct tile_cols t = tile_cols_of(m->col, m->cols);
	__m512 cs0 = _mm512_maskz_loadu_ps(t.live[0], m->col_scale);
	__m512 cs1 = _mm512_maskz_loadu_ps(t.live[1], m->col_scale + 16);
	for (size_t x = 0; x < m->nrows; x++) {
		struct match_scan_row *s = &m->scan[x];
		size_t n = s->n;
		__m512 floor = _mm512_set1_ps(s->floor), rs = _mm512_set1_ps(m->row_scale[x]);
		__m512i corr = _mm512_set1_epi32(m->corr[x]);
		append16(proposals16(acc[2 * x], corr, cs0, rs), t.live[0], t.idx[0], floor, s->dense,
		         s->sim, s->idx, &n);
		if (t.live[1])
			append16(proposals16(acc[2 * x + 1], corr, cs1, rs), t.live[1], t.idx[1], floor,
			         s->dense, s->sim, s->idx, &n);
		s->n = n;
	}
}

VNNI512_TARGET void match_vnni_scan(const struct match_i8rows *a, size_t i0, size_t ni,
                                    const struct match_u8cols *b, size_t j0, size_t nj,
                                    struct match_scan_row *rows)
{
	tile_loop(a, i0, ni, b, j0, nj, NULL, rows, MR, micro512_scan);
}

/* ---- 512-bit fp32: the fp32 top-k's scanning product ------------------------- */

/* Rows of A per pass over a call's panels: 64 rows of 512 floats (128 KB)
 * stay in L2 with the call's 256 columns of panels (512 KB) while every
 * panel pair passes them. */
#define F32_STRIPE 64

/* acc r0 / r1 (columns 0-15 / 16-31 of row r) += element kk of row r x both
 * panels' element kk (b0, b1). */
#define STEP32(r)                                                          \
	do {                                                               \
		__m512 a = _mm512_set1_ps(q##r[kk]);                       \
		acc##r##0 = _mm512_fmadd_ps(a, b0, acc##r##0);             \
		acc##r##1 = _mm512_fmadd_ps(a, b1, acc##r##1);             \
	} while (0)
/* Element k of every row, one FMA per accumulator. */
#define PLAIN32(k)                                                         \
	do {                                                               \
		const size_t kk = (k);                                     \
		__m512 b0 = _mm512_loadu_ps(p0 + 16 * kk);                 \
		__m512 b1 = _mm512_loadu_ps(p1 + 16 * kk);                 \
		EIGHT_ROWS(STEP32);                                        \
	} while (0)
/* Elements k and k + 1 of row r as Winograd's pair: acc += (a_k + b_k+1)
 * (a_k+1 + b_k), whose a_k a_k+1 and b_k b_k+1 the accumulator's start took
 * off. One FMA and two additions for two products: the additions run on
 * the FP adder pipes, which plain FMAs leave idle on AMD's cores. */
#define PAIR32(r)                                                                            \
	do {                                                                                 \
		__m512 a0 = _mm512_set1_ps(q##r[k]), a1 = _mm512_set1_ps(q##r[k + 1]);       \
		acc##r##0 = _mm512_fmadd_ps(_mm512_add_ps(a0, b0o), _mm512_add_ps(a1, b0e), acc##r##0); \
		acc##r##1 = _mm512_fmadd_ps(_mm512_add_ps(a0, b1o), _mm512_add_ps(a1, b1e), acc##r##1); \
	} while (0)
/* acc r0 / r1 start at row r's start plus the panels' starts (s0, s1). */
#define START32(r)                                                         \
	do {                                                               \
		__m512 sr = _mm512_set1_ps(start[r]);                      \
		acc##r##0 = _mm512_add_ps(sr, s0);                         \
		acc##r##1 = _mm512_add_ps(sr, s1);                         \
	} while (0)

/* acc[2r + h] = row q[r] . the 16 rows of panel h, each lane a sum of the d
 * products in order, one FMA each. Sixteen named accumulators, so that
 * they stay in registers: in a test loop as fast as FMAs alone, where
 * OpenBLAS's kernel ran at ~90 % of them and packed A besides. */
static inline F32_TARGET void micro_f32(const float *const q[MR], size_t d, const float *p0,
                                        const float *p1, __m512 acc[2 * MR])
{
	const float *q0 = q[0], *q1 = q[1], *q2 = q[2], *q3 = q[3];
	const float *q4 = q[4], *q5 = q[5], *q6 = q[6], *q7 = q[7];
	ACC16_ZERO(__m512, _mm512_setzero_ps());
	for (size_t k = 0; k < d; k++)
		PLAIN32(k);
	ACC16_OUT(acc);
}

/* As micro_f32, paired (struct match_f32cols): in each group of four
 * elements the first two go in as one pair, the other two plainly; each
 * accumulator starts at its row's start (start[r]) plus its column's
 * (sb[0 .. 32)). 1.3x the GFLOP/s of micro_f32 in a test loop on Zen 5. */
static inline F32_TARGET void micro_f32_paired(const float *const q[MR], const float start[MR],
                                               size_t d, const float *p0, const float *p1,
                                               const float *sb, __m512 acc[2 * MR])
{
	const float *q0 = q[0], *q1 = q[1], *q2 = q[2], *q3 = q[3];
	const float *q4 = q[4], *q5 = q[5], *q6 = q[6], *q7 = q[7];
	ACC16_ZERO(__m512, _mm512_setzero_ps());
	__m512 s0 = _mm512_loadu_ps(sb), s1 = _mm512_loadu_ps(sb + 16);
	EIGHT_ROWS(START32);
	size_t k = 0;
	for (; k + 4 <= d; k += 4) {
		__m512 b0e = _mm512_loadu_ps(p0 + 16 * k), b0o = _mm512_loadu_ps(p0 + 16 * k + 16);
		__m512 b1e = _mm512_loadu_ps(p1 + 16 * k), b1o = _mm512_loadu_ps(p1 + 16 * k + 16);
		EIGHT_ROWS(PAIR32);
		PLAIN32(k + 2);
		PLAIN32(k + 3);
	}
	for (; k < d; k++)
		PLAIN32(k);
	ACC16_OUT(acc);
}
#undef START32
#undef PAIR32
#undef PLAIN32
#undef STEP32

/* The micro-tiles of rows r .. r + nrows (nrows <= MR) of a stripe against
 * one panel pair (the pair's first column c), appended to their rows'
 * buffers. A has no spare rows (it is the caller's), so a short tile
 * computes its last row again in place of the missing ones and drops those. */
static inline F32_TARGET void tile_f32(const float *a, size_t d, size_t r, size_t nrows,
                                       const struct match_f32cols *b, size_t c, size_t cols,
                                       struct match_scan_row *rows)
{
	const float *q[MR];
	float start[MR];
	__m512 acc[2 * MR];
	const float *p0 = b->q + c / 16 * 16 * d, *p1 = p0 + 16 * d;
	for (size_t x = 0; x < MR; x++) {
		size_t i = r + (x < nrows ? x : nrows - 1);
		q[x] = a + i * d;
		start[x] = b->paired ? b->start_a[i] : 0.0f;
	}
	if (b->paired)
		micro_f32_paired(q, start, d, p0, p1, b->start_b + c, acc);
	else
		micro_f32(q, d, p0, p1, acc);
	struct tile_cols t = tile_cols_of((uint32_t)c, cols);
	for (size_t x = 0; x < nrows; x++)
		append_row(&rows[x], &acc[2 * x], &t);
}

F32_TARGET void match_f32_scan(const float *a, size_t d, size_t i0, size_t ni,
                               const struct match_f32cols *b, size_t j0, size_t nj,
                               struct match_scan_row *rows)
{
	for (size_t r0 = i0; r0 < i0 + ni; r0 += F32_STRIPE) {
		size_t r1 = i0 + ni - r0 < F32_STRIPE ? i0 + ni : r0 + F32_STRIPE;
		for (size_t c = j0; c < j0 + nj; c += NR) {
			size_t cols = j0 + nj - c < NR ? j0 + nj - c : NR;
			for (size_t r = r0; r < r1; r += MR)
				tile_f32(a, d, r, r1 - r < MR ? r1 - r : MR, b, c, cols, rows + (r - i0));
		}
	}
}

/* ---- 256-bit: AVX-VNNI (16 ymm registers) ----------------------------------- */

/* Six rows x one 16-column panel: twelve accumulators (row r x columns 0-7
 * / 8-15 of the panel's 64-byte group), so that enough independent sums are
 * in flight while they, two panel halves and a broadcast fit the 16
 * registers. */
#define STEP256(r)                                                                  \
	do {                                                                        \
		__m256i a = _mm256_set1_epi32(row4(rows + (size_t)(r) * dp + 4 * g)); \
		acc##r##0 = _mm256_dpbusd_avx_epi32(acc##r##0, lo, a);               \
		acc##r##1 = _mm256_dpbusd_avx_epi32(acc##r##1, hi, a);               \
	} while (0)

/* Eight columns' start, -trunc(q slack[j]): shift_start512's bits. */
static inline VNNI256_TARGET __m256i shift_start256(float q, const float *slack)
{
	__m256i k = _mm256_cvttps_epi32(_mm256_mul_ps(_mm256_set1_ps(q), _mm256_loadu_ps(slack)));
	return _mm256_sub_epi32(_mm256_setzero_si256(), k);
}

/* Twelve named accumulators, so that they stay in registers; columns 0-7
 * and 8-15 start at their shifts (slack: the panel's 16). */
static inline VNNI256_TARGET void six_rows256(const int8_t *rows, size_t dp, const uint8_t *p,
                                              float q, const float *slack, __m256i acc[2 * MR256])
{
	__m256i acc00 = shift_start256(q, slack), acc01 = shift_start256(q, slack + 8);
	__m256i acc10 = acc00, acc11 = acc01, acc20 = acc00, acc21 = acc01, acc30 = acc00;
	__m256i acc31 = acc01, acc40 = acc00, acc41 = acc01, acc50 = acc00, acc51 = acc01;
	for (size_t g = 0; g < dp / 4; g++) {
		__m256i lo = _mm256_loadu_si256((const __m256i *)(p + 64 * g));
		__m256i hi = _mm256_loadu_si256((const __m256i *)(p + 64 * g + 32));
		STEP256(0);
		STEP256(1);
		STEP256(2);
		STEP256(3);
		STEP256(4);
		STEP256(5);
	}
	acc[0] = acc00, acc[1] = acc01, acc[2] = acc10, acc[3] = acc11;
	acc[4] = acc20, acc[5] = acc21, acc[6] = acc30, acc[7] = acc31;
	acc[8] = acc40, acc[9] = acc41, acc[10] = acc50, acc[11] = acc51;
}
#undef STEP256

/* As store512 for eight columns; a partial last group is stored through a copy. */
static inline VNNI256_TARGET void store256(__m256i acc, int32_t corr, float row_scale,
                                           const float *col_scale, size_t left, float *out)
{
	float v8[8];
	__m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc, _mm256_set1_epi32(corr)));
	v = _mm256_mul_ps(v, _mm256_loadu_ps(col_scale)); /* padded to 32 columns */
	v = _mm256_mul_ps(v, _mm256_set1_ps(row_scale));
	if (left >= 8) {
		_mm256_storeu_ps(out, v);
		return;
	}
	_mm256_storeu_ps(v8, v);
	memcpy(out, v8, left * sizeof *out);
}

/* The two panels one after the other. */
static VNNI256_TARGET void micro256(const struct micro *m)
{
	for (size_t h = 0; h < 2 && m->cols > 16 * h; h++) {
		__m256i acc[2 * MR256];
		six_rows256(m->rows, m->dp, h ? m->p1 : m->p0, m->q, m->slack + 16 * h, acc);
		for (size_t x = 0; x < m->nrows; x++)
			for (size_t e = 0; e < 2 && m->cols > 16 * h + 8 * e; e++) {
				size_t c = 16 * h + 8 * e;
				store256(acc[2 * x + e], m->corr[x], m->row_scale[x], m->col_scale + c,
				         m->cols - c, m->out + x * m->nj + c);
			}
	}
}

VNNI256_TARGET void match_avxvnni_tile(const struct match_i8rows *a, size_t i0, size_t ni,
                                       const struct match_u8cols *b, size_t j0, size_t nj,
                                       float *out)
{
	tile_loop(a, i0, ni, b, j0, nj, out, NULL, MR256, micro256);
}

/* ---- the canonical dot (match_dot_canonical, match_product.c) ---------------
 * Element k into float lane k % 32 by one FMA, then lanes summed pairwise,
 * l += l + w for w = 16, 8, 4, 2, 1: the same operations in the same order as
 * the portable loop (fmaf), so the same bits. Dead lanes of the tail keep
 * their value instead of adding 0 * 0 (which would turn a -0 lane into +0). */

/* Lanes 0-7 of h after w = 16, 8: w = 4, 2, 1. */
static inline FMA256_TARGET float reduce8(__m256 h)
{
	__m128 h4 = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
	__m128 h2 = _mm_add_ps(h4, _mm_movehl_ps(h4, h4));
	return _mm_cvtss_f32(_mm_add_ss(h2, _mm_shuffle_ps(h2, h2, 1)));
}

/* The lanes' pairwise sum, the same in every form. */
static inline DOT_TARGET float reduce32(__m512 s0, __m512 s1)
{
	__m512 h = _mm512_add_ps(s0, s1);
	__m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(h), 1));
	return reduce8(_mm256_add_ps(_mm512_castps512_ps256(h), hi));
}

/* The last elements k .. d - 1 (fewer than 32): the next 16 into *x, the
 * rest into *y; dead lanes keep their value. */
static inline DOT_TARGET void dot_tail(const float *a, const float *b, size_t d, size_t k, __m512 *x,
                                       __m512 *y)
{
	__mmask16 mx = live16(d - k), my = d > k + 16 ? live16(d - k - 16) : 0;
	*x = _mm512_mask3_fmadd_ps(_mm512_maskz_loadu_ps(mx, a + k), _mm512_maskz_loadu_ps(mx, b + k), *x,
	                           mx);
	*y = _mm512_mask3_fmadd_ps(_mm512_maskz_loadu_ps(my, a + k + 16),
	                           _mm512_maskz_loadu_ps(my, b + k + 16), *y, my);
}

/* s0 holds lanes 0-15, s1 lanes 16-31; loads where the rows are. */
static DOT_TARGET float dot_canonical_unaligned(const float *a, const float *b, size_t d)
{
	__m512 s0 = _mm512_setzero_ps(), s1 = s0;
	size_t k = 0;
	for (; k + 32 <= d; k += 32) {
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), _mm512_loadu_ps(b + k), s0);
		s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k + 16), _mm512_loadu_ps(b + k + 16), s1);
	}
	if (k < d)
		dot_tail(a, b, d, k, &s0, &s1);
	return reduce32(s0, s1);
}

/* A row that starts off a 64-byte line (a float array from malloc starts
 * 16 bytes past one) makes every 64-byte load of the loop above a split
 * load: with the query rows from L3 that nearly doubled a confirming dot
 * (75 against 39 ns, README "Rows off a cache line"). So the loads of a
 * follow a's lines: with a starting o floats past a line, chunk c holds
 * elements 16c - o .. 16c - o + 15 (chunk 0 only those >= 0) and goes to
 * accumulator c % 2, so element k lands in place (k + o) % 32 of the pair:
 * canonical lane k % 32 rotated by o, each lane taking its elements in
 * order, one FMA each. The rotation changes no bit of the sum: the pairwise
 * sum adds lanes l and l + 16, then l and l + 8, ..., so every addition
 * joins two cosets of a subgroup of the lanes mod 32, and a rotation maps
 * those onto themselves; at most an addition's two operands trade places.
 * b's loads are aligned too when b starts as far past a line (rows of one
 * array, or of two malloc'd ones). */
static DOT_TARGET float dot_canonical_lines(const float *a, const float *b, size_t d, unsigned o)
{
	__m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
	__mmask16 first = (__mmask16)(0xffffu << o); /* the dead lanes stay +0: +0 * +0 + +0 */
	acc0 = _mm512_fmadd_ps(_mm512_maskz_expandloadu_ps(first, a),
	                       _mm512_maskz_expandloadu_ps(first, b), acc0);
	size_t k = 16 - o; /* chunk 1 starts at element k; d >= 48 */
	for (; k + 32 <= d; k += 32) {
		acc1 = _mm512_fmadd_ps(_mm512_load_ps(a + k), _mm512_loadu_ps(b + k), acc1);
		acc0 = _mm512_fmadd_ps(_mm512_load_ps(a + k + 16), _mm512_loadu_ps(b + k + 16), acc0);
	}
	if (k < d) /* an odd chunk, then an even one, as far as they go */
		dot_tail(a, b, d, k, &acc1, &acc0);
	return reduce32(acc0, acc1);
}

/* Two dots of dot_canonical_lines at once, a . b and c . e, a and c o
 * floats past a line: four FMA chains in flight instead of two, the same
 * operations per dot, so the same bits. */
static DOT_TARGET void dot_canonical_lines2(const float *a, const float *b, const float *c,
                                            const float *e, size_t d, unsigned o, float out[2])
{
	__m512 x0 = _mm512_setzero_ps(), x1 = x0, y0 = x0, y1 = x0;
	__mmask16 first = (__mmask16)(0xffffu << o);
	x0 = _mm512_fmadd_ps(_mm512_maskz_expandloadu_ps(first, a), _mm512_maskz_expandloadu_ps(first, b),
	                     x0);
	y0 = _mm512_fmadd_ps(_mm512_maskz_expandloadu_ps(first, c), _mm512_maskz_expandloadu_ps(first, e),
	                     y0);
	size_t k = 16 - o;
	for (; k + 32 <= d; k += 32) {
		x1 = _mm512_fmadd_ps(_mm512_load_ps(a + k), _mm512_loadu_ps(b + k), x1);
		y1 = _mm512_fmadd_ps(_mm512_load_ps(c + k), _mm512_loadu_ps(e + k), y1);
		x0 = _mm512_fmadd_ps(_mm512_load_ps(a + k + 16), _mm512_loadu_ps(b + k + 16), x0);
		y0 = _mm512_fmadd_ps(_mm512_load_ps(c + k + 16), _mm512_loadu_ps(e + k + 16), y0);
	}
	if (k < d) {
		dot_tail(a, b, d, k, &x1, &x0);
		dot_tail(c, e, d, k, &y1, &y0);
	}
	out[0] = reduce32(x0, x1);
	out[1] = reduce32(y0, y1);
}

DOT_TARGET float match_dot_canonical_avx512(const float *a, const float *b, size_t d)
{
	uintptr_t at = (uintptr_t)a;
	/* short rows have no whole chunk to align; a row not even on a float
	 * (a cast from a byte buffer) would make the aligned loads fault */
	if (d < 48 || at % sizeof *a)
		return dot_canonical_unaligned(a, b, d);
	return dot_canonical_lines(a, b, d, (unsigned)(at % 64 / sizeof *a));
}

/* a . b and c . e: the pair kernel when a and c start as far past a line
 * (rows of one array), else one dot after the other. */
DOT_TARGET void match_dot_canonical2_avx512(const float *a, const float *b, const float *c,
                                           const float *e, size_t d, float out[2])
{
	uintptr_t at = (uintptr_t)a, ct = (uintptr_t)c;
	if (d < 48 || at % sizeof *a || at % 64 != ct % 64) {
		out[0] = match_dot_canonical_avx512(a, b, d);
		out[1] = match_dot_canonical_avx512(c, e, d);
		return;
	}
	dot_canonical_lines2(a, b, c, e, d, (unsigned)(at % 64 / sizeof *a), out);
}

/* s[v] holds lanes 8v .. 8v+7. */
FMA256_TARGET float match_dot_canonical_avx2(const float *a, const float *b, size_t d)
{
	__m256 s[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
	size_t k = 0;
	for (; k + 32 <= d; k += 32)
		for (int v = 0; v < 4; v++)
			s[v] = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8 * v), _mm256_loadu_ps(b + k + 8 * v), s[v]);
	const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	for (int v = 0; v < 4 && k + 8 * v < d; v++) {
		__m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(d - k - 8 * v)), lane);
		__m256 f = _mm256_fmadd_ps(_mm256_maskload_ps(a + k + 8 * v, live),
		                           _mm256_maskload_ps(b + k + 8 * v, live), s[v]);
		s[v] = _mm256_blendv_ps(s[v], f, _mm256_castsi256_ps(live));
	}
	return reduce8(_mm256_add_ps(_mm256_add_ps(s[0], s[2]), _mm256_add_ps(s[1], s[3])));
}

/* quantize_row of match_product.c, 16 lanes at a time: the same q and scale
 * bit for bit (the same float operations per element, with explicit
 * rounding so that nothing is contracted into an FMA). e and the norms:
 * for rows whose largest |x| lies in [2^-30, 2^30] (all but extreme
 * scales), summed in float lanes and raised to upper bounds (quant_bounds);
 * for the others in eight double lanes, as the scalar loop does, in
 * another order (a few units in the last place, far inside the bound's 1 %
 * margin). The float sums took the quantizer's loop from ~27 to ~16
 * operations per 16 values. */
#define ROUND_NEAREST (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define QUANT_FLOAT_MIN 0x1p-30f
#define QUANT_FLOAT_MAX 0x1p30f

static inline DOT_TARGET double sqrt_sum(__m512d v)
{
	return sqrt(_mm512_reduce_add_pd(v));
}

/* The next min(left, 16) floats at x, the other lanes 0: a plain load for
 * a whole vector, since a masked one that misses the cache is much slower
 * here (the quantizer's first pass over a side's rows, which come from
 * memory, took more than twice as long with masked loads only). */
static inline DOT_TARGET __m512 load16(const float *x, size_t left)
{
	return left >= 16 ? _mm512_loadu_ps(x) : _mm512_maskz_loadu_ps(live16(left), x);
}

/* q of 16 values x (round(x / scale), clamped to +-127), as int32 lanes. */
static inline DOT_TARGET __m512i round16(__m512 xv, __m512 vinv)
{
	const __m512 half = _mm512_set1_ps(0.5f), minus_half = _mm512_set1_ps(-0.5f);
	__m512 y = _mm512_mul_round_ps(xv, vinv, ROUND_NEAREST);
	__mmask16 up = _mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_GE_OQ);
	__m512 t = _mm512_add_round_ps(y, _mm512_mask_blend_ps(up, minus_half, half), ROUND_NEAREST);
	return _mm512_max_epi32(_mm512_min_epi32(_mm512_cvttps_epi32(t), _mm512_set1_epi32(127)),
	                        _mm512_set1_epi32(-127));
}

/* Upper bounds of sqrt(sum) and of e from float sums: ee of the d values
 * x - scale q, each rounded once (one FMA), nn of x^2. Each lane adds
 * ceil(d/16) terms, the reduction 4 levels: a sum of m = ceil(d/16) + 4
 * roundings of nonnegative terms is at least (1 - gamma_m) of its exact
 * value, underflow takes at most (d + 16) 2^-150 more (2^-150 per operation),
 * and a term's own rounding at most u of it plus 2^-150 (so e is raised by
 * 1 / (1 - u) and sqrt(d) 2^-150). Rows in [2^-30, 2^30] neither overflow
 * (d x^2 < 2^77) nor lose more than ~2^-66 to underflow, far below the
 * bound's canonical term of the same rows. */
static void quant_bounds(double ee, double nn, size_t d, struct match_qrow *st)
{
	const double u = 0x1p-24, m = (double)((d + 15) / 16 + 4), g = m * u / (1.0 - m * u);
	const double under = (double)(d + 16) * 0x1p-150;
	st->e = (sqrt((ee + under) / (1.0 - g)) + sqrt((double)d) * 0x1p-150) / (1.0 - u);
	st->norm = sqrt((nn + under) / (1.0 - g));
}

DOT_TARGET float match_quantize_row_avx512(const float *x, size_t d, int8_t *q,
                                           struct match_qrow *st)
{
	__m512 top = _mm512_setzero_ps();
	for (size_t k = 0; k < d; k += 16)
		top = _mm512_max_ps(top, _mm512_abs_ps(load16(x + k, d - k)));
	float big = _mm512_reduce_max_ps(top), scale = big / 127.0f;
	float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
	const __m512 vinv = _mm512_set1_ps(inv), fscale = _mm512_set1_ps(scale);
	const __m512d vscale = _mm512_set1_pd((double)scale);
	int in_float = big >= QUANT_FLOAT_MIN && big <= QUANT_FLOAT_MAX;
	__m512 fe = _mm512_setzero_ps(), fn = fe;
	__m512d ee = _mm512_setzero_pd(), nn = ee;
	__m512i sum = _mm512_setzero_si512(), squares = sum;
	for (size_t k = 0; k < d; k += 16) { /* dead lanes are 0 and add nothing */
		__m512 xv = load16(x + k, d - k);
		__m512i v = round16(xv, vinv);
		if (d - k >= 16)
			_mm_storeu_si128((__m128i *)(void *)(q + k), _mm512_cvtepi32_epi8(v));
		else
			_mm512_mask_cvtepi32_storeu_epi8(q + k, live16(d - k), v);
		sum = _mm512_add_epi32(sum, v);
		squares = _mm512_add_epi32(squares, _mm512_mullo_epi32(v, v));
		if (in_float) {
			__m512 diff = _mm512_fnmadd_ps(fscale, _mm512_cvtepi32_ps(v), xv);
			fe = _mm512_fmadd_ps(diff, diff, fe);
			fn = _mm512_fmadd_ps(xv, xv, fn);
			continue;
		}
		for (int h = 0; h < 2; h++) {
			__m256 xh = h ? _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(xv), 1))
			              : _mm512_castps512_ps256(xv);
			__m256i vh = h ? _mm512_extracti64x4_epi64(v, 1) : _mm512_castsi512_si256(v);
			__m512d xd = _mm512_cvtps_pd(xh), vd = _mm512_cvtepi32_pd(vh);
			__m512d diff = _mm512_sub_pd(xd, _mm512_mul_pd(vscale, vd));
			ee = _mm512_fmadd_pd(diff, diff, ee);
			nn = _mm512_fmadd_pd(xd, xd, nn);
		}
	}
	st->sum = _mm512_reduce_add_epi32(sum);
	st->squares = _mm512_reduce_add_epi32(squares);
	st->qnorm = (double)scale * sqrt((double)st->squares);
	if (in_float) {
		quant_bounds(_mm512_reduce_add_ps(fe), _mm512_reduce_add_ps(fn), d, st);
	} else {
		st->e = sqrt_sum(ee);
		st->norm = sqrt_sum(nn);
	}
	return scale;
}
#undef ROUND_NEAREST
#undef QUANT_FLOAT_MIN
#undef QUANT_FLOAT_MAX

#endif
