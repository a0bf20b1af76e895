/* HTTP client helpers on libcurl for the backends that talk to other
 * services (handlers service, S3, zip archives by URL, FTP servers).
 *
 * Workload: from one call per task (downloading an archive of a few GB to a
 * file) to thousands of small calls per subtask (an image posted to the
 * handlers service). A struct http_conn wraps one curl easy handle so that
 * consecutive calls of one thread reuse the connection; it is not shared
 * between threads. Failures are mapped to the upstream error codes of
 * errors.h (8 connect timeout, 9 request timeout, 10 disconnected,
 * 11 connection error, 12 unexpected status, 21 content type) with a
 * detail naming the URL (credentials redacted), which is what a task error
 * row shows.
 *
 * A URL a client wrote (http_request.allow set) is fetched under the
 * outbound policy: its scheme must be allowed, no proxy is used, at most 5
 * redirects are followed (GET only, to the same schemes), and every socket
 * is opened only after its address has passed the policy, so a redirect to
 * a host outside the list is refused before anything is sent there. */
#ifndef LUNA_HTTP_CLIENT_H
#define LUNA_HTTP_CLIENT_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <curl/curl.h>

/* Call once per process before threads start (safe to call again). */
void http_global_init(void);

/* One reusable connection (curl easy handle). NULL only on OOM. */
struct http_conn;
struct http_conn *http_conn_new(void);
void http_conn_free(struct http_conn *c);   /* NULL ok */
/* A multipart form for a request of this connection; curl_mime_free() it. */
curl_mime *http_mime_new(struct http_conn *c);

struct http_request {
	const char *method;            /* "GET" when NULL */
	const char *url;
	const struct curl_slist *headers;
	const void *body;              /* request body (POST/PUT), may be NULL */
	size_t body_len;
	FILE *body_file;               /* or stream the body from this file (seekable) */
	long long body_file_len;
	curl_mime *mime;               /* or a multipart form */
	FILE *sink;                    /* response body goes here instead of memory */
	size_t max_body;               /* refuse larger response bodies; 0 = 64 MiB */
	long timeout_s;                /* whole transfer; 0 = none */
	long connect_timeout_s;        /* 0 = 10 s */
	const char *userpwd;           /* "user:password" (FTP) */
	int head_only;                 /* HEAD: no body expected */
	const char *protocols;         /* allowed schemes, "http,https" when NULL */
	const char *allow;             /* a client-given URL: the outbound policy ([OUTBOUND] ALLOW)
					* every connection (redirects too) must pass; NULL for
					* destinations the operator configured */
	atomic_int *cancel;            /* nonzero aborts the transfer (task cancelled) */
};

struct http_response {
	long status;
	char *body;                    /* malloc'd, NUL-terminated (also when binary); caller frees */
	size_t len;
	char content_type[128];
	long long sink_bytes;          /* bytes written to the sink */
};

/* The error of a failed call: an errors.h code and its detail. */
struct http_error {
	int code;
	char detail[512];
};

/* Performs the request. 0 when a response arrived (any status: check
 * resp->status); -1 on a transport failure with err filled. resp->body is
 * set (possibly empty) whenever 0 is returned and no sink was given. */
int http_perform(struct http_conn *c, const struct http_request *rq, struct http_response *resp,
		 struct http_error *err);
void http_response_free(struct http_response *resp);   /* frees body; NULL ok */

/* Fills err with 12 (unexpected status) for resp, quoting the service's own
 * error detail when it answered with a LUNA error body. */
void http_error_from_status(struct http_error *err, const char *url, const struct http_response *resp);
/* Sets err to code with a formatted detail. */
void http_error_set(struct http_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* True when the content type is application/json (parameters ignored). */
int http_is_json(const struct http_response *resp);

/* Whether a client-given URL may be fetched under the outbound policy
 * allow (see common/outbound.h): its scheme is one of protocols and its
 * host and port are allowed by name or address, or it is a name that may
 * resolve into an allowed network (decided when connecting). 0 allowed;
 * -1 with why (a short reason, no URL) otherwise. */
int http_url_allowed(const char *allow, const char *url, const char *protocols, char *why, size_t whylen);

/* Percent-encodes s (RFC 3986 unreserved kept; '/' kept when keep_slash).
 * Returns a malloc'd string; caller frees. */
char *http_uri_encode(const char *s, int keep_slash);
#endif
