/* SQL text and its parameters under construction, both growing in an arena:
 * the WHERE clauses built from a client's filters (the API's query filters,
 * the objects filters), with no fixed number of clauses or values. The text
 * holds only SQL written by the program and '?'; every value is a parameter. */
#ifndef LUNA_SQL_BUILD_H
#define LUNA_SQL_BUILD_H
#include <stddef.h>
#include "common/arena.h"
#include "common/db.h"

struct sql_build {
	struct arena *a;
	char *sql;                 /* NUL-terminated, never NULL after sql_build_init */
	size_t len, cap;
	struct db_param *p;        /* p[0..np) for db_exec / db_stream */
	size_t np, pcap;
};

/* Starts with the text start ("" for none). */
void sql_build_init(struct sql_build *b, struct arena *a, const char *start);
/* Appends SQL text. */
void sql_build_text(struct sql_build *b, const char *s);
/* Appends parameters (for the '?' the text has or will have). */
void sql_build_params(struct sql_build *b, const struct db_param *p, size_t np);
void sql_build_param(struct sql_build *b, struct db_param p);
#endif
