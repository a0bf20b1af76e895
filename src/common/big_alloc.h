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

/*
 * Scratch of a call that runs again and again (a matching call's buffers
 * per worker), 64-byte aligned (NULL when out of memory), given back with
 * big_free_warm: from BIG_ALLOC_HUGE / 8 bytes on a whole huge page at
 * least, so that the next call takes it warm from the spares. glibc maps a
 * block of that size afresh for every malloc and unmaps it at free (unless
 * big_alloc_init fixed its threshold), and every 4 KiB page of it cost a
 * page fault in every call: ~130 per worker for an int8 top-k's 0.5 MiB of
 * query rows. Smaller than that: from malloc.
 */
void *big_alloc_scratch(size_t bytes);

/*
 * Gives back a block of big_alloc (NULL ok): blocks of BIG_ALLOC_HUGE bytes
 * and more are kept as spares, each counting its whole huge pages up to the
 * last one ever written (mincore: glibc's alignment slack past the asked
 * size, or a tail the caller never reached, would be fresh pages wherever
 * they went; a block never written is freed), up to BIG_ALLOC_SPARES of them and
 * BIG_ALLOC_SPARE_MAX bytes in all (smaller spares make room for a larger
 * block; none is dropped for a block that would not fit even then), and the
 * next big_alloc of a spare's size or up to a fifth less takes the smallest
 * that fits, its pages mapped and warm. A big_alloc that no spare fits takes
 * the last pages of the largest spare, when that is larger than it (the
 * spare stays one of the pages before them), or else the pages of the
 * spares smaller than it, the largest first while they fit, and the rest
 * from the end of the largest spare larger than that rest (mremap moves them
 * into the new block, which is fresh only past them; where the kernel
 * cannot, as under valgrind, the spares stay): after a matching call of one
 * shape, one of another shape (an fp32 top-k, then an int8 one: its B
 * panels, 40 MiB, give the int8 call's blocks their pages) or a task of
 * another kind. The largest spare goes first because it was most likely
 * written whole (a side's rows or panels), where the smaller ones are often
 * scratch whose last pages were never touched: those are fresh again
 * wherever they are moved (4 KiB page faults, ~12 us each on a VM).
 * Fresh memory costs its first touch: on the build
 * machine (a VM) ~2 ms of CPU per MiB the hypervisor had not mapped, 80 ms
 * for a clustering's 40 MB of rows, as long as reading them from MariaDB.
 * So an idle process holds at most BIG_ALLOC_SPARE_MAX this way. A block
 * from big_alloc holds whatever was left in it (it is filled right away).
 * 160 MiB in 24 spares: a clustering gives back its rows (40 MiB), its int8
 * rows and panels (10 + 10) and its cursor's block (4), and a spare may
 * count 2 MiB of glibc's alignment slack more than it holds (the rows
 * counted 42 in the scheduler, and at 64 MiB the cursor's block was dropped
 * for them); a cross match of 20,000 x 20,000 its two blocks (40 + 40: at
 * 72 MiB one of them was fresh memory for every task, ~15 ms of CPU while
 * the rows come in), its result's text and hit ids (8 + 4), and its top-k's
 * int8 rows and panels (10 + 10) and scratch (six blocks of 4 per worker:
 * fresh, ~25 ms of CPU per task).
 */
#define BIG_ALLOC_SPARES 24
#define BIG_ALLOC_SPARE_MAX ((size_t)160 << 20)
void big_free_warm(void *p);

/*
 * Gives every spare of big_free_warm back to the system (free(); after
 * big_alloc_init their pages are unmapped) and returns the bytes they
 * counted: what an idle process calls so that it does not hold
 * BIG_ALLOC_SPARE_MAX for good (the scheduler after [SCHEDULER]
 * SPARES_IDLE_S without a task). Safe while other threads call big_alloc
 * and big_free_warm: the blocks are freed outside the spares' lock.
 */
size_t big_alloc_release_spares(void);

/* The bytes the spares count now, and (blocks not NULL) how many they are. */
size_t big_alloc_spare_bytes(int *blocks);

/*
 * Has the pages of [p, p + bytes) of a big_alloc block mapped now, without
 * changing what they hold (MADV_POPULATE_WRITE; advice only: nothing
 * happens where the kernel lacks it), so that a thread with nothing else to
 * do takes the page faults of memory that another thread fills later: the
 * first touch of fresh memory zeroes it in the kernel, ~1.5 ms per MiB of
 * pages the hypervisor had not mapped yet on the build machine. Safe while
 * another thread writes into the range.
 */
void big_alloc_prefault(void *p, size_t bytes);

/*
 * Once at the start of a process that allocates and frees large blocks over
 * and over (the scheduler: a candidate block's buffers per matching call),
 * before it starts threads: every allocation from BIG_ALLOC_HUGE bytes on is
 * mapped by itself and unmapped at free. Left alone, glibc raises that
 * threshold to the size of each large block freed (up to 32 MiB), after
 * which such blocks come from the heaps of the threads' malloc arenas, where
 * freed memory stays resident: the scheduler's peak RSS grew with the
 * number of candidates a cross match streamed (247-327 MB at 200,000
 * candidates, 525 MB at 1,000,000) although its buffers are of fixed size.
 * Each malloc arena keeps up to BIG_ALLOC_TRIM bytes of freed memory mapped
 * (glibc: 128 KiB once the mmap threshold is fixed), so that a task's
 * smaller arrays (ids, statistics, tile buffers, the result's text) are
 * warm for the next task: a clustering took ~570 page faults (~14 us of CPU
 * each on a VM) on memory the one before had given back, now < 20.
 */
#define BIG_ALLOC_TRIM ((size_t)8 << 20)
void big_alloc_init(void);

#endif
