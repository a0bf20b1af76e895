/* SQL text and parameters growing in an arena (see sql_build.h). Both grow
 * by doubling, so a clause or a value costs amortised constant time. */
#include "common/sql_build.h"
#include <string.h>

void sql_build_init(struct sql_build *b, struct arena *a, const char *start)
{
	memset(b, 0, sizeof(*b));
	b->a = a;
	b->sql = "";
	sql_build_text(b, start);
}

void sql_build_text(struct sql_build *b, const char *s)
{
	size_t n = strlen(s);
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2 + 64;
		char *grown = arena_alloc(b->a, cap);
		memcpy(grown, b->sql, b->len);
		b->sql = grown;
		b->cap = cap;
	}
	memcpy(b->sql + b->len, s, n + 1);
	b->len += n;
}

void sql_build_params(struct sql_build *b, const struct db_param *p, size_t np)
{
	if (np == 0)
		return;
	if (b->np + np > b->pcap) {
		size_t cap = (b->np + np) * 2 + 16;
		struct db_param *grown = arena_alloc(b->a, cap * sizeof(*grown));
		if (b->np)
			memcpy(grown, b->p, b->np * sizeof(*grown));
		b->p = grown;
		b->pcap = cap;
	}
	memcpy(b->p + b->np, p, np * sizeof(*p));
	b->np += np;
}

void sql_build_param(struct sql_build *b, struct db_param p)
{
	sql_build_params(b, &p, 1);
}
