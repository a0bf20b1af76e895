/* Large arrays backed by transparent huge pages where the kernel offers
 * them (see big_alloc.h). */
/* mremap needs _GNU_SOURCE: the autotools build defines it in config.h
 * (included first), the standalone test and bench builds here. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "common/big_alloc.h"
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* The spare blocks of big_free_warm (p NULL: a free slot), their usable
 * sizes and total, under spare_lock. */
#define SPARES BIG_ALLOC_SPARES
static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	void *p;
	size_t size;
} spares[SPARES];
static size_t spare_total;

/* Spare k taken out, under spare_lock (k < 0: none, NULL); *size its size. */
static void *take_out(int k, size_t *size)
{
	if (k < 0)
		return NULL;
	void *p = spares[k].p;
	*size = spares[k].size;
	spare_total -= spares[k].size;
	spares[k].p = NULL;
	return p;
}

/* The smallest spare of size bytes and at most a quarter more (a small
 * block does not take the large one a later call needs), taken out; NULL
 * when none fits. */
static void *take_spare(size_t size)
{
	int best = -1;
	pthread_mutex_lock(&spare_lock);
	for (int k = 0; k < SPARES; k++)
		if (spares[k].p && spares[k].size >= size && spares[k].size - size <= size / 4 &&
		    (best < 0 || spares[k].size < spares[best].size))
			best = k;
	void *p = take_out(best, &size);
	pthread_mutex_unlock(&spare_lock);
	return p;
}

/* Makes room for size more bytes by handing out (in *out, to be freed) the
 * smallest spares while they are smaller than size; 0 when that does not
 * make room, and then every spare stays (a block that is not kept does not
 * cost the warm ones that would have been dropped for it). */
static int make_room(size_t size, void **out, int *nout)
{
	int drop[SPARES] = {0}, free_slot = 0;
	size_t total = spare_total;
	for (;;) {
		int smallest = -1;
		for (int k = 0; k < SPARES; k++) {
			if (!spares[k].p || drop[k])
				free_slot = 1;
			else if (smallest < 0 || spares[k].size < spares[smallest].size)
				smallest = k;
		}
		if (free_slot && total + size <= BIG_ALLOC_SPARE_MAX)
			break;
		if (smallest < 0 || spares[smallest].size >= size)
			return 0;
		drop[smallest] = 1;
		total -= spares[smallest].size;
	}
	for (int k = 0; k < SPARES; k++)
		if (drop[k]) {
			out[(*nout)++] = spares[k].p;
			spares[k].p = NULL;
		}
	spare_total = total;
	return 1;
}

/* The largest spare of at most *size bytes, taken out (*size: its size);
 * NULL when there is none. */
static void *take_spare_within(size_t *size)
{
	int best = -1;
	pthread_mutex_lock(&spare_lock);
	for (int k = 0; k < SPARES; k++)
		if (spares[k].p && spares[k].size <= *size &&
		    (best < 0 || spares[k].size > spares[best].size))
			best = k;
	void *p = take_out(best, size);
	pthread_mutex_unlock(&spare_lock);
	return p;
}

/* The largest spare larger than *size bytes, taken out (*size: its size);
 * NULL when there is none. */
static void *take_spare_above(size_t *size)
{
	int best = -1;
	pthread_mutex_lock(&spare_lock);
	for (int k = 0; k < SPARES; k++)
		if (spares[k].p && spares[k].size > *size &&
		    (best < 0 || spares[k].size > spares[best].size))
			best = k;
	void *p = take_out(best, size);
	pthread_mutex_unlock(&spare_lock);
	return p;
}

/* Under spare_lock: p kept in a free slot, counted as size bytes; 0 when
 * every slot is taken. */
static int keep_spare(void *p, size_t size)
{
	for (int k = 0; k < SPARES; k++)
		if (!spares[k].p) {
			spares[k].p = p;
			spares[k].size = size;
			spare_total += size;
			return 1;
		}
	return 0;
}

/* Spare s back among the spares, counted as size bytes: the pages past
 * them were moved out. Freed when other threads' spares took its slot or
 * the room meanwhile. */
static void put_back(void *s, size_t size)
{
	pthread_mutex_lock(&spare_lock);
	if (spare_total + size <= BIG_ALLOC_SPARE_MAX && keep_spare(s, size))
		s = NULL;
	pthread_mutex_unlock(&spare_lock);
	free(s);
}

/* Moves the pages of [from, from + bytes) to [to, to + bytes), 2 MiB at a
 * time (mremap takes a range inside one mapping, and a block filled by
 * fill_from_spares is several); returns the bytes moved. MREMAP_DONTUNMAP
 * leaves the old range mapped, to zero pages, so that the free() of its
 * block unmaps that block's range and nothing another thread has mapped
 * since. Where the kernel lacks it nothing moves. */
static size_t move_pages(char *from, size_t bytes, char *to)
{
	size_t done = 0;
#ifdef MREMAP_DONTUNMAP
	for (; done < bytes; done += BIG_ALLOC_HUGE)
		if (mremap(from + done, BIG_ALLOC_HUGE, BIG_ALLOC_HUGE,
		           MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, to + done) == MAP_FAILED)
			break;
#else
	(void)from;
	(void)to;
#endif
	return done;
}

/* [to, to + need) filled with the last pages of the largest spare, when it
 * is larger than need; it stays a spare of the pages before them. 0 when
 * there is no such spare. */
static int fill_from_larger(char *to, size_t need)
{
	size_t have = need;
	char *s = take_spare_above(&have);
	if (!s)
		return 0;
	size_t moved = move_pages(s + (have - need), need, to);
	put_back(s, moved ? have - need : have);
	return 1;
}

/* A new block p of size bytes, filled with the tail of the largest spare
 * when that is larger, or else from its start with the pages of spares too
 * small to be taken whole, the largest first while they fit, and the rest
 * from the tail of one larger than that rest: warm pages where it would
 * have had fresh ones (big_alloc.h). The largest spare first: it was most
 * likely written whole (a side's rows or panels), where a smaller one is
 * often scratch whose last pages were never touched (candidate buffers,
 * confirming room) and are fresh wherever they go. */
static void fill_from_spares(char *p, size_t size)
{
	if (fill_from_larger(p, size))
		return;
	for (size_t off = 0; off < size;) {
		size_t got = size - off;
		char *s = take_spare_within(&got);
		if (!s) {
			fill_from_larger(p + off, size - off);
			return;
		}
		size_t moved = move_pages(s, got, p + off);
		if (moved == 0) { /* the kernel cannot: the spare stays one */
			big_free_warm(s);
			return;
		}
		free(s);
		if (moved < got)
			return;
		off += got;
	}
}

void *big_alloc(size_t bytes)
{
	if (bytes < BIG_ALLOC_HUGE)
		return malloc(bytes ? bytes : 1);
	if (bytes > SIZE_MAX - BIG_ALLOC_HUGE)
		return NULL;
	size_t size = (bytes + BIG_ALLOC_HUGE - 1) & ~(BIG_ALLOC_HUGE - 1);
	void *p = take_spare(size);
	if (p)
		return p;
	p = aligned_alloc(BIG_ALLOC_HUGE, size);
	if (p) {
		(void)madvise(p, size, MADV_HUGEPAGE);   /* advice only: without huge pages it still works */
		fill_from_spares(p, size);
	}
	return p;
}

void *big_alloc_scratch(size_t bytes)
{
	if (bytes >= BIG_ALLOC_HUGE / 8)
		return big_alloc(bytes > BIG_ALLOC_HUGE ? bytes : BIG_ALLOC_HUGE);
	void *p = NULL;
	return posix_memalign(&p, 64, bytes ? bytes : 1) == 0 ? p : NULL;
}

/* Does any page of the huge page at p hold memory (was it ever written)?
 * 1 where the kernel cannot tell. */
static int huge_page_used(const char *p)
{
	unsigned char vec[BIG_ALLOC_HUGE / 4096];
	long page = sysconf(_SC_PAGESIZE);
	if (page != 4096 || mincore((void *)(uintptr_t)p, BIG_ALLOC_HUGE, vec) != 0)
		return 1;
	for (size_t k = 0; k < sizeof vec; k++)
		if (vec[k] & 1)
			return 1;
	return 0;
}

/* The whole huge pages of block p (usable size bytes) up to its last one
 * that was ever written: glibc's usable size of an aligned block includes
 * up to 2 MiB of alignment slack, which would count a 40 MiB block as 42
 * against BIG_ALLOC_SPARE_MAX, and sometimes a whole huge page of it, never
 * touched, which a block filled from the spare's end then got as fresh
 * pages (a 2 MiB page zeroed in the int8 top-k's product tile). */
static size_t written_size(char *p, size_t bytes)
{
	size_t size = bytes & ~(BIG_ALLOC_HUGE - 1);
	while (size >= BIG_ALLOC_HUGE && !huge_page_used(p + size - BIG_ALLOC_HUGE))
		size -= BIG_ALLOC_HUGE;
	return size;
}

void big_free_warm(void *p)
{
	size_t size = p ? malloc_usable_size(p) : 0;
	if (size >= BIG_ALLOC_HUGE && size <= BIG_ALLOC_SPARE_MAX + BIG_ALLOC_HUGE &&
	    (uintptr_t)p % BIG_ALLOC_HUGE == 0)
		size = written_size(p, size);
	void *out[SPARES + 1];
	int nout = 0;
	/* huge-page aligned blocks of big_alloc only (not its malloc ones) */
	if (size < BIG_ALLOC_HUGE || size > BIG_ALLOC_SPARE_MAX || (uintptr_t)p % BIG_ALLOC_HUGE) {
		free(p);
		return;
	}
	pthread_mutex_lock(&spare_lock);
	if (make_room(size, out, &nout) && keep_spare(p, size))
		p = NULL;
	pthread_mutex_unlock(&spare_lock);
	out[nout++] = p;
	for (int k = 0; k < nout; k++)
		free(out[k]);
}

size_t big_alloc_release_spares(void)
{
	void *out[SPARES];
	int nout = 0;
	pthread_mutex_lock(&spare_lock);
	size_t released = spare_total;
	for (int k = 0; k < SPARES; k++)
		if (spares[k].p) {
			out[nout++] = spares[k].p;
			spares[k].p = NULL;
		}
	spare_total = 0;
	pthread_mutex_unlock(&spare_lock);
	for (int k = 0; k < nout; k++)
		free(out[k]);
	return released;
}

size_t big_alloc_spare_bytes(int *blocks)
{
	pthread_mutex_lock(&spare_lock);
	size_t total = spare_total;
	int n = 0;
	for (int k = 0; k < SPARES; k++)
		n += spares[k].p != NULL;
	pthread_mutex_unlock(&spare_lock);
	if (blocks)
		*blocks = n;
	return total;
}

void big_alloc_prefault(void *p, size_t bytes)
{
#ifdef MADV_POPULATE_WRITE
	const uintptr_t page = 4096;   /* whole pages inside the range only */
	uintptr_t at = ((uintptr_t)p + page - 1) & ~(page - 1), end = ((uintptr_t)p + bytes) & ~(page - 1);
	if (end > at)
		(void)madvise((void *)at, end - at, MADV_POPULATE_WRITE);
#else
	(void)p;
	(void)bytes;
#endif
}

void big_alloc_init(void)
{
	/* a fixed threshold also turns off the dynamic trim threshold */
	(void)mallopt(M_MMAP_THRESHOLD, (int)BIG_ALLOC_HUGE);
	(void)mallopt(M_TRIM_THRESHOLD, (int)BIG_ALLOC_TRIM);   /* see big_alloc.h */
}
