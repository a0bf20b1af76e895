/* Zip archive source: the archive is downloaded once (http/https only) to
 * a temporary file, which the estimator keeps in the result store for its
 * subtasks; libzip reads entries from it with an optional password.
 *
 * Nothing is ever extracted to disk: entries are read into memory one at a
 * time, within the limits. The listing refuses an archive that is damaged or
 * truncated (libzip's consistency checks), has more entries than allowed, or
 * declares more uncompressed bytes in total than allowed. A single entry is
 * refused when fetched if its name is unsafe (zip-slip: absolute, '..',
 * backslashes, drive letters), it is larger than a file may be, its
 * compression ratio marks a bomb, it inflates beyond its declared size or
 * fails its CRC, or its password is missing or wrong. Keys are entry
 * indexes; names are the entries' (UTF-8) names. Folders are not listed.
 *
 * Workload: archives of up to a few GB with up to a million entries; one
 * handle per thread (libzip handles are not shared). */
#include "backends/sources.h"
#include "backends/http_client.h"
#include "common/errors.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

/* Entries smaller than this are never called bombs, whatever their ratio. */
#define RATIO_MIN_BYTES ((zip_uint64_t)1 << 20)

struct zip_src {
	struct source base;
	zip_t *za;
	char *password;
};

static struct zip_src *zs_of(struct source *s)
{
	return (struct zip_src *)s;
}

static int is_folder_entry(const char *name)
{
	size_t n = strlen(name);
	return n > 0 && name[n - 1] == '/';
}

/* A name that could escape a folder if it were extracted. */
static int zip_name_unsafe(const char *name)
{
	if (!source_relative_name_safe(name))
		return 1;
	/* "C:..." drive letters */
	return ((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z')) && name[1] == ':';
}

static int zs_list(struct source *s, source_item_cb cb, void *ud)
{
	struct zip_src *zs = zs_of(s);
	zip_int64_t n = zip_get_num_entries(zs->za, 0);
	unsigned long long total = 0;
	char key[32];
	if (n < 0 || (unsigned long long)n > s->limits.max_files) {
		source_error_set(&s->err, E_BAD_SOURCE, "zip archive has more than %zu entries", s->limits.max_files);
		return -1;
	}
	/* Whole-archive limits come first, before anything is handed out. */
	for (zip_int64_t i = 0; i < n; i++) {
		zip_stat_t st;
		if (zip_stat_index(zs->za, (zip_uint64_t)i, 0, &st) || !(st.valid & ZIP_STAT_SIZE))
			continue;
		total += st.size;
		if (total > s->limits.max_total_bytes) {
			source_error_set(&s->err, E_BAD_SOURCE,
					 "zip archive holds more than %llu bytes uncompressed (zip bomb?)",
					 s->limits.max_total_bytes);
			return -1;
		}
	}
	for (zip_int64_t i = 0; i < n; i++) {
		const char *name = zip_get_name(zs->za, (zip_uint64_t)i, ZIP_FL_ENC_GUESS);
		if (!name || is_folder_entry(name))
			continue;
		if (s->cancel && atomic_load(s->cancel)) {
			source_error_set(&s->err, E_TASK_CANCELLED, "listing stopped: the task was cancelled");
			return -1;
		}
		snprintf(key, sizeof(key), "%lld", (long long)i);
		if (cb(ud, key, name))
			break;
	}
	return 0;
}

static int parse_index(const char *key, zip_int64_t n, zip_uint64_t *idx)
{
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(key, &end, 10);
	if (errno || !end || *end || end == key || (zip_int64_t)v >= n)
		return -1;
	*idx = v;
	return 0;
}

/* Checks an entry's declared sizes against the per-file limits. */
static int check_entry_sizes(struct source *s, const zip_stat_t *st, const char *name)
{
	if (st->size > s->limits.max_file_bytes) {
		source_error_set(&s->err, E_IMAGE, "zip entry '%s' is larger than %zu bytes", name,
				 s->limits.max_file_bytes);
		return -1;
	}
	if (st->size >= RATIO_MIN_BYTES &&
	    (st->comp_size == 0 || st->size / st->comp_size > s->limits.max_ratio)) {
		source_error_set(&s->err, E_IMAGE, "zip entry '%s' is compressed more than %u:1 (zip bomb?)", name,
				 s->limits.max_ratio);
		return -1;
	}
	return 0;
}

/* Is the entry encrypted? */
static int entry_encrypted(const zip_stat_t *st)
{
	return (st->valid & ZIP_STAT_ENCRYPTION_METHOD) && st->encryption_method != ZIP_EM_NONE;
}

/* A wrong password for a traditional (ZipCrypto) entry passes its one-byte
 * check once in 256 tries; the entry's data then fails to inflate, or its
 * CRC. So for an encrypted entry such an error names the password too. */
static int data_error(int code)
{
	return code == ZIP_ER_CRC || code == ZIP_ER_ZLIB || code == ZIP_ER_COMPRESSED_DATA;
}

static void set_zip_file_error(struct source *s, zip_file_t *zf, zip_t *za, const char *name, int encrypted)
{
	zip_error_t *ze = zf ? zip_file_get_error(zf) : zip_get_error(za);
	int code = zip_error_code_zip(ze);
	if (code == ZIP_ER_NOPASSWD)
		source_error_set(&s->err, E_BAD_SOURCE, "zip entry '%s' is encrypted and no password was given", name);
	else if (code == ZIP_ER_WRONGPASSWD)
		source_error_set(&s->err, E_BAD_SOURCE, "wrong password for zip entry '%s'", name);
	else if (encrypted && data_error(code))
		source_error_set(&s->err, E_BAD_SOURCE, "zip entry '%s' is damaged or the password is wrong (%s)", name,
				 zip_error_strerror(ze));
	else if (code == ZIP_ER_CRC)
		source_error_set(&s->err, E_BAD_SOURCE, "zip entry '%s' is damaged (CRC error; wrong password?)", name);
	else
		source_error_set(&s->err, E_BAD_SOURCE, "cannot read zip entry '%s': %s", name, zip_error_strerror(ze));
}

/* Reads an entry, never more than its declared size (plus one byte to notice a lie). */
static int read_entry(struct source *s, zip_file_t *zf, const zip_stat_t *st, const char *name, void **data,
		      size_t *len)
{
	size_t want = (size_t)st->size;
	char *buf = malloc(want + 1);
	size_t got = 0;
	if (!buf) {
		source_error_set(&s->err, E_INTERNAL, "out of memory");
		return -1;
	}
	while (got <= want) {
		zip_int64_t r = zip_fread(zf, buf + got, want + 1 - got);
		if (r < 0) {
			set_zip_file_error(s, zf, NULL, name, entry_encrypted(st));
			free(buf);
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if (got != want) {
		source_error_set(&s->err, E_BAD_SOURCE, "zip entry '%s' does not match its declared size", name);
		free(buf);
		return -1;
	}
	*data = buf;
	*len = got;
	return 0;
}

static int zs_fetch(struct source *s, const char *key, void **data, size_t *len)
{
	struct zip_src *zs = zs_of(s);
	zip_uint64_t idx;
	zip_stat_t st;
	zip_file_t *zf = NULL;
	int rc = -1;
	if (parse_index(key, zip_get_num_entries(zs->za, 0), &idx) || zip_stat_index(zs->za, idx, 0, &st) ||
	    !(st.valid & ZIP_STAT_NAME) || !(st.valid & ZIP_STAT_SIZE)) {
		source_error_set(&s->err, E_BAD_SOURCE, "zip entry #%s not found", key);
		return -1;
	}
	const char *name = zip_get_name(zs->za, idx, ZIP_FL_ENC_GUESS);
	if (!name || zip_name_unsafe(name)) {
		source_error_set(&s->err, E_BAD_SOURCE, "zip entry name '%s' is not allowed (absolute or '..' path)",
				 name ? name : "");
		return -1;
	}
	if (check_entry_sizes(s, &st, name))
		return -1;
	zf = zs->password ? zip_fopen_index_encrypted(zs->za, idx, 0, zs->password) : zip_fopen_index(zs->za, idx, 0);
	if (!zf) {
		set_zip_file_error(s, NULL, zs->za, name, entry_encrypted(&st));
		goto out;
	}
	rc = read_entry(s, zf, &st, name, data, len);
out:
	if (zf)
		zip_fclose(zf);
	return rc;
}

static void zs_close(struct source *s)
{
	struct zip_src *zs = zs_of(s);
	if (zs->za)
		zip_discard(zs->za);
	if (zs->password) {
		memset(zs->password, 0, strlen(zs->password));
		free(zs->password);
	}
	free(zs);
}

static const struct source_ops zip_ops = {
	.type = "zip",
	.list = zs_list,
	.fetch = zs_fetch,
	.origin = NULL,
	.close = zs_close,
};

struct source *source_zip_open(FILE *archive, const char *password, const struct source_limits *limits,
			       struct source_error *err)
{
	zip_error_t ze;
	zip_source_t *src = NULL;
	struct zip_src *zs = calloc(1, sizeof(*zs));
	zip_error_init(&ze);
	if (!zs) {
		source_error_set(err, E_INTERNAL, "out of memory");
		fclose(archive);
		goto fail;
	}
	zs->base.ops = &zip_ops;
	zs->base.limits = *limits;
	if (password && password[0] && !(zs->password = strdup(password))) {
		source_error_set(err, E_INTERNAL, "out of memory");
		fclose(archive);
		goto fail;
	}
	src = zip_source_filep_create(archive, 0, -1, &ze);   /* owns archive from here */
	if (!src) {
		fclose(archive);
		source_error_set(err, E_BAD_SOURCE, "cannot read zip archive: %s", zip_error_strerror(&ze));
		goto fail;
	}
	zs->za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
	if (!zs->za) {
		zip_source_free(src);
		source_error_set(err, E_BAD_SOURCE, "zip archive is damaged, truncated or not a zip file: %s",
				 zip_error_strerror(&ze));
		goto fail;
	}
	zip_error_fini(&ze);
	return &zs->base;
fail:
	zip_error_fini(&ze);
	if (zs)
		zs_close(&zs->base);
	return NULL;
}

static int make_temp_file(char **path)
{
	const char *dir = getenv("TMPDIR");
	char *p = NULL;
	size_t n = strlen(dir && dir[0] ? dir : "/tmp") + 32;
	if (!(p = malloc(n)))
		return -1;
	snprintf(p, n, "%s/luna-zip-XXXXXX", dir && dir[0] ? dir : "/tmp");
	int fd = mkstemp(p);
	if (fd < 0) {
		free(p);
		return -1;
	}
	*path = p;
	return fd;
}

int source_zip_download(const struct luna_config *cfg, const char *url, const struct source_limits *limits,
			atomic_int *cancel, char **path, struct source_error *err)
{
	struct http_conn *conn = NULL;
	struct http_response resp = {0};
	struct http_error he = {0};
	FILE *f = NULL;
	char *tmp = NULL;
	int rc = -1;
	*path = NULL;
	int fd = make_temp_file(&tmp);
	if (fd < 0 || !(f = fdopen(fd, "w+b"))) {
		if (fd >= 0)
			close(fd);
		source_error_set(err, E_INTERNAL, "cannot create a temporary file: %s", strerror(errno));
		goto out;
	}
	if (!(conn = http_conn_new())) {
		source_error_set(err, E_INTERNAL, "out of memory");
		goto out;
	}
	struct http_request rq = {
		.method = "GET", .url = url, .sink = f, .max_body = (size_t)limits->max_archive_bytes,
		.timeout_s = limits->download_timeout_s, .protocols = "http,https", .cancel = cancel,
		.allow = cfg->outbound_allow,
	};
	if (http_perform(conn, &rq, &resp, &he)) {
		source_error_set(err, he.code == E_TASK_CANCELLED ? E_TASK_CANCELLED : E_BAD_SOURCE,
				 "cannot download the zip archive: %s", he.detail);
		goto out;
	}
	if (resp.status != 200) {
		source_error_set(err, E_BAD_SOURCE, "cannot download the zip archive: %s answered %ld", url, resp.status);
		goto out;
	}
	if (fflush(f) || ferror(f)) {
		source_error_set(err, E_INTERNAL, "cannot write the zip archive to disk: %s", strerror(errno));
		goto out;
	}
	*path = tmp;
	tmp = NULL;
	rc = 0;
out:
	if (f)
		fclose(f);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	http_conn_free(conn);
	return rc;
}
