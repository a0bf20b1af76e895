/* schema_message.c - the bounded Python repr() of instances that error messages quote, as
 * Python's jsonschema writes them. */
#include "common/schema_internal.h"
#include "common/pyrepr.h"

#include <stdio.h>
#include <string.h>

void schema_repr_string(struct sbuf *b, const char *s, size_t n)
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

	schema_get_num(o, &n);
	if (n.kind == NUM_I64)
		snprintf(tmp, sizeof(tmp), "%lld", (long long)n.i);
	else if (n.kind == NUM_U64)
		snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)n.u);
	else if (schema_is_integer(o))
		snprintf(tmp, sizeof(tmp), "%s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	else
		py_float_repr(n.d, tmp);
	sb_puts(b, tmp);
}

void schema_repr_value(struct sbuf *b, json_object *o, int depth)
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
		schema_repr_string(b, json_object_get_string(o), (size_t)json_object_get_string_len(o));
		break;
	case json_type_array: {
		size_t i, n = json_object_array_length(o);

		sb_putc(b, '[');
		for (i = 0; i < n && !b->trunc; i++) {
			if (i)
				sb_puts(b, ", ");
			schema_repr_value(b, json_object_array_get_idx(o, i), depth + 1);
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
			schema_repr_string(b, k, strlen(k));
			sb_puts(b, ": ");
			schema_repr_value(b, v, depth + 1);
		}
		sb_putc(b, '}');
		break;
	}
	}
}

const char *schema_repr(json_object *o, char *out)
{
	struct sbuf b;

	sb_init(&b, out, REPR_MAX + 1);
	schema_repr_value(&b, o, 0);
	sb_ellipsis(&b);
	return out;
}

const char *schema_repr_cstr(const char *s, char *out)
{
	struct sbuf b;

	sb_init(&b, out, REPR_MAX + 1);
	schema_repr_string(&b, s, strlen(s));
	sb_ellipsis(&b);
	return out;
}
