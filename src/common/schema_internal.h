/* schema_internal.h - what the files of the schema engine share (private to src/common/schema*.c):
 * the loaded document and its index of schema objects, the regex cache, numbers and the
 * Python-style repr used in the messages (written with the bounded text of common/sbuf.h).
 *
 *   schema_ref.c       loading a document, JSON pointers and $ref, the index of schema objects
 *   schema_regex.c     JS (ECMA 262) patterns translated to POSIX ERE, compiled once per document
 *   schema_format.c    "format" checks (uuid, date-time, date, uri, email, ipv4)
 *   schema_message.c   bounded Python repr() of instances for the error messages
 *   schema_validate.c  the validator (keywords, strict mode, defaults, anyOf/oneOf choice)
 *   schema_coerce.c    query-string values converted to the declared type
 */
#ifndef LUNA_COMMON_SCHEMA_INTERNAL_H
#define LUNA_COMMON_SCHEMA_INTERNAL_H

#include "common/sbuf.h"
#include "common/schema.h"

#include <pthread.h>
#include <regex.h>
#include <stddef.h>
#include <stdint.h>
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

/* One step of a pattern of the simple form ^(atom{m,n})+$: a set of ASCII bytes taken
 * m..n times. */
struct rx_step {
	unsigned char set[32];	/* bit c: byte c belongs to the set */
	unsigned short min, max;
};

#define RX_STEPS_MAX 16

struct rx_entry {
	int ok;			/* 0: the pattern could not be compiled and is ignored */
	regex_t re;
	/* > 0: the pattern is of the simple form and these steps match exactly the strings
	 * the regex matches, without regexec (uuid patterns of every import line) */
	size_t nsteps;
	struct rx_step steps[RX_STEPS_MAX];
};

struct spec {
	json_object *root;
	struct rx_cache *rx;
	struct lh_table *nodes;	/* every object/array of root -> struct node* or NULL */
};

/* ---- small json helpers ---- */

static inline int is_obj(json_object *o)
{
	return json_object_is_type(o, json_type_object);
}

static inline int is_arr(json_object *o)
{
	return json_object_is_type(o, json_type_array);
}

static inline int is_str(json_object *o)
{
	return json_object_is_type(o, json_type_string);
}

static inline int is_num(json_object *o)
{
	return json_object_is_type(o, json_type_int) || json_object_is_type(o, json_type_double);
}

static inline json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!is_obj(o) || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static inline int has(json_object *o, const char *key)
{
	return is_obj(o) && json_object_object_get_ex(o, key, NULL);
}

static inline int is_true(json_object *o)
{
	return json_object_is_type(o, json_type_boolean) && json_object_get_boolean(o);
}

/* The "$ref" text of a schema object, or NULL. */
static inline const char *ref_of(json_object *schema)
{
	json_object *r = get(schema, "$ref");

	return is_str(r) ? json_object_get_string(r) : NULL;
}

static inline int all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* ---- the index of schema objects (schema_ref.c) ---- */

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

/* Fills n from a schema object: keywords, type bits, resolved $ref. */
void schema_node_fill(const struct spec *s, json_object *schema, struct node *n);
/* The node of a schema: cached for the spec's own objects (*found), else NULL. */
const struct node *schema_node_lookup(const struct spec *s, json_object *schema, int *found);
/* A discriminator mapping value: "#/..." pointer or a bare schema name. */
json_object *schema_resolve_mapping(const struct spec *s, const char *ref);

/* ---- patterns (schema_regex.c) ---- */

struct rx_cache *schema_rx_cache_new(void);
void schema_rx_cache_free(struct rx_cache *c);	/* NULL ok */
/* The compiled pattern from the spec's cache (compiled on first use); NULL on OOM. */
struct rx_entry *schema_rx_get(const struct spec *s, const char *pattern);
/* 1 if the compiled pattern matches somewhere in str[0..len) (str need not end there). */
int schema_rx_exec(const regex_t *re, const char *str, size_t len);
/* The same for a cache entry: its steps when it has them, else the regex; an entry that
 * could not be compiled matches everything. */
int schema_rx_entry_match(const struct rx_entry *r, const char *str, size_t len);
/* A pattern compiled outside any cache (tests); schema_rx_entry_free releases it. */
struct rx_entry *schema_rx_compile(const char *pattern);
void schema_rx_entry_free(struct rx_entry *r);	/* NULL ok */
/* 1 if str matches pattern (an uncompilable pattern matches everything). */
int schema_rx_match(const struct spec *s, const char *pattern, const char *str, size_t len);

/* ---- formats (schema_format.c) ---- */

/* 1 when valid or the format is unknown */
int schema_check_format(const char *fmt, const char *s, size_t n);

/* ---- numbers (schema_validate.c) ---- */

enum { NUM_I64, NUM_U64, NUM_DBL };

struct num {
	int kind;
	int64_t i;
	uint64_t u;
	double d;
};

/* 0 with *n filled when o is a json-c int or double, else -1. */
int schema_get_num(json_object *o, struct num *n);
/* Integers are json-c ints, plus integer literals too large for 64 bits (parsed as doubles). */
int schema_is_integer(json_object *o);

/* ---- Python-style repr (schema_message.c) ---- */

void schema_repr_string(struct sbuf *b, const char *s, size_t n);
void schema_repr_value(struct sbuf *b, json_object *o, int depth);
/* Bounded repr of a value into out[REPR_BUF]. */
const char *schema_repr(json_object *o, char *out);
const char *schema_repr_cstr(const char *s, char *out);

#endif
