/*
 * match.h - descriptor similarity kernels: normalisation, tiled all-pairs and
 * cross products, thresholded pair search, per-query top-k and the pair
 * histogram used by ROC reports.
 *
 * Workload: tens of thousands of float32 descriptors (typically d = 512) per
 * call, e.g. clustering 20000 faces (all pairs) or cross-matching two lists of
 * 20000. Products are computed tile by tile with OpenBLAS sgemm on worker
 * threads, so memory stays O(N*d + tile); an N x N matrix is never formed.
 *
 * Similarity is clamp(dot(a, b), 0, 1) on L2-normalised rows (DESIGN section 5).
 * The tile functions do not normalise; call match_normalize() first.
 *
 * Return convention of every int function but match_max_threads: 0 on
 * success; -1 with errno set (EINVAL for bad arguments, ENOMEM) on failure;
 * or, when a callback returned nonzero, the first such value (the run stops
 * as soon as possible). nthreads <= 0 means "one per CPU this process may
 * run on".
 */
#ifndef LUNA_MATCH_H
#define LUNA_MATCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Edge of the square tiles given to match_tile_cb: ni, nj <= MATCH_TILE. */
#define MATCH_TILE 1024

/* Rows are float32 vectors of dimension d, row-major, contiguous. */

/* Most workers a call with this nthreads uses (nthreads <= 0: one per CPU
 * this process may run on); tile callbacks get thread ids below it, so it
 * sizes per-thread state. */
int match_max_threads(int nthreads);

/* L2-normalise rows in place; zero rows stay zero. */
void match_normalize(float *x, size_t n, size_t d);

/* clamp(dot(a, b), 0, 1), accumulated in float by fused multiply-adds in a
 * fixed order, the same bits on every CPU (the canonical dot). match_pairs_above and match_topk report exactly this value
 * for every pair they return, whichever product kernel found the pair. */
float match_similarity(const float *a, const float *b, size_t d);

/* The product that proposes candidates in match_pairs_above and match_topk
 * (the tile functions and the histogram always use sgemm). AUTO and INT8:
 * int8 with AVX-512 VNNI where the CPU has it, else with 256-bit AVX-VNNI,
 * else fp32; INT8_256 forces the 256-bit form (fp32 on CPUs without
 * AVX-VNNI). Proposals are confirmed by the canonical dot, so results do not
 * depend on the choice. Process-wide; set it before starting match calls. */
enum match_kernel { MATCH_KERNEL_AUTO, MATCH_KERNEL_FP32, MATCH_KERNEL_INT8, MATCH_KERNEL_INT8_256 };
void match_set_kernel(enum match_kernel k);
/* What the current setting runs on this CPU, e.g. "int8 (AVX-512 VNNI)". */
const char *match_kernel_in_use(void);

/* Tile callback: sims is ni x nj row-major,
 * sims[r*nj+c] = clamp(dot(row i0+r of A, row j0+c of B), 0, 1).
 * Called concurrently from worker threads; thread is 0..nthreads-1 so the
 * caller can keep per-thread state. Return nonzero to abort. */
typedef int (*match_tile_cb)(void *ud, int thread, size_t i0, size_t ni, size_t j0, size_t nj,
                             const float *sims);

/* Upper triangle of X x X^T only: tiles with j0 >= i0; on diagonal tiles
 * (i0 == j0) the callback must use only c > r. */
int match_self_tiles(const float *x, size_t n, size_t d, int nthreads, match_tile_cb cb, void *ud);

/* Every tile of A x B^T. */
int match_cross_tiles(const float *a, size_t na, const float *b, size_t nb, size_t d, int nthreads,
                      match_tile_cb cb, void *ud);

/* All pairs i < j with sim > threshold (strictly greater), delivered to cb one
 * call at a time (never concurrently), in no particular order. n must fit in
 * uint32_t. */
typedef int (*match_pair_cb)(void *ud, uint32_t i, uint32_t j, float sim);
int match_pairs_above(const float *x, size_t n, size_t d, float threshold, int nthreads,
                      match_pair_cb cb, void *ud);

/* Per query row q, the top k base rows with sim >= threshold, sorted by sim
 * descending then index ascending, stored in out[q*k .. q*k+counts[q]).
 * With exclude_self (meant for q == base) base row j is skipped for query j.
 * nb must fit in uint32_t. */
struct match_hit {
	uint32_t idx;
	float sim;
};
int match_topk(const float *q, size_t nq, const float *base, size_t nb, size_t d, size_t k,
               float threshold, int exclude_self, int nthreads, struct match_hit *out,
               size_t *counts);

/* The queries of match_topk prepared once for several bases (the blocks of
 * a streamed base): int8 quantizes them here, not again per call. NULL with
 * errno set on failure. q must stay unchanged until match_topk_queries_free. */
struct match_topk_queries;
struct match_topk_queries *match_topk_prepare(const float *q, size_t nq, size_t d, int nthreads);
/* match_topk(q, nq, base, nb, d, ...) of the prepared queries: the same
 * hits, the same bits. */
int match_topk_prepared(const struct match_topk_queries *qs, const float *base, size_t nb, size_t k,
                        float threshold, int exclude_self, int nthreads, struct match_hit *out,
                        size_t *counts);
void match_topk_queries_free(struct match_topk_queries *qs);

/* Running top-k over a base that arrives in blocks (streaming): a and b are
 * the best-first lists of one query (a over the earlier blocks, indices
 * global; b = that query's match_topk output over the block starting at
 * global row b_offset, indices local to the block). out gets the best
 * min(na + nb, k) of both by the same order (sim descending, then global
 * index ascending); out must not overlap a or b. Returns how many. With
 * blocks in ascending base order and a's indices below b_offset, the result
 * equals match_topk over the whole base. b_offset + b's indices must fit in
 * uint32_t. */
size_t match_topk_merge(const struct match_hit *a, size_t na, const struct match_hit *b, size_t nb,
                        uint32_t b_offset, size_t k, struct match_hit *out);

/* A streaming caller runs match_topk(k, threshold) on each block and folds
 * the block into its running list with match_topk_merge: match_topk ranks
 * and reports match_similarity, so the result does not depend on how the
 * rows were split into calls (blocks, subtasks). */

/* Histogram of sim over all pairs i < j of X, split by label equality
 * (labels[i] == labels[j] goes to pos_hist, otherwise neg_hist). Bin b counts
 * sims in [b/nbins, (b+1)/nbins), the last bin also holds 1.0; the bin is
 * min(floor(sim * nbins), nbins - 1) evaluated in single precision.
 * 1 <= nbins <= 2^24. The histograms are overwritten. */
int match_pair_histogram(const float *x, const int32_t *labels, size_t n, size_t d, size_t nbins,
                         int nthreads, uint64_t *pos_hist, uint64_t *neg_hist);

#ifdef __cplusplus
}
#endif

#endif /* LUNA_MATCH_H */
