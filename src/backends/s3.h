/* A small S3 client on libcurl: path-style requests to an S3-compatible
 * endpoint, or virtual-host requests for AWS access point / outpost ARNs,
 * signed with AWS Signature Version 4 (default) or the legacy version 2.
 * Operations: list (ListObjectsV2, paged), get (to memory or a file), put
 * (from memory or a file), delete, head bucket.
 *
 * Workload: the S3 result store (blobs from bytes to GBs) and estimator
 * sources (listing up to a million keys, fetching images). A handle keeps a
 * small pool of connections and may be shared by threads. */
#ifndef LUNA_S3_H
#define LUNA_S3_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include "backends/http_client.h"

struct s3_config {
	const char *endpoint;     /* http(s)://host[:port][/base]; NULL with an ARN bucket */
	const char *region;       /* NULL = us-east-1 (or the ARN's) */
	const char *bucket;       /* name, or access point / outpost ARN */
	const char *access_key;
	const char *secret_key;
	int sigv2;                /* sign with version 2 instead of 4 */
	long timeout_s;           /* per request; 0 = 300 */
	const char *allow;        /* a client-given endpoint: the outbound policy every request
				   * passes (http_request.allow); NULL for the result store */
	long connect_timeout_s;   /* 0 = 10 */
};

struct s3;
/* NULL with err on a bad configuration (e.g. a malformed ARN). */
struct s3 *s3_open(const struct s3_config *c, char *err, size_t errlen);
void s3_close(struct s3 *s);   /* NULL ok */

/* Every call: 0 ok; -1 with e set. A missing key or bucket sets *not_found
 * (when given) and code 12. */
typedef int (*s3_key_cb)(void *ud, const char *key, long long size);
/* Keys under prefix in ascending order; delimiter "/" lists one level only. */
int s3_list(struct s3 *s, const char *prefix, const char *delimiter, s3_key_cb cb, void *ud, atomic_int *cancel,
	    struct http_error *e);
int s3_get(struct s3 *s, const char *key, size_t max, void **data, size_t *len, int *not_found, struct http_error *e);
int s3_get_to_file(struct s3 *s, const char *key, FILE *f, long long *len, int *not_found, struct http_error *e);
int s3_put(struct s3 *s, const char *key, const void *data, size_t len, struct http_error *e);
/* Uploads a whole seekable file (read twice: hash, then body). */
int s3_put_file(struct s3 *s, const char *key, FILE *f, struct http_error *e);
int s3_delete(struct s3 *s, const char *key, struct http_error *e);
int s3_head_bucket(struct s3 *s, struct http_error *e);
/* The object's URL (for image origins); malloc'd. */
char *s3_object_url(struct s3 *s, const char *key);

/* ---- Signing (exposed for the unit tests) -------------------------------- */
struct s3_header {
	const char *name;   /* lowercase */
	const char *value;
};
/* The Authorization header value of SigV4 for a request. canonical_uri is
 * already URI-encoded; query is the canonical query string (sorted,
 * encoded); headers are the signed ones (any order); amz_date is
 * YYYYMMDDTHHMMSSZ. out gets "AWS4-HMAC-SHA256 Credential=…". */
void s3_sign_v4(const char *method, const char *canonical_uri, const char *query, const struct s3_header *headers,
		size_t nheaders, const char *payload_sha256_hex, const char *amz_date, const char *region,
		const char *service, const char *access_key, const char *secret_key, char *out, size_t outlen);
/* "AWS access:signature" of SigV2 for the string to sign. */
void s3_sign_v2(const char *string_to_sign, const char *access_key, const char *secret_key, char *out, size_t outlen);
/* Lowercase hex SHA-256 of data; out ≥ 65 bytes. */
void s3_sha256_hex(const void *data, size_t len, char out[65]);
/* Endpoint, region, signing service and bucket path of an ARN bucket (for
 * the unit tests). 0 ok; -1 when the ARN is not an access point / outpost. */
int s3_arn_endpoint(const char *arn, char *endpoint, size_t elen, char *region, size_t rlen, char *service,
		    size_t slen);
#endif
