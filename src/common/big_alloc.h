/* big_alloc.h - memory for a large array that is filled right away. */
#ifndef LUNA_COMMON_BIG_ALLOC_H
#define LUNA_COMMON_BIG_ALLOC_H

#include <stddef.h>

/*
 * bytes of memory (NULL when out of memory), released with free(). From
 * BIG_ALLOC_HUGE bytes on it is aligned to BIG_ALLOC_HUGE and advised for
 * transparent huge pages (MADV_HUGEPAGE: the kernel's "madvise" mode, the
 * usual default), so that filling it takes one page fault per 2 MiB instead
 * of one per 4 KiB page: under a paravirtualised kernel a fault costs some
 * 14 us, and filling 40 MB of fresh 4 KiB pages about 0.15 s of CPU, as long
 * as matching the same descriptors takes. Below that size: malloc.
 */
#define BIG_ALLOC_HUGE ((size_t)2 << 20)
void *big_alloc(size_t bytes);

#endif
