/* json_path.h - the JSON path of a walk over a body, kept as segments and
 * printed only when an error names it: a walk over a roc markup visits
 * 60,000 nodes, and printing each one's path cost more than the walk.
 * The task limits' and the account rule's walks and the schema validator use it. */
#ifndef LUNA_COMMON_JSON_PATH_H
#define LUNA_COMMON_JSON_PATH_H
#include <stddef.h>

/* Deeper than any parser of the service allows (JSON_TEXT_MAX_DEPTH). */
#define JSON_PATH_MAX_DEPTH 128

struct json_path {
	const char *prefix;        /* dot-joined text the path starts with; "" for none */
	size_t depth;
	struct {
		const char *key;   /* NULL: the array index idx */
		size_t idx;
	} seg[JSON_PATH_MAX_DEPTH];
};

void json_path_init(struct json_path *p, const char *prefix);
/* 0, or -1 when the path is JSON_PATH_MAX_DEPTH deep already (nothing pushed). */
int json_path_push_key(struct json_path *p, const char *key);
int json_path_push_index(struct json_path *p, size_t idx);
void json_path_pop(struct json_path *p);
/* Whether the dot-joined path is exactly text. */
int json_path_is(const struct json_path *p, const char *text);
/* The dot-joined path into out (truncated to outlen - 1 bytes, as snprintf); returns out.
 * Leading empty keys take no dot: {"": {"a": ...}} without a prefix is "a". */
char *json_path_text(const struct json_path *p, char *out, size_t outlen);
/* The validator's form of it (its error paths): a dot between any two segments ({"": {"a": ...}}
 * is ".a"), and a truncated text ends in "..." cut at a UTF-8 character boundary. */
char *json_path_text_ellipsis(const struct json_path *p, char *out, size_t outlen);
#endif
