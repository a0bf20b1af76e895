/* schema_regex.c - "pattern" and "patternProperties": ECMA 262 patterns translated to POSIX
 * ERE and compiled once per document (a cache shared by threads). */
#include "common/schema_internal.h"
#include "common/encoding.h"

#include <stdlib.h>
#include <string.h>

void schema_rx_entry_free(struct rx_entry *r)
{
	if (r) {
		if (r->ok)
			regfree(&r->re);
		free(r);
	}
}

static void rx_entry_free(struct lh_entry *e)
{
	schema_rx_entry_free(lh_entry_v(e));
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

/* ---- patterns of the simple form ^(atom{m,n})+$ without regexec ----
 * An atom is a letter, digit, '_' or '-', or a bracket of those and of ranges within
 * digits, lower or upper case letters; the quantifier {n} or {m,n} (m >= 1). Each atom
 * that may repeat a varying number of times must be last or followed by an atom of
 * another set, so that its run ends exactly at the first byte outside its set: taking
 * the longest run then is the only way to match, and no backtracking is needed. The
 * bytes are ASCII, so this holds in any locale's regex too. Anything else goes to the
 * regex. */

static int rx_plain_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       c == '-';
}

static int rx_char_kind(char c)
{
	return c >= '0' && c <= '9' ? 1 : c >= 'a' && c <= 'z' ? 2 : c >= 'A' && c <= 'Z' ? 3 : 0;
}

static void rx_set_add(struct rx_step *st, unsigned char c)
{
	st->set[c >> 3] |= (unsigned char)(1u << (c & 7));
}

static int rx_set_has(const struct rx_step *st, unsigned char c)
{
	return st->set[c >> 3] >> (c & 7) & 1;
}

/* "[...]" at p[*i]: only plain characters and ranges, '-' literal first or last. */
static int rx_step_bracket(const char *p, size_t *i, struct rx_step *st)
{
	size_t j = *i + 1;

	if (p[j] == ']')
		return -1;
	while (p[j] != ']') {
		char c = p[j];

		if (!rx_plain_char(c))
			return -1;
		if (c != '-' && p[j + 1] == '-' && p[j + 2] != ']') {
			char d = p[j + 2];

			if (!rx_char_kind(c) || rx_char_kind(c) != rx_char_kind(d) || d < c)
				return -1;
			for (int x = c; x <= d; x++)
				rx_set_add(st, (unsigned char)x);
			j += 3;
		} else if (c == '-' && j != *i + 1 && p[j + 1] != ']') {
			return -1;
		} else {
			rx_set_add(st, (unsigned char)c);
			j++;
		}
	}
	*i = j + 1;
	return 0;
}

static int rx_step_number(const char *p, size_t *i, unsigned short *v)
{
	unsigned n = 0;
	size_t start = *i;

	while (p[*i] >= '0' && p[*i] <= '9' && *i - start < 4)
		n = n * 10 + (unsigned)(p[(*i)++] - '0');
	if (*i == start || (p[*i] >= '0' && p[*i] <= '9') || n > 1000)
		return -1;
	*v = (unsigned short)n;
	return 0;
}

/* Optional "{n}" or "{m,n}" at p[*i]; none: once. */
static int rx_step_quantifier(const char *p, size_t *i, struct rx_step *st)
{
	st->min = st->max = 1;
	if (p[*i] != '{')
		return 0;
	(*i)++;
	if (rx_step_number(p, i, &st->min))
		return -1;
	st->max = st->min;
	if (p[*i] == ',') {
		(*i)++;
		if (rx_step_number(p, i, &st->max))
			return -1;
	}
	if (p[*i] != '}' || st->min < 1 || st->max < st->min)
		return -1;
	(*i)++;
	return 0;
}

static int rx_sets_disjoint(const struct rx_step *a, const struct rx_step *b)
{
	for (size_t k = 0; k < sizeof(a->set); k++)
		if (a->set[k] & b->set[k])
			return 0;
	return 1;
}

/* Fills r->steps when pattern has the simple form; leaves r->nsteps 0 otherwise. */
static void rx_steps_parse(struct rx_entry *r, const char *p)
{
	size_t i = 1, n = 0;

	if (p[0] != '^')
		return;
	while (p[i] && !(p[i] == '$' && !p[i + 1])) {
		struct rx_step *st = &r->steps[n];

		if (n == RX_STEPS_MAX)
			return;
		memset(st->set, 0, sizeof(st->set));
		if (p[i] == '[') {
			if (rx_step_bracket(p, &i, st))
				return;
		} else if (rx_plain_char(p[i])) {
			rx_set_add(st, (unsigned char)p[i++]);
		} else {
			return;
		}
		if (rx_step_quantifier(p, &i, st))
			return;
		if (n && r->steps[n - 1].min != r->steps[n - 1].max && !rx_sets_disjoint(&r->steps[n - 1], st))
			return;
		n++;
	}
	if (p[i] == '$' && n)
		r->nsteps = n;
}

static int rx_steps_match(const struct rx_entry *r, const unsigned char *s, size_t len)
{
	size_t pos = 0;

	for (size_t k = 0; k < r->nsteps; k++) {
		const struct rx_step *st = &r->steps[k];
		size_t run = 0;

		while (run < st->max && pos + run < len && rx_set_has(st, s[pos + run]))
			run++;
		if (run < st->min)
			return 0;
		pos += run;
	}
	return pos == len;
}

static struct rx_entry *rx_compile(const char *pattern)
{
	struct rx_entry *r = calloc(1, sizeof(*r));
	char *ere;

	if (!r)
		return NULL;
	ere = rx_translate(pattern);
	if (ere && !regcomp(&r->re, ere, REG_EXTENDED | REG_NOSUB)) {
		r->ok = 1;
		rx_steps_parse(r, pattern);
	}
	free(ere);
	return r;
}

struct rx_entry *schema_rx_compile(const char *pattern)
{
	return rx_compile(pattern);
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

int schema_rx_entry_match(const struct rx_entry *r, const char *str, size_t len)
{
	if (!r || !r->ok)
		return 1;
	if (r->nsteps)
		return rx_steps_match(r, (const unsigned char *)str, len);
	return schema_rx_exec(&r->re, str, len);
}

int schema_rx_match(const struct spec *s, const char *pattern, const char *str, size_t len)
{
	struct rx_entry *r;
	int m;

	if (s)
		return schema_rx_entry_match(schema_rx_get(s, pattern), str, len);
	r = rx_compile(pattern);
	m = schema_rx_entry_match(r, str, len);
	schema_rx_entry_free(r);
	return m;
}
