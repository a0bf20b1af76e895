/*
 * test_match_int8.c - unit test of the product kernels of src/match:
 * match_pairs_above and match_topk must give exactly the same results
 * (indices, order and similarity bits) with the int8 product, in both its
 * forms (AVX-512 VNNI and 256-bit AVX-VNNI), as with the fp32 one, and
 * every reported similarity must be
 * match_similarity of its two rows, bit for bit. Also checks the canonical
 * dot against its definition (32 float lanes by FMA, pairwise sum) and its
 * forms (portable, AVX2, AVX-512) against each other, bit for bit.
 *
 * Workload: adversarial data built to sit on the error bound: exact ties
 * (duplicated rows), pairs whose similarity is the threshold itself or one
 * float step away, rows with one large component (the worst quantization
 * error), and plain random rows across the 1024-row tile edge; d = 3 .. 512,
 * 1 and 2 threads; a base whose best rows come first (the guessed top-k
 * floor is wrong and the query is scanned again). A few seconds; an int8
 * form the CPU lacks runs fp32 and the test says so (its checks then need
 * such a CPU). Each int8 form's values against their model (the columns'
 * shift included) and the radius. The candidate cut kernel (keep_ge: AVX-512 compress or the
 * portable loop) against a plain loop, on values at the cut, one float step
 * either side of it, and every tail length; likewise the kernel that takes
 * the confirmed similarities (take_ge); the collect kernel against its
 * contract, for every room.
 *
 * Prints one line per failed check and "N passed, M failed"; exits nonzero
 * on failure. Standalone build from the top of the tree:
 *   cc -std=gnu11 -O2 -Isrc tests/unit/test_match_int8.c src/match/match*.c \
 *      src/common/big_alloc.c $(pkg-config --cflags --libs openblas) -lpthread -lm -o test_match_int8
 */
#include "match/match.h"
#include "match/match_internal.h"
#include "check.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- data ------------------------------------------------------------------ */

#define TEST_RNG_SEED 12345
#include "test_rng.h"

static float *rows_alloc(size_t n, size_t d)
{
	float *x = calloc(n * d + 1, sizeof *x);
	if (!x) {
		printf("out of memory\n");
		exit(2);
	}
	return x;
}

static float *random_unit(size_t n, size_t d)
{
	float *x = rows_alloc(n, d);
	for (size_t i = 0; i < n * d; i++)
		x[i] = (float)uniform();
	match_normalize(x, n, d);
	return x;
}

/* Few distinct rows, each repeated many times: every similarity is tied
 * with many others, in every order of the indices. */
static float *duplicated(size_t n, size_t d, size_t distinct)
{
	float *base = random_unit(distinct, d), *x = rows_alloc(n, d);
	for (size_t i = 0; i < n; i++)
		memcpy(x + i * d, base + (i * 7 % distinct) * d, d * sizeof *x);
	free(base);
	return x;
}

/* One component near 1, the rest small noise: the quantization step of the
 * row is ~1/127, larger than most of its entries. */
static float *one_large(size_t n, size_t d)
{
	float *x = random_unit(n, d);
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < d; k++)
			x[i * d + k] *= 0.05f;
		x[i * d + i % 3] += (i & 1) ? 1.0f : -1.0f;
	}
	match_normalize(x, n, d);
	return x;
}

/* Pairs of rows (2p, 2p+1) at similarities spread evenly around t: row 2p+1
 * is cos(a) row 2p + sin(a) u, u orthogonal to row 2p. */
static float *around(size_t n, size_t d, float t, float spread)
{
	float *x = random_unit(n, d);
	for (size_t p = 0; p + 1 < n; p += 2) {
		float *a = x + p * d, *b = x + (p + 1) * d;
		double dot = 0, nn = 0;
		for (size_t k = 0; k < d; k++)
			dot += (double)a[k] * b[k];
		for (size_t k = 0; k < d; k++)
			b[k] = (float)(b[k] - dot * a[k]);
		for (size_t k = 0; k < d; k++)
			nn += (double)b[k] * b[k];
		double c = t + spread * (double)p / (double)n - spread / 2, s = sqrt(1 - c * c);
		for (size_t k = 0; k < d; k++)
			b[k] = (float)(c * a[k] + s * b[k] / sqrt(nn));
	}
	return x;
}

/* n rows within about eps of one random unit row (then normalised). */
static float *crowd(size_t n, size_t d, float eps)
{
	float *x = random_unit(n, d), *v = random_unit(1, d);
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < d; k++)
			x[i * d + k] = v[k] + eps * x[i * d + k];
	match_normalize(x, n, d);
	free(v);
	return x;
}

/* ---- the canonical dot ----------------------------------------------------- */

/* 32 float lanes, element k into lane k % 32 by a fused multiply-add, lanes
 * summed pairwise (l += l + w, w = 16 .. 1), clamped. */
static float canonical_by_definition(const float *a, const float *b, size_t d)
{
	float s[32] = { 0 };
	for (size_t k = 0; k < d; k++)
		s[k % 32] = fmaf(a[k], b[k], s[k % 32]);
	for (size_t w = 16; w > 0; w /= 2)
		for (size_t l = 0; l < w; l++)
			s[l] = s[l] + s[l + w];
	float f = s[0];
	return f > 0.0f ? (f < 1.0f ? f : 1.0f) : 0.0f;
}

static void test_canonical(void)
{
	size_t bad = 0, dims[] = { 0, 1, 5, 31, 32, 33, 100, 512, 513 };
	for (size_t t = 0; t < sizeof dims / sizeof *dims; t++) {
		float *x = random_unit(40, dims[t]);
		for (size_t i = 0; i < 40; i++)
			for (size_t j = 0; j < 40; j++) {
				float want = canonical_by_definition(x + i * dims[t], x + j * dims[t], dims[t]);
				float got = match_similarity(x + i * dims[t], x + j * dims[t], dims[t]);
				bad += memcmp(&want, &got, sizeof got) != 0;
			}
		free(x);
	}
	CHECK(bad == 0, "%zu canonical dots differ from the definition", bad);
}

/* Row pairs that stress the order of operations: random unit rows; entries
 * of magnitudes 2^-70 .. 2^50 with random signs (cancellation, products
 * that are subnormal or vanish); products that all round to -0 (a -0 lane
 * must stay -0 through the tail); b = -a with one entry changed (a sum that
 * cancels to a few units). */
static void canonical_pair(int kind, float *a, float *b, size_t d)
{
	for (size_t k = 0; k < d; k++) {
		double u = uniform(), v = uniform();
		switch (kind) {
		case 0:
			a[k] = (float)u;
			b[k] = (float)v;
			break;
		case 1:
			a[k] = (float)ldexp(u, (int)(60 * uniform()) - 10);
			b[k] = (float)ldexp(v, (int)(60 * uniform()) - 10);
			break;
		case 2:
			a[k] = -0x1p-80f * (float)(1.5 + u);
			b[k] = 0x1p-80f * (float)(1.5 + v);
			break;
		default:
			a[k] = (float)ldexp(u, (int)(8 * v));
			b[k] = k == d / 2 ? (float)v : -a[k];
			break;
		}
	}
}

static int same_float(float x, float y)
{
	return memcmp(&x, &y, sizeof x) == 0;
}

/* Whether every form the CPU has, and the pair form, gives the portable
 * loop's bits for the rows at a and b; counts the -0 results. */
static size_t forms_differ(const float *a, const float *b, size_t d, int avx2, int avx512,
                           size_t *zeros)
{
	size_t bad = 0;
	float want = match_dot_canonical_generic(a, b, d), two[2];
	*zeros += want == 0.0f && signbit(want);
	bad += !same_float(want, match_dot_canonical(a, b, d));
	/* the pair form: together where a and c start alike (a second dot of
	 * other values, so that a mixed-up lane shows), else one by one */
	float self = match_dot_canonical_generic(a, a, d);
	match_dot_canonical2(a, b, a, a, d, two);
	bad += !same_float(want, two[0]) + !same_float(self, two[1]);
	match_dot_canonical2(a, a, b, a, d, two);
	bad += !same_float(self, two[0]) + !same_float(want, two[1]);
#if defined(__x86_64__) && defined(__GNUC__)
	if (avx2)
		bad += !same_float(want, match_dot_canonical_avx2(a, b, d));
	if (avx512) {
		bad += !same_float(want, match_dot_canonical_avx512(a, b, d));
		match_dot_canonical2_avx512(b, a, a, a, d, two);
		bad += !same_float(want, two[0]) + !same_float(self, two[1]);
	}
#else
	(void)avx2, (void)avx512;
#endif
	return bad;
}

/* The CPU features of the canonical dot's (and the quantizer's) forms, as
 * match_product.c chooses them. */
static int cpu_avx2_fma(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
	return 0;
#endif
}

static int cpu_canonical_avx512(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
	return cpu_avx2_fma() && __builtin_cpu_supports("avx512f") &&
	       __builtin_cpu_supports("avx512vl");
#else
	return 0;
#endif
}

/* The portable loop, the AVX2 and the AVX-512 forms (those the CPU has)
 * and the dispatched one give the same bits, d = 1 .. 1025; and with the
 * rows starting anywhere in a 64-byte line (the AVX-512 form aligns its
 * loads to a's lines and rotates its lanes): every pair of the 16 float
 * offsets for some lengths, two pairs for all. */
static void test_canonical_forms(void)
{
	int avx2 = cpu_avx2_fma(), avx512 = cpu_canonical_avx512();
	float *abuf = aligned_alloc(64, 1088 * sizeof(float));
	float *bbuf = aligned_alloc(64, 1088 * sizeof(float));
	if (!abuf || !bbuf) {
		printf("out of memory\n");
		exit(2);
	}
	size_t bad = 0, zeros = 0, n = 0;
	size_t some[] = { 47, 48, 49, 63, 64, 65, 80, 100, 511, 512, 513, 1025 };
	for (size_t d = 1; d <= 1025; d++)
		for (int kind = 0; kind < 4; kind++) {
			size_t offsets[][2] = { { 0, 0 }, { 4, 4 }, { 3, 11 } };
			for (size_t o = 0; o < 3; o++, n++) {
				float *a = abuf + offsets[o][0], *b = bbuf + offsets[o][1];
				canonical_pair(kind, a, b, d);
				bad += forms_differ(a, b, d, avx2, avx512, &zeros);
			}
		}
	for (size_t t = 0; t < sizeof some / sizeof *some; t++)
		for (size_t oa = 0; oa < 16; oa++)
			for (size_t ob = 0; ob < 16; ob++)
				for (int kind = 0; kind < 4; kind++, n++) {
					canonical_pair(kind, abuf + oa, bbuf + ob, some[t]);
					bad += forms_differ(abuf + oa, bbuf + ob, some[t], avx2, avx512, &zeros);
				}
	free(abuf);
	free(bbuf);
	printf("canonical dot forms compared: portable%s%s, %zu row pairs (%zu at -0)\n",
	       avx2 ? ", AVX2" : "", avx512 ? ", AVX-512" : "", n, zeros);
	CHECK(bad == 0, "%zu canonical dots differ between the forms", bad);
	CHECK(zeros > 0, "no row pair reached a -0 canonical dot");
}

/* ---- pairs above ------------------------------------------------------------ */

struct pair {
	uint32_t i, j;
	float sim;
};

struct pair_list {
	struct pair *p;
	size_t n, cap;
};

static int collect_pair(void *ud, uint32_t i, uint32_t j, float sim)
{
	struct pair_list *l = ud;
	if (l->n == l->cap) {
		l->cap = l->cap * 2 + 64;
		struct pair *p = realloc(l->p, l->cap * sizeof *p);
		if (!p)
			return -2;
		l->p = p;
	}
	l->p[l->n++] = (struct pair){ i, j, sim };
	return 0;
}

static int pair_cmp(const void *pa, const void *pb)
{
	const struct pair *a = pa, *b = pb;
	if (a->i != b->i)
		return a->i < b->i ? -1 : 1;
	return a->j < b->j ? -1 : a->j > b->j;
}

static struct pair_list pairs_with(enum match_kernel k, const float *x, size_t n, size_t d,
                                   float t, int threads)
{
	struct pair_list l = { 0 };
	match_set_kernel(k);
	int rc = match_pairs_above(x, n, d, t, threads, collect_pair, &l);
	CHECK(rc == 0, "pairs rc %d", rc);
	qsort(l.p, l.n, sizeof *l.p, pair_cmp);
	return l;
}

/* The int8 kernels, each compared with fp32. */
static const enum match_kernel int8_kernels[] = { MATCH_KERNEL_INT8, MATCH_KERNEL_INT8_256 };
static const char *const int8_names[] = { "int8", "int8-256" };
#define INT8_KERNELS (sizeof int8_kernels / sizeof *int8_kernels)

/* Every kernel, compared with fp32 and with match_similarity over every
 * pair. */
static void pairs_case(const char *name, const float *x, size_t n, size_t d, float t, int threads)
{
	struct pair_list f = pairs_with(MATCH_KERNEL_FP32, x, n, d, t, threads), q = { 0 };
	for (size_t kn = 0; kn < INT8_KERNELS; kn++) {
		free(q.p);
		q = pairs_with(int8_kernels[kn], x, n, d, t, threads);
		CHECK(f.n == q.n && (f.n == 0 || memcmp(f.p, q.p, f.n * sizeof *f.p) == 0),
		      "pairs %s: fp32 %zu pairs, %s %zu, or they differ", name, f.n, int8_names[kn], q.n);
	}
	size_t want = 0, bad = 0, at = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			float s = match_similarity(x + i * d, x + j * d, d);
			if (!(s > t))
				continue;
			want++;
			bad += at >= q.n || q.p[at].i != i || q.p[at].j != j ||
			       memcmp(&q.p[at].sim, &s, sizeof s) != 0;
			at++;
		}
	CHECK(want == q.n && bad == 0, "pairs %s: %zu pairs, want %zu; %zu differ from brute force",
	      name, q.n, want, bad);
	free(f.p);
	free(q.p);
}

/* ---- top k ------------------------------------------------------------------ */

struct topk_result {
	struct match_hit *hits;
	size_t *counts;
};

static struct topk_result topk_with(enum match_kernel kern, const float *q, size_t nq,
                                    const float *b, size_t nb, size_t d, size_t k, float t,
                                    int self, int threads)
{
	struct topk_result r = { calloc(nq * k + 1, sizeof *r.hits), calloc(nq + 1, sizeof *r.counts) };
	match_set_kernel(kern);
	int rc = match_topk(q, nq, b, nb, d, k, t, self, threads, r.hits, r.counts);
	CHECK(rc == 0, "topk rc %d", rc);
	return r;
}

/* Is hit a ranked before b: higher sim, or equal and smaller index? */
static int ranks_before(struct match_hit a, struct match_hit b)
{
	return a.sim > b.sim || (a.sim == b.sim && a.idx < b.idx);
}

/* Query qi's list against brute force: every base row not listed (and not
 * excluded) ranks after the last listed one or is below t; the list is
 * sorted, complete up to k, and its sims are match_similarity's. */
static int topk_row_ok(const float *q, const float *b, size_t nb, size_t d, size_t k, float t,
                       int self, size_t qi, const struct match_hit *h, size_t count)
{
	size_t eligible = 0;
	char *listed = calloc(nb + 1, 1);
	int ok = listed != NULL && count <= k;
	for (size_t p = 0; ok && p < count; p++) {
		float s = match_similarity(q + qi * d, b + (size_t)h[p].idx * d, d);
		ok = h[p].idx < nb && !listed[h[p].idx] && memcmp(&s, &h[p].sim, sizeof s) == 0 &&
		     s >= t && !(self && h[p].idx == qi) && (p == 0 || ranks_before(h[p - 1], h[p]));
		if (ok)
			listed[h[p].idx] = 1;
	}
	for (size_t j = 0; ok && j < nb; j++) {
		if (self && j == qi)
			continue;
		struct match_hit x = { (uint32_t)j, match_similarity(q + qi * d, b + j * d, d) };
		eligible += x.sim >= t;
		if (!listed[j] && x.sim >= t)
			ok = count == k && ranks_before(h[count - 1], x);
	}
	ok = ok && count == (eligible < k ? eligible : k);
	free(listed);
	return ok;
}

static void topk_free(struct topk_result *r)
{
	free(r->hits);
	free(r->counts);
}

/* fp32 (its scanning product unpaired, then paired where the CPU has
 * AVX-512) against brute force, then each int8 form against fp32. */
static void topk_case(const char *name, const float *q, size_t nq, const float *b, size_t nb,
                      size_t d, size_t k, float t, int self, int threads)
{
	struct topk_result f = { 0 };
	for (int paired = 0; paired < 2; paired++) {
		topk_free(&f);
		match_set_f32_pairing(paired);
		f = topk_with(MATCH_KERNEL_FP32, q, nq, b, nb, d, k, t, self, threads);
		size_t wrong = 0;
		for (size_t i = 0; i < nq; i++)
			wrong += !topk_row_ok(q, b, nb, d, k, t, self, i, f.hits + i * k, f.counts[i]);
		CHECK(wrong == 0, "topk %s%s: %zu queries differ from brute force", name,
		      paired ? " (fp32 paired)" : "", wrong);
	}
	match_set_f32_pairing(-1);
	for (size_t kn = 0; kn < INT8_KERNELS; kn++) {
		struct topk_result g = topk_with(int8_kernels[kn], q, nq, b, nb, d, k, t, self, threads);
		size_t differ = 0;
		for (size_t i = 0; i < nq; i++)
			differ += f.counts[i] != g.counts[i] ||
			          memcmp(f.hits + i * k, g.hits + i * k, f.counts[i] * sizeof *f.hits) != 0;
		CHECK(differ == 0, "topk %s: %zu queries differ between fp32 and %s", name, differ,
		      int8_names[kn]);
		topk_free(&g);
	}
	topk_free(&f);
}

/* ---- cases ------------------------------------------------------------------ */

static void test_int8_in_use(void)
{
	match_set_kernel(MATCH_KERNEL_INT8);
	const char *name = match_kernel_in_use();
	printf("int8 requested: %s\n", name);
	match_set_kernel(MATCH_KERNEL_INT8_256);
	const char *name256 = match_kernel_in_use();
	printf("int8-256 requested: %s\n", name256);
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	int avx512 = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
	             __builtin_cpu_supports("avx512vl");
	int avx256 = __builtin_cpu_supports("avxvnni") && __builtin_cpu_supports("avx2") &&
	             __builtin_cpu_supports("fma");
	if (avx512)
		CHECK(strcmp(name, "int8 (AVX-512 VNNI)") == 0, "this CPU has AVX-512 VNNI but runs %s", name);
	else if (avx256)
		CHECK(strcmp(name, "int8 (AVX-VNNI, 256-bit)") == 0, "this CPU has AVX-VNNI but runs %s", name);
	CHECK(avx256 ? strcmp(name256, "int8 (AVX-VNNI, 256-bit)") == 0 : strncmp(name256, "fp32", 4) == 0,
	      "int8-256 requested, runs %s", name256);
#endif
	match_set_kernel(MATCH_KERNEL_FP32);
	CHECK(strncmp(match_kernel_in_use(), "fp32", 4) == 0, "fp32 forced: %s", match_kernel_in_use());
#if defined(__x86_64__) && defined(__GNUC__)
	int f32_avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
	CHECK((strstr(match_kernel_in_use(), "AVX-512") != NULL) == f32_avx512,
	      "fp32 forced on this CPU: %s", match_kernel_in_use());
	CHECK((strstr(match_kernel_in_use(), "paired") != NULL) ==
	              (f32_avx512 && __builtin_cpu_is("amd")),
	      "fp32 forced on this CPU: %s", match_kernel_in_use());
#endif
}

/* match_product_init of a x b (self when a == b) on nthreads: int8 or not. */
static int product_is_int8(const float *a, size_t na, const float *b, size_t nb, size_t d,
                           int nthreads)
{
	struct match_product p;
	CHECK(match_product_init(&p, a, na, b, nb, d, 1, nthreads) == 0, "init d=%zu", d);
	int int8 = p.int8;
	match_product_free(&p);
	return int8;
}

/* Rows with an infinity or a NaN anywhere (in the four-value groups or the
 * tail, on either side, found by any of the quantizing workers) make the
 * product sgemm; finite rows, however large, keep int8. */
static void test_non_finite_rows(void)
{
	static const float bad[] = { INFINITY, -INFINITY, NAN };
	match_set_kernel(MATCH_KERNEL_INT8);
	if (strncmp(match_kernel_in_use(), "int8", 4) != 0)
		return; /* no int8 product on this CPU: nothing to fall back from */
	for (size_t d = 1; d <= 13; d++) {
		float *x = random_unit(3, d), *y = random_unit(600, d); /* y: three quantizing items */
		x[2 * d] = FLT_MAX;
		CHECK(product_is_int8(x, 3, x, 3, d, 1), "d=%zu finite: int8", d);
		CHECK(product_is_int8(y, 600, x, 3, d, 2), "d=%zu finite, two sides: int8", d);
		for (size_t k = 0; k < d; k++)
			for (size_t v = 0; v < 3; v++) {
				float keep = x[d + k];
				x[d + k] = bad[v];
				CHECK(!product_is_int8(x, 3, x, 3, d, 1), "d=%zu, %g at %zu: sgemm", d,
				      (double)bad[v], k);
				CHECK(!product_is_int8(y, 600, x, 3, d, 2), "d=%zu, %g at %zu of b: sgemm", d,
				      (double)bad[v], k);
				x[d + k] = keep;
				keep = y[599 * d + k];
				y[599 * d + k] = bad[v];
				CHECK(!product_is_int8(y, 600, x, 3, d, 2), "d=%zu, %g at %zu of a: sgemm", d,
				      (double)bad[v], k);
				y[599 * d + k] = keep;
			}
		free(x);
		free(y);
	}
}

/* γn = n u / (1 - n u), u = 2^-24 (README "The bound"). */
static double gamma_of(double n)
{
	return n * 0x1p-24 / (1.0 - n * 0x1p-24);
}

/* sgemm's radius comes from the rows' norms (match_product_init with the
 * fp32 kernel, its rows shared by two threads): for rows of ±64 (i + 1), of
 * exact norm 64 (i + 1) sqrt(d), it is (γ(d+1) + γ(⌈d/32⌉+5)) n_i max n,
 * raised by 1 % and 2^-22, for every length around the norms' eight
 * partial sums and their tail; and rows that are not finite count as 0. */
static void test_fp32_radius(void)
{
	enum { N = 600, MAXD = 40 }; /* 600 rows: three items, two threads */
	float *x = malloc(N * MAXD * sizeof *x);
	int bad = 0;
	match_set_kernel(MATCH_KERNEL_FP32);
	for (size_t d = 1; d <= MAXD && !bad; d++) {
		for (size_t i = 0; i < N; i++)
			for (size_t k = 0; k < d; k++)
				x[i * d + k] = (float)(64 * (i % 7 + 1)) * (k % 2 ? -1.0f : 1.0f);
		x[5 * d] = NAN; /* row 5: norm 0, so its radius is 2^-22 alone */
		struct match_product p;
		CHECK(match_product_init(&p, x, N, x, N, d, 1, 2) == 0 && !p.int8, "fp32 init d=%zu", d);
		double g = gamma_of((double)d + 1) + gamma_of((double)((d + 31) / 32) + 5);
		double max_n = 64.0 * 7 * sqrt((double)d);
		for (size_t i = 0; i < N && !bad; i++) {
			double n = i == 5 ? 0.0 : 64.0 * (double)(i % 7 + 1) * sqrt((double)d);
			double want = g * n * max_n * 1.01 + 0x1p-22;
			bad |= !(fabs(p.radius[i] - want) <= 1e-6 * want); /* a NaN radius too */
			if (bad)
				fprintf(stderr, "fp32 radius d=%zu row %zu: %g (want %g)\n", d, i,
				        (double)p.radius[i], want);
		}
		match_product_free(&p);
	}
	match_set_kernel(MATCH_KERNEL_AUTO);
	free(x);
	CHECK(!bad, "sgemm's radius follows the rows' norms");
}

/* ---- the int8 product's column shift ---------------------------------------- */

/* One int8 form's product of a x b (match_product_init, 1 thread), row
 * stripes as the top-k and the pairs call it, against a model built from
 * the quantizer's q, scales and error norms (struct match_u8cols, README
 * "The bound"): every value is float(q_a . q_b - K) * scale_b * scale_a bit
 * for bit, K = trunc(Q slack_j) with Q the least ||q|| of the stripe's
 * rows; the shift K scale_b scale_a is at most ||x_a^|| (E - e_j); every
 * value is within the radius of the canonical dot; the 512-bit scan gives
 * the tile's values. Returns how many values were shifted. */
static size_t shift_case(const char *name, const float *a, size_t na, const float *b, size_t nb,
                         size_t d)
{
	struct match_product p;
	CHECK(match_product_init(&p, a, na, b, nb, d, 1, 1) == 0 && p.int8, "%s: int8 init", name);
	int8_t *qa = calloc(na * d + 1, 1), *qb = calloc(nb * d + 1, 1);
	float *sa = calloc(na, sizeof *sa), *sb = calloc(nb, sizeof *sb);
	double *eb = calloc(nb, sizeof *eb), *qn = calloc(na, sizeof *qn), big_e = 0.0;
	struct match_qrow st;
	for (size_t i = 0; i < na; i++) {
		sa[i] = match_quantize_row(a + i * d, d, qa + i * d, &st);
		int64_t squares = 0; /* ||q||, counted here */
		for (size_t k = 0; k < d; k++)
			squares += qa[i * d + k] * qa[i * d + k];
		qn[i] = sqrt((double)squares);
	}
	for (size_t j = 0; j < nb; j++) {
		sb[j] = match_quantize_row(b + j * d, d, qb + j * d, &st);
		eb[j] = st.e;
		big_e = fmax(big_e, eb[j]);
	}
	float *tile = calloc(p.stripe * nb, sizeof *tile);
	struct match_scan_row *rows = calloc(p.stripe, sizeof *rows);
	for (size_t r = 0; r < p.stripe; r++)
		rows[r] = (struct match_scan_row){ .floor = -INFINITY, .sim = calloc(nb + 64, sizeof(float)),
			                           .idx = calloc(nb + 64, sizeof(uint32_t)) };
	size_t off_model = 0, too_far = 0, outside = 0, scan_differs = 0, shifted = 0;
	for (size_t i0 = 0; i0 < na; i0 += p.stripe) {
		size_t ni = na - i0 < p.stripe ? na - i0 : p.stripe;
		float q = INFINITY;
		for (size_t i = i0; i < i0 + ni; i++)
			q = fminf(q, (float)qn[i]);
		match_product_tile(&p, i0, ni, 0, nb, tile);
		if (match_product_scans(&p)) {
			for (size_t r = 0; r < ni; r++)
				rows[r].n = 0;
			match_product_scan(&p, i0, ni, 0, nb, rows);
		}
		for (size_t i = i0; i < i0 + ni; i++) {
			for (size_t j = 0; j < nb; j++) {
				int32_t dot = 0;
				for (size_t k = 0; k < d; k++)
					dot += qa[i * d + k] * qb[j * d + k];
				int32_t shift = (int32_t)(q * p.qb.slack[j]);
				float want = (float)(dot - shift) * sb[j] * sa[i], got = tile[(i - i0) * nb + j];
				off_model += memcmp(&want, &got, sizeof want) != 0;
				double moved = (double)shift * sb[j] * sa[i];
				too_far += !(moved <= sa[i] * qn[i] * (big_e - eb[j]));
				shifted += shift > 0;
				double c = match_similarity(a + i * d, b + j * d, d);
				outside += !(fabs(match_clamp01(got) - c) <= p.radius[i]);
				if (match_product_scans(&p)) {
					struct match_scan_row *sr = &rows[i - i0];
					float v = match_clamp01(got);
					scan_differs += !(j < sr->n && sr->idx[j] == j &&
					                  memcmp(&sr->sim[j], &v, sizeof v) == 0);
				}
			}
		}
	}
	CHECK(off_model == 0, "%s: %zu values not float(q.q - K) * scale_b * scale_a", name, off_model);
	CHECK(too_far == 0, "%s: %zu values moved past their column's slack", name, too_far);
	CHECK(outside == 0, "%s: %zu values outside the radius", name, outside);
	CHECK(scan_differs == 0, "%s: %zu scanned values not the tile's", name, scan_differs);
	for (size_t r = 0; r < p.stripe; r++) {
		free(rows[r].sim);
		free(rows[r].idx);
	}
	free(rows);
	free(tile);
	free(qa);
	free(qb);
	free(sa);
	free(sb);
	free(eb);
	free(qn);
	match_product_free(&p);
	return shifted;
}

/* The shift in each int8 form the CPU has: random rows (the benchmark's
 * kind), and a base where every tenth row has one large component, so that
 * E is ~7x most rows' error and their values move by most of the radius
 * (a slack even 2x too large would push them out of it); d with a tail past
 * its groups of four; two row stripes with their own Q. */
static void test_int8_shift(void)
{
	static const size_t dims[] = { 37, 64, 512 };
	for (size_t f = 0; f < 2; f++) {
		match_set_kernel(int8_kernels[f]);
		if (strncmp(match_kernel_in_use(), "int8", 4) != 0)
			continue; /* this form needs a CPU with it */
		for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
			size_t d = dims[di], na = 100, nb = 200;
			float *a = random_unit(na, d), *b = random_unit(nb, d), *spiky = one_large(nb, d);
			char name[64];
			snprintf(name, sizeof name, "%s shift, random, d=%zu", int8_names[f], d);
			size_t plain = shift_case(name, a, na, b, nb, d);
			for (size_t j = 0; j < nb; j += 10)
				memcpy(b + j * d, spiky + j * d, d * sizeof *b);
			snprintf(name, sizeof name, "%s shift, spiky rows, d=%zu", int8_names[f], d);
			size_t spiked = shift_case(name, a, na, b, nb, d);
			CHECK(spiked > na * nb / 2, "%s: only %zu of %zu values shifted", name, spiked, na * nb);
			CHECK(plain > 0, "%s: no value shifted on random rows", name);
			free(a);
			free(b);
			free(spiky);
		}
	}
	match_set_kernel(MATCH_KERNEL_AUTO);
}

/* ---- the fp32 scanning product's pairs ------------------------------------- */

/* Rows around one direction (similarities mostly in (0, 1), where the scan
 * does not clamp their errors away), of norms from lo to hi: every fifth
 * with one large component, every seventh with its odd entries ~1e-25
 * (products that underflow). */
static float *paired_rows(size_t n, size_t d, double lo, double hi)
{
	float *x = random_unit(n, d), *v = random_unit(1, d);
	for (size_t i = 0; i < n; i++) {
		float *r = x + i * d;
		for (size_t k = 0; k < d; k++)
			r[k] = v[k] + 0.8f * r[k] * (i % 7 == 2 && k % 2 ? 1e-25f : 1.0f);
		if (i % 5 == 1)
			r[i % d] = 20.0f;
		double nn = 0.0, want = lo + (hi - lo) * fmod(0.618 * (double)i, 1.0);
		for (size_t k = 0; k < d; k++)
			nn += (double)r[k] * r[k];
		for (size_t k = 0; k < d; k++)
			r[k] = (float)(r[k] * want / sqrt(nn));
	}
	free(v);
	return x;
}

static double norm_of(const float *x, size_t d)
{
	double nn = 0.0;
	for (size_t k = 0; k < d; k++)
		nn += (double)x[k] * x[k];
	return sqrt(nn);
}

/* Every value of the paired scan of a x b (floor -inf, so all of them) is
 * within its row's radius of the canonical similarity, and the radius is
 * the documented one: (γ(d+3) (1.5 (n_i^2 + M^2) + n_i M) + γ(⌈d/32⌉+5) n_i M
 * + (2d + 39) 2^-150), raised by 1 % and 2^-22 (M: B's largest norm). */
static void check_paired_scan(const char *name, const struct match_product *p, const float *a,
                              size_t na, const float *b, size_t nb, size_t d)
{
	double max_b = 0.0, worst = 0.0;
	for (size_t j = 0; j < nb; j++)
		max_b = fmax(max_b, norm_of(b + j * d, d));
	struct match_scan_row *rows = calloc(na, sizeof *rows);
	for (size_t i = 0; i < na; i++)
		rows[i] = (struct match_scan_row){ .floor = -INFINITY, .sim = calloc(nb + 64, sizeof(float)),
			                           .idx = calloc(nb + 64, sizeof(uint32_t)) };
	match_product_scan(p, 0, na, 0, nb, rows);
	size_t outside = 0, missing = 0, off_radius = 0;
	for (size_t i = 0; i < na; i++) {
		double n = norm_of(a + i * d, d);
		double want = (gamma_of((double)d + 3) * (1.5 * (n * n + max_b * max_b) + n * max_b) +
		               gamma_of((double)((d + 31) / 32) + 5) * n * max_b +
		               (double)(2 * d + 39) * 0x1p-150) * 1.01 + 0x1p-22;
		off_radius += !(fabs(p->radius[i] - want) <= 1e-6 * want);
		missing += rows[i].n != nb;
		for (size_t c = 0; c < rows[i].n; c++) {
			uint32_t j = rows[i].idx[c];
			double diff = fabs((double)rows[i].sim[c] - match_similarity(a + i * d, b + j * d, d));
			outside += !(diff <= p->radius[i]);
			worst = fmax(worst, diff / p->radius[i]);
		}
		free(rows[i].sim);
		free(rows[i].idx);
	}
	free(rows);
	printf("%s: the largest error is %.3g of the radius\n", name, worst);
	CHECK(missing == 0, "%s: %zu rows without all %zu values", name, missing, nb);
	CHECK(outside == 0, "%s: %zu values outside the radius", name, outside);
	CHECK(off_radius == 0, "%s: %zu rows with another radius than the paired bound", name,
	      off_radius);
}

/* match_product_init(a x b, MATCH_BOUNDS_LATER, fp32) paired? */
static int pairs_for(const float *a, size_t na, const float *b, size_t nb, size_t d)
{
	struct match_product p;
	CHECK(match_product_init(&p, a, na, b, nb, d, MATCH_BOUNDS_LATER, 2) == 0, "init d=%zu", d);
	int paired = p.fb.paired;
	match_product_free(&p);
	return paired;
}

/* Pairs in the fp32 top-k's product (struct match_f32cols): its values
 * stay within the radius on rows built against it (norms 4x apart, one
 * large component, underflowing products, a dimension with a tail past its
 * groups of four), and it pairs only where the bound holds: not with norms
 * more than 4x apart, a row that is not finite, or pairing turned off. */
static void test_f32_pairs(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
#else
	int avx512 = 0;
#endif
	static const size_t dims[] = { 61, 512 };
	match_set_kernel(MATCH_KERNEL_FP32);
	match_set_f32_pairing(1);
	for (size_t x = 0; x < sizeof dims / sizeof *dims; x++) {
		size_t d = dims[x], na = 45, nb = 1100; /* B past one tile: panels */
		float *a = paired_rows(na, d, 0.25, 1.0), *b = paired_rows(nb, d, 0.3, 1.0);
		struct match_product p;
		CHECK(match_product_init(&p, a, na, b, nb, d, MATCH_BOUNDS_LATER, 2) == 0, "init d=%zu", d);
		CHECK(p.fb.paired == avx512, "d=%zu: paired %d on a CPU %s AVX-512", d, p.fb.paired,
		      avx512 ? "with" : "without");
		char name[64];
		snprintf(name, sizeof name, "paired scan, d=%zu", d);
		if (p.fb.paired)
			check_paired_scan(name, &p, a, na, b, nb, d);
		match_product_free(&p);
		for (size_t i = 0; i < na * d; i++)
			a[i] *= 4.5f; /* A's largest norm 4.5x B's */
		CHECK(!pairs_for(a, na, b, nb, d), "d=%zu: paired with norms 4.5x apart", d);
		for (size_t i = 0; i < na * d; i++)
			a[i] /= 4.5f;
		b[7 * d + 3] = INFINITY;
		CHECK(!pairs_for(a, na, b, nb, d), "d=%zu: paired with an inf in B", d);
		b[7 * d + 3] = 0.0f;
		match_set_f32_pairing(0);
		CHECK(!pairs_for(a, na, b, nb, d), "d=%zu: paired when turned off", d);
		match_set_f32_pairing(1);
		free(a);
		free(b);
	}
	match_set_f32_pairing(-1);
	match_set_kernel(MATCH_KERNEL_AUTO);
}

static void test_pairs(void)
{
	float *x = random_unit(1100, 40); /* two tiles, a stripe edge */
	pairs_case("random d=40", x, 1100, 40, 0.3f, 2);
	free(x);

	x = duplicated(300, 64, 9);
	pairs_case("duplicates", x, 300, 64, 0.1f, 2);
	float tie = match_similarity(x, x + 64, 64); /* a threshold every copy pair sits on */
	pairs_case("duplicates at their own similarity", x, 300, 64, tie, 1);
	free(x);

	x = one_large(200, 96);
	pairs_case("one large component", x, 200, 96, 0.5f, 2);
	free(x);

	x = around(400, 128, 0.6f, 1e-3f);
	float t = match_similarity(x + 200 * 128, x + 201 * 128, 128); /* a pair sits on t */
	pairs_case("near the threshold", x, 400, 128, t, 2);
	pairs_case("one step under", x, 400, 128, nextafterf(t, 0.0f), 2);
	free(x);

	x = random_unit(150, 3);
	pairs_case("d=3 below zero", x, 150, 3, -0.5f, 1);
	free(x);
}

/* 5,000 rows of 64, each near one of the six rows of q, the nearest first:
 * the floor guessed from the first block is too high for every query. */
static float *best_rows_first(const float *q)
{
	float *b = around(5000, 64, 0.5f, 0.9f);
	for (size_t i = 0; i < 5000; i++) {
		float c = 0.95f - 0.9f * (float)i / 5000.0f;
		for (size_t k = 0; k < 64; k++)
			b[i * 64 + k] = c * q[(i % 6) * 64 + k] + sqrtf(1 - c * c) * b[i * 64 + k];
	}
	match_normalize(b, 5000, 64);
	return b;
}

static void test_topk(void)
{
	float *b = random_unit(1300, 48), *q = random_unit(70, 48);
	topk_case("random d=48", q, 70, b, 1300, 48, 10, 0.0f, 0, 2);
	topk_case("random, threshold", q, 70, b, 1300, 48, 20, 0.3f, 0, 1);
	topk_case("self", b, 300, b, 300, 48, 7, 0.0f, 1, 2);
	free(b);
	free(q);

	b = duplicated(900, 64, 5); /* hundreds of exact ties per query */
	topk_case("duplicates", b, 40, b, 900, 64, 25, 0.0f, 0, 2);
	topk_case("duplicates, self", b, 60, b, 900, 64, 3, 0.0f, 1, 1);
	free(b);

	b = one_large(600, 100);
	topk_case("one large component", b, 50, b, 600, 100, 30, 0.0f, 1, 2);
	free(b);

	b = around(800, 128, 0.7f, 2e-4f);
	float t = match_similarity(b + 400 * 128, b + 401 * 128, 128);
	topk_case("near the threshold", b, 800, b, 800, 128, 2, t, 1, 2);
	free(b);

	/* 900 copies of one row just under the threshold fill the buffer and are
	 * all confirmed below it; rows above it come after them */
	q = random_unit(1, 64);
	b = around(960, 64, 0.5f, 0.0f);
	memcpy(q, b, 64 * sizeof *q);
	for (size_t i = 2; i < 900; i++)
		memcpy(b + i * 64, b + 64, 64 * sizeof *b); /* row 1: cos 0.5 to row 0 */
	memcpy(b, b + 64, 64 * sizeof *b);
	for (size_t i = 900; i < 960; i += 7) /* a few at ~0.8 to the query */
		for (size_t k = 0; k < 64; k++)
			b[i * 64 + k] = 0.8f * q[k] + 0.6f * b[i * 64 + k];
	match_normalize(b + 900 * 64, 60, 64);
	t = nextafterf(match_similarity(q, b, 64), 1.0f);
	topk_case("crowded just under the threshold", q, 1, b, 960, 64, 2, t, 0, 1);
	free(b);
	free(q);

	/* the best rows first: the floor guessed from the first block is too
	 * high for every query, which are all scanned again */
	q = random_unit(6, 64);
	b = best_rows_first(q);
	topk_case("best rows first", q, 6, b, 5000, 64, 50, 0.0f, 0, 1);
	topk_case("best rows first, 2 threads", q, 6, b, 5000, 64, 50, 0.0f, 0, 2);
	/* the same base searched by its own first 150 rows (self excluded): more
	 * queries scanned again than one gathered product takes (64) */
	topk_case("best rows first, 150 base rows as queries", b, 150, b, 5000, 64, 50, 0.0f, 1, 1);
	topk_case("best rows first, 150 base rows as queries, 2 threads", b, 150, b, 5000, 64, 50, 0.0f,
	          1, 2);
	free(b);
	free(q);

	b = random_unit(2100, 512); /* the production dimension, more than k' candidates */
	q = random_unit(24, 512);
	topk_case("d=512 k=100", q, 24, b, 2100, 512, 100, 0.0f, 0, 2);
	free(b);
	free(q);

	/* the scanning products past the first block with a dimension of no
	 * whole vector (the fp32 panels' rows of 37), a base of no whole panel
	 * pair and a last micro-tile of 5 query rows */
	b = random_unit(2333, 37);
	q = random_unit(77, 37);
	topk_case("d=37 over three blocks, 77 queries", q, 77, b, 2333, 37, 15, 0.0f, 0, 2);
	free(b);
	free(q);

	/* bases of several 1024-row blocks, which the AVX-512 product scans into
	 * the buffers itself after the first: exact ties fill every buffer
	 * within a block (cut before the next one), and the rows of the queries
	 * themselves lie in later blocks (self excluded from the tile there) */
	b = duplicated(4500, 64, 5);
	topk_case("duplicates over five blocks", b, 40, b, 4500, 64, 25, 0.0f, 0, 1);
	topk_case("duplicates over five blocks, 2 threads", b, 40, b, 4500, 64, 25, 0.0f, 0, 2);
	topk_case("duplicates over five blocks, self", b, 1100, b, 4500, 64, 3, 0.0f, 1, 1);
	free(b);
	b = duplicated(4500, 64, 1); /* a whole block at the floor: cut before each */
	topk_case("one row over five blocks", b, 8, b, 4500, 64, 3, 0.0f, 0, 1);
	free(b);
	/* a base within a hair of one row: every buffer is in the band under
	 * its k-th at the end, more candidates than a block's room for
	 * confirming (TOPK_CONF_PER_QUERY), which then goes in groups */
	b = crowd(3000, 64, 1e-3f);
	q = random_unit(1000, 64);
	topk_case("a crowded base, confirmed in groups", q, 1000, b, 3000, 64, 100, 0.0f, 0, 2);
	free(b);
	free(q);
	b = random_unit(5200, 128);
	q = random_unit(300, 128);
	topk_case("random over six blocks, k=100", q, 300, b, 5200, 128, 100, 0.0f, 0, 1);
	topk_case("random over six blocks, threshold", q, 300, b, 5200, 128, 40, 0.25f, 0, 2);
	free(b);
	free(q);
	/* ten query blocks on two threads: the last two come in halves
	 * (item_rows), one of them shorter than the others */
	b = random_unit(1100, 32);
	q = random_unit(8300, 32);
	topk_case("ten query blocks, the last ones halved", q, 8300, b, 1100, 32, 10, 0.0f, 0, 2);
	free(b);
	free(q);
}

/* Once the items are out, a worker hands half of its rows to an idle one at a
 * block boundary (match_topk.c, "parts"); with match_topk_split_always every
 * part is halved at every boundary down to 8 rows, whatever the timing, on
 * one thread as on two: the lists must stay the same bits. */
static void test_topk_parts(void)
{
	match_topk_split_always = 1;
	float *b = random_unit(5200, 128), *q = random_unit(300, 128);
	topk_case("parts: random over six blocks, k=100", q, 300, b, 5200, 128, 100, 0.0f, 0, 1);
	topk_case("parts: random over six blocks, threshold, 2 threads", q, 300, b, 5200, 128, 40,
	          0.25f, 0, 2);
	topk_case("parts: one block, 2 threads", q, 300, b, 1000, 128, 20, 0.0f, 0, 2);
	free(b);
	free(q);
	b = duplicated(4500, 64, 5); /* ties over five blocks; queries' own rows excluded */
	topk_case("parts: duplicates over five blocks, self", b, 1100, b, 4500, 64, 3, 0.0f, 1, 2);
	free(b);
	q = random_unit(6, 64); /* every guess too high: every query scanned again */
	b = best_rows_first(q);
	topk_case("parts: best rows first, 150 base rows as queries", b, 150, b, 5000, 64, 50, 0.0f,
	          1, 1);
	free(b);
	free(q);
	b = random_unit(1100, 32);
	q = random_unit(8300, 32);
	topk_case("parts: ten query blocks, the last ones halved", q, 8300, b, 1100, 32, 10, 0.0f, 0,
	          2);
	free(b);
	free(q);
	match_topk_split_always = 0;
}

/* A floor guess too high must cost time, never a hit: raised by hand, the
 * guesses fail at settle (above the k-th proposal) or after the first round
 * (above t2 - R), and those queries are scanned again; the lists must stay
 * the same bits. Failing after the first round needs a guess between t2 - R
 * and t, a window at most 2R wide: the int8 radius makes it wide enough
 * for these raises to land in, sgemm's (1e-5 or less here) does not, so
 * the late path is required only where an int8 form runs. */
static void test_topk_guess_raised(void)
{
	size_t late = 0;
	const size_t dims[] = { 8, 16, 64 };
	const float raise[] = { 0.002f, 0.005f, 0.01f, 0.02f, 0.05f, 0.2f };
	for (size_t dx = 0; dx < sizeof dims / sizeof *dims; dx++) {
		size_t d = dims[dx];
		float *b = random_unit(6000, d), *q = random_unit(300, d);
		for (size_t x = 0; x < sizeof raise / sizeof *raise; x++) {
			char name[64];
			snprintf(name, sizeof name, "d=%zu, guesses raised by %g", d, raise[x]);
			match_topk_guess_raise = raise[x];
			atomic_store(&match_topk_late_redos, 0);
			topk_case(name, q, 300, b, 6000, d, 100, 0.0f, 0, 2);
			late += atomic_load(&match_topk_late_redos);
		}
		free(b);
		free(q);
	}
	match_topk_guess_raise = 0.0f;
	match_set_kernel(MATCH_KERNEL_INT8);
	int int8 = strncmp(match_kernel_in_use(), "int8", 4) == 0;
	match_set_kernel(MATCH_KERNEL_AUTO);
	CHECK(late > 0 || !int8, "no query was scanned again after its first round");
}

/* ---- the candidate cut kernel ---------------------------------------------- */

/* n values around cut: at it, a float step either side, or anywhere in [0, 1] */
static void fill_near(float *sim, uint32_t *idx, size_t n, float cut)
{
	for (size_t i = 0; i < n; i++) {
		double u = uniform();
		sim[i] = u < -0.5 ? cut : u < 0.0 ? nextafterf(cut, 0.0f) :
		         u < 0.5 ? nextafterf(cut, 1.0f) : (float)(u + 1.0) / 2.0f;
		idx[i] = (uint32_t)(1000 + 3 * i);
	}
}

static void test_keep_ge(void)
{
	const struct match_kernels *kern = match_kernels();
	enum { MAXN = 100 };
	float sim[MAXN + 16], want_sim[MAXN];
	uint32_t idx[MAXN + 16], want_idx[MAXN];
	int bad = 0;
	for (size_t n = 0; n <= MAXN && !bad; n++) {
		float cut = n % 3 == 0 ? 0.25f : n % 3 == 1 ? 1.0f : 0.0f;
		fill_near(sim, idx, n, cut);
		size_t want = 0;
		float want_low = 1.0f;
		for (size_t i = 0; i < n; i++)
			if (sim[i] >= cut) {
				want_sim[want] = sim[i];
				want_idx[want++] = idx[i];
				want_low = sim[i] < want_low ? sim[i] : want_low;
			}
		float low = -1.0f;
		size_t got = kern->keep_ge(sim, idx, n, cut, &low);
		bad = got != want || memcmp(sim, want_sim, want * sizeof *sim) != 0 ||
		      memcmp(idx, want_idx, want * sizeof *idx) != 0 || low != want_low;
		if (bad)
			fprintf(stderr, "keep_ge: n=%zu kept %zu (want %zu), low %a (want %a)\n", n, got, want,
			        (double)low, (double)want_low);
	}
	CHECK(!bad, "keep_ge keeps exactly the values >= the cut, in order, and their least");
}

/* The band of mark_band: confirmed (conf >= 0) or proposed at or above lo,
 * in order, the unconfirmed ones marked pending; and nothing written past n
 * (the confirming room is packed: a guard after it must survive). */
static void test_keep_band(void)
{
	const struct match_kernels *kern = match_kernels();
	enum { MAXN = 100, GUARD = 16 };
	float sim[MAXN + 16], conf[MAXN + GUARD], want_sim[MAXN], want_conf[MAXN];
	uint32_t idx[MAXN + 16], want_idx[MAXN];
	int bad = 0;
	for (size_t n = 0; n <= MAXN && !bad; n++) {
		float lo = n % 3 == 0 ? 0.25f : n % 3 == 1 ? 1.0f : 0.0f;
		fill_near(sim, idx, n, lo);
		for (size_t i = 0; i < n + GUARD; i++) /* confirmed, not needed, or pending */
			conf[i] = i >= n ? 7.0f : uniform() < 0.0 ? (float)(uniform() + 1.0) / 2.0f :
			          uniform() < 0.0 ? -1.0f : -2.0f;
		size_t want = 0;
		for (size_t i = 0; i < n; i++)
			if (conf[i] >= 0.0f || sim[i] >= lo) {
				want_sim[want] = sim[i];
				want_idx[want] = idx[i];
				want_conf[want++] = conf[i] >= 0.0f ? conf[i] : -2.0f;
			}
		size_t got = kern->keep_band(sim, idx, conf, n, lo, -2.0f);
		int guard = 1;
		for (size_t i = n; i < n + GUARD; i++)
			guard &= conf[i] == 7.0f;
		bad = got != want || memcmp(sim, want_sim, want * sizeof *sim) != 0 ||
		      memcmp(idx, want_idx, want * sizeof *idx) != 0 ||
		      memcmp(conf, want_conf, want * sizeof *conf) != 0 || !guard;
		if (bad)
			fprintf(stderr, "keep_band: n=%zu kept %zu (want %zu), guard %d\n", n, got, want, guard);
	}
	CHECK(!bad, "keep_band keeps the confirmed and the band, in order, and writes nothing past n");
}

/* take_confirmed's cut: the confirmed similarities (conf) at or above the
 * cut, in order, over the proposals, with their indices; the unconfirmed
 * (negative) never; nothing written past n (a guard after it). */
static void test_take_ge(void)
{
	const struct match_kernels *kern = match_kernels();
	enum { MAXN = 100, GUARD = 16 };
	float conf[MAXN], sim[MAXN + GUARD], want_sim[MAXN];
	uint32_t idx[MAXN + GUARD], want_idx[MAXN];
	int bad = 0;
	for (size_t n = 0; n <= MAXN && !bad; n++) {
		float cut = n % 3 == 0 ? 0.25f : n % 3 == 1 ? 1.0f : 0.0f;
		fill_near(conf, idx, n, cut);
		for (size_t i = 0; i < n; i++) {
			double u = uniform();
			conf[i] = u < -0.6 ? -1.0f : u < -0.2 ? -2.0f : conf[i];
			sim[i] = -3.0f;
		}
		for (size_t i = n; i < n + GUARD; i++)
			sim[i] = 7.0f, idx[i] = 7;
		size_t want = 0;
		for (size_t i = 0; i < n; i++)
			if (conf[i] >= cut) {
				want_sim[want] = conf[i];
				want_idx[want++] = idx[i];
			}
		size_t got = kern->take_ge(conf, sim, idx, n, cut);
		int guard = 1;
		for (size_t i = n; i < n + GUARD; i++)
			guard &= sim[i] == 7.0f && idx[i] == 7;
		bad = got != want || memcmp(sim, want_sim, want * sizeof *sim) != 0 ||
		      memcmp(idx, want_idx, want * sizeof *idx) != 0 || !guard;
		if (bad)
			fprintf(stderr, "take_ge: n=%zu kept %zu (want %zu), guard %d\n", n, got, want, guard);
	}
	CHECK(!bad, "take_ge keeps the confirmed values >= the cut, in order, and writes nothing past n");
}

/* n values near a cut of 0.25, 1 or 0 by n (fill_near), with a NaN in
 * every seventh length; returns the cut. */
static float fill_cut_case(float *x, uint32_t *idx, size_t n)
{
	float t = n % 3 == 0 ? 0.25f : n % 3 == 1 ? 1.0f : 0.0f;
	fill_near(x, idx, n, t);
	if (n % 7 == 3)
		x[n / 2] = NAN;
	return t;
}

/* mark_top's marks: at or above t (NaN never), and nothing past n. */
static void test_mark_ge(void)
{
	const struct match_kernels *kern = match_kernels();
	enum { MAXN = 100, GUARD = 16 };
	float x[MAXN], out[MAXN + GUARD];
	uint32_t idx[MAXN + 16];
	int bad = 0;
	for (size_t n = 0; n <= MAXN && !bad; n++) {
		float t = fill_cut_case(x, idx, n);
		for (size_t i = 0; i < n + GUARD; i++)
			out[i] = 7.0f;
		size_t want = 0, got = kern->mark_ge(x, out, n, t, -2.0f, -1.0f);
		for (size_t i = 0; i < n; i++) {
			want += x[i] >= t;
			bad |= out[i] != (x[i] >= t ? -2.0f : -1.0f);
		}
		for (size_t i = n; i < n + GUARD; i++)
			bad |= out[i] != 7.0f;
		bad |= got != want;
		if (bad)
			fprintf(stderr, "mark_ge: n=%zu marked %zu (want %zu)\n", n, got, want);
	}
	CHECK(!bad, "mark_ge marks the values >= t, counts them, and writes nothing past n");
}

/* The bisections' counts: the values at or above t (NaN never), for every
 * length around the kernel's two-vector steps and its tail. */
static void test_count_ge(void)
{
	const struct match_kernels *kern = match_kernels();
	enum { MAXN = 100 };
	float x[MAXN];
	uint32_t idx[MAXN + 16];
	int bad = 0;
	for (size_t n = 0; n <= MAXN && !bad; n++) {
		float t = fill_cut_case(x, idx, n);
		size_t got = kern->count_ge(x, n, t), want = match_count_ge(x, n, t);
		bad |= got != want;
		if (bad)
			fprintf(stderr, "count_ge: n=%zu counted %zu (want %zu)\n", n, got, want);
	}
	CHECK(!bad, "count_ge counts the values >= t");
}

/* list_pending: the pending slots in order with their base rows, the
 * buffer's number beside each, whatever else conf holds (other marks,
 * canonical values, NaN); the count right. */
static void test_list_pending(void)
{
	const struct match_kernels *kern = match_kernels();
	enum { MAXN = 100 };
	const float pending = -2.0f, other[] = { -1.0f, 0.5f, 0.0f, -0.0f, NAN };
	float conf[MAXN];
	uint32_t idx[MAXN], j[MAXN + 16], row[MAXN + 16], slot[MAXN + 16];
	int bad = 0;
	for (size_t n = 0; n <= MAXN && !bad; n++) {
		size_t want = 0;
		for (size_t i = 0; i < n; i++) {
			double u = uniform();
			conf[i] = u < -1.0 / 3 ? pending : other[(size_t)((u + 1) * 7.5) % 5];
			idx[i] = (uint32_t)((uniform() + 1) * 0x7fffffff);
		}
		size_t got = kern->list_pending(conf, idx, n, pending, (uint32_t)n * 7, j, row, slot);
		for (size_t i = 0; i < n; i++) {
			if (conf[i] != pending)
				continue;
			bad |= want >= got || j[want] != idx[i] || row[want] != n * 7 || slot[want] != i;
			want++;
		}
		bad |= got != want;
		if (bad)
			fprintf(stderr, "list_pending: n=%zu listed %zu (want %zu)\n", n, got, want);
	}
	CHECK(!bad, "list_pending lists the pending slots in order, with their rows and buffer");
}

/* top_lanes against its definition: the values >= the least lane maximum
 * (lanes of 16, +0 at least, NaN ignored), in order; negatives, NaN, a
 * short tail, and rows shorter than a vector. */
static void test_top_lanes(void)
{
	const struct match_kernels *kern = match_kernels();
	enum { MAXN = 1040 };
	static float x[MAXN], out[MAXN + 16];
	int bad = 0;
	for (size_t n = 0; n <= MAXN && !bad; n += n < 70 ? 1 : 97) {
		float lane[16] = { 0 }, least = INFINITY;
		for (size_t i = 0; i < n; i++) {
			double u = uniform();
			x[i] = u < -0.9 ? NAN : (float)(u - 0.5);
			if (x[i] > lane[i % 16])
				lane[i % 16] = x[i];
		}
		for (size_t l = 0; l < 16; l++)
			least = lane[l] < least ? lane[l] : least;
		size_t got = kern->top_lanes(x, n, out), want = 0;
		for (size_t i = 0; i < n; i++)
			if (x[i] >= least)
				bad |= want >= got || out[want++] != x[i];
		bad |= got != want || (least > 0.0f && got < 16);
		if (bad)
			fprintf(stderr, "top_lanes: n=%zu kept %zu (want %zu)\n", n, got, want);
	}
	CHECK(!bad, "top_lanes keeps the values at or above the least lane maximum, in order");
}

static int hit_order(const void *pa, const void *pb)
{
	const struct match_hit *a = pa, *b = pb;
	if (a->sim != b->sim)
		return a->sim > b->sim ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* The best-first kernel (AVX-512) against a sort: every n up to its limit,
 * sims drawn from a few values (many ties, +0 and 1 among them) or spread,
 * distinct indices from 0 to 2^32 - 2 in any order. */
static void test_best_first(void)
{
	const struct match_kernels *kern = match_kernels();
	enum { MAXN = MATCH_BEST_MAX };
	static const float few[] = { 0.0f, 1.0f, 0.5f, 0x1p-149f, 0.75f };
	float sim[MAXN];
	uint32_t idx[MAXN];
	struct match_hit got[MAXN], want[MAXN];
	int bad = 0, cases = 0;
	for (size_t n = 0; n <= MAXN && kern->best_first && !bad; n++)
		for (int spread = 0; spread < 2 && !bad; spread++) {
			for (size_t i = 0; i < n; i++) {
				double u = (uniform() + 1.0) / 2.0;
				sim[i] = spread ? (float)u : few[(size_t)(u * 5.0) % 5];
				idx[i] = i == 0 ? 0xfffffffeu : i == 1 ? 0u : (uint32_t)(i * 2654435761u % 0xfffffff0u) + 2;
				want[i] = (struct match_hit){ idx[i], sim[i] };
			}
			qsort(want, n, sizeof *want, hit_order);
			kern->best_first(sim, idx, n, got);
			bad = memcmp(got, want, n * sizeof *got) != 0;
			cases++;
			if (bad)
				fprintf(stderr, "best_first: n=%zu spread=%d differs from the sort\n", n, spread);
		}
#if defined(__x86_64__) && defined(__GNUC__)
	CHECK(kern->best_first || !__builtin_cpu_supports("avx512f"), "AVX-512 CPUs sort the best k");
#endif
	CHECK(!bad, "best_first orders %d sets of hits as the sort does (sim descending, then index)", cases);
}

/* The collect kernel (AVX-512 where the CPU has it) against its contract:
 * what it appends is exactly the hits (x >= lo, clamped; NaN never) of
 * [from, stop), in order; it stops at n or where the hits of the next 16
 * values do not all fit; it writes nothing past room + 16 slots. Rows of
 * values at lo, a float step either side, NaN, and anywhere in [-1, 2]
 * (dense and sparse hits), every room from 0 to past n (the branch-free
 * path for groups whose 64 fit and the tested one), several starts. */
static int collect_case(const struct match_kernels *kern, const float *x, size_t from, size_t n,
                        float lo, size_t room)
{
	enum { SLOTS = 300 + 16 + 8 };
	static float sim[SLOTS];
	static uint32_t idx[SLOTS];
	for (size_t i = 0; i < SLOTS; i++) {
		sim[i] = -7.0f;
		idx[i] = 7;
	}
	size_t stop = (size_t)-1;
	size_t got = kern->collect(x, from, n, lo, 500, sim, idx, room, &stop);
	int bad = got > room || stop < from || stop > n;
	size_t m = 0;
	for (size_t c = from; !bad && c < stop; c++) {
		if (!(x[c] >= lo))
			continue;
		bad = m >= got || sim[m] != match_clamp01(x[c]) || idx[m] != 500 + c;
		m++;
	}
	bad |= m != got;
	size_t next = 0; /* hits in the 16 values from stop */
	for (size_t c = stop; !bad && c < n && c < stop + 16; c++)
		next += x[c] >= lo;
	bad |= stop < n && next <= room - got;
	for (size_t i = room + 16; i < SLOTS; i++)
		bad |= sim[i] != -7.0f || idx[i] != 7;
	if (bad)
		fprintf(stderr, "collect: from %zu n %zu lo %a room %zu: got %zu, stop %zu\n", from, n,
		        (double)lo, room, got, stop);
	return bad;
}

static void test_collect(void)
{
	const struct match_kernels *kern = match_kernels();
	enum { MAXN = 300 };
	static float x[MAXN];
	static const float los[] = { 0.25f, 0.0f, 1.0f, -0.5f };
	int bad = 0;
	for (int r = 0; r < 24 && !bad; r++) {
		float lo = los[r % 4];
		double dense = r < 12 ? 0.5 : 0.06; /* share of values well above lo */
		for (size_t i = 0; i < MAXN; i++) {
			double u = (uniform() + 1.0) / 2.0;
			x[i] = u < 0.1 ? lo : u < 0.2 ? nextafterf(lo, -2.0f) : u < 0.3 ? nextafterf(lo, 2.0f) :
			       u < 0.32 ? NAN : u < 0.32 + dense ? lo + (float)u : lo - (float)u;
		}
		static const size_t froms[] = { 0, 1, 17, 64 };
		for (size_t f = 0; f < 4 && !bad; f++)
			for (size_t n = froms[f]; n <= MAXN && !bad; n += n < 140 ? 1 : 37)
				for (size_t room = 0; room <= n + 1 && !bad; room += room < 80 ? 1 : 29)
					bad = collect_case(kern, x, froms[f], n, lo, room);
	}
	CHECK(!bad, "collect appends exactly the hits before its stop, in order, within room + 16");
}

/* ---- the quantizer ----------------------------------------------------------- */

/* Row r of a quantizer case: random, one large component, halves of the
 * scale step (ties of the rounding), zeros, tiny values. */
static void quant_row(float *x, size_t d, int r)
{
	for (size_t k = 0; k < d; k++) {
		float u = (float)uniform();
		switch (r % 5) {
		case 0: x[k] = u; break;
		case 1: x[k] = k == d / 2 ? 40.0f : u * 0.01f; break;
		case 2: x[k] = ((float)(int)(u * 127.0f) + (u < 0 ? -0.5f : 0.5f)) / 127.0f; break;
		case 3: x[k] = k % 3 == 0 ? 0.0f : -u; break;
		default: x[k] = u * 1e-30f; break;
		}
	}
	if (r % 5 == 2)
		x[0] = 1.0f; /* scale 1/127: every other value is a tie */
}

/* A bound b of the quantity a (the scalar quantizer's, in double): at
 * least a, less a few units in the last place, and within 1e-4 of it (the
 * AVX-512 form's float sums, raised) or 1e-18 (underflow's part). */
static int bounds(double a, double b)
{
	return b >= a * (1.0 - 1e-12) && b <= a * (1.0 + 1e-4) + 1e-18;
}

/* The dispatched quantizer (AVX-512 where the CPU has it) against the
 * scalar one: q, scale and the sums of q and its squares bit for bit (the
 * sums also against q), ||q^|| within 1e-12, and e and the norm bounds of
 * the scalar's values (the AVX-512 form sums them in float and raises the
 * sums; with the raise left out, rows fall below the scalar's). */
static void test_quantizer(void)
{
	static const size_t dims[] = { 1, 15, 16, 17, 100, 512, 513 };
	size_t bad = 0, raised = 0;
	float x[513];
	int8_t q1[513], q2[513];
	for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
		size_t d = dims[di];
		for (int r = 0; r < 50; r++) {
			quant_row(x, d, r);
			struct match_qrow r1, r2;
			float s1 = match_quantize_row_scalar(x, d, q1, &r1);
			float s2 = match_quantize_row(x, d, q2, &r2);
			int32_t sum = 0, squares = 0;
			for (size_t k = 0; k < d; k++) {
				sum += q1[k];
				squares += q1[k] * q1[k];
			}
			bad += memcmp(&s1, &s2, sizeof s1) != 0 || memcmp(q1, q2, d) != 0 ||
			       r1.sum != sum || r2.sum != sum || r1.squares != squares ||
			       r2.squares != squares || !bounds(r1.e, r2.e) || !bounds(r1.norm, r2.norm) ||
			       fabs(r1.qnorm - r2.qnorm) > 1e-12 * r1.qnorm;
			raised += r2.e > r1.e * (1.0 + 1e-9);
		}
	}
	CHECK(bad == 0, "quantizer: %zu rows differ between the scalar and the dispatched form", bad);
	CHECK(raised > 0 || !cpu_canonical_avx512(), "no row's e raised: the float sums did not run");
}

int main(void)
{
	test_quantizer();
	test_keep_ge();
	test_keep_band();
	test_take_ge();
	test_mark_ge();
	test_count_ge();
	test_fp32_radius();
	test_f32_pairs();
	test_list_pending();
	test_top_lanes();
	test_best_first();
	test_collect();
	test_int8_in_use();
	test_non_finite_rows();
	test_int8_shift();
	test_canonical();
	test_canonical_forms();
	test_pairs();
	test_topk();
	test_topk_parts();
	test_topk_guess_raised();
	match_set_kernel(MATCH_KERNEL_AUTO);
	return CHECK_DONE();
}
