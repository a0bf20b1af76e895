/*
 * match_topk.c - per-query top-k search (cross match, and self match with
 * exclude_self) over a base set, with a similarity floor.
 *
 * Workload: 20000 queries x 20000 base rows x 512-d with k = 100 is the
 * reference case (DESIGN section 7), but single queries against a large base
 * must also use every core. Work items are (query block, base chunk) pairs:
 * each item runs the proposing product (sgemm, or int8 in stripes) for a
 * block of queries x TOPK_BBLOCK base rows at a time. Each query keeps a
 * candidate buffer (2k + 64 hits, 8k + 512 with int8) and a floor: a SIMD
 * compare over the tile row appends only proposals at or above the floor,
 * and when the buffer fills it is cut back to what may still be in the best
 * k within the error bound (vector counts bisect the k-th value; no
 * sorting) and the floor rises. Before a chunk's first block is scanned each
 * query guesses its floor from that block (proven by a cut or by the first
 * confirming round, or the query is scanned again), so almost every value
 * is rejected 16 at a time from the start. At the end the candidates that
 * matter are confirmed with the canonical dot (README "Exactness"). With
 * few query blocks the base is split into chunks too; each chunk yields its
 * own sorted top k and the chunks are merged at the end. With many, the
 * last block of each thread comes as two items of half its queries, so
 * that a worker on a slower core does not keep the other waiting for a
 * whole block; and once the items are out, a worker still busy hands half
 * of its rows to an idle one at its next block boundary ("parts").
 */
#include "match/match.h"
#include "match/match_internal.h"
#include "common/big_alloc.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define TOPK_QBLOCK 1024        /* queries per work item (at most) */
#define TOPK_BBLOCK 1024        /* base rows per sgemm */
#define TOPK_SCRATCH (32u << 20) /* candidate bytes per thread (soft cap) */
#define TOPK_GATHER 64          /* queries scanned again per product (rescan) */
#define TOPK_SCAN_COLS 256      /* base rows per scanning product call (scan_fused) */

/* ---- ordering and selection ---------------------------------------------- */

/* Is a ranked before b: higher sim, or equal sim and smaller index? */
static inline int hit_better(struct match_hit a, struct match_hit b)
{
	return (a.sim > b.sim) | ((a.sim == b.sim) & (a.idx < b.idx)); /* no branches */
}

static void insertion_sort(struct match_hit *h, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct match_hit x = h[i];
		size_t j = i;
		for (; j > 0 && hit_better(x, h[j - 1]); j--)
			h[j] = h[j - 1];
		h[j] = x;
	}
}

static struct match_hit median_of_three(struct match_hit a, struct match_hit b, struct match_hit c)
{
	if (hit_better(a, b))
		return hit_better(b, c) ? b : (hit_better(a, c) ? c : a);
	return hit_better(a, c) ? a : (hit_better(b, c) ? c : b);
}

/* Split h[0, n) (n >= 3) around a median-of-three pivot: hits that beat the
 * pivot first, then the pivot, then the rest; returns the pivot's place.
 * The comparisons are coin flips, so nothing branches on them: every hit is
 * written to both free ends of tmp and only the matching end advances. Hits
 * are distinct (distinct indices), so only the pivot itself is neither
 * better nor worse than the pivot. */
static size_t split(struct match_hit *h, size_t n, struct match_hit *tmp)
{
	struct match_hit pivot = median_of_three(h[0], h[n / 2], h[n - 1]);
	size_t front = 0, back = n;
	for (size_t i = 0; i < n; i++) {
		struct match_hit x = h[i];
		size_t is_better = (size_t)hit_better(x, pivot), is_worse = (size_t)hit_better(pivot, x);
		tmp[front] = x;
		tmp[back - 1] = x;
		front += is_better;
		back -= is_worse;
	}
	tmp[front] = pivot;
	memcpy(h, tmp, n * sizeof *h);
	return front;
}

/* Sort best first: quicksort, recursing on the smaller side. */
static void sort_best_first(struct match_hit *h, size_t n, struct match_hit *tmp)
{
	while (n > 16) {
		size_t p = split(h, n, tmp);
		if (p < n - p - 1) {
			sort_best_first(h, p, tmp);
			h += p + 1;
			n -= p + 1;
		} else {
			sort_best_first(h + p + 1, n - p - 1, tmp);
			n = p;
		}
	}
	insertion_sort(h, n);
}

/* ---- job ------------------------------------------------------------------- */

struct topk_job {
	const float *q, *base;
	size_t nq, nb, d, k;
	const struct match_product *prod; /* proposes; radius per query */
	float lo_base; /* canonical dot >= lo_base  <=>  sim >= threshold */
	float threshold;
	int exclude_self;
	const struct match_kernels *kern;
	match_dot2_fn dot2; /* match_dot_canonical2's form */
	size_t qblock, qblocks, nchunks, chunk_len, nitems;
	size_t halved; /* the last blocks, each two items of half its queries (item_rows) */
	size_t cap; /* candidate buffer per query */
	int scans;    /* the product scans its values into the buffers (scan_fused) */
	size_t slack; /* room past cap: the columns of one scanning call (scans) */
	struct match_hit **results; /* per chunk: nq * k (chunk 0 is the output) */
	size_t **counts;            /* per chunk: nq */
	atomic_size_t next;
	struct topk_parts *parts; /* halves of items for idle workers (offer_half) */
};

/* One query's candidates, in ascending base index order (appends come in
 * that order and compaction keeps it), as two arrays so that counting
 * similarities is a plain vector loop. */
struct cand_buf {
	float *sim;
	uint32_t *idx;
	size_t n;
	float floor;  /* proposed dot needed to become a candidate */
	float low;    /* no candidate's similarity is below this */
	float radius; /* |proposed - canonical| bound of this query (both clamped) */
	float guess;  /* > 0: a floor guessed from the first block, not yet proven */
	float top;    /* settle's cut for mark_top (the same proposals are above it after the drop) */
	int redo;     /* the guess was too high: scan this query again without one */
	const float *qrow;
	float *conf;    /* room for confirming (below) */
	size_t pending; /* entries of conf to be computed (confirm_block) */
	float least;    /* the least canonical similarity computed since mark_top */
	int dense;      /* a quarter or more of the last scanning call's columns hit */
};

/* Per-query buffer stride: the collect kernel writes 16 lanes at a time. */
#define CAND_STRIDE(job) ((job)->cap + (job)->slack + 16)

/* One worker's scratch: a product tile and the block's candidate buffers. */
struct topk_scratch {
	float *tile;           /* a product call's rows x TOPK_BBLOCK; in conf's block (conf_room) */
	float *sims;           /* qblock x CAND_STRIDE */
	uint32_t *idxs;        /* qblock x CAND_STRIDE */
	struct cand_buf *bufs; /* qblock */
	struct match_hit *tmp; /* k: room for sorting */
	float *conf_one;       /* CAND_STRIDE: one buffer's canonical sims (compact_exact) */
	float *conf;           /* conf_cap: the block's, each buffer's n after settle in turn */
	size_t conf_cap;
	struct confirm_pair *pairs; /* pairs_cap: the block's pending dots, sorted */
	uint32_t *listed;      /* 3 x (pairs_cap + 16): the same before sorting, by field;
	                        * in pairs' block, past them (conf_lists) */
	struct match_scan_row *scan; /* qblock: a stripe's rows for the scanning product */
	size_t pairs_cap;
	uint32_t *row_start;   /* chunk rows + 1: confirm_block's counting sort (< pairs_cap) */
	uint32_t *redo;        /* qblock: queries to scan again (rescan) */
	struct match_gather gather; /* their rows, together */
	/* The product of the item's queries, row0 its first row's number among
	 * them: the job's, or (a_later) block, the item's rows quantized. */
	const struct match_product *prod;
	size_t row0;
	struct match_product block;
	float *top;            /* TOPK_BBLOCK + 16: a row's largest values (guess_floor) */
};

static inline uint32_t float_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

static inline float bits_float(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* Find t such that rank <= count(sim >= t), and either count(sim >= t) ==
 * rank (when early_exit) or t is exactly the rank-th largest similarity
 * (rank < n; no sim is below low); *at (when not NULL) gets count(sim >= t),
 * which the bisection has counted already unless t is low itself.
 * Similarities are clamped to [+0, 1], where float order is the order of the
 * bit patterns, so this bisects on the bits; it stops early once exactly k
 * are >= t. */
static float bisect_rank(const struct topk_job *job, const float *sim, size_t n, float low,
                         size_t k, int early_exit, size_t *at)
{
	uint32_t lo = float_bits(low);
	uint32_t hi = float_bits(1.0f) + 1; /* count(sim >= hi) == 0 < k */
	size_t at_lo = SIZE_MAX;             /* not counted yet */
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		size_t c = job->kern->count_ge(sim, n, bits_float(mid));
		if (c < k) {
			hi = mid;
			continue;
		}
		lo = mid;
		at_lo = c;
		if (c == k && early_exit)
			break;
	}
	if (at)
		*at = at_lo != SIZE_MAX ? at_lo : job->kern->count_ge(sim, n, bits_float(lo));
	return bits_float(lo);
}

/* A cut for selecting the best k. */
static float kth_threshold(const struct topk_job *job, const float *sim, size_t n, float low)
{
	return bisect_rank(job, sim, n, low, job->k, 1, NULL);
}

/* The k-th largest similarity itself: error bands hang below it. */
static float kth_value(const struct topk_job *job, const float *sim, size_t n, float low)
{
	return bisect_rank(job, sim, n, low, job->k, 0, NULL);
}

/* Keep the best k of b's n > k candidates, in order. Ties at the k-th
 * similarity keep the smallest indices, which come first. */
static void select_best_k(const struct topk_job *job, struct cand_buf *b)
{
	size_t at;
	float t = bisect_rank(job, b->sim, b->n, b->low, job->k, 1, &at), least;
	if (at == job->k) {
		/* no tie across the k-th (the usual case): those >= t, by a kernel */
		b->n = job->kern->keep_ge(b->sim, b->idx, b->n, t, &least);
		return;
	}
	size_t above = job->kern->count_ge(b->sim, b->n, nextafterf(t, INFINITY));
	size_t ties = job->k - above, kept = 0;
	for (size_t i = 0; i < b->n; i++) { /* branch-free: keep is a coin flip */
		float s = b->sim[i];
		size_t tie = s == t;
		size_t keep = (s > t) | (tie & (ties > 0));
		ties -= tie & (ties > 0);
		b->sim[kept] = s;
		b->idx[kept] = b->idx[i];
		kept += keep;
	}
	b->n = kept;
}

/* As select_best_k when there are more than k; returns the worst kept
 * similarity (then the buffer's low). */
static float keep_best_k(const struct topk_job *job, struct cand_buf *b)
{
	if (b->n > job->k)
		select_best_k(job, b);
	float worst = 1.0f;
	for (size_t i = 0; i < b->n; i++)
		worst = b->sim[i] < worst ? b->sim[i] : worst;
	b->low = worst;
	return worst;
}

/* A proposed floor, never below the threshold's (lowered by the radius). */
static float with_threshold(const struct topk_job *job, const struct cand_buf *b, float floor)
{
	float lo = job->lo_base - b->radius;
	return floor > lo ? floor : lo;
}

static inline float canonical_sim(const struct topk_job *job, const struct cand_buf *b, uint32_t j)
{
	return match_clamp01(match_dot_canonical(b->qrow, job->base + (size_t)j * job->d, job->d));
}

/* Confirming a buffer (replacing proposals by canonical similarities)
 * computes as few canonical dots as possible, in two rounds. First the
 * proposals at or above t, a cut that keeps at least k; that gives t2, the
 * k-th of their canonical similarities. Then, of the rest, only those
 * proposed at or above t2 - R: any other is below t2 for sure while k
 * candidates are at t2 or above. conf[i] holds the canonical similarity, or
 * one of: */
#define CONF_NONE (-1.0f)    /* not needed */
#define CONF_PENDING (-2.0f) /* to be computed */

/* The first round: marks the proposals >= t pending, where t is the
 * caller's kth_threshold of the buffer when it holds more than k (so at
 * least k, the best k unless some tie at the k-th), else -inf (all). */
static void mark_top(const struct topk_job *job, struct cand_buf *b, float t)
{
	b->pending = job->kern->mark_ge(b->sim, b->conf, b->n, t, CONF_PENDING, CONF_NONE);
	b->least = 1.0f;
}

/* Slot i's canonical similarity is c. */
static inline void set_confirmed(struct cand_buf *b, size_t i, float c)
{
	b->conf[i] = c;
	b->least = c < b->least ? c : b->least;
}

/* A canonical similarity for slot i. */
static inline void confirm_slot(const struct topk_job *job, struct cand_buf *b, size_t i,
                                uint32_t j)
{
	set_confirmed(b, i, canonical_sim(job, b, j));
}

/* After the first round: keep the confirmed candidates and those proposed in
 * the band of width R under t2, to be confirmed, in order (the others cannot
 * be in the best k), so that the second round and take_confirmed pass over
 * those only. Returns t2 (0 with fewer than k candidates). */
static float mark_band(const struct topk_job *job, struct cand_buf *b)
{
	size_t confirmed = b->pending; /* the first round computed every pending one */
	b->pending = 0;
	if (b->n < job->k)
		return 0.0f; /* no k-th (check_guess_late then fails) */
	float t2 = confirmed == job->k ? b->least : kth_value(job, b->conf, b->n, 0.0f);
	if (b->n == job->k)
		return t2;
	size_t m = job->kern->keep_band(b->sim, b->idx, b->conf, b->n, t2 - b->radius, CONF_PENDING);
	b->n = m;
	b->pending = m - confirmed;
	return t2;
}

static void confirm_row(const struct topk_job *job, struct cand_buf *b)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->conf[i] == CONF_PENDING)
			confirm_slot(job, b, i, b->idx[i]);
}

/* Both rounds for one buffer on its own, in buffer order (t: mark_top's). */
static void confirm_alone(const struct topk_job *job, struct cand_buf *b, float t)
{
	mark_top(job, b, t);
	confirm_row(job, b);
	mark_band(job, b);
	confirm_row(job, b);
}

/* Keep only the confirmed candidates at or above the threshold, with their
 * canonical similarities (order kept): those with conf >= the threshold and
 * +0 (CONF_NONE and CONF_PENDING are negative; threshold is no NaN). */
static void take_confirmed(const struct topk_job *job, struct cand_buf *b)
{
	float cut = job->threshold > 0.0f ? job->threshold : 0.0f;
	b->n = job->kern->take_ge(b->conf, b->sim, b->idx, b->n, cut);
	b->low = 0.0f;
}

/* Confirm, keep the exact best k; a later row must beat the k-th (base rows
 * arrive in ascending order, so an equal similarity has a larger index and
 * loses), so its proposal must reach just above the k-th minus the radius. */
static void compact_exact(const struct topk_job *job, struct cand_buf *b, float t)
{
	confirm_alone(job, b, t);
	take_confirmed(job, b);
	float worst = keep_best_k(job, b);
	/* fewer than k at or above the threshold: anything above it may still come */
	float beat = b->n == job->k ? nextafterf(worst, INFINITY) - b->radius : -INFINITY;
	b->floor = with_threshold(job, b, beat);
}

/* Keep the candidates proposed at or above cut (> low, so > 0: clamped
 * proposals compare as the raw ones did), order kept. */
static void drop_below(const struct topk_job *job, struct cand_buf *b, float cut)
{
	b->n = job->kern->keep_ge(b->sim, b->idx, b->n, cut, &b->low);
}

/* The guess was too high: the query stops collecting and is scanned again
 * (finish_block). */
static void guess_failed(struct cand_buf *b)
{
	b->redo = 1;
	b->guess = 0.0f;
	b->n = 0;
	b->pending = 0;
	b->floor = INFINITY;
}

/* A guessed floor (guess_floor) is proven by a cut below which compact drops
 * candidates anyway: what the guess kept out lies below the cut too. While
 * the buffer fills, a cut under the guess counts as disproving it (the
 * buffer must shrink). Returns whether the buffer may be cut. */
static int check_guess(struct cand_buf *b, float cut)
{
	if (b->guess <= 0.0f)
		return 1;
	if (cut >= b->guess) {
		b->guess = 0.0f;
		return 1;
	}
	guess_failed(b);
	return 0;
}

/* After the first round: the guess holds when it is at or below t2 - R. A
 * candidate it kept out was proposed below it, so its canonical similarity
 * is below t2, and k confirmed candidates are at t2 or above: it cannot be
 * among the best k, nor in the band. (t2 - R in float lands below the exact
 * value: the radius is raised for that.) */
static void check_guess_late(struct cand_buf *b, float t2)
{
	if (b->guess <= 0.0f)
		return;
	if (b->guess <= t2 - b->radius)
		b->guess = 0.0f;
	else
		guess_failed(b);
}

/* The buffer is full of proposals (each within radius R of its canonical
 * similarity): t is at most the k-th proposal, so k candidates have canonical
 * similarities >= t - R, and one proposed below t - 2R cannot be among the
 * best k. Drop those and keep going; when the band [t - 2R, ...) holds more
 * than half the buffer (ties, a loose bound), confirm and keep exactly k. */
static void compact(const struct topk_job *job, struct cand_buf *b)
{
	float t = kth_threshold(job, b->sim, b->n, b->low); /* n >> k: as good as the k-th */
	float cut = t - 2.0f * b->radius;
	if (!check_guess(b, cut))
		return;
	size_t kept = cut > b->low ? job->kern->count_ge(b->sim, b->n, cut) : b->n;
	if (kept > job->cap / 2) {
		compact_exact(job, b, b->n > job->k ? t : -INFINITY);
		return;
	}
	drop_below(job, b, cut);
	b->floor = with_threshold(job, b, cut); /* cut > 0: proposals >= cut, clamped or not */
}

/* Tests (match_internal.h). */
float match_topk_guess_raise;
atomic_size_t match_topk_late_redos;

/* Before the first block of a longer chunk is scanned: guess a floor from
 * that block's proposals (row, nj raw values), its r-th best minus R, so
 * that every block appends about the band of the final k-th instead of
 * everything above a floor that rises slowly. It holds when it is at or
 * below t2 - R (t2 the k-th canonical similarity of the first round):
 * settle proves it early when the cut t - 2R reaches it (t2 >= t - R) and
 * disproves it when it is above t (t2 <= t + R); in between
 * check_guess_late decides. It fails when r of the chunk's best k
 * proposals lie in this block; their number is about Poisson with mean
 * lambda = k * nj / len, so r = lambda + 4 sqrt(lambda) + 1 makes that rare
 * (below 1e-3 for lambda from 0.5 to 100; README "Top k"). */
static void guess_floor(const struct topk_job *job, struct cand_buf *b, const float *row, size_t nj,
                        size_t len, float *top)
{
	double lambda = (double)job->k * (double)nj / (double)len;
	double r = ceil(lambda + 4.0 * sqrt(lambda) + 1.0);
	if (nj >= len || r >= (double)nj)
		return;
	size_t rank = (size_t)r;
	/* up to 16: the bisection runs on the values that may be among the 16
	 * largest (~50 of 1,024 on the benchmark's data), with the same counts
	 * above them, so the same result, for ~4 times fewer compares */
	const float *vals = row;
	size_t n = nj, above;
	if (rank <= 16) {
		n = above = job->kern->top_lanes(row, nj, top);
		vals = top;
	} else {
		above = job->kern->count_ge(row, nj, 0.0f);
	}
	if (above < rank) /* bisect_rank needs rank values >= +0 */
		return;
	float guess = bisect_rank(job, vals, n, 0.0f, rank, 1, NULL) - b->radius +
	              match_topk_guess_raise;
	if (guess <= 0.0f || guess <= b->floor)
		return;
	b->guess = guess;
	b->floor = guess;
}

/* At the end of the chunk: prove the guess, or scan again (redo), or leave
 * it to the first round (guess_floor), and drop what compact would (fewer
 * candidates to confirm). The cut under the k best is kept for mark_top:
 * dropping proposals below it leaves the same ones at or above it (one
 * bisection per query fewer). */
static void settle(const struct topk_job *job, struct cand_buf *b)
{
	b->top = -INFINITY;
	if (b->n < job->k) {
		check_guess(b, -INFINITY);
		return;
	}
	float t = kth_threshold(job, b->sim, b->n, b->low);
	float cut = t - 2.0f * b->radius;
	b->top = b->n > job->k ? t : -INFINITY;
	if (b->guess > t) { /* t2 <= t + R, so it fails after the first round */
		guess_failed(b);
		return;
	}
	if (cut >= b->guess)
		b->guess = 0.0f; /* proven now; else check_guess_late decides */
	if (cut > b->low)
		drop_below(job, b, cut);
}

static void scan_row(const struct topk_job *job, const float *row, size_t j0, size_t nj,
                     struct cand_buf *b)
{
	size_t c = 0;
	for (;;) {
		size_t stop;
		b->n += job->kern->collect(row, c, nj, b->floor, (uint32_t)j0, b->sim + b->n,
		                           b->idx + b->n, job->cap - b->n, &stop);
		if (stop >= nj)
			return;
		compact(job, b); /* full: raise the floor, then go on from stop */
		c = stop;
	}
}

/* Compute the pending canonical similarities of a block's queries in base
 * row order, so that a base row is read from memory once for all the queries
 * that need it (and stays in L1 for their dots), not once per query. The
 * pending dots are first sorted by base row (a counting sort, stable: within
 * a row by query) into one list, which the dots then run down; visiting
 * every query's buffer once per 256 base rows instead cost a cache miss or
 * two per buffer and bucket, 8.7 % of the int8 top-k, and buckets of 256
 * rows sorted by query within made the dots ~30 % dearer (the base rows from
 * L2 instead of L1; README "Where the rest goes"). Up to pairs_cap dots at a
 * time (a query has at most cap + slack). */
#define CONFIRM_PAIRS 262144u /* 3 MB of pairs per worker (and as much listed) */

struct confirm_pair {
	uint32_t j, r, i; /* base row j for slot i of buffer r */
};

/* Each pass over a block's buffers (settle, the marks, the lists, the
 * band, the output) touches a buffer once, and the block's buffers do not
 * stay in cache from one pass to the next: the kernels waited on every
 * line (~80 % of their samples at their loads). So each pass asks for the
 * buffer BUF_AHEAD places on before it works on one: its candidates and,
 * once the buffers have their room (conf_group; to = the group's end),
 * their canonical similarities. (GCC deletes a loop of prefetches alone;
 * the empty asm keeps it.) */
#define BUF_AHEAD 2

static void prefetch_lines(const void *p, size_t bytes)
{
	for (size_t o = 0; o < bytes; o += 64) {
		__builtin_prefetch((const char *)p + o, 1, 3);
		__asm__ volatile("");
	}
}

static void fetch_ahead(const struct topk_scratch *s, size_t r, size_t to, int conf)
{
	if (r + BUF_AHEAD >= to)
		return;
	const struct cand_buf *b = &s->bufs[r + BUF_AHEAD];
	prefetch_lines(b->sim, b->n * sizeof(float));
	prefetch_lines(b->idx, b->n * sizeof(uint32_t));
	if (conf)
		prefetch_lines(b->conf, b->n * sizeof(float));
}

/* The pending dots of buffers r0 .. r1 into s->pairs by base row (b0 ..
 * b0 + nrows); their count. They are first listed in buffer order, field by
 * field (s->listed, by the list_pending kernel: only they then touch the
 * counts). */
static size_t sort_pending(const struct topk_job *job, struct topk_scratch *s, size_t r0, size_t r1,
                           size_t b0, size_t nrows)
{
	uint32_t *lj = s->listed, *lr = lj + s->pairs_cap + 16, *li = lr + s->pairs_cap + 16;
	size_t n = 0;
	for (size_t r = r0; r < r1; r++) {
		const struct cand_buf *b = &s->bufs[r];
		fetch_ahead(s, r, r1, 1);
		n += job->kern->list_pending(b->conf, b->idx, b->n, CONF_PENDING, (uint32_t)r, lj + n,
		                             lr + n, li + n);
	}
	uint32_t *start = s->row_start; /* count of row b0 + x at x + 1, then where it starts */
	memset(start, 0, (nrows + 1) * sizeof *start);
	for (size_t p = 0; p < n; p++)
		start[lj[p] - b0 + 1]++;
	for (size_t x = 0; x < nrows; x++)
		start[x + 1] += start[x];
	for (size_t p = 0; p < n; p++)
		s->pairs[start[lj[p] - b0]++] = (struct confirm_pair){ lj[p], lr[p], li[p] };
	return n;
}

/* How many dots ahead confirm_block asks for a base row: about one row's
 * dots (~6 on the benchmark), so that it comes from memory while the dots of
 * the row before run. */
#define CONFIRM_PREFETCH 8

/* Base row j from memory into L1 only (prefetchnta on x86): it is read once
 * per round, for a few dots in a row, and kept out of L2 and L3 it does not
 * push out the block's query rows, which every dot reads from there. (GCC
 * deletes a loop of prefetches alone as one without effect; the empty asm
 * keeps it.) */
static void prefetch_base_row(const struct topk_job *job, uint32_t j)
{
	const char *row = (const char *)(job->base + (size_t)j * job->d);
	for (size_t o = 0; o < job->d * sizeof(float); o += 64) {
		__builtin_prefetch(row + o, 0, 0);
		__asm__ volatile("");
	}
}

/* Before the dots of pairs p .. p + n - 1 of the sorted list: fetch the base
 * rows whose dots start CONFIRM_PREFETCH pairs later. */
static void prefetch_ahead(const struct topk_job *job, const struct topk_scratch *s, size_t p,
                           size_t n, size_t total)
{
	for (size_t ahead = p + CONFIRM_PREFETCH; ahead < p + CONFIRM_PREFETCH + n && ahead < total;
	     ahead++)
		if (s->pairs[ahead].j != s->pairs[ahead - 1].j)
			prefetch_base_row(job, s->pairs[ahead].j);
}

/* The dots of two listed pairs at once (match_dot_canonical2): each waits
 * on its FMA chains' latency, and two in flight overlap. */
static void confirm_two(const struct topk_job *job, struct topk_scratch *s,
                        const struct confirm_pair *x)
{
	struct cand_buf *b = &s->bufs[x[0].r], *c = &s->bufs[x[1].r];
	float dot[2];
	job->dot2(b->qrow, job->base + (size_t)x[0].j * job->d, c->qrow,
	          job->base + (size_t)x[1].j * job->d, job->d, dot);
	set_confirmed(b, x[0].i, match_clamp01(dot[0]));
	set_confirmed(c, x[1].i, match_clamp01(dot[1]));
}

static void confirm_block(const struct topk_job *job, struct topk_scratch *s, size_t g0, size_t g1,
                          size_t b0, size_t b1)
{
	for (size_t r0 = g0, r1; r0 < g1; r0 = r1) {
		size_t total = s->bufs[r0].pending;
		for (r1 = r0 + 1; r1 < g1 && total + s->bufs[r1].pending <= s->pairs_cap; r1++)
			total += s->bufs[r1].pending;
		size_t n = sort_pending(job, s, r0, r1, b0, b1 - b0), p = 0;
		for (; p + 2 <= n; p += 2) {
			prefetch_ahead(job, s, p, 2, n);
			confirm_two(job, s, &s->pairs[p]);
		}
		if (p < n) {
			const struct confirm_pair *x = &s->pairs[p];
			confirm_slot(job, &s->bufs[x->r], x->i, x->j);
		}
	}
}

/* Write each query's best min(n, k) confirmed candidates at or above the
 * threshold to its output, best first. */
static void rescan(const struct topk_job *job, struct topk_scratch *s, size_t i0, size_t nredo,
                   size_t b0, size_t b1);

/* b's hits to dst, best first. */
static void write_best_first(const struct topk_job *job, struct topk_scratch *s,
                             const struct cand_buf *b, struct match_hit *dst)
{
	if (job->kern->best_first && b->n <= MATCH_BEST_MAX) {
		job->kern->best_first(b->sim, b->idx, b->n, dst);
		return;
	}
	for (size_t i = 0; i < b->n; i++)
		dst[i] = (struct match_hit){ b->idx[i], b->sim[i] };
	sort_best_first(dst, b->n, s->tmp);
}

/* Buffer r's best k, confirmed, to its output. */
static void write_out(const struct topk_job *job, struct topk_scratch *s, size_t i0, size_t r,
                      size_t ch)
{
	struct cand_buf *b = &s->bufs[r];
	take_confirmed(job, b);
	keep_best_k(job, b);
	write_best_first(job, s, b, job->results[ch] + (i0 + r) * job->k);
	job->counts[ch][i0 + r] = b->n;
}

/* The buffers g0 .. g1 of a block, settled: confirm their best k in two
 * rounds and write them out; a buffer whose guess the first round disproves
 * is left for finish_block (redo). */
static void confirm_group(const struct topk_job *job, struct topk_scratch *s, size_t i0, size_t g0,
                          size_t g1, size_t b0, size_t b1, size_t ch)
{
	for (size_t r = g0; r < g1; r++) {
		fetch_ahead(s, r, g1, 1);
		mark_top(job, &s->bufs[r], s->bufs[r].top);
	}
	confirm_block(job, s, g0, g1, b0, b1);
	for (size_t r = g0; r < g1; r++) {
		fetch_ahead(s, r, g1, 1);
		check_guess_late(&s->bufs[r], mark_band(job, &s->bufs[r]));
	}
	confirm_block(job, s, g0, g1, b0, b1);
	for (size_t r = g0; r < g1; r++) {
		fetch_ahead(s, r, g1, 1);
		if (!s->bufs[r].redo)
			write_out(job, s, i0, r, ch);
	}
}

/* A buffer scanned again after the first round disproved its guess, settled
 * (no guess now): confirmed on its own, in buffer order (rare). */
static void confirm_late(const struct topk_job *job, struct topk_scratch *s, size_t i0, size_t r,
                         size_t ch)
{
	struct cand_buf *b = &s->bufs[r];
	atomic_fetch_add_explicit(&match_topk_late_redos, 1, memory_order_relaxed);
	confirm_alone(job, b, b->top); /* b->conf: s->conf_one (finish_block) */
	write_out(job, s, i0, r, ch);
}

/* Gives the settled buffers from g0 on their room in s->conf, as many as
 * fit (at least one: conf_cap >= CAND_STRIDE); returns the end of the
 * group. Only the settled candidates need room, a fraction of a buffer's
 * stride, so this takes a third of the memory a stride per query did
 * (with int8: 2 of 6 MiB per worker; fresh pages cost a process's first
 * call ~2 ms per MiB on a VM). */
static size_t conf_group(struct topk_scratch *s, size_t g0, size_t ni)
{
	size_t used = 0, r = g0;
	for (; r < ni && (r == g0 || used + s->bufs[r].n <= s->conf_cap); r++) {
		s->bufs[r].conf = s->conf + used;
		used += s->bufs[r].n;
	}
	return r;
}

/* The block's buffers marked redo into s->redo; their count. */
static size_t list_redo(struct topk_scratch *s, size_t ni)
{
	size_t n = 0;
	for (size_t r = 0; r < ni; r++)
		if (s->bufs[r].redo)
			s->redo[n++] = (uint32_t)r;
	return n;
}

static void finish_block(const struct topk_job *job, struct topk_scratch *s, size_t i0, size_t ni,
                         size_t b0, size_t b1, size_t ch)
{
	for (size_t r = 0; r < ni; r++) {
		fetch_ahead(s, r, ni, 0);
		settle(job, &s->bufs[r]);
	}
	size_t nredo = list_redo(s, ni);
	rescan(job, s, i0, nredo, b0, b1);
	for (size_t x = 0; x < nredo; x++)
		settle(job, &s->bufs[s->redo[x]]);
	for (size_t g0 = 0, g1; g0 < ni; g0 = g1) {
		g1 = conf_group(s, g0, ni);
		confirm_group(job, s, i0, g0, g1, b0, b1, ch);
	}
	/* the guesses the first round disproved */
	nredo = list_redo(s, ni);
	for (size_t x = 0; x < nredo; x++)
		s->bufs[s->redo[x]].conf = s->conf_one; /* compact_exact's room while scanning */
	rescan(job, s, i0, nredo, b0, b1);
	for (size_t x = 0; x < nredo; x++) {
		settle(job, &s->bufs[s->redo[x]]);
		confirm_late(job, s, i0, s->redo[x], ch);
	}
}

/* exclude_self: query qi skips base row qi (NaN passes no floor). */
static void mask_self(const struct topk_job *job, float *row, size_t qi, size_t j0, size_t nj)
{
	if (job->exclude_self && qi >= j0 && qi < j0 + nj)
		row[qi - j0] = NAN;
}

/* scan_stripe with a product that scans its own values (no tile written and
 * read back), TOPK_SCAN_COLS columns at a time: a buffer past cap is cut
 * first, as a full one is in scan_row, so that the columns fit in the slack
 * (slack for a whole block made every buffer 1,024 slots longer: 26 MB more
 * fresh memory for a process's first call, as much time as the scan saved). */
static void scan_fused(const struct topk_job *job, struct topk_scratch *s, size_t i0, size_t ni,
                       size_t j0, size_t nj, struct cand_buf *bufs)
{
	for (size_t c = 0; c < nj; c += TOPK_SCAN_COLS) {
		for (size_t r = 0; r < ni; r++) {
			struct cand_buf *b = &bufs[r];
			if (b->n > job->cap)
				compact(job, b);
			s->scan[r] = (struct match_scan_row){ b->floor, b->sim, b->idx, b->n, b->dense };
		}
		size_t cols = nj - c < TOPK_SCAN_COLS ? nj - c : TOPK_SCAN_COLS;
		match_product_scan(s->prod, i0 - s->row0, ni, j0 + c, cols, s->scan);
		for (size_t r = 0; r < ni; r++) {
			bufs[r].dense = 4 * (s->scan[r].n - bufs[r].n) >= cols;
			bufs[r].n = s->scan[r].n;
		}
	}
}

/* Propose rows i0 .. i0+ni x base block j0 .. j0+nj and scan each row;
 * guess_len: the chunk's length when this is its first block (guess_floor),
 * else 0. */
static void scan_stripe(const struct topk_job *job, struct topk_scratch *s, size_t i0, size_t ni,
                        size_t j0, size_t nj, struct cand_buf *bufs, size_t guess_len)
{
	int self = job->exclude_self && i0 < j0 + nj && j0 < i0 + ni; /* mask_self's NaN */
	if (job->scans && !guess_len && !self) {
		scan_fused(job, s, i0, ni, j0, nj, bufs);
		return;
	}
	match_product_tile(s->prod, i0 - s->row0, ni, j0, nj, s->tile);
	for (size_t r = 0; r < ni; r++) {
		float *row = s->tile + r * nj;
		mask_self(job, row, i0 + r, j0, nj);
		if (guess_len)
			guess_floor(job, &bufs[r], row, nj, guess_len, s->top);
		scan_row(job, row, j0, nj, &bufs[r]);
	}
}

/* An empty buffer with the floor of the threshold alone. */
static void buf_reset(const struct topk_job *job, struct cand_buf *b)
{
	b->n = 0;
	b->guess = 0.0f;
	b->redo = 0;
	b->floor = with_threshold(job, b, -INFINITY);
	b->low = match_clamp01(b->floor); /* proposals are >= the floor */
}

static size_t block_len(size_t j0, size_t b1)
{
	return b1 - j0 < TOPK_BBLOCK ? b1 - j0 : TOPK_BBLOCK;
}

/* The queries s->redo[0 .. nredo) (rows of the block at i0) over the whole
 * chunk again, without a guess; their rows are gathered, so that a product
 * proposes up to gather.max_rows of them at once. */
static void rescan(const struct topk_job *job, struct topk_scratch *s, size_t i0, size_t nredo,
                   size_t b0, size_t b1)
{
	uint32_t off = (uint32_t)(i0 - s->row0); /* the block's first row in s->prod */
	for (size_t g0 = 0; g0 < nredo; g0 += s->gather.max_rows) {
		size_t gn = nredo - g0 < s->gather.max_rows ? nredo - g0 : s->gather.max_rows;
		uint32_t *redo = s->redo + g0;
		for (size_t x = 0; x < gn; x++) {
			buf_reset(job, &s->bufs[redo[x]]);
			redo[x] += off; /* rows of s->prod, for the gather */
		}
		match_gather_rows(&s->gather, s->prod, redo, gn);
		for (size_t j0 = b0; j0 < b1; j0 += TOPK_BBLOCK) {
			size_t nj = block_len(j0, b1);
			match_product_tile(&s->gather.view, 0, gn, j0, nj, s->tile);
			for (size_t x = 0; x < gn; x++) {
				float *row = s->tile + x * nj;
				mask_self(job, row, redo[x] + s->row0, j0, nj);
				scan_row(job, row, j0, nj, &s->bufs[redo[x] - off]);
			}
		}
		for (size_t x = 0; x < gn; x++)
			redo[x] -= off;
	}
}

/* ---- parts: the end of a call shared ---------------------------------------- */

/* The rows i0 .. i0 + ni of an item from base row j on (an item's own part
 * from the chunk's first block b0, an offered one from a later boundary,
 * its floors guessed), with the buffers and the product of the worker that
 * began the item. */
struct topk_part {
	struct cand_buf *bufs;            /* row i0's */
	const struct match_product *prod; /* proposes the rows; row0 its first */
	size_t row0, i0, ni, j, b0, b1, ch;
};

/* When the items run out, a worker that is still scanning hands half of
 * its rows to an idle one at its next block boundary (offer_half), and so
 * on while the halves are large enough: the two vCPUs of the build machine
 * do not always run at one speed, and whoever took the last item kept the
 * other waiting 3-23 ms of a 0.5 s call (README "Parts for idle workers").
 * Only once the items are out: an item's worker then starts no other, so
 * its product (the item's quantized rows) and buffers stay as they are. */
#define TOPK_PARTS 64 /* parts offered at once, at most */

struct topk_parts {
	pthread_mutex_t mu;
	pthread_cond_t offered;
	atomic_int idle;    /* workers waiting in take_part */
	int active;         /* workers with an item or a part */
	size_t n;           /* parts offered and not taken */
	size_t min_rows;    /* rows each half keeps at least (a multiple of 8) */
	struct topk_part part[TOPK_PARTS];
};

/* Tests: every part at least 2 x 8 rows long is halved at every block
 * boundary once the items are out, whether or not a worker is idle. */
int match_topk_split_always;

#define TOPK_PART_ROWS 64 /* rows of a half at least: one int8 stripe */

static void parts_init(struct topk_parts *ps)
{
	ps->n = 0;
	ps->active = 0;
	ps->min_rows = match_topk_split_always ? 8 : TOPK_PART_ROWS;
	atomic_init(&ps->idle, 0);
	pthread_mutex_init(&ps->mu, NULL);
	pthread_cond_init(&ps->offered, NULL);
}

static void parts_free(struct topk_parts *ps)
{
	pthread_mutex_destroy(&ps->mu);
	pthread_cond_destroy(&ps->offered);
}

/* At a block boundary (j: the next block; the chunk's end when only the
 * confirming is left): the upper half of p's rows to an idle worker, when
 * the items are out and p has enough rows. A relaxed read of the idle count
 * on the way, once per block. */
static void offer_half(struct topk_job *job, struct topk_part *p, size_t j)
{
	struct topk_parts *ps = job->parts;
	if (!ps || p->ni < 2 * ps->min_rows ||
	    atomic_load_explicit(&job->next, memory_order_relaxed) < job->nitems ||
	    (!match_topk_split_always && atomic_load_explicit(&ps->idle, memory_order_relaxed) == 0))
		return;
	pthread_mutex_lock(&ps->mu);
	if (ps->n < TOPK_PARTS && (match_topk_split_always || (size_t)atomic_load(&ps->idle) > ps->n)) {
		size_t half = p->ni / 2 / 8 * 8; /* micro-tiles of 8 rows; both >= min_rows */
		ps->part[ps->n++] = (struct topk_part){ p->bufs + half, p->prod, p->row0, p->i0 + half,
			                                p->ni - half, j, p->b0, p->b1, p->ch };
		p->ni = half;
		pthread_cond_signal(&ps->offered);
	}
	pthread_mutex_unlock(&ps->mu);
}

/* A worker starts: counted among those that may offer parts (a worker whose
 * thread was not created is never waited for). */
static void parts_join(struct topk_job *job)
{
	if (!job->parts)
		return;
	pthread_mutex_lock(&job->parts->mu);
	job->parts->active++;
	pthread_mutex_unlock(&job->parts->mu);
}

/* A worker done with its item or part: the next part offered, 1; 0 when no
 * worker is left that could offer one. */
static int take_part(struct topk_job *job, struct topk_part *out)
{
	struct topk_parts *ps = job->parts;
	if (!ps)
		return 0;
	pthread_mutex_lock(&ps->mu);
	ps->active--;
	while (ps->n == 0 && ps->active > 0) {
		atomic_fetch_add(&ps->idle, 1);
		pthread_cond_wait(&ps->offered, &ps->mu);
		atomic_fetch_sub(&ps->idle, 1);
	}
	int got = ps->n > 0;
	if (got) {
		*out = ps->part[--ps->n];
		ps->active++;
	} else {
		pthread_cond_broadcast(&ps->offered); /* the others see active == 0 */
	}
	pthread_mutex_unlock(&ps->mu);
	return got;
}

/* Scans p's rows from its base row j to the chunk's end, offering halves at
 * the block boundaries, and confirms and writes out what is left of them. */
static void run_part(struct topk_job *job, struct topk_scratch *s, struct topk_part *p)
{
	struct cand_buf *own = s->bufs;
	s->bufs = p->bufs; /* finish_block's */
	s->prod = p->prod;
	s->row0 = p->row0;
	for (size_t r = 0; r < p->ni; r++)
		p->bufs[r].conf = s->conf_one; /* compact_exact's room: this worker's */
	for (size_t j0 = p->j; j0 < p->b1; j0 += TOPK_BBLOCK) {
		size_t nj = block_len(j0, p->b1), stripe = job->prod->stripe;
		for (size_t r0 = 0; r0 < p->ni; r0 += stripe)
			scan_stripe(job, s, p->i0 + r0, p->ni - r0 < stripe ? p->ni - r0 : stripe, j0, nj,
			            p->bufs + r0, j0 == p->b0 ? p->b1 - p->b0 : 0);
		offer_half(job, p, j0 + nj);
	}
	finish_block(job, s, p->i0, p->ni, p->b0, p->b1, p->ch);
	s->bufs = own;
}

/* The queries i0 .. i0 + ni of an item: a block, or one half of one of the
 * last job->halved blocks (a multiple of 8 rows first; the second may be
 * empty). Blocks are halved only with one chunk, where an item past the
 * whole blocks counts halves. */
static void item_rows(const struct topk_job *job, size_t item, size_t *i0, size_t *ni)
{
	size_t whole = job->qblocks - job->halved, qb = item / job->nchunks, part = 2;
	if (qb >= whole) {
		qb = whole + (item - whole) / 2;
		part = (item - whole) % 2;
	}
	size_t start = qb * job->qblock;
	size_t end = job->nq - start < job->qblock ? job->nq : start + job->qblock;
	size_t half = ((end - start) / 2 + 7) / 8 * 8, mid = end - start < half ? end : start + half;
	*i0 = part == 1 ? mid : start;
	*ni = (part == 0 ? mid : end) - *i0;
}

static void topk_item(struct topk_job *job, size_t item, struct topk_scratch *s)
{
	size_t ch = item % job->nchunks, i0, ni;
	item_rows(job, item, &i0, &ni);
	if (ni == 0)
		return;
	size_t b0 = ch * job->chunk_len;
	size_t b1 = b0 + job->chunk_len < job->nb ? b0 + job->chunk_len : job->nb;

	struct topk_part part = { s->bufs, job->prod, 0, i0, ni, b0, b0, b1, ch };
	if (job->prod->a_later) {
		match_block_rows(&s->block, job->prod, i0, ni);
		part.prod = &s->block;
		part.row0 = i0;
	}
	for (size_t r = 0; r < ni; r++) {
		struct cand_buf *b = &s->bufs[r];
		*b = (struct cand_buf){ .sim = s->sims + r * CAND_STRIDE(job),
		                        .idx = s->idxs + r * CAND_STRIDE(job) };
		b->radius = part.prod->radius[i0 + r - part.row0];
		b->qrow = job->q + (i0 + r) * job->d;
		buf_reset(job, b);
	}
	run_part(job, s, &part);
}

struct topk_run {
	struct topk_job *job;
	struct topk_scratch *scratch; /* per thread */
};

static void topk_worker(void *p, int thread)
{
	struct topk_run *run = p;
	struct topk_job *job = run->job;
	struct topk_part part;
	parts_join(job);
	for (;;) {
		size_t item = atomic_fetch_add(&job->next, 1);
		if (item >= job->nitems)
			break;
		topk_item(job, item, &run->scratch[thread]);
	}
	while (take_part(job, &part))
		run_part(job, &run->scratch[thread], &part);
}

/* Fold the per-chunk results of each query into chunk 0 (the output). Each
 * chunk's list is sorted best first, so this is a k-way merge; it runs after
 * the workers, and there are at most nthreads chunks. */
static int topk_merge_chunks(struct topk_job *job)
{
	struct match_hit *merged = malloc(job->k * sizeof *merged);
	size_t *head = calloc(job->nchunks, sizeof *head);
	if (!merged || !head) {
		free(merged);
		free(head);
		return -1;
	}
	for (size_t qi = 0; qi < job->nq; qi++) {
		size_t n = 0;
		memset(head, 0, job->nchunks * sizeof *head);
		while (n < job->k) {
			size_t best = job->nchunks;
			for (size_t ch = 0; ch < job->nchunks; ch++) {
				if (head[ch] == job->counts[ch][qi])
					continue;
				const struct match_hit *h = job->results[ch] + qi * job->k + head[ch];
				if (best == job->nchunks ||
				    hit_better(*h, job->results[best][qi * job->k + head[best]]))
					best = ch;
			}
			if (best == job->nchunks)
				break;
			merged[n++] = job->results[best][qi * job->k + head[best]++];
		}
		memcpy(job->results[0] + qi * job->k, merged, n * sizeof *merged);
		job->counts[0][qi] = n;
	}
	free(merged);
	free(head);
	return 0;
}

/* ---- setup ------------------------------------------------------------------ */

/* Query blocks of about one size, as many as a multiple of the threads:
 * 20,000 queries in 1024-row blocks left a block of 544 rows, and one worker
 * idle for ~3 % of the call at the end. Never larger than planned (the
 * buffers are sized for qblock); a multiple of 8 rows (the micro-tile). */
static void even_blocks(struct topk_job *job, int nthreads)
{
	size_t t = (size_t)(nthreads > 0 ? nthreads : 1);
	size_t blocks = job->qblocks < t ? job->qblocks : (job->qblocks + t - 1) / t * t;
	size_t rows = ((job->nq + blocks - 1) / blocks + 7) / 8 * 8;
	if (rows < job->qblock) {
		job->qblock = rows;
		job->qblocks = (job->nq + rows - 1) / rows;
	}
}

/* A worker's candidate similarities and indices (rows x CAND_STRIDE each)
 * are filled in huge pages, and a process's first call pays ~2 ms per MiB of
 * fresh pages on a VM (README "Fresh pages"): 1,000 queries at k = 100 took
 * 6.3 MB, 4 pages of which the last held 44 KB. So the cap shrinks to fill
 * whole pages when that takes at most a sixteenth of it (there 1312 -> 1300
 * candidates, 3 pages an array). */
static void fit_huge_pages(struct topk_job *job)
{
	size_t rows = job->nq < job->qblock ? job->nq : job->qblock;
	size_t row_bytes = rows * sizeof(float), whole = rows * CAND_STRIDE(job) * sizeof(float);
	whole -= whole % BIG_ALLOC_HUGE;
	size_t fixed = job->slack + 16; /* CAND_STRIDE beyond cap */
	if (whole == 0 || whole / row_bytes <= fixed)
		return;
	size_t cap = whole / row_bytes - fixed;
	if (cap < job->cap && cap >= job->cap - job->cap / 16 && cap > 2 * job->k)
		job->cap = cap;
}

/* Block and chunk sizes: few query blocks -> split the base, one chunk per
 * thread; large k -> fewer queries per block so the buffers stay bounded. */
static void topk_plan(struct topk_job *job, int nthreads)
{
	job->qblock = TOPK_QBLOCK;
	job->qblocks = (job->nq + job->qblock - 1) / job->qblock;
	job->nchunks = 1;
	if (nthreads > 1 && job->qblocks < 4 * (size_t)nthreads) {
		size_t max_chunks = (job->nb + TOPK_BBLOCK - 1) / TOPK_BBLOCK;
		job->nchunks = (size_t)nthreads < max_chunks ? (size_t)nthreads : max_chunks;
	}
	/* chunks start on a 32-row boundary: the int8 base is packed in panels */
	job->chunk_len = ((job->nb + job->nchunks - 1) / job->nchunks + 31) / 32 * 32;

	/* int8 proposals need room for the band of width 2R under the k-th; a
	 * chunk never yields more candidates than its rows */
	size_t factor = job->prod->int8 ? 8 : 2, extra = job->prod->int8 ? 512 : 64;
	job->cap = job->k <= (SIZE_MAX / 2 - extra) / factor ? factor * job->k + extra : SIZE_MAX / 2;
	if (job->cap > job->chunk_len)
		job->cap = job->chunk_len;
	/* a chunk of one block is only ever scanned from its tile (guess_floor) */
	job->scans = match_product_scans(job->prod) && job->chunk_len > TOPK_BBLOCK;
	job->slack = job->scans ? TOPK_SCAN_COLS : 0;
	size_t per_query = CAND_STRIDE(job) * (sizeof(struct match_hit) + sizeof(float));
	size_t fit = TOPK_SCRATCH / per_query;
	if (fit < job->qblock)
		job->qblock = fit > 0 ? fit : 1;
	job->qblocks = (job->nq + job->qblock - 1) / job->qblock;
	if (job->nchunks == 1)
		even_blocks(job, nthreads);
	/* Workers run at different speeds on a VM (one vCPU 5-15 % behind the
	 * other in some processes), so whoever takes the last whole block made
	 * the other wait up to a block's time (~50 ms of ~0.5 s at 20,000 x
	 * 20,000): the last block of each thread comes in halves instead. */
	if (job->nchunks == 1 && nthreads > 1 && job->qblocks >= 4 * (size_t)nthreads)
		job->halved = (size_t)nthreads;
	job->nitems = job->qblocks * job->nchunks + job->halved;
	fit_huge_pages(job);
}

/* The large parts go back warm (big_free_warm): fresh, their pages cost
 * each call of a long-running process ~25 ms of CPU to zero at 20,000 x
 * 20,000 (3.6 % of a scheduler's cross match). */
static void scratch_free(struct topk_scratch *s, int nthreads)
{
	for (int t = 0; s && t < nthreads; t++) {
		big_free_warm(s[t].sims);
		big_free_warm(s[t].idxs);
		free(s[t].bufs);
		free(s[t].tmp);
		free(s[t].conf_one);
		big_free_warm(s[t].conf); /* and tile */
		big_free_warm(s[t].pairs); /* and listed */
		free(s[t].scan);
		free(s[t].row_start);
		free(s[t].redo);
		match_gather_free(&s[t].gather);
		match_block_free(&s[t].block);
		free(s[t].top);
	}
	free(s);
}

/* Room for confirming per query of a block: after settle a buffer holds
 * about the band under its k-th proposal (~340 with int8 on the benchmark's
 * data); a block that needs more is confirmed in groups (conf_group). */
#define TOPK_CONF_PER_QUERY 512

/* Room for the confirming of rows queries at TOPK_CONF_PER_QUERY each (one
 * buffer's stride at least) and, at its end, the product tile of
 * tile_floats, in one block of whole huge pages: a warm block, and the
 * rounding is room too. One block, so that its pages come back in the same
 * places: a tile of its own came from malloc, fresh in every call (~90
 * page faults per int8 top-k of the benchmark), and as a spare of the
 * confirming room's size it came back in the room's place. */
static void conf_room(const struct topk_job *job, struct topk_scratch *s, size_t rows,
                      size_t tile_floats)
{
	size_t want = rows * TOPK_CONF_PER_QUERY > CAND_STRIDE(job) ? rows * TOPK_CONF_PER_QUERY
	                                                             : CAND_STRIDE(job);
	size_t tile = (tile_floats + 15) / 16 * 16; /* whole 64-byte lines */
	size_t bytes = ((want + tile) * sizeof(float) + BIG_ALLOC_HUGE - 1) & ~(BIG_ALLOC_HUGE - 1);
	s->conf_cap = bytes / sizeof(float) - tile;
	s->conf = big_alloc(bytes);
	s->tile = s->conf ? s->conf + s->conf_cap : NULL;
}

/* s->pairs and s->listed for s->pairs_cap pairs, in one block: as two
 * blocks of one size they came back from the spares swapped from call to
 * call, and the pages listed touches (three fields' starts) were then fresh
 * ones where pairs had left them untouched (a block's end), ~120 page
 * faults per int8 top-k of the benchmark. */
static void conf_lists(struct topk_scratch *s)
{
	size_t pairs = s->pairs_cap * sizeof(struct confirm_pair);
	s->pairs = big_alloc(pairs + 3 * (s->pairs_cap + 16) * sizeof(uint32_t));
	s->listed = s->pairs ? (uint32_t *)(void *)((char *)s->pairs + pairs) : NULL;
}

static struct topk_scratch *scratch_alloc(const struct topk_job *job, int nthreads)
{
	struct topk_scratch *s = calloc((size_t)nthreads, sizeof *s);
	if (!s)
		return NULL;
	size_t rows = job->nq < job->qblock ? job->nq : job->qblock;
	size_t cols = job->chunk_len < TOPK_BBLOCK ? job->chunk_len : TOPK_BBLOCK;
	size_t slots = rows * CAND_STRIDE(job); /* bounded by topk_plan */
	/* the tile holds one product call's values: a stripe of the block's
	 * rows (scan_stripe) or a gathered rescan's (int8: 64 rows, 256 KB,
	 * where the block's 1,000 took 4 MiB of memory per worker) */
	size_t tile_rows = job->prod->stripe > TOPK_GATHER ? job->prod->stripe : TOPK_GATHER;
	if (tile_rows > rows)
		tile_rows = rows;
	for (int t = 0; t < nthreads; t++) {
		s[t].sims = match_alloc_floats(slots);
		s[t].idxs = big_alloc(slots * sizeof(uint32_t));
		s[t].bufs = malloc(rows * sizeof(struct cand_buf));
		s[t].tmp = malloc(job->k * sizeof(struct match_hit));
		s[t].conf_one = malloc(CAND_STRIDE(job) * sizeof(float));
		conf_room(job, &s[t], rows, tile_rows * cols);
		s[t].pairs_cap = job->cap + job->slack > CONFIRM_PAIRS ? job->cap + job->slack : CONFIRM_PAIRS;
		conf_lists(&s[t]);
		s[t].row_start = malloc((job->chunk_len + 1) * sizeof(uint32_t));
		s[t].redo = malloc(rows * sizeof(uint32_t));
		s[t].scan = malloc(rows * sizeof(struct match_scan_row));
		s[t].top = malloc((TOPK_BBLOCK + 16) * sizeof(float));
		int gathered = match_gather_init(&s[t].gather, job->prod,
		                                 rows < TOPK_GATHER ? rows : TOPK_GATHER);
		if (gathered == 0 && job->prod->a_later)
			gathered = match_block_init(&s[t].block, job->prod, rows);
		if (!s[t].tile || !s[t].sims || !s[t].idxs || !s[t].bufs || !s[t].tmp ||
		    !s[t].conf_one || !s[t].conf || !s[t].pairs || !s[t].listed || !s[t].row_start ||
		    !s[t].redo || !s[t].scan || !s[t].top || gathered < 0) {
			scratch_free(s, nthreads);
			return NULL;
		}
	}
	return s;
}

static void results_free(struct topk_job *job)
{
	for (size_t ch = 1; job->results && ch < job->nchunks; ch++)
		big_free_warm(job->results[ch]);
	for (size_t ch = 1; job->counts && ch < job->nchunks; ch++)
		free(job->counts[ch]);
	free(job->results);
	free(job->counts);
}

static int results_alloc(struct topk_job *job, struct match_hit *out, size_t *counts)
{
	job->results = calloc(job->nchunks, sizeof *job->results);
	job->counts = calloc(job->nchunks, sizeof *job->counts);
	if (!job->results || !job->counts)
		return -1;
	job->results[0] = out;
	job->counts[0] = counts;
	for (size_t ch = 1; ch < job->nchunks; ch++) {
		job->results[ch] = big_alloc(job->nq * job->k * sizeof(struct match_hit));
		job->counts[ch] = calloc(job->nq, sizeof(size_t));
		if (!job->results[ch] || !job->counts[ch])
			return -1;
	}
	return 0;
}

/* The argument checks of the top-k entry points; counts cleared. 1: valid,
 * nothing to search; 0: go on; -1/EINVAL. */
int match_topk_check(size_t nq, size_t nb, size_t d, size_t k, float threshold,
                     const struct match_hit *out, size_t *counts)
{
	if (isnan(threshold) || (nq > 0 && !counts) || (nq > 0 && k > 0 && !out) ||
	    (k != 0 && nq > SIZE_MAX / sizeof(struct match_hit) / k)) {
		errno = EINVAL;
		return -1;
	}
	if (match_check_dims(nq, d) < 0 || match_check_dims(nb, d) < 0)
		return -1;
	if (nq > 0)
		memset(counts, 0, nq * sizeof *counts);
	return nq == 0 || nb == 0 || k == 0 || threshold > 1.0f;
}

int match_topk_product(const struct match_product *prod, size_t k, float threshold, int exclude_self,
                       int nthreads, struct match_hit *out, size_t *counts)
{
	struct topk_job job = {
		.q = prod->a, .base = prod->b, .nq = prod->na, .nb = prod->nb, .d = prod->d, .k = k,
		.prod = prod, .lo_base = threshold > 0.0f ? threshold : -INFINITY, .threshold = threshold,
		.exclude_self = exclude_self, .kern = match_kernels(),
		.dot2 = match_dot_canonical2_form(),
	};
	atomic_init(&job.next, 0);
	int nt = match_thread_count(nthreads, (size_t)-1);
	topk_plan(&job, nt);
	if ((size_t)nt > job.nitems)
		nt = (int)job.nitems;

	struct topk_parts parts;
	if (nt > 1 || match_topk_split_always) {
		parts_init(&parts);
		job.parts = &parts;
	}
	struct topk_run run = { &job, scratch_alloc(&job, nt) };
	int rc = run.scratch && results_alloc(&job, out, counts) == 0 ? 0 : -1;
	if (rc == 0) {
		match_blas_begin();
		match_run_parallel(nt, topk_worker, &run);
		match_blas_end();
		if (job.nchunks > 1)
			rc = topk_merge_chunks(&job);
	}
	scratch_free(run.scratch, nt);
	results_free(&job);
	if (job.parts)
		parts_free(&parts);
	if (rc != 0) {
		memset(counts, 0, prod->na * sizeof *counts);
		errno = ENOMEM;
	}
	return rc;
}

int match_topk(const float *q, size_t nq, const float *base, size_t nb, size_t d, size_t k,
               float threshold, int exclude_self, int nthreads, struct match_hit *out,
               size_t *counts)
{
	int checked = match_topk_check(nq, nb, d, k, threshold, out, counts);
	if (checked != 0)
		return checked < 0 ? -1 : 0;
	struct match_product prod;
	if (match_product_init(&prod, q, nq, base, nb, d, MATCH_BOUNDS_LATER, nthreads) < 0) {
		memset(counts, 0, nq * sizeof *counts);
		return -1;
	}
	int rc = match_topk_product(&prod, k, threshold, exclude_self, nthreads, out, counts);
	match_product_free(&prod);
	return rc;
}

/* A two-way merge of sorted lists; the block's hits move to global indices. */
size_t match_topk_merge(const struct match_hit *a, size_t na, const struct match_hit *b, size_t nb,
                        uint32_t b_offset, size_t k, struct match_hit *out)
{
	size_t i = 0, j = 0, n = 0;
	while (n < k && (i < na || j < nb)) {
		struct match_hit y = { 0, 0.0f };
		if (j < nb)
			y = (struct match_hit){ b[j].idx + b_offset, b[j].sim };
		if (j == nb || (i < na && hit_better(a[i], y)))
			out[n++] = a[i++];
		else {
			out[n++] = y;
			j++;
		}
	}
	return n;
}
