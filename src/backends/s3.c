/* S3 client (see s3.h): request building, SigV4/SigV2 signing, ListObjectsV2
 * parsing, and a small pool of curl connections guarded by a mutex.
 *
 * SHA-256, SHA-1, HMAC and base64 come from libcrypto; the unit tests check
 * the signatures against the published AWS signing examples. */
#include "backends/s3.h"
#include "common/errors.h"
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_MAX 8
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define LIST_PAGE_MAX ((size_t)16 << 20)

/* ---- Digests ------------------------------------------------------------------ */

/* libcrypto's digests and MACs fail only when memory runs out; like sb_add
 * below, that aborts the process. */
static void hmac_or_abort(const EVP_MD *md, const void *key, size_t klen, const void *msg, size_t mlen,
			  unsigned char *out)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (!HMAC(md, key, (int)klen, msg, mlen, mac, &n))
		abort();
	memcpy(out, mac, n);   /* out may be the key */
}

static void to_hex(const unsigned char *p, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = 0;
}

void s3_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char d[32];
	if (!EVP_Digest(data, len, d, NULL, EVP_sha256(), NULL))
		abort();
	to_hex(d, 32, out);
}

/* ---- Signing ------------------------------------------------------------------ */

static int header_cmp(const void *a, const void *b)
{
	return strcmp(((const struct s3_header *)a)->name, ((const struct s3_header *)b)->name);
}

/* Appends to a growing string; aborts the process on OOM like the arena does. */
struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (!np)
			abort();
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

void s3_sign_v4(const char *method, const char *canonical_uri, const char *query, const struct s3_header *headers,
		size_t nheaders, const char *payload_sha256_hex, const char *amz_date, const char *region,
		const char *service, const char *access_key, const char *secret_key, char *out, size_t outlen)
{
	struct s3_header sorted[16];
	struct sbuf creq = {0}, signed_names = {0}, key = {0};
	char date[9], creq_hash[65], scope[160], sig_hex[65];
	unsigned char k[32];
	if (nheaders > 16)
		nheaders = 16;
	memcpy(sorted, headers, nheaders * sizeof(*headers));
	qsort(sorted, nheaders, sizeof(*sorted), header_cmp);
	snprintf(date, sizeof(date), "%.8s", amz_date);

	sb_str(&creq, method);
	sb_str(&creq, "\n");
	sb_str(&creq, canonical_uri);
	sb_str(&creq, "\n");
	sb_str(&creq, query ? query : "");
	sb_str(&creq, "\n");
	for (size_t i = 0; i < nheaders; i++) {
		sb_str(&creq, sorted[i].name);
		sb_str(&creq, ":");
		sb_str(&creq, sorted[i].value);
		sb_str(&creq, "\n");
		if (i)
			sb_str(&signed_names, ";");
		sb_str(&signed_names, sorted[i].name);
	}
	sb_str(&creq, "\n");
	sb_str(&creq, signed_names.p ? signed_names.p : "");
	sb_str(&creq, "\n");
	sb_str(&creq, payload_sha256_hex);
	s3_sha256_hex(creq.p, creq.len, creq_hash);

	snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date, region, service);
	struct sbuf sts = {0};
	sb_str(&sts, "AWS4-HMAC-SHA256\n");
	sb_str(&sts, amz_date);
	sb_str(&sts, "\n");
	sb_str(&sts, scope);
	sb_str(&sts, "\n");
	sb_str(&sts, creq_hash);

	sb_str(&key, "AWS4");
	sb_str(&key, secret_key);
	hmac_or_abort(EVP_sha256(), key.p, key.len, date, strlen(date), k);
	hmac_or_abort(EVP_sha256(), k, 32, region, strlen(region), k);
	hmac_or_abort(EVP_sha256(), k, 32, service, strlen(service), k);
	hmac_or_abort(EVP_sha256(), k, 32, "aws4_request", 12, k);
	hmac_or_abort(EVP_sha256(), k, 32, sts.p, sts.len, k);
	to_hex(k, 32, sig_hex);
	snprintf(out, outlen, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s", access_key, scope,
		 signed_names.p ? signed_names.p : "", sig_hex);
	memset(key.p, 0, key.len);
	free(key.p);
	free(creq.p);
	free(signed_names.p);
	free(sts.p);
}

void s3_sign_v2(const char *string_to_sign, const char *access_key, const char *secret_key, char *out, size_t outlen)
{
	unsigned char mac[20];
	char b64[32];
	hmac_or_abort(EVP_sha1(), secret_key, strlen(secret_key), string_to_sign, strlen(string_to_sign), mac);
	EVP_EncodeBlock((unsigned char *)b64, mac, sizeof(mac));
	snprintf(out, outlen, "AWS %s:%s", access_key, b64);
}

/* ---- ARNs ---------------------------------------------------------------------- */

/* Splits an ARN into its colon-separated fields (the resource keeps its colons). */
static int arn_fields(const char *arn, char f[6][256])
{
	const char *p = arn;
	for (int i = 0; i < 5; i++) {
		const char *c = strchr(p, ':');
		if (!c || (size_t)(c - p) >= 256)
			return -1;
		memcpy(f[i], p, (size_t)(c - p));
		f[i][c - p] = 0;
		p = c + 1;
	}
	if (strlen(p) >= 256)
		return -1;
	strcpy(f[5], p);
	return 0;
}

int s3_arn_endpoint(const char *arn, char *endpoint, size_t elen, char *region, size_t rlen, char *service,
		    size_t slen)
{
	char f[6][256], name[256], outpost[256];
	if (arn_fields(arn, f) || strcmp(f[0], "arn") != 0 || !f[3][0] || !f[4][0])
		return -1;
	const char *res = f[5];
	for (char *q = f[5]; *q; q++)
		if (*q == ':')
			*q = '/';   /* "accesspoint:name" and "accesspoint/name" are both allowed */
	if (strcmp(f[2], "s3") == 0 && strncmp(res, "accesspoint/", 12) == 0) {
		snprintf(name, sizeof(name), "%s", res + 12);
		if (!name[0] || strchr(name, '/'))
			return -1;
		snprintf(endpoint, elen, "https://%s-%s.s3-accesspoint.%s.amazonaws.com", name, f[4], f[3]);
		snprintf(service, slen, "s3");
	} else if (strcmp(f[2], "s3-outposts") == 0 && strncmp(res, "outpost/", 8) == 0) {
		const char *rest = res + 8, *slash = strchr(rest, '/');
		if (!slash || strncmp(slash + 1, "accesspoint/", 12) != 0 || (size_t)(slash - rest) >= sizeof(outpost))
			return -1;
		memcpy(outpost, rest, (size_t)(slash - rest));
		outpost[slash - rest] = 0;
		snprintf(name, sizeof(name), "%s", slash + 13);
		if (!name[0] || strchr(name, '/'))
			return -1;
		snprintf(endpoint, elen, "https://%s-%s.%s.s3-outposts.%s.amazonaws.com", name, f[4], outpost, f[3]);
		snprintf(service, slen, "s3-outposts");
	} else {
		return -1;
	}
	snprintf(region, rlen, "%s", f[3]);
	return 0;
}

/* ---- The client --------------------------------------------------------------- */

struct s3 {
	char endpoint[512];       /* scheme://host[:port][/base] without a trailing '/' */
	char host[300];           /* the Host header */
	char base_path[256];      /* path of the endpoint (may be empty) */
	char bucket[256];         /* empty for ARN (virtual-host) requests */
	char region[64], service[32];
	char *access_key, *secret_key;
	char *allow;              /* NULL: an operator-configured endpoint */
	int sigv2;
	long timeout_s, connect_timeout_s;
	pthread_mutex_t lock;
	struct http_conn *pool[POOL_MAX];
	int npool;
};

static int split_endpoint(struct s3 *s, const char *endpoint)
{
	const char *p = strstr(endpoint, "://");
	if (!p || (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0))
		return -1;
	p += 3;
	const char *slash = strchr(p, '/');
	size_t hl = slash ? (size_t)(slash - p) : strlen(p);
	if (hl == 0 || hl >= sizeof(s->host) || memchr(p, '@', hl))
		return -1;
	memcpy(s->host, p, hl);
	s->host[hl] = 0;
	snprintf(s->base_path, sizeof(s->base_path), "%s", slash ? slash : "");
	size_t n = strlen(s->base_path);
	while (n && s->base_path[n - 1] == '/')
		s->base_path[--n] = 0;
	snprintf(s->endpoint, sizeof(s->endpoint), "%.*s%s", (int)(p - endpoint) + (int)hl, endpoint, s->base_path);
	return 0;
}

struct s3 *s3_open(const struct s3_config *c, char *err, size_t errlen)
{
	struct s3 *s = calloc(1, sizeof(*s));
	char arn_endpoint[512];
	if (!s)
		goto oom;
	pthread_mutex_init(&s->lock, NULL);
	s->sigv2 = c->sigv2;
	s->timeout_s = c->timeout_s > 0 ? c->timeout_s : 300;
	s->connect_timeout_s = c->connect_timeout_s > 0 ? c->connect_timeout_s : 10;
	snprintf(s->region, sizeof(s->region), "%s", c->region && c->region[0] ? c->region : "us-east-1");
	snprintf(s->service, sizeof(s->service), "s3");
	if (!c->bucket || !c->bucket[0]) {
		snprintf(err, errlen, "S3: no bucket");
		goto fail;
	}
	if (strncmp(c->bucket, "arn:", 4) == 0) {
		if (s3_arn_endpoint(c->bucket, arn_endpoint, sizeof(arn_endpoint), s->region, sizeof(s->region), s->service,
				    sizeof(s->service)) ||
		    split_endpoint(s, arn_endpoint)) {
			snprintf(err, errlen, "S3: '%s' is not an access point or outpost ARN", c->bucket);
			goto fail;
		}
	} else {
		if (!c->endpoint || split_endpoint(s, c->endpoint)) {
			snprintf(err, errlen, "S3: endpoint must be an http:// or https:// URL");
			goto fail;
		}
		if (strlen(c->bucket) >= sizeof(s->bucket) || strpbrk(c->bucket, "/?#")) {
			snprintf(err, errlen, "S3: bad bucket name '%s'", c->bucket);
			goto fail;
		}
		snprintf(s->bucket, sizeof(s->bucket), "%s", c->bucket);
	}
	s->access_key = strdup(c->access_key ? c->access_key : "");
	s->secret_key = strdup(c->secret_key ? c->secret_key : "");
	if (!s->access_key || !s->secret_key)
		goto oom;
	if (c->allow && !(s->allow = strdup(c->allow)))
		goto oom;
	return s;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	s3_close(s);
	return NULL;
}

void s3_close(struct s3 *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->npool; i++)
		http_conn_free(s->pool[i]);
	if (s->secret_key) {
		memset(s->secret_key, 0, strlen(s->secret_key));
		free(s->secret_key);
	}
	free(s->access_key);
	free(s->allow);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static struct http_conn *take_conn(struct s3 *s)
{
	struct http_conn *c = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->npool)
		c = s->pool[--s->npool];
	pthread_mutex_unlock(&s->lock);
	return c ? c : http_conn_new();
}

static void give_conn(struct s3 *s, struct http_conn *c)
{
	pthread_mutex_lock(&s->lock);
	if (c && s->npool < POOL_MAX) {
		s->pool[s->npool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	http_conn_free(c);
}

/* The encoded request path: base, bucket (path style), key. */
static char *object_path(struct s3 *s, const char *key)
{
	char *enc = http_uri_encode(key ? key : "", 1);
	struct sbuf b = {0};
	if (!enc)
		return NULL;
	sb_str(&b, s->base_path);
	sb_str(&b, "/");
	if (s->bucket[0]) {
		sb_str(&b, s->bucket);
		if (key)
			sb_str(&b, "/");
	}
	sb_str(&b, enc);
	free(enc);
	return b.p;
}

char *s3_object_url(struct s3 *s, const char *key)
{
	char *path = object_path(s, key);
	struct sbuf b = {0};
	if (!path)
		return NULL;
	const char *scheme_end = strstr(s->endpoint, "://");
	sb_add(&b, s->endpoint, (size_t)(scheme_end - s->endpoint) + 3);
	sb_str(&b, s->host);
	sb_str(&b, path);
	free(path);
	return b.p;
}

/* A signed request ready to perform: URL and headers (caller frees both). */
struct signed_req {
	char *url;
	struct curl_slist *headers;
};

static void free_signed(struct signed_req *r)
{
	free(r->url);
	curl_slist_free_all(r->headers);
}

static void add_header(struct signed_req *r, const char *name, const char *value)
{
	struct sbuf b = {0};
	sb_str(&b, name);
	sb_str(&b, ": ");
	sb_str(&b, value);
	r->headers = curl_slist_append(r->headers, b.p);
	free(b.p);
}

static void sign_request(struct s3 *s, const char *method, const char *path, const char *query,
			 const char *payload_hash, const char *content_type, struct signed_req *r)
{
	char amz_date[32], auth[768];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	struct sbuf url = {0};
	const char *scheme_end = strstr(s->endpoint, "://");
	sb_add(&url, s->endpoint, (size_t)(scheme_end - s->endpoint) + 3);
	sb_str(&url, s->host);
	sb_str(&url, path);
	if (query && query[0]) {
		sb_str(&url, "?");
		sb_str(&url, query);
	}
	r->url = url.p;
	r->headers = NULL;
	add_header(r, "Host", s->host);
	if (content_type)
		add_header(r, "Content-Type", content_type);
	r->headers = curl_slist_append(r->headers, "Expect:");
	if (s->sigv2) {
		char date[64];
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		struct sbuf sts = {0};
		sb_str(&sts, method);
		sb_str(&sts, "\n\n");
		sb_str(&sts, content_type ? content_type : "");
		sb_str(&sts, "\n");
		sb_str(&sts, date);
		sb_str(&sts, "\n");
		sb_str(&sts, path + strlen(s->base_path));
		s3_sign_v2(sts.p, s->access_key, s->secret_key, auth, sizeof(auth));
		free(sts.p);
		add_header(r, "Date", date);
		add_header(r, "Authorization", auth);
		return;
	}
	strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
	struct s3_header h[] = {
		{"host", s->host},
		{"x-amz-content-sha256", payload_hash},
		{"x-amz-date", amz_date},
	};
	s3_sign_v4(method, path, query, h, 3, payload_hash, amz_date, s->region, s->service, s->access_key,
		   s->secret_key, auth, sizeof(auth));
	add_header(r, "x-amz-content-sha256", payload_hash);
	add_header(r, "x-amz-date", amz_date);
	add_header(r, "Authorization", auth);
}

/* The S3 error code of an XML error body, for the detail. */
static void s3_status_error(struct http_error *e, const char *what, const struct http_response *resp)
{
	char code[96] = "";
	const char *p = resp->body ? strstr(resp->body, "<Code>") : NULL;
	if (p) {
		p += 6;
		const char *q = strstr(p, "</Code>");
		if (q && (size_t)(q - p) < sizeof(code))
			snprintf(code, sizeof(code), "%.*s", (int)(q - p), p);
	}
	http_error_set(e, E_UPSTREAM_BAD_STATUS, "Unexpected status %ld from S3 %s%s%s", resp->status, what,
		       code[0] ? ": " : "", code);
}

/* Performs one signed request. want: the success status (0: any 2xx). */
static int perform(struct s3 *s, const char *method, const char *key, const char *query, struct http_request *rq,
		   const char *payload_hash, const char *content_type, struct http_response *resp, int *not_found,
		   struct http_error *e)
{
	struct signed_req sr = {0};
	struct http_conn *c = NULL;
	int rc = -1;
	char *path = object_path(s, key);
	if (not_found)
		*not_found = 0;
	if (!path || !(c = take_conn(s))) {
		http_error_set(e, E_INTERNAL, "out of memory");
		goto out;
	}
	sign_request(s, method, path, query, payload_hash, content_type, &sr);
	rq->method = method;
	rq->url = sr.url;
	rq->headers = sr.headers;
	rq->timeout_s = s->timeout_s;
	rq->allow = s->allow;
	rq->connect_timeout_s = s->connect_timeout_s;
	if (http_perform(c, rq, resp, e))
		goto out;
	if (resp->status < 200 || resp->status > 299) {
		if (not_found)
			*not_found = resp->status == 404;
		s3_status_error(e, key ? key : s->bucket, resp);
		http_response_free(resp);
		goto out;
	}
	rc = 0;
out:
	give_conn(s, c);
	free_signed(&sr);
	free(path);
	return rc;
}

int s3_get(struct s3 *s, const char *key, size_t max, void **data, size_t *len, int *not_found, struct http_error *e)
{
	struct http_request rq = {.max_body = max};
	struct http_response resp;
	if (perform(s, "GET", key, NULL, &rq, EMPTY_SHA256, NULL, &resp, not_found, e))
		return -1;
	*data = resp.body;
	*len = resp.len;
	return 0;
}

int s3_get_to_file(struct s3 *s, const char *key, FILE *f, long long *len, int *not_found, struct http_error *e)
{
	struct http_request rq = {.sink = f};
	struct http_response resp;
	if (perform(s, "GET", key, NULL, &rq, EMPTY_SHA256, NULL, &resp, not_found, e))
		return -1;
	if (len)
		*len = resp.sink_bytes;
	http_response_free(&resp);
	return 0;
}

int s3_put(struct s3 *s, const char *key, const void *data, size_t len, struct http_error *e)
{
	char hash[65];
	struct http_request rq = {.body = data ? data : "", .body_len = len};
	struct http_response resp;
	s3_sha256_hex(data ? data : "", len, hash);
	if (perform(s, "PUT", key, NULL, &rq, hash, "application/octet-stream", &resp, NULL, e))
		return -1;
	http_response_free(&resp);
	return 0;
}

/* Hex SHA-256 and length of a whole file read from its start; -1 on a read error. */
static int sha256_file_hex(FILE *f, char hash[65], long long *total)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[1 << 16], d[32];
	size_t n;
	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
		abort();
	*total = 0;
	rewind(f);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (!EVP_DigestUpdate(md, buf, n))
			abort();
		*total += (long long)n;
	}
	int rc = ferror(f) ? -1 : 0;
	if (!EVP_DigestFinal_ex(md, d, NULL))
		abort();
	EVP_MD_CTX_free(md);
	to_hex(d, 32, hash);
	return rc;
}

int s3_put_file(struct s3 *s, const char *key, FILE *f, struct http_error *e)
{
	char hash[65];
	long long total;
	if (sha256_file_hex(f, hash, &total)) {
		http_error_set(e, E_STORAGE, "cannot read the file to upload");
		return -1;
	}
	rewind(f);
	struct http_request rq = {.body_file = f, .body_file_len = total};
	struct http_response resp;
	if (perform(s, "PUT", key, NULL, &rq, hash, "application/octet-stream", &resp, NULL, e))
		return -1;
	http_response_free(&resp);
	return 0;
}

int s3_delete(struct s3 *s, const char *key, struct http_error *e)
{
	struct http_request rq = {0};
	struct http_response resp;
	int not_found = 0;
	if (perform(s, "DELETE", key, NULL, &rq, EMPTY_SHA256, NULL, &resp, &not_found, e))
		return not_found ? 0 : -1;
	http_response_free(&resp);
	return 0;
}

int s3_head_bucket(struct s3 *s, struct http_error *e)
{
	struct http_request rq = {.head_only = 1};
	struct http_response resp;
	if (perform(s, "HEAD", NULL, NULL, &rq, EMPTY_SHA256, NULL, &resp, NULL, e))
		return -1;
	http_response_free(&resp);
	return 0;
}

/* ---- ListObjectsV2 ----------------------------------------------------------------- */

/* Decodes the five XML entities and numeric references in place. */
static void xml_unescape(char *s)
{
	char *o = s;
	while (*s) {
		if (*s != '&') {
			*o++ = *s++;
			continue;
		}
		static const struct { const char *ent; char ch; } ents[] = {
			{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
		int done = 0;
		for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]) && !done; i++) {
			size_t n = strlen(ents[i].ent);
			if (strncmp(s, ents[i].ent, n) == 0) {
				*o++ = ents[i].ch;
				s += n;
				done = 1;
			}
		}
		if (!done && s[1] == '#') {
			char *end = NULL;
			unsigned long cp = s[2] == 'x' ? strtoul(s + 3, &end, 16) : strtoul(s + 2, &end, 10);
			if (end && *end == ';' && cp > 0 && cp < 0x110000) {
				if (cp < 0x80) {
					*o++ = (char)cp;
				} else if (cp < 0x800) {
					*o++ = (char)(0xc0 | (cp >> 6));
					*o++ = (char)(0x80 | (cp & 0x3f));
				} else if (cp < 0x10000) {
					*o++ = (char)(0xe0 | (cp >> 12));
					*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
					*o++ = (char)(0x80 | (cp & 0x3f));
				} else {
					*o++ = (char)(0xf0 | (cp >> 18));
					*o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
					*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
					*o++ = (char)(0x80 | (cp & 0x3f));
				}
				s = end + 1;
				done = 1;
			}
		}
		if (!done)
			*o++ = *s++;
	}
	*o = 0;
}

/* The text of <tag>…</tag> inside [p, end); malloc'd, unescaped; NULL when absent. */
static char *xml_text(const char *p, const char *end, const char *tag)
{
	char open[64], close[64];
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	const char *a = strstr(p, open);
	if (!a || a >= end)
		return NULL;
	a += strlen(open);
	const char *b = strstr(a, close);
	if (!b || b > end)
		return NULL;
	char *out = strndup(a, (size_t)(b - a));
	if (out)
		xml_unescape(out);
	return out;
}

/* Calls cb for every <Contents> of a page; *token gets the continuation token or NULL. */
static int parse_list_page(const char *xml, s3_key_cb cb, void *ud, char **token, int *stop)
{
	const char *p = xml;
	*token = NULL;
	while ((p = strstr(p, "<Contents>")) != NULL) {
		const char *end = strstr(p, "</Contents>");
		if (!end)
			return -1;
		char *key = xml_text(p, end, "Key"), *size = xml_text(p, end, "Size");
		int r = key ? cb(ud, key, size ? atoll(size) : -1) : 0;
		free(key);
		free(size);
		if (r) {
			*stop = 1;
			return 0;
		}
		p = end + 11;
	}
	char *trunc = xml_text(xml, xml + strlen(xml), "IsTruncated");
	if (trunc && strcmp(trunc, "true") == 0)
		*token = xml_text(xml, xml + strlen(xml), "NextContinuationToken");
	free(trunc);
	return 0;
}

static void add_query_param(struct sbuf *q, const char *name, const char *value)
{
	char *enc = http_uri_encode(value, 0);
	if (q->len)
		sb_str(q, "&");
	sb_str(q, name);
	sb_str(q, "=");
	sb_str(q, enc ? enc : "");
	free(enc);
}

int s3_list(struct s3 *s, const char *prefix, const char *delimiter, s3_key_cb cb, void *ud, atomic_int *cancel,
	    struct http_error *e)
{
	char *token = NULL;
	int rc = -1, stop = 0;
	do {
		struct sbuf q = {0};
		struct http_response resp;
		struct http_request rq = {.max_body = LIST_PAGE_MAX, .cancel = cancel};
		/* Parameters in canonical (sorted) order. */
		if (token)
			add_query_param(&q, "continuation-token", token);
		if (delimiter && delimiter[0])
			add_query_param(&q, "delimiter", delimiter);
		add_query_param(&q, "list-type", "2");
		if (prefix && prefix[0])
			add_query_param(&q, "prefix", prefix);
		free(token);
		token = NULL;
		int prc = perform(s, "GET", NULL, q.p, &rq, EMPTY_SHA256, NULL, &resp, NULL, e);
		free(q.p);
		if (prc)
			goto out;
		int bad = parse_list_page(resp.body, cb, ud, &token, &stop);
		http_response_free(&resp);
		if (bad) {
			http_error_set(e, E_UPSTREAM_CONTENT_TYPE, "Unexpected content type from S3: bad listing");
			goto out;
		}
	} while (token && !stop);
	rc = 0;
out:
	free(token);
	return rc;
}
