/* The self-check of answers against the contract (see contract.h). It uses
 * the same schema engine as the request checks. Workload: when switched on,
 * once per answer; a JSON body is validated whole, so large lists cost time. */
#include "api/contract.h"
#include "common/log.h"
#include <stdio.h>
#include <string.h>
#include <strings.h>

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;
	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static json_object *response_of(const struct spec *s, const struct op_contract *op, int status)
{
	char key[16];
	snprintf(key, sizeof(key), "%d", status);
	json_object *r = get(op->responses, key);
	return spec_resolve(s, r ? r : get(op->responses, "default"));
}

int contract_declares(const struct spec *s, const struct op_contract *op, int status)
{
	return response_of(s, op, status) != NULL;
}

static void violation(const struct op_contract *op, int status, const char *path, const char *what)
{
	log_error("contract violation: %s (%s %s) status %d at '%s': %s", op->op_id, op->method, op->path, status, path,
		  what);
}

/* The value of header name in "Name: value\r\n" lines, copied to out; NULL if absent. */
static const char *header_value(const char *headers, const char *name, char *out, size_t outlen)
{
	size_t n = strlen(name);
	for (const char *line = headers; line && *line;) {
		const char *eol = strstr(line, "\r\n");
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		if (len > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
			const char *v = line + n + 1;
			while (*v == ' ')
				v++;
			snprintf(out, outlen, "%.*s", (int)(len - (size_t)(v - line)), v);
			return out;
		}
		line = eol ? eol + 2 : NULL;
	}
	return NULL;
}

static int check_headers(const struct spec *s, const struct op_contract *op, int status, json_object *declared,
			 const char *ctype, const char *request_id, const char *headers)
{
	int bad = 0;
	json_object_object_foreach(declared, name, ref) {
		json_object *h = spec_resolve(s, ref);
		char buf[512], path[128];
		const char *value = strcasecmp(name, "Content-Type") == 0     ? ctype
				    : strcasecmp(name, "Luna-Request-Id") == 0 ? request_id
				    : header_value(headers, name, buf, sizeof(buf));
		snprintf(path, sizeof(path), "header %s", name);
		if (!value) {
			if (json_object_get_boolean(get(h, "required"))) {
				violation(op, status, path, "a required header is missing");
				bad++;
			}
			continue;
		}
		json_object *v = json_object_new_string(value);
		struct schema_error se;
		if (get(h, "schema") && schema_validate(s, get(h, "schema"), v, 0, &se)) {
			violation(op, status, path, se.message);
			bad++;
		}
		json_object_put(v);
	}
	return bad;
}

/* The content entry of the answer's media type (parameters ignored), or NULL. */
static json_object *media_entry(json_object *content, const char *ctype)
{
	size_t n = strcspn(ctype, "; ");
	json_object_object_foreach(content, type, entry) {
		if (strlen(type) == n && strncasecmp(type, ctype, n) == 0)
			return entry;
	}
	return NULL;
}

/* Where docs/luna-tasks.yaml contradicts itself, so that no answer can match
 * it: a mismatch whose JSON path ends with `path` and whose message is
 * `message` is not reported. Keep each entry's reason. */
static const struct contract_defect {
	const char *path, *message, *reason;
} defects[] = {
	{"content.source", "'source' is a required property",
	 "estimator_ftp_server_data_required, the reply form of an estimator task's ftp source, requires the "
	 "properties 'source' and 'type', which no ftp source has: the request schema (estimator_ftp_server_data) "
	 "does not define them and refuses them as unknown"},
};

static int known_defect(const struct schema_error *se)
{
	size_t n = strlen(se->path);
	for (size_t i = 0; i < sizeof(defects) / sizeof(defects[0]); i++) {
		size_t m = strlen(defects[i].path);
		if (n >= m && strcmp(se->path + n - m, defects[i].path) == 0 && (n == m || se->path[n - m - 1] == '.') &&
		    strcmp(se->message, defects[i].message) == 0)
			return 1;
	}
	return 0;
}

/* Bodies are checked in the schema engine's strict mode, as request bodies
 * are: a property no schema describes is a mismatch, and of several oneOf
 * branches the one that accounts for every property is the one that applies
 * (the contract's oneOf schemas rarely forbid additional properties, so
 * without that several branches would match and the oneOf would fail). */
int contract_check(const struct spec *s, const struct op_contract *op, int status, const char *ctype,
		   const char *request_id, const char *headers, json_object *body)
{
	json_object *resp = response_of(s, op, status);
	if (!resp) {
		violation(op, status, "", "the operation declares no such status");
		return 1;
	}
	int bad = check_headers(s, op, status, get(resp, "headers"), ctype, request_id, headers);
	json_object *content = get(resp, "content");
	if (!ctype) {
		if (content && json_object_object_length(content)) {
			violation(op, status, "", "the answer has no body, the response declares one");
			bad++;
		}
		return bad;
	}
	json_object *entry = content ? media_entry(content, ctype) : NULL;
	if (!entry) {
		char what[256];
		snprintf(what, sizeof(what), "media type %s is not declared", ctype);
		violation(op, status, "", what);
		return bad + 1;
	}
	struct schema_error se;
	if (body && get(entry, "schema") && schema_validate(s, get(entry, "schema"), body, SCHEMA_STRICT, &se) &&
	    !known_defect(&se)) {
		violation(op, status, se.path, se.message);
		bad++;
	}
	return bad;
}
