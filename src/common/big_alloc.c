/* Large arrays backed by transparent huge pages where the kernel offers
 * them (see big_alloc.h). */
#include "common/big_alloc.h"
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

/* The spare block of big_free_warm (NULL: none) and its size, under spare_lock. */
static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;
static void *spare;
static size_t spare_size;

/* Whole huge pages for bytes >= BIG_ALLOC_HUGE (bytes must not overflow). */
static size_t huge_size(size_t bytes)
{
	return (bytes + BIG_ALLOC_HUGE - 1) & ~(BIG_ALLOC_HUGE - 1);
}

void *big_alloc(size_t bytes)
{
	if (bytes < BIG_ALLOC_HUGE)
		return malloc(bytes ? bytes : 1);
	if (bytes > SIZE_MAX - BIG_ALLOC_HUGE)
		return NULL;
	size_t size = huge_size(bytes);
	void *p = aligned_alloc(BIG_ALLOC_HUGE, size);
	if (p)
		(void)madvise(p, size, MADV_HUGEPAGE);   /* advice only: without huge pages it still works */
	return p;
}

void *big_alloc_warm(size_t bytes)
{
	void *p = NULL;
	if (bytes >= BIG_ALLOC_HUGE && bytes <= BIG_ALLOC_SPARE_MAX) {
		pthread_mutex_lock(&spare_lock);
		if (spare && spare_size >= huge_size(bytes)) {
			p = spare;
			spare = NULL;
		}
		pthread_mutex_unlock(&spare_lock);
	}
	return p ? p : big_alloc(bytes);
}

void big_free_warm(void *p, size_t bytes)
{
	if (!p || bytes < BIG_ALLOC_HUGE || bytes > BIG_ALLOC_SPARE_MAX) {
		free(p);
		return;
	}
	/* a block from the spare may be larger than asked for: keep the
	 * smaller size then, never one the block does not have */
	size_t size = huge_size(bytes);
	pthread_mutex_lock(&spare_lock);
	if (!spare || size >= spare_size) {
		void *old = spare;
		spare = p;
		spare_size = size;
		p = old;
	}
	pthread_mutex_unlock(&spare_lock);
	free(p);
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
}
