/* fuzz_content.c - libFuzzer target for the task content checks the API runs
 * at creation: a body that passes the type's schema (strict, defaults
 * applied, as the front door does) goes through the account rule
 * (task_check_content_accounts) and the type's validate hook, with a ctx
 * that has no database, objects backend, store or handlers service.
 *
 * Input: byte 0 selects the task type (low 7 bits, modulo the list below,
 * the order of fuzz_validate.c so both share seeds); the rest is the body as
 * JSON. The reporter's hook reads its source task from the tasks database;
 * instead its column check (export_layout_read) runs for faces and events.
 * Checked: a refusal has a 4xx (or 501) status, a code and a detail; the
 * account rule refuses exactly the bodies whose content holds an account_id
 * other than the task's, with 400/12022 naming the path. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/config.h"
#include "common/errors.h"
#include "common/schema.h"
#include "tasks/export_rows.h"
#include "tasks/task_type.h"
#include "tasks/task_util.h"
#include "fuzz_spec.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct spec *g_spec;
static struct luna_config g_cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[512];

	(void)argc;
	(void)argv;
	g_spec = fuzz_load_spec("fuzz_content");
	if (config_load(&g_cfg, NULL, err, sizeof(err))) {
		fprintf(stderr, "fuzz_content: %s\n", err);
		abort();
	}
	/* Nothing outside the process: no handlers service, no allowed folder. */
	g_cfg.handlers_url[0] = '\0';
	snprintf(g_cfg.network_disk_roots, sizeof(g_cfg.network_disk_roots), "/nonexistent/luna-fuzz");
	return 0;
}

/* The spec names the request body of POST /2/tasks/<name> "<name>_task". */
static const struct task_type *type_of_schema(const char *schema)
{
	size_t n = strlen(schema) - strlen("_task");
	for (size_t i = 0; task_types[i]; i++)
		if (strlen(task_types[i]->name) == n && strncmp(task_types[i]->name, schema, n) == 0)
			return task_types[i];
	abort();
}

static void check_refusal(const struct task_fail *f)
{
	if (f->status < 400 || f->status > 501 || f->status == 500 || !f->code || !f->detail[0] ||
	    strnlen(f->detail, sizeof(f->detail)) == sizeof(f->detail))
		abort();
}

/* 1 when some account_id in v is set to anything but account (as the rule reads it). */
static int has_other_account(json_object *v, const char *account, int depth)
{
	if (depth > 64)
		return 0;
	if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, key, val) {
			if (strcmp(key, "account_id") == 0 && val && !json_object_is_type(val, json_type_null) &&
			    (!json_object_is_type(val, json_type_string) || strcmp(json_object_get_string(val), account)))
				return 1;
			if (has_other_account(val, account, depth + 1))
				return 1;
		}
	} else if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (has_other_account(json_object_array_get_idx(v, i), account, depth + 1))
				return 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct schema_error se;
	struct task_fail fail = {0};
	json_object *content = NULL, *acc = NULL;

	if (size < 1)
		return 0;
	const char *schema_name = body_schemas[(data[0] & 0x7f) % NELEM(body_schemas)];
	const struct task_type *tt = type_of_schema(schema_name);
	struct json_tokener *tok = json_tokener_new();
	if (!tok)
		return 0;
	json_object *body = json_tokener_parse_ex(tok, (const char *)data + 1, (int)(size - 1));
	json_tokener_free(tok);
	if (!body || schema_validate(g_spec, spec_schema(g_spec, schema_name), body, SCHEMA_STRICT | SCHEMA_DEFAULTS,
				     &se) ||
	    !json_object_object_get_ex(body, "content", &content) ||
	    !json_object_object_get_ex(body, "account_id", &acc) || !json_object_is_type(acc, json_type_string)) {
		json_object_put(body);
		return 0;
	}
	const char *account = json_object_get_string(acc);
	int other = has_other_account(content, account, 0);
	if (task_check_content_accounts(account, content, &fail)) {
		check_refusal(&fail);
		if (!other || fail.code != E_BAD_JSON || fail.status != 400 || !strstr(fail.detail, "Path: 'content.") ||
		    !strstr(fail.detail, "account_id must equal the account_id of the task"))
			abort();
	} else if (other) {
		abort();
	} else {
		struct task_ctx ctx = {.cfg = &g_cfg, .arena = arena_new(), .account_id = account};
		struct export_layout layout;
		for (int kind = OBJ_FACES; tt->id == 3 && kind <= OBJ_EVENTS; kind++) {
			memset(&fail, 0, sizeof(fail));
			if (export_layout_read(ctx.arena, content, (enum objects_kind)kind, 1, &layout, &fail))
				check_refusal(&fail);
		}
		memset(&fail, 0, sizeof(fail));
		if (tt->id != 3 && tt->validate && tt->validate(&ctx, content, &fail))
			check_refusal(&fail);
		arena_free(ctx.arena);
	}
	json_object_put(body);
	return 0;
}
