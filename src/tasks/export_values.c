/* Values of the reporter's and exporter's rows as the result files show them
 * (see export_values.h): JSON documents and id lists as Python literals,
 * doubles as Python floats, times in RFC 3339 in the configured zone. */
#include "tasks/export_values.h"
#include "common/encoding.h"
#include "common/pyrepr.h"
#include "common/timefmt.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JSON_DEPTH_MAX 64
#define ZONE_BUCKET_S 900          /* UTC offsets change only on quarter hours */

/* ---- Python literals -------------------------------------------------------------- */

/* repr() of a float given as its value. */
static void py_float(struct csv_buf *out, double v)
{
	char buf[PY_FLOAT_MAX];
	csv_buf_put(out, buf, py_float_repr(v, buf));
}

/* repr() of a float given as a decimal text (see py_decimal_repr): 0 done,
 * -1 the caller converts. */
static int py_float_text(struct csv_buf *out, const char *s, size_t n)
{
	char buf[PY_FLOAT_MAX];
	size_t len = py_decimal_repr(s, n, buf);
	if (len == 0)
		return -1;
	csv_buf_put(out, buf, len);
	return 0;
}

/* Code points that Python's repr() escapes although they are not ASCII controls. */
static int py_unprintable(unsigned cp)
{
	return (cp >= 0x7f && cp <= 0xa0) || cp == 0xad || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200f) ||
	       (cp >= 0x2028 && cp <= 0x202f) || (cp >= 0x205f && cp <= 0x2064) || cp == 0x3000 ||
	       (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfeff;
}

/* Decodes one UTF-8 sequence (lone surrogates included); a bad byte is taken as itself. */
static size_t utf8_next(const unsigned char *s, size_t n, unsigned *cp)
{
	unsigned c = s[0];
	size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
	if (len == 0 || len > n) {
		*cp = c;
		return 1;
	}
	unsigned v = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*cp = c;
			return 1;
		}
		v = (v << 6) | (s[i] & 0x3f);
	}
	*cp = v;
	return len;
}

/* repr() of a str given as UTF-8. */
static void py_str(struct csv_buf *out, const char *s, size_t n)
{
	char quote = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
	char esc[12];
	csv_buf_putc(out, quote);
	for (size_t i = 0; i < n;) {
		size_t run = i;
		while (run < n && s[run] >= 0x20 && s[run] < 0x7f && s[run] != quote && s[run] != '\\')
			run++;
		if (run > i) {
			csv_buf_put(out, s + i, run - i);   /* plain ASCII as it is */
			i = run;
			continue;
		}
		unsigned cp;
		size_t len = utf8_next((const unsigned char *)s + i, n - i, &cp);
		const char *e = NULL;
		if (cp == (unsigned char)quote || cp == '\\') {
			esc[0] = '\\';
			esc[1] = (char)cp;
			esc[2] = '\0';
			e = esc;
		} else if (cp == '\n' || cp == '\r' || cp == '\t') {
			e = cp == '\n' ? "\\n" : cp == '\r' ? "\\r" : "\\t";
		} else if (cp < 0x20 || py_unprintable(cp) || (len == 1 && cp >= 0x80)) {
			snprintf(esc, sizeof(esc), cp <= 0xff ? "\\x%02x" : "\\u%04x", cp);
			e = esc;
		}
		if (e)
			csv_buf_put(out, e, strlen(e));
		else
			csv_buf_put(out, s + i, len);
		i += len;
	}
	csv_buf_putc(out, quote);
}

static void utf8_put(struct csv_buf *b, unsigned cp)
{
	char u[4];
	if (cp < 0x80) {
		csv_buf_putc(b, (char)cp);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		csv_buf_put(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		csv_buf_put(b, u, 3);
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		csv_buf_put(b, u, 4);
	}
}

/* A JSON document rewritten as the Python literal of the value it holds. */
struct py_writer {
	const char *p, *end;
	struct csv_buf *out, *text;    /* text: a decoded string */
	int depth;
};

static void py_skip_ws(struct py_writer *w)
{
	while (w->p < w->end && (*w->p == ' ' || *w->p == '\t' || *w->p == '\n' || *w->p == '\r'))
		w->p++;
}

static int hex4(const char *p, const char *end, unsigned *v)
{
	*v = 0;
	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int d = hex_digit_value((unsigned char)p[i]);
		if (d < 0)
			return -1;
		*v = *v * 16 + (unsigned)d;
	}
	return 0;
}

/* \uXXXX at w->p (after the backslash and u), with a following low surrogate. */
static int py_unicode_escape(struct py_writer *w, unsigned *cp)
{
	if (hex4(w->p, w->end, cp))
		return -1;
	w->p += 4;
	unsigned lo;
	if (*cp >= 0xd800 && *cp < 0xdc00 && w->end - w->p >= 6 && w->p[0] == '\\' && w->p[1] == 'u' &&
	    hex4(w->p + 2, w->end, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
		*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
		w->p += 6;
	}
	return 0;
}

static int py_string(struct py_writer *w)
{
	struct csv_buf *t = w->text;
	t->len = 0;
	w->p++;
	while (w->p < w->end && *w->p != '"') {
		const char *run = w->p;
		while (run < w->end && *run != '"' && *run != '\\')
			run++;
		if (run > w->p) {
			csv_buf_put(t, w->p, (size_t)(run - w->p));
			w->p = run;
			continue;
		}
		w->p++;   /* the backslash */
		if (w->p >= w->end)
			return -1;
		char c = *w->p++;
		const char *simple = strchr("\"\\/bfnrt", c);
		if (simple && c) {
			static const char decoded[] = "\"\\/\b\f\n\r\t";
			csv_buf_putc(t, decoded[simple - "\"\\/bfnrt"]);
		} else if (c == 'u') {
			unsigned cp;
			if (py_unicode_escape(w, &cp))
				return -1;
			utf8_put(t, cp);
		} else {
			return -1;
		}
	}
	if (w->p >= w->end)
		return -1;
	w->p++;
	py_str(w->out, t->p ? t->p : "", t->len);
	return 0;
}

/* Integers as written; numbers with a fraction or an exponent as Python floats. */
static int py_number(struct py_writer *w)
{
	const char *start = w->p;
	int is_float = 0;
	while (w->p < w->end && strchr("+-0123456789.eE", *w->p) && *w->p) {
		is_float |= *w->p == '.' || *w->p == 'e' || *w->p == 'E';
		w->p++;
	}
	size_t n = (size_t)(w->p - start);
	if (n == 0 || n > 64)
		return -1;
	if (!is_float) {
		csv_buf_put(w->out, start, n);
		return 0;
	}
	if (py_float_text(w->out, start, n) == 0)
		return 0;
	char num[65];
	memcpy(num, start, n);
	num[n] = '\0';
	char *endp;
	double v = strtod(num, &endp);
	if (*endp)
		return -1;
	py_float(w->out, v);
	return 0;
}

static int py_word(struct py_writer *w, const char *json, const char *py)
{
	size_t n = strlen(json);
	if ((size_t)(w->end - w->p) < n || memcmp(w->p, json, n) != 0)
		return -1;
	w->p += n;
	csv_buf_put(w->out, py, strlen(py));
	return 0;
}

static int py_value(struct py_writer *w);

/* An array ("[a, b]") or an object ("{'k': v}"): items separated by ", ". */
static int py_container(struct py_writer *w, char close, int is_object)
{
	int first = 1;
	csv_buf_putc(w->out, is_object ? '{' : '[');
	w->p++;
	py_skip_ws(w);
	if (w->p < w->end && *w->p == close) {
		w->p++;
		csv_buf_putc(w->out, close);
		return 0;
	}
	for (;;) {
		if (!first)
			csv_buf_put(w->out, ", ", 2);
		first = 0;
		py_skip_ws(w);
		if (is_object) {
			if (w->p >= w->end || *w->p != '"' || py_string(w))
				return -1;
			py_skip_ws(w);
			if (w->p >= w->end || *w->p != ':')
				return -1;
			w->p++;
			csv_buf_put(w->out, ": ", 2);
		}
		if (py_value(w))
			return -1;
		py_skip_ws(w);
		if (w->p < w->end && *w->p == ',') {
			w->p++;
			continue;
		}
		if (w->p < w->end && *w->p == close) {
			w->p++;
			csv_buf_putc(w->out, close);
			return 0;
		}
		return -1;
	}
}

static int py_value(struct py_writer *w)
{
	int rc;
	py_skip_ws(w);
	if (w->p >= w->end || ++w->depth > JSON_DEPTH_MAX)
		return -1;
	switch (*w->p) {
	case '{':
		rc = py_container(w, '}', 1);
		break;
	case '[':
		rc = py_container(w, ']', 0);
		break;
	case '"':
		rc = py_string(w);
		break;
	case 't':
		rc = py_word(w, "true", "True");
		break;
	case 'f':
		rc = py_word(w, "false", "False");
		break;
	case 'n':
		rc = py_word(w, "null", "None");
		break;
	default:
		rc = py_number(w);
		break;
	}
	w->depth--;
	return rc;
}

void export_render_json(struct csv_buf *out, struct csv_buf *text, const char *s, size_t n)
{
	struct py_writer w = {s, s + n, out, text, 0};
	size_t start = out->len;
	py_skip_ws(&w);
	if (w.end - w.p == 4 && memcmp(w.p, "null", 4) == 0)
		return;
	if (py_value(&w) == 0) {
		py_skip_ws(&w);
		if (w.p == w.end)
			return;
	}
	out->len = start;
	csv_buf_put(out, s, n);
}

void export_render_double(struct csv_buf *out, const char *s, size_t n)
{
	if (py_float_text(out, s, n))
		py_float(out, strtod(s, NULL));
}

void export_render_id_list(struct csv_buf *out, const char *s, size_t n)
{
	csv_buf_putc(out, '[');
	for (size_t i = 0; s && i < n;) {
		const char *comma = memchr(s + i, ',', n - i);
		size_t len = comma ? (size_t)(comma - (s + i)) : n - i;
		if (i)
			csv_buf_put(out, ", ", 2);
		py_str(out, s + i, len);
		i += len + 1;
	}
	csv_buf_putc(out, ']');
}

/* ---- Times -------------------------------------------------------------------------- */

static int parse_digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* n decimal digits of v (0 <= v < 10^n) at *p. */
static void put_digits(char **p, int v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		(*p)[i] = (char)('0' + v % 10);
		v /= 10;
	}
	*p += n;
}

/* UTC offset of the configured zone at t, remembered per quarter hour. */
static long zone_offset(struct export_zone *z, int64_t t)
{
	if (!z->local)
		return 0;
	int64_t bucket = t >= 0 ? t / ZONE_BUCKET_S : -((-t + ZONE_BUCKET_S - 1) / ZONE_BUCKET_S);
	if (bucket != z->bucket) {
		struct tm tm;
		time_t tt = (time_t)t;
		localtime_r(&tt, &tm);
		z->offset = tm.tm_gmtoff;
		z->bucket = bucket;
	}
	return z->offset;
}

void export_render_time(struct csv_buf *out, struct export_zone *z, const char *s, size_t n)
{
	int y, mo, d, h, mi, se;
	char frac[7] = "000000", buf[48];
	if (n < 19 || parse_digits(s, 4, &y) || parse_digits(s + 5, 2, &mo) || parse_digits(s + 8, 2, &d) ||
	    parse_digits(s + 11, 2, &h) || parse_digits(s + 14, 2, &mi) || parse_digits(s + 17, 2, &se) || mo < 1 ||
	    mo > 12) {
		csv_buf_put(out, s, n);
		return;
	}
	for (size_t i = 20; n > 19 && s[19] == '.' && i < n && i < 26; i++)
		frac[i - 20] = s[i];
	int64_t t = time_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
	long off = zone_offset(z, t), aoff = off < 0 ? -off : off;
	int64_t lt = t + off, days = lt >= 0 ? lt / 86400 : -((-lt + 86399) / 86400);
	int64_t secs = lt - days * 86400;
	time_civil_from_days(days, &y, &mo, &d);
	char *p = buf;
	put_digits(&p, y, 4);
	*p++ = '-';
	put_digits(&p, mo, 2);
	*p++ = '-';
	put_digits(&p, d, 2);
	*p++ = 'T';
	put_digits(&p, (int)(secs / 3600), 2);
	*p++ = ':';
	put_digits(&p, (int)(secs / 60 % 60), 2);
	*p++ = ':';
	put_digits(&p, (int)(secs % 60), 2);
	*p++ = '.';
	memcpy(p, frac, 6);
	p += 6;
	*p++ = off < 0 ? '-' : '+';
	put_digits(&p, (int)(aoff / 3600), 2);
	*p++ = ':';
	put_digits(&p, (int)(aoff % 3600 / 60), 2);
	size_t len = (size_t)(p - buf);
	csv_buf_put(out, buf, len);
}
