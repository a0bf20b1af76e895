/* Notification policies: checks, rows and masked rendering (see policy.h).
 * Workload: one walk of a policy (at most 2 x MAX_CALLBACKS callbacks) per
 * created task or PUT; one small insert per callback. */
#include "notify/policy.h"
#include "backends/http_client.h"
#include "common/errors.h"
#include "common/redact.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MASK "********"

static const struct {
	const char *key;
	int events;
} lists[] = {
	{"task_callbacks", NOTIFY_TASK_EVENTS},
	{"subtask_callbacks", NOTIFY_SUBTASK_EVENTS},
};
#define NLISTS (sizeof(lists) / sizeof(lists[0]))

const char *notify_list_name(int events)
{
	for (size_t i = 0; i < NLISTS; i++)
		if (lists[i].events == events)
			return lists[i].key;
	return "?";
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;
	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static int refuse(struct task_fail *fail, const char *path, const char *why)
{
	task_fail_detail(fail, E_BAD_JSON, path, why);
	return -1;
}

/* RFC 9110 token characters: what a header name may hold. */
static int is_header_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", *s)))
			return 0;
	return 1;
}

/* Headers the delivery sets itself. */
static int is_reserved_header(const char *name)
{
	static const char *const names[] = {"content-type", "content-length", "host", "transfer-encoding",
					    "connection", "expect", NULL};
	for (size_t i = 0; names[i]; i++)
		if (strcasecmp(name, names[i]) == 0)
			return 1;
	return 0;
}

static int check_headers(const struct luna_config *cfg, json_object *headers, const char *path,
			 struct task_fail *fail)
{
	char why[256];
	int n = headers ? json_object_object_length(headers) : 0;
	if (n > cfg->notify.max_headers) {
		snprintf(why, sizeof(why), "%d headers, more than the limit of %d ([NOTIFICATIONS] MAX_HEADERS)", n,
			 cfg->notify.max_headers);
		return refuse(fail, path, why);
	}
	if (!headers)
		return 0;
	json_object_object_foreach(headers, name, value) {
		const char *v = json_object_get_string(value);
		size_t bytes = strlen(name) + strlen(v ? v : "");
		if (!is_header_name(name) || is_reserved_header(name)) {
			snprintf(why, sizeof(why), "'%.64s' is not a header name a callback may set", name);
			return refuse(fail, path, why);
		}
		if (bytes > (size_t)cfg->notify.max_header_bytes) {
			snprintf(why, sizeof(why),
				 "header '%.64s' has %zu bytes, more than the limit of %d ([NOTIFICATIONS] MAX_HEADER_BYTES)",
				 name, bytes, cfg->notify.max_header_bytes);
			return refuse(fail, path, why);
		}
	}
	return 0;
}

static int check_callback(const struct luna_config *cfg, json_object *cb, const char *path, struct task_fail *fail)
{
	char at[300], why[400];
	const char *url = json_object_get_string(get(cb, "url"));
	if (http_url_allowed(cfg->outbound_allow, url, "http,https", why, sizeof(why))) {
		snprintf(at, sizeof(at), "%s.url", path);
		return refuse(fail, at, why);
	}
	json_object *params = get(cb, "params");
	json_object *timeout = get(params, "timeout");
	if (timeout && json_object_get_int64(timeout) > cfg->notify.max_timeout) {
		snprintf(at, sizeof(at), "%s.params.timeout", path);
		snprintf(why, sizeof(why), "%lld is more than the limit of %d ([NOTIFICATIONS] MAX_TIMEOUT)",
			 (long long)json_object_get_int64(timeout), cfg->notify.max_timeout);
		return refuse(fail, at, why);
	}
	snprintf(at, sizeof(at), "%s.params.headers", path);
	return check_headers(cfg, get(params, "headers"), at, fail);
}

int notify_policy_check(const struct luna_config *cfg, json_object *policy, const char *path,
			struct task_fail *fail)
{
	char at[256], why[256];
	for (size_t l = 0; policy && l < NLISTS; l++) {
		json_object *list = get(policy, lists[l].key);
		size_t n = list ? json_object_array_length(list) : 0;
		snprintf(at, sizeof(at), "%s%s%s", path, *path ? "." : "", lists[l].key);
		if (n > (size_t)cfg->notify.max_callbacks) {
			snprintf(why, sizeof(why), "%zu callbacks, more than the limit of %d ([NOTIFICATIONS] MAX_CALLBACKS)",
				 n, cfg->notify.max_callbacks);
			return refuse(fail, at, why);
		}
		for (size_t i = 0; i < n; i++) {
			char item[280];
			snprintf(item, sizeof(item), "%s.%zu", at, i);
			if (check_callback(cfg, json_object_array_get_idx(list, i), item, fail))
				return -1;
		}
	}
	return 0;
}

static int callback_enabled(json_object *cb)
{
	json_object *e = get(cb, "enable");
	return !e || json_object_get_int(e) != 0;
}

int notify_policy_store(struct db *db, long long task_id, json_object *policy)
{
	if (!policy)
		return 0;
	if (DB_EXEC(db, NULL, NULL, "UPDATE task_callback SET replaced = 1 WHERE task_id = ? AND replaced = 0",
		    DBP_I64(task_id)))
		return -1;
	for (size_t l = 0; l < NLISTS; l++) {
		json_object *list = get(policy, lists[l].key);
		size_t n = list ? json_object_array_length(list) : 0;
		for (size_t i = 0; i < n; i++) {
			json_object *cb = json_object_array_get_idx(list, i);
			const char *text = json_object_to_json_string_ext(cb, JSON_C_TO_STRING_PLAIN |
										      JSON_C_TO_STRING_NOSLASHESCAPE);
			if (DB_EXEC(db, NULL, NULL,
				    "INSERT INTO task_callback (task_id, events, position, callback, enabled) "
				    "VALUES (?, ?, ?, ?, ?)",
				    DBP_I64(task_id), DBP_I64(lists[l].events), DBP_I64(i), DBP_STR(text),
				    DBP_I64(callback_enabled(cb))))
				return -1;
		}
	}
	return 0;
}

int notify_header_is_secret(const char *name, const char *value)
{
	static const char *const exact[] = {"authorization", "proxy-authorization", "cookie", "set-cookie", NULL};
	static const char *const parts[] = {"token", "secret", "key", "auth", "password", "passwd", "session",
					    "signature", "credential", NULL};
	for (size_t i = 0; exact[i]; i++)
		if (strcasecmp(name, exact[i]) == 0)
			return 1;
	for (size_t i = 0; parts[i]; i++)
		if (strcasestr(name, parts[i]))
			return 1;
	return value && (strncasecmp(value, "Bearer ", 7) == 0 || strncasecmp(value, "Basic ", 6) == 0);
}

void notify_callback_mask(json_object *cb)
{
	json_object *auth = get(cb, "authorization");
	if (get(auth, "password"))
		json_object_object_add(auth, "password", json_object_new_string(MASK));
	if (get(auth, "token"))
		json_object_object_add(auth, "token", json_object_new_string(MASK));
	const char *url = json_object_get_string(get(cb, "url"));
	if (url && url_has_secret(url)) {
		char *clean = url_redact_dup(url);
		json_object_object_add(cb, "url", json_object_new_string(clean ? clean : MASK));
		free(clean);
	}
	json_object *headers = get(get(cb, "params"), "headers");
	if (!json_object_is_type(headers, json_type_object))
		return;
	json_object_object_foreach(headers, name, value) {
		if (notify_header_is_secret(name, json_object_get_string(value)))
			json_object_object_add(headers, name, json_object_new_string(MASK));
	}
}

static int is_mask(json_object *v)
{
	return json_object_is_type(v, json_type_string) && strcmp(json_object_get_string(v), MASK) == 0;
}

/* Replaces o[key] when it is the mask by old[key]; -1 (fail set) when old has none. */
static int unmask_field(json_object *o, const char *key, json_object *old, const char *path, struct task_fail *fail)
{
	json_object *v = get(o, key), *was = get(old, key);
	if (!is_mask(v))
		return 0;
	if (!json_object_is_type(was, json_type_string)) {
		char at[300];
		snprintf(at, sizeof(at), "%s.%s", path, key);
		return refuse(fail, at, "a masked secret, and the callback at this place has none to keep: send the secret");
	}
	json_object_object_add(o, key, json_object_get(was));
	return 0;
}

static int unmask_callback(json_object *cb, json_object *old, const char *path, struct task_fail *fail)
{
	char at[300];
	json_object *auth = get(cb, "authorization"), *old_auth = get(old, "authorization");
	const char *type = json_object_get_string(get(auth, "type"));
	const char *old_type = json_object_get_string(get(old_auth, "type"));
	if (!old_type || !type || strcmp(type, old_type))
		old_auth = NULL;
	snprintf(at, sizeof(at), "%s.authorization", path);
	if (auth && (unmask_field(auth, "password", old_auth, at, fail) || unmask_field(auth, "token", old_auth, at, fail)))
		return -1;
	json_object *headers = get(get(cb, "params"), "headers"), *old_headers = get(get(old, "params"), "headers");
	snprintf(at, sizeof(at), "%s.params.headers", path);
	if (!json_object_is_type(headers, json_type_object))
		return 0;
	json_object_object_foreach(headers, name, value) {
		(void)value;
		if (unmask_field(headers, name, old_headers, at, fail))
			return -1;
	}
	return 0;
}

int notify_policy_unmask(struct db *db, struct arena *a, long long task_id, json_object *policy,
			 struct task_fail *fail)
{
	struct db_result r;
	if (DB_EXEC(db, a, &r, "SELECT events, position, callback FROM task_callback WHERE task_id = ? AND replaced = 0",
		    DBP_I64(task_id))) {
		task_fail(fail, E_DB, "%s", db_error(db));
		return -1;
	}
	int rc = 0;
	for (size_t l = 0; l < NLISTS && rc == 0; l++) {
		json_object *list = get(policy, lists[l].key);
		size_t n = list ? json_object_array_length(list) : 0;
		for (size_t i = 0; i < n && rc == 0; i++) {
			json_object *old = NULL;
			for (size_t k = 0; k < r.nrows && !old; k++)
				if (atoi(r.rows[k][0]) == lists[l].events && strtoull(r.rows[k][1], NULL, 10) == i)
					old = json_tokener_parse(r.rows[k][2]);
			char at[280];
			snprintf(at, sizeof(at), "%s.%zu", lists[l].key, i);
			rc = unmask_callback(json_object_array_get_idx(list, i), old, at, fail);
			json_object_put(old);
		}
	}
	return rc;
}

json_object *notify_policy_load(struct db *db, struct arena *a, long long task_id)
{
	struct db_result r;
	if (DB_EXEC(db, a, &r,
		    "SELECT events, callback FROM task_callback WHERE task_id = ? AND replaced = 0 "
		    "ORDER BY events, position",
		    DBP_I64(task_id)))
		return NULL;
	json_object *policy = json_object_new_object();
	json_object *by_events[NLISTS];
	for (size_t l = 0; l < NLISTS; l++) {
		by_events[l] = json_object_new_array();
		json_object_object_add(policy, lists[l].key, by_events[l]);
	}
	for (size_t i = 0; i < r.nrows; i++) {
		int events = atoi(r.rows[i][0]);
		json_object *cb = json_tokener_parse(r.rows[i][1]);
		if (!cb)
			continue;
		notify_callback_mask(cb);
		for (size_t l = 0; l < NLISTS; l++)
			if (lists[l].events == events)
				json_object_array_add(by_events[l], json_object_get(cb));
		json_object_put(cb);
	}
	return policy;
}
