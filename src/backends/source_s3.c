/* S3 bucket source: the objects of `bucket_name` under `prefix` (one level
 * with recursive false, as an S3 listing with delimiter '/'), listed with
 * ListObjectsV2 and fetched one by one with the task's credentials, signed
 * with SigV4 (or SigV2 when asked). Keys are the objects' full keys, which
 * is also what results show. save_origin gives the object's URL.
 *
 * Workload: buckets of up to a million objects listed once per task;
 * objects fetched by the subtasks' threads, one handle per thread. */
#include "backends/s3.h"
#include "backends/sources.h"
#include "common/errors.h"
#include <stdlib.h>
#include <string.h>

struct s3_source {
	struct source base;
	struct s3 *s3;
	struct source_filter filter;
	char *prefix;
	size_t listed;
};

static struct s3_source *ss_of(struct source *s)
{
	return (struct s3_source *)s;
}

struct list_ctx {
	struct s3_source *ss;
	source_item_cb cb;
	void *ud;
	int too_many;
};

static int on_key(void *ud, const char *key, long long size)
{
	struct list_ctx *lc = ud;
	(void)size;
	size_t n = strlen(key);
	if (n == 0 || key[n - 1] == '/' || !source_name_selected(&lc->ss->filter, key))
		return 0;   /* folder markers and keys outside the selection */
	if (++lc->ss->listed > lc->ss->base.limits.max_files) {
		lc->too_many = 1;
		return 1;
	}
	return lc->cb(lc->ud, key, key);
}

static int ss_list(struct source *s, source_item_cb cb, void *ud)
{
	struct s3_source *ss = ss_of(s);
	struct http_error he = {0};
	struct list_ctx lc = {ss, cb, ud, 0};
	ss->listed = 0;
	if (s3_list(ss->s3, ss->prefix, ss->filter.recursive ? NULL : "/", on_key, &lc, s->cancel, &he)) {
		source_error_set(&s->err, he.code == E_TASK_CANCELLED ? E_TASK_CANCELLED : E_BAD_SOURCE,
				 "cannot list the S3 bucket: %s", he.detail);
		return -1;
	}
	if (lc.too_many) {
		source_error_set(&s->err, E_BAD_SOURCE, "S3 bucket has more than %zu objects under the prefix",
				 s->limits.max_files);
		return -1;
	}
	return 0;
}

static int ss_fetch(struct source *s, const char *key, void **data, size_t *len)
{
	struct s3_source *ss = ss_of(s);
	struct http_error he = {0};
	int not_found = 0;
	if (s3_get(ss->s3, key, s->limits.max_file_bytes, data, len, &not_found, &he)) {
		if (strstr(he.detail, "larger than"))
			source_error_set(&s->err, E_IMAGE, "object '%s' is larger than %zu bytes", key,
					 s->limits.max_file_bytes);
		else
			source_error_set(&s->err, E_BAD_SOURCE, "cannot read object '%s': %s", key, he.detail);
		return -1;
	}
	return 0;
}

static char *ss_origin(struct source *s, const char *key)
{
	return s3_object_url(ss_of(s)->s3, key);
}

static void ss_close(struct source *s)
{
	struct s3_source *ss = ss_of(s);
	s3_close(ss->s3);
	free(ss->prefix);
	free(ss);
}

static const struct source_ops s3_ops = {
	.type = "s3",
	.list = ss_list,
	.fetch = ss_fetch,
	.origin = ss_origin,
	.close = ss_close,
};

struct source *source_s3_open(const struct luna_config *cfg, json_object *source, const struct source_limits *limits,
			      struct source_error *err)
{
	json_object *ref = source_json_obj(source, "reference");
	json_object *auth = source_json_obj(source, "authorization");
	const char *sigver = source_json_str(auth, "signature_version");
	char msg[256];
	struct s3_config c = {
		.endpoint = source_json_str(ref, "endpoint"),
		.region = source_json_str(ref, "region"),
		.bucket = source_json_str(ref, "bucket_name"),
		.access_key = source_json_str(auth, "public_access_key"),
		.secret_key = source_json_str(auth, "secret_access_key"),
		.sigv2 = sigver && strcmp(sigver, "s3v2") == 0,
		.timeout_s = cfg->handlers_timeout > 0 ? cfg->handlers_timeout : 30,
		.allow = cfg->outbound_allow,
	};
	struct s3_source *ss = calloc(1, sizeof(*ss));
	if (!ss) {
		source_error_set(err, E_INTERNAL, "out of memory");
		return NULL;
	}
	ss->base.ops = &s3_ops;
	ss->base.limits = *limits;
	ss->prefix = strdup(source_json_str(ref, "prefix") ? source_json_str(ref, "prefix") : "");
	ss->filter = (struct source_filter){ss->prefix, NULL, source_json_bool(source, "recursive", 1)};
	if (!ss->prefix || !(ss->s3 = s3_open(&c, msg, sizeof(msg)))) {
		source_error_set(err, E_BAD_SOURCE, "%s", ss->prefix ? msg : "out of memory");
		ss_close(&ss->base);
		return NULL;
	}
	return &ss->base;
}
