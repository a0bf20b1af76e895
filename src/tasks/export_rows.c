/* Rows of the reporter and exporter tasks: layout, value rendering, a
 * subtask's part of the archive, and collecting the parts (see
 * export_rows.h).
 *
 * A part is two blobs of the result store named after the task and the
 * subtask (so a retried subtask replaces its own part): the rows as a
 * deflated CSV fragment, and, with save_images, an archive of the part's
 * images. The subtask's partial result only describes them (CRC-32, sizes,
 * row count), so the scheduler never holds rows in memory; collecting copies
 * the fragments and the images into the task's zip without recompressing.
 * Workload: up to millions of rows per task, a few microseconds per row. */
#include "tasks/export_rows.h"
#include "tasks/task_util.h"
#include "backends/storage.h"
#include "common/encoding.h"
#include "common/errors.h"
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define FLUSH_AT (1 << 16)         /* rows are compressed in pieces of about this size */
#define JSON_DEPTH_MAX 64
#define ZONE_BUCKET_S 900          /* UTC offsets change only on quarter hours */

/* ---- Layout --------------------------------------------------------------------- */

static const char *const event_export_defaults[] = {
	"event_id", "create_time", "external_id", "handler_id", "source", "top_match", "match_result",
	"face_detections", "face_id", "attach_result", "gender", "end_time", "age", "emotion", "ethnic_group",
	"tags", "user_data", "city", "area", "district", "street", "house_number", "geo_position",
	"body_detections", "mask", "track_id", "liveness", NULL};
static const char *const event_report_defaults[] = {
	"create_time", "external_id", "handler_id", "source", "top_match", "match_result", "face_detections",
	"face_id", "attach_result", "gender", "age", "emotion", "ethnic_group", "tags", "user_data", "city", "area",
	"district", "street", "house_number", "geo_position", "body_detections", "mask", "track_id", "liveness",
	"end_time", NULL};
static const char *const face_export_defaults[] = {"face_id", "user_data", "create_time", "external_id", "avatar",
						   "event_id", NULL};
static const char *const face_report_defaults[] = {"user_data", "create_time", "external_id", "avatar", "event_id",
						   NULL};

const char *const *export_default_columns(enum objects_kind kind, int reporter)
{
	if (kind == OBJ_EVENTS)
		return reporter ? event_report_defaults : event_export_defaults;
	return reporter ? face_report_defaults : face_export_defaults;
}

static const char *kind_noun(enum objects_kind kind)
{
	return kind == OBJ_EVENTS ? "event" : "face";
}

/* The reporter's lists leave out the object id: it is always the second column. */
static int column_allowed(enum objects_kind kind, int reporter, const char *name)
{
	if (!objects_export_column(kind, name))
		return 0;
	return !reporter || strcmp(name, kind == OBJ_EVENTS ? "event_id" : "face_id") != 0;
}

static int read_columns(struct arena *a, json_object *content, struct export_layout *L, struct task_fail *fail)
{
	json_object *given = task_json_get(content, "columns");
	const char *const *defaults = export_default_columns(L->kind, L->reporter);
	size_t n = 0;
	if (given && !json_object_is_type(given, json_type_array)) {
		task_fail_set(fail, 400, E_BAD_JSON,
			      "Failed to validate input json. Path: 'content.columns', message: 'must be an array'");
		return -1;
	}
	if (given)
		n = json_object_array_length(given);
	if (given && n == 0 && !L->reporter) {
		task_fail_set(fail, 400, E_BAD_JSON,
			      "Failed to validate input json. Path: 'content.columns', message: 'names no column'");
		return -1;
	}
	if (!given)
		while (defaults[n])
			n++;
	L->columns = arena_alloc(a, (n + 1) * sizeof(*L->columns));
	for (size_t i = 0; i < n; i++) {
		json_object *v = given ? json_object_array_get_idx(given, i) : NULL;
		const char *name = given ? (json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL)
					 : defaults[i];
		if (!name || !column_allowed(L->kind, L->reporter, name)) {
			task_fail_set(fail, 400, E_BAD_JSON,
				      "Failed to validate input json. Path: 'content.columns.%zu', message: '%s is not "
				      "a %s column of %s'",
				      i, name ? name : "this value", L->reporter ? "report" : "export",
				      L->kind == OBJ_EVENTS ? "events" : "faces");
			return -1;
		}
		L->columns[i] = objects_export_column(L->kind, name);
	}
	L->ncolumns = n;
	return 0;
}

int export_layout_read(struct arena *a, json_object *content, enum objects_kind kind, int reporter,
		       struct export_layout *L, struct task_fail *fail)
{
	memset(L, 0, sizeof(*L));
	if (kind != OBJ_EVENTS && kind != OBJ_FACES) {
		task_fail_set(fail, 400, E_BAD_JSON,
			      "Failed to validate input json. Path: 'content.objects_type', message: 'must be faces or "
			      "events'");
		return -1;
	}
	L->kind = kind;
	L->reporter = reporter;
	if (read_columns(a, content, L, fail))
		return -1;
	if (csv_format_init(&L->csv, task_json_str(content, "csv_delimiter", ","))) {
		task_fail_set(fail, 400, E_BAD_JSON,
			      "Failed to validate input json. Path: 'content.csv_delimiter', message: 'must be one "
			      "character other than a double quote, CR or LF'");
		return -1;
	}
	if (task_json_int(content, "save_images", 0))
		L->images = kind == OBJ_EVENTS ? task_descriptor_type(task_json_get(content, "descriptor"))
					       : DESCRIPTOR_FACE;
	return 0;
}

/* ---- Python literals -------------------------------------------------------------- */

/* Writes digits[0..nd) with the decimal point decpt places from the start
 * (value = 0.d1d2… × 10^decpt) as Python's repr() does: positional for
 * -4 < decpt <= 16, else scientific with at least two exponent digits. */
static void py_float_digits(struct csv_buf *out, const char *digits, size_t nd, int decpt)
{
	char buf[16];
	if (decpt > -4 && decpt <= 16) {
		if (decpt <= 0) {
			csv_buf_put(out, "0.", 2);
			for (int i = 0; i < -decpt; i++)
				csv_buf_putc(out, '0');
			csv_buf_put(out, digits, nd);
		} else if ((size_t)decpt < nd) {
			csv_buf_put(out, digits, (size_t)decpt);
			csv_buf_putc(out, '.');
			csv_buf_put(out, digits + decpt, nd - (size_t)decpt);
		} else {
			csv_buf_put(out, digits, nd);
			for (size_t i = nd; i < (size_t)decpt; i++)
				csv_buf_putc(out, '0');
			csv_buf_put(out, ".0", 2);
		}
		return;
	}
	csv_buf_putc(out, digits[0]);
	if (nd > 1) {
		csv_buf_putc(out, '.');
		csv_buf_put(out, digits + 1, nd - 1);
	}
	int exp10 = decpt - 1;
	int n = snprintf(buf, sizeof(buf), "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
	csv_buf_put(out, buf, (size_t)n);
}

/* repr() of a float: the shortest digits that read back the same. A double
 * whose shortest form has at most 15 digits is its 15-digit rounding without
 * trailing zeros; otherwise 16 or 17 digits are needed. */
static void py_float(struct csv_buf *out, double v)
{
	char buf[40], digits[20];
	if (isnan(v) || isinf(v)) {
		csv_buf_put(out, isnan(v) ? "nan" : v < 0 ? "-inf" : "inf", isnan(v) ? 3 : v < 0 ? 4 : 3);
		return;
	}
	if (signbit(v))
		csv_buf_putc(out, '-');
	v = fabs(v);
	if (v == 0) {
		csv_buf_put(out, "0.0", 3);
		return;
	}
	for (int prec = v < DBL_MIN ? 0 : 14; prec <= 16; prec++) {   /* subnormals have fewer digits */
		snprintf(buf, sizeof(buf), "%.*e", prec, v);
		if (prec == 16 || strtod(buf, NULL) == v)
			break;
	}
	/* buf = "d.ddde±x": split into digits and the exponent */
	size_t nd = 0;
	char *p = buf;
	for (; *p && *p != 'e'; p++)
		if (*p != '.')
			digits[nd++] = *p;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	py_float_digits(out, digits, nd, atoi(p + 1) + 1);
}

/* repr() of a float written in decimal without an exponent (JSON text, or a
 * DOUBLE the server rendered), straight from its digits when it has at most
 * 15 significant ones (then the text is the value's shortest form). 0 done,
 * -1 the caller converts. */
static int py_float_text(struct csv_buf *out, const char *s, size_t n)
{
	char digits[16];
	size_t nd = 0, i = 0;
	int decpt = 0, seen_point = 0, neg = 0;
	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	for (; i < n; i++) {
		char c = s[i];
		if (c == '.' && !seen_point) {
			seen_point = 1;
		} else if (c >= '0' && c <= '9') {
			if (nd == 0 && c == '0') {
				decpt -= seen_point;     /* a leading zero */
				continue;
			}
			if (nd == sizeof(digits))
				return -1;
			digits[nd++] = c;
			decpt += !seen_point;
		} else {
			return -1;
		}
	}
	if (nd == 0)
		return -1;                       /* zero: signs and forms vary; let the caller do it */
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	if (nd > 15)
		return -1;
	if (neg)
		csv_buf_putc(out, '-');
	py_float_digits(out, digits, nd, decpt);
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

/* The Python literal of a JSON document; text that is not JSON is kept as it is. */
static void render_json(struct csv_buf *out, struct csv_buf *text, const char *s, size_t n)
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

/* A DOUBLE as the server renders it (its shortest form) → repr(). */
static void render_double(struct csv_buf *out, const char *s, size_t n)
{
	if (py_float_text(out, s, n))
		py_float(out, strtod(s, NULL));
}

/* "a,b" → "['a', 'b']"; NULL → "[]". */
static void render_id_list(struct csv_buf *out, const char *s, size_t n)
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

static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

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
struct zone_cache {
	int local;
	int64_t bucket;
	long offset;
};

static long zone_offset(struct zone_cache *z, int64_t t)
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

/* "YYYY-MM-DD HH:MM:SS.ffffff" (UTC) → "YYYY-MM-DDTHH:MM:SS.ffffff+HH:MM". */
static void render_time(struct csv_buf *out, struct zone_cache *z, const char *s, size_t n)
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
	int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
	long off = zone_offset(z, t), aoff = off < 0 ? -off : off;
	int64_t lt = t + off, days = lt >= 0 ? lt / 86400 : -((-lt + 86399) / 86400);
	int64_t secs = lt - days * 86400;
	civil_from_days(days, &y, &mo, &d);
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

/* ---- A subtask's part -------------------------------------------------------------- */

struct export_part {
	struct task_ctx *ctx;
	const struct export_layout *L;
	struct task_fail *fail;
	struct csv_part csv;
	struct image_zip *images;
	struct csv_buf rows, value, text;
	struct zone_cache zone;
	size_t nrows, nmissing_images;
};

struct export_part *export_part_begin(struct task_ctx *ctx, const struct export_layout *L, struct task_fail *fail)
{
	char err[512];
	if (!ctx->store) {
		task_fail_set(fail, 500, E_STORAGE, "the result store is not available");
		return NULL;
	}
	struct export_part *p = calloc(1, sizeof(*p));
	if (!p) {
		task_fail_set(fail, 500, E_INTERNAL, "out of memory");
		return NULL;
	}
	p->ctx = ctx;
	p->L = L;
	p->fail = fail;
	p->zone.local = strcasecmp(ctx->cfg->time_zone, "UTC") != 0;
	p->zone.bucket = INT64_MIN;
	if (csv_part_open(&p->csv, err, sizeof(err)) ||
	    (L->images && !(p->images = image_zip_open(ctx->store, err, sizeof(err))))) {
		task_fail_set(fail, 500, E_STORAGE, "%s", err);
		export_part_abort(p);
		return NULL;
	}
	return p;
}

/* Renders one column (its cells start at cells[0]) into p->value. */
static void render_column(struct export_part *p, const struct export_column *c, char **cells, unsigned long *lens)
{
	struct csv_buf *v = &p->value;
	v->len = 0;
	switch (c->value) {
	case EXV_TEXT:
		if (cells[0])
			csv_buf_put(v, cells[0], lens[0]);
		break;
	case EXV_TIME:
		if (cells[0])
			render_time(v, &p->zone, cells[0], lens[0]);
		break;
	case EXV_JSON:
		if (cells[0])
			render_json(v, &p->text, cells[0], lens[0]);
		break;
	case EXV_ID_LIST:
		render_id_list(v, cells[0], cells[0] ? lens[0] : 0);
		break;
	case EXV_GEO:
		if (cells[0] && cells[1]) {
			render_double(v, cells[0], lens[0]);
			csv_buf_put(v, ", ", 2);
			render_double(v, cells[1], lens[1]);
		}
		break;
	}
}

static int flush_rows(struct export_part *p, int always)
{
	char err[512];
	if (!always && p->rows.len < FLUSH_AT)
		return 0;
	if (csv_part_write(&p->csv, p->rows.p, p->rows.len, err, sizeof(err))) {
		task_fail_set(p->fail, 500, E_STORAGE, "%s", err);
		return -1;
	}
	p->rows.len = 0;
	return 0;
}

/* The first fields: the cluster number and the object id (reporter only). */
static size_t lead_fields(struct export_part *p, long cluster, const char *id)
{
	char num[24];
	if (!p->L->reporter)
		return 0;
	int n = snprintf(num, sizeof(num), "%ld", cluster);
	csv_field(&p->rows, &p->L->csv, 1, num, (size_t)n);
	csv_field(&p->rows, &p->L->csv, 0, id, strlen(id));
	return 2;
}

/* A sample that cannot be read: a task error row when it is missing, a failure otherwise. */
static int image_unreadable(struct export_part *p, const char *object_id, const char *what, const char *blob)
{
	int err = errno;
	if (err == ENOENT || err == EINVAL) {
		p->nmissing_images++;
		task_report_error(p->ctx, E_OBJECTS_NOT_FOUND,
				  "Image of %s '%s' not found: %s '%s' is not in the result store", kind_noun(p->L->kind),
				  object_id, what, blob);
		return 0;
	}
	task_fail_set(p->fail, 500, E_STORAGE, "cannot read %s '%s' of %s '%s': %s", what, blob,
		      kind_noun(p->L->kind), object_id, strerror(err));
	return -1;
}

/* images/[<cluster>/]<object id>_<blob>.<ext>, the blob read when the archive is written. */
static int save_image(struct export_part *p, long cluster, const char *object_id, const char *what, const char *blob,
		      size_t bloblen)
{
	char id[129], name[512], err[512];
	unsigned char head[16];
	FILE *f = NULL;
	size_t len = 0;
	if (bloblen == 0 || bloblen >= sizeof(id)) {
		errno = EINVAL;
		snprintf(id, sizeof(id), "%.*s", (int)(bloblen < sizeof(id) ? bloblen : sizeof(id) - 1), blob);
		return image_unreadable(p, object_id, what, id);
	}
	memcpy(id, blob, bloblen);
	id[bloblen] = '\0';
	if (p->ctx->store->ops->open_read(p->ctx->store, id, &f, &len))
		return image_unreadable(p, object_id, what, id);
	size_t got = fread(head, 1, sizeof(head), f);
	fclose(f);
	const char *ext = image_extension(head, got);
	if (p->L->reporter)
		snprintf(name, sizeof(name), "images/%ld/%s_%s.%s", cluster, object_id, id, ext);
	else
		snprintf(name, sizeof(name), "images/%s_%s.%s", object_id, id, ext);
	if (image_zip_add(p->images, name, id, len, err, sizeof(err))) {
		task_fail_set(p->fail, 500, E_STORAGE, "%s", err);
		return -1;
	}
	return 0;
}

/* A face's avatar when it has one (the last path segment names the sample),
 * else the samples of the image type. */
static int save_images(struct export_part *p, long cluster, const struct objects_export_row *row)
{
	if (row->avatar && row->avatar[0]) {
		const char *slash = strrchr(row->avatar, '/');
		const char *blob = slash ? slash + 1 : row->avatar;
		return save_image(p, cluster, row->id, "avatar", blob, strlen(blob));
	}
	for (const char *s = row->samples; s && *s;) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		if (save_image(p, cluster, row->id, "sample", s, len))
			return -1;
		s += len + (comma ? 1 : 0);
	}
	return 0;
}

int export_part_row(struct export_part *p, long cluster, const struct objects_export_row *row)
{
	const struct export_layout *L = p->L;
	size_t start = p->rows.len, nfields = lead_fields(p, cluster, row->id), cell = 0;
	for (size_t i = 0; i < L->ncolumns; i++) {
		const struct export_column *c = L->columns[i];
		render_column(p, c, row->cells + cell, row->lens + cell);
		csv_field(&p->rows, &L->csv, nfields == 0, p->value.p ? p->value.p : "", p->value.len);
		nfields++;
		cell += c->value == EXV_GEO ? 2 : 1;
	}
	csv_row_end(&p->rows, nfields, start);
	p->nrows++;
	if (L->images && save_images(p, cluster, row))
		return -1;
	return flush_rows(p, 0);
}

int export_part_missing(struct export_part *p, long cluster, const char *id)
{
	size_t start = p->rows.len, nfields = lead_fields(p, cluster, id);
	for (size_t i = 0; i < p->L->ncolumns; i++)
		csv_field(&p->rows, &p->L->csv, nfields++ == 0, "", 0);
	csv_row_end(&p->rows, nfields, start);
	p->nrows++;
	return flush_rows(p, 0);
}

size_t export_part_rows(const struct export_part *p)
{
	return p->nrows;
}

static const char *part_blob(struct task_ctx *ctx, const char *suffix)
{
	return arena_printf(ctx->arena, "task-%lld-part-%lld.%s", ctx->task_id, ctx->subtask_id, suffix);
}

void export_parts_cleanup(struct task_ctx *ctx)
{
	static const char *const suffixes[] = {"csv", "zip"};
	long long *ids;
	size_t n;
	if (!ctx->store || task_subtask_ids(ctx, &ids, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		ctx->subtask_id = ids[i];
		for (size_t k = 0; k < 2; k++)
			ctx->store->ops->del(ctx->store, part_blob(ctx, suffixes[k]));
	}
	ctx->subtask_id = 0;
}

/* Moves a finished temporary file into the store under blob. */
static int store_file(struct export_part *p, const char *blob, char *path)
{
	int rc = p->ctx->store->ops->put_file(p->ctx->store, blob, path);
	path[0] = '\0';   /* moved, or removed by put_file */
	if (rc)
		task_fail_set(p->fail, 500, E_STORAGE, "cannot store %s: %s", blob, strerror(errno));
	return rc;
}

int export_part_finish(struct export_part *p, json_object **partial)
{
	struct task_ctx *ctx = p->ctx;
	char err[512], img_path[256] = "";
	const char *csv_blob = part_blob(ctx, "csv"), *img_blob = NULL;
	int rc = -1, csv_stored = 0;
	if (flush_rows(p, 1))
		goto out;
	if (csv_part_finish(&p->csv, err, sizeof(err))) {
		task_fail_set(p->fail, 500, E_STORAGE, "%s", err);
		goto out;
	}
	if (p->images) {
		struct image_zip *z = p->images;
		p->images = NULL;
		if (image_zip_close(z, img_path, sizeof(img_path), ctx->cancelled, err, sizeof(err))) {
			task_fail_set(p->fail, 500, E_STORAGE, "%s", err);
			goto out;
		}
	}
	if (store_file(p, csv_blob, p->csv.path))
		goto out;
	csv_stored = 1;
	if (img_path[0]) {
		img_blob = part_blob(ctx, "zip");
		if (store_file(p, img_blob, img_path))
			goto out;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "rows", json_object_new_int64((int64_t)p->nrows));
	json_object_object_add(o, "csv", json_object_new_string(csv_blob));
	json_object_object_add(o, "crc", json_object_new_int64(p->csv.crc));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)p->csv.size));
	json_object_object_add(o, "csize", json_object_new_int64((int64_t)p->csv.csize));
	json_object_object_add(o, "images", img_blob ? json_object_new_string(img_blob) : NULL);
	json_object_object_add(o, "missing_images", json_object_new_int64((int64_t)p->nmissing_images));
	*partial = o;
	rc = 0;
out:
	if (rc && csv_stored)
		ctx->store->ops->del(ctx->store, csv_blob);
	if (img_path[0])
		unlink(img_path);
	export_part_abort(p);
	return rc;
}

void export_part_abort(struct export_part *p)
{
	if (!p)
		return;
	csv_part_discard(&p->csv);
	image_zip_discard(p->images);
	csv_buf_free(&p->rows);
	csv_buf_free(&p->value);
	csv_buf_free(&p->text);
	free(p);
}

/* ---- Collecting ----------------------------------------------------------------- */

static const char *json_str_of(json_object *o, const char *key)
{
	return task_json_str(o, key, NULL);
}

/* The header row as a fragment of its own, made in memory. */
static int header_fragment(struct task_ctx *ctx, const struct export_layout *L, struct csv_fragment *fr)
{
	struct csv_buf b = {0};
	size_t nfields = 0;
	unsigned char *data = NULL;
	size_t len = 0;
	uint32_t crc = 0;
	if (L->reporter) {
		csv_field(&b, &L->csv, 1, "cluster", 7);
		csv_field(&b, &L->csv, 0, L->kind == OBJ_EVENTS ? "event_id" : "face_id",
			  L->kind == OBJ_EVENTS ? 8 : 7);
		nfields = 2;
	}
	for (size_t i = 0; i < L->ncolumns; i++, nfields++)
		csv_field(&b, &L->csv, nfields == 0, L->columns[i]->name, strlen(L->columns[i]->name));
	csv_row_end(&b, nfields, 0);
	size_t text_len = b.len;
	int rc = csv_fragment_of(b.p, b.len, &data, &len, &crc);
	csv_buf_free(&b);
	if (rc)
		return -1;
	arena_defer(ctx->arena, free, data);
	*fr = (struct csv_fragment){.blob = NULL, .data = data, .csize = len, .size = text_len, .crc = crc};
	return 0;
}

/* Deletes every stored blob of the parts. */
static void drop_parts(struct task_ctx *ctx, json_object *partials)
{
	size_t n = partials ? json_object_array_length(partials) : 0;
	for (size_t i = 0; i < n && ctx->store; i++) {
		json_object *part = json_object_array_get_idx(partials, i);
		const char *csv = json_str_of(part, "csv"), *img = json_str_of(part, "images");
		if (csv)
			ctx->store->ops->del(ctx->store, csv);
		if (img)
			ctx->store->ops->del(ctx->store, img);
	}
}

int export_collect(struct task_ctx *ctx, const struct export_layout *L, const char *csv_name,
		   json_object *partials, struct task_fail *fail)
{
	size_t n = json_object_array_length(partials), nimg = 0, failed = 0;
	struct csv_fragment *frags = arena_alloc(ctx->arena, (n + 1) * sizeof(*frags));
	char **images = arena_alloc(ctx->arena, (n + 1) * sizeof(char *));
	char err[512];
	int rc = -1;
	if (!ctx->store) {
		task_fail_set(fail, 500, E_STORAGE, "the result store is not available");
		goto out;
	}
	if (header_fragment(ctx, L, &frags[0])) {
		task_fail_set(fail, 500, E_INTERNAL, "cannot compress the header row");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *part = json_object_array_get_idx(partials, i);
		const char *csv = json_str_of(part, "csv");
		if (!csv) {
			failed++;
			continue;
		}
		frags[i + 1] = (struct csv_fragment){
			.blob = csv,
			.csize = (uint64_t)task_json_int(part, "csize", 0),
			.size = (uint64_t)task_json_int(part, "size", 0),
			.crc = (uint32_t)task_json_int(part, "crc", 0),
		};
		if (json_str_of(part, "images"))
			images[nimg++] = (char *)json_str_of(part, "images");
	}
	if (failed) {
		task_fail_set(fail, 500, E_INTERNAL, "%zu of %zu parts of the archive failed (see the subtask errors)",
			      failed, n);
		goto out;
	}
	if (result_zip_write(ctx->store, csv_name, frags, n + 1, images, nimg, ctx->result_id, ctx->cancelled, err,
			     sizeof(err))) {
		if (task_check_cancelled(ctx, fail) == 0)
			task_fail_set(fail, 500, E_STORAGE, "%s", err);
		goto out;
	}
	rc = 0;
out:
	drop_parts(ctx, partials);
	return rc;
}
