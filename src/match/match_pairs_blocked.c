/*
 * match_pairs_blocked.c - match_pairs_stream: the pairs above a threshold of
 * rows that arrive in blocks, each block matched against itself and every
 * row before it as it arrives.
 *
 * One self product that grows with the rows (match_growing: a block is
 * quantized once and its panels and statistics kept), and per block the
 * pairs runner of match_pairs_above (match.c) over the tiles that hold a
 * column of the block. Proposals within the product's radius of the floor
 * are confirmed by the canonical dot, so which pairs are reported and their
 * similarities do not depend on where the blocks end.
 *
 * Workload: a clustering of 20000 x 512-d rows read in blocks of 2048 rows,
 * each matched while the next is read.
 */
#include "match/match_pairs_blocked.h"
#include "match/match_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

struct match_pairs_stream {
	struct match_growing g;
	struct match_tile_bufs bufs; /* kept from step to step, with its threads (bufs.pool) */
	float threshold;
	match_pair_cb cb;
	void *ud;
};

struct match_pairs_stream *match_pairs_stream_new(const float *x, size_t cap, size_t d, float threshold,
                                                  match_pair_cb cb, void *ud)
{
	if (!cb || !x || isnan(threshold)) {
		errno = EINVAL;
		return NULL;
	}
	if (match_check_dims(cap, d) < 0)
		return NULL;
	struct match_pairs_stream *s = calloc(1, sizeof *s);
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	*s = (struct match_pairs_stream){ .threshold = threshold, .cb = cb, .ud = ud };
	if (!(s->bufs.pool = match_pool_new())) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	if (match_growing_init(&s->g, x, cap, d) < 0) {
		match_pool_free(s->bufs.pool);
		free(s);
		return NULL;
	}
	return s;
}

int match_pairs_stream_add(struct match_pairs_stream *s, size_t n, int nthreads)
{
	size_t from = s->g.p.na;
	if (match_growing_add(&s->g, n, nthreads, s->bufs.pool) < 0)
		return -1;
	if (s->threshold >= 1.0f || n == from || n < 2)
		return 0; /* no similarity exceeds 1 */
	return match_pairs_run(&s->g.p, from, s->threshold, nthreads, s->cb, s->ud, &s->bufs);
}

size_t match_pairs_stream_rows(const struct match_pairs_stream *s)
{
	return s->g.p.na;
}

void match_pairs_stream_free(struct match_pairs_stream *s)
{
	if (!s)
		return;
	match_growing_free(&s->g);
	match_pool_free(s->bufs.pool);
	match_tile_bufs_free(&s->bufs);
	free(s);
}
