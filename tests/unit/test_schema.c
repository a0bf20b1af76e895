/* test_schema.c - unit tests for the YAML loader, the schema validator (keywords, strict
 * mode, defaults, messages, the real luna-tasks spec), coercion and query parsing.
 *
 * Usage: test_schema [SPEC]   (default: $LUNA_SPEC, then docs/luna-tasks.yaml)
 * Test JSON is written with single quotes, which J() turns into double quotes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "common/query.h"
#include "common/schema.h"
#include "common/schema_internal.h"
#include "common/yaml_json.h"

#define U1 "7daa0e35-36a2-474a-8f2b-87f78b59d080"
#define U2 "c42ad7cb-9078-4be4-8457-4d3c744477df"

static int g_pass, g_fail;
static struct spec *g_spec;

static void check(int ok, int line, const char *what)
{
	if (ok) {
		g_pass++;
		return;
	}
	g_fail++;
	printf("FAIL line %d: %s\n", line, what);
}

#define CHECK(cond) check(!!(cond), __LINE__, #cond)

/* JSON text with ' for " */
static json_object *J(const char *text)
{
	char *t = strdup(text), *p;
	json_object *o;

	for (p = t; *p; p++)
		if (*p == '\'')
			*p = '"';
	o = json_tokener_parse(t);
	if (!o && strcmp(t, "null"))
		printf("bad test JSON: %s\n", text);
	free(t);
	return o;
}

/* follows '|'-separated object keys */
static json_object *at(json_object *o, const char *path)
{
	char *copy = strdup(path), *key, *save = NULL;

	for (key = strtok_r(copy, "|", &save); key && o; key = strtok_r(NULL, "|", &save))
		o = json_object_object_get(o, key);
	free(copy);
	return o;
}

static const char *S(json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
}

static int same_json(json_object *a, const char *expect)
{
	json_object *b = J(expect);
	int eq = json_object_equal(a, b);

	json_object_put(b);
	return eq;
}

/* Validates inst against schema within spec; reports a mismatch with the expectation. */
static void expect_result(int line, struct spec *s, json_object *schema, json_object *inst,
			  int flags, const char *path, const char *msg)
{
	struct schema_error e;
	char what[2048];
	int rc = schema_validate(s, schema, inst, flags, &e);

	if (!path) {
		snprintf(what, sizeof(what), "expected valid: %s -> [%s] %s", S(inst), e.path,
			 e.message);
		check(rc == 0, line, what);
		return;
	}
	snprintf(what, sizeof(what), "expected [%s] %s, got rc=%d [%s] %s", path, msg, rc, e.path,
		 e.message);
	check(rc == -1 && !strcmp(e.path, path) && (!msg || !strcmp(e.message, msg)), line, what);
}

/* inline schema (also the $ref root) */
static void inline_case(int line, const char *schema_txt, const char *inst_txt, int flags,
			const char *path, const char *msg, const char *after)
{
	json_object *schema = J(schema_txt), *inst = J(inst_txt);
	struct spec *s = spec_wrap(schema);
	char what[1024];

	expect_result(line, s, schema, inst, flags, path, msg);
	if (after) {
		snprintf(what, sizeof(what), "instance after validation %s, expected %s", S(inst),
			 after);
		check(same_json(inst, after), line, what);
	}
	spec_free(s);
	json_object_put(schema);
	json_object_put(inst);
}

#define VALID(schema, inst) inline_case(__LINE__, schema, inst, 0, NULL, NULL, NULL)
#define INVALID(schema, inst, path, msg) inline_case(__LINE__, schema, inst, 0, path, msg, NULL)
#define SVALID(schema, inst) inline_case(__LINE__, schema, inst, SCHEMA_STRICT, NULL, NULL, NULL)
#define SINVALID(schema, inst, path, msg) \
	inline_case(__LINE__, schema, inst, SCHEMA_STRICT, path, msg, NULL)
#define DEFAULTS(schema, inst, after) \
	inline_case(__LINE__, schema, inst, SCHEMA_DEFAULTS, NULL, NULL, after)

/* a named schema of the real spec */
static void spec_case(int line, const char *name, const char *inst_txt, int flags,
		      const char *path, const char *msg, const char *after)
{
	json_object *inst = J(inst_txt), *schema = spec_schema(g_spec, name);
	char what[4096];

	check(schema != NULL, line, name);
	expect_result(line, g_spec, schema, inst, flags, path, msg);
	if (after) {
		snprintf(what, sizeof(what), "instance after validation %s, expected %s", S(inst),
			 after);
		check(same_json(inst, after), line, what);
	}
	json_object_put(inst);
}

#define SD (SCHEMA_STRICT | SCHEMA_DEFAULTS)
#define SPEC_VALID(name, inst) spec_case(__LINE__, name, inst, SD, NULL, NULL, NULL)
#define SPEC_AFTER(name, inst, after) spec_case(__LINE__, name, inst, SD, NULL, NULL, after)
#define SPEC_INVALID(name, inst, path, msg) spec_case(__LINE__, name, inst, SD, path, msg, NULL)

/* ------------------------------------------------------------------------- */

static json_object *yaml(const char *text, char *err, size_t n)
{
	return yaml_load_string(text, strlen(text), err, n);
}

static void yaml_case(int line, const char *text, const char *expect)
{
	char err[256] = "", what[1024];
	json_object *o = yaml(text, err, sizeof(err));

	snprintf(what, sizeof(what), "yaml %s -> %s (%s), expected %s", text, o ? S(o) : "NULL",
		 err, expect);
	check(o && same_json(o, expect), line, what);
	json_object_put(o);
}

static void yaml_error(int line, const char *text, const char *needle)
{
	char err[256] = "", what[1024];
	json_object *o = yaml(text, err, sizeof(err));

	snprintf(what, sizeof(what), "yaml %s should fail with '%s', got %s", text, needle, err);
	check(!o && strstr(err, needle), line, what);
	json_object_put(o);
}

static void test_yaml_scalars(void)
{
	char err[256];
	json_object *o, *a, *b;

	yaml_case(__LINE__, "a: null\nb: ~\nc:\nd: Null", "{'a':null,'b':null,'c':null,'d':null}");
	yaml_case(__LINE__, "[true, false, True, FALSE, yes, no, on]",
		  "[true,false,true,false,'yes','no','on']");
	yaml_case(__LINE__, "[0, 12, -5, +7, 007, 0o17, 0x1F, 0x1f]", "[0,12,-5,7,7,15,31,31]");
	yaml_case(__LINE__, "[1.5, .5, -.5, 1e3, 1.0e-2, 2., 1_000, 0b11]",
		  "[1.5,0.5,-0.5,1000.0,0.01,2.0,'1_000','0b11']");
	yaml_case(__LINE__, "['1', \"2\", '~', \"null\", 'true', !!str 3, ! 4]",
		  "['1','2','~','null','true','3','4']");
	yaml_case(__LINE__, "[!!int '5', !!float 2, !!bool 'true', !!null '']", "[5,2.0,true,null]");
	yaml_case(__LINE__, "{200: a, 1: b, true: c, null: d, 1.5: e}",
		  "{'200':'a','1':'b','true':'c','null':'d','1.5':'e'}");
	yaml_case(__LINE__, "t: |\n  line1\n  line2\nf: >\n  a\n  b\n", "{'t':'line1\\nline2\\n','f':'a b\\n'}");
	yaml_case(__LINE__, "a: 10.0.0.1\nb: 1:30\nc: 2021-01-01\nd: a-b\n", "{'a':'10.0.0.1','b':'1:30','c':'2021-01-01','d':'a-b'}");
	yaml_case(__LINE__, "'it''s': \"x\\ty\"", "{'it\\u0027s':'x\\ty'}");

	o = yaml("[.inf, -.Inf, .NaN, 99999999999999999999, 18446744073709551615, -99999999999999999999]",
		 err, sizeof(err));
	CHECK(o && json_object_array_length(o) == 6);
	if (o) {
		double pinf = json_object_get_double(json_object_array_get_idx(o, 0));
		double ninf = json_object_get_double(json_object_array_get_idx(o, 1));
		double nan_ = json_object_get_double(json_object_array_get_idx(o, 2));

		CHECK(pinf > 1e308 && ninf < -1e308 && nan_ != nan_);
		CHECK(json_object_is_type(json_object_array_get_idx(o, 3), json_type_double));
		CHECK(json_object_get_uint64(json_object_array_get_idx(o, 4)) == UINT64_MAX);
		CHECK(json_object_is_type(json_object_array_get_idx(o, 5), json_type_double));
	}
	json_object_put(o);

	/* floats serialize as their shortest text */
	o = yaml("[0.81, 20000.0, 158731466399.999, 1e-5]", err, sizeof(err));
	CHECK(o && !strcmp(S(o), "[0.81,20000.0,158731466399.999,1e-05]"));
	json_object_put(o);

	/* anchors and aliases share the object */
	o = yaml("base: &b {x: 1, l: [1, 2]}\nuse: *b\nkey: &k name\nlist: [*k, *b]\n", err, sizeof(err));
	CHECK(o != NULL);
	if (o) {
		json_object_object_get_ex(o, "base", &a);
		json_object_object_get_ex(o, "use", &b);
		CHECK(a == b && same_json(b, "{'x':1,'l':[1,2]}"));
		CHECK(same_json(json_object_object_get(o, "list"), "['name',{'x':1,'l':[1,2]}]"));
	}
	json_object_put(o);
	yaml_case(__LINE__, "a: &x k\n*x : v\n", "{'a':'k','k':'v'}");
}

static void test_yaml_errors(void)
{
	char err[256];
	json_object *o;

	yaml_error(__LINE__, "a: [1, 2\nb: 3\n", "line ");
	yaml_error(__LINE__, "a: 1\n b: 2\n", "line 2");
	yaml_error(__LINE__, "a: *nope\n", "unknown anchor");
	yaml_error(__LINE__, "a: &x [1, *x]\n", "unknown anchor");
	yaml_error(__LINE__, "", "no document");
	yaml_error(__LINE__, "~", "null");
	yaml_error(__LINE__, "a: 1\n---\nb: 2\n", "more than one document");
	yaml_error(__LINE__, "? [1, 2]\n: x\n", "mapping keys must be scalars");
	yaml_error(__LINE__, "a: !!int xyz\n", "tag");
	o = yaml_load_file("/nonexistent/file.yaml", err, sizeof(err));
	CHECK(!o && strstr(err, "/nonexistent/file.yaml"));

	/* deep nesting is refused, not a crash */
	{
		size_t n = 5000, i;
		char *deep = malloc(2 * n + 1);

		for (i = 0; i < n; i++) {
			deep[i] = '[';
			deep[2 * n - 1 - i] = ']';
		}
		deep[2 * n] = '\0';
		o = yaml_load_string(deep, 2 * n, err, sizeof(err));
		CHECK(!o && strstr(err, "nesting too deep"));
		json_object_put(o);
		free(deep);
	}
}

/* The paths of v.3.8.8: those with an operation not marked x-luna-extension
 * (the extensions' own paths are counted by nobody here). */
static int count_base_paths(json_object *paths)
{
	int n = 0;
	json_object_object_foreach(paths, path, item) {
		(void)path;
		int base = 0;
		json_object_object_foreach(item, method, op) {
			json_object *ext = NULL;
			if (json_object_is_type(op, json_type_object) && strcmp(method, "parameters") &&
			    !(json_object_object_get_ex(op, "x-luna-extension", &ext) && json_object_get_boolean(ext)))
				base = 1;
		}
		n += base;
	}
	return n;
}

/* The component schemas of v.3.8.8: those not marked x-luna-extension. */
static int count_base_schemas(json_object *schemas)
{
	int n = 0;
	json_object_object_foreach(schemas, name, schema) {
		(void)name;
		json_object *ext = NULL;
		n += !(json_object_object_get_ex(schema, "x-luna-extension", &ext) && json_object_get_boolean(ext));
	}
	return n;
}

static void test_yaml_spec(void)
{
	json_object *root = spec_root(g_spec), *m, *v;

	CHECK(root != NULL);
	CHECK(!strcmp(json_object_get_string(json_object_object_get(root, "openapi")), "3.0.0"));
	v = json_object_object_get(json_object_object_get(root, "info"), "version");
	CHECK(json_object_is_type(v, json_type_string) && !strcmp(json_object_get_string(v), "v.3.8.8"));
	CHECK(count_base_schemas(at(root, "components|schemas")) == 226);
	CHECK(count_base_paths(json_object_object_get(root, "paths")) == 24);
	m = at(spec_schema(g_spec, "task_reply"), "discriminator|mapping");
	CHECK(json_object_object_length(m) == 9);
	CHECK(json_object_object_get_ex(m, "1", &v) &&
	      !strcmp(json_object_get_string(v), "#/components/schemas/task_linker_reply"));
	CHECK(json_object_object_get_ex(m, "9", &v) &&
	      !strcmp(json_object_get_string(v), "#/components/schemas/task_estimator_reply"));
	v = at(root, "paths|/version|get|responses|200");
	CHECK(json_object_is_type(v, json_type_object));
	v = spec_schema(g_spec, "detect_ts");
	CHECK(json_object_get_double(json_object_object_get(v, "maximum")) == 158731466399.999);
	CHECK(json_object_is_type(json_object_object_get(v, "minimum"), json_type_double));
	CHECK(json_object_get_boolean(json_object_object_get(v, "nullable")));
}

/* ------------------------------------------------------------------------- */

static void test_resolve(void)
{
	json_object *ref, *r;
	struct spec *s;
	json_object *root;

	ref = J("{'$ref': '#/components/schemas/task_account_id'}");
	r = spec_resolve(g_spec, ref);
	CHECK(r == spec_schema(g_spec, "task_account_id"));
	json_object_put(ref);
	ref = J("{'$ref': '#/paths/~12~1tasks~1%7Btask_id%7D/get'}");
	CHECK(spec_resolve(g_spec, ref) != NULL);
	json_object_put(ref);
	ref = J("{'$ref': '#/components/schemas/nope'}");
	CHECK(spec_resolve(g_spec, ref) == NULL);
	json_object_put(ref);
	ref = J("{'$ref': 'other.yaml#/x'}");
	CHECK(spec_resolve(g_spec, ref) == NULL);
	json_object_put(ref);
	CHECK(spec_schema(g_spec, "nope") == NULL);
	CHECK(spec_schema(g_spec, "uuid") != NULL);
	CHECK(spec_resolve(g_spec, spec_schema(g_spec, "uuid")) == spec_schema(g_spec, "uuid"));

	/* chains, array indexes, escapes and cycles */
	root = J("{'a': {'$ref': '#/b'}, 'b': {'$ref': '#/c/1'}, 'c': [0, {'type': 'integer'}],"
		 "'t~x': {'s/y': 5}, 'loop1': {'$ref': '#/loop2'}, 'loop2': {'$ref': '#/loop1'}}");
	s = spec_wrap(root);
	r = spec_resolve(s, json_object_object_get(root, "a"));
	CHECK(r && same_json(r, "{'type':'integer'}"));
	ref = J("{'$ref': '#/t~0x/s~1y'}");
	r = spec_resolve(s, ref);
	CHECK(r && json_object_get_int(r) == 5);
	json_object_put(ref);
	CHECK(spec_resolve(s, json_object_object_get(root, "loop1")) == NULL);
	ref = J("{'$ref': '#'}");
	CHECK(spec_resolve(s, ref) == root);
	json_object_put(ref);
	ref = J("{'$ref': '#/c/01'}");
	CHECK(spec_resolve(s, ref) == NULL);
	json_object_put(ref);
	spec_free(s);
	json_object_put(root);
	spec_free(NULL);
	CHECK(spec_root(NULL) == NULL);
}

static void test_types(void)
{
	VALID("{'type': 'integer'}", "5");
	INVALID("{'type': 'integer'}", "1.0", "", "1.0 is not of type 'integer'");
	INVALID("{'type': 'integer'}", "1.5", "", "1.5 is not of type 'integer'");
	VALID("{'type': 'integer'}", "123456789012345678901234567890");
	VALID("{'type': 'number'}", "1.5");
	INVALID("{'type': 'number'}", "'1'", "", "'1' is not of type 'number'");
	INVALID("{'type': 'string'}", "1", "", "1 is not of type 'string'");
	INVALID("{'type': 'string'}", "true", "", "True is not of type 'string'");
	INVALID("{'type': 'string'}", "null", "", "None is not of type 'string'");
	INVALID("{'type': 'object'}", "[]", "", "[] is not of type 'object'");
	INVALID("{'type': 'array'}", "{}", "", "{} is not of type 'array'");
	INVALID("{'type': 'boolean'}", "0", "", "0 is not of type 'boolean'");
	INVALID("{'type': 'null'}", "false", "", "False is not of type 'null'");
	VALID("{'type': ['string', 'null']}", "null");
	INVALID("{'type': ['string', 'null']}", "1", "", "1 is not of type 'string', 'null'");
	VALID("{'type': 'string', 'nullable': true}", "null");
	INVALID("{'type': 'string', 'nullable': false}", "null", "", "None is not of type 'string'");
	VALID("{'type': 'string', 'nullable': true, 'enum': ['a']}", "null");
	VALID("{'allOf': [{'nullable': true}, {'type': 'string'}]}", "null");
	VALID("{'type': 'whatever'}", "1");
	VALID("{}", "{'any': [1]}");
	VALID("true", "1");
	INVALID("false", "1", "", "False schema does not allow 1");
}

static void test_objects(void)
{
	const char *req = "{'properties': {'a': {'type': 'integer'}}, 'required': ['a', 'b']}";

	VALID(req, "{'a': 1, 'b': null}");
	INVALID(req, "{'b': 1}", "", "'a' is a required property");
	INVALID(req, "{'a': 'x', 'b': 1}", "a", "'x' is not of type 'integer'");
	INVALID(req, "{'a': 'x'}", "a", "'x' is not of type 'integer'");	/* deepest wins */
	VALID(req, "[1]");
	INVALID("{'additionalProperties': false, 'properties': {'a': {}}}", "{'a': 1, 'b': 2}", "",
		"Additional properties are not allowed ('b' was unexpected)");
	INVALID("{'additionalProperties': false}", "{'a': 1, 'b': 2}", "",
		"Additional properties are not allowed ('a', 'b' were unexpected)");
	INVALID("{'additionalProperties': {'type': 'string'}, 'properties': {'a': {}}}",
		"{'a': 1, 'b': 2}", "b", "2 is not of type 'string'");
	VALID("{'additionalProperties': false, 'patternProperties': {'^x-': {}}}", "{'x-a': 1}");
	INVALID("{'patternProperties': {'^x-\\\\d+$': {'type': 'integer'}}}", "{'x-12': 'a', 'y': 'b'}",
		"x-12", "'a' is not of type 'integer'");
	INVALID("{'minProperties': 2}", "{'a': 1}", "", "{'a': 1} does not have enough properties");
	INVALID("{'maxProperties': 1}", "{'a': 1, 'b': 2}", "",
		"{'a': 1, 'b': 2} has too many properties");
	INVALID("{'dependencies': {'a': ['b']}}", "{'a': 1}", "", "'b' is a dependency of 'a'");
	INVALID("{'dependencies': {'a': {'required': ['c']}}}", "{'a': 1}", "",
		"'c' is a required property");
	INVALID("{'properties': {'a': {'properties': {'b': {'properties': {'c': {'type': 'string'}}}}}}}",
		"{'a': {'b': {'c': 5}}}", "a.b.c", "5 is not of type 'string'");
}

static void test_numbers(void)
{
	INVALID("{'minimum': 1}", "0", "", "0 is less than the minimum of 1");
	VALID("{'minimum': 1}", "1");
	INVALID("{'maximum': 4}", "5", "", "5 is greater than the maximum of 4");
	INVALID("{'minimum': 1, 'exclusiveMinimum': true}", "1", "",
		"1 is less than or equal to the minimum of 1");
	INVALID("{'maximum': 4, 'exclusiveMaximum': true}", "4", "",
		"4 is greater than or equal to the maximum of 4");
	VALID("{'maximum': 4, 'exclusiveMaximum': false}", "4");
	INVALID("{'exclusiveMinimum': 1}", "1", "", "1 is less than or equal to the minimum of 1");
	INVALID("{'exclusiveMaximum': 1.5}", "2", "", "2 is greater than or equal to the maximum of 1.5");
	VALID("{'exclusiveMaximum': 1.5}", "1.4");
	INVALID("{'minimum': 0.5}", "0.25", "", "0.25 is less than the minimum of 0.5");
	VALID("{'maximum': 9007199254740992}", "9007199254740992");
	INVALID("{'maximum': 9007199254740992}", "9007199254740993", "",
		"9007199254740993 is greater than the maximum of 9007199254740992");
	VALID("{'maximum': 18446744073709551615}", "18446744073709551600");
	INVALID("{'multipleOf': 2}", "7", "", "7 is not a multiple of 2");
	VALID("{'multipleOf': 2}", "-8");
	VALID("{'multipleOf': 0.0001}", "0.0075");
	INVALID("{'multipleOf': 0.0001}", "0.00751", "", "0.00751 is not a multiple of 0.0001");
	INVALID("{'multipleOf': 1.5}", "35", "", "35 is not a multiple of 1.5");
	INVALID("{'type': 'string'}", "1e16", "", "1e+16 is not of type 'string'");
	INVALID("{'type': 'string'}", "1.5e-5", "", "1.5e-05 is not of type 'string'");
	INVALID("{'type': 'string'}", "100.0", "", "100.0 is not of type 'string'");
	VALID("{'minimum': 'x', 'maximum': null, 'multipleOf': 0}", "5");
}

static void test_strings(void)
{
	INVALID("{'minLength': 1}", "''", "", "'' is too short");
	INVALID("{'maxLength': 2}", "'abc'", "", "'abc' is too long");
	VALID("{'maxLength': 2}", "'\\u00e9\\u00e9'");	/* two code points, four bytes */
	INVALID("{'maxLength': 1}", "'\\u00e9\\u00e9'", "", "'\u00e9\u00e9' is too long");
	VALID("{'minLength': 2}", "'\\ud83d\\ude00a'");
	INVALID("{'pattern': '^a$'}", "'x'", "", "'x' does not match '^a$'");
	VALID("{'pattern': 'b+'}", "'abbc'");
	VALID("{'pattern': '^\\\\d{3}-\\\\w+\\\\s\\\\S$'}", "'123-ab_9 x'");
	INVALID("{'pattern': '^\\\\d{3}$'}", "'12a'", "", "'12a' does not match '^\\\\d{3}$'");
	VALID("{'pattern': '^[a-zA-Z0-9_\\\\-]{1,36}$'}", "'track_id-1'");
	INVALID("{'pattern': '^[a-zA-Z0-9_\\\\-]{1,36}$'}", "'bad id'", "", NULL);
	INVALID("{'pattern': '^[\\\\d.]+$'}", "'1.2a'", "", NULL);
	VALID("{'pattern': '^[\\\\]\\\\[^x-]+$'}", "'[]^x-'");
	VALID("{'pattern': '^(?:ab)+\\\\.c\\\\/d$'}", "'abab.c/d'");
	VALID("{'pattern': '^a{,2}$'}", "'aa'");
	VALID("{'pattern': '^a{x}$'}", "'a{x}'");
	VALID("{'pattern': '^\\\\u00e9$'}", "'\\u00e9'");
	VALID("{'pattern': '(?=lookahead)'}", "'anything'");	/* cannot compile: ignored */
	VALID("{'pattern': '^[0-9]+$'}", "12");			/* only strings are checked */
	INVALID("{'pattern': '^a*$'}", "'a\\u0000b'", "", NULL);	/* embedded NUL is seen */
}

static void test_formats(void)
{
	VALID("{'format': 'uuid'}", "'" U1 "'");
	VALID("{'format': 'uuid'}", "'7DAA0E35-36A2-474A-8F2B-87F78B59D080'");
	INVALID("{'format': 'uuid'}", "'7daa0e35-36a2-474a-8f2b-87f78b59d08'", "", NULL);
	INVALID("{'format': 'uuid'}", "'x'", "", "'x' is not a 'uuid'");
	VALID("{'format': 'date-time'}", "'2021-07-28T01:23:21.537604+03:00'");
	VALID("{'format': 'date-time'}", "'2018-08-11T09:11:41.674Z'");
	VALID("{'format': 'date-time'}", "'2016-02-29t23:59:60z'");
	INVALID("{'format': 'date-time'}", "'2017-02-29T00:00:00Z'", "",
		"'2017-02-29T00:00:00Z' is not a 'date-time'");
	INVALID("{'format': 'date-time'}", "'2021-07-28T01:23:21'", "", NULL);
	INVALID("{'format': 'date-time'}", "'2021-07-28 01:23:21Z'", "", NULL);
	INVALID("{'format': 'date-time'}", "'2021-07-28T24:00:00Z'", "", NULL);
	INVALID("{'format': 'date-time'}", "'2021-07-28T01:23:21.+03:00'", "", NULL);
	INVALID("{'format': 'date-time'}", "'2021-07-28T01:23:21+3:00'", "", NULL);
	VALID("{'format': 'date'}", "'2020-02-29'");
	INVALID("{'format': 'date'}", "'2020-13-01'", "", "'2020-13-01' is not a 'date'");
	VALID("{'format': 'uri'}", "'http://example.com/123.zip?a=b#c'");
	VALID("{'format': 'uri'}", "'urn:isbn:0451450523'");
	INVALID("{'format': 'uri'}", "'/relative/path'", "", NULL);
	INVALID("{'format': 'uri'}", "'http://bad host'", "", NULL);
	INVALID("{'format': 'uri'}", "'http://x/%zz'", "", NULL);
	VALID("{'format': 'email'}", "'joe@example.com'");
	INVALID("{'format': 'email'}", "'joe'", "", "'joe' is not a 'email'");
	VALID("{'format': 'ipv4'}", "'192.168.0.1'");
	INVALID("{'format': 'ipv4'}", "'192.168.0.256'", "", NULL);
	INVALID("{'format': 'ipv4'}", "'01.2.3.4'", "", NULL);
	VALID("{'format': 'timestamp,uuid'}", "'whatever'");
	VALID("{'format': 'date-time'}", "5");
}

static void test_arrays(void)
{
	INVALID("{'items': {'type': 'integer'}}", "[1, 'x']", "1", "'x' is not of type 'integer'");
	INVALID("{'items': [{'type': 'integer'}, {'type': 'string'}]}", "[1, 2]", "1",
		"2 is not of type 'string'");
	VALID("{'items': [{'type': 'integer'}]}", "[1, 'extra']");
	INVALID("{'items': [{}], 'additionalItems': false}", "[1, 2, 3]", "",
		"Additional items are not allowed (2, 3 were unexpected)");
	INVALID("{'items': [{}], 'additionalItems': {'type': 'string'}}", "[1, 2]", "1",
		"2 is not of type 'string'");
	INVALID("{'minItems': 1}", "[]", "", "[] is too short");
	INVALID("{'maxItems': 1}", "[1, 2]", "", "[1, 2] is too long");
	INVALID("{'uniqueItems': true}", "[1, 1.0]", "", "[1, 1.0] has non-unique elements");
	INVALID("{'uniqueItems': true}", "[{'a': [1]}, {'a': [1]}]", "", NULL);
	VALID("{'uniqueItems': true}", "[0, false, null, '0', [0], {'0': 0}]");
	VALID("{'uniqueItems': false}", "[1, 1]");
	INVALID("{'items': {'items': {'minimum': 3}}}", "[[3], [4, 2]]", "1.1",
		"2 is less than the minimum of 3");
}

static void test_enum_const(void)
{
	INVALID("{'enum': ['a', 'b']}", "'x'", "", "'x' is not one of ['a', 'b']");
	VALID("{'enum': [1, 'a', null, {'k': [true]}]}", "{'k': [true]}");
	VALID("{'enum': [1]}", "1.0");
	INVALID("{'enum': [1]}", "true", "", "True is not one of [1]");
	INVALID("{'enum': [false]}", "0", "", "0 is not one of [False]");
	INVALID("{'const': 'a'}", "'b'", "", "'a' was expected");
	VALID("{'const': null}", "null");
	INVALID("{'const': null}", "0", "", "None was expected");
}

static void test_composition(void)
{
	const char *one = "{'oneOf': [{'type': 'integer'}, {'minimum': 0}]}";

	INVALID("{'allOf': [{'type': 'integer'}, {'minimum': 3}]}", "2", "",
		"2 is less than the minimum of 3");
	VALID("{'anyOf': [{'type': 'integer'}, {'type': 'string'}]}", "'x'");
	INVALID("{'anyOf': [{'type': 'integer'}, {'type': 'string'}]}", "1.5", "",
		"1.5 is not valid under any of the given schemas");
	/* same message from every branch: that message */
	INVALID("{'anyOf': [{'required': ['a']}, {'required': ['a'], 'type': 'object'}]}", "{}", "",
		"'a' is a required property");
	/* a deeper branch error beats the summary */
	INVALID("{'anyOf': [{'type': 'string'}, {'properties': {'a': {'type': 'string'}}}]}",
		"{'a': 1}", "a", "1 is not of type 'string'");
	/* the branches of a passing anyOf fail without texts; a failing one is run again with
	 * them, nested alternatives included (their summary, not an inner branch's text) */
	INVALID("{'anyOf': [{'properties': {'a': {'anyOf': [{'type': 'string'}, {'type': 'boolean'}]}}},"
		" {'type': 'string'}]}", "{'a': 1}", "a", "1 is not valid under any of the given schemas");
	INVALID("{'items': {'anyOf': [{'required': ['a']}, {'required': ['b']}]}}",
		"[{'a': 1}, {'b': 2}, {'c': 3}, {'a': 4}]", "2", "{'c': 3} is not valid under any of the given schemas");
	VALID(one, "-1");
	VALID(one, "0.5");
	INVALID(one, "1", "", "1 is valid under each of {'minimum': 0}, {'type': 'integer'}");
	INVALID(one, "-0.5", "", "-0.5 is not valid under any of the given schemas");
	INVALID("{'not': {'type': 'integer'}}", "1", "",
		"1 should not be valid under {'type': 'integer'}");
	VALID("{'not': {'type': 'integer'}}", "'1'");
	/* OpenAPI 3.0: siblings of $ref are ignored */
	VALID("{'definitions': {'a': {'type': 'array'}}, 'properties': {'x': {'$ref': '#/definitions/a', 'maxItems': 1}}}",
	      "{'x': [1, 2, 3]}");
	INVALID("{'definitions': {'a': {'type': 'array'}}, 'properties': {'x': {'$ref': '#/definitions/a', 'maxItems': 1}}}",
		"{'x': 3}", "x", "3 is not of type 'array'");
	INVALID("{'properties': {'x': {'$ref': '#/definitions/nope'}}}", "{'x': 1}", "x",
		"Unresolvable JSON pointer: '#/definitions/nope'");
	INVALID("{'t~x': {'s/y': {'type': 'string'}}, 'p q': {'type': 'string'},"
		" 'properties': {'a': {'$ref': '#/t~0x/s~1y'}, 'b': {'$ref': '#/p%20q'}}}",
		"{'a': 'ok', 'b': 1}", "b", "1 is not of type 'string'");
	INVALID("{'t~x': {'s/y': {'type': 'string'}}, 'properties': {'a': {'$ref': '#/t~0x/s~1y'}}}",
		"{'a': 1}", "a", "1 is not of type 'string'");
	/* a recursive schema */
	VALID("{'type': 'object', 'properties': {'child': {'$ref': '#'}, 'v': {'type': 'integer'}}}",
	      "{'child': {'child': {'v': 1}}}");
	INVALID("{'type': 'object', 'properties': {'child': {'$ref': '#'}, 'v': {'type': 'integer'}}}",
		"{'child': {'child': {'v': 'x'}}}", "child.child.v", "'x' is not of type 'integer'");
}

static void test_discriminator(void)
{
	const char *d =
		"{'components': {'schemas': {"
		" 'cat': {'type': 'object', 'properties': {'kind': {'type': 'integer'}, 'claws': {'type': 'boolean'}},"
		"         'required': ['claws']},"
		" 'dog': {'type': 'object', 'properties': {'kind': {'type': 'integer'}, 'bark': {'type': 'string'}}},"
		" 'pet': {'oneOf': [{'$ref': '#/components/schemas/cat'}, {'$ref': '#/components/schemas/dog'}],"
		"         'discriminator': {'propertyName': 'kind', 'mapping': {'1': '#/components/schemas/cat',"
		"                           '2': 'dog'}}},"
		" 'pet2': {'anyOf': [{'$ref': '#/components/schemas/cat'}, {'$ref': '#/components/schemas/dog'}],"
		"          'discriminator': {'propertyName': 'name'}}},"
		" 'x': 0}, 'properties': {'p': {'$ref': '#/components/schemas/pet'}, 'q': {'$ref': '#/components/schemas/pet2'}}}";

	SVALID(d, "{'p': {'kind': 1, 'claws': true}}");
	SVALID(d, "{'p': {'kind': 2, 'bark': 'woof'}}");
	/* the mapping picks the branch: errors come from inside it */
	SINVALID(d, "{'p': {'kind': 1}}", "p", "'claws' is a required property");
	SINVALID(d, "{'p': {'kind': 1, 'claws': 'yes'}}", "p.claws", "'yes' is not of type 'boolean'");
	SINVALID(d, "{'p': {'kind': 2, 'claws': true}}", "p",
		 "Additional properties are not allowed ('claws' was unexpected)");
	SINVALID(d, "{'p': {'kind': 3}}", "p.kind", "3 is not one of ['1', '2']");
	SINVALID(d, "{'p': {'kind': '1', 'claws': true}}", "p.kind", "'1' is not of type 'integer'");
	SINVALID(d, "{'p': {'claws': true}}", "p", "'kind' is a required property");
	/* without a mapping, the value names the schema */
	SINVALID(d, "{'q': {'name': 'dog', 'bark': 1}}", "q.bark", "1 is not of type 'string'");
	SINVALID(d, "{'q': {'name': 'cow'}}", "q.name", "'cow' is not one of ['cat', 'dog']");
	INVALID(d, "{'p': []}", "p", NULL);
}

static void test_strict(void)
{
	const char *all = "{'allOf': [{'properties': {'a': {}}}, {'properties': {'b': {}}}], 'properties': {'c': {}}}";
	const char *any = "{'anyOf': [{'properties': {'a': {'type': 'integer'}}}, {'properties': {'b': {}}}]}";
	const char *ref = "{'definitions': {'base': {'properties': {'id': {}}}},"
			  " 'allOf': [{'$ref': '#/definitions/base'}, {'required': ['id']}]}";

	SVALID(all, "{'a': 1, 'b': 2, 'c': 3}");
	SINVALID(all, "{'a': 1, 'd': 2, 'e': 3}", "",
		 "Additional properties are not allowed ('d', 'e' were unexpected)");
	VALID(all, "{'a': 1, 'd': 2}");
	SVALID(any, "{'a': 1, 'b': 2}");
	/* the failing branch evaluates nothing */
	SINVALID(any, "{'a': 'x', 'b': 2}", "", "Additional properties are not allowed ('a' was unexpected)");
	SVALID(ref, "{'id': 1}");
	SINVALID(ref, "{'id': 1, 'x': 2}", "", "Additional properties are not allowed ('x' was unexpected)");
	SVALID("{'patternProperties': {'^x-': {}}, 'properties': {'a': {}}}", "{'a': 1, 'x-b': 2}");
	SINVALID("{'patternProperties': {'^x-': {}}}", "{'y': 1}", "", NULL);
	/* free-form objects evaluate everything */
	SVALID("{'type': 'object'}", "{'a': {'b': 1}}");
	SVALID("{'additionalProperties': true, 'properties': {'a': {}}}", "{'a': 1, 'b': 2}");
	SVALID("{'additionalProperties': {'type': 'integer'}, 'properties': {'a': {}}}", "{'a': 'x', 'b': 2}");
	SVALID("{'properties': {'x': {'description': 'anything'}}}", "{'x': {'y': 1}}");
	SVALID("{'allOf': [{'required': ['a']}]}", "{'a': 1, 'b': 2}");
	/* nested objects are checked at their own level */
	SINVALID("{'properties': {'x': {'properties': {'y': {}}}}}", "{'x': {'z': 1}}", "x",
		 "Additional properties are not allowed ('z' was unexpected)");
	SINVALID("{'items': {'properties': {'y': {}}}}", "[{'y': 1}, {'z': 1}]", "1", NULL);
	/* oneOf tie settled by the branch that accounts for every property */
	SVALID("{'oneOf': [{'properties': {'a': {}}, 'required': ['a']},"
	       " {'properties': {'a': {}, 'b': {}}, 'required': ['b']}]}", "{'a': 1, 'b': 2}");
	INVALID("{'oneOf': [{'properties': {'a': {}}, 'required': ['a']},"
		" {'properties': {'a': {}, 'b': {}}, 'required': ['b']}]}", "{'a': 1, 'b': 2}", "", NULL);
}

static void test_defaults(void)
{
	const char *d = "{'definitions': {'d': {'default': [1]}, 'shared': {'type': 'integer', 'default': 0}},"
			" 'properties': {'a': {'default': 1}, 'b': {'$ref': '#/definitions/d'},"
			" 'c': {'allOf': [{'type': 'string'}, {'default': 'x'}]},"
			" 'e': {'allOf': [{'$ref': '#/definitions/shared'}]},"
			" 'f': {'default': null}, 'g': {'properties': {'h': {'default': 2}}}}}";
	const char *one = "{'oneOf': [{'properties': {'k': {'enum': ['a']}, 'x': {'default': 1}}, 'required': ['k']},"
			  " {'properties': {'k': {'enum': ['b']}, 'y': {'default': 2}}, 'required': ['k']}]}";
	json_object *schema, *inst;
	struct spec *s;

	DEFAULTS(d, "{}", "{'a': 1, 'b': [1], 'c': 'x', 'f': null}");
	DEFAULTS(d, "{'a': 5, 'g': {}}", "{'a': 5, 'g': {'h': 2}, 'b': [1], 'c': 'x', 'f': null}");
	DEFAULTS(one, "{'k': 'b'}", "{'k': 'b', 'y': 2}");
	DEFAULTS(one, "{'k': 'a'}", "{'k': 'a', 'x': 1}");
	DEFAULTS("{'anyOf': [{'properties': {'x': {'default': 1}}, 'required': ['q']},"
		 " {'properties': {'y': {'default': 2}}}]}", "{}", "{'y': 2}");
	/* a default missed inside nested alternatives is inserted; items whose branch misses
	 * none are left as they are */
	DEFAULTS("{'items': {'oneOf': [{'properties': {'a': {'oneOf': [{'properties': {'x': {'default': 1}},"
		 " 'required': ['k']}, {'required': ['q']}]}}, 'required': ['a']}, {'required': ['z']}]}}",
		 "[{'a': {'k': 1}}, {'z': 0}, {'a': {'q': 1}}]", "[{'a': {'k': 1, 'x': 1}}, {'z': 0}, {'a': {'q': 1}}]");
	DEFAULTS("{'items': {'properties': {'x': {'default': 0}}}}", "[{}, {'x': 3}]",
		 "[{'x': 0}, {'x': 3}]");
	DEFAULTS("{'not': {'properties': {'x': {'default': 0}}, 'required': ['z']}}", "{}", "{}");
	inline_case(__LINE__, d, "{}", 0, NULL, NULL, "{}");

	/* an inserted default is a copy */
	schema = J(d);
	inst = J("{}");
	s = spec_wrap(schema);
	CHECK(schema_validate(s, schema, inst, SCHEMA_DEFAULTS, NULL) == 0);
	json_object_array_add(json_object_object_get(inst, "b"), json_object_new_int(2));
	CHECK(same_json(at(schema, "definitions|d|default"), "[1]"));
	spec_free(s);
	json_object_put(schema);
	json_object_put(inst);
}

static void test_repr(void)
{
	char longs[300];

	memset(longs, 'a', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	INVALID("{'type': 'string'}", "{'a': [1, true, null, 1.5, 'x\\u0027y'], 'b': {}}", "",
		"{'a': [1, True, None, 1.5, \"x'y\"], 'b': {}} is not of type 'string'");
	INVALID("{'type': 'integer'}", "'a\\nb\\\\c\\u0001'", "",
		"'a\\nb\\\\c\\x01' is not of type 'integer'");
	{
		char schema[64], inst[400], msg[200];

		snprintf(schema, sizeof(schema), "{'maxLength': 3}");
		snprintf(inst, sizeof(inst), "'%s'", longs);
		snprintf(msg, sizeof(msg), "'%.*s... is too long", 96, longs);
		INVALID(schema, inst, "", msg);
	}
}

/* ------------------------------------------------------------------------- */
/* hostile input                                                             */

static json_object *nested_arrays(int depth)
{
	json_object *o = json_object_new_array(), *inner;
	int i;

	for (i = 1; i < depth; i++) {
		inner = o;
		o = json_object_new_array();
		json_object_array_add(o, inner);
	}
	return o;
}

static void test_hostile(void)
{
	struct schema_error e;
	json_object *schema, *inst;
	struct spec *s;
	char *big;
	size_t n = 1 << 20;
	clock_t t0;
	int i;

	/* deep instance under a recursive schema */
	schema = J("{'items': {'$ref': '#'}}");
	s = spec_wrap(schema);
	inst = nested_arrays(200);
	CHECK(schema_validate(s, schema, inst, SCHEMA_STRICT, &e) == -1);
	CHECK(!strcmp(e.message, "maximum nesting depth (64) exceeded"));
	CHECK(strlen(e.path) == 127 && !strncmp(e.path, "0.0.0.", 6));
	json_object_put(inst);
	inst = nested_arrays(30);
	CHECK(schema_validate(s, schema, inst, 0, &e) == 0);
	json_object_put(inst);
	spec_free(s);
	json_object_put(schema);

	/* cyclic $refs and self-including allOf */
	INVALID("{'definitions': {'a': {'$ref': '#/definitions/b'}, 'b': {'$ref': '#/definitions/a'}},"
		" '$ref': '#/definitions/a'}", "1", "",
		"maximum schema depth (256) exceeded (cyclic $ref?)");
	INVALID("{'allOf': [{'$ref': '#'}]}", "1", "", NULL);
	INVALID("{'properties': {'a': {'anyOf': [{'$ref': '#/properties/a'}]}}}", "{'a': 1}", "a", NULL);

	/* exponential branching is cut off */
	schema = J("{'anyOf': [{'items': {'$ref': '#'}}, {'items': {'$ref': '#'}, 'minItems': 0}],"
		   " 'type': 'array'}");
	s = spec_wrap(schema);
	inst = json_object_new_array();
	json_object_array_add(inst, json_object_new_string("x"));
	for (i = 0; i < 40; i++) {
		json_object *outer = json_object_new_array();

		json_object_array_add(outer, inst);
		inst = outer;
	}
	t0 = clock();
	CHECK(schema_validate(s, schema, inst, 0, &e) == -1);
	CHECK(!strcmp(e.message, "validation is too complex"));
	printf("exponential schema cut off after %.2f s CPU\n", (double)(clock() - t0) / CLOCKS_PER_SEC);
	json_object_put(inst);
	spec_free(s);
	json_object_put(schema);

	/* a megabyte string */
	big = malloc(n + 1);
	memset(big, 'a', n);
	big[n] = '\0';
	schema = J("{'type': 'string', 'maxLength': 10, 'pattern': '^a+$', 'format': 'uuid'}");
	s = spec_wrap(schema);
	inst = json_object_new_string(big);
	CHECK(schema_validate(s, schema, inst, 0, &e) == -1);
	CHECK(strstr(e.message, "...") && strstr(e.message, " is too long") && strlen(e.message) < 120);
	json_object_put(inst);
	spec_free(s);
	json_object_put(schema);
	free(big);

	/* nonsense schemas are not fatal */
	VALID("{'properties': 5, 'required': 'a', 'items': 1, 'allOf': {}, 'enum': 3, 'type': 7}", "{}");
	INVALID("{'properties': {'a': {'$ref': 5}}, 'required': [1, 'a']}", "{}", "",
		"'a' is a required property");
	CHECK(schema_validate(g_spec, NULL, NULL, 0, &e) == -1);
	CHECK(schema_validate(NULL, spec_schema(g_spec, "int01"), NULL, 0, NULL) == -1);
}

/* ------------------------------------------------------------------------- */
/* the real spec                                                             */

static void test_spec_clustering(void)
{
	const char *faces = "{'account_id': '" U1 "', 'description': 'd', 'content': {'objects_type': 'faces',"
			    " 'filters': {'account_id': '" U1 "', 'face_ids': ['" U2 "'], 'user_data': 'x'}}}";
	const char *events = "{'account_id': '" U1 "', 'content': {'objects_type': 'events',"
			     " 'filters': {'account_id': '" U1 "', 'sources': ['cam1'], 'track_ids': ['t_1']},"
			     " 'params': {'use_track_info': 1}, 'descriptor': {'type': 'body'}}}";

	SPEC_AFTER("clustering_task", faces,
		   "{'account_id': '" U1 "', 'description': 'd', 'content': {'objects_type': 'faces',"
		   " 'filters': {'account_id': '" U1 "', 'face_ids': ['" U2 "'], 'user_data': 'x'},"
		   " 'threshold': 0.81, 'limit': 20000}}");
	/* no "gender": 0 from the shared int01 type */
	SPEC_AFTER("clustering_task", events,
		   "{'account_id': '" U1 "', 'content': {'objects_type': 'events',"
		   " 'filters': {'account_id': '" U1 "', 'sources': ['cam1'], 'track_ids': ['t_1']},"
		   " 'params': {'use_track_info': 1}, 'descriptor': {'type': 'body'},"
		   " 'threshold': 0.81, 'limit': 20000}}");
	SPEC_INVALID("clustering_task", "{'account_id': '" U1 "', 'content': {'objects_type': 'faces',"
		     " 'filters': {'account_id': '" U1 "', 'face_ids': ['x']}}}",
		     "content.filters.face_ids.0",
		     "'x' does not match '^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$'");
	SPEC_INVALID("clustering_task", "{'account_id': '" U1 "', 'content': {'objects_type': 'faces',"
		     " 'filters': {'account_id': '" U1 "', 'foo': 1}}}",
		     "content.filters", "Additional properties are not allowed ('foo' was unexpected)");
	SPEC_INVALID("clustering_task", "{'account_id': '" U1 "', 'userdata': 'x', 'content': {'objects_type': 'faces',"
		     " 'filters': {'account_id': '" U1 "'}}}",
		     "", "Additional properties are not allowed ('userdata' was unexpected)");
	SPEC_INVALID("clustering_task", "{'account_id': '" U1 "', 'content': {'objects_type': 'faces',"
		     " 'filters': {'account_id': '" U1 "'}, 'threshold': 1.5}}",
		     "content.threshold", "1.5 is greater than the maximum of 1");
	SPEC_INVALID("clustering_task", "{'account_id': '" U1 "', 'content': {'objects_type': 'faces',"
		     " 'filters': {'account_id': '" U1 "'}, 'limit': 20001}}",
		     "content.limit", "20001 is greater than the maximum of 20000");
	SPEC_INVALID("clustering_task", "{'account_id': '" U1 "', 'content': {'objects_type': 'events',"
		     " 'filters': {'account_id': '" U1 "', 'create_time__gte': 'yesterday'}}}",
		     "content.filters.create_time__gte", "'yesterday' is not a 'date-time'");
	SPEC_INVALID("clustering_task", "{'account_id': '" U1 "', 'content': {'objects_type': 'events',"
		     " 'filters': {'account_id': '" U1 "', 'geo_position': {'origin_longitude': 200,"
		     " 'origin_latitude': 0}}}}",
		     "content.filters.geo_position.origin_longitude", "200 is greater than the maximum of 180");
	SPEC_INVALID("clustering_task", "{'account_id': '" U1 "', 'content': {'objects_type': 'faces',"
		     " 'filters': {}}}", "content.filters", "'account_id' is a required property");
	SPEC_INVALID("clustering_task", "{'account_id': '" U1 "'}", "", "'content' is a required property");
	SPEC_INVALID("clustering_task", "{'account_id': 'nope', 'content': {'objects_type': 'faces',"
		     " 'filters': {'account_id': '" U1 "'}}}", "account_id", NULL);
	SPEC_INVALID("clustering_task", "[]", "", "[] is not of type 'object'");
}

static void test_spec_linker_gc(void)
{
	SPEC_VALID("linker_task", "{'account_id': '" U1 "', 'content': {'objects_type': 'faces',"
		   " 'create_list': 1, 'user_data': 'list', 'filters': {'account_id': '" U1 "', 'list_id': '" U2 "'}}}");
	SPEC_VALID("linker_task", "{'account_id': '" U1 "', 'content': {'objects_type': 'events',"
		   " 'list_id': '" U2 "', 'filters': {'account_id': '" U1 "', 'emotions': [1, 7]}}}");
	SPEC_INVALID("linker_task", "{'account_id': '" U1 "', 'content': {'objects_type': 'faces',"
		     " 'create_list': 2, 'filters': {'account_id': '" U1 "'}}}",
		     "content.create_list", "2 is not one of [0, 1]");
	SPEC_INVALID("linker_task", "{'account_id': '" U1 "', 'content': {'objects_type': 'faces',"
		     " 'filters': {'account_id': '" U1 "', 'face_ids': ['" U2 "', 5]}}}",
		     "content.filters.face_ids.1", "5 is not of type 'string'");
	SPEC_INVALID("linker_task", "{'account_id': '" U1 "', 'content': {'objects_type': 'faces',"
		     " 'filters': {'face_ids': []}}}",
		     "content.filters", "'account_id' is a required property");
	SPEC_INVALID("linker_task", "{'account_id': '" U1 "', 'content': {'objects_type': 'planes',"
		     " 'filters': {'account_id': '" U1 "'}}}",
		     "content.objects_type", "'planes' is not one of ['faces', 'events']");
	SPEC_INVALID("linker_task", "{'account_id': '" U1 "', 'content': {'objects_type': 'events',"
		     " 'filters': {'account_id': '" U1 "', 'emotions': [8]}}}",
		     "content.filters.emotions.0", "8 is not one of [1, 2, 3, 4, 5, 6, 7]");

	SPEC_AFTER("gc_task", "{'account_id': '" U1 "', 'content': {'target': 'events', 'filters': {'handler_id': '" U2 "'}}}",
		   "{'account_id': '" U1 "', 'description': '', 'content': {'target': 'events', 'filters': {'handler_id': '" U2 "'},"
		   " 'store_results': true, 'remove_samples': false, 'remove_image_origins': false}}");
	SPEC_AFTER("gc_task", "{'account_id': '" U1 "', 'content': {'target': 'face_descriptors', 'filters': {'descriptor_version': 59}}}",
		   "{'account_id': '" U1 "', 'description': '', 'content': {'target': 'face_descriptors',"
		   " 'filters': {'descriptor_version': 59}, 'store_results': true}}");
	SPEC_INVALID("gc_task", "{'account_id': '" U1 "', 'content': {'target': 'event_descriptors', 'filters': {'descriptor_version': 59}}}",
		     "content.filters", "'descriptor_type' is a required property");
	SPEC_INVALID("gc_task", "{'account_id': '" U1 "', 'content': {'target': 'face_descriptors', 'filters': {'descriptor_version': 59},"
		     " 'remove_samples': true}}",
		     "content", "Additional properties are not allowed ('remove_samples' was unexpected)");
	SPEC_INVALID("gc_task", "{'account_id': '" U1 "', 'content': {'target': 'eventz'}}", "content.target",
		     "'eventz' is not one of ['face_descriptors', 'event_descriptors', 'events']");
	SPEC_INVALID("gc_task", "{'account_id': '" U1 "', 'content': {}}", "content", "'target' is a required property");
	SPEC_INVALID("gc_task", "{'account_id': '" U1 "', 'content': {'target': 'events', 'filters': {'create_time__lt': '2021-13-01T00:00:00Z'}}}",
		     "content.filters.create_time__lt", "'2021-13-01T00:00:00Z' is not a 'date-time'");
}

static void test_spec_other_tasks(void)
{
	SPEC_VALID("reporter_task", "{'account_id': '" U1 "', 'content': {'filters': {'task_id': 146}, 'columns': ['face_id', 'user_data']}}");
	SPEC_INVALID("reporter_task", "{'account_id': '" U1 "', 'content': {'filters': {'task_id': 146}, 'csv_delimiter': ';;'}}",
		     "content.csv_delimiter", "';;' is too long");
	SPEC_INVALID("reporter_task", "{'account_id': '" U1 "', 'content': {'filters': {'task_id': 146}, 'columns': ['nope']}}",
		     "content.columns.0", NULL);
	SPEC_INVALID("reporter_task", "{'account_id': '" U1 "', 'content': {'filters': {'task_id': 146}, 'columns': 'x'}}",
		     "content.columns", "'x' is not of type 'array'");
	SPEC_AFTER("exporter_task", "{'account_id': '" U1 "', 'content': {'objects_type': 'faces', 'filters': {'account_id': '" U1 "'},"
		   " 'columns': ['face_id']}}",
		   "{'account_id': '" U1 "', 'content': {'objects_type': 'faces', 'filters': {'account_id': '" U1 "'},"
		   " 'columns': ['face_id'], 'csv_delimiter': ',', 'save_images': 0}}");
	SPEC_VALID("cross_match_task", "{'account_id': '" U1 "', 'content': {'filters': {'reference_type': 'faces',"
		   " 'candidate_type': 'attributes', 'reference_filters': {'face_ids': ['" U2 "']},"
		   " 'candidate_filters': {'attribute_ids': ['" U1 "']}}, 'limit': 3}}");
	SPEC_INVALID("cross_match_task", "{'account_id': '" U1 "', 'content': {'filters': {'reference_type': 'faces',"
		     " 'candidate_type': 'faces', 'reference_filters': {}, 'candidate_filters': {'attribute_ids': []}}}}",
		     "content.filters.candidate_filters.attribute_ids", "[] is too short");
	SPEC_AFTER("roc_task", "{'account_id': '" U1 "', 'content': {'markup': [{'face_id': '" U1 "', 'label': 1},"
		   " {'face_id': '" U2 "', 'label': 2}], 'filters': {}}}",
		   "{'account_id': '" U1 "', 'content': {'markup': [{'face_id': '" U1 "', 'label': 1},"
		   " {'face_id': '" U2 "', 'label': 2}], 'filters': {}, 'threshold_hit_top': 0, 'limit': 5}}");
	SPEC_INVALID("roc_task", "{'account_id': '" U1 "', 'content': {'markup': [{'face_id': '" U1 "', 'label': 1}], 'filters': {}}}",
		     "content.markup", NULL);
	SPEC_INVALID("roc_task", "{'account_id': '" U1 "', 'content': {'markup': [{'face_id': '" U1 "', 'label': 1},"
		     " {'label': 2}], 'filters': {}}}", "content.markup.1", "{'label': 2} is not valid under any of the given schemas");
	SPEC_VALID("additional_extract_task", "{'account_id': '" U1 "', 'content': {'extraction_target': 'face_descriptor',"
		   " 'options': {'descriptor_version': 59}, 'filters': {'objects_type': 'faces', 'account_id': '" U1 "'}}}");
	SPEC_INVALID("additional_extract_task", "{'account_id': '" U1 "', 'content': {'extraction_target': 'body_descriptor',"
		     " 'options': {'descriptor_version': 8}, 'filters': {'objects_type': 'faces'}}}",
		     "content.filters.objects_type", "'faces' is not one of ['events']");
	SPEC_INVALID("additional_extract_task", "{'account_id': '" U1 "', 'content': {'extraction_target': 'face_descriptor',"
		     " 'options': {'descriptor_version': 59}, 'filters': {'objects_type': 'planes'}}}",
		     "content.filters.objects_type", "'planes' is not one of ['faces', 'events']");
}

static void test_spec_estimator(void)
{
	json_object *ex = at(spec_root(g_spec),
			     "paths|/2/tasks/estimator|post|requestBody|content|application/json|examples");
	struct {
		const char *name, *path, *msg;
	} expect[] = {
		{ "estimate_from_zip_archive", "content.source.authorization.password",
		  "123456 is not of type 'string'" },
		{ "estimate_from_s3_bucket", NULL, NULL },
		{ "estimate_from_s3_arn", NULL, NULL },
		{ "estimate_from_network_disk", "content", "'filters' is a required property" },
		{ "estimate_from_ftp", "content", "'filters' is a required property" },
	};
	json_object *schema = spec_schema(g_spec, "estimator_task");
	size_t i;

	CHECK(json_object_object_length(ex) == 5);
	for (i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		json_object *value = json_object_object_get(json_object_object_get(ex, expect[i].name), "value");
		json_object *body = NULL, *content;

		CHECK(value != NULL);
		json_object_deep_copy(value, &body, NULL);
		/* no example carries account_id: the schema wins */
		if (!expect[i].path)
			expect_result(__LINE__, g_spec, schema, body, SD, "", "'account_id' is a required property");
		else
			expect_result(__LINE__, g_spec, schema, body, SD, expect[i].path, expect[i].msg);
		json_object_object_add(body, "account_id", json_object_new_string(U1));
		expect_result(__LINE__, g_spec, schema, body, SD, expect[i].path, expect[i].msg);
		content = json_object_object_get(body, "content");
		if (!json_object_object_get(content, "filters"))
			json_object_object_add(content, "filters", J("{'account_id': '" U1 "'}"));
		if (i == 0)
			json_object_object_add(json_object_object_get(json_object_object_get(content, "source"),
								      "authorization"), "password",
					       json_object_new_string("123456"));
		expect_result(__LINE__, g_spec, schema, body, SD, NULL, NULL);
		if (i == 1)
			CHECK(same_json(json_object_object_get(content, "source"),
					"{'source_type': 's3', 'reference': {'endpoint': 'http://localhost:7480',"
					" 'bucket_name': 'portraits', 'prefix': 'folder1/folder2'},"
					" 'authorization': {'public_access_key': 'user', 'secret_access_key': 'password',"
					" 'signature_version': 's3v4'}, 'image_type': 1, 'recursive': true,"
					" 'save_origin': true}"));
		if (i == 3)
			CHECK(same_json(json_object_object_get(json_object_object_get(content, "source"), "reference"),
					"{'path': '/mnt/nfs_volume/pictures', 'prefix': 'portraits',"
					" 'postfix': '.jpg', 'follow_links': false}"));
		json_object_put(body);
	}

	/* an existing dynamic handler with policies matches both oneOf branches loosely;
	 * strict mode settles it on the branch that accounts for every property */
	SPEC_VALID("estimator_task", "{'account_id': '" U1 "', 'content': {'handler': {'handler_id': '" U2 "',"
		   " 'policies': {'detect_policy': {'detect_face': 1}}}, 'source': {'source_type': 'zip',"
		   " 'reference': 'http://example.com/1.zip'}, 'filters': {'account_id': '" U1 "'}}}");
	SPEC_INVALID("estimator_task", "{'account_id': '" U1 "', 'content': {'handler': {}, 'source': {'source_type': 'zip',"
		     " 'reference': 'http://example.com/1.zip'}, 'filters': {'account_id': '" U1 "'}}}",
		     "content.handler", "{} is not valid under any of the given schemas");
	SPEC_INVALID("estimator_task", "{'account_id': '" U1 "', 'content': {'handler': {'policies': {}},"
		     " 'source': {'source_type': 'cloud'}, 'filters': {'account_id': '" U1 "'}}}",
		     "content.source.source_type", "'cloud' is not one of ['zip', 's3', 'network_disk', 'ftp']");
	SPEC_INVALID("estimator_task", "{'account_id': '" U1 "', 'content': {'handler': {'policies': {}},"
		     " 'source': {'source_type': 'ftp', 'reference': {'host': 'h', 'port': 0}},"
		     " 'filters': {'account_id': '" U1 "'}}}",
		     "content.source.reference.port", "0 is less than the minimum of 1");
	SPEC_INVALID("estimator_task", "{'account_id': '" U1 "', 'content': {'handler': {'policies': {}},"
		     " 'source': {'source_type': 'zip', 'reference': 'not a uri'}, 'filters': {'account_id': '" U1 "'}}}",
		     "content.source.reference", "'not a uri' is not a 'uri'");
}

static void test_spec_replies(void)
{
	const char *reply = "{'task_id': 1, 'create_time': '2021-07-28T01:23:21.537604+03:00', 'last_update_time': null,"
			    " 'end_time': null, 'result_id': null, 'task_status': 5, 'count_task_parts_done': 1,"
			    " 'count_task_parts_all': 1, 'task_type': %s, 'content': %s}";
	char buf[1024];

	snprintf(buf, sizeof(buf), reply, "4", "{'target': 'events', 'filters': {}}");
	spec_case(__LINE__, "task_reply", buf, SCHEMA_STRICT, NULL, NULL, NULL);
	snprintf(buf, sizeof(buf), reply, "10", "{}");
	spec_case(__LINE__, "task_reply", buf, SCHEMA_STRICT, "task_type",
		  "10 is not one of ['1', '2', '3', '4', '5', '6', '7', '8', '9']", NULL);
	snprintf(buf, sizeof(buf), reply, "1", "{'target': 'events', 'filters': {}}");
	spec_case(__LINE__, "task_reply", buf, SCHEMA_STRICT, "content.filters", "'account_id' is a required property", NULL);
	spec_case(__LINE__, "task_reply", "{}", 0, "", "'task_type' is a required property", NULL);
	spec_case(__LINE__, "Version", "{'Version': {'api': 2, 'major': 3, 'minor': 8, 'patch': 8}}", SD, NULL, NULL, NULL);
	spec_case(__LINE__, "Version", "{'Version': {'api': -1, 'major': 3, 'minor': 8, 'patch': 8}}", SD,
		  "Version.api", "-1 is less than the minimum of 0", NULL);
}

/* ---- patterns matched without regexec: the same answers as the regex ---- */

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (unsigned)(g_rng % n);
}

/* Bytes near the sets of the patterns below, and some far from them. */
static const char RX_ALPHABET[] = "0123456789abcdefgxyzABCDEFGXYZ_- .\n\t\\[]{}$^\0\xc3\xa9\xff";

/* One to three random edits of s (replace, insert, delete) into out; returns the length. */
static size_t rx_mutate(const char *s, char *out, size_t cap)
{
	size_t n = strlen(s), edits = 1 + rnd(3);

	memcpy(out, s, n);
	for (size_t e = 0; e < edits; e++) {
		size_t at = n ? rnd((unsigned)n + 1) : 0;
		char c = RX_ALPHABET[rnd(sizeof(RX_ALPHABET) - 1)];

		switch (rnd(3)) {
		case 0:
			if (at < n)
				out[at] = c;
			break;
		case 1:
			if (n + 1 < cap) {
				memmove(out + at + 1, out + at, n - at);
				out[at] = c;
				n++;
			}
			break;
		default:
			if (at < n) {
				memmove(out + at, out + at + 1, n - at - 1);
				n--;
			}
		}
	}
	return n;
}

/* Every string: steps and regex agree; both outcomes are seen. */
static void rx_agree(const char *pattern, const char *const *valid, int want_steps)
{
	struct rx_entry *r = schema_rx_compile(pattern);
	char buf[96];
	int agree = 1, matched = 0, missed = 0;

	CHECK(r && r->ok);
	if (!r || !r->ok) {
		schema_rx_entry_free(r);
		return;
	}
	CHECK(want_steps ? r->nsteps > 0 : r->nsteps == 0);
	for (int i = 0; i < 40000; i++) {
		size_t n;

		if (i % 4 == 0) {
			n = rnd(48);
			for (size_t k = 0; k < n; k++)
				buf[k] = RX_ALPHABET[rnd(sizeof(RX_ALPHABET) - 1)];
		} else if (i % 4 == 1) {
			n = strlen(valid[i / 4 % 2]);
			memcpy(buf, valid[i / 4 % 2], n);
		} else {
			n = rx_mutate(valid[i / 4 % 2], buf, sizeof(buf));
		}
		int by_steps = schema_rx_entry_match(r, buf, n), by_regex = schema_rx_exec(&r->re, buf, n);

		if (by_steps != by_regex && agree) {
			printf("pattern %s, string '%.*s' (%zu bytes): steps %d, regex %d\n", pattern, (int)n, buf, n,
			       by_steps, by_regex);
			agree = 0;
		}
		matched += by_regex;
		missed += !by_regex;
	}
	CHECK(agree);
	CHECK(matched > 1000 && missed > 1000);
	schema_rx_entry_free(r);
}

static void test_pattern_steps(void)
{
	static const char *const uuids[] = {"7daa0e35-36a2-474a-8f2b-87f78b59d080", "00000000-0000-0000-0000-000000000000"};
	static const char *const tracks[] = {"track_id-1", "A"};
	static const char *const short_ids[] = {"a-1", "zz9-"};
	static const char *const mixed[] = {"123ab-x", "12f-x"};
	static const char *const plain[] = {"ab-cc", "ab-cc"};
	static const char *const overlap[] = {"a1b2", "ff9"};

	rx_agree("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", uuids, 1);
	rx_agree("^[a-zA-Z0-9_-]{1,36}$", tracks, 1);
	rx_agree("^[0-9]{2,4}[a-f]{1,3}-x$", mixed, 1);
	rx_agree("^ab-c{2}$", plain, 1);
	rx_agree("^[-a-z0-9]{1,5}$", short_ids, 1);
	/* not of the simple form: the regex decides */
	rx_agree("^[a-zA-Z0-9_\\-]{1,36}$", tracks, 0);	/* an escape */
	rx_agree("^[0-9a-f]{2,3}[0-9]+$", overlap, 0);		/* a varying run before its own set */
	rx_agree("^[a-f0-9]{2,4}[0-9]$", overlap, 0);
	rx_agree("[0-9a-f]{4}", overlap, 0);			/* unanchored */
}

static void test_speed(void)
{
	const char *txt = "{'account_id': '" U1 "', 'content': {'objects_type': 'events', 'filters': {'account_id': '" U1 "',"
			  " 'create_time__gte': '2021-07-28T01:23:21.537604+03:00', 'sources': ['cam1', 'cam2'],"
			  " 'track_ids': ['a_1', 'b-2'], 'emotions': [1, 2], 'face_ids': ['" U2 "']}, 'threshold': 0.5}}";
	json_object *schema = spec_schema(g_spec, "clustering_task"), *body = J(txt), *copy;
	int i, n = 2000, bad = 0;
	struct timespec t0, t1;
	double us;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++) {
		copy = NULL;
		json_object_deep_copy(body, &copy, NULL);
		bad += schema_validate(g_spec, schema, copy, SD, NULL) != 0;
		json_object_put(copy);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / n;
	printf("clustering_task body: %.1f us per validation\n", us);
	CHECK(bad == 0);
	CHECK(us < 5000.0);	/* generous: also holds under valgrind/ASan */
	json_object_put(body);
}

/* ------------------------------------------------------------------------- */

static void coerce_case(int line, struct spec *s, json_object *schema, const char *str,
			const char *expect)
{
	json_object *out = NULL;
	char what[512];
	int rc = schema_coerce_string(s, schema, str, &out);

	snprintf(what, sizeof(what), "coerce '%s' -> rc=%d %s, expected %s", str, rc,
		 rc ? "-" : S(out), expect ? expect : "failure");
	check(expect ? rc == 0 && same_json(out, expect) : rc == -1 && !out, line, what);
	json_object_put(out);
}

static json_object *param_schema(const char *name)
{
	json_object *p = at(at(spec_root(g_spec), "components|parameters"), name);

	return json_object_object_get(p, "schema");
}

static void test_coerce(void)
{
	json_object *arr = J("{'type': 'array', 'items': {'type': 'integer'}}");
	json_object *multi = J("{'type': ['integer', 'string']}");
	json_object *num = J("{'type': 'number'}"), *boo = J("{'type': 'boolean'}"), *any = J("{}");
	json_object *page = param_schema("page"), *tt = param_schema("task_type"), *v = NULL;
	struct schema_error e;

	coerce_case(__LINE__, g_spec, page, "12", "12");
	coerce_case(__LINE__, g_spec, page, "-5", "-5");
	coerce_case(__LINE__, g_spec, page, "007", "7");
	coerce_case(__LINE__, g_spec, page, "1.0", NULL);
	coerce_case(__LINE__, g_spec, page, " 1", NULL);
	coerce_case(__LINE__, g_spec, page, "1 ", NULL);
	coerce_case(__LINE__, g_spec, page, "+1", NULL);
	coerce_case(__LINE__, g_spec, page, "", NULL);
	coerce_case(__LINE__, g_spec, page, "-", NULL);
	coerce_case(__LINE__, g_spec, page, "9223372036854775807", "9223372036854775807");
	coerce_case(__LINE__, g_spec, page, "9223372036854775808", NULL);
	coerce_case(__LINE__, g_spec, tt, "3", "3");	/* through $ref */
	coerce_case(__LINE__, g_spec, param_schema("account_id"), U1, "'" U1 "'");
	coerce_case(__LINE__, g_spec, spec_schema(g_spec, "result_id"), "x", "'x'");	/* through allOf */
	coerce_case(__LINE__, g_spec, spec_schema(g_spec, "gender"), "1", "1");
	coerce_case(__LINE__, NULL, num, "1.5", "1.5");
	coerce_case(__LINE__, NULL, num, "-.5", "-0.5");
	coerce_case(__LINE__, NULL, num, "1e3", "1000.0");
	coerce_case(__LINE__, NULL, num, "7", "7");
	coerce_case(__LINE__, NULL, num, "nan", NULL);
	coerce_case(__LINE__, NULL, num, "1e999", NULL);
	coerce_case(__LINE__, NULL, num, "0x10", NULL);
	coerce_case(__LINE__, NULL, num, ".", NULL);
	coerce_case(__LINE__, NULL, boo, "1", "true");
	coerce_case(__LINE__, NULL, boo, "false", "false");
	coerce_case(__LINE__, NULL, boo, "yes", NULL);
	coerce_case(__LINE__, NULL, any, "as is", "'as is'");
	coerce_case(__LINE__, NULL, arr, "1,2,3", "[1,2,3]");
	coerce_case(__LINE__, NULL, arr, "", "[]");
	coerce_case(__LINE__, NULL, arr, "1,,2", NULL);
	coerce_case(__LINE__, NULL, arr, "1,x", NULL);
	coerce_case(__LINE__, NULL, multi, "5", "5");
	coerce_case(__LINE__, NULL, multi, "5x", "'5x'");
	CHECK(schema_coerce_string(NULL, any, NULL, &v) == -1 && !v);

	/* coercion, then validation */
	CHECK(schema_coerce_string(g_spec, tt, "10", &v) == 0);
	CHECK(schema_validate(g_spec, tt, v, 0, &e) == -1 &&
	      !strcmp(e.message, "10 is not one of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"));
	json_object_put(v);
	CHECK(schema_coerce_string(g_spec, page, "0", &v) == 0);
	CHECK(schema_validate(g_spec, page, v, 0, &e) == -1 &&
	      !strcmp(e.message, "0 is less than the minimum of 1"));
	json_object_put(v);
	CHECK(schema_coerce_string(g_spec, param_schema("create_time__lt"), "2018-08-11T09:11:41.674Z", &v) == 0);
	CHECK(schema_validate(g_spec, param_schema("create_time__lt"), v, 0, &e) == 0);
	json_object_put(v);
	CHECK(schema_coerce_string(g_spec, param_schema("create_time__lt"), "yesterday", &v) == 0);
	CHECK(schema_validate(g_spec, param_schema("create_time__lt"), v, 0, &e) == -1 &&
	      !strcmp(e.message, "'yesterday' is not a 'date-time'"));
	json_object_put(v);
	json_object_put(arr);
	json_object_put(multi);
	json_object_put(num);
	json_object_put(boo);
	json_object_put(any);
}

static void test_query(void)
{
	struct query q;

	CHECK(query_parse("a=1&b=x+y&c=%41%2b%2F&d&=e&a=2", &q) == 0);
	CHECK(q.n == 6);
	CHECK(!strcmp(query_get(&q, "a"), "1"));
	CHECK(!strcmp(query_get(&q, "b"), "x y"));
	CHECK(!strcmp(query_get(&q, "c"), "A+/"));
	CHECK(!strcmp(query_get(&q, "d"), ""));
	CHECK(!strcmp(query_get(&q, ""), "e"));
	CHECK(q.n == 6 && !strcmp(q.p[5].name, "a") && !strcmp(q.p[5].value, "2"));
	CHECK(query_get(&q, "zz") == NULL);
	query_free(&q);
	CHECK(q.n == 0 && q.p == NULL);

	CHECK(query_parse("&&x=%C3%A9&&", &q) == 0 && q.n == 1 && !strcmp(q.p[0].value, "\xc3\xa9"));
	query_free(&q);
	CHECK(query_parse("a%3Db=c%26d", &q) == 0 && q.n == 1 && !strcmp(q.p[0].name, "a=b") &&
	      !strcmp(q.p[0].value, "c&d"));
	query_free(&q);
	CHECK(query_parse("", &q) == 0 && q.n == 0);
	query_free(&q);
	CHECK(query_parse(NULL, &q) == 0 && q.n == 0);
	query_free(&q);
	CHECK(query_parse("a=b=c", &q) == 0 && !strcmp(q.p[0].value, "b=c"));
	query_free(&q);
	CHECK(query_parse("a=%4", &q) == -1 && q.n == 0 && q.p == NULL);
	CHECK(query_parse("a=%", &q) == -1);
	CHECK(query_parse("a=%zz", &q) == -1);
	CHECK(query_parse("ok=1&a=%00", &q) == -1 && q.n == 0);
	CHECK(query_parse("%=1", &q) == -1);
	CHECK(query_get(NULL, "a") == NULL);
	query_free(NULL);
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : getenv("LUNA_SPEC");
	char err[512];

	if (!path)
		path = "docs/luna-tasks.yaml";
	g_spec = spec_load(path, err, sizeof(err));
	if (!g_spec) {
		printf("FAIL cannot load the spec: %s\n", err);
		printf("0 passed, 1 failed\n");
		return 1;
	}
	test_yaml_scalars();
	test_yaml_errors();
	test_yaml_spec();
	test_resolve();
	test_types();
	test_objects();
	test_numbers();
	test_strings();
	test_formats();
	test_pattern_steps();
	test_arrays();
	test_enum_const();
	test_composition();
	test_discriminator();
	test_strict();
	test_defaults();
	test_repr();
	test_hostile();
	test_spec_clustering();
	test_spec_linker_gc();
	test_spec_other_tasks();
	test_spec_estimator();
	test_spec_replies();
	test_speed();
	test_coerce();
	test_query();
	spec_free(g_spec);
	printf("%d passed, %d failed\n", g_pass, g_fail);
	return g_fail ? 1 : 0;
}
