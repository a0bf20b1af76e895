/* S3 client (see s3.h): request building, SigV4/SigV2 signing, ListObjectsV2
 * parsing, and a small pool of curl connections guarded by a mutex.
 *
 * SHA-256, SHA-1 and HMAC are implemented here (FIPS 180-4, RFC 2104) so the
 * client needs nothing beyond libcurl; the unit tests check them against
 * the published AWS signing examples. */
#include "backends/s3.h"
#include "common/errors.h"
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_MAX 8
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define LIST_PAGE_MAX ((size_t)16 << 20)

/* ---- SHA-256 / SHA-1 / HMAC ------------------------------------------------ */

struct sha256 {
	uint32_t h[8];
	uint64_t len;
	unsigned char buf[64];
	size_t n;
};

static const uint32_t K256[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
	0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
	0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
	0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

static uint32_t ror(uint32_t x, int n)
{
	return (x >> n) | (x << (32 - n));
}

static uint32_t rol(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

static uint32_t load_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void store_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void sha256_block(struct sha256 *c, const unsigned char *p)
{
	uint32_t w[64], a, b, cc, d, e, f, g, h;
	for (int i = 0; i < 16; i++)
		w[i] = load_be32(p + 4 * i);
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3], e = c->h[4], f = c->h[5], g = c->h[6], h = c->h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
		uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
		h = g, g = f, f = e, e = d + t1, d = cc, cc = b, b = a, a = t1 + t2;
	}
	c->h[0] += a, c->h[1] += b, c->h[2] += cc, c->h[3] += d;
	c->h[4] += e, c->h[5] += f, c->h[6] += g, c->h[7] += h;
}

static void sha256_init(struct sha256 *c)
{
	static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
				       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	memcpy(c->h, iv, sizeof(iv));
	c->len = 0;
	c->n = 0;
}

static void sha256_update(struct sha256 *c, const void *data, size_t len)
{
	const unsigned char *p = data;
	c->len += len;
	while (len) {
		size_t take = 64 - c->n < len ? 64 - c->n : len;
		memcpy(c->buf + c->n, p, take);
		c->n += take, p += take, len -= take;
		if (c->n == 64) {
			sha256_block(c, c->buf);
			c->n = 0;
		}
	}
}

static void sha256_final(struct sha256 *c, unsigned char out[32])
{
	uint64_t bits = c->len * 8;
	unsigned char pad = 0x80, zero = 0, lenbuf[8];
	sha256_update(c, &pad, 1);
	while (c->n != 56)
		sha256_update(c, &zero, 1);
	for (int i = 0; i < 8; i++)
		lenbuf[i] = (unsigned char)(bits >> (56 - 8 * i));
	sha256_update(c, lenbuf, 8);
	for (int i = 0; i < 8; i++)
		store_be32(out + 4 * i, c->h[i]);
}

struct sha1 {
	uint32_t h[5];
	uint64_t len;
	unsigned char buf[64];
	size_t n;
};

static void sha1_block(struct sha1 *c, const unsigned char *p)
{
	uint32_t w[80], a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3], e = c->h[4];
	for (int i = 0; i < 16; i++)
		w[i] = load_be32(p + 4 * i);
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (int i = 0; i < 80; i++) {
		uint32_t f, k;
		if (i < 20)
			f = (b & cc) | (~b & d), k = 0x5a827999;
		else if (i < 40)
			f = b ^ cc ^ d, k = 0x6ed9eba1;
		else if (i < 60)
			f = (b & cc) | (b & d) | (cc & d), k = 0x8f1bbcdc;
		else
			f = b ^ cc ^ d, k = 0xca62c1d6;
		uint32_t t = rol(a, 5) + f + e + k + w[i];
		e = d, d = cc, cc = rol(b, 30), b = a, a = t;
	}
	c->h[0] += a, c->h[1] += b, c->h[2] += cc, c->h[3] += d, c->h[4] += e;
}

static void sha1_init(struct sha1 *c)
{
	c->h[0] = 0x67452301, c->h[1] = 0xefcdab89, c->h[2] = 0x98badcfe, c->h[3] = 0x10325476, c->h[4] = 0xc3d2e1f0;
	c->len = 0;
	c->n = 0;
}

static void sha1_update(struct sha1 *c, const void *data, size_t len)
{
	const unsigned char *p = data;
	c->len += len;
	while (len) {
		size_t take = 64 - c->n < len ? 64 - c->n : len;
		memcpy(c->buf + c->n, p, take);
		c->n += take, p += take, len -= take;
		if (c->n == 64) {
			sha1_block(c, c->buf);
			c->n = 0;
		}
	}
}

static void sha1_final(struct sha1 *c, unsigned char out[20])
{
	uint64_t bits = c->len * 8;
	unsigned char pad = 0x80, zero = 0, lenbuf[8];
	sha1_update(c, &pad, 1);
	while (c->n != 56)
		sha1_update(c, &zero, 1);
	for (int i = 0; i < 8; i++)
		lenbuf[i] = (unsigned char)(bits >> (56 - 8 * i));
	sha1_update(c, lenbuf, 8);
	for (int i = 0; i < 5; i++)
		store_be32(out + 4 * i, c->h[i]);
}

static void hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, unsigned char out[32])
{
	unsigned char k[64] = {0}, ipad[64], opad[64], inner[32];
	struct sha256 c;
	if (klen > 64) {
		sha256_init(&c);
		sha256_update(&c, key, klen);
		sha256_final(&c, k);
	} else {
		memcpy(k, key, klen);
	}
	for (int i = 0; i < 64; i++)
		ipad[i] = k[i] ^ 0x36, opad[i] = k[i] ^ 0x5c;
	sha256_init(&c);
	sha256_update(&c, ipad, 64);
	sha256_update(&c, msg, mlen);
	sha256_final(&c, inner);
	sha256_init(&c);
	sha256_update(&c, opad, 64);
	sha256_update(&c, inner, 32);
	sha256_final(&c, out);
}

static void hmac_sha1(const void *key, size_t klen, const void *msg, size_t mlen, unsigned char out[20])
{
	unsigned char k[64] = {0}, ipad[64], opad[64], inner[20];
	struct sha1 c;
	if (klen > 64) {
		sha1_init(&c);
		sha1_update(&c, key, klen);
		sha1_final(&c, k);
	} else {
		memcpy(k, key, klen);
	}
	for (int i = 0; i < 64; i++)
		ipad[i] = k[i] ^ 0x36, opad[i] = k[i] ^ 0x5c;
	sha1_init(&c);
	sha1_update(&c, ipad, 64);
	sha1_update(&c, msg, mlen);
	sha1_final(&c, inner);
	sha1_init(&c);
	sha1_update(&c, opad, 64);
	sha1_update(&c, inner, 20);
	sha1_final(&c, out);
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
	struct sha256 c;
	unsigned char d[32];
	sha256_init(&c);
	sha256_update(&c, data, len);
	sha256_final(&c, d);
	to_hex(d, 32, out);
}

static void base64_encode(const unsigned char *p, size_t n, char *out)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
		out[o++] = tbl[(v >> 18) & 63];
		out[o++] = tbl[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? tbl[v & 63] : '=';
	}
	out[o] = 0;
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
	hmac_sha256(key.p, key.len, date, strlen(date), k);
	hmac_sha256(k, 32, region, strlen(region), k);
	hmac_sha256(k, 32, service, strlen(service), k);
	hmac_sha256(k, 32, "aws4_request", 12, k);
	hmac_sha256(k, 32, sts.p, sts.len, k);
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
	hmac_sha1(secret_key, strlen(secret_key), string_to_sign, strlen(string_to_sign), mac);
	base64_encode(mac, 20, b64);
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
	int sigv2;
	long timeout_s;
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

int s3_put_file(struct s3 *s, const char *key, FILE *f, struct http_error *e)
{
	struct sha256 c;
	unsigned char buf[1 << 16], d[32];
	char hash[65];
	size_t n;
	long long total = 0;
	sha256_init(&c);
	rewind(f);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		sha256_update(&c, buf, n);
		total += (long long)n;
	}
	if (ferror(f)) {
		http_error_set(e, E_STORAGE, "cannot read the file to upload");
		return -1;
	}
	sha256_final(&c, d);
	to_hex(d, 32, hash);
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

int s3_list(struct s3 *s, const char *prefix, const char *delimiter, s3_key_cb cb, void *ud, volatile int *cancel,
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
