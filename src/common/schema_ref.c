/* schema_ref.c - loading a document (an OpenAPI spec or a bare JSON schema), JSON pointers
 * and $ref resolution, and the index of every schema object of the document (keywords
 * picked out, $refs resolved, patterns compiled) built once at loading. */
#include "common/schema_internal.h"
#include "common/encoding.h"
#include "common/yaml_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NODE_WALK_DEPTH 512

static int nodes_build(struct spec *s);

static void node_entry_free(struct lh_entry *e)
{
	free(lh_entry_v(e));
}

struct spec *spec_wrap(json_object *root)
{
	struct spec *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->rx = schema_rx_cache_new();
	if (!s->rx) {
		free(s);
		return NULL;
	}
	s->root = json_object_get(root);
	s->nodes = lh_kptr_table_new(256, node_entry_free);
	if (!s->nodes || nodes_build(s)) {
		spec_free(s);
		return NULL;
	}
	return s;
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
	schema_rx_cache_free(s->rx);
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

json_object *schema_resolve_mapping(const struct spec *s, const char *ref)
{
	if (ref[0] == '#')
		return resolve_ref(s, ref);
	return spec_schema(s, ref);
}

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

void schema_node_fill(const struct spec *s, json_object *schema, struct node *n)
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
		schema_node_fill(s, o, n);
		if (!n->k.count) {
			free(n);
			n = NULL;
		} else if (is_str(n->k.pattern)) {
			n->rx = schema_rx_get(s, json_object_get_string(n->k.pattern));
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

const struct node *schema_node_lookup(const struct spec *s, json_object *schema, int *found)
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

	n = schema_node_lookup(s, schema, &found);
	if (found) {
		*is_ref = n && n->k.ref;
		return *is_ref ? n->target : NULL;
	}
	ref = ref_of(schema);
	*is_ref = ref != NULL;
	return ref ? resolve_ref(s, ref) : NULL;
}
