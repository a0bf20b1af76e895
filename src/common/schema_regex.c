/* schema_regex.c - "pattern" and "patternProperties": ECMA 262 patterns translated to POSIX
 * ERE and compiled once per document (a cache shared by threads). */
#include "common/schema_internal.h"
#include "common/encoding.h"

#include <stdlib.h>
#include <string.h>

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

struct rx_cache *schema_rx_cache_new(void)
{
	struct rx_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->table = lh_kchar_table_new(32, rx_entry_free);
	if (!c->table) {
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void schema_rx_cache_free(struct rx_cache *c)
{
	if (!c)
		return;
	lh_table_free(c->table);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

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

struct rx_entry *schema_rx_get(const struct spec *s, const char *pattern)
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

int schema_rx_exec(const regex_t *re, const char *str, size_t len)
{
	regmatch_t m[1];

	m[0].rm_so = 0;
	m[0].rm_eo = (regoff_t)len;
	return regexec(re, str, 1, m, REG_STARTEND) == 0;
}

int schema_rx_match(const struct spec *s, const char *pattern, const char *str, size_t len)
{
	struct rx_entry *r;
	int m;

	if (s) {
		r = schema_rx_get(s, pattern);
		return !r || !r->ok || schema_rx_exec(&r->re, str, len);
	}
	r = rx_compile(pattern);
	m = !r || !r->ok || schema_rx_exec(&r->re, str, len);
	if (r && r->ok)
		regfree(&r->re);
	free(r);
	return m;
}
