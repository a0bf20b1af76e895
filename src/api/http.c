/* Request accessors and response writers over libfcgi. */
#include "api/http.h"
#include "api/contract.h"
#include "common/redact.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/timefmt.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 504: return "Gateway Timeout";
	default: return "Status";
	}
}

const char *req_header(struct request *req, const char *cgi_name)
{
	return FCGX_GetParam(cgi_name, req->fcgi->envp);
}

json_object *req_param(struct request *req, const char *name)
{
	json_object *v = NULL;
	if (req->params && json_object_object_get_ex(req->params, name, &v))
		return v;
	return NULL;
}

const char *req_param_str(struct request *req, const char *name)
{
	json_object *v = req_param(req, name);
	return v ? json_object_get_string(v) : NULL;
}

const char *req_account(struct request *req)
{
	return req_param_str(req, "account_id");
}

const char *req_negotiate(struct request *req, const char *const *offered, const char *fallback)
{
	const char *accept = req_header(req, "HTTP_ACCEPT");
	if (!accept || !*accept)
		return fallback;
	const char *best = NULL;
	size_t best_pos = (size_t)-1;
	for (size_t i = 0; offered[i]; i++) {
		const char *hit = strcasestr(accept, offered[i]);
		if (hit && (size_t)(hit - accept) < best_pos) {
			best = offered[i];
			best_pos = (size_t)(hit - accept);
		}
	}
	if (!best && fallback && strstr(accept, "*/*"))
		return fallback;
	return best;
}

void reply_start(struct request *req, int status, const char *ctype, const char *extra_headers,
		 long long content_length)
{
	if (req->answered)
		return;
	req->answered = 1;
	req->status = status;
	FCGX_FPrintF(req->fcgi->out, "Status: %d %s\r\nLuna-Request-Id: %s\r\n", status, status_text(status),
		     req->request_id);
	if (ctype)
		FCGX_FPrintF(req->fcgi->out, "Content-Type: %s\r\n", ctype);
	if (content_length >= 0)
		FCGX_FPrintF(req->fcgi->out, "Content-Length: %lld\r\n", content_length);
	if (extra_headers)
		FCGX_PutS(extra_headers, req->fcgi->out);
	FCGX_PutS("\r\n", req->fcgi->out);
	if (req->op && req->api->cfg.response_self_check)
		contract_check(req->api->spec, req->op, status, ctype, req->request_id, extra_headers, req->reply_doc);
}

int req_write(struct request *req, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		int chunk = len > (1 << 20) ? (1 << 20) : (int)len;
		if (FCGX_PutStr(p, chunk, req->fcgi->out) != chunk)
			return -1;
		p += chunk;
		len -= (size_t)chunk;
	}
	return 0;
}

void reply_body(struct request *req, int status, const char *ctype, const char *extra_headers, const void *data,
		size_t len)
{
	if (req->answered)
		return;
	reply_start(req, status, ctype, extra_headers, (long long)len);
	req_write(req, data, len);
}

void reply_json(struct request *req, int status, json_object *o)
{
	size_t len;
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
							  &len);
	req->reply_doc = o;
	reply_body(req, status, "application/json", NULL, s, len);
	req->reply_doc = NULL;
	json_object_put(o);
}

void reply_empty(struct request *req, int status)
{
	reply_start(req, status, NULL, NULL, -1);
}

void reply_error(struct request *req, int status, int code, const char *detail)
{
	const struct luna_error_def *d = luna_error_def(code);
	if (status <= 0)
		status = d->http_status;
	if (status >= 500)
		log_error("%s %s: %d %s", req->method, req->path, code, detail ? detail : d->detail_fmt);
	char *clean = url_redact_dup(detail);   /* a URL the client sent may carry a password */
	reply_json(req, status, luna_error_json(code, clean ? clean : detail ? d->desc : NULL));
	free(clean);
}

void reply_error_format(struct request *req, int code, const char *fmt, ...)
{
	char detail[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	reply_error(req, 0, code, detail);
}

void reply_db_error(struct request *req)
{
	log_error("database error %u: %s", db_errno(req->api->db), db_error(req->api->db));
	reply_json(req, 500, luna_error_json(E_DB, NULL));
}

json_object *json_time_from_db(struct request *req, const char *db_text)
{
	int64_t us;
	if (!db_text || time_parse_db(db_text, &us))
		return NULL;
	char buf[40];
	time_format_rfc3339(us, req->api->time_local, buf, sizeof(buf));
	return json_object_new_string(buf);
}
