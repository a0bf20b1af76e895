/*
 * bench_match.c - timings for src/match against bare OpenBLAS in the same run.
 *
 * Workload (DESIGN section 7): all pairs of 20000 x 512-d (upper triangle)
 * and a top-100 cross match of 20000 queries x 20000 base rows, 2 threads.
 *   (a) reference: cblas_sgemm over 2048-row tiles of the upper triangle,
 *       both as OpenBLAS threading each tile call (2 threads) and as two
 *       workers with single-threaded OpenBLAS; the faster one counts.
 *       Ours: match_self_tiles (no-op callback), match_pairs_above
 *       (threshold 0.2, ~700 pairs) with each product kernel (fp32, int8)
 *       and match_pair_histogram (1000 bins). The two kernels' pair lists
 *       must be identical (indices and similarity bits).
 *   (b) ours: match_topk k = 100, threshold 0, with each kernel; both
 *       outputs must be identical. The FAISS reference is faiss_ref.cpp;
 *       this program writes the first queries' ids for it to compare.
 *   (c) what storing quantized blocks would save: the CPU time of the int8
 *       setup of (b) alone (quantizing both sides, their norms and error
 *       bounds), next to (b)'s int8 time.
 * Each figure is the best of ROUNDS rounds; in (a) reference and ours
 * alternate within each round. Output: one "key value" line per figure, for
 * bench/match/run, which alternates (b) with the FAISS process itself.
 *
 * Usage: bench_match allpairs N D ROUNDS | bench_match topk N D ROUNDS IDS_FILE
 */
#include "bench_data.h"
#include "match/match.h"
#include "match/match_internal.h"

#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REF_TILE 2048
#define THREADS 2
#define TOPK 100
#define IDS_QUERIES 1000
#define PAIRS_THRESHOLD 0.2f

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}

/* ---- reference: bare sgemm over 2048-row tiles, upper triangle ----------- */

struct ref_job {
	const float *x;
	size_t n, d, ntiles_side, ntiles;
	atomic_size_t next;
	float *bufs[THREADS];
};

static void ref_tile(const struct ref_job *job, size_t k, float *buf)
{
	size_t ti = 0;
	while (k >= job->ntiles_side - ti) {
		k -= job->ntiles_side - ti;
		ti++;
	}
	size_t i0 = ti * REF_TILE, j0 = (ti + k) * REF_TILE;
	size_t ni = job->n - i0 < REF_TILE ? job->n - i0 : REF_TILE;
	size_t nj = job->n - j0 < REF_TILE ? job->n - j0 : REF_TILE;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)ni, (int)nj, (int)job->d, 1.0f,
	            job->x + i0 * job->d, (int)job->d, job->x + j0 * job->d, (int)job->d, 0.0f, buf,
	            (int)nj);
}

static void *ref_worker(void *p)
{
	struct ref_job *job = ((void **)p)[0];
	float *buf = ((void **)p)[1];
	size_t k;
	while ((k = atomic_fetch_add(&job->next, 1)) < job->ntiles)
		ref_tile(job, k, buf);
	return NULL;
}

/* mode 0: OpenBLAS threads each tile; mode 1: THREADS workers, 1 thread each. */
static double ref_allpairs(struct ref_job *job, int mode)
{
	atomic_store(&job->next, 0);
	double t = now();
	if (mode == 0) {
		openblas_set_num_threads(THREADS);
		for (size_t k = 0; k < job->ntiles; k++)
			ref_tile(job, k, job->bufs[0]);
	} else {
		openblas_set_num_threads(1);
		pthread_t tids[THREADS];
		void *args[THREADS][2];
		for (int w = 0; w < THREADS; w++) {
			args[w][0] = job;
			args[w][1] = job->bufs[w];
			pthread_create(&tids[w], NULL, ref_worker, args[w]);
		}
		for (int w = 0; w < THREADS; w++)
			pthread_join(tids[w], NULL);
	}
	t = now() - t;
	openblas_set_num_threads(THREADS);
	return t;
}

/* ---- ours ----------------------------------------------------------------- */

static int noop_tile(void *ud, int thread, size_t i0, size_t ni, size_t j0, size_t nj,
                     const float *sims)
{
	(void)thread, (void)i0, (void)j0, (void)sims;
	atomic_fetch_add((atomic_ullong *)ud, (unsigned long long)(ni * nj));
	return 0;
}

/* Pairs as an order-independent digest: count and a sum of mixed
 * (i, j, sim bits), equal for equal sets. */
struct pair_digest {
	unsigned long long count, sum;
};

static int digest_pair(void *ud, uint32_t i, uint32_t j, float sim)
{
	struct pair_digest *p = ud;
	uint32_t bits;
	memcpy(&bits, &sim, sizeof bits);
	uint64_t st = (uint64_t)i << 32 ^ j ^ (uint64_t)bits << 17;
	p->count++;
	p->sum += bench_rng(&st);
	return 0;
}

static double timed_pairs(const float *x, size_t n, size_t d, enum match_kernel k,
                          struct pair_digest *p, int *rc)
{
	*p = (struct pair_digest){ 0 };
	match_set_kernel(k);
	double t = now();
	*rc |= match_pairs_above(x, n, d, PAIRS_THRESHOLD, THREADS, digest_pair, p);
	return now() - t;
}

static double min2(double a, double b)
{
	return a < b ? a : b;
}

/* (a): reference and ours interleaved, best of rounds each. */
static int bench_allpairs(const float *x, size_t n, size_t d, int rounds)
{
	struct ref_job job = { .x = x, .n = n, .d = d };
	job.ntiles_side = (n + REF_TILE - 1) / REF_TILE;
	job.ntiles = job.ntiles_side * (job.ntiles_side + 1) / 2;
	for (int w = 0; w < THREADS; w++)
		job.bufs[w] = xmalloc((size_t)REF_TILE * REF_TILE * sizeof(float));
	uint64_t *pos = xmalloc(1000 * sizeof *pos), *neg = xmalloc(1000 * sizeof *neg);
	int32_t *labels = xmalloc(n * sizeof *labels);
	for (size_t i = 0; i < n; i++)
		labels[i] = (int32_t)(i / 4);

	double ref0 = 1e30, ref1 = 1e30, self = 1e30, pairs = 1e30, pairs8 = 1e30, hist = 1e30, t;
	struct pair_digest p32, p8;
	int same = 1;
	atomic_ullong cells;
	int rc = 0;
	for (int r = 0; r < rounds && rc == 0; r++) {
		ref0 = min2(ref0, ref_allpairs(&job, 0));
		ref1 = min2(ref1, ref_allpairs(&job, 1));
		atomic_init(&cells, 0);
		t = now();
		rc |= match_self_tiles(x, n, d, THREADS, noop_tile, &cells);
		self = min2(self, now() - t);
		pairs = min2(pairs, timed_pairs(x, n, d, MATCH_KERNEL_FP32, &p32, &rc));
		pairs8 = min2(pairs8, timed_pairs(x, n, d, MATCH_KERNEL_INT8, &p8, &rc));
		same &= p32.count == p8.count && p32.sum == p8.sum;
		t = now();
		rc |= match_pair_histogram(x, labels, n, d, 1000, THREADS, pos, neg);
		hist = min2(hist, now() - t);
	}
	printf("ref_sgemm_openblas_threads_s %.4f\n", ref0);
	printf("ref_sgemm_workers_s %.4f\n", ref1);
	printf("ref_allpairs_s %.4f\n", min2(ref0, ref1));
	printf("self_tiles_s %.4f\n", self);
	printf("pairs_above_s %.4f\n", pairs);
	printf("pairs_above_int8_s %.4f\n", pairs8);
	printf("pairs_above_count %llu\n", p8.count);
	printf("pairs_above_identical %d\n", same);
	printf("int8_kernel %s\n", strncmp(match_kernel_in_use(), "int8", 4) == 0 ? "yes" : "no");
	printf("histogram_s %.4f\n", hist);
	for (int w = 0; w < THREADS; w++)
		free(job.bufs[w]);
	free(pos);
	free(neg);
	free(labels);
	return rc;
}

/* (c): the int8 product's setup for (b), CPU time, best of rounds. */
static double quantize_cpu(const float *x, const float *y, size_t n, size_t d, int rounds)
{
	double best = 1e30;
	match_set_kernel(MATCH_KERNEL_INT8);
	for (int r = 0; r < rounds; r++) {
		struct match_product p;
		double c = bench_cpu_now();
		if (match_product_init(&p, y, n, x, n, d, 1, THREADS) < 0)
			return -1.0;
		best = min2(best, bench_cpu_now() - c);
		match_product_free(&p);
	}
	return best;
}

/* (b): ours only (FAISS runs in its own process); ids of the first queries
 * go to ids_path for faiss_ref to compare. */
static int bench_topk(const float *x, const float *y, size_t n, size_t d, int rounds,
                      const char *ids_path)
{
	struct match_hit *hits = xmalloc(n * TOPK * sizeof *hits), *hits32 = xmalloc(n * TOPK * sizeof *hits);
	size_t *counts = xmalloc(n * sizeof *counts), *counts32 = xmalloc(n * sizeof *counts);
	double topk = 1e30, topk8 = 1e30, cpu32 = 1e30, cpu8 = 1e30, t, c;
	int rc = 0;
	memset(hits, 0, n * TOPK * sizeof *hits); /* compared whole below */
	memset(hits32, 0, n * TOPK * sizeof *hits);
	for (int r = 0; r < rounds && rc == 0; r++) {
		match_set_kernel(MATCH_KERNEL_FP32);
		t = now(), c = bench_cpu_now();
		rc = match_topk(y, n, x, n, d, TOPK, 0.0f, 0, THREADS, hits32, counts32);
		topk = min2(topk, now() - t), cpu32 = min2(cpu32, bench_cpu_now() - c);
		match_set_kernel(MATCH_KERNEL_INT8);
		t = now(), c = bench_cpu_now();
		rc |= match_topk(y, n, x, n, d, TOPK, 0.0f, 0, THREADS, hits, counts);
		topk8 = min2(topk8, now() - t), cpu8 = min2(cpu8, bench_cpu_now() - c);
	}
	match_set_kernel(MATCH_KERNEL_FP32);
	printf("fp32_kernel %s\n", match_kernel_in_use()); /* the fp32 top-k's product */
	printf("topk_s %.4f\n", topk);
	printf("topk_int8_s %.4f\n", topk8);
	printf("topk_cpu_s %.4f\n", cpu32);
	printf("topk_int8_cpu_s %.4f\n", cpu8);
	printf("quantize_cpu_s %.4f\n", quantize_cpu(x, y, n, d, rounds));
	printf("topk_identical %d\n", memcmp(counts, counts32, n * sizeof *counts) == 0 &&
	                                     memcmp(hits, hits32, n * TOPK * sizeof *hits) == 0);

	FILE *f = rc == 0 ? fopen(ids_path, "wb") : NULL;
	if (f) {
		size_t nq = n < IDS_QUERIES ? n : IDS_QUERIES;
		for (size_t i = 0; i < nq; i++)
			for (size_t p = 0; p < TOPK; p++) {
				uint32_t id = p < counts[i] ? hits[i * TOPK + p].idx : UINT32_MAX;
				fwrite(&id, sizeof id, 1, f);
			}
		rc = fclose(f) == 0 ? 0 : -1;
	} else {
		rc = -1;
	}
	free(hits);
	free(counts);
	free(hits32);
	free(counts32);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 5 || (strcmp(argv[1], "allpairs") != 0 && strcmp(argv[1], "topk") != 0) ||
	    (strcmp(argv[1], "topk") == 0 && argc != 6)) {
		fprintf(stderr, "usage: %s allpairs N D ROUNDS | topk N D ROUNDS IDS_FILE\n", argv[0]);
		return 2;
	}
	size_t n = strtoul(argv[2], NULL, 10), d = strtoul(argv[3], NULL, 10);
	int rounds = atoi(argv[4]);
	float *x = xmalloc(n * d * sizeof *x);
	bench_fill(x, n, d, 1);
	int rc;
	if (strcmp(argv[1], "allpairs") == 0) {
		printf("openblas_core %s\n", openblas_get_corename());
		rc = bench_allpairs(x, n, d, rounds);
	} else {
		float *y = xmalloc(n * d * sizeof *y);
		bench_fill(y, n, d, 2);
		rc = bench_topk(x, y, n, d, rounds, argv[5]);
		free(y);
	}
	free(x);
	if (rc != 0)
		fprintf(stderr, "bench_match: a match_* call failed\n");
	return rc != 0;
}
