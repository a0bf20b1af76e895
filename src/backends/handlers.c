/* Client of a Handlers-compatible service (protocol in handlers.h).
 *
 * Workload: a handle per worker thread, thousands of small calls per
 * subtask. Every call builds its URL from the configured base, performs it
 * through the thread's connection and turns any answer other than the
 * expected status into a handlers_error carrying the service's error. */
#include "backends/handlers.h"
#include "common/encoding.h"
#include "common/errors.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPLY ((size_t)256 << 20)
#define MAX_DESCRIPTOR_DIM 8192

struct handlers {
	char base[512];
	long timeout_s;
	struct http_conn *conn;
};

struct handlers *handlers_open(const struct luna_config *cfg, char *err, size_t errlen)
{
	struct handlers *h = NULL;
	if (!cfg->handlers_url[0]) {
		snprintf(err, errlen, "no handlers service is configured ([HANDLERS] URL)");
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		goto oom;
	snprintf(h->base, sizeof(h->base), "%s", cfg->handlers_url);
	size_t n = strlen(h->base);
	while (n && h->base[n - 1] == '/')
		h->base[--n] = 0;
	h->timeout_s = cfg->handlers_timeout > 0 ? cfg->handlers_timeout : 30;
	h->conn = http_conn_new();
	if (!h->conn)
		goto oom;
	return h;
oom:
	free(h);
	snprintf(err, errlen, "out of memory");
	return NULL;
}

void handlers_close(struct handlers *h)
{
	if (!h)
		return;
	http_conn_free(h->conn);
	free(h);
}

void handlers_error_clear(struct handlers_error *e)
{
	json_object_put(e->service_error);
	memset(e, 0, sizeof(*e));
}

/* Keeps the service's LUNA error body (when it sent one) and the status error. */
static void error_from_reply(struct handlers_error *e, const char *url, const struct http_response *resp)
{
	http_error_from_status(&e->http, url, resp);
	e->not_found = resp->status == 404;
	if (!resp->body || !http_is_json(resp))
		return;
	json_object *o = json_tokener_parse(resp->body);
	json_object *code = NULL;
	if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "error_code", &code)) {
		e->service_error = o;
		return;
	}
	json_object_put(o);
}

/* Performs a call expecting status `want` and a JSON object reply. */
static int call_json(struct handlers *h, struct http_request *rq, long want, json_object **reply,
		     struct handlers_error *e)
{
	struct http_response resp;
	int rc = -1;
	rq->timeout_s = h->timeout_s;
	if (!rq->max_body)
		rq->max_body = MAX_REPLY;
	if (http_perform(h->conn, rq, &resp, &e->http))
		return -1;
	if (resp.status != want) {
		error_from_reply(e, rq->url, &resp);
		goto out;
	}
	if (!reply) {
		rc = 0;
		goto out;
	}
	if (!http_is_json(&resp)) {
		http_error_set(&e->http, E_UPSTREAM_CONTENT_TYPE, "Unexpected content type from %s", rq->url);
		goto out;
	}
	*reply = json_tokener_parse(resp.body);
	if (!*reply || !json_object_is_type(*reply, json_type_object)) {
		json_object_put(*reply);
		*reply = NULL;
		http_error_set(&e->http, E_UPSTREAM_CONTENT_TYPE, "Unexpected content type from %s: not a JSON object",
			       rq->url);
		goto out;
	}
	rc = 0;
out:
	http_response_free(&resp);
	return rc;
}

static int id_is_safe(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '-'))
			return 0;
	}
	return 1;
}

int handlers_get(struct handlers *h, const char *handler_id, enum handler_kind *kind, struct handlers_error *e)
{
	char url[768];
	json_object *reply = NULL, *type = NULL;
	int rc = -1;
	if (!id_is_safe(handler_id)) {
		e->not_found = 1;
		http_error_set(&e->http, E_HANDLER_NOT_FOUND, "Handler with id %s not found", handler_id);
		return -1;
	}
	snprintf(url, sizeof(url), "%s/handlers/%s", h->base, handler_id);
	struct http_request rq = {.method = "GET", .url = url};
	if (call_json(h, &rq, 200, &reply, e)) {
		if (e->not_found)
			http_error_set(&e->http, E_HANDLER_NOT_FOUND, "Handler with id %s not found", handler_id);
		goto out;
	}
	*kind = HANDLER_STATIC;
	if (json_object_object_get_ex(reply, "handler_type", &type) && json_object_get_int(type) == HANDLER_DYNAMIC)
		*kind = HANDLER_DYNAMIC;
	rc = 0;
out:
	json_object_put(reply);
	return rc;
}

int handlers_create(struct handlers *h, const char *description, json_object *policies, char handler_id[37],
		    struct handlers_error *e)
{
	char url[768];
	json_object *body = json_object_new_object(), *reply = NULL, *id = NULL;
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	int rc = -1;
	json_object_object_add(body, "description", json_object_new_string(description));
	json_object_object_add(body, "policies", policies ? json_object_get(policies) : json_object_new_object());
	json_object_object_add(body, "handler_type", json_object_new_int(HANDLER_STATIC));
	const char *text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
	snprintf(url, sizeof(url), "%s/handlers", h->base);
	struct http_request rq = {.method = "POST", .url = url, .headers = hdr, .body = text, .body_len = strlen(text)};
	if (call_json(h, &rq, 201, &reply, e))
		goto out;
	if (!json_object_object_get_ex(reply, "handler_id", &id) || !json_object_is_type(id, json_type_string) ||
	    strlen(json_object_get_string(id)) != 36) {
		http_error_set(&e->http, E_UPSTREAM_CONTENT_TYPE, "Unexpected content type from %s: no handler_id",
			       url);
		goto out;
	}
	memcpy(handler_id, json_object_get_string(id), 37);
	rc = 0;
out:
	curl_slist_free_all(hdr);
	json_object_put(reply);
	json_object_put(body);
	return rc;
}

/* Keeps only the two documented members of an estimation reply. */
static json_object *estimation_result(json_object *reply)
{
	json_object *out = json_object_new_object(), *v = NULL;
	if (json_object_object_get_ex(reply, "events", &v) && json_object_is_type(v, json_type_array))
		json_object_object_add(out, "events", json_object_get(v));
	else
		json_object_object_add(out, "events", json_object_new_array());
	if (json_object_object_get_ex(reply, "filtered_detections", &v) && json_object_is_type(v, json_type_object))
		json_object_object_add(out, "filtered_detections", json_object_get(v));
	else {
		json_object *fd = json_object_new_object();
		json_object_object_add(fd, "face_detections", json_object_new_array());
		json_object_object_add(out, "filtered_detections", fd);
	}
	return out;
}

/* Adds one in-memory part to a form; 0 ok. */
static int form_add(curl_mime *form, const char *name, const void *data, size_t len, const char *type,
		    const char *filename)
{
	curl_mimepart *part = curl_mime_addpart(form);
	if (!part || curl_mime_name(part, name) != CURLE_OK || curl_mime_data(part, data, len) != CURLE_OK ||
	    curl_mime_type(part, type) != CURLE_OK)
		return -1;
	if (filename && curl_mime_filename(part, filename) != CURLE_OK)
		return -1;
	return 0;
}

/* Builds the URL of an estimation: the handler, the image type and the origin. */
static char *estimate_url(struct handlers *h, const char *handler_id, enum image_type type, const char *origin)
{
	char *enc = origin ? http_uri_encode(origin, 0) : NULL;
	size_t n = strlen(h->base) + strlen(handler_id) + (enc ? strlen(enc) : 0) + 96;
	char *url = malloc(n);
	if (url)
		snprintf(url, n, "%s/handlers/%s/events?image_type=%d%s%s", h->base, handler_id, (int)type,
			 enc ? "&image_origin=" : "", enc ? enc : "");
	free(enc);
	return url;
}

int handlers_estimate(struct handlers *h, const char *handler_id, const char *policies_json, enum image_type type,
		      const void *image, size_t len, const char *content_type, const char *filename,
		      const char *image_origin, json_object **result, struct handlers_error *e)
{
	char ctype[160];
	struct curl_slist *hdr = NULL;
	curl_mime *form = NULL;
	json_object *reply = NULL;
	char *url = NULL;
	int rc = -1;

	*result = NULL;
	if (!id_is_safe(handler_id)) {
		http_error_set(&e->http, E_HANDLER_NOT_FOUND, "Handler with id %s not found", handler_id);
		return -1;
	}
	url = estimate_url(h, handler_id, type, image_origin);
	if (!url) {
		http_error_set(&e->http, E_INTERNAL, "out of memory");
		goto out;
	}
	struct http_request rq = {.method = "POST", .url = url};
	if (policies_json) {
		form = http_mime_new(h->conn);
		if (!form || form_add(form, "policies", policies_json, strlen(policies_json), "application/json", NULL) ||
		    form_add(form, "image", image, len, content_type, filename)) {
			http_error_set(&e->http, E_INTERNAL, "out of memory");
			goto out;
		}
		rq.mime = form;
	} else {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s", content_type);
		hdr = curl_slist_append(NULL, ctype);
		hdr = curl_slist_append(hdr, "Expect:");
		rq.headers = hdr;
		rq.body = image;
		rq.body_len = len;
	}
	if (call_json(h, &rq, 201, &reply, e))
		goto out;
	*result = estimation_result(reply);
	rc = 0;
out:
	json_object_put(reply);
	curl_mime_free(form);
	curl_slist_free_all(hdr);
	free(url);
	return rc;
}

/* Decodes standard or URL-safe base64 (padding optional); malloc'd output. */
static unsigned char *b64_decode(const char *s, size_t *outlen)
{
	size_t n = strcspn(s, "=");
	unsigned char *out = malloc(BASE64_DECODED_MAX(n));
	if (out && base64_decode(s, n, out, outlen)) {
		free(out);
		return NULL;
	}
	return out;
}

/* Reads {"version", "vector_b64" | "vector"} into out. */
static int parse_descriptor(json_object *d, struct handlers_extraction *out)
{
	json_object *v = NULL;
	if (json_object_object_get_ex(d, "version", &v))
		out->version = json_object_get_int(v);
	if (json_object_object_get_ex(d, "vector_b64", &v) && json_object_is_type(v, json_type_string)) {
		size_t len = 0;
		unsigned char *raw = b64_decode(json_object_get_string(v), &len);
		if (!raw || len == 0 || len % 4 || len / 4 > MAX_DESCRIPTOR_DIM) {
			free(raw);
			return -1;
		}
		out->dim = len / 4;
		out->vector = malloc(len);
		if (!out->vector) {
			free(raw);
			return -1;
		}
		floats_from_le32(out->vector, raw, out->dim);
		free(raw);
		return 0;
	}
	if (json_object_object_get_ex(d, "vector", &v) && json_object_is_type(v, json_type_array)) {
		size_t n = json_object_array_length(v);
		if (n == 0 || n > MAX_DESCRIPTOR_DIM)
			return -1;
		out->vector = malloc(n * sizeof(float));
		if (!out->vector)
			return -1;
		out->dim = n;
		for (size_t i = 0; i < n; i++)
			out->vector[i] = (float)json_object_get_double(json_object_array_get_idx(v, i));
		return 0;
	}
	return -1;
}

static int int_member(json_object *o, const char *key)
{
	json_object *v = NULL;
	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return -1;
	return json_object_get_int(v);
}

int handlers_extract(struct handlers *h, const char *target, int descriptor_version,
		     const struct handlers_sample *samples, size_t n, struct handlers_extraction *out,
		     struct handlers_error *e)
{
	char url[768];
	curl_mime *form = NULL;
	json_object *reply = NULL, *d = NULL, *ba = NULL;
	int rc = -1;
	memset(out, 0, sizeof(*out));
	out->age = out->gender = out->ethnicity = -1;
	snprintf(url, sizeof(url), "%s/extractor?extraction_target=%s&descriptor_version=%d", h->base, target,
		 descriptor_version);
	form = http_mime_new(h->conn);
	if (!form)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		const char *type = image_content_type(samples[i].data, samples[i].len);
		if (form_add(form, "sample", samples[i].data, samples[i].len, type ? type : "application/octet-stream",
			     samples[i].sample_id))
			goto oom;
	}
	struct http_request rq = {.method = "POST", .url = url, .mime = form};
	if (call_json(h, &rq, 201, &reply, e))
		goto out;
	int wants_descriptor = strcmp(target, "basic_attributes") != 0;
	if (wants_descriptor &&
	    (!json_object_object_get_ex(reply, "descriptor", &d) || parse_descriptor(d, out))) {
		http_error_set(&e->http, E_UPSTREAM_CONTENT_TYPE, "Unexpected content type from %s: no usable descriptor",
			       url);
		goto out;
	}
	if (json_object_object_get_ex(reply, "basic_attributes", &ba)) {
		out->age = int_member(ba, "age");
		out->gender = int_member(ba, "gender");
		out->ethnicity = int_member(ba, "ethnicity");
	} else if (!wants_descriptor) {
		http_error_set(&e->http, E_UPSTREAM_CONTENT_TYPE, "Unexpected content type from %s: no basic_attributes",
			       url);
		goto out;
	}
	rc = 0;
	goto out;
oom:
	http_error_set(&e->http, E_INTERNAL, "out of memory");
out:
	if (rc) {
		free(out->vector);
		out->vector = NULL;
	}
	json_object_put(reply);
	curl_mime_free(form);
	return rc;
}

int handlers_check(struct handlers *h, char *err, size_t errlen)
{
	char url[768];
	struct handlers_error e = {0};
	snprintf(url, sizeof(url), "%s/healthcheck", h->base);
	struct http_request rq = {.method = "GET", .url = url, .timeout_s = 5};
	int rc = call_json(h, &rq, 200, NULL, &e);
	if (rc)
		snprintf(err, errlen, "%s", e.http.detail);
	handlers_error_clear(&e);
	return rc;
}

static int starts_with(const unsigned char *p, size_t len, const char *magic, size_t n)
{
	return len >= n && memcmp(p, magic, n) == 0;
}

const char *image_content_type(const void *data, size_t len)
{
	const unsigned char *p = data;
	if (starts_with(p, len, "\xff\xd8\xff", 3))
		return "image/jpeg";
	if (starts_with(p, len, "\x89PNG\r\n\x1a\n", 8))
		return "image/png";
	if (starts_with(p, len, "BM", 2) && len >= 26)
		return "image/bmp";
	if (starts_with(p, len, "II*\0", 4) || starts_with(p, len, "MM\0*", 4))
		return "image/tiff";
	if (len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
		return "image/webp";
	if (len >= 3 && p[0] == 'P' && (p[1] == '5' || p[1] == '6') && (p[2] == ' ' || p[2] == '\n' || p[2] == '\r' || p[2] == '\t'))
		return "image/x-portable-anymap";
	if (starts_with(p, len, "\0\0\0\x0cjP  \r\n\x87\n", 12) || starts_with(p, len, "\xff\x4f\xff\x51", 4))
		return "image/jp2";
	return NULL;
}
