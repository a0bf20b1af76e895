/* Image sources: the shared parts (limits, name selection, name safety,
 * JSON accessors) and the dispatch from a task's `source` object to the
 * source type. The types live in source_zip.c, source_network_disk.c,
 * source_s3.c and source_ftp.c. */
#include "backends/sources.h"
#include "backends/http_client.h"
#include "backends/s3.h"
#include "common/errors.h"
#include "common/outbound.h"
#include "common/redact.h"
#include <stdarg.h>
#include <string.h>

void source_limits_from_config(struct source_limits *l, const struct luna_config *cfg)
{
	const struct luna_limits *c = &cfg->limits;
	l->max_files = (size_t)c->max_source_files;
	l->max_file_bytes = (size_t)c->max_image_bytes;
	l->max_total_bytes = (unsigned long long)c->max_archive_unpacked_bytes;
	l->max_ratio = (unsigned)c->max_compression_ratio;
	l->max_archive_bytes = (unsigned long long)c->max_archive_bytes;
	l->max_depth = (unsigned)c->max_source_depth;
	l->download_timeout_s = c->source_download_timeout;
	l->ftp_timeout_s = c->source_ftp_timeout;
}

void source_error_set(struct source_error *e, int code, const char *fmt, ...)
{
	va_list ap;
	e->code = code;
	va_start(ap, fmt);
	url_redact_vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
	va_end(ap);
}

static int has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

static int has_postfix(const char *s, const char *p)
{
	size_t n = strlen(s), m = strlen(p);
	return n >= m && memcmp(s + n - m, p, m) == 0;
}

int source_name_selected(const struct source_filter *f, const char *rel)
{
	const char *prefix = f->prefix ? f->prefix : "";
	const char *postfix = f->postfix ? f->postfix : "";
	if (!has_prefix(rel, prefix) || !has_postfix(rel, postfix))
		return 0;
	return f->recursive || strchr(rel + strlen(prefix), '/') == NULL;
}

int source_dir_may_match(const struct source_filter *f, const char *rel_dir)
{
	const char *prefix = f->prefix ? f->prefix : "";
	size_t d = strlen(rel_dir), p = strlen(prefix);
	/* The prefix reaches below this folder: it must continue with "rel_dir/". */
	if (p > d)
		return strncmp(prefix, rel_dir, d) == 0 && prefix[d] == '/';
	/* The folder lies within the prefix's reach: only recursive listings go there. */
	return f->recursive && strncmp(rel_dir, prefix, p) == 0;
}

int source_relative_name_safe(const char *name)
{
	if (!name || !name[0] || name[0] == '/')
		return 0;
	const char *p = name;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (!slash)
			break;
		p = slash + 1;
		if (!*p)
			return 0;   /* trailing '/' names a folder */
	}
	for (const unsigned char *q = (const unsigned char *)name; *q; q++)
		if (*q < 0x20 || *q == 0x7f || *q == '\\')
			return 0;
	return 1;
}

const char *source_json_str(json_object *o, const char *key)
{
	json_object *v = NULL;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int source_json_bool(json_object *o, const char *key, int dflt)
{
	json_object *v = NULL;
	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return dflt;
	return json_object_get_boolean(v);
}

long long source_json_int(json_object *o, const char *key, long long dflt)
{
	json_object *v = NULL;
	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return dflt;
	return json_object_get_int64(v);
}

json_object *source_json_obj(json_object *o, const char *key)
{
	json_object *v = NULL;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_object))
		return NULL;
	return v;
}

static struct source *open_zip(const struct luna_config *cfg, json_object *source, FILE *archive,
			       const struct source_limits *limits, struct source_error *err)
{
	if (!archive) {
		source_error_set(err, E_BAD_SOURCE, "zip source: the archive was not downloaded");
		return NULL;
	}
	const char *password = source_json_str(source_json_obj(source, "authorization"), "password");
	return source_zip_open(archive, password, limits, err);
}

static struct source *open_network_disk(const struct luna_config *cfg, json_object *source,
					const struct source_limits *limits, struct source_error *err)
{
	json_object *ref = source_json_obj(source, "reference");
	struct source_filter f = {
		.prefix = source_json_str(ref, "prefix"),
		.postfix = source_json_str(ref, "postfix"),
		.recursive = source_json_bool(source, "recursive", 1),
	};
	return source_network_disk_open(cfg->network_disk_roots, source_json_str(ref, "path"), &f,
					source_json_bool(ref, "follow_links", 0), limits, err);
}

struct source *source_open(const struct luna_config *cfg, json_object *source, FILE *archive,
			   const struct source_limits *limits, atomic_int *cancel, struct source_error *err)
{
	struct source_limits dflt;
	struct source *s = NULL;
	const char *type = source_json_str(source, "source_type");
	if (!limits) {
		source_limits_from_config(&dflt, cfg);
		limits = &dflt;
	}
	if (!type) {
		source_error_set(err, E_BAD_SOURCE, "source: no source_type");
		if (archive)
			fclose(archive);
		return NULL;
	}
	if (strcmp(type, "zip") == 0)
		s = open_zip(cfg, source, archive, limits, err);
	else {
		if (archive)
			fclose(archive);
		if (strcmp(type, "network_disk") == 0)
			s = open_network_disk(cfg, source, limits, err);
		else if (strcmp(type, "s3") == 0)
			s = source_s3_open(cfg, source, limits, err);
		else if (strcmp(type, "ftp") == 0)
			s = source_ftp_open(cfg, source, limits, err);
		else
			source_error_set(err, E_BAD_SOURCE, "source: unknown source_type '%s'", type);
	}
	if (s)
		s->cancel = cancel;
	return s;
}

/* A client-given URL outside the outbound policy: 400/12022 naming where it was. */
static int refuse_outbound(struct source_error *err, const char *json_path, const char *why)
{
	source_error_set(err, E_BAD_JSON, "Failed to validate input json. Path: '%s', message: '%s'", json_path, why);
	return -1;
}

static int check_outbound_url(const struct luna_config *cfg, const char *url, const char *json_path,
			      struct source_error *err)
{
	char why[300];
	if (http_url_allowed(cfg->outbound_allow, url, "http,https", why, sizeof(why)))
		return refuse_outbound(err, json_path, why);
	return 0;
}

static int validate_zip(const struct luna_config *cfg, json_object *source, struct source_error *err)
{
	const char *url = source_json_str(source, "reference");
	if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
		source_error_set(err, E_BAD_SOURCE, "zip source: reference must be an http:// or https:// URL");
		return -1;
	}
	return check_outbound_url(cfg, url, "content.source.reference", err);
}

/* An access point or outpost ARN: arn:aws[-*]:s3[-outposts]:region:account:... */
static int is_s3_arn(const char *bucket)
{
	return strncmp(bucket, "arn:", 4) == 0;
}

static int validate_s3(const struct luna_config *cfg, json_object *source, struct source_error *err)
{
	json_object *ref = source_json_obj(source, "reference");
	const char *bucket = source_json_str(ref, "bucket_name");
	const char *endpoint = source_json_str(ref, "endpoint");
	const char *region = source_json_str(ref, "region");
	if (!bucket || !bucket[0]) {
		source_error_set(err, E_BAD_SOURCE, "s3 source: bucket_name is empty");
		return -1;
	}
	if (is_s3_arn(bucket)) {
		if (endpoint || region) {
			source_error_set(err, E_BAD_SOURCE,
					 "s3 source: endpoint and region must not be given with an ARN bucket_name");
			return -1;
		}
		char arn_endpoint[512], arn_region[64], service[32];
		if (s3_arn_endpoint(bucket, arn_endpoint, sizeof(arn_endpoint), arn_region, sizeof(arn_region), service,
				    sizeof(service)) == 0)
			return check_outbound_url(cfg, arn_endpoint, "content.source.reference.bucket_name", err);
		return 0;   /* a malformed ARN fails when the task is planned */
	}
	if (!endpoint || (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0)) {
		source_error_set(err, E_BAD_SOURCE, "s3 source: an http:// or https:// endpoint is required with a bucket name");
		return -1;
	}
	if (strchr(bucket, '/') || strchr(bucket, '?') || strchr(bucket, '#')) {
		source_error_set(err, E_BAD_SOURCE, "s3 source: bad bucket_name '%s'", bucket);
		return -1;
	}
	if (!source_json_obj(source, "authorization")) {
		source_error_set(err, E_BAD_SOURCE, "s3 source: authorization is required");
		return -1;
	}
	return check_outbound_url(cfg, endpoint, "content.source.reference.endpoint", err);
}

static int validate_ftp(const struct luna_config *cfg, json_object *source, struct source_error *err)
{
	json_object *ref = source_json_obj(source, "reference");
	const char *host = source_json_str(ref, "host");
	if (!host || !host[0] || strpbrk(host, "/@?# \t\r\n")) {
		source_error_set(err, E_BAD_SOURCE, "ftp source: bad host");
		return -1;
	}
	const char *path = source_json_str(ref, "path");
	if (path && (strstr(path, "..") || strpbrk(path, "\r\n"))) {
		source_error_set(err, E_BAD_SOURCE, "ftp source: path must not contain '..' or line breaks");
		return -1;
	}
	long long port = source_json_int(ref, "port", 21);
	if (outbound_host_verdict(cfg->outbound_allow, host, port >= 1 && port <= 65535 ? (int)port : -1) ==
	    OUTBOUND_DENIED) {
		char why[400];
		snprintf(why, sizeof(why), "host %.200s port %lld is not allowed by the outbound policy ([OUTBOUND] ALLOW)",
			 host, port);
		return refuse_outbound(err, "content.source.reference.host", why);
	}
	return 0;
}

int source_validate(const struct luna_config *cfg, json_object *source, struct source_error *err)
{
	const char *type = source_json_str(source, "source_type");
	if (!type) {
		source_error_set(err, E_BAD_SOURCE, "source: no source_type");
		return -1;
	}
	if (strcmp(type, "zip") == 0)
		return validate_zip(cfg, source, err);
	if (strcmp(type, "network_disk") == 0)
		return source_network_disk_check(cfg->network_disk_roots,
						 source_json_str(source_json_obj(source, "reference"), "path"), err);
	if (strcmp(type, "s3") == 0)
		return validate_s3(cfg, source, err);
	if (strcmp(type, "ftp") == 0)
		return validate_ftp(cfg, source, err);
	source_error_set(err, E_BAD_SOURCE, "source: unknown source_type '%s'", type);
	return -1;
}
