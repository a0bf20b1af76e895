/* Large arrays backed by transparent huge pages where the kernel offers
 * them (see big_alloc.h). */
#include "common/big_alloc.h"
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

void *big_alloc(size_t bytes)
{
	if (bytes < BIG_ALLOC_HUGE)
		return malloc(bytes ? bytes : 1);
	if (bytes > SIZE_MAX - BIG_ALLOC_HUGE)
		return NULL;
	size_t size = (bytes + BIG_ALLOC_HUGE - 1) & ~(BIG_ALLOC_HUGE - 1);
	void *p = aligned_alloc(BIG_ALLOC_HUGE, size);
	if (p)
		(void)madvise(p, size, MADV_HUGEPAGE);   /* advice only: without huge pages it still works */
	return p;
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
