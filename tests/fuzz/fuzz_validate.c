/* fuzz_validate.c - libFuzzer target for the request validation path: a body validated
 * (strict + defaults) against one of the spec's task schemas, and a query string whose
 * values are coerced and validated against parameter schemas.
 *
 * JSON bodies go through json_text_check() first, as in the api.
 *
 * Input: byte 0 selects the body schema (low 7 bits, modulo the list below; with the
 * high bit set the body is parsed as YAML instead of JSON); then the body, optionally
 * followed by "\n?" and a query string. The spec comes from $LUNA_SPEC (default
 * docs/luna-tasks.yaml relative to the working directory).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* memmem */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/json_text.h"
#include "common/query.h"
#include "common/schema.h"
#include "common/yaml_json.h"
#include "fuzz_spec.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct spec *g_spec;

static const char *const param_names[] = {
	"page", "page_size", "task_type", "task_status", "create_time__lt", "account_id",
	"task_ids", "error_ids", "include_luna_services", "status_code",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	g_spec = fuzz_load_spec("fuzz_validate");
	return 0;
}

static json_object *param_schema(const char *name)
{
	json_object *p = json_object_object_get(json_object_object_get(json_object_object_get(
		spec_root(g_spec), "components"), "parameters"), name);

	return json_object_object_get(p, "schema");
}

static json_object *parse_body(const char *buf, size_t len, int as_yaml)
{
	struct json_tokener *tok;
	json_object *o;
	char err[256];

	if (as_yaml)
		return yaml_load_string(buf, len, err, sizeof(err));
	/* As the api does: only text that passes the strict check is parsed. */
	if (json_text_check(buf, len, NULL, NULL))
		return NULL;
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, buf, (int)len);
	json_tokener_free(tok);
	return o;
}

static void check_error_text(const struct schema_error *e)
{
	/* every failure carries a message; both texts are terminated within bounds */
	if (!e->message[0] || strnlen(e->message, sizeof(e->message)) == sizeof(e->message) ||
	    strnlen(e->path, sizeof(e->path)) == sizeof(e->path))
		abort();
}

static void fuzz_body(unsigned sel, const char *buf, size_t len)
{
	json_object *schema = spec_schema(g_spec, body_schemas[(sel & 0x7f) % NELEM(body_schemas)]);
	int as_yaml = (sel & 0x80) != 0;
	json_object *body = parse_body(buf, len, as_yaml);
	struct schema_error e;

	if (!schema)
		abort();
	if (schema_validate(g_spec, schema, body, SCHEMA_STRICT | SCHEMA_DEFAULTS, &e)) {
		check_error_text(&e);
	} else if (!as_yaml && schema_validate(g_spec, schema, body, SCHEMA_STRICT, &e)) {
		/* a body accepted with defaults inserted must stay valid */
		fprintf(stderr, "defaulted body no longer valid: [%s] %s\n", e.path, e.message);
		abort();
	}
	json_object_put(body);
}

static void fuzz_query(const char *buf, size_t len)
{
	char *qs = malloc(len + 1);
	struct schema_error e;
	struct query q;
	size_t i;

	if (!qs)
		return;
	memcpy(qs, buf, len);
	qs[len] = '\0';
	if (query_parse(qs, &q)) {
		free(qs);
		return;
	}
	if (q.n && query_get(&q, q.p[0].name) != q.p[0].value)
		abort();
	for (i = 0; i < q.n; i++) {
		json_object *schema = param_schema(q.p[i].name), *v = NULL;

		if (!schema)
			schema = param_schema(param_names[i % NELEM(param_names)]);
		if (!schema_coerce_string(g_spec, schema, q.p[i].value, &v) &&
		    schema_validate(g_spec, schema, v, 0, &e))
			check_error_text(&e);
		json_object_put(v);
	}
	query_free(&q);
	free(qs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *rest = (const char *)data + 1, *split;
	size_t n;

	if (size < 1)
		return 0;
	n = size - 1;
	split = memmem(rest, n, "\n?", 2);
	fuzz_body(data[0], rest, split ? (size_t)(split - rest) : n);
	if (split)
		fuzz_query(split + 2, n - (size_t)(split + 2 - rest));
	return 0;
}
