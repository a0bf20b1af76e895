/* Route table and front door (see router.h). Query parameters and bodies
 * are checked against the spec itself: the operation's `parameters` and
 * `requestBody` schemas are the only source of truth. The task types come
 * from task_types[]: POST /2/tasks/{type} is one route per type, each with
 * the spec's operation of its path. */
#include "api/router.h"
#include "api/contract.h"
#include "common/errors.h"
#include "common/json_text.h"
#include "common/log.h"
#include "tasks/task_type.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The segment of a pattern that stands for the name of each task type. */
#define TYPE_SEGMENT "{type}"

struct route {
	const char *method;
	const char *pattern;       /* spec path; {x} matches a decimal id; TYPE_SEGMENT see above */
	handler_fn handler;
	body_check_fn body_check;  /* optional, before the schema check */
};

static const struct route routes[] = {
	{"GET", "/version", h_version, NULL},
	{"GET", "/healthcheck", h_healthcheck, NULL},
	{"GET", "/2/docs/spec", h_docs_spec, NULL},
	{"GET", "/2/docs/dev", h_docs_dev, NULL},
	{"GET", "/2/config", h_config, NULL},
	{"GET", "/2/ui", h_console_page, NULL},
	{"GET", "/2/ui/console.js", h_console_script, NULL},
	{"GET", "/2/ui/console.css", h_console_style, NULL},
	{"GET", "/metrics", h_metrics, NULL},
	{"GET", "/2/tasks", h_tasks_list, NULL},
	{"GET", "/2/tasks/count", h_tasks_count, NULL},
	{"GET", "/2/tasks/errors", h_errors_list, NULL},
	{"GET", "/2/tasks/errors/count", h_errors_count, NULL},
	{"GET", "/2/tasks/errors/{error_id}", h_error_get, NULL},
	{"GET", "/2/tasks/{task_id}", h_task_get, NULL},
	{"PATCH", "/2/tasks/{task_id}", h_task_cancel, NULL},
	{"DELETE", "/2/tasks/{task_id}", h_task_delete, NULL},
	{"GET", "/2/tasks/{task_id}/subtasks", h_task_subtasks, NULL},
	{"GET", "/2/tasks/{task_id}/result", h_task_result, NULL},
	{"GET", "/2/tasks/{task_id}/errors", h_task_errors, NULL},
	{"GET", "/2/tasks/{task_id}/errors/count", h_task_errors_count, NULL},
	/* Schedules (extension). */
	{"POST", "/2/tasks/schedules", h_schedule_create, NULL},
	{"GET", "/2/tasks/schedules", h_schedules_list, NULL},
	{"GET", "/2/tasks/schedules/{schedule_id}", h_schedule_get, NULL},
	{"PUT", "/2/tasks/schedules/{schedule_id}", h_schedule_replace, NULL},
	{"PATCH", "/2/tasks/schedules/{schedule_id}", h_schedule_patch, NULL},
	{"DELETE", "/2/tasks/schedules/{schedule_id}", h_schedule_delete, NULL},
	{"GET", "/2/tasks/{task_id}/notification_policy", h_notification_policy_get, NULL},
	{"PUT", "/2/tasks/{task_id}/notification_policy", h_notification_policy_put, NULL},
	{"GET", "/2/tasks/{task_id}/notifications", h_notifications_list, NULL},
	/* One route per entry of task_types[]; the spec has a path for each. */
	{"POST", "/2/tasks/" TYPE_SEGMENT, h_task_create, h_task_body_limits},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

struct param_def {
	const char *name;
	json_object *schema;
	int required;
};

/* What the spec says about one route, resolved once at start-up. */
struct route_spec {
	struct param_def params[32];
	size_t nparams;
	json_object *body_schema;      /* NULL: the operation takes no body */
};

/* A line of routes[] as dispatched: one per task type for a TYPE_SEGMENT line. */
struct resolved_route {
	const struct route *route;
	char *pattern;                 /* the spec path (TYPE_SEGMENT replaced) */
	const struct task_type *type;  /* NULL but for task type routes */
	struct route_spec spec;
	struct op_contract op;
};

static struct resolved_route *resolved;
static size_t nresolved;
/* The path label of each metrics slot: slot 0 for a request no route
 * answered, then "METHOD:pattern" of resolved[slot - 1]. */
static char **slot_names;

static void put_json(void *o)
{
	json_object_put(o);
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;
	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static void lower(char *dst, const char *src, size_t len)
{
	size_t i = 0;
	for (; src[i] && i + 1 < len; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = '\0';
}

static void add_params(struct api *api, struct route_spec *rs, json_object *list)
{
	size_t n = list ? json_object_array_length(list) : 0;
	for (size_t i = 0; i < n && rs->nparams < 32; i++) {
		json_object *p = spec_resolve(api->spec, json_object_array_get_idx(list, i));
		const char *in = json_object_get_string(get(p, "in"));
		if (!in || strcmp(in, "query"))
			continue;
		struct param_def *d = &rs->params[rs->nparams++];
		d->name = json_object_get_string(get(p, "name"));
		d->schema = get(p, "schema");
		d->required = json_object_get_boolean(get(p, "required"));
	}
}

/* How many dispatched routes a line of routes[] becomes. */
static size_t route_count(const struct route *r)
{
	size_t n = 0;
	if (!strstr(r->pattern, TYPE_SEGMENT))
		return 1;
	while (task_types[n])
		n++;
	return n;
}

/* The route's pattern for type (TYPE_SEGMENT replaced by its name), malloc'd. */
static char *route_pattern(const struct route *r, const struct task_type *type)
{
	const char *seg = type ? strstr(r->pattern, TYPE_SEGMENT) : NULL;
	if (!seg)
		return strdup(r->pattern);
	size_t len = strlen(r->pattern) - strlen(TYPE_SEGMENT) + strlen(type->name) + 1;
	char *s = malloc(len);
	if (s)
		snprintf(s, len, "%.*s%s%s", (int)(seg - r->pattern), r->pattern, type->name, seg + strlen(TYPE_SEGMENT));
	return s;
}

/* Finds the operation of rr in the spec: its parameters, body schema and answers. */
static int resolve_route(struct api *api, struct resolved_route *rr, char *err, size_t errlen)
{
	json_object *path = get(get(spec_root(api->spec), "paths"), rr->pattern);
	char m[16];
	lower(m, rr->route->method, sizeof(m));
	json_object *op = get(path, m);
	if (!op) {
		snprintf(err, errlen, "the spec has no operation %s %s", rr->route->method, rr->pattern);
		return -1;
	}
	rr->op = (struct op_contract){rr->route->method, rr->pattern, json_object_get_string(get(op, "operationId")),
				      get(op, "responses")};
	add_params(api, &rr->spec, get(path, "parameters"));
	add_params(api, &rr->spec, get(op, "parameters"));
	json_object *rb = spec_resolve(api->spec, get(op, "requestBody"));
	rr->spec.body_schema = get(get(get(rb, "content"), "application/json"), "schema");
	return 0;
}

static int name_slots(char *err, size_t errlen)
{
	slot_names = calloc(nresolved + 1, sizeof(*slot_names));
	if (!slot_names || !(slot_names[0] = strdup("unmatched"))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < nresolved; i++) {
		size_t len = strlen(resolved[i].route->method) + strlen(resolved[i].pattern) + 2;
		if (!(slot_names[i + 1] = malloc(len))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		snprintf(slot_names[i + 1], len, "%s:%s", resolved[i].route->method, resolved[i].pattern);
	}
	return 0;
}

size_t router_slots(const char *const **names)
{
	*names = (const char *const *)slot_names;
	return slot_names ? nresolved + 1 : 0;
}

int router_init(struct api *api, char *err, size_t errlen)
{
	size_t n = 0;
	for (size_t i = 0; i < NROUTES; i++)
		n += route_count(&routes[i]);
	resolved = calloc(n, sizeof(*resolved));
	if (!resolved) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < NROUTES; i++) {
		int typed = strstr(routes[i].pattern, TYPE_SEGMENT) != NULL;
		for (size_t k = 0; k < route_count(&routes[i]); k++) {
			struct resolved_route *rr = &resolved[nresolved++];
			rr->route = &routes[i];
			rr->type = typed ? task_types[k] : NULL;
			rr->pattern = route_pattern(&routes[i], rr->type);
			if (!rr->pattern) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			if (resolve_route(api, rr, err, errlen))
				return -1;
		}
	}
	return name_slots(err, errlen);
}

json_object *router_create_schema(const struct task_type *type)
{
	for (size_t i = 0; i < nresolved; i++)
		if (resolved[i].type == type && strcmp(resolved[i].route->method, "POST") == 0)
			return resolved[i].spec.body_schema;
	return NULL;
}

void router_free(void)
{
	for (size_t i = 0; slot_names && i <= nresolved; i++)
		free(slot_names[i]);
	free(slot_names);
	slot_names = NULL;
	for (size_t i = 0; i < nresolved; i++)
		free(resolved[i].pattern);
	free(resolved);
	resolved = NULL;
	nresolved = 0;
}

/* Segment-wise match; a {name} segment takes a decimal id (≤ 18 digits). */
static int match_path(const char *pattern, const char *path, long long *id)
{
	while (*pattern && *path) {
		if (*pattern == '{') {
			const char *end = strchr(pattern, '}');
			size_t n = 0;
			while (isdigit((unsigned char)path[n]))
				n++;
			if (!end || n == 0 || n > 18 || (path[n] && path[n] != '/'))
				return 0;
			*id = strtoll(path, NULL, 10);
			pattern = end + 1;
			path += n;
			continue;
		}
		if (*pattern++ != *path++)
			return 0;
	}
	return *pattern == '\0' && (*path == '\0' || (path[0] == '/' && path[1] == '\0'));
}

static const struct param_def *find_param(const struct route_spec *rs, const char *name)
{
	for (size_t i = 0; i < rs->nparams; i++)
		if (strcmp(rs->params[i].name, name) == 0)
			return &rs->params[i];
	return NULL;
}

/* Default of a parameter schema, looking through $ref and allOf. */
static json_object *param_default(struct api *api, json_object *schema)
{
	for (int depth = 0; schema && depth < 8; depth++) {
		schema = spec_resolve(api->spec, schema);
		json_object *d = get(schema, "default");
		if (d)
			return d;
		json_object *all = get(schema, "allOf");
		schema = all && json_object_array_length(all) ? json_object_array_get_idx(all, 0) : NULL;
	}
	return NULL;
}

/* An operation that declares no 400 answer (/version, /healthcheck, the
 * docs, /2/config and the console's files) cannot refuse its query: a
 * parameter it does not know or cannot read is ignored (its default
 * applies) and logged. */
static int refuse_query(struct request *req, const char *name)
{
	if (contract_declares(req->api->spec, req->op, 400)) {
		reply_errorf(req, E_BAD_QUERY, name);
		return -1;
	}
	log_warn("%s: query parameter '%s' ignored (bad or unknown)", req->op->op_id, name);
	return 0;
}

static int validate_query(struct request *req, const struct route_spec *rs)
{
	req->params = arena_defer(req->arena, put_json, json_object_new_object());
	if (req->query_malformed && refuse_query(req, "query string"))
		return -1;
	for (size_t i = 0; i < req->query.n; i++) {
		const char *name = req->query.p[i].name;
		const struct param_def *d = find_param(rs, name);
		json_object *v = NULL;
		struct schema_error se;
		if (!d || json_object_object_get_ex(req->params, name, NULL) ||
		    schema_coerce_string(req->api->spec, d->schema, req->query.p[i].value, &v) ||
		    schema_validate(req->api->spec, d->schema, v, 0, &se)) {
			json_object_put(v);
			if (refuse_query(req, name))
				return -1;
			continue;
		}
		json_object_object_add(req->params, name, v);
	}
	for (size_t i = 0; i < rs->nparams; i++) {
		const struct param_def *d = &rs->params[i];
		if (json_object_object_get_ex(req->params, d->name, NULL))
			continue;
		if (d->required) {
			reply_errorf(req, E_REQUIRED_QUERY, d->name);
			return -1;
		}
		json_object *def = param_default(req->api, d->schema);
		if (def)
			json_object_object_add(req->params, d->name, json_object_get(def));
	}
	return 0;
}

static int is_json_type(const char *ct)
{
	if (!ct)
		return 0;
	size_t n = strlen("application/json");
	return strncasecmp(ct, "application/json", n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static char *read_body(struct request *req, size_t *len)
{
	const char *cl = req_header(req, "CONTENT_LENGTH");
	long long want = cl && *cl ? strtoll(cl, NULL, 10) : 0;
	long max = req->api->cfg.max_body_size;
	if (want > max) {
		reply_errorf(req, E_BODY_TOO_LARGE, max);
		return NULL;
	}
	if (want < 0)
		want = 0;
	char *buf = arena_alloc(req->arena, (size_t)want + 1);
	int got = want ? FCGX_GetStr(buf, (int)want, req->fcgi->in) : 0;
	buf[got > 0 ? got : 0] = '\0';
	*len = got > 0 ? (size_t)got : 0;
	return buf;
}

static int parse_body(struct request *req, const struct route *route, const struct route_spec *rs)
{
	/* The POST operations declare 400 for every client error: 12024 keeps
	 * saying what is wrong, under the status the contract allows. */
	if (!is_json_type(req_header(req, "CONTENT_TYPE"))) {
		reply_error(req, 400, E_MEDIA_TYPE, NULL);
		return -1;
	}
	size_t len;
	char *buf = read_body(req, &len);
	if (!buf)
		return -1;
	if (len == 0) {
		reply_error(req, 0, E_NO_JSON, NULL);
		return -1;
	}
	/* JSON and nothing else (json_text.h), then parsed; the terminating NUL
	 * is parsed too so that a bare number at the end is complete. The check
	 * has refused any ill-formed UTF-8 already, so json-c does not check it
	 * again (JSON_TOKENER_VALIDATE_UTF8: 15 % of parsing a 1.35 MB roc body). */
	if (json_text_check(buf, len, NULL, NULL)) {
		reply_error(req, 0, E_NO_JSON, NULL);
		return -1;
	}
	json_tokener *tok = json_tokener_new_ex(JSON_TEXT_MAX_DEPTH);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	json_object *body = json_tokener_parse_ex(tok, buf, (int)len + 1);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	while (used < len && strchr(" \t\r\n", buf[used]))
		used++;
	if (jerr != json_tokener_success || used < len) {
		json_object_put(body);
		reply_error(req, 0, E_NO_JSON, NULL);
		return -1;
	}
	req->body = arena_defer(req->arena, put_json, body);
	if (route->body_check && route->body_check(req, body))
		return -1;
	struct schema_error se;
	if (schema_validate(req->api->spec, rs->body_schema, body, SCHEMA_STRICT | SCHEMA_DEFAULTS, &se)) {
		char detail[1024];
		luna_error_detail(detail, sizeof(detail), E_BAD_JSON, se.path, se.message);
		reply_error(req, 0, E_BAD_JSON, detail);
		return -1;
	}
	return 0;
}

void router_dispatch(struct request *req)
{
	int path_matched = 0;
	for (size_t i = 0; i < nresolved; i++) {
		const struct resolved_route *rr = &resolved[i];
		long long id = 0;
		if (!match_path(rr->pattern, req->path, &id))
			continue;
		path_matched = 1;
		if (strcmp(rr->route->method, req->method))
			continue;
		req->path_id = id;
		req->route_slot = i + 1;
		req->op = &rr->op;
		req->task_type = rr->type;
		if (validate_query(req, &rr->spec))
			return;
		if (rr->spec.body_schema && parse_body(req, rr->route, &rr->spec))
			return;
		rr->route->handler(req);
		if (!req->answered)
			reply_error(req, 500, E_INTERNAL, NULL);
		return;
	}
	if (path_matched)
		reply_error(req, 405, E_METHOD_NOT_ALLOWED, NULL);
	else
		reply_error(req, 404, E_ROUTE_NOT_FOUND, NULL);
}
