/*
 * match_topk_prepared.c - match_topk with its query side prepared once
 * (match_topk_prepare): a cross match streams its candidates in blocks
 * against the same references, and quantizing 20000 references of 512-d
 * for every block (with its fresh memory) was work repeated per block.
 *
 * Workload: one prepare per subtask (20000 x 512 floats), then one
 * match_topk_prepared per candidate block; the search itself is
 * match_topk's (match_topk_product), over a product whose A side is the
 * prepared rows (match_product_init_rows), so hits are the same bits.
 */
#include "match/match.h"
#include "match/match_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct match_topk_queries {
	struct match_rows rows;
};

struct match_topk_queries *match_topk_prepare(const float *q, size_t nq, size_t d, int nthreads)
{
	if ((nq > 0 && !q) || match_check_dims(nq, d) < 0) {
		errno = EINVAL;
		return NULL;
	}
	struct match_topk_queries *qs = calloc(1, sizeof *qs);
	if (!qs || match_rows_prepare(&qs->rows, q, nq, d, nthreads) < 0) {
		free(qs);
		errno = ENOMEM;
		return NULL;
	}
	return qs;
}

int match_topk_prepared(const struct match_topk_queries *qs, const float *base, size_t nb, size_t k,
                        float threshold, int exclude_self, int nthreads, struct match_hit *out,
                        size_t *counts)
{
	if (!qs) {
		errno = EINVAL;
		return -1;
	}
	const struct match_rows *r = &qs->rows;
	int checked = match_topk_check(r->na, nb, r->d, k, threshold, out, counts);
	if (checked != 0)
		return checked < 0 ? -1 : 0;
	struct match_product prod;
	if (match_product_init_rows(&prod, r, base, nb, nthreads) < 0) {
		memset(counts, 0, r->na * sizeof *counts);
		return -1;
	}
	int rc = match_topk_product(&prod, k, threshold, exclude_self, nthreads, out, counts);
	match_product_free_rows(&prod, r);
	return rc;
}

void match_topk_queries_free(struct match_topk_queries *qs)
{
	if (!qs)
		return;
	match_rows_free(&qs->rows);
	free(qs);
}
