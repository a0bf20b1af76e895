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

void big_alloc_init(void)
{
	/* a fixed threshold also turns off the dynamic trim threshold */
	(void)mallopt(M_MMAP_THRESHOLD, (int)BIG_ALLOC_HUGE);
}
