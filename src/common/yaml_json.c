/* yaml_json.c - build json-c objects from libyaml parser events (YAML 1.2 core schema). */
#include "common/yaml_json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/linkhash.h>
#include <yaml.h>

/* Nesting limit for collections: keeps json_object_put() recursion bounded. */
#define YJ_MAX_DEPTH 1000

struct yj_frame {
	json_object *obj;	/* the mapping or sequence being filled */
	char *anchor;		/* its anchor name, registered when it is complete */
	char *key;		/* mapping: the key waiting for its value */
};

struct yj_loader {
	yaml_parser_t parser;
	struct yj_frame *stack;
	size_t depth, cap;
	struct lh_table *anchors;	/* name -> json_object* (one reference held) */
	json_object *doc;
	int have_doc;
	int ndocs;
	char *err;
	size_t errlen;
	int failed;
};

static void yj_fail(struct yj_loader *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void yj_fail(struct yj_loader *l, const char *fmt, ...)
{
	va_list ap;

	if (l->failed)
		return;
	l->failed = 1;
	if (!l->err || !l->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(l->err, l->errlen, fmt, ap);
	va_end(ap);
}

static void yj_fail_at(struct yj_loader *l, const yaml_mark_t *mark, const char *what)
{
	yj_fail(l, "line %zu, column %zu: %s", (size_t)mark->line + 1,
		(size_t)mark->column + 1, what);
}

static void yj_anchor_free(struct lh_entry *e)
{
	free(lh_entry_k(e));
	json_object_put((json_object *)lh_entry_v(e));
}

/* ---- scalar resolution ---- */

static int yj_all_in(const char *s, size_t n, const char *set)
{
	size_t i;

	if (!n)
		return 0;
	for (i = 0; i < n; i++)
		if (!s[i] || !strchr(set, s[i]))
			return 0;
	return 1;
}

static int yj_is_null(const char *s, size_t n)
{
	return n == 0 || (n == 1 && s[0] == '~') ||
	       (n == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

/* 1 true, 0 false, -1 not a core-schema boolean */
static int yj_bool(const char *s, size_t n)
{
	if (n == 4 && (!memcmp(s, "true", 4) || !memcmp(s, "True", 4) || !memcmp(s, "TRUE", 4)))
		return 1;
	if (n == 5 && (!memcmp(s, "false", 5) || !memcmp(s, "False", 5) || !memcmp(s, "FALSE", 5)))
		return 0;
	return -1;
}

static int yj_is_decimal(const char *s, size_t n)
{
	if (n && (s[0] == '-' || s[0] == '+'))
		s++, n--;
	return yj_all_in(s, n, "0123456789");
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int yj_is_float(const char *s, size_t n)
{
	size_t i = 0, digits = 0, frac = 0;

	if (i < n && (s[i] == '-' || s[i] == '+'))
		i++;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++, digits++;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, frac++;
		if (!digits && !frac)
			return 0;
	} else if (!digits) {
		return 0;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t ed = 0;

		i++;
		if (i < n && (s[i] == '-' || s[i] == '+'))
			i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, ed++;
		if (!ed)
			return 0;
	}
	return i == n;
}

/* .inf/.nan spellings; returns 1 and sets *d when matched */
static int yj_special_float(const char *s, size_t n, double *d)
{
	double sign = 1.0;

	if (n == 4 && (!memcmp(s, ".nan", 4) || !memcmp(s, ".NaN", 4) || !memcmp(s, ".NAN", 4))) {
		*d = NAN;
		return 1;
	}
	if (n && (s[0] == '-' || s[0] == '+')) {
		sign = s[0] == '-' ? -1.0 : 1.0;
		s++, n--;
	}
	if (n == 4 && (!memcmp(s, ".inf", 4) || !memcmp(s, ".Inf", 4) || !memcmp(s, ".INF", 4))) {
		*d = sign * INFINITY;
		return 1;
	}
	return 0;
}

/* A double that serializes as its shortest round-trip text ("0.81", not 0.81000000000000005). */
static json_object *yj_new_double(double d)
{
	char buf[64];
	const char *e;
	int p, exp;

	if (!isfinite(d))
		return json_object_new_double(d);
	for (p = 1; p < 17; p++) {
		snprintf(buf, sizeof(buf), "%.*e", p - 1, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	snprintf(buf, sizeof(buf), "%.*e", p - 1, d);
	e = strchr(buf, 'e');
	exp = e ? atoi(e + 1) : 0;
	if (exp >= -4 && exp < 16) {
		snprintf(buf, sizeof(buf), "%.*f", p - 1 - exp > 0 ? p - 1 - exp : 0, d);
		if (!strchr(buf, '.'))
			strcat(buf, ".0");
	}
	return json_object_new_double_s(d, buf);
}

/* Parse a decimal integer; too large values become uint64 or a double keeping the text. */
static json_object *yj_make_decimal(const char *text)
{
	long long v;
	unsigned long long u;

	errno = 0;
	v = strtoll(text, NULL, 10);
	if (!errno)
		return json_object_new_int64(v);
	if (text[0] != '-') {
		const char *t = text[0] == '+' ? text + 1 : text;

		errno = 0;
		u = strtoull(t, NULL, 10);
		if (!errno)
			return json_object_new_uint64(u);
	}
	return json_object_new_double_s(strtod(text, NULL), text);
}

/* 0o / 0x integers; 0 and *ok=0 when out of range */
static json_object *yj_make_radix(const char *digits, int base, int *ok)
{
	unsigned long long u;

	errno = 0;
	u = strtoull(digits, NULL, base);
	if (errno) {
		*ok = 0;
		return NULL;
	}
	*ok = 1;
	if (u <= (unsigned long long)INT64_MAX)
		return json_object_new_int64((int64_t)u);
	return json_object_new_uint64(u);
}

/* Core-schema resolution of a plain scalar; *ok=0 means "keep it a string". */
static json_object *yj_resolve_plain(const char *s, size_t n, int *ok)
{
	double d;
	int b;

	*ok = 1;
	if (yj_is_null(s, n))
		return NULL;
	b = yj_bool(s, n);
	if (b >= 0)
		return json_object_new_boolean(b);
	if (yj_is_decimal(s, n))
		return yj_make_decimal(s);
	if (n > 2 && s[0] == '0' && s[1] == 'o' && yj_all_in(s + 2, n - 2, "01234567"))
		return yj_make_radix(s + 2, 8, ok);
	if (n > 2 && s[0] == '0' && s[1] == 'x' &&
	    yj_all_in(s + 2, n - 2, "0123456789abcdefABCDEF"))
		return yj_make_radix(s + 2, 16, ok);
	if (yj_is_float(s, n))
		return yj_new_double(strtod(s, NULL));
	if (yj_special_float(s, n, &d))
		return json_object_new_double(d);
	*ok = 0;
	return NULL;
}

#define YJ_TAG(x) "tag:yaml.org,2002:" x

/* Scalar with an explicit standard tag; *ok=0 when the tag is not one we interpret. */
static json_object *yj_resolve_tagged(struct yj_loader *l, const yaml_event_t *ev,
				      const char *tag, int *ok)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	json_object *o;
	int b;

	*ok = 1;
	if (!strcmp(tag, YJ_TAG("str")) || !strcmp(tag, "!"))
		return json_object_new_string_len(s, (int)n);
	if (!strcmp(tag, YJ_TAG("null")))
		return NULL;
	if (!strcmp(tag, YJ_TAG("bool"))) {
		b = yj_bool(s, n);
		if (b >= 0)
			return json_object_new_boolean(b);
	} else if (!strcmp(tag, YJ_TAG("int")) || !strcmp(tag, YJ_TAG("float"))) {
		int rok;

		o = yj_resolve_plain(s, n, &rok);
		if (rok && (json_object_is_type(o, json_type_int) ||
			    json_object_is_type(o, json_type_double))) {
			if (!strcmp(tag, YJ_TAG("float")) && json_object_is_type(o, json_type_int)) {
				double d = json_object_get_double(o);

				json_object_put(o);
				return yj_new_double(d);
			}
			return o;
		}
		json_object_put(o);
	} else {
		*ok = 0;	/* unknown tag: resolve as if untagged */
		return NULL;
	}
	yj_fail_at(l, &ev->start_mark, "value does not match its tag");
	return NULL;
}

static json_object *yj_scalar(struct yj_loader *l, const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	const char *tag = (const char *)ev->data.scalar.tag;
	json_object *o;
	int ok;

	if (tag) {
		o = yj_resolve_tagged(l, ev, tag, &ok);
		if (ok || l->failed)
			return o;
	}
	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && ev->data.scalar.plain_implicit) {
		o = yj_resolve_plain(s, n, &ok);
		if (ok)
			return o;
	}
	return json_object_new_string_len(s, (int)n);
}

/* ---- tree building ---- */

static void yj_register_anchor(struct yj_loader *l, const char *name, json_object *obj)
{
	char *k;

	if (!name)
		return;
	lh_table_delete(l->anchors, name);
	k = strdup(name);
	if (!k || lh_table_insert(l->anchors, k, json_object_get(obj))) {
		free(k);
		json_object_put(obj);
		yj_fail(l, "out of memory");
	}
}

/* Attach a finished value (consumes the reference) to the current container. */
static void yj_add_value(struct yj_loader *l, json_object *obj)
{
	struct yj_frame *f;

	if (!l->depth) {
		json_object_put(l->doc);
		l->doc = obj;
		l->have_doc = 1;
		return;
	}
	f = &l->stack[l->depth - 1];
	if (json_object_is_type(f->obj, json_type_array)) {
		if (json_object_array_add(f->obj, obj)) {
			json_object_put(obj);
			yj_fail(l, "out of memory");
		}
		return;
	}
	if (json_object_object_add(f->obj, f->key, obj))
		yj_fail(l, "out of memory");
	free(f->key);
	f->key = NULL;
}

/* A key (scalar text or aliased scalar) for the current mapping. */
static int yj_wants_key(const struct yj_loader *l)
{
	const struct yj_frame *f;

	if (!l->depth)
		return 0;
	f = &l->stack[l->depth - 1];
	return json_object_is_type(f->obj, json_type_object) && !f->key;
}

static void yj_set_key(struct yj_loader *l, const char *text, size_t len)
{
	struct yj_frame *f = &l->stack[l->depth - 1];

	f->key = strndup(text, len);
	if (!f->key)
		yj_fail(l, "out of memory");
}

static void yj_on_scalar(struct yj_loader *l, const yaml_event_t *ev)
{
	const char *anchor = (const char *)ev->data.scalar.anchor;
	json_object *o;

	if (yj_wants_key(l)) {
		yj_set_key(l, (const char *)ev->data.scalar.value, ev->data.scalar.length);
		if (anchor) {
			o = json_object_new_string_len((const char *)ev->data.scalar.value,
						       (int)ev->data.scalar.length);
			yj_register_anchor(l, anchor, o);
			json_object_put(o);
		}
		return;
	}
	o = yj_scalar(l, ev);
	if (l->failed) {
		json_object_put(o);
		return;
	}
	yj_register_anchor(l, anchor, o);
	yj_add_value(l, o);
}

static void yj_on_alias(struct yj_loader *l, const yaml_event_t *ev)
{
	void *v = NULL;
	json_object *o;

	if (!lh_table_lookup_ex(l->anchors, ev->data.alias.anchor, &v)) {
		yj_fail_at(l, &ev->start_mark, "unknown anchor (or alias inside its own anchor)");
		return;
	}
	o = v;
	if (yj_wants_key(l)) {
		const char *t;

		if (json_object_is_type(o, json_type_object) ||
		    json_object_is_type(o, json_type_array)) {
			yj_fail_at(l, &ev->start_mark, "mapping keys must be scalars");
			return;
		}
		t = o ? json_object_get_string(o) : "null";
		yj_set_key(l, t, strlen(t));
		return;
	}
	yj_add_value(l, json_object_get(o));
}

static void yj_push(struct yj_loader *l, const yaml_event_t *ev, json_object *obj,
		    const yaml_char_t *anchor)
{
	struct yj_frame *f;

	if (!obj) {
		yj_fail(l, "out of memory");
		return;
	}
	if (yj_wants_key(l)) {
		json_object_put(obj);
		yj_fail_at(l, &ev->start_mark, "mapping keys must be scalars");
		return;
	}
	if (l->depth >= YJ_MAX_DEPTH) {
		json_object_put(obj);
		yj_fail_at(l, &ev->start_mark, "nesting too deep");
		return;
	}
	if (l->depth == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		struct yj_frame *ns = realloc(l->stack, ncap * sizeof(*ns));

		if (!ns) {
			json_object_put(obj);
			yj_fail(l, "out of memory");
			return;
		}
		l->stack = ns;
		l->cap = ncap;
	}
	f = &l->stack[l->depth++];
	f->obj = obj;
	f->key = NULL;
	f->anchor = anchor ? strdup((const char *)anchor) : NULL;
	if (anchor && !f->anchor)
		yj_fail(l, "out of memory");
}

static void yj_pop(struct yj_loader *l)
{
	struct yj_frame f;

	if (!l->depth)
		return;
	f = l->stack[--l->depth];
	free(f.key);
	yj_register_anchor(l, f.anchor, f.obj);
	free(f.anchor);
	yj_add_value(l, f.obj);
}

static void yj_on_event(struct yj_loader *l, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++l->ndocs > 1)
			yj_fail_at(l, &ev->start_mark, "more than one document in the stream");
		break;
	case YAML_SCALAR_EVENT:
		yj_on_scalar(l, ev);
		break;
	case YAML_ALIAS_EVENT:
		yj_on_alias(l, ev);
		break;
	case YAML_SEQUENCE_START_EVENT:
		yj_push(l, ev, json_object_new_array(), ev->data.sequence_start.anchor);
		break;
	case YAML_MAPPING_START_EVENT:
		yj_push(l, ev, json_object_new_object(), ev->data.mapping_start.anchor);
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		yj_pop(l);
		break;
	default:
		break;
	}
}

static void yj_parser_error(struct yj_loader *l)
{
	const yaml_parser_t *p = &l->parser;
	const char *problem = p->problem ? p->problem : "syntax error";

	if (p->context)
		yj_fail(l, "line %zu, column %zu: %s (%s at line %zu)",
			(size_t)p->problem_mark.line + 1, (size_t)p->problem_mark.column + 1,
			problem, p->context, (size_t)p->context_mark.line + 1);
	else
		yj_fail(l, "line %zu, column %zu: %s", (size_t)p->problem_mark.line + 1,
			(size_t)p->problem_mark.column + 1, problem);
}

static void yj_run(struct yj_loader *l)
{
	yaml_event_t ev;
	int done = 0;

	while (!done && !l->failed) {
		if (!yaml_parser_parse(&l->parser, &ev)) {
			yj_parser_error(l);
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		yj_on_event(l, &ev);
		yaml_event_delete(&ev);
	}
}

static void yj_cleanup(struct yj_loader *l)
{
	while (l->depth) {
		struct yj_frame *f = &l->stack[--l->depth];

		free(f->key);
		free(f->anchor);
		json_object_put(f->obj);
	}
	free(l->stack);
	if (l->anchors)
		lh_table_free(l->anchors);
	yaml_parser_delete(&l->parser);
}

static int yj_init(struct yj_loader *l, char *err, size_t errlen)
{
	memset(l, 0, sizeof(*l));
	l->err = err;
	l->errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
	if (!yaml_parser_initialize(&l->parser)) {
		yj_fail(l, "cannot initialise the YAML parser");
		return -1;
	}
	l->anchors = lh_kchar_table_new(16, yj_anchor_free);
	if (!l->anchors) {
		yj_fail(l, "out of memory");
		return -1;
	}
	return 0;
}

/* Run the parser (input already attached) and hand back the document. */
static json_object *yj_finish(struct yj_loader *l)
{
	json_object *doc = NULL;

	yj_run(l);
	if (!l->failed && !l->have_doc)
		yj_fail(l, "no document in the stream");
	else if (!l->failed && !l->doc)
		yj_fail(l, "the document is null");
	if (!l->failed) {
		doc = l->doc;
		l->doc = NULL;
	}
	json_object_put(l->doc);
	l->doc = NULL;
	yj_cleanup(l);
	return doc;
}

json_object *yaml_load_string(const char *buf, size_t len, char *err, size_t errlen)
{
	struct yj_loader l;

	if (yj_init(&l, err, errlen)) {
		yj_cleanup(&l);
		return NULL;
	}
	yaml_parser_set_input_string(&l.parser, (const unsigned char *)(buf ? buf : ""),
				     buf ? len : 0);
	return yj_finish(&l);
}

json_object *yaml_load_file(const char *path, char *err, size_t errlen)
{
	struct yj_loader l;
	json_object *doc = NULL;
	FILE *fp;
	int rc;

	fp = fopen(path, "rb");
	if (!fp) {
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	rc = yj_init(&l, err, errlen);
	if (rc) {
		yj_cleanup(&l);
		goto out;
	}
	yaml_parser_set_input_file(&l.parser, fp);
	doc = yj_finish(&l);
	if (!doc && err && errlen) {
		char tmp[512];

		snprintf(tmp, sizeof(tmp), "%s", err);
		snprintf(err, errlen, "%s: %s", path, tmp);
	}
out:
	fclose(fp);
	return doc;
}
