/* json_text.h - a strict check of JSON text before it is parsed. */
#ifndef LUNA_COMMON_JSON_TEXT_H
#define LUNA_COMMON_JSON_TEXT_H

#include <stddef.h>

#define JSON_TEXT_MAX_DEPTH 64

/*
 * 0 when the len bytes of s are one JSON text by RFC 8259 and I-JSON (RFC 7493):
 * whitespace around one value; strings of well-formed UTF-8 (no overlong forms,
 * no surrogates, nothing above U+10FFFF) without raw control characters, whose
 * \u escapes pair surrogates correctly; numbers without leading zeros; only the
 * literals true, false and null; at most JSON_TEXT_MAX_DEPTH nested containers.
 * -1 otherwise, with *where (if not NULL) the offset of the first bad byte and
 * *why a static reason.
 */
int json_text_check(const char *s, size_t len, size_t *where, const char **why);

#endif
