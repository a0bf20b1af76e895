/* query.h - parse an URL query string into decoded name/value pairs. */
#ifndef LUNA_COMMON_QUERY_H
#define LUNA_COMMON_QUERY_H

#include <stddef.h>

struct query_param {
	char *name;
	char *value;
};

struct query {
	size_t n;
	struct query_param *p;
};

/*
 * Splits qs (without the leading '?'; NULL or "" gives no parameters) on '&',
 * decodes %XX escapes and '+' (a space) in names and values. A piece without '='
 * has the value "". Empty pieces are skipped; duplicates are kept in order.
 * Returns 0, or -1 on a malformed %-escape, an escape decoding to NUL, or out of
 * memory; *out is then empty.
 */
int query_parse(const char *qs, struct query *out);

/* The value of the first parameter with this name, or NULL. */
const char *query_get(const struct query *q, const char *name);

/* Frees the parameters and empties *q (NULL ok). */
void query_free(struct query *q);

#endif
