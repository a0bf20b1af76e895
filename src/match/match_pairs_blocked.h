/*
 * match_pairs_blocked.h - the pairs above a threshold of rows that arrive in
 * blocks: once rows [0, from) were matched, the pairs a new block [from, n)
 * adds, so a caller can match what it has read while it reads the rest.
 *
 * Workload: clustering of up to 20000 x 512-d descriptors read from the
 * objects backend in a few steps.
 */
#ifndef LUNA_MATCH_PAIRS_BLOCKED_H
#define LUNA_MATCH_PAIRS_BLOCKED_H

#include "match/match.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The pairs i < j of X's first n rows with j >= from and sim > threshold
 * (strictly greater), delivered to cb one call at a time, in no particular
 * order, each with match_similarity of its rows. Calls for from = 0 = b0 <
 * b1 < ... < bk = n (each with n = the next bound) deliver together exactly
 * the pairs and similarities of match_pairs_above over all n rows. Rows
 * [0, from) are only read, so the caller may append rows past n meanwhile.
 * Returns as match_pairs_above; n must fit in uint32_t. */
int match_pairs_above_from(const float *x, size_t from, size_t n, size_t d, float threshold,
                           int nthreads, match_pair_cb cb, void *ud);

#ifdef __cplusplus
}
#endif

#endif /* LUNA_MATCH_PAIRS_BLOCKED_H */
