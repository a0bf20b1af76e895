/* schema_coerce.c - query-string values converted to the JSON type their schema declares. */
#include "common/schema_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

