/* One notification: its body and its POST (see deliver.h).
 * Workload: one small JSON body and one HTTP request per attempt; the
 * request waits at most the callback's timeout. */
#include "notify/deliver.h"
#include "common/redact.h"
#include "common/status.h"
#include "common/timefmt.h"
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;
	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static void add_int(json_object *o, const char *key, const char *text)
{
	json_object_object_add(o, key, text ? json_object_new_int64(strtoll(text, NULL, 10)) : NULL);
}

/* A DB time as the API shows times ([API] TIME_ZONE); null when NULL. */
static void add_time(const struct luna_config *cfg, json_object *o, const char *key, const char *db_time)
{
	int64_t us;
	char buf[64];
	if (!db_time || time_parse_db(db_time, &us)) {
		json_object_object_add(o, key, NULL);
		return;
	}
	time_format_rfc3339(us, strcasecmp(cfg->time_zone, "LOCAL") == 0, buf, sizeof(buf));
	json_object_object_add(o, key, json_object_new_string(buf));
}

static void add_result(const struct luna_config *cfg, json_object *o, const struct notify_event *ev)
{
	if (!ev->result_id || atoi(ev->status) != TASK_DONE)
		return;
	char url[700];
	snprintf(url, sizeof(url), "%s/2/tasks/%s/result", cfg->notify.public_url, ev->task_id);
	json_object_object_add(o, "result_id", json_object_new_string(ev->result_id));
	json_object_object_add(o, "result_url", json_object_new_string(url));
}

json_object *notify_body(const struct luna_config *cfg, const struct notify_event *ev)
{
	json_object *o = json_object_new_object();
	int subtask = ev->subtask_id != NULL;
	add_int(o, "notification_id", ev->notification_id);
	json_object_object_add(o, "event", json_object_new_string(subtask ? "subtask_status" : "task_status"));
	add_int(o, "task_id", ev->task_id);
	add_int(o, "task_type", ev->task_type);
	if (subtask)
		add_int(o, "subtask_id", ev->subtask_id);
	add_int(o, subtask ? "subtask_status" : "task_status", ev->status);
	add_time(cfg, o, "create_time", ev->create_time);
	add_time(cfg, o, "last_update_time", ev->event_time);
	add_time(cfg, o, "end_time", ev->end_time);
	if (!subtask) {
		add_int(o, "count_task_parts_done", ev->parts_done);
		add_int(o, "count_task_parts_all", ev->parts_all);
		add_result(cfg, o, ev);
	}
	return o;
}

/* "Authorization: Basic base64(login:password)" or "…: Bearer token"; NULL without one. */
static char *authorization_header(json_object *auth)
{
	const char *type = json_object_get_string(get(auth, "type"));
	if (!type)
		return NULL;
	if (strcmp(type, "bearer") == 0) {
		const char *token = json_object_get_string(get(auth, "token"));
		size_t n = strlen("Authorization: Bearer ") + strlen(token ? token : "") + 1;
		char *h = malloc(n);
		if (h)
			snprintf(h, n, "Authorization: Bearer %s", token ? token : "");
		return h;
	}
	const char *login = json_object_get_string(get(auth, "login"));
	const char *password = json_object_get_string(get(auth, "password"));
	size_t plain_len = strlen(login ? login : "") + 1 + strlen(password ? password : "");
	char *plain = malloc(plain_len + 1);
	char *h = malloc(strlen("Authorization: Basic ") + 4 * (plain_len / 3 + 1) + 1);
	if (plain && h) {
		snprintf(plain, plain_len + 1, "%s:%s", login ? login : "", password ? password : "");
		strcpy(h, "Authorization: Basic ");
		EVP_EncodeBlock((unsigned char *)h + strlen(h), (const unsigned char *)plain, (int)plain_len);
	}
	if (plain)
		memset(plain, 0, plain_len);
	free(plain);
	if (!plain) {
		free(h);
		return NULL;
	}
	return h;
}

static struct curl_slist *append_owned(struct curl_slist *list, char *line)
{
	struct curl_slist *l = line ? curl_slist_append(list, line) : list;
	free(line);
	return l ? l : list;
}

/* The request headers: JSON body, the authorization, the callback's own. */
static struct curl_slist *request_headers(json_object *callback)
{
	struct curl_slist *list = curl_slist_append(NULL, "Content-Type: application/json");
	list = append_owned(list, authorization_header(get(callback, "authorization")));
	json_object *headers = get(get(callback, "params"), "headers");
	if (!json_object_is_type(headers, json_type_object))
		return list;
	json_object_object_foreach(headers, name, value) {
		const char *v = json_object_get_string(value);
		size_t n = strlen(name) + strlen(v ? v : "") + 3;
		char *line = malloc(n);
		if (line)
			snprintf(line, n, "%s: %s", name, v ? v : "");
		list = append_owned(list, line);
	}
	return list;
}

long notify_callback_timeout(const struct luna_config *cfg, json_object *callback)
{
	json_object *t = get(get(callback, "params"), "timeout");
	long s = t ? (long)json_object_get_int64(t) : cfg->notify.timeout;
	if (s > cfg->notify.max_timeout)
		s = cfg->notify.max_timeout;
	return s > 0 ? s : 1;
}

int notify_send(struct http_conn *conn, const struct luna_config *cfg, json_object *callback, const char *body,
		atomic_int *cancel, struct notify_outcome *out)
{
	const char *url = json_object_get_string(get(callback, "url"));
	struct curl_slist *headers = request_headers(callback);
	long timeout = notify_callback_timeout(cfg, callback);
	struct http_request rq = {
		.method = "POST", .url = url, .headers = headers, .body = body, .body_len = strlen(body),
		.max_body = 65536, .timeout_s = timeout, .connect_timeout_s = timeout,
		.protocols = "http,https", .allow = cfg->outbound_allow, .cancel = cancel,
	};
	struct http_response resp = {0};
	struct http_error err = {0};
	memset(out, 0, sizeof(*out));
	int rc = http_perform(conn, &rq, &resp, &err);
	curl_slist_free_all(headers);
	if (rc) {
		snprintf(out->error, sizeof(out->error), "%s", err.detail);
		return -1;
	}
	out->http_status = resp.status;
	http_response_free(&resp);
	if (out->http_status >= 200 && out->http_status < 300)
		return 0;
	char where[400];
	url_redact(url ? url : "", where, sizeof(where));
	snprintf(out->error, sizeof(out->error), "%s answered HTTP %ld", where, out->http_status);
	return -1;
}

int notify_retry_delay(const struct luna_config *cfg, int attempts)
{
	long long d = 1;
	for (int i = 1; i < attempts && d < cfg->notify.retry_max_seconds; i++)
		d *= 2;
	return d < cfg->notify.retry_max_seconds ? (int)d : cfg->notify.retry_max_seconds;
}
