/* Arena: memory with a lifetime (one per FastCGI request, one per subtask).
 * Allocations are never freed one by one; cleanups registered with
 * arena_defer() run in reverse order when the arena is destroyed. */
#ifndef LUNA_ARENA_H
#define LUNA_ARENA_H
#include <stddef.h>
#include <stdarg.h>

struct arena;
typedef void (*arena_cleanup_fn)(void *ptr);

struct arena *arena_new(void);
void arena_free(struct arena *a);                 /* NULL ok */
void *arena_alloc(struct arena *a, size_t n);     /* zeroed; aborts on OOM */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vprintf(struct arena *a, const char *fmt, va_list ap);
/* Run fn(ptr) when the arena dies; ptr NULL is ignored. Returns ptr. */
void *arena_defer(struct arena *a, arena_cleanup_fn fn, void *ptr);
#endif
