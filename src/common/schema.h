/* schema.h - JSON Schema (draft 4) / OpenAPI 3.0 schema validation of json-c values. */
#ifndef LUNA_COMMON_SCHEMA_H
#define LUNA_COMMON_SCHEMA_H

#include <json-c/json.h>

/*
 * A loaded document (an OpenAPI spec or a bare JSON schema); "#/..." $refs resolve
 * against its root. Loading indexes every schema object of the document once (keywords,
 * resolved $refs, compiled patterns), so the document must not be modified afterwards.
 * A spec may be shared by threads; an instance validated with SCHEMA_DEFAULTS is
 * modified and belongs to one thread.
 */
struct spec;

struct spec *spec_load(const char *yaml_path, char *err, size_t errlen);
struct spec *spec_wrap(json_object *root);	/* takes a new reference to root */
void spec_free(struct spec *s);			/* NULL ok */
json_object *spec_root(const struct spec *s);
/* #/components/schemas/<name>, or NULL */
json_object *spec_schema(const struct spec *s, const char *name);
/* Follows a chain of $refs (JSON pointers, ~0 ~1 and %-escapes); NULL if dangling. */
json_object *spec_resolve(const struct spec *s, json_object *schema);

enum {
	/*
	 * Reject object properties that no successfully applied subschema evaluated:
	 * "properties"/"patternProperties"/"additionalProperties" of the schema itself, its
	 * $ref targets and allOf members and the matching anyOf/oneOf branch(es). Objects
	 * whose applied schemas describe no properties at all, or are free-form
	 * ("type: object" alone, additionalProperties true/schema), accept everything.
	 * When several oneOf branches match, the one that accounts for every property wins.
	 */
	SCHEMA_STRICT = 1,
	/*
	 * Insert missing properties that have a default: the property schema's own, its
	 * $ref target's or an inline allOf member's ("allOf: [{$ref: t}, {default: x}]");
	 * defaults of shared types merely included with "allOf: [{$ref: t}]" are not used.
	 * Only matching anyOf/oneOf branches contribute defaults.
	 */
	SCHEMA_DEFAULTS = 2,
};

struct schema_error {
	char path[256];		/* dot-joined instance location, "" for the root */
	char message[512];	/* Python-jsonschema style text */
};

/*
 * 0 when inst is valid against schema, -1 otherwise with *err (if not NULL) describing
 * the failing check with the deepest instance path. A NULL schema is an error.
 * Nesting is followed to 64 instance levels and 256 schema levels; pathological
 * schemas give up with "validation is too complex".
 */
int schema_validate(const struct spec *s, json_object *schema, json_object *inst, int flags,
		    struct schema_error *err);

/*
 * Converts a query-string value to the JSON type the schema (through $ref/allOf)
 * declares: integer (strict decimal, int64), number, boolean (0/1/true/false), string,
 * or array (comma list, items converted by "items"). 0 with a new reference in *out,
 * -1 if it cannot be converted. The result still has to be checked with
 * schema_validate().
 */
int schema_coerce_string(const struct spec *s, json_object *schema, const char *str,
			 json_object **out);

#endif
