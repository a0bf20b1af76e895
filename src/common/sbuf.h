/* sbuf.h - bounded text built into a caller's buffer: what does not fit is cut, and
 * sb_ellipsis marks the cut with "..." (the schema engine's messages, json_path's text). */
#ifndef LUNA_COMMON_SBUF_H
#define LUNA_COMMON_SBUF_H

#include <stddef.h>
#include <string.h>

struct sbuf {
	char *p;
	size_t len, cap;	/* cap includes the terminating NUL */
	int trunc;
};

static inline void sb_init(struct sbuf *b, char *p, size_t cap)
{
	b->p = p;
	b->cap = cap;
	b->len = 0;
	b->trunc = 0;
	if (cap)
		p[0] = '\0';
}

static inline void sb_putn(struct sbuf *b, const char *s, size_t n)
{
	size_t room;

	if (b->trunc || !b->cap)
		return;
	room = b->cap - 1 - b->len;
	if (n > room) {
		n = room;
		b->trunc = 1;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static inline void sb_puts(struct sbuf *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

static inline void sb_putc(struct sbuf *b, char c)
{
	sb_putn(b, &c, 1);
}

/* Marks a truncated buffer with "..." at a UTF-8 character boundary. */
static inline void sb_ellipsis(struct sbuf *b)
{
	size_t end;

	if (!b->trunc || b->cap < 5)
		return;
	end = b->len > b->cap - 4 ? b->cap - 4 : b->len;
	while (end > 0 && ((unsigned char)b->p[end] & 0xC0) == 0x80)
		end--;
	memcpy(b->p + end, "...", 4);
	b->len = end + 3;
}
#endif
