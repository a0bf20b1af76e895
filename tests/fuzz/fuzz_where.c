/* fuzz_where.c - libFuzzer target for filters -> SQL (objects_where_build in
 * src/backends/objects_local_filters.c), for faces, events and attributes.
 *
 * Input: byte 0 selects the objects kind (low 2 bits, modulo 3) and whether
 * the task has an account (bit 2); the rest is the filter object as JSON.
 * Checked on every accepted filter: the SQL's '?' count equals nparams, the
 * SQL holds only structure (no quote, semicolon or other value characters),
 * and with an account the first clause is "o.account_id = ?" bound to it, so
 * no filter can drop or widen the account. A refused filter has a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "backends/objects_where.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TASK_ACCOUNT "7daa0e35-36a2-474a-8f2b-87f78b59d080"

static size_t count_marks(const char *sql)
{
	size_t n = 0;
	for (; *sql; sql++)
		n += *sql == '?';
	return n;
}

/* Letters, digits, blanks and the operators the builder writes. */
static int structure_only(const char *sql)
{
	for (; *sql; sql++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _.,()=<>?", *sql))
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum objects_kind kinds[3] = {OBJ_FACES, OBJ_EVENTS, OBJ_ATTRIBUTES};
	struct json_tokener *tok;
	struct objects_where w = {0};
	char err[512] = "";

	if (size < 1)
		return 0;
	enum objects_kind kind = kinds[(data[0] & 3) % 3];
	const char *account = (data[0] & 4) ? TASK_ACCOUNT : NULL;
	tok = json_tokener_new();
	if (!tok)
		return 0;
	json_object *filters = json_tokener_parse_ex(tok, (const char *)data + 1, (int)(size - 1));
	json_tokener_free(tok);

	struct arena *a = arena_new();
	if (objects_where_build(a, kind, filters, account, &w, err, sizeof(err))) {
		if (!err[0] || strnlen(err, sizeof(err)) == sizeof(err))
			abort();
	} else {
		if (!w.sql || count_marks(w.sql) != w.nparams || !structure_only(w.sql))
			abort();
		if (account && (strncmp(w.sql, "o.account_id = ?", 16) != 0 || w.nparams < 1 ||
				w.params[0].type != DB_T_STR || strcmp(w.params[0].s, account) != 0))
			abort();
	}
	arena_free(a);
	json_object_put(filters);
	return 0;
}
