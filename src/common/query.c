/* query.c - URL query-string parsing (percent-decoding, '+' as space). */
#include "common/query.h"
#include "common/encoding.h"

#include <stdlib.h>
#include <string.h>

/* Decodes s[0..len) into a new string; NULL on a bad escape, NUL byte or OOM. */
static char *decode(const char *s, size_t len)
{
	char *out = malloc(len + 1), *w = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i < len; i++) {
		if (s[i] == '+') {
			*w++ = ' ';
		} else if (s[i] == '%') {
			int hi = i + 2 < len ? hex_digit_value((unsigned char)s[i + 1]) : -1;
			int lo = hi < 0 ? -1 : hex_digit_value((unsigned char)s[i + 2]);

			if (lo < 0 || (hi == 0 && lo == 0))
				goto fail;
			*w++ = (char)(hi * 16 + lo);
			i += 2;
		} else {
			*w++ = s[i];
		}
	}
	*w = '\0';
	return out;
fail:
	free(out);
	return NULL;
}

static int add_param(struct query *q, const char *piece, size_t len)
{
	const char *eq = memchr(piece, '=', len);
	size_t nlen = eq ? (size_t)(eq - piece) : len;
	struct query_param *np;
	char *name, *value;

	name = decode(piece, nlen);
	value = eq ? decode(eq + 1, len - nlen - 1) : decode("", 0);
	if (!name || !value)
		goto fail;
	np = realloc(q->p, (q->n + 1) * sizeof(*np));
	if (!np)
		goto fail;
	q->p = np;
	q->p[q->n].name = name;
	q->p[q->n].value = value;
	q->n++;
	return 0;
fail:
	free(name);
	free(value);
	return -1;
}

int query_parse(const char *qs, struct query *out)
{
	const char *piece, *amp;
	size_t len;
	int rc = 0;

	out->n = 0;
	out->p = NULL;
	for (piece = qs; piece && *piece; piece = amp ? amp + 1 : NULL) {
		amp = strchr(piece, '&');
		len = amp ? (size_t)(amp - piece) : strlen(piece);
		if (!len)
			continue;
		rc = add_param(out, piece, len);
		if (rc)
			break;
	}
	if (rc)
		query_free(out);
	return rc;
}

const char *query_get(const struct query *q, const char *name)
{
	size_t i;

	if (!q || !name)
		return NULL;
	for (i = 0; i < q->n; i++)
		if (!strcmp(q->p[i].name, name))
			return q->p[i].value;
	return NULL;
}

void query_free(struct query *q)
{
	size_t i;

	if (!q)
		return;
	for (i = 0; i < q->n; i++) {
		free(q->p[i].name);
		free(q->p[i].value);
	}
	free(q->p);
	q->p = NULL;
	q->n = 0;
}
