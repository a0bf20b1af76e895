/* A strict JSON syntax check (see json_text.h). json-c's tokener, even in
 * strict mode, takes raw control characters in strings, NaN and Infinity, and
 * UTF-8 that is overlong or encodes surrogates; this pass runs first so that
 * only real JSON reaches it. One forward scan, no allocation: containers are
 * tracked in a fixed stack of JSON_TEXT_MAX_DEPTH entries. */
#include "common/json_text.h"
#include <string.h>

struct scan {
	const unsigned char *p, *end;
	const char *why;
};

static int fail(struct scan *sc, const char *why)
{
	sc->why = why;
	return -1;
}

static void skip_ws(struct scan *sc)
{
	while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\n' || *sc->p == '\r'))
		sc->p++;
}

/* One UTF-8 sequence of a code point ≥ 0x80 at sc->p (well-formed per RFC 3629 table 3.7). */
static int utf8_char(struct scan *sc)
{
	const unsigned char *p = sc->p;
	size_t left = (size_t)(sc->end - p), n;
	unsigned char lo = 0x80, hi = 0xBF;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		n = 2;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
		n = 3;
		if (p[0] == 0xE0)
			lo = 0xA0;          /* shorter forms are overlong */
		else if (p[0] == 0xED)
			hi = 0x9F;          /* U+D800..U+DFFF are surrogates */
	} else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
		n = 4;
		if (p[0] == 0xF0)
			lo = 0x90;
		else if (p[0] == 0xF4)
			hi = 0x8F;          /* above U+10FFFF */
	} else
		return fail(sc, "invalid UTF-8");
	if (left < n || p[1] < lo || p[1] > hi)
		return fail(sc, "invalid UTF-8");
	for (size_t i = 2; i < n; i++)
		if ((p[i] & 0xC0) != 0x80)
			return fail(sc, "invalid UTF-8");
	sc->p += n;
	return 0;
}

static int hex4(struct scan *sc, unsigned *v)
{
	*v = 0;
	if (sc->end - sc->p < 4)
		return fail(sc, "incomplete \\u escape");
	for (int i = 0; i < 4; i++) {
		unsigned c = *sc->p++, d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			d = (c | 0x20) - 'a' + 10;
		else
			return fail(sc, "bad \\u escape");
		*v = *v << 4 | d;
	}
	return 0;
}

/* A \u escape after the backslash and 'u'; surrogates must come in pairs. */
static int unicode_escape(struct scan *sc)
{
	unsigned v, low;
	if (hex4(sc, &v))
		return -1;
	if (v >= 0xDC00 && v <= 0xDFFF)
		return fail(sc, "unpaired surrogate escape");
	if (v < 0xD800 || v > 0xDBFF)
		return 0;
	if (sc->end - sc->p < 2 || sc->p[0] != '\\' || sc->p[1] != 'u')
		return fail(sc, "unpaired surrogate escape");
	sc->p += 2;
	if (hex4(sc, &low))
		return -1;
	return low >= 0xDC00 && low <= 0xDFFF ? 0 : fail(sc, "unpaired surrogate escape");
}

/* A string, sc->p at the opening quote. */
static int string(struct scan *sc)
{
	sc->p++;
	while (sc->p < sc->end) {
		unsigned char c = *sc->p;
		if (c == '"') {
			sc->p++;
			return 0;
		}
		if (c < 0x20)
			return fail(sc, "control character in a string");
		if (c >= 0x80) {
			if (utf8_char(sc))
				return -1;
			continue;
		}
		sc->p++;
		if (c != '\\')
			continue;
		if (sc->p == sc->end)
			break;
		c = *sc->p++;
		if (c == 'u') {
			if (unicode_escape(sc))
				return -1;
		} else if (!strchr("\"\\/bfnrt", c) || c == '\0') {
			sc->p--;
			return fail(sc, "bad escape");
		}
	}
	return fail(sc, "unterminated string");
}

static int digits(struct scan *sc)
{
	const unsigned char *start = sc->p;
	while (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9')
		sc->p++;
	return sc->p > start ? 0 : fail(sc, "bad number");
}

static int number(struct scan *sc)
{
	if (*sc->p == '-')
		sc->p++;
	if (sc->p < sc->end && *sc->p == '0') {
		sc->p++;
		if (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9')
			return fail(sc, "leading zero in a number");
	} else if (digits(sc)) {
		return -1;
	}
	if (sc->p < sc->end && *sc->p == '.') {
		sc->p++;
		if (digits(sc))
			return -1;
	}
	if (sc->p < sc->end && (*sc->p == 'e' || *sc->p == 'E')) {
		sc->p++;
		if (sc->p < sc->end && (*sc->p == '+' || *sc->p == '-'))
			sc->p++;
		if (digits(sc))
			return -1;
	}
	return 0;
}

static int literal(struct scan *sc)
{
	static const char *const words[] = {"true", "false", "null"};
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(words[i]);
		if ((size_t)(sc->end - sc->p) >= n && memcmp(sc->p, words[i], n) == 0) {
			sc->p += n;
			return 0;
		}
	}
	return fail(sc, "unexpected character");
}

/* A scalar value, or the opening bracket of a container (*opened set). */
static int value_start(struct scan *sc, char *opened)
{
	*opened = 0;
	if (sc->p == sc->end)
		return fail(sc, "unexpected end");
	unsigned char c = *sc->p;
	if (c == '{' || c == '[') {
		*opened = (char)c;
		sc->p++;
		return 0;
	}
	if (c == '"')
		return string(sc);
	if (c == '-' || (c >= '0' && c <= '9'))
		return number(sc);
	return literal(sc);
}

int json_text_check(const char *s, size_t len, size_t *where, const char **why)
{
	struct scan sc = {(const unsigned char *)s, (const unsigned char *)s + len, NULL};
	char stack[JSON_TEXT_MAX_DEPTH];
	size_t depth = 0;
	int rc = -1;
	skip_ws(&sc);
	for (;;) {
		char opened;
		/* A value is expected here (after '[', ',' or ':', or at the start). */
		if (value_start(&sc, &opened))
			goto out;
		if (opened) {
			if (depth == JSON_TEXT_MAX_DEPTH) {
				fail(&sc, "nested too deeply");
				goto out;
			}
			stack[depth++] = opened;
			skip_ws(&sc);
			if (sc.p < sc.end && *sc.p == (opened == '{' ? '}' : ']')) {
				sc.p++;
				depth--;
			} else if (opened == '{') {
				goto key;
			} else {
				continue;
			}
		}
		/* After a value: ',' or the end of the container, or the end of the text. */
		for (;;) {
			skip_ws(&sc);
			if (depth == 0) {
				rc = sc.p == sc.end ? 0 : fail(&sc, "text after the value");
				goto out;
			}
			char close = stack[depth - 1] == '{' ? '}' : ']';
			if (sc.p < sc.end && *sc.p == close) {
				sc.p++;
				depth--;
				continue;
			}
			if (sc.p == sc.end || *sc.p != ',') {
				fail(&sc, "expected ',' or the end of the container");
				goto out;
			}
			sc.p++;
			skip_ws(&sc);
			if (stack[depth - 1] == '{')
				goto key;
			break;
		}
		continue;
key:
		if (sc.p == sc.end || *sc.p != '"') {
			fail(&sc, "expected a member name");
			goto out;
		}
		if (string(&sc))
			goto out;
		skip_ws(&sc);
		if (sc.p == sc.end || *sc.p != ':') {
			fail(&sc, "expected ':'");
			goto out;
		}
		sc.p++;
		skip_ws(&sc);
	}
out:
	if (where)
		*where = (size_t)(sc.p - (const unsigned char *)s);
	if (why)
		*why = rc ? sc.why : NULL;
	return rc;
}
