/* schema.c - JSON Schema (draft 4) / OpenAPI 3.0 validator for json-c values: $ref
 * resolution, a strict "unevaluated properties" mode, default insertion, query-string
 * coercion and error messages in the style of Python's jsonschema. */
#include "common/schema.h"
#include "common/encoding.h"
#include "common/yaml_json.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/linkhash.h>

#define MAX_INST_DEPTH 64	/* instance nesting followed by the validator */
#define MAX_SCHEMA_DEPTH 256	/* nested schema applications (cyclic $refs) */
#define MAX_REF_HOPS 64		/* length of a $ref chain */
#define MAX_STEPS 2000000L	/* schema applications per validation */
#define REPR_MAX 100		/* characters of an instance shown in a message */
#define REPR_BUF (REPR_MAX + 8)

struct rx_cache {
	pthread_mutex_t lock;
	struct lh_table *table;	/* pattern text -> struct rx_entry* */
};

struct rx_entry {
	int ok;			/* 0: the pattern could not be compiled and is ignored */
	regex_t re;
};

struct spec {
	json_object *root;
	struct rx_cache *rx;
	struct lh_table *nodes;	/* every object/array of root -> struct node* or NULL */
};

static int nodes_build(struct spec *s);

/* ------------------------------------------------------------------------- */
/* small json helpers                                                        */

static int is_obj(json_object *o)
{
	return json_object_is_type(o, json_type_object);
}

static int is_arr(json_object *o)
{
	return json_object_is_type(o, json_type_array);
}

static int is_str(json_object *o)
{
	return json_object_is_type(o, json_type_string);
}

static int is_num(json_object *o)
{
	return json_object_is_type(o, json_type_int) || json_object_is_type(o, json_type_double);
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!is_obj(o) || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static int has(json_object *o, const char *key)
{
	return is_obj(o) && json_object_object_get_ex(o, key, NULL);
}

static int is_true(json_object *o)
{
	return json_object_is_type(o, json_type_boolean) && json_object_get_boolean(o);
}

/* ------------------------------------------------------------------------- */
/* spec objects and $ref resolution                                          */

static void node_entry_free(struct lh_entry *e)
{
	free(lh_entry_v(e));
}

static void rx_entry_free(struct lh_entry *e)
{
	struct rx_entry *r = lh_entry_v(e);

	if (r) {
		if (r->ok)
			regfree(&r->re);
		free(r);
	}
	free(lh_entry_k(e));
}

struct spec *spec_wrap(json_object *root)
{
	struct spec *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->rx = calloc(1, sizeof(*s->rx));
	if (!s->rx)
		goto fail;
	s->rx->table = lh_kchar_table_new(32, rx_entry_free);
	if (!s->rx->table)
		goto fail;
	pthread_mutex_init(&s->rx->lock, NULL);
	s->root = json_object_get(root);
	s->nodes = lh_kptr_table_new(256, node_entry_free);
	if (!s->nodes || nodes_build(s)) {
		spec_free(s);
		return NULL;
	}
	return s;
fail:
	free(s->rx);
	free(s);
	return NULL;
}

struct spec *spec_load(const char *yaml_path, char *err, size_t errlen)
{
	json_object *root = yaml_load_file(yaml_path, err, errlen);
	struct spec *s;

	if (!root)
		return NULL;
	s = spec_wrap(root);
	json_object_put(root);
	if (!s && err && errlen)
		snprintf(err, errlen, "out of memory");
	return s;
}

void spec_free(struct spec *s)
{
	if (!s)
		return;
	if (s->nodes)
		lh_table_free(s->nodes);
	lh_table_free(s->rx->table);
	pthread_mutex_destroy(&s->rx->lock);
	free(s->rx);
	json_object_put(s->root);
	free(s);
}

json_object *spec_root(const struct spec *s)
{
	return s ? s->root : NULL;
}

json_object *spec_schema(const struct spec *s, const char *name)
{
	if (!s || !name)
		return NULL;
	return get(get(get(s->root, "components"), "schemas"), name);
}

/* Percent-decodes a URI fragment in place; -1 on a bad escape or NUL. */
static int pct_decode(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (*s == '%') {
			int h = hex_digit_value((unsigned char)s[1]);
			int l = h < 0 ? -1 : hex_digit_value((unsigned char)s[2]);

			if (h < 0 || l < 0 || (h == 0 && l == 0))
				return -1;
			*w++ = (char)(h * 16 + l);
			s += 2;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
	return 0;
}

/* Unescapes ~0 and ~1 of a pointer token in place; -1 on a bad escape. */
static int ptr_unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (*s == '~') {
			if (s[1] == '0')
				*w++ = '~';
			else if (s[1] == '1')
				*w++ = '/';
			else
				return -1;
			s++;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
	return 0;
}

static json_object *ptr_step(json_object *cur, const char *tok)
{
	char *end;
	unsigned long idx;

	if (is_obj(cur))
		return get(cur, tok);
	if (!is_arr(cur) || !*tok || (tok[0] == '0' && tok[1]) || tok[0] < '0' || tok[0] > '9')
		return NULL;
	errno = 0;
	idx = strtoul(tok, &end, 10);
	if (errno || *end || idx >= json_object_array_length(cur))
		return NULL;
	return json_object_array_get_idx(cur, idx);
}

/* Resolves a local reference "#/a/b" against the root; NULL if it does not exist. */
static json_object *resolve_ref(const struct spec *s, const char *ref)
{
	json_object *cur;
	char *buf, *tok, *next;

	if (!s || !ref || ref[0] != '#')
		return NULL;
	cur = s->root;
	if (!ref[1])
		return cur;
	buf = strdup(ref + 1);
	if (!buf)
		return NULL;
	if (pct_decode(buf) || buf[0] != '/') {
		cur = NULL;
		goto out;
	}
	for (tok = buf + 1; cur && tok; tok = next) {
		next = strchr(tok, '/');
		if (next)
			*next++ = '\0';
		if (ptr_unescape(tok)) {
			cur = NULL;
			break;
		}
		cur = ptr_step(cur, tok);
	}
out:
	free(buf);
	return cur;
}

static const char *ref_of(json_object *schema)
{
	json_object *r = get(schema, "$ref");

	return is_str(r) ? json_object_get_string(r) : NULL;
}

static json_object *deref(const struct spec *s, json_object *schema, int *is_ref);

json_object *spec_resolve(const struct spec *s, json_object *schema)
{
	int hops, is_ref;

	for (hops = 0; hops < MAX_REF_HOPS; hops++) {
		json_object *next = deref(s, schema, &is_ref);

		if (!is_ref)
			return schema;
		if (!next)
			return NULL;
		schema = next;
	}
	return NULL;
}

/* A discriminator mapping value: "#/..." pointer or a bare schema name. */
static json_object *resolve_mapping(const struct spec *s, const char *ref)
{
	if (ref[0] == '#')
		return resolve_ref(s, ref);
	return spec_schema(s, ref);
}

/* ------------------------------------------------------------------------- */
/* numbers and equality                                                      */

enum { NUM_I64, NUM_U64, NUM_DBL };

struct num {
	int kind;
	int64_t i;
	uint64_t u;
	double d;
};

static int get_num(json_object *o, struct num *n)
{
	if (json_object_is_type(o, json_type_int)) {
		n->i = json_object_get_int64(o);
		n->kind = NUM_I64;
		if (n->i == INT64_MAX) {
			uint64_t u = json_object_get_uint64(o);

			if (u > (uint64_t)INT64_MAX) {
				n->kind = NUM_U64;
				n->u = u;
			}
		}
		n->d = n->kind == NUM_U64 ? (double)n->u : (double)n->i;
		return 0;
	}
	if (json_object_is_type(o, json_type_double)) {
		n->kind = NUM_DBL;
		n->d = json_object_get_double(o);
		return 0;
	}
	return -1;
}

static long double num_ld(const struct num *n)
{
	if (n->kind == NUM_I64)
		return (long double)n->i;
	if (n->kind == NUM_U64)
		return (long double)n->u;
	return (long double)n->d;
}

/* -1, 0, 1; 2 when unordered (NaN) */
static int num_cmp(const struct num *a, const struct num *b)
{
	long double x, y;

	if (a->kind == NUM_I64 && b->kind == NUM_I64)
		return (a->i > b->i) - (a->i < b->i);
	if (a->kind == NUM_U64 && b->kind == NUM_U64)
		return (a->u > b->u) - (a->u < b->u);
	if (a->kind != NUM_DBL && b->kind != NUM_DBL)
		return a->kind == NUM_U64 ? 1 : -1;
	x = num_ld(a);
	y = num_ld(b);
	if (isnan(x) || isnan(y))
		return 2;
	return (x > y) - (x < y);
}

/* Integers are json-c ints, plus integer literals too large for 64 bits (parsed as doubles). */
static int is_integer(json_object *o)
{
	double d;
	const char *t;

	if (json_object_is_type(o, json_type_int))
		return 1;
	if (!json_object_is_type(o, json_type_double))
		return 0;
	d = json_object_get_double(o);
	if (!isfinite(d) || (d < 9.2e18 && d > -9.2e18))
		return 0;	/* smaller integer literals are parsed as json-c ints */
	t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	return t && !strpbrk(t, ".eE");
}

static int json_equal(json_object *a, json_object *b, int depth)
{
	enum json_type ta = json_object_get_type(a), tb = json_object_get_type(b);
	struct num x, y;

	if (depth > 2 * MAX_INST_DEPTH)
		return 0;
	if (is_num(a) && is_num(b)) {
		get_num(a, &x);
		get_num(b, &y);
		return num_cmp(&x, &y) == 0;
	}
	if (ta != tb)
		return 0;
	switch (ta) {
	case json_type_null:
		return 1;
	case json_type_boolean:
		return !json_object_get_boolean(a) == !json_object_get_boolean(b);
	case json_type_string:
		return json_object_get_string_len(a) == json_object_get_string_len(b) &&
		       !memcmp(json_object_get_string(a), json_object_get_string(b),
			       (size_t)json_object_get_string_len(a));
	case json_type_array: {
		size_t i, n = json_object_array_length(a);

		if (n != json_object_array_length(b))
			return 0;
		for (i = 0; i < n; i++)
			if (!json_equal(json_object_array_get_idx(a, i),
					json_object_array_get_idx(b, i), depth + 1))
				return 0;
		return 1;
	}
	case json_type_object: {
		json_object *bv;

		if (json_object_object_length(a) != json_object_object_length(b))
			return 0;
		json_object_object_foreach(a, k, av) {
			if (!json_object_object_get_ex(b, k, &bv) || !json_equal(av, bv, depth + 1))
				return 0;
		}
		return 1;
	}
	default:
		return 0;
	}
}

/* ------------------------------------------------------------------------- */
/* Python-style repr of values, bounded                                      */

struct sbuf {
	char *p;
	size_t len, cap;	/* cap includes the terminating NUL */
	int trunc;
};

static void sb_init(struct sbuf *b, char *p, size_t cap)
{
	b->p = p;
	b->cap = cap;
	b->len = 0;
	b->trunc = 0;
	if (cap)
		p[0] = '\0';
}

static void sb_putn(struct sbuf *b, const char *s, size_t n)
{
	size_t room;

	if (b->trunc || !b->cap)
		return;
	room = b->cap - 1 - b->len;
	if (n > room) {
		n = room;
		b->trunc = 1;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

static void sb_putc(struct sbuf *b, char c)
{
	sb_putn(b, &c, 1);
}

/* Marks a truncated buffer with "..." at a UTF-8 character boundary. */
static void sb_ellipsis(struct sbuf *b)
{
	size_t end;

	if (!b->trunc || b->cap < 5)
		return;
	end = b->len > b->cap - 4 ? b->cap - 4 : b->len;
	while (end > 0 && ((unsigned char)b->p[end] & 0xC0) == 0x80)
		end--;
	memcpy(b->p + end, "...", 4);
	b->len = end + 3;
}

/* repr() of a Python float */
static void fmt_pyfloat(double d, char *out, size_t n)
{
	char tmp[48], digits[24];
	int prec, exp, nd = 0, i;
	char *e, *s;
	struct sbuf b;

	if (isnan(d) || isinf(d)) {
		snprintf(out, n, "%s", isnan(d) ? "nan" : d < 0 ? "-inf" : "inf");
		return;
	}
	for (prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	e = strchr(tmp, 'e');
	exp = e ? atoi(e + 1) : 0;
	for (s = tmp; s < e; s++)
		if (*s >= '0' && *s <= '9' && nd < (int)sizeof(digits) - 1)
			digits[nd++] = *s;
	digits[nd] = '\0';
	sb_init(&b, out, n);
	if (tmp[0] == '-')
		sb_putc(&b, '-');
	if (exp >= 16 || exp < -4) {
		sb_putc(&b, digits[0]);
		if (nd > 1) {
			sb_putc(&b, '.');
			sb_puts(&b, digits + 1);
		}
		snprintf(tmp, sizeof(tmp), "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
		sb_puts(&b, tmp);
	} else if (exp >= 0) {
		for (i = 0; i <= exp; i++)
			sb_putc(&b, i < nd ? digits[i] : '0');
		sb_putc(&b, '.');
		sb_puts(&b, nd > exp + 1 ? digits + exp + 1 : "0");
	} else {
		sb_puts(&b, "0.");
		for (i = 0; i < -exp - 1; i++)
			sb_putc(&b, '0');
		sb_puts(&b, digits);
	}
}

static void repr_string(struct sbuf *b, const char *s, size_t n)
{
	char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
	size_t i;

	sb_putc(b, q);
	for (i = 0; i < n && !b->trunc; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];

		if (c == (unsigned char)q || c == '\\') {
			sb_putc(b, '\\');
			sb_putc(b, (char)c);
		} else if (c == '\n') {
			sb_puts(b, "\\n");
		} else if (c == '\r') {
			sb_puts(b, "\\r");
		} else if (c == '\t') {
			sb_puts(b, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			sb_puts(b, esc);
		} else {
			sb_putc(b, (char)c);
		}
	}
	sb_putc(b, q);
}

static void repr_number(struct sbuf *b, json_object *o)
{
	char tmp[64];
	struct num n;

	get_num(o, &n);
	if (n.kind == NUM_I64)
		snprintf(tmp, sizeof(tmp), "%lld", (long long)n.i);
	else if (n.kind == NUM_U64)
		snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)n.u);
	else if (is_integer(o))
		snprintf(tmp, sizeof(tmp), "%s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	else
		fmt_pyfloat(n.d, tmp, sizeof(tmp));
	sb_puts(b, tmp);
}

static void repr_value(struct sbuf *b, json_object *o, int depth)
{
	if (depth > 2 * MAX_INST_DEPTH) {
		sb_puts(b, "...");
		return;
	}
	switch (json_object_get_type(o)) {
	case json_type_null:
		sb_puts(b, "None");
		break;
	case json_type_boolean:
		sb_puts(b, json_object_get_boolean(o) ? "True" : "False");
		break;
	case json_type_int:
	case json_type_double:
		repr_number(b, o);
		break;
	case json_type_string:
		repr_string(b, json_object_get_string(o), (size_t)json_object_get_string_len(o));
		break;
	case json_type_array: {
		size_t i, n = json_object_array_length(o);

		sb_putc(b, '[');
		for (i = 0; i < n && !b->trunc; i++) {
			if (i)
				sb_puts(b, ", ");
			repr_value(b, json_object_array_get_idx(o, i), depth + 1);
		}
		sb_putc(b, ']');
		break;
	}
	case json_type_object: {
		int first = 1;

		sb_putc(b, '{');
		json_object_object_foreach(o, k, v) {
			if (b->trunc)
				break;
			if (!first)
				sb_puts(b, ", ");
			first = 0;
			repr_string(b, k, strlen(k));
			sb_puts(b, ": ");
			repr_value(b, v, depth + 1);
		}
		sb_putc(b, '}');
		break;
	}
	}
}

/* Bounded repr of a value into out[REPR_BUF]. */
static const char *repr(json_object *o, char *out)
{
	struct sbuf b;

	sb_init(&b, out, REPR_MAX + 1);
	repr_value(&b, o, 0);
	sb_ellipsis(&b);
	return out;
}

static const char *repr_cstr(const char *s, char *out)
{
	struct sbuf b;

	sb_init(&b, out, REPR_MAX + 1);
	repr_string(&b, s, strlen(s));
	sb_ellipsis(&b);
	return out;
}

/* ------------------------------------------------------------------------- */
/* regular expressions: ECMA-ish patterns translated to POSIX ERE            */

struct rx_out {
	char *p;
	size_t len, cap;
};

static void rx_put(struct rx_out *o, const char *s, size_t n)
{
	if (o->len + n < o->cap) {
		memcpy(o->p + o->len, s, n);
		o->len += n;
		o->p[o->len] = '\0';
	}
}

static void rx_putc(struct rx_out *o, char c)
{
	rx_put(o, &c, 1);
}

static void rx_puts(struct rx_out *o, const char *s)
{
	rx_put(o, s, strlen(s));
}

/* A code point as UTF-8; ERE specials are escaped. */
static void rx_put_cp(struct rx_out *o, unsigned cp)
{
	char u[4];

	if (cp < 0x80) {
		if (strchr(".[]()*+?{}|^$\\", (int)cp) && cp)
			rx_putc(o, '\\');
		rx_putc(o, (char)cp);
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		rx_put(o, u, 2);
	} else {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		rx_put(o, u, 3);
	}
}

/* \xHH / \uHHHH at p (after the backslash); returns chars consumed or -1. */
static int rx_hex_escape(const char *p, unsigned *cp)
{
	int n = p[0] == 'x' ? 2 : 4, i, h;

	*cp = 0;
	for (i = 1; i <= n; i++) {
		h = hex_digit_value((unsigned char)p[i]);
		if (h < 0)
			return -1;
		*cp = *cp * 16 + (unsigned)h;
	}
	if (*cp == 0 || (*cp >= 0xD800 && *cp <= 0xDFFF))
		return -1;
	return n + 1;
}

static int rx_ctrl_escape(char c, char *out)
{
	switch (c) {
	case 'n': *out = '\n'; return 1;
	case 't': *out = '\t'; return 1;
	case 'r': *out = '\r'; return 1;
	case 'f': *out = '\f'; return 1;
	case 'v': *out = '\v'; return 1;
	default: return 0;
	}
}

struct rx_class {
	struct rx_out body;
	int rbr, dash, caret, lbr;
};

/* One bracket atom at p[*i]; literal in *lit (returns 1), class appended (returns 2), -1 error. */
static int rx_class_atom(const char *p, size_t *i, struct rx_class *k, char *lit)
{
	char c = p[*i];
	unsigned cp;
	int used;

	if (c != '\\') {
		*lit = c;
		(*i)++;
		return 1;
	}
	c = p[*i + 1];
	if (!c)
		return -1;
	*i += 2;
	switch (c) {
	case 'd': rx_puts(&k->body, "0-9"); return 2;
	case 'w': rx_puts(&k->body, "A-Za-z0-9_"); return 2;
	case 's': rx_puts(&k->body, "[:space:]"); return 2;
	case 'x':
	case 'u':
		used = rx_hex_escape(p + *i - 1, &cp);
		if (used < 0 || cp >= 0x80)
			return -1;
		*i += (size_t)used - 1;
		*lit = (char)cp;
		return 1;
	case 'b':
		*lit = '\b';
		return 1;
	default:
		if (rx_ctrl_escape(c, lit))
			return 1;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			return -1;
		*lit = c;
		return 1;
	}
}

static void rx_class_lit(struct rx_class *k, char c)
{
	if (c == ']')
		k->rbr = 1;
	else if (c == '-')
		k->dash = 1;
	else if (c == '^')
		k->caret = 1;
	else if (c == '[')
		k->lbr = 1;
	else
		rx_putc(&k->body, c);
}

/* Translates "[...]" starting after '['; *i is left after ']'. */
static int rx_bracket(const char *p, size_t *i, struct rx_out *o)
{
	struct rx_class k;
	char buf[1024], lo, hi;
	int neg = 0, r;

	memset(&k, 0, sizeof(k));
	k.body.p = buf;
	k.body.cap = sizeof(buf);
	if (p[*i] == '^') {
		neg = 1;
		(*i)++;
	}
	while (p[*i] && p[*i] != ']') {
		r = rx_class_atom(p, i, &k, &lo);
		if (r < 0)
			return -1;
		if (r == 2)
			continue;
		if (p[*i] == '-' && p[*i + 1] && p[*i + 1] != ']') {
			(*i)++;
			r = rx_class_atom(p, i, &k, &hi);
			if (r != 1 || (unsigned char)lo > (unsigned char)hi || strchr("]^-[", lo) ||
			    strchr("]^-[", hi))
				return -1;
			rx_putc(&k.body, lo);
			rx_putc(&k.body, '-');
			rx_putc(&k.body, hi);
			continue;
		}
		rx_class_lit(&k, lo);
	}
	if (p[*i] != ']' || k.body.len + 8 >= sizeof(buf))
		return -1;
	(*i)++;
	if (!k.body.len && !k.rbr && !k.dash && !k.lbr) {
		if (!k.caret)
			return -1;	/* [] or [^]: not expressible */
		rx_puts(o, neg ? "[^^]" : "\\^");
		return 0;
	}
	rx_putc(o, '[');
	if (neg)
		rx_putc(o, '^');
	if (k.rbr)
		rx_putc(o, ']');
	rx_put(o, buf, k.body.len);
	if (k.lbr)
		rx_putc(o, '[');
	if (k.caret)
		rx_putc(o, '^');
	if (k.dash)
		rx_putc(o, '-');
	rx_putc(o, ']');
	return 0;
}

/* "{n}", "{n,}", "{n,m}", "{,m}" at p; returns its length or 0 if it is a literal brace. */
static size_t rx_quantifier(const char *p, struct rx_out *o)
{
	size_t i = 1, a = 0, b = 0;

	while (p[i] >= '0' && p[i] <= '9')
		i++, a++;
	if (p[i] == ',') {
		i++;
		while (p[i] >= '0' && p[i] <= '9')
			i++, b++;
	}
	if (p[i] != '}' || (!a && !b) || a > 4 || b > 4)
		return 0;
	rx_putc(o, '{');
	if (!a)
		rx_putc(o, '0');
	rx_put(o, p + 1, i - 1);
	rx_putc(o, '}');
	return i + 1;
}

/* Escape outside brackets at p[*i] == '\\'. */
static int rx_escape(const char *p, size_t *i, struct rx_out *o)
{
	char c = p[*i + 1], lit;
	unsigned cp;
	int used;

	if (!c)
		return -1;
	*i += 2;
	switch (c) {
	case 'd': rx_puts(o, "[0-9]"); return 0;
	case 'D': rx_puts(o, "[^0-9]"); return 0;
	case 'w': rx_puts(o, "[A-Za-z0-9_]"); return 0;
	case 'W': rx_puts(o, "[^A-Za-z0-9_]"); return 0;
	case 's': rx_puts(o, "[[:space:]]"); return 0;
	case 'S': rx_puts(o, "[^[:space:]]"); return 0;
	case 'b': rx_puts(o, "\\b"); return 0;
	case 'B': rx_puts(o, "\\B"); return 0;
	case 'x':
	case 'u':
		used = rx_hex_escape(p + *i - 1, &cp);
		if (used < 0)
			return -1;
		*i += (size_t)used - 1;
		rx_put_cp(o, cp);
		return 0;
	default:
		break;
	}
	if (rx_ctrl_escape(c, &lit)) {
		rx_putc(o, lit);
		return 0;
	}
	if (c >= '1' && c <= '9') {
		rx_putc(o, '\\');
		rx_putc(o, c);
		return 0;
	}
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '0')
		return -1;
	rx_put_cp(o, (unsigned char)c);
	return 0;
}

/* Translates a pattern to POSIX ERE; returns a malloc'd string or NULL. */
static char *rx_translate(const char *p)
{
	struct rx_out o;
	size_t i = 0, n = strlen(p), q;

	o.cap = n * 16 + 16;
	o.len = 0;
	o.p = malloc(o.cap);
	if (!o.p)
		return NULL;
	o.p[0] = '\0';
	while (i < n) {
		char c = p[i];

		if (c == '\\') {
			if (rx_escape(p, &i, &o))
				goto fail;
		} else if (c == '[') {
			i++;
			if (rx_bracket(p, &i, &o))
				goto fail;
		} else if (c == '{') {
			q = rx_quantifier(p + i, &o);
			if (!q) {
				rx_puts(&o, "\\{");
				q = 1;
			}
			i += q;
		} else if (c == '}') {
			rx_puts(&o, "\\}");
			i++;
		} else if (c == '(' && p[i + 1] == '?') {
			if (p[i + 2] != ':')
				goto fail;
			rx_putc(&o, '(');
			i += 3;
		} else if (c == '.') {
			rx_puts(&o, "[^\n]");
			i++;
		} else {
			rx_putc(&o, c);
			i++;
		}
	}
	if (o.len + 1 >= o.cap)
		goto fail;
	return o.p;
fail:
	free(o.p);
	return NULL;
}

static struct rx_entry *rx_compile(const char *pattern)
{
	struct rx_entry *r = calloc(1, sizeof(*r));
	char *ere;

	if (!r)
		return NULL;
	ere = rx_translate(pattern);
	if (ere && !regcomp(&r->re, ere, REG_EXTENDED | REG_NOSUB))
		r->ok = 1;
	free(ere);
	return r;
}

/* The compiled pattern from the spec's cache (compiled on first use); NULL on OOM. */
static struct rx_entry *rx_get(const struct spec *s, const char *pattern)
{
	struct rx_entry *r = NULL;
	void *v = NULL;
	char *key;

	pthread_mutex_lock(&s->rx->lock);
	if (lh_table_lookup_ex(s->rx->table, pattern, &v)) {
		r = v;
		goto out;
	}
	r = rx_compile(pattern);
	key = strdup(pattern);
	if (!r || !key || lh_table_insert(s->rx->table, key, r)) {
		free(key);
		if (r && r->ok)
			regfree(&r->re);
		free(r);
		r = NULL;
	}
out:
	pthread_mutex_unlock(&s->rx->lock);
	return r;
}

static int rx_exec(const regex_t *re, const char *str, size_t len)
{
	regmatch_t m[1];

	m[0].rm_so = 0;
	m[0].rm_eo = (regoff_t)len;
	return regexec(re, str, 1, m, REG_STARTEND) == 0;
}

/* 1 if str matches pattern (an uncompilable pattern matches everything). */
static int rx_match(const struct spec *s, const char *pattern, const char *str, size_t len)
{
	struct rx_entry *r;
	int m;

	if (s) {
		r = rx_get(s, pattern);
		return !r || !r->ok || rx_exec(&r->re, str, len);
	}
	r = rx_compile(pattern);
	m = !r || !r->ok || rx_exec(&r->re, str, len);
	if (r && r->ok)
		regfree(&r->re);
	free(r);
	return m;
}

/* ------------------------------------------------------------------------- */
/* formats                                                                   */

static int all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static int num2(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

static int days_in_month(int y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[m - 1];
}

/* YYYY-MM-DD */
static int fmt_date(const char *s, size_t n)
{
	int y, m, d;

	if (n != 10 || s[4] != '-' || s[7] != '-' || !all_digits(s, 4) || !all_digits(s + 5, 2) ||
	    !all_digits(s + 8, 2))
		return 0;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + num2(s + 2);
	m = num2(s + 5);
	d = num2(s + 8);
	return m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

/* RFC 3339 date-time */
static int fmt_datetime(const char *s, size_t n)
{
	size_t i = 19;
	int hh, mm, ss;

	if (n < 20 || !fmt_date(s, 10) || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
	    s[16] != ':' || !all_digits(s + 11, 2) || !all_digits(s + 14, 2) ||
	    !all_digits(s + 17, 2))
		return 0;
	hh = num2(s + 11);
	mm = num2(s + 14);
	ss = num2(s + 17);
	if (hh > 23 || mm > 59 || ss > 60 || (ss == 60 && mm != 59))
		return 0;
	if (s[i] == '.') {
		size_t start = ++i;

		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return 0;
	}
	if (i < n && (s[i] == 'Z' || s[i] == 'z'))
		return i + 1 == n;
	if (i + 6 != n || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':' ||
	    !all_digits(s + i + 1, 2) || !all_digits(s + i + 4, 2))
		return 0;
	return num2(s + i + 1) <= 23 && num2(s + i + 4) <= 59;
}

static int fmt_uuid(const char *s, size_t n)
{
	size_t i;

	if (n != 36)
		return 0;
	for (i = 0; i < n; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (hex_digit_value((unsigned char)s[i]) < 0) {
			return 0;
		}
	}
	return 1;
}

static int is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_alnum(char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9');
}

/* absolute URI (RFC 3986): scheme ":" followed by URI characters and %-escapes */
static int fmt_uri(const char *s, size_t n)
{
	size_t i = 0;

	if (!n || !is_alpha(s[0]))
		return 0;
	while (i < n && (is_alnum(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
		i++;
	if (i >= n || s[i] != ':')
		return 0;
	for (i++; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n || hex_digit_value((unsigned char)s[i + 1]) < 0 ||
			    hex_digit_value((unsigned char)s[i + 2]) < 0)
				return 0;
			i += 2;
		} else if (!is_alnum(s[i]) && !strchr("-._~:/?#[]@!$&'()*+,;=", s[i])) {
			return 0;
		}
	}
	return 1;
}

static int fmt_email(const char *s, size_t n)
{
	const char *at = memchr(s, '@', n);
	size_t i;

	if (!at || at == s || at == s + n - 1 || memchr(at + 1, '@', (size_t)(s + n - at - 1)))
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return 0;
	return 1;
}

static int fmt_ipv4(const char *s, size_t n)
{
	size_t i = 0, start, parts = 0;

	while (parts < 4) {
		int v = 0;

		start = i;
		while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3)
			v = v * 10 + (s[i++] - '0');
		if (i == start || v > 255 || (s[start] == '0' && i - start > 1))
			return 0;
		parts++;
		if (parts < 4) {
			if (i >= n || s[i] != '.')
				return 0;
			i++;
		}
	}
	return i == n;
}

/* 1 when valid or the format is unknown */
static int check_format(const char *fmt, const char *s, size_t n)
{
	if (!strcmp(fmt, "uuid"))
		return fmt_uuid(s, n);
	if (!strcmp(fmt, "date-time"))
		return fmt_datetime(s, n);
	if (!strcmp(fmt, "date"))
		return fmt_date(s, n);
	if (!strcmp(fmt, "uri"))
		return fmt_uri(s, n);
	if (!strcmp(fmt, "email"))
		return fmt_email(s, n);
	if (!strcmp(fmt, "ipv4"))
		return fmt_ipv4(s, n);
	return 1;
}

static size_t utf8_length(const char *s, size_t n)
{
	size_t i, count = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			count++;
	return count;
}

/* ------------------------------------------------------------------------- */
/* validation context, errors and evaluated-property sets                    */

struct pseg {
	const char *key;	/* NULL: array index */
	size_t idx;
};

struct errslot {
	int set;
	int depth;
	int weak;		/* an enum/const mismatch was seen in this evaluation */
	char path[256];
	char msg[512];
};

#define ENUM_LOG_DEPTH 3	/* levels below an anyOf/oneOf whose enum checks are logged */
#define ENUM_LOG_MAX 256

struct enum_entry {
	uint64_t hash;		/* of the instance path */
	int depth;
	int passed;
	size_t branch;
};

struct enum_log {
	struct enum_entry *e;
	size_t n, cap;
	int base;		/* path depth of the alternatives */
	size_t branch;		/* branch being evaluated */
};

struct vctx {
	struct enum_log *elog;	/* innermost anyOf/oneOf being evaluated, or NULL */
	const struct spec *s;
	int flags;
	struct pseg path[MAX_INST_DEPTH];
	int plen;
	int sdepth;
	long steps;
	int aborted;
	struct schema_error abort_err;
};

struct evald {
	int all;		/* every property counts as evaluated */
	int declared;		/* some applied schema describes the object's properties */
	size_t n;
	unsigned char *bits;	/* by position in the object's key order */
};

static void path_text(const struct vctx *c, char *out, size_t n)
{
	struct sbuf b;
	int i;

	sb_init(&b, out, n);
	for (i = 0; i < c->plen; i++) {
		char num[32];

		if (i)
			sb_putc(&b, '.');
		if (c->path[i].key) {
			sb_puts(&b, c->path[i].key);
		} else {
			snprintf(num, sizeof(num), "%zu", c->path[i].idx);
			sb_puts(&b, num);
		}
	}
	sb_ellipsis(&b);
}

/* Whether an error at the current location would replace the slot's error. */
static int want(const struct vctx *c, struct errslot *e, int weak)
{
	e->weak |= weak;
	return !e->set || c->plen > e->depth;
}

static void put(const struct vctx *c, struct errslot *e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void put(const struct vctx *c, struct errslot *e, const char *fmt, ...)
{
	va_list ap;

	e->set = 1;
	e->depth = c->plen;
	path_text(c, e->path, sizeof(e->path));
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

/* "<repr(inst)><text><repr(arg)>" */
static int fail2(struct vctx *c, struct errslot *e, int weak, json_object *inst, const char *text,
		 json_object *arg)
{
	char a[REPR_BUF], b[REPR_BUF];

	if (want(c, e, weak))
		put(c, e, "%s%s%s", repr(inst, a), text, arg ? repr(arg, b) : "");
	return -1;
}

static void propagate(struct errslot *dst, const struct errslot *src)
{
	dst->weak |= src->weak;
	if (src->set && (!dst->set || src->depth > dst->depth)) {
		dst->set = 1;
		dst->depth = src->depth;
		memcpy(dst->path, src->path, sizeof(dst->path));
		memcpy(dst->msg, src->msg, sizeof(dst->msg));
	}
}

static void abort_validation(struct vctx *c, const char *msg)
{
	if (c->aborted)
		return;
	c->aborted = 1;
	path_text(c, c->abort_err.path, sizeof(c->abort_err.path));
	snprintf(c->abort_err.message, sizeof(c->abort_err.message), "%s", msg);
}

static int ev_mark(struct evald *ev, size_t idx)
{
	if (idx >= ev->n) {
		size_t nn = idx + 16;
		unsigned char *nb = realloc(ev->bits, nn);

		if (!nb)
			return -1;
		memset(nb + ev->n, 0, nn - ev->n);
		ev->bits = nb;
		ev->n = nn;
	}
	ev->bits[idx] = 1;
	return 0;
}

static void ev_merge(struct evald *dst, const struct evald *src)
{
	size_t i;

	if (!dst)
		return;
	dst->all |= src->all;
	dst->declared |= src->declared;
	for (i = 0; i < src->n; i++)
		if (src->bits[i] && ev_mark(dst, i))
			dst->all = 1;	/* out of memory: do not reject what we cannot track */
}

static void ev_free(struct evald *ev)
{
	free(ev->bits);
	ev->bits = NULL;
	ev->n = 0;
}

static int ev_has(const struct evald *ev, size_t idx)
{
	return ev->all || (idx < ev->n && ev->bits[idx]);
}

/* ------------------------------------------------------------------------- */
/* keyword application                                                       */

struct kw {
	json_object *type, *nullable, *properties, *required, *additional, *pattern_props,
		*enumv, *constv, *minimum, *maximum, *xmin, *xmax, *multiple, *min_len,
		*max_len, *pattern, *format, *items, *add_items, *min_items, *max_items,
		*unique, *min_props, *max_props, *all_of, *any_of, *one_of, *not,
		*discriminator, *dependencies, *ref;
	int has_const;
	int count;		/* keywords recognised */
};

/* A schema object with its keywords picked out and its $ref resolved. */
enum {
	T_NULL = 1, T_BOOLEAN = 2, T_OBJECT = 4, T_ARRAY = 8, T_NUMBER = 16, T_INTEGER = 32,
	T_STRING = 64
};

struct node {
	struct kw k;
	unsigned types;		/* T_* named by "type"; 0 when absent or all unknown */
	json_object *target;	/* $ref target, NULL if dangling */
	struct rx_entry *rx;	/* compiled "pattern", NULL if not precompiled */
};

#define NODE_WALK_DEPTH 512

static int apply(struct vctx *c, json_object *schema, json_object *inst, struct evald *ev,
		 struct errslot *e);
static int validate_location(struct vctx *c, json_object *schema, json_object *inst,
			     struct errslot *e);

#define KW(name, field) { name, offsetof(struct kw, field) }

static const struct {
	const char *name;
	size_t off;
} kw_names[] = {
	KW("type", type), KW("properties", properties), KW("required", required),
	KW("$ref", ref), KW("allOf", all_of), KW("anyOf", any_of), KW("oneOf", one_of),
	KW("enum", enumv), KW("nullable", nullable), KW("additionalProperties", additional),
	KW("items", items), KW("format", format), KW("pattern", pattern),
	KW("minimum", minimum), KW("maximum", maximum), KW("minLength", min_len),
	KW("maxLength", max_len), KW("minItems", min_items), KW("maxItems", max_items),
	KW("discriminator", discriminator), KW("patternProperties", pattern_props),
	KW("const", constv), KW("exclusiveMinimum", xmin), KW("exclusiveMaximum", xmax),
	KW("multipleOf", multiple), KW("additionalItems", add_items),
	KW("uniqueItems", unique), KW("minProperties", min_props),
	KW("maxProperties", max_props), KW("not", not), KW("dependencies", dependencies),
};

static void kw_collect(json_object *schema, struct kw *k)
{
	size_t i;

	memset(k, 0, sizeof(*k));
	json_object_object_foreach(schema, key, v) {
		for (i = 0; i < sizeof(kw_names) / sizeof(kw_names[0]); i++) {
			if (strcmp(key, kw_names[i].name))
				continue;
			*(json_object **)(void *)((char *)k + kw_names[i].off) = v;
			k->count++;
			k->has_const |= !strcmp(key, "const");
			break;
		}
	}
	if (k->ref && !is_str(k->ref)) {
		k->ref = NULL;
		k->count--;
	}
}

static unsigned type_bit(const char *t)
{
	static const char *const names[] = { "null", "boolean", "object", "array", "number",
					      "integer", "string" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(t, names[i]))
			return 1u << i;
	return 0;
}

static unsigned type_mask(json_object *type)
{
	unsigned m = 0;
	size_t i, n;

	if (is_str(type))
		return type_bit(json_object_get_string(type));
	n = is_arr(type) ? json_object_array_length(type) : 0;
	for (i = 0; i < n; i++) {
		json_object *t = json_object_array_get_idx(type, i);

		if (is_str(t))
			m |= type_bit(json_object_get_string(t));
	}
	return m;
}

static void node_fill(const struct spec *s, json_object *schema, struct node *n)
{
	kw_collect(schema, &n->k);
	n->types = type_mask(n->k.type);
	n->target = n->k.ref ? resolve_ref(s, json_object_get_string(n->k.ref)) : NULL;
	n->rx = NULL;
}

/* Records every object and array of the document once (shared subtrees included). */
static int nodes_walk(struct spec *s, json_object *o, int depth)
{
	struct node *n = NULL;
	size_t i, len;

	if (depth > NODE_WALK_DEPTH || !(is_obj(o) || is_arr(o)) || lh_table_lookup_entry(s->nodes, o))
		return 0;
	if (is_obj(o)) {
		n = malloc(sizeof(*n));
		if (!n)
			return -1;
		node_fill(s, o, n);
		if (!n->k.count) {
			free(n);
			n = NULL;
		} else if (is_str(n->k.pattern)) {
			n->rx = rx_get(s, json_object_get_string(n->k.pattern));
		}
	}
	if (lh_table_insert(s->nodes, o, n)) {
		free(n);
		return -1;
	}
	if (is_arr(o)) {
		len = json_object_array_length(o);
		for (i = 0; i < len; i++)
			if (nodes_walk(s, json_object_array_get_idx(o, i), depth + 1))
				return -1;
		return 0;
	}
	json_object_object_foreach(o, key, child) {
		(void)key;
		if (nodes_walk(s, child, depth + 1))
			return -1;
	}
	return 0;
}

static int nodes_build(struct spec *s)
{
	return nodes_walk(s, s->root, 0);
}

/* The node of a schema: cached for the spec's own objects (*found), else NULL. */
static const struct node *node_lookup(const struct spec *s, json_object *schema, int *found)
{
	void *v = NULL;

	*found = s && s->nodes && lh_table_lookup_ex(s->nodes, schema, &v);
	return v;
}

/* One $ref hop: *is_ref tells whether schema is a reference; returns its target. */
static json_object *deref(const struct spec *s, json_object *schema, int *is_ref)
{
	const struct node *n;
	const char *ref;
	int found;

	n = node_lookup(s, schema, &found);
	if (found) {
		*is_ref = n && n->k.ref;
		return *is_ref ? n->target : NULL;
	}
	ref = ref_of(schema);
	*is_ref = ref != NULL;
	return ref ? resolve_ref(s, ref) : NULL;
}

static int enter(struct vctx *c, struct errslot *e, const char *key, size_t idx)
{
	if (c->plen >= MAX_INST_DEPTH) {
		if (want(c, e, 0))
			put(c, e, "maximum nesting depth (%d) exceeded", MAX_INST_DEPTH);
		return -1;
	}
	c->path[c->plen].key = key;
	c->path[c->plen].idx = idx;
	c->plen++;
	return 0;
}

static int validate_child(struct vctx *c, json_object *schema, json_object *inst,
			  const char *key, size_t idx, struct errslot *e)
{
	int rc;

	if (enter(c, e, key, idx))
		return -1;
	rc = validate_location(c, schema, inst, e);
	c->plen--;
	return rc;
}

/* --- type --- */

static int type_ok(unsigned types, json_object *inst)
{
	switch (json_object_get_type(inst)) {
	case json_type_null:
		return types & T_NULL;
	case json_type_boolean:
		return types & T_BOOLEAN;
	case json_type_object:
		return types & T_OBJECT;
	case json_type_array:
		return types & T_ARRAY;
	case json_type_string:
		return types & T_STRING;
	case json_type_int:
	case json_type_double:
		return (types & T_NUMBER) || ((types & T_INTEGER) && is_integer(inst));
	}
	return 0;
}

static int kw_type(struct vctx *c, const struct node *nd, json_object *inst, struct errslot *e)
{
	char a[REPR_BUF], names[256];
	struct sbuf b;
	size_t i, n;

	if (!nd->types || type_ok(nd->types, inst))
		return 0;
	if (want(c, e, 0)) {
		sb_init(&b, names, sizeof(names));
		if (is_arr(nd->k.type)) {
			n = json_object_array_length(nd->k.type);
			for (i = 0; i < n; i++) {
				if (i)
					sb_puts(&b, ", ");
				repr_value(&b, json_object_array_get_idx(nd->k.type, i), 0);
			}
		} else {
			repr_value(&b, nd->k.type, 0);
		}
		sb_ellipsis(&b);
		put(c, e, "%s is not of type %s", repr(inst, a), names);
	}
	return -1;
}

/* --- enum / const --- */

static void log_enum(struct vctx *c, int passed);

static int kw_enum(struct vctx *c, json_object *list, json_object *inst, struct errslot *e)
{
	size_t i, n;

	if (!is_arr(list))
		return 0;
	n = json_object_array_length(list);
	for (i = 0; i < n; i++) {
		if (json_equal(inst, json_object_array_get_idx(list, i), 0)) {
			log_enum(c, 1);
			return 0;
		}
	}
	log_enum(c, 0);
	return fail2(c, e, 1, inst, " is not one of ", list);
}

static int kw_const(struct vctx *c, json_object *value, json_object *inst, struct errslot *e)
{
	char a[REPR_BUF];

	log_enum(c, json_equal(inst, value, 0));
	if (json_equal(inst, value, 0))
		return 0;
	if (want(c, e, 1))
		put(c, e, "%s was expected", repr(value, a));
	return -1;
}

/* --- numbers --- */

static int check_bound(struct vctx *c, const struct kw *k, json_object *inst, int lower,
		       struct errslot *e)
{
	json_object *bound = lower ? k->minimum : k->maximum;
	json_object *excl = lower ? k->xmin : k->xmax;
	struct num x, b;
	int exclusive = 0, cmp;

	get_num(inst, &x);
	if (is_num(excl)) {	/* draft 6+ numeric form */
		get_num(excl, &b);
		cmp = num_cmp(&x, &b);
		if (cmp == 2 || (lower ? cmp <= 0 : cmp >= 0))
			return fail2(c, e, 0, inst, lower ?
				     " is less than or equal to the minimum of " :
				     " is greater than or equal to the maximum of ", excl);
	} else {
		exclusive = is_true(excl);
	}
	if (!is_num(bound))
		return 0;
	get_num(bound, &b);
	cmp = num_cmp(&x, &b);
	if (cmp != 2 && (lower ? (exclusive ? cmp > 0 : cmp >= 0) : (exclusive ? cmp < 0 : cmp <= 0)))
		return 0;
	if (lower)
		return fail2(c, e, 0, inst, exclusive ? " is less than or equal to the minimum of " :
			     " is less than the minimum of ", bound);
	return fail2(c, e, 0, inst, exclusive ? " is greater than or equal to the maximum of " :
		     " is greater than the maximum of ", bound);
}

/* Whether a quotient is an integer, allowing for binary rounding (0.0075 / 0.0001). */
static int near_integer(double q)
{
	double aq = q < 0 ? -q : q, r;

	if (aq >= 4503599627370496.0)	/* 2^52: every double is an integer */
		return 1;
	r = (double)(int64_t)(aq + 0.5);
	return (aq > r ? aq - r : r - aq) <= 1e-9 * (aq > 1.0 ? aq : 1.0);
}

static int kw_multiple(struct vctx *c, json_object *m, json_object *inst, struct errslot *e)
{
	struct num x, d;
	double q;
	int ok;

	if (!is_num(m))
		return 0;
	get_num(inst, &x);
	get_num(m, &d);
	if (d.kind == NUM_I64 && x.kind == NUM_I64) {
		if (d.i <= 0)
			return 0;
		ok = x.i % d.i == 0;
	} else {
		if (!(d.d > 0))
			return 0;
		q = x.d / d.d;
		ok = isfinite(q) && near_integer(q);
	}
	return ok ? 0 : fail2(c, e, 0, inst, " is not a multiple of ", m);
}

static int kw_numbers(struct vctx *c, const struct kw *k, json_object *inst, struct errslot *e)
{
	int rc = 0;

	if (!is_num(inst))
		return 0;
	if (k->minimum || k->xmin)
		rc |= check_bound(c, k, inst, 1, e);
	if (k->maximum || k->xmax)
		rc |= check_bound(c, k, inst, 0, e);
	if (k->multiple)
		rc |= kw_multiple(c, k->multiple, inst, e);
	return rc ? -1 : 0;
}

/* --- strings --- */

static int get_count(json_object *o, int64_t *v)
{
	if (!is_num(o))
		return 0;
	*v = json_object_is_type(o, json_type_int) ? json_object_get_int64(o) :
	     (int64_t)json_object_get_double(o);
	return 1;
}

static int kw_strings(struct vctx *c, const struct node *nd, json_object *inst, struct errslot *e)
{
	const struct kw *k = &nd->k;
	const char *s;
	size_t n, len = 0;
	int64_t lim;
	int rc = 0;

	if (!is_str(inst))
		return 0;
	s = json_object_get_string(inst);
	n = (size_t)json_object_get_string_len(inst);
	if (k->min_len || k->max_len)
		len = utf8_length(s, n);
	if (get_count(k->min_len, &lim) && (int64_t)len < lim)
		rc |= fail2(c, e, 0, inst, " is too short", NULL);
	if (get_count(k->max_len, &lim) && (int64_t)len > lim)
		rc |= fail2(c, e, 0, inst, " is too long", NULL);
	if (is_str(k->pattern) && !(nd->rx ? !nd->rx->ok || rx_exec(&nd->rx->re, s, n) :
				    rx_match(c->s, json_object_get_string(k->pattern), s, n)))
		rc |= fail2(c, e, 0, inst, " does not match ", k->pattern);
	if (is_str(k->format) && !check_format(json_object_get_string(k->format), s, n))
		rc |= fail2(c, e, 0, inst, " is not a ", k->format);
	return rc ? -1 : 0;
}

/* --- arrays --- */

static int kw_items(struct vctx *c, const struct kw *k, json_object *inst, struct errslot *e)
{
	size_t i, n = json_object_array_length(inst), ntuple;
	char a[REPR_BUF * 2];
	struct sbuf b;
	int rc = 0;

	if (is_obj(k->items) || json_object_is_type(k->items, json_type_boolean)) {
		for (i = 0; i < n && !c->aborted; i++)
			rc |= validate_child(c, k->items, json_object_array_get_idx(inst, i), NULL, i, e);
		return rc ? -1 : 0;
	}
	if (!is_arr(k->items))
		return 0;
	ntuple = json_object_array_length(k->items);
	for (i = 0; i < n && i < ntuple && !c->aborted; i++)
		rc |= validate_child(c, json_object_array_get_idx(k->items, i),
				     json_object_array_get_idx(inst, i), NULL, i, e);
	if (n <= ntuple || !k->add_items)
		return rc ? -1 : 0;
	if (json_object_is_type(k->add_items, json_type_boolean) &&
	    !json_object_get_boolean(k->add_items)) {
		if (want(c, e, 0)) {
			sb_init(&b, a, sizeof(a));
			for (i = ntuple; i < n && !b.trunc; i++) {
				if (i > ntuple)
					sb_puts(&b, ", ");
				repr_value(&b, json_object_array_get_idx(inst, i), 0);
			}
			sb_ellipsis(&b);
			put(c, e, "Additional items are not allowed (%s %s unexpected)", a,
			    n - ntuple == 1 ? "was" : "were");
		}
		return -1;
	}
	for (i = ntuple; i < n && !c->aborted; i++)
		rc |= validate_child(c, k->add_items, json_object_array_get_idx(inst, i), NULL, i, e);
	return rc ? -1 : 0;
}

static int has_duplicates(json_object *arr)
{
	size_t i, j, n = json_object_array_length(arr);

	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (json_equal(json_object_array_get_idx(arr, i),
				       json_object_array_get_idx(arr, j), 0))
				return 1;
	return 0;
}

static int kw_arrays(struct vctx *c, const struct kw *k, json_object *inst, struct errslot *e)
{
	int64_t lim;
	int rc = 0;

	if (!is_arr(inst))
		return 0;
	if (k->items)
		rc |= kw_items(c, k, inst, e);
	if (get_count(k->min_items, &lim) && (int64_t)json_object_array_length(inst) < lim)
		rc |= fail2(c, e, 0, inst, " is too short", NULL);
	if (get_count(k->max_items, &lim) && (int64_t)json_object_array_length(inst) > lim)
		rc |= fail2(c, e, 0, inst, " is too long", NULL);
	if (is_true(k->unique) && has_duplicates(inst))
		rc |= fail2(c, e, 0, inst, " has non-unique elements", NULL);
	return rc ? -1 : 0;
}

/* --- objects --- */

/*
 * The default of a property schema: its own, its $ref target's, or one from an inline
 * allOf member ("allOf: [{$ref: x}, {default: ''}]"). Defaults of shared types that are
 * merely included with "allOf: [{$ref: ...}]" do not apply (e.g. int01's default 0
 * must not turn the optional "gender" filter into gender == 0). 1 if found.
 */
static int find_default(const struct spec *s, json_object *schema, int depth, json_object **out)
{
	json_object *all, *m;
	size_t i, n;

	if (depth > 16)
		return 0;
	schema = spec_resolve(s, schema);
	if (!is_obj(schema))
		return 0;
	if (json_object_object_get_ex(schema, "default", out))
		return 1;
	all = get(schema, "allOf");
	n = is_arr(all) ? json_object_array_length(all) : 0;
	for (i = 0; i < n; i++) {
		m = json_object_array_get_idx(all, i);
		if (!ref_of(m) && find_default(s, m, depth + 1, out))
			return 1;
	}
	return 0;
}

static void insert_default(struct vctx *c, json_object *inst, const char *key, json_object *sub)
{
	json_object *def = NULL, *copy = NULL;

	if (!find_default(c->s, sub, 0, &def))
		return;
	if (def && json_object_deep_copy(def, &copy, NULL))
		return;
	if (json_object_object_add(inst, key, copy))
		json_object_put(copy);
}

static int kw_properties(struct vctx *c, const struct kw *k, json_object *inst,
			 struct errslot *e)
{
	json_object *val;
	int rc = 0;

	if (!is_obj(k->properties))
		return 0;
	json_object_object_foreach(k->properties, key, sub) {
		if (c->aborted)
			break;
		if (json_object_object_get_ex(inst, key, &val))
			rc |= validate_child(c, sub, val, key, 0, e);
		else if (c->flags & SCHEMA_DEFAULTS)
			insert_default(c, inst, key, sub);
	}
	return rc ? -1 : 0;
}

/* Appends the repr of key to a list being built for an "unexpected" message. */
static void list_key(struct sbuf *b, const char *key, int *count)
{
	if (*count)
		sb_puts(b, ", ");
	repr_string(b, key, strlen(key));
	(*count)++;
}

static int fail_unexpected(struct vctx *c, struct errslot *e, char *list, int count)
{
	if (want(c, e, 0))
		put(c, e, "Additional properties are not allowed (%s %s unexpected)", list,
		    count == 1 ? "was" : "were");
	return -1;
}

/* patternProperties, additionalProperties and evaluated-property marking, per key */
static int kw_keys(struct vctx *c, const struct kw *k, json_object *inst, struct evald *ev,
		   struct errslot *e)
{
	int addl_false = json_object_is_type(k->additional, json_type_boolean) &&
			 !json_object_get_boolean(k->additional);
	int addl_schema = is_obj(k->additional), count = 0, rc = 0;
	char list[400];
	struct sbuf b;
	size_t idx = 0;

	sb_init(&b, list, sizeof(list));
	json_object_object_foreach(inst, key, val) {
		int known = has(k->properties, key), matched = 0;

		if (c->aborted)
			break;
		if (is_obj(k->pattern_props)) {
			json_object_object_foreach(k->pattern_props, pat, sub) {
				if (!rx_match(c->s, pat, key, strlen(key)))
					continue;
				matched = 1;
				rc |= validate_child(c, sub, val, key, 0, e);
			}
		}
		if (!known && !matched) {
			if (addl_false)
				list_key(&b, key, &count);
			else if (addl_schema)
				rc |= validate_child(c, k->additional, val, key, 0, e);
		}
		if (ev && (known || matched) && ev_mark(ev, idx))
			ev->all = 1;
		idx++;
	}
	if (count) {
		sb_ellipsis(&b);
		rc |= fail_unexpected(c, e, list, count);
	}
	return rc ? -1 : 0;
}

static int kw_required(struct vctx *c, json_object *req, json_object *inst, struct errslot *e)
{
	size_t i, n = is_arr(req) ? json_object_array_length(req) : 0;
	char a[REPR_BUF];
	int rc = 0;

	for (i = 0; i < n; i++) {
		json_object *name = json_object_array_get_idx(req, i);

		if (!is_str(name) || has(inst, json_object_get_string(name)))
			continue;
		if (want(c, e, 0))
			put(c, e, "%s is a required property", repr(name, a));
		rc = -1;
	}
	return rc;
}

static int kw_dependencies(struct vctx *c, json_object *deps, json_object *inst,
			   struct evald *ev, struct errslot *e)
{
	char a[REPR_BUF], b[REPR_BUF];
	int rc = 0;

	if (!is_obj(deps))
		return 0;
	json_object_object_foreach(deps, key, dep) {
		size_t i, n;

		if (!has(inst, key))
			continue;
		if (!is_arr(dep)) {
			rc |= apply(c, dep, inst, ev, e);
			continue;
		}
		n = json_object_array_length(dep);
		for (i = 0; i < n; i++) {
			json_object *name = json_object_array_get_idx(dep, i);

			if (!is_str(name) || has(inst, json_object_get_string(name)))
				continue;
			if (want(c, e, 0))
				put(c, e, "%s is a dependency of %s", repr(name, a), repr_cstr(key, b));
			rc = -1;
		}
	}
	return rc ? -1 : 0;
}

static int kw_objects(struct vctx *c, const struct kw *k, json_object *inst, struct evald *ev,
		      struct errslot *e)
{
	int64_t lim, cnt;
	int rc = 0;

	if (!is_obj(inst))
		return 0;
	rc |= kw_properties(c, k, inst, e);
	if (k->pattern_props || is_obj(k->additional) ||
	    json_object_is_type(k->additional, json_type_boolean) || (ev && k->properties))
		rc |= kw_keys(c, k, inst, ev, e);
	rc |= kw_required(c, k->required, inst, e);
	if (k->dependencies)
		rc |= kw_dependencies(c, k->dependencies, inst, ev, e);
	cnt = json_object_object_length(inst);
	if (get_count(k->min_props, &lim) && cnt < lim)
		rc |= fail2(c, e, 0, inst, " does not have enough properties", NULL);
	if (get_count(k->max_props, &lim) && cnt > lim)
		rc |= fail2(c, e, 0, inst, " has too many properties", NULL);
	return rc ? -1 : 0;
}

/* Strict-mode bookkeeping: which properties this schema accounts for. */
static void note_evaluated(const struct node *nd, struct evald *ev)
{
	const struct kw *k = &nd->k;

	if (k->properties || k->pattern_props || k->additional)
		ev->declared = 1;
	if (is_obj(k->additional) || is_true(k->additional))
		ev->all = 1;
	if ((nd->types & T_OBJECT) && !k->properties && !k->pattern_props && !k->all_of &&
	    !k->any_of && !k->one_of)
		ev->all = 1;
}

/* --- composition --- */

static int nullable_member(struct vctx *c, json_object *list)
{
	size_t i, n = json_object_array_length(list);

	for (i = 0; i < n; i++)
		if (is_true(get(spec_resolve(c->s, json_object_array_get_idx(list, i)), "nullable")))
			return 1;
	return 0;
}

static int kw_all_of(struct vctx *c, json_object *list, json_object *inst, struct evald *ev,
		     struct errslot *e)
{
	size_t i, n;
	int rc = 0;

	if (!is_arr(list))
		return 0;
	/* OpenAPI habit: allOf: [{nullable: true}, {$ref: ...}] means "or null" */
	if (!inst && nullable_member(c, list))
		return 0;
	n = json_object_array_length(list);
	for (i = 0; i < n && !c->aborted; i++)
		rc |= apply(c, json_object_array_get_idx(list, i), inst, ev, e);
	return rc ? -1 : 0;
}

/*
 * anyOf/oneOf bookkeeping. Every branch is evaluated into its own error slot and, in
 * strict mode, its own evaluated-property set. Enum/const checks made near the
 * alternatives' location are logged by path so that a branch rejected by an enum that
 * another branch accepted at the same place ("objects_type: faces" against the events
 * variant) is recognised as the wrong variant when errors are picked.
 */
struct alt_branch {
	int evaluated, passed, covers, wrong;
	struct errslot err;
	struct evald ev;
};

static uint64_t path_hash(const struct vctx *c)
{
	uint64_t h = 1469598103934665603ULL;
	const unsigned char *p;
	char num[32];
	int i;

	for (i = 0; i < c->plen; i++) {
		if (c->path[i].key) {
			p = (const unsigned char *)c->path[i].key;
		} else {
			snprintf(num, sizeof(num), "#%zu", c->path[i].idx);
			p = (const unsigned char *)num;
		}
		for (; *p; p++)
			h = (h ^ *p) * 1099511628211ULL;
		h = (h ^ 0xff) * 1099511628211ULL;
	}
	return h;
}

static void log_enum(struct vctx *c, int passed)
{
	struct enum_log *l = c->elog;
	struct enum_entry *ne;

	if (!l || c->plen > l->base + ENUM_LOG_DEPTH || l->n >= ENUM_LOG_MAX)
		return;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 8;

		ne = realloc(l->e, ncap * sizeof(*ne));
		if (!ne)
			return;
		l->e = ne;
		l->cap = ncap;
	}
	l->e[l->n].hash = path_hash(c);
	l->e[l->n].depth = c->plen;
	l->e[l->n].passed = passed;
	l->e[l->n].branch = l->branch;
	l->n++;
}

/* Hands the entries of a finished alternatives log up to the enclosing one. */
static void log_merge_up(struct vctx *c, struct enum_log *inner)
{
	struct enum_log *outer = c->elog;
	size_t i;

	for (i = 0; outer && i < inner->n; i++) {
		struct enum_entry *ne;

		if (inner->e[i].depth > outer->base + ENUM_LOG_DEPTH || outer->n >= ENUM_LOG_MAX)
			continue;
		if (outer->n == outer->cap) {
			size_t ncap = outer->cap ? outer->cap * 2 : 8;

			ne = realloc(outer->e, ncap * sizeof(*ne));
			if (!ne)
				return;
			outer->e = ne;
			outer->cap = ncap;
		}
		outer->e[outer->n] = inner->e[i];
		outer->e[outer->n].branch = outer->branch;
		outer->n++;
	}
}

/* A branch is the wrong variant when an enum it failed passed in another branch. */
static int branch_wrong(const struct enum_log *l, size_t branch)
{
	size_t i, j;

	for (i = 0; i < l->n; i++) {
		if (l->e[i].branch != branch || l->e[i].passed)
			continue;
		for (j = 0; j < l->n; j++)
			if (l->e[j].branch != branch && l->e[j].passed && l->e[j].hash == l->e[i].hash)
				return 1;
	}
	return 0;
}

/* Whether the parent's and a branch's evaluated properties together cover the object. */
static int alt_covers(json_object *inst, const struct evald *ev, const struct evald *tev)
{
	size_t idx = 0;

	if (ev->all || tev->all || !(ev->declared || tev->declared))
		return 1;
	json_object_object_foreach(inst, key, val) {
		(void)key;
		(void)val;
		if (!ev_has(ev, idx) && !ev_has(tev, idx))
			return 0;
		idx++;
	}
	return 1;
}

/* Is failing branch a a better source of the error than b? */
static int better_failure(const struct alt_branch *a, const struct alt_branch *b)
{
	if (a->wrong != b->wrong)
		return !a->wrong;
	if (a->covers != b->covers)
		return a->covers;
	if (a->err.depth != b->err.depth)
		return a->err.depth > b->err.depth;
	return b->err.weak && !a->err.weak;
}

static int alt_candidate(const struct alt_branch *b, int only_covering, int skip_wrong)
{
	return b->evaluated && !b->passed && (!only_covering || b->covers) &&
	       (!skip_wrong || !b->wrong);
}

/*
 * No acceptable branch: among the failing branches (only those describing every
 * property if only_covering; wrong variants set aside when others exist) report the
 * best error if it lies deeper than this location, the common message if they all
 * agree, else a summary.
 */
static int alt_fail(struct vctx *c, struct alt_branch *br, size_t n, int only_covering,
		    json_object *inst, struct errslot *e)
{
	const struct alt_branch *best = NULL, *first = NULL;
	int same = 1, skip_wrong = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		e->weak |= br[i].evaluated && !br[i].passed && br[i].err.weak;
		if (alt_candidate(&br[i], only_covering, 0) && !br[i].wrong)
			skip_wrong = 1;
	}
	for (i = 0; i < n; i++) {
		if (!alt_candidate(&br[i], only_covering, skip_wrong))
			continue;
		if (!first)
			first = &br[i];
		else if (strcmp(first->err.msg, br[i].err.msg) || strcmp(first->err.path, br[i].err.path))
			same = 0;
		if (!best || better_failure(&br[i], best))
			best = &br[i];
	}
	if (best && (best->err.depth > c->plen || same)) {
		propagate(e, &best->err);
		return -1;
	}
	return fail2(c, e, 0, inst, " is not valid under any of the given schemas", NULL);
}

static int alt_fail_many(struct vctx *c, json_object *list, size_t i1, size_t i2,
			 json_object *inst, struct errslot *e)
{
	char a[REPR_BUF], b[REPR_BUF], d[REPR_BUF];

	if (want(c, e, 0))
		put(c, e, "%s is valid under each of %s, %s", repr(inst, a),
		    repr(json_object_array_get_idx(list, i2), b),
		    repr(json_object_array_get_idx(list, i1), d));
	return -1;
}

/* Runs every branch (stopping early once the outcome cannot change). */
static void alt_evaluate(struct vctx *c, json_object *list, int one, json_object *inst,
			 int strict, struct alt_branch *br, size_t n)
{
	int npass = 0;
	size_t i;

	for (i = 0; i < n && !c->aborted; i++) {
		c->elog->branch = i;
		br[i].evaluated = 1;
		br[i].passed = !apply(c, json_object_array_get_idx(list, i), inst,
				      strict ? &br[i].ev : NULL, &br[i].err);
		if (br[i].passed && ++npass >= (one ? 2 : 1) && !strict)
			break;
	}
}

/*
 * Chooses the branch(es) that make the alternatives pass; returns the chosen index,
 * -1 for a failure already reported, -2 for "valid under several" (oneOf).
 */
static long alt_choose(struct vctx *c, json_object *list, int one, json_object *inst,
		       struct evald *ev, struct alt_branch *br, size_t n, struct errslot *e)
{
	size_t i, pc = 0, pn = 0, fc = 0, first_pc = 0, second_pc = 0, first_pn = 0, second_pn = 0;

	for (i = 0; i < n; i++) {
		if (!br[i].evaluated)
			continue;
		if (br[i].passed && br[i].covers) {
			if (!pc++)
				first_pc = i;
			else if (pc == 2)
				second_pc = i;
		} else if (br[i].passed) {
			if (!pn++)
				first_pn = i;
			else if (pn == 2)
				second_pn = i;
		} else if (br[i].covers) {
			fc++;
		}
	}
	if (!pc && !pn)
		return alt_fail(c, br, n, 0, inst, e);
	if (!pc && fc && ev)	/* the branches that fit the object's shape failed on values */
		return alt_fail(c, br, n, 1, inst, e);
	if (one) {
		if (pc > 1 || (!pc && pn > 1)) {
			alt_fail_many(c, list, pc > 1 ? first_pc : first_pn,
				      pc > 1 ? second_pc : second_pn, inst, e);
			return -2;
		}
		i = pc ? first_pc : first_pn;
		ev_merge(ev, &br[i].ev);
		return (long)i;
	}
	for (i = 0; i < n; i++)
		if (br[i].evaluated && br[i].passed)
			ev_merge(ev, &br[i].ev);
	return (long)(pc ? first_pc : first_pn);
}

/*
 * anyOf (one == 0) / oneOf (one == 1). Branches are matched without inserting defaults;
 * the chosen branch is then applied again with defaults when they are wanted.
 */
static int kw_alternatives(struct vctx *c, json_object *list, int one, json_object *inst,
			   struct evald *ev, struct errslot *e)
{
	struct enum_log log, *outer = c->elog;
	struct alt_branch *br;
	size_t i, n;
	int saved = c->flags, rc = -1;
	long chosen;

	if (!is_arr(list) || !(n = json_object_array_length(list)))
		return 0;
	br = calloc(n, sizeof(*br));
	if (!br) {
		abort_validation(c, "out of memory");
		return -1;
	}
	memset(&log, 0, sizeof(log));
	log.base = c->plen;
	c->elog = &log;
	c->flags &= ~SCHEMA_DEFAULTS;
	alt_evaluate(c, list, one, inst, ev != NULL, br, n);
	c->flags = saved;
	c->elog = outer;
	log_merge_up(c, &log);
	if (c->aborted)
		goto out;
	for (i = 0; i < n; i++) {
		br[i].covers = !ev || alt_covers(inst, ev, &br[i].ev);
		br[i].wrong = branch_wrong(&log, i);
	}
	chosen = alt_choose(c, list, one, inst, ev, br, n, e);
	rc = chosen < 0 ? -1 : 0;
	if (chosen >= 0 && (saved & SCHEMA_DEFAULTS))
		rc = apply(c, json_object_array_get_idx(list, (size_t)chosen), inst, ev, e);
out:
	for (i = 0; i < n; i++)
		ev_free(&br[i].ev);
	free(br);
	free(log.e);
	return rc;
}

/* The discriminator value as text: strings as is, other scalars as JSON. */
static const char *disc_text(json_object *v)
{
	if (is_str(v))
		return json_object_get_string(v);
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
}

/* Name of the schema a branch refers to: the last segment of its $ref. */
static const char *branch_name(json_object *branch)
{
	const char *ref = ref_of(branch), *slash;

	if (!ref)
		return NULL;
	slash = strrchr(ref, '/');
	return slash ? slash + 1 : ref;
}

static int disc_unknown(struct vctx *c, json_object *val, const char *prop, json_object *mapping,
			json_object *list, struct errslot *e)
{
	char a[REPR_BUF], keys[400];
	struct sbuf b;
	int count = 0;
	size_t i, n;

	if (enter(c, e, prop, 0))
		return -1;
	if (want(c, e, 1)) {
		sb_init(&b, keys, sizeof(keys));
		sb_putc(&b, '[');
		if (is_obj(mapping)) {
			json_object_object_foreach(mapping, key, ref) {
				(void)ref;
				list_key(&b, key, &count);
			}
		} else {
			n = json_object_array_length(list);
			for (i = 0; i < n; i++) {
				const char *name = branch_name(json_object_array_get_idx(list, i));

				if (name)
					list_key(&b, name, &count);
			}
		}
		sb_putc(&b, ']');
		sb_ellipsis(&b);
		put(c, e, "%s is not one of %s", repr(val, a), keys);
	}
	c->plen--;
	return -1;
}

/* OpenAPI discriminator: picks the branch from the property value; *handled = 0 if n/a. */
static int kw_discriminator(struct vctx *c, const struct kw *k, json_object *inst,
			    struct evald *ev, struct errslot *e, int *handled)
{
	json_object *list = k->one_of ? k->one_of : k->any_of, *prop, *mapping, *val, *ref;
	json_object *target = NULL;
	const char *text;
	char a[REPR_BUF];
	size_t i, n;

	*handled = 0;
	prop = get(k->discriminator, "propertyName");
	if (!is_obj(inst) || !is_str(prop) || !is_arr(list))
		return 0;
	*handled = 1;
	if (!json_object_object_get_ex(inst, json_object_get_string(prop), &val)) {
		if (want(c, e, 0))
			put(c, e, "%s is a required property", repr(prop, a));
		return -1;
	}
	text = disc_text(val);
	mapping = get(k->discriminator, "mapping");
	if (is_obj(mapping)) {
		ref = get(mapping, text);
		if (!is_str(ref))
			return disc_unknown(c, val, json_object_get_string(prop), mapping, list, e);
		target = resolve_mapping(c->s, json_object_get_string(ref));
		if (!target) {
			if (want(c, e, 0))
				put(c, e, "Unresolvable JSON pointer: %s", repr(ref, a));
			return -1;
		}
	} else {
		n = json_object_array_length(list);
		for (i = 0; i < n && !target; i++) {
			const char *name = branch_name(json_object_array_get_idx(list, i));

			if (name && !strcmp(name, text))
				target = json_object_array_get_idx(list, i);
		}
		if (!target)
			return disc_unknown(c, val, json_object_get_string(prop), NULL, list, e);
	}
	return apply(c, target, inst, ev, e);
}

static int kw_not(struct vctx *c, json_object *sub, json_object *inst, struct errslot *e)
{
	struct errslot *tmp = calloc(1, sizeof(*tmp));
	int saved = c->flags, r;
	char a[REPR_BUF], b[REPR_BUF];

	if (!tmp) {
		abort_validation(c, "out of memory");
		return -1;
	}
	c->flags &= ~SCHEMA_DEFAULTS;
	r = apply(c, sub, inst, NULL, tmp);
	c->flags = saved;
	free(tmp);
	if (r || c->aborted)
		return c->aborted ? -1 : 0;
	if (want(c, e, 0))
		put(c, e, "%s should not be valid under %s", repr(inst, a), repr(sub, b));
	return -1;
}

static int kw_composition(struct vctx *c, const struct kw *k, json_object *inst,
			  struct evald *ev, struct errslot *e)
{
	int rc = 0, handled = 0;

	if (k->all_of)
		rc |= kw_all_of(c, k->all_of, inst, ev, e);
	if (k->discriminator)
		rc |= kw_discriminator(c, k, inst, ev, e, &handled);
	if (!handled && k->any_of)
		rc |= kw_alternatives(c, k->any_of, 0, inst, ev, e);
	if (!handled && k->one_of)
		rc |= kw_alternatives(c, k->one_of, 1, inst, ev, e);
	if (k->not)
		rc |= kw_not(c, k->not, inst, e);
	return rc ? -1 : 0;
}

static int apply_keywords(struct vctx *c, const struct node *nd, json_object *inst,
			  struct evald *ev, struct errslot *e)
{
	const struct kw *k = &nd->k;
	int rc = 0;

	if (is_true(k->nullable) && !inst)
		return 0;
	if (ev)
		note_evaluated(nd, ev);
	if (nd->types)
		rc |= kw_type(c, nd, inst, e);
	if (k->enumv)
		rc |= kw_enum(c, k->enumv, inst, e);
	if (k->has_const)
		rc |= kw_const(c, k->constv, inst, e);
	rc |= kw_numbers(c, k, inst, e);
	rc |= kw_strings(c, nd, inst, e);
	rc |= kw_arrays(c, k, inst, e);
	rc |= kw_objects(c, k, inst, ev, e);
	if (k->all_of || k->any_of || k->one_of || k->not)
		rc |= kw_composition(c, k, inst, ev, e);
	return rc ? -1 : 0;
}

static int apply_node(struct vctx *c, const struct node *nd, json_object *inst,
		      struct evald *ev, struct errslot *e)
{
	char a[REPR_BUF];

	if (!nd->k.ref)
		return apply_keywords(c, nd, inst, ev, e);
	/* OpenAPI 3.0: siblings of $ref are ignored */
	if (nd->target)
		return apply(c, nd->target, inst, ev, e);
	if (want(c, e, 0))
		put(c, e, "Unresolvable JSON pointer: %s", repr(nd->k.ref, a));
	return -1;
}

/* Schemas that are not part of the spec document: keywords picked out on the fly. */
static __attribute__((noinline)) int apply_uncached(struct vctx *c, json_object *schema,
						     json_object *inst, struct evald *ev,
						     struct errslot *e)
{
	struct node tmp;

	node_fill(c->s, schema, &tmp);
	return apply_node(c, &tmp, inst, ev, e);
}

/* Applies a schema to an instance in place (no new instance location). */
static int apply(struct vctx *c, json_object *schema, json_object *inst, struct evald *ev,
		 struct errslot *e)
{
	const struct node *nd;
	char a[REPR_BUF];
	int rc, found;

	if (c->aborted)
		return -1;
	if (++c->steps > MAX_STEPS) {
		abort_validation(c, "validation is too complex");
		return -1;
	}
	if (json_object_is_type(schema, json_type_boolean)) {
		if (json_object_get_boolean(schema))
			return 0;
		if (want(c, e, 0))
			put(c, e, "False schema does not allow %s", repr(inst, a));
		return -1;
	}
	if (!is_obj(schema))
		return 0;
	nd = node_lookup(c->s, schema, &found);
	if (found && !nd)
		return 0;	/* no keywords */
	if (c->sdepth >= MAX_SCHEMA_DEPTH) {
		if (want(c, e, 0))
			put(c, e, "maximum schema depth (%d) exceeded (cyclic $ref?)", MAX_SCHEMA_DEPTH);
		return -1;
	}
	c->sdepth++;
	rc = nd ? apply_node(c, nd, inst, ev, e) : apply_uncached(c, schema, inst, ev, e);
	c->sdepth--;
	return rc;
}

static int check_unevaluated(struct vctx *c, json_object *inst, const struct evald *ev,
			     struct errslot *e)
{
	char list[400];
	struct sbuf b;
	size_t idx = 0;
	int count = 0;

	sb_init(&b, list, sizeof(list));
	json_object_object_foreach(inst, key, val) {
		(void)val;
		if (!ev_has(ev, idx))
			list_key(&b, key, &count);
		idx++;
	}
	if (!count)
		return 0;
	sb_ellipsis(&b);
	return fail_unexpected(c, e, list, count);
}

/* Validates an instance at a new location; in strict mode also its unevaluated properties. */
static int validate_location(struct vctx *c, json_object *schema, json_object *inst,
			     struct errslot *e)
{
	struct evald ev = { 0 };
	int strict = (c->flags & SCHEMA_STRICT) && is_obj(inst), rc;

	rc = apply(c, schema, inst, strict ? &ev : NULL, e);
	if (!rc && strict && ev.declared && !ev.all)
		rc = check_unevaluated(c, inst, &ev, e);
	ev_free(&ev);
	return rc;
}

int schema_validate(const struct spec *s, json_object *schema, json_object *inst, int flags,
		    struct schema_error *err)
{
	struct vctx c;
	struct errslot e;
	int rc;

	memset(&c, 0, sizeof(c));
	memset(&e, 0, sizeof(e));
	c.s = s;
	c.flags = flags;
	if (err)
		err->path[0] = err->message[0] = '\0';
	if (!schema) {
		if (err)
			snprintf(err->message, sizeof(err->message), "no schema to validate against");
		return -1;
	}
	rc = validate_location(&c, schema, inst, &e);
	if (c.aborted) {
		if (err)
			*err = c.abort_err;
		return -1;
	}
	if (!rc)
		return 0;
	if (err) {
		memcpy(err->path, e.path, sizeof(err->path));
		memcpy(err->message, e.set ? e.msg : "is not valid", sizeof(err->message));
	}
	return -1;
}

/* ------------------------------------------------------------------------- */
/* query-string coercion                                                     */

/* A keyword of the schema, looking through $ref and allOf. */
static json_object *find_keyword(const struct spec *s, json_object *schema, const char *name,
				 int depth)
{
	json_object *v, *all;
	size_t i, n;

	if (depth > 16)
		return NULL;
	schema = spec_resolve(s, schema);
	if (!is_obj(schema))
		return NULL;
	v = get(schema, name);
	if (v)
		return v;
	all = get(schema, "allOf");
	n = is_arr(all) ? json_object_array_length(all) : 0;
	for (i = 0; i < n; i++) {
		v = find_keyword(s, json_object_array_get_idx(all, i), name, depth + 1);
		if (v)
			return v;
	}
	return NULL;
}

static int coerce_integer(const char *str, json_object **out)
{
	const char *p = str[0] == '-' ? str + 1 : str;
	long long v;

	if (!*p || !all_digits(p, strlen(p)))
		return -1;
	errno = 0;
	v = strtoll(str, NULL, 10);
	if (errno)
		return -1;
	*out = json_object_new_int64(v);
	return *out ? 0 : -1;
}

/* [-]digits[.digits][e[+-]digits] or [-].digits... */
static int coerce_number(const char *str, json_object **out)
{
	const char *p = str[0] == '-' ? str + 1 : str;
	size_t digits = 0, frac = 0, exp = 0;
	double d;

	while (*p >= '0' && *p <= '9')
		p++, digits++;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			frac++;
	if (!digits && !frac)
		return -1;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		for (; *p >= '0' && *p <= '9'; p++)
			exp++;
		if (!exp)
			return -1;
	}
	if (*p)
		return -1;
	if (!strpbrk(str, ".eE") && !coerce_integer(str, out))
		return 0;
	d = strtod(str, NULL);
	if (!isfinite(d))
		return -1;
	*out = json_object_new_double(d);
	return *out ? 0 : -1;
}

static int coerce_boolean(const char *str, json_object **out)
{
	if (!strcmp(str, "1") || !strcmp(str, "true"))
		*out = json_object_new_boolean(1);
	else if (!strcmp(str, "0") || !strcmp(str, "false"))
		*out = json_object_new_boolean(0);
	else
		return -1;
	return *out ? 0 : -1;
}

static int coerce_as(const struct spec *s, json_object *schema, const char *type,
		     const char *str, int depth, json_object **out);

static int coerce_value(const struct spec *s, json_object *schema, const char *str, int depth,
			json_object **out)
{
	json_object *type = find_keyword(s, schema, "type", 0);
	size_t i, n;

	*out = NULL;
	if (is_str(type))
		return coerce_as(s, schema, json_object_get_string(type), str, depth, out);
	if (!is_arr(type))
		return coerce_as(s, schema, "string", str, depth, out);
	n = json_object_array_length(type);
	for (i = 0; i < n; i++) {
		json_object *t = json_object_array_get_idx(type, i);

		if (is_str(t) && !coerce_as(s, schema, json_object_get_string(t), str, depth, out))
			return 0;
	}
	return -1;
}

static int coerce_array(const struct spec *s, json_object *schema, const char *str, int depth,
			json_object **out)
{
	json_object *items = find_keyword(s, schema, "items", 0), *arr, *item;
	char *copy, *piece, *next;
	int rc = -1;

	if (depth > 0)
		return -1;	/* no nested lists in a query value */
	arr = json_object_new_array();
	copy = strdup(str);
	if (!arr || !copy)
		goto out;
	for (piece = copy; *str && piece; piece = next) {
		next = strchr(piece, ',');
		if (next)
			*next++ = '\0';
		if (items ? coerce_value(s, items, piece, depth + 1, &item) :
			    !(item = json_object_new_string(piece)))
			goto out;
		if (json_object_array_add(arr, item)) {
			json_object_put(item);
			goto out;
		}
	}
	*out = arr;
	arr = NULL;
	rc = 0;
out:
	free(copy);
	json_object_put(arr);
	return rc;
}

static int coerce_as(const struct spec *s, json_object *schema, const char *type,
		     const char *str, int depth, json_object **out)
{
	if (!strcmp(type, "integer"))
		return coerce_integer(str, out);
	if (!strcmp(type, "number"))
		return coerce_number(str, out);
	if (!strcmp(type, "boolean"))
		return coerce_boolean(str, out);
	if (!strcmp(type, "string")) {
		*out = json_object_new_string(str);
		return *out ? 0 : -1;
	}
	if (!strcmp(type, "array"))
		return coerce_array(s, schema, str, depth, out);
	if (!strcmp(type, "null") && !strcmp(str, "null")) {
		*out = NULL;
		return 0;
	}
	return -1;
}

int schema_coerce_string(const struct spec *s, json_object *schema, const char *str,
			 json_object **out)
{
	if (!out)
		return -1;
	*out = NULL;
	if (!str)
		return -1;
	return coerce_value(s, schema, str, 0, out);
}
