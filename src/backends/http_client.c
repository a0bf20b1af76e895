/* HTTP client helpers on libcurl (see http_client.h).
 *
 * Every call resets the easy handle (which keeps its connection cache), sets
 * the options of the request, collects the body in memory (bounded) or
 * streams it to a file, and maps curl's failures to the upstream codes. */
#include "backends/http_client.h"
#include "common/errors.h"
#include "common/outbound.h"
#include "common/redact.h"
#include <arpa/inet.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define DEFAULT_MAX_BODY ((size_t)64 << 20)
#define DEFAULT_CONNECT_TIMEOUT 10L
#define MAX_REDIRECTS 5L

struct http_conn {
	CURL *curl;
};

struct body_buf {
	char *data;
	size_t len, cap, max;
	FILE *sink;
	long long sink_bytes;
	int too_large;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void http_global_init(void)
{
	pthread_once(&global_once, global_init_once);
}

struct http_conn *http_conn_new(void)
{
	http_global_init();
	struct http_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->curl = curl_easy_init();
	if (!c->curl) {
		free(c);
		return NULL;
	}
	return c;
}

void http_conn_free(struct http_conn *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	free(c);
}

curl_mime *http_mime_new(struct http_conn *c)
{
	return curl_mime_init(c->curl);
}

void http_response_free(struct http_response *resp)
{
	if (!resp)
		return;
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
}

void http_error_set(struct http_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	err->code = code;
	va_start(ap, fmt);
	url_redact_vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);
}

static int grow_buffer(struct body_buf *b, size_t need)
{
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < need)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (!p)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct body_buf *b = ud;
	size_t n = size * nmemb;
	if (b->sink) {
		if (b->max && (size_t)b->sink_bytes + n > b->max) {
			b->too_large = 1;
			return 0;
		}
		if (fwrite(ptr, 1, n, b->sink) != n)
			return 0;
		b->sink_bytes += (long long)n;
		return n;
	}
	if (b->len + n > b->max) {
		b->too_large = 1;
		return 0;
	}
	if (grow_buffer(b, b->len + n + 1))
		return 0;
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = 0;
	return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	atomic_int *cancel = ud;
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return cancel && atomic_load(cancel) ? 1 : 0;
}

static void set_protocols(CURL *h, const char *protocols)
{
	const char *p = protocols ? protocols : "http,https";
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, p);
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, p);
#else
	long mask = 0;
	if (strstr(p, "http"))
		mask |= CURLPROTO_HTTP;
	if (strstr(p, "https"))
		mask |= CURLPROTO_HTTPS;
	if (strstr(p, "ftp"))
		mask |= CURLPROTO_FTP;
	if (strstr(p, "ftps"))
		mask |= CURLPROTO_FTPS;
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, mask);
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, mask);
#endif
}

/* ---- The outbound policy of client-given URLs ---------------------------------- */

/* Whether scheme is one of the comma-separated protocols. */
static int scheme_listed(const char *protocols, const char *scheme)
{
	size_t n = strlen(scheme);
	for (const char *p = protocols; *p;) {
		const char *comma = strchr(p, ',');
		size_t m = comma ? (size_t)(comma - p) : strlen(p);
		if (m == n && strncasecmp(p, scheme, n) == 0)
			return 1;
		if (!comma)
			break;
		p = comma + 1;
	}
	return 0;
}

int http_url_allowed(const char *allow, const char *url, const char *protocols, char *why, size_t whylen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	int rc = -1;
	if (!u) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	if (curl_url_set(u, CURLUPART_URL, url ? url : "", 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		snprintf(why, whylen, "not a valid URL");
		goto out;
	}
	if (!scheme_listed(protocols ? protocols : "http,https", scheme)) {
		snprintf(why, whylen, "scheme '%s' is not allowed (%s)", scheme, protocols ? protocols : "http,https");
		goto out;
	}
	if (outbound_host_verdict(allow, host, atoi(port)) == OUTBOUND_DENIED) {
		snprintf(why, whylen, "host %.200s port %s is not allowed by the outbound policy ([OUTBOUND] ALLOW)", host,
			 port);
		goto out;
	}
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}

struct outbound_guard {
	CURL *h;
	const char *allow;
	int check_port;        /* 0 for FTP: data connections use ports the server picks */
	char refused[128];     /* the last address refused, for the error */
};

/* The host of the URL being fetched now (after redirects); curl_free() it. */
static char *current_host(CURL *h)
{
	const char *url = NULL;
	char *host = NULL;
	CURLU *u = curl_url();
	if (u && curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &url) == CURLE_OK && url &&
	    curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK)
		curl_url_get(u, CURLUPART_HOST, &host, 0);
	curl_url_cleanup(u);
	return host;
}

static void describe_address(const struct sockaddr *sa, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		port = ntohs(in->sin_port);
		snprintf(out, len, "%s:%d", ip, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		port = ntohs(in6->sin6_port);
		snprintf(out, len, "[%s]:%d", ip, port);
	} else {
		snprintf(out, len, "an address of family %d", sa->sa_family);
	}
}

/* Every socket curl opens (first request, redirects, FTP data) passes here:
 * the address it is about to connect to must be allowed. */
static curl_socket_t open_checked_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct outbound_guard *g = ud;
	(void)purpose;
	char *host = current_host(g->h);
	int ok = outbound_address_allowed(g->allow, host, &a->addr, g->check_port);
	curl_free(host);
	if (!ok) {
		describe_address(&a->addr, g->refused, sizeof(g->refused));
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype, a->protocol);
}

static void set_outbound_guard(CURL *h, struct outbound_guard *g)
{
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_checked_socket);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, g);
	curl_easy_setopt(h, CURLOPT_PROXY, "");   /* no proxy from the environment: connect directly */
}

static void set_method_and_body(CURL *h, const struct http_request *rq, const char *method)
{
	if (rq->mime) {
		curl_easy_setopt(h, CURLOPT_MIMEPOST, rq->mime);
	} else if (rq->body_file) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READDATA, rq->body_file);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->body_file_len);
	} else if (rq->body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
	}
	if (rq->head_only || strcmp(method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") == 0 && !rq->body && !rq->mime && !rq->body_file)
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	else if (strcmp(method, "POST") != 0 || rq->body_file)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
}

/* Maps a curl failure to an upstream code with a detail naming the URL. */
static void map_curl_error(CURL *h, CURLcode cc, const struct http_request *rq, const char *method,
			   const struct body_buf *b, const char *errbuf, const struct outbound_guard *g,
			   struct http_error *err)
{
	const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cc);
	if (g->refused[0] && cc == CURLE_COULDNT_CONNECT) {
		const char *at = NULL;
		curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &at);
		http_error_set(err, E_UPSTREAM_CONNECTION,
			       "Connection error on %s: %s is not allowed by the outbound policy ([OUTBOUND] ALLOW)%s%s",
			       rq->url, g->refused, at && strcmp(at, rq->url) ? "; redirected to " : "",
			       at && strcmp(at, rq->url) ? at : "");
		return;
	}
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT: {
		double connect_time = 0;
		curl_easy_getinfo(h, CURLINFO_CONNECT_TIME, &connect_time);
		if (connect_time <= 0)
			http_error_set(err, E_UPSTREAM_CONNECT_TIMEOUT, "Connect timeout on %s", rq->url);
		else
			http_error_set(err, E_REQUEST_TIMEOUT, "Request timeout on %s, method %s", rq->url, method);
		break;
	}
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
		http_error_set(err, E_UPSTREAM_DISCONNECTED, "Server disconnected on %s", rq->url);
		break;
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		if (b->too_large || cc == CURLE_FILESIZE_EXCEEDED) {
			http_error_set(err, E_UPSTREAM_CONNECTION, "Connection error on %s: response larger than %zu bytes",
				       rq->url, b->max);
			break;
		}
		http_error_set(err, E_UPSTREAM_CONNECTION, "Connection error on %s: cannot store the response", rq->url);
		break;
	case CURLE_ABORTED_BY_CALLBACK:
		http_error_set(err, E_TASK_CANCELLED, "transfer of %s stopped: the task was cancelled", rq->url);
		break;
	default:
		http_error_set(err, E_UPSTREAM_CONNECTION, "Connection error on %s: %s", rq->url, why);
		break;
	}
}

int http_perform(struct http_conn *c, const struct http_request *rq, struct http_response *resp,
		 struct http_error *err)
{
	CURL *h = c->curl;
	const char *method = rq->method ? rq->method : "GET";
	char errbuf[CURL_ERROR_SIZE] = "";
	struct body_buf b = {.sink = rq->sink, .max = rq->max_body};
	struct outbound_guard guard = {.h = h, .allow = rq->allow};
	int rc = -1;

	memset(resp, 0, sizeof(*resp));
	if (rq->allow) {
		char why[300];
		if (http_url_allowed(rq->allow, rq->url, rq->protocols, why, sizeof(why))) {
			http_error_set(err, E_UPSTREAM_CONNECTION, "Connection error on %s: %s", rq->url, why);
			return -1;
		}
		guard.check_port = strncasecmp(rq->url, "ftp", 3) != 0;
	}
	if (!b.sink && !b.max)
		b.max = DEFAULT_MAX_BODY;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, rq->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, rq->connect_timeout_s ? rq->connect_timeout_s : DEFAULT_CONNECT_TIMEOUT);
	if (rq->timeout_s)
		curl_easy_setopt(h, CURLOPT_TIMEOUT, rq->timeout_s);
	if (rq->max_body)
		curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)rq->max_body);
	if (rq->headers)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, rq->headers);
	if (rq->userpwd)
		curl_easy_setopt(h, CURLOPT_USERPWD, rq->userpwd);
	if (rq->cancel) {
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)rq->cancel);
	}
	set_protocols(h, rq->protocols);
	if (rq->allow)
		set_outbound_guard(h, &guard);
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(h, CURLOPT_MAXREDIRS, MAX_REDIRECTS);
	}
	set_method_and_body(h, rq, method);

	CURLcode cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		map_curl_error(h, cc, rq, method, &b, errbuf, &guard, err);
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	const char *ct = NULL;
	if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
		snprintf(resp->content_type, sizeof(resp->content_type), "%s", ct);
	resp->sink_bytes = b.sink_bytes;
	if (!b.sink) {
		if (!b.data && grow_buffer(&b, 1) == 0)
			b.data[0] = 0;
		if (!b.data) {
			http_error_set(err, E_INTERNAL, "out of memory reading %s", rq->url);
			goto out;
		}
		resp->body = b.data;
		resp->len = b.len;
		b.data = NULL;
	}
	rc = 0;
out:
	free(b.data);
	return rc;
}

int http_is_json(const struct http_response *resp)
{
	return strncasecmp(resp->content_type, "application/json", 16) == 0;
}

void http_error_from_status(struct http_error *err, const char *url, const struct http_response *resp)
{
	json_object *o = NULL, *detail = NULL;
	if (resp->body && http_is_json(resp))
		o = json_tokener_parse(resp->body);
	if (o && json_object_object_get_ex(o, "detail", &detail) && json_object_is_type(detail, json_type_string))
		http_error_set(err, E_UPSTREAM_BAD_STATUS, "Unexpected status %ld from %s: %s", resp->status, url,
			       json_object_get_string(detail));
	else
		http_error_set(err, E_UPSTREAM_BAD_STATUS, "Unexpected status %ld from %s", resp->status, url);
	json_object_put(o);
}

static int is_unreserved(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
	       ch == '_' || ch == '.' || ch == '~';
}

char *http_uri_encode(const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = malloc(n * 3 + 1);
	if (!out)
		return NULL;
	char *p = out;
	for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
		if (is_unreserved(*q) || (keep_slash && *q == '/')) {
			*p++ = (char)*q;
			continue;
		}
		*p++ = '%';
		*p++ = hex[*q >> 4];
		*p++ = hex[*q & 15];
	}
	*p = 0;
	return out;
}
