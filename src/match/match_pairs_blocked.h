/*
 * match_pairs_blocked.h - the pairs above a threshold of rows that arrive in
 * blocks: once rows [0, from) were matched, the pairs a new block [from, n)
 * adds, so a caller can match what it has read while it reads the rest.
 *
 * Workload: clustering of up to 20000 x 512-d descriptors read from the
 * objects backend in blocks of 2048 rows.
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
 * Each call prepares (int8: quantizes) all n rows; match_pairs_stream does
 * each row once. Returns as match_pairs_above; n must fit in uint32_t. */
int match_pairs_above_from(const float *x, size_t from, size_t n, size_t d, float threshold,
                           int nthreads, match_pair_cb cb, void *ud);

/* The same over one buffer of up to cap rows filled block by block: each
 * match_pairs_stream_add(s, n) delivers the pairs with from <= j < n, from
 * being the n of the call before (0 at first), and prepares rows [from, n)
 * only (int8: quantized once; their panels and statistics are kept). x must
 * hold cap rows of d floats; rows [0, n) must not change after the call
 * that adds them, rows past n may be written meanwhile. The adds run on
 * threads of the stream's own (started as first needed, joined by
 * match_pairs_stream_free), one add at a time. NULL with errno set
 * (EINVAL, ENOMEM) on failure. */
struct match_pairs_stream;
struct match_pairs_stream *match_pairs_stream_new(const float *x, size_t cap, size_t d, float threshold,
                                                  match_pair_cb cb, void *ud);
/* Returns as match_pairs_above (EINVAL: n below the last n or above cap). */
int match_pairs_stream_add(struct match_pairs_stream *s, size_t n, int nthreads);
/* Rows added so far. */
size_t match_pairs_stream_rows(const struct match_pairs_stream *s);
void match_pairs_stream_free(struct match_pairs_stream *s);   /* NULL ok */

#ifdef __cplusplus
}
#endif

#endif /* LUNA_MATCH_PAIRS_BLOCKED_H */
