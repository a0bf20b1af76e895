/* Service endpoints: /version, /healthcheck, /2/docs/spec, /2/docs/dev, /2/config. */
#include "api/router.h"
#include "api/spec_html.h"
#include "backends/handlers.h"
#include "backends/objects.h"
#include "backends/storage.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/timefmt.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A double printed with six decimals (not the shortest round-trip form). */
static json_object *json_double_fixed(double d)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%.6f", d);
	return json_object_new_double_s(d, buf);
}

void h_version(struct request *req)
{
	json_object *v = json_object_new_object();
	json_object_object_add(v, "api", json_object_new_int(2));
	json_object_object_add(v, "major", json_object_new_int(3));
	json_object_object_add(v, "minor", json_object_new_int(8));
	json_object_object_add(v, "patch", json_object_new_int(8));
	json_object *o = json_object_new_object();
	json_object_object_add(o, "Version", v);
	reply_json(req, 200, o);
}

/* One healthcheck component: status 1 = healthy. A failing one carries the
 * error of its cause: 10017 for the database, 38001 for the others. */
static void add_component(json_object *list, const char *name, int code, const char *failure)
{
	json_object *c = json_object_new_object();
	json_object_object_add(c, "component", json_object_new_string(name));
	if (failure && code == E_DB) {
		json_object_object_add(c, "error", luna_error_json(E_DB, NULL));
	} else if (failure) {
		char detail[1024];
		luna_error_detail(detail, sizeof(detail), E_HEALTH, name, failure);
		json_object_object_add(c, "error", luna_error_json(E_HEALTH, detail));
	} else {
		json_object_object_add(c, "error", luna_error_json(E_SUCCESS, NULL));
	}
	json_object_object_add(c, "status", json_object_new_int(failure ? 0 : 1));
	json_object_array_add(list, c);
}

static const char *check_db(struct request *req)
{
	return db_ping(req->api->db) ? "Database connection timeout error" : NULL;
}

static const char *check_worker(struct request *req)
{
	struct db_result r;
	if (DB_EXEC(req->api->db, req->arena, &r,
		    "SELECT COUNT(*) FROM scheduler_heartbeat WHERE last_seen > UTC_TIMESTAMP(6) - INTERVAL ? SECOND",
		    DBP_I64(req->api->cfg.heartbeat_ttl)) || r.nrows == 0)
		return "cannot read scheduler heartbeats";
	return atoll(r.rows[0][0]) > 0 ? NULL : "no scheduler heartbeat within [SCHEDULER] HEARTBEAT_TTL";
}

static const char *check_storage(struct request *req)
{
	char err[512];
	if (!req->api->store)
		return "result store is not configured correctly";
	if (req->api->store->ops->check(req->api->store, err, sizeof(err)))
		return arena_strdup(req->arena, err);
	return NULL;
}

static const char *check_objects(struct request *req)
{
	char err[512] = "";
	struct objects *o = objects_open(&req->api->cfg, err, sizeof(err));
	int rc = o ? objects_check(o, err, sizeof(err)) : -1;
	objects_close(o);
	return rc ? arena_strdup(req->arena, err[0] ? err : "objects backend unavailable") : NULL;
}

static const char *check_handlers(struct request *req)
{
	char err[512] = "";
	struct handlers *h = handlers_open(&req->api->cfg, err, sizeof(err));
	int rc = h ? handlers_check(h, err, sizeof(err)) : -1;
	handlers_close(h);
	return rc ? arena_strdup(req->arena, err[0] ? err : "handlers service unavailable") : NULL;
}

void h_healthcheck(struct request *req)
{
	json_object *list = json_object_new_array();
	int failed = 0;
	const char *f = check_db(req);
	failed |= f != NULL;
	add_component(list, "tasks_db", E_DB, f);
	f = f ? "tasks database unavailable" : check_worker(req);
	failed |= f != NULL;
	add_component(list, "tasks_worker", E_HEALTH, f);
	json_object *inc = req_param(req, "include_luna_services");
	if (inc && json_object_get_int(inc) == 1) {
		f = check_storage(req);
		failed |= f != NULL;
		add_component(list, "result_store", E_HEALTH, f);
		f = check_objects(req);
		failed |= f != NULL;
		add_component(list, "objects", E_HEALTH, f);
		if (req->api->cfg.handlers_url[0]) {
			f = check_handlers(req);
			failed |= f != NULL;
			add_component(list, "handlers", E_HEALTH, f);
		}
	}
	json_object *o = json_object_new_object();
	if (failed) {
		json_object_object_add(o, "errors", list);
		reply_json(req, 502, o);
		return;
	}
	json_object_put(list);
	json_object_object_add(o, "execution_time",
			       json_double_fixed((double)(time_now_us() - req->start_us) / 1e6));
	reply_json(req, 200, o);
}

void h_docs_spec(struct request *req)
{
	static const char *const types[] = {"application/x-yaml", "text/html", NULL};
	/* No Accept header, or only the any-type wildcard (curl's default), names
	 * no preference: the document itself, as YAML. */
	const char *t = req_negotiate(req, types, "application/x-yaml");
	if (!t) {
		reply_error(req, 415, E_MEDIA_TYPE, NULL);
		return;
	}
	if (strcmp(t, "application/x-yaml") == 0) {
		reply_body(req, 200, "application/x-yaml", NULL, req->api->spec_yaml, req->api->spec_yaml_len);
		return;
	}
	if (!req->api->spec_html)
		req->api->spec_html = spec_render_html(req->api->spec, &req->api->spec_html_len);
	if (!req->api->spec_html) {
		reply_error(req, 500, E_INTERNAL, "cannot render the specification");
		return;
	}
	reply_body(req, 200, "text/html", NULL, req->api->spec_html, req->api->spec_html_len);
}

void h_docs_dev(struct request *req)
{
	if (!req->api->manual_html) {
		reply_error(req, 500, E_INTERNAL, "the operator manual (manual.html) is missing from [API] DOCS_DIR");
		return;
	}
	reply_body(req, 200, "text/html", NULL, req->api->manual_html, req->api->manual_html_len);
}

void h_config(struct request *req)
{
	static const char *const types[] = {"application/json", "text/plain", NULL};
	const char *t = req_negotiate(req, types, "application/json");
	if (!t) {
		reply_error(req, 415, E_MEDIA_TYPE, NULL);
		return;
	}
	if (strcmp(t, "text/plain") == 0) {
		char *ini = config_to_ini(&req->api->cfg);
		reply_body(req, 200, "text/plain", NULL, ini, ini ? strlen(ini) : 0);
		free(ini);
		return;
	}
	reply_json(req, 200, config_to_json(&req->api->cfg));
}
