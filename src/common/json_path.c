/* The JSON path of a walk, printed on demand (see json_path.h). */
#include "common/json_path.h"
#include "common/sbuf.h"
#include <stdio.h>
#include <string.h>

void json_path_init(struct json_path *p, const char *prefix)
{
	p->prefix = prefix ? prefix : "";
	p->depth = 0;
}

int json_path_push_key(struct json_path *p, const char *key)
{
	if (p->depth >= JSON_PATH_MAX_DEPTH)
		return -1;
	p->seg[p->depth].key = key;
	p->seg[p->depth].idx = 0;
	p->depth++;
	return 0;
}

int json_path_push_index(struct json_path *p, size_t idx)
{
	if (p->depth >= JSON_PATH_MAX_DEPTH)
		return -1;
	p->seg[p->depth].key = NULL;
	p->seg[p->depth].idx = idx;
	p->depth++;
	return 0;
}

void json_path_pop(struct json_path *p)
{
	if (p->depth)
		p->depth--;
}

/* Segment i as text: its key, or its index printed into num. */
static const char *segment(const struct json_path *p, size_t i, char num[24])
{
	if (p->seg[i].key)
		return p->seg[i].key;
	snprintf(num, 24, "%zu", p->seg[i].idx);
	return num;
}

/* Compares the next piece of the path (after a dot unless it starts the text) with text at
 * *at; 0 and *at moved past it if equal. */
static int match_piece(const char *piece, const char *text, size_t *at)
{
	size_t n = strlen(piece);
	if (*at) {
		if (text[*at] != '.')
			return -1;
		(*at)++;
	}
	if (strncmp(text + *at, piece, n))
		return -1;
	*at += n;
	return 0;
}

int json_path_is(const struct json_path *p, const char *text)
{
	size_t at = 0;
	char num[24];
	if (match_piece(p->prefix, text, &at))
		return 0;
	for (size_t i = 0; i < p->depth; i++)
		if (match_piece(segment(p, i, num), text, &at))
			return 0;
	return text[at] == '\0';
}

/* The prefix and the segments into b, a dot before each segment where text precedes it, or
 * (dot_between) where a segment precedes it even if that segment is an empty key. */
static void write_path(const struct json_path *p, struct sbuf *b, int dot_between)
{
	char num[24];
	sb_puts(b, p->prefix);
	for (size_t i = 0; i < p->depth; i++) {
		if (b->len || (dot_between && i))
			sb_putc(b, '.');
		sb_puts(b, segment(p, i, num));
	}
}

char *json_path_text(const struct json_path *p, char *out, size_t outlen)
{
	struct sbuf b;
	sb_init(&b, out, outlen);
	write_path(p, &b, 0);
	return out;
}

char *json_path_text_ellipsis(const struct json_path *p, char *out, size_t outlen)
{
	struct sbuf b;
	sb_init(&b, out, outlen);
	write_path(p, &b, 1);
	sb_ellipsis(&b);
	return out;
}
