/* One FastCGI request: what the front door parsed, and the ways to answer.
 * Everything hangs off the request's arena and dies with it. */
#ifndef LUNA_API_HTTP_H
#define LUNA_API_HTTP_H
#include <fcgiapp.h>
#include <json-c/json.h>
#include <stdint.h>
#include "common/arena.h"
#include "common/config.h"
#include "common/db.h"
#include "common/query.h"
#include "common/schema.h"

struct storage;
struct op_contract;
struct task_type;

/* A file of [API] DOCS_DIR served as it is, read at start-up (NULL: missing). */
struct static_file {
	char *data;
	size_t len;
};

/* Process-wide state of one api process. */
struct api {
	struct luna_config cfg;
	struct spec *spec;
	struct db *db;
	struct storage *store;
	char *spec_yaml;          /* the spec as served (docs/luna-tasks.yaml) */
	size_t spec_yaml_len;
	char *spec_html;          /* the spec as HTML, rendered at the first request */
	size_t spec_html_len;
	char *manual_html;        /* docs/manual.html */
	size_t manual_html_len;
	struct static_file console_html, console_js, console_css;  /* ui/ of DOCS_DIR: the console, /2/ui */
	int time_local;           /* render times with the local offset */
};

struct request {
	FCGX_Request *fcgi;
	struct api *api;
	struct arena *arena;
	const char *method;
	const char *path;          /* without the query string */
	struct query query;        /* raw query parameters */
	int query_malformed;       /* the query string could not be decoded */
	const struct op_contract *op;  /* the spec's operation, once the route matched */
	json_object *reply_doc;    /* the JSON body being answered, for the self-check */
	json_object *params;       /* validated query parameters with defaults: name → value */
	json_object *body;         /* validated JSON body (POST), defaults applied */
	long long path_id;         /* {task_id} or {error_id} */
	size_t route_slot;         /* metrics slot of the route that answered; 0: none (router_slots) */
	const struct task_type *task_type;  /* POST /2/tasks/{type}: the type of the path */
	char request_id[64];
	int status;                /* answered status, for the access log */
	int answered;
	int64_t start_us;
};

const char *req_header(struct request *req, const char *cgi_name);  /* e.g. "HTTP_ACCEPT" */
/* Query parameter after validation (NULL when absent and without default). */
json_object *req_param(struct request *req, const char *name);
const char *req_param_str(struct request *req, const char *name);
/* account_id query parameter or NULL. */
const char *req_account(struct request *req);

/* Which of the offered media types (NULL-terminated) the Accept header
 * names first; fallback without an Accept header or when it names none of
 * them but accepts any type (the wildcard); NULL otherwise. */
const char *req_negotiate(struct request *req, const char *const *offered, const char *fallback);

/* Answers. Each takes ownership of json objects it is given. */
void reply_json(struct request *req, int status, json_object *o);
void reply_body(struct request *req, int status, const char *ctype, const char *extra_headers, const void *data,
		size_t len);
void reply_empty(struct request *req, int status);
/* Error body from the code table: status from the table unless status > 0. */
void reply_error(struct request *req, int status, int code, const char *detail);
/* reply_errorf(req, CODE, args...): the error CODE (an E_ name with a
 * CODE_DETAIL template, common/errors.h) with its template filled in; the
 * compiler checks the arguments against the template. Status from the table. */
#define reply_errorf(req, code, ...) reply_error_format((req), (code), code##_DETAIL, __VA_ARGS__)
void reply_error_format(struct request *req, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A database failure: JSON 500 with 10017, logged once. */
void reply_db_error(struct request *req);
/* Start a streamed answer: headers now, then req_write() chunks. */
void reply_start(struct request *req, int status, const char *ctype, const char *extra_headers,
		 long long content_length);
int req_write(struct request *req, const void *data, size_t len);

/* Times rendered per [API] TIME_ZONE from DB text (NULL stays NULL). */
json_object *json_time_from_db(struct request *req, const char *db_text);
#endif
