/* schema_validate.c - the validator: keywords applied to an instance, the error with the
 * deepest instance path, the strict mode's evaluated-property sets, default insertion and
 * the choice among anyOf/oneOf branches. */
#include "common/schema_internal.h"
#include "common/json_path.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int schema_get_num(json_object *o, struct num *n)
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

int schema_is_integer(json_object *o)
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
		schema_get_num(a, &x);
		schema_get_num(b, &y);
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
	struct json_path path;	/* of the instance, at most MAX_INST_DEPTH deep */
	int sdepth;
	long steps;
	int quiet;		/* errors are located (set, depth, weak) but their text is not made */
	int defaults_later;	/* defaults are held back (alternatives being matched) ... */
	long defaults_missed;	/* ... and this many missing properties have one */
	int aborted;
	struct schema_error abort_err;
};

struct evald {
	int all;		/* every property counts as evaluated */
	int declared;		/* some applied schema describes the object's properties */
	size_t n;
	unsigned char *bits;	/* by position in the object's key order: small or malloc'd */
	unsigned char small[16];	/* an object of a few keys needs no allocation */
};

_Static_assert(MAX_INST_DEPTH <= JSON_PATH_MAX_DEPTH, "the instance path holds MAX_INST_DEPTH segments");

/* Depth of the instance path: the errors' and the enum log's measure of location. */
static int inst_depth(const struct vctx *c)
{
	return (int)c->path.depth;
}

/*
 * Whether an error at the current location would replace the slot's error (the caller then
 * writes it with put()). When quiet, the slot takes the error's location without its text
 * and the caller writes nothing: only the outcome is wanted (see kw_alternatives).
 */
static int want(const struct vctx *c, struct errslot *e, int weak)
{
	e->weak |= weak;
	if (e->set && inst_depth(c) <= e->depth)
		return 0;
	if (!c->quiet)
		return 1;
	e->set = 1;
	e->depth = inst_depth(c);
	e->path[0] = e->msg[0] = '\0';
	return 0;
}

static void put(const struct vctx *c, struct errslot *e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void put(const struct vctx *c, struct errslot *e, const char *fmt, ...)
{
	va_list ap;

	e->set = 1;
	e->depth = inst_depth(c);
	json_path_text_ellipsis(&c->path, e->path, sizeof(e->path));
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
		put(c, e, "%s%s%s", schema_repr(inst, a), text, arg ? schema_repr(arg, b) : "");
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
	json_path_text_ellipsis(&c->path, c->abort_err.path, sizeof(c->abort_err.path));
	snprintf(c->abort_err.message, sizeof(c->abort_err.message), "%s", msg);
}

static int ev_mark(struct evald *ev, size_t idx)
{
	if (!ev->n && idx < sizeof(ev->small)) {
		memset(ev->small, 0, sizeof(ev->small));
		ev->bits = ev->small;
		ev->n = sizeof(ev->small);
	} else if (idx >= ev->n) {
		size_t nn = idx + 16;
		unsigned char *nb = ev->bits == ev->small ? malloc(nn) : realloc(ev->bits, nn);

		if (!nb)
			return -1;
		if (ev->bits == ev->small)
			memcpy(nb, ev->small, ev->n);
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
	if (ev->bits != ev->small)
		free(ev->bits);
	ev->bits = NULL;
	ev->n = 0;
}

static int ev_has(const struct evald *ev, size_t idx)
{
	return ev->all || (idx < ev->n && ev->bits[idx]);
}

static int apply(struct vctx *c, json_object *schema, json_object *inst, struct evald *ev,
		 struct errslot *e);
static int validate_location(struct vctx *c, json_object *schema, json_object *inst,
			     struct errslot *e);

static int enter(struct vctx *c, struct errslot *e, const char *key, size_t idx)
{
	if (inst_depth(c) >= MAX_INST_DEPTH) {
		if (want(c, e, 0))
			put(c, e, "maximum nesting depth (%d) exceeded", MAX_INST_DEPTH);
		return -1;
	}
	return key ? json_path_push_key(&c->path, key) : json_path_push_index(&c->path, idx);
}

static int validate_child(struct vctx *c, json_object *schema, json_object *inst,
			  const char *key, size_t idx, struct errslot *e)
{
	int rc;

	if (enter(c, e, key, idx))
		return -1;
	rc = validate_location(c, schema, inst, e);
	json_path_pop(&c->path);
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
		return (types & T_NUMBER) || ((types & T_INTEGER) && schema_is_integer(inst));
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
				schema_repr_value(&b, json_object_array_get_idx(nd->k.type, i), 0);
			}
		} else {
			schema_repr_value(&b, nd->k.type, 0);
		}
		sb_ellipsis(&b);
		put(c, e, "%s is not of type %s", schema_repr(inst, a), names);
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
		put(c, e, "%s was expected", schema_repr(value, a));
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

	schema_get_num(inst, &x);
	if (is_num(excl)) {	/* draft 6+ numeric form */
		schema_get_num(excl, &b);
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
	schema_get_num(bound, &b);
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
	schema_get_num(inst, &x);
	schema_get_num(m, &d);
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
	if (is_str(k->pattern) && !(nd->rx ? schema_rx_entry_match(nd->rx, s, n) :
				    schema_rx_match(c->s, json_object_get_string(k->pattern), s, n)))
		rc |= fail2(c, e, 0, inst, " does not match ", k->pattern);
	if (is_str(k->format) && !schema_check_format(json_object_get_string(k->format), s, n))
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
				schema_repr_value(&b, json_object_array_get_idx(inst, i), 0);
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
		else if (c->defaults_later && find_default(c->s, sub, 0, &val))
			c->defaults_missed++;
	}
	return rc ? -1 : 0;
}

/* Appends the repr of key to a list being built for an "unexpected" message. */
static void list_key(struct sbuf *b, const char *key, int *count)
{
	if (*count)
		sb_puts(b, ", ");
	schema_repr_string(b, key, strlen(key));
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
				if (!schema_rx_match(c->s, pat, key, strlen(key)))
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
			put(c, e, "%s is a required property", schema_repr(name, a));
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
				put(c, e, "%s is a dependency of %s", schema_repr(name, a), schema_repr_cstr(key, b));
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
	int defaults;		/* a property it describes is missing and has a default */
	struct errslot err;
	struct evald ev;
};

static uint64_t path_hash(const struct vctx *c)
{
	uint64_t h = 1469598103934665603ULL;
	const unsigned char *p;
	char num[32];
	int i;

	for (i = 0; i < inst_depth(c); i++) {
		if (c->path.seg[i].key) {
			p = (const unsigned char *)c->path.seg[i].key;
		} else {
			snprintf(num, sizeof(num), "#%zu", c->path.seg[i].idx);
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

	if (!l || inst_depth(c) > l->base + ENUM_LOG_DEPTH || l->n >= ENUM_LOG_MAX)
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
	l->e[l->n].depth = inst_depth(c);
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
	if (best && (best->err.depth > inst_depth(c) || same)) {
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
		put(c, e, "%s is valid under each of %s, %s", schema_repr(inst, a),
		    schema_repr(json_object_array_get_idx(list, i2), b),
		    schema_repr(json_object_array_get_idx(list, i1), d));
	return -1;
}

/* Runs every branch (stopping early once the outcome cannot change). */
static void alt_evaluate(struct vctx *c, json_object *list, int one, json_object *inst,
			 int strict, struct alt_branch *br, size_t n)
{
	int npass = 0;
	size_t i;

	for (i = 0; i < n && !c->aborted; i++) {
		long missed = c->defaults_missed;

		c->elog->branch = i;
		br[i].evaluated = 1;
		br[i].passed = !apply(c, json_object_array_get_idx(list, i), inst,
				      strict ? &br[i].ev : NULL, &br[i].err);
		br[i].defaults = c->defaults_missed != missed;
		if (br[i].passed && ++npass >= (one ? 2 : 1) && !strict)
			break;
	}
}

/* How the evaluated branches came out: passed and describing every property (pc), passed
 * otherwise (pn), failed but describing every property (fc), and the first two of each. */
struct alt_counts {
	size_t pc, pn, fc, first_pc, second_pc, first_pn, second_pn;
};

static void alt_count(const struct alt_branch *br, size_t n, struct alt_counts *k)
{
	size_t i;

	memset(k, 0, sizeof(*k));
	for (i = 0; i < n; i++) {
		if (!br[i].evaluated)
			continue;
		if (br[i].passed && br[i].covers) {
			if (!k->pc++)
				k->first_pc = i;
			else if (k->pc == 2)
				k->second_pc = i;
		} else if (br[i].passed) {
			if (!k->pn++)
				k->first_pn = i;
			else if (k->pn == 2)
				k->second_pn = i;
		} else if (br[i].covers) {
			k->fc++;
		}
	}
}

/* Whether the alternatives fail with an error taken from their failing branches. */
static int alt_fails_by_branches(const struct alt_counts *k, const struct evald *ev)
{
	return (!k->pc && !k->pn) || (!k->pc && k->fc && ev);
}

/*
 * Chooses the branch(es) that make the alternatives pass; returns the chosen index,
 * -1 for a failure already reported, -2 for "valid under several" (oneOf).
 */
static long alt_choose(struct vctx *c, json_object *list, int one, json_object *inst,
		       struct evald *ev, struct alt_branch *br, size_t n, struct errslot *e)
{
	struct alt_counts k;
	size_t i;

	alt_count(br, n, &k);
	if (!k.pc && !k.pn)
		return alt_fail(c, br, n, 0, inst, e);
	if (!k.pc && k.fc && ev)	/* the branches that fit the object's shape failed on values */
		return alt_fail(c, br, n, 1, inst, e);
	if (one) {
		if (k.pc > 1 || (!k.pc && k.pn > 1)) {
			alt_fail_many(c, list, k.pc > 1 ? k.first_pc : k.first_pn,
				      k.pc > 1 ? k.second_pc : k.second_pn, inst, e);
			return -2;
		}
		i = k.pc ? k.first_pc : k.first_pn;
		ev_merge(ev, &br[i].ev);
		return (long)i;
	}
	for (i = 0; i < n; i++)
		if (br[i].evaluated && br[i].passed)
			ev_merge(ev, &br[i].ev);
	return (long)(k.pc ? k.first_pc : k.first_pn);
}

/* Branches as not evaluated. Their error texts are left as they are (a slot's text is read
 * only once it is set): a markup item's branches are set up once or twice for each of
 * 20,000 items, and zeroing their 768 bytes of text each time cost more than their checks. */
static void alt_reset(struct alt_branch *br, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		ev_free(&br[i].ev);
		br[i].evaluated = br[i].passed = br[i].covers = br[i].wrong = br[i].defaults = 0;
		br[i].err.set = br[i].err.depth = br[i].err.weak = 0;
		br[i].err.path[0] = br[i].err.msg[0] = '\0';
		br[i].ev.all = br[i].ev.declared = 0;
	}
}

static void alt_clear_log(struct enum_log *log)
{
	free(log->e);
	memset(log, 0, sizeof(*log));
}

/* Evaluates every branch into br (without defaults), logging their enum checks into log. */
static void alt_run(struct vctx *c, json_object *list, int one, json_object *inst,
		    struct evald *ev, struct alt_branch *br, size_t n, struct enum_log *log)
{
	struct enum_log *outer = c->elog;
	int saved = c->flags, later = c->defaults_later;
	size_t i;

	log->base = inst_depth(c);
	c->elog = log;
	c->defaults_later |= (c->flags & SCHEMA_DEFAULTS) != 0;
	c->flags &= ~SCHEMA_DEFAULTS;
	alt_evaluate(c, list, one, inst, ev != NULL, br, n);
	c->flags = saved;
	c->defaults_later = later;
	c->elog = outer;
	if (c->aborted)
		return;
	for (i = 0; i < n; i++) {
		br[i].covers = !ev || alt_covers(inst, ev, &br[i].ev);
		br[i].wrong = branch_wrong(log, i);
	}
}

/*
 * anyOf (one == 0) / oneOf (one == 1). Branches are matched without inserting defaults;
 * the chosen branch is then applied again with defaults when they are wanted and it
 * missed one.
 * The branches run quietly first: a losing branch's error texts (its path and the repr of
 * values) cost more than its checks, once per item of a long list (a roc markup's 20,000
 * items each fail the attribute branch). Only when the error comes from the branches are
 * they run again with texts, so the error is that of an evaluation with texts; the second
 * run's steps count too, so MAX_STEPS still bounds the work done.
 */
static int kw_alternatives(struct vctx *c, json_object *list, int one, json_object *inst,
			   struct evald *ev, struct errslot *e)
{
	struct enum_log log;
	struct alt_branch *br;
	struct alt_counts k;
	size_t n;
	int rc = -1, was_quiet = c->quiet;
	long chosen;

	if (!is_arr(list) || !(n = json_object_array_length(list)))
		return 0;
	br = malloc(n * sizeof(*br));
	if (!br) {
		abort_validation(c, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		br[i].ev = (struct evald){ 0 };
	alt_reset(br, n);
	memset(&log, 0, sizeof(log));
	c->quiet = 1;
	alt_run(c, list, one, inst, ev, br, n, &log);
	c->quiet = was_quiet;
	if (c->aborted)
		goto out;
	alt_count(br, n, &k);
	if (!was_quiet && alt_fails_by_branches(&k, ev)) {
		alt_reset(br, n);
		alt_clear_log(&log);
		alt_run(c, list, one, inst, ev, br, n, &log);
	}
	log_merge_up(c, &log);
	if (c->aborted)
		goto out;
	chosen = alt_choose(c, list, one, inst, ev, br, n, e);
	rc = chosen < 0 ? -1 : 0;
	/* A branch that left no default out would only repeat its checks (its evaluated
	 * properties are merged already). */
	if (chosen >= 0 && (c->flags & SCHEMA_DEFAULTS) && br[chosen].defaults)
		rc = apply(c, json_object_array_get_idx(list, (size_t)chosen), inst, ev, e);
out:
	alt_reset(br, n);
	alt_clear_log(&log);
	free(br);
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
		put(c, e, "%s is not one of %s", schema_repr(val, a), keys);
	}
	json_path_pop(&c->path);
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
			put(c, e, "%s is a required property", schema_repr(prop, a));
		return -1;
	}
	text = disc_text(val);
	mapping = get(k->discriminator, "mapping");
	if (is_obj(mapping)) {
		ref = get(mapping, text);
		if (!is_str(ref))
			return disc_unknown(c, val, json_object_get_string(prop), mapping, list, e);
		target = schema_resolve_mapping(c->s, json_object_get_string(ref));
		if (!target) {
			if (want(c, e, 0))
				put(c, e, "Unresolvable JSON pointer: %s", schema_repr(ref, a));
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
		put(c, e, "%s should not be valid under %s", schema_repr(inst, a), schema_repr(sub, b));
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
		put(c, e, "Unresolvable JSON pointer: %s", schema_repr(nd->k.ref, a));
	return -1;
}

/* Schemas that are not part of the spec document: keywords picked out on the fly. */
static __attribute__((noinline)) int apply_uncached(struct vctx *c, json_object *schema,
						     json_object *inst, struct evald *ev,
						     struct errslot *e)
{
	struct node tmp;

	schema_node_fill(c->s, schema, &tmp);
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
			put(c, e, "False schema does not allow %s", schema_repr(inst, a));
		return -1;
	}
	if (!is_obj(schema))
		return 0;
	nd = schema_node_lookup(c->s, schema, &found);
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
	json_path_init(&c.path, NULL);
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
