/* The S3 result store: blobs (task results, partial results, kept archives,
 * sample images) as objects of [STORAGE] S3_BUCKET at [STORAGE] S3_ENDPOINT,
 * keyed by their ids, signed with SigV4.
 *
 * Workload: like the local store (KBs to GBs written once, read a few
 * times); open_read downloads into an anonymous temporary file so that
 * readers get a seekable stream. The handle may be shared by threads. */
#include "backends/s3.h"
#include "backends/storage.h"
#include "backends/storage_local.h"
#include "backends/storage_s3.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GET_MAX ((size_t)4 << 30)

struct storage_s3 {
	struct storage base;
	struct s3 *s3;
};

static struct s3 *s3_of(struct storage *st)
{
	return ((struct storage_s3 *)st)->s3;
}

/* The same ids as the local store accept, so both stores refuse the same names. */
static int bad_id(const char *id)
{
	if (storage_id_valid(id))
		return 0;
	errno = EINVAL;
	return 1;
}

static int s3_fail(const struct http_error *e, int not_found)
{
	errno = not_found ? ENOENT : EIO;
	(void)e;
	return -1;
}

static int st_put(struct storage *st, const char *id, const void *data, size_t len)
{
	struct http_error e = {0};
	if (bad_id(id))
		return -1;
	return s3_put(s3_of(st), id, data, len, &e) ? s3_fail(&e, 0) : 0;
}

static int st_put_file(struct storage *st, const char *id, const char *path)
{
	struct http_error e = {0};
	int rc = -1;
	FILE *f = bad_id(id) ? NULL : fopen(path, "rb");
	if (f) {
		rc = s3_put_file(s3_of(st), id, f, &e) ? s3_fail(&e, 0) : 0;
		fclose(f);
	}
	int saved = errno;
	unlink(path);
	errno = saved;
	return rc;
}

static int st_get(struct storage *st, const char *id, void **data, size_t *len)
{
	struct http_error e = {0};
	int not_found = 0;
	if (bad_id(id))
		return -1;
	return s3_get(s3_of(st), id, GET_MAX, data, len, &not_found, &e) ? s3_fail(&e, not_found) : 0;
}

static int st_open_read(struct storage *st, const char *id, FILE **f, size_t *len)
{
	struct http_error e = {0};
	long long n = 0;
	int not_found = 0;
	*f = NULL;
	if (bad_id(id))
		return -1;
	FILE *tmp = tmpfile();
	if (!tmp)
		return -1;
	if (s3_get_to_file(s3_of(st), id, tmp, &n, &not_found, &e) || fflush(tmp)) {
		fclose(tmp);
		return s3_fail(&e, not_found);
	}
	rewind(tmp);
	*f = tmp;
	*len = (size_t)n;
	return 0;
}

static int st_del(struct storage *st, const char *id)
{
	struct http_error e = {0};
	if (bad_id(id))
		return -1;
	return s3_delete(s3_of(st), id, &e) ? s3_fail(&e, 0) : 0;
}

static int st_check(struct storage *st, char *err, size_t errlen)
{
	struct http_error e = {0};
	if (s3_head_bucket(s3_of(st), &e)) {
		snprintf(err, errlen, "%s", e.detail);
		return -1;
	}
	return 0;
}

static void st_close(struct storage *st)
{
	if (!st)
		return;
	s3_close(s3_of(st));
	free(st);
}

static const struct storage_ops s3_store_ops = {
	.name = "s3",
	.put = st_put,
	.put_file = st_put_file,
	.get = st_get,
	.open_read = st_open_read,
	.del = st_del,
	.check = st_check,
	.close = st_close,
};

struct storage *storage_s3_open(const struct luna_config *cfg, char *err, size_t errlen)
{
	struct s3_config c = {
		.endpoint = cfg->s3_endpoint,
		.region = cfg->s3_region,
		.bucket = cfg->s3_bucket,
		.access_key = cfg->s3_access_key,
		.secret_key = cfg->s3_secret_key,
		.timeout_s = cfg->s3_timeout,
		.connect_timeout_s = cfg->s3_connect_timeout,
	};
	struct storage_s3 *st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	st->base.ops = &s3_store_ops;
	if (!(st->s3 = s3_open(&c, err, errlen))) {
		free(st);
		return NULL;
	}
	return &st->base;
}
