/* The local result store: one directory, one file per blob, named by its id.
 *
 * Workload: task results and partial results (KBs to GBs, written once, read
 * a few times, deleted with their task) and sample images (many small files).
 * Writers go through a temporary file in the same directory, fsync it and
 * rename(2) it into place, so a reader sees either no blob or the whole blob,
 * even when the process dies mid-write. Every operation works relative to a
 * descriptor of the directory and every id is checked first, so no id can
 * reach outside it. A handle holds no mutable state: threads may share it. */
#include "backends/storage_local.h"
#include "common/uuid.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ID_MAX 128
#define TMP_PREFIX ".tmp-"
#define COPY_CHUNK (1 << 16)

struct storage_local {
	struct storage base;
	char dir[1024];
	int dirfd;
};

static struct storage_local *local_of(struct storage *st)
{
	return (struct storage_local *)st;
}

static int is_id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '_' || c == '.';
}

int storage_id_valid(const char *id)
{
	if (!id || !id[0])
		return 0;
	size_t n = strlen(id);
	if (n > ID_MAX || !is_id_char(id[0]) || id[0] == '.' || id[0] == '-' || id[0] == '_')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_id_char(id[i]))
			return 0;
	return 1;
}

static int reject_bad_id(const char *id)
{
	if (storage_id_valid(id))
		return 0;
	errno = EINVAL;
	return -1;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Creates a fresh temporary file in the store directory; its name goes to tmp. */
static int open_temp(struct storage_local *sl, char tmp[64])
{
	for (int tries = 0; tries < 8; tries++) {
		char u[37];
		uuid4(u);
		snprintf(tmp, 64, TMP_PREFIX "%s", u);
		int fd = openat(sl->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	errno = EEXIST;
	return -1;
}

/* Makes a written temporary file durable and gives it its final name. */
static int publish_temp(struct storage_local *sl, int fd, const char *tmp, const char *id)
{
	int rc = -1;
	if (fsync(fd))
		goto out;
	if (renameat(sl->dirfd, tmp, sl->dirfd, id))
		goto out;
	rc = 0;
	(void)fsync(sl->dirfd);
out:
	return rc;
}

/* Closes fd and removes the temporary file, keeping the caller's errno. */
static void discard_temp(struct storage_local *sl, int fd, const char *tmp)
{
	int saved = errno;
	if (fd >= 0)
		close(fd);
	unlinkat(sl->dirfd, tmp, 0);
	errno = saved;
}

static int local_put(struct storage *st, const char *id, const void *data, size_t len)
{
	struct storage_local *sl = local_of(st);
	char tmp[64];
	int rc = -1, fd = -1;
	if (reject_bad_id(id))
		return -1;
	fd = open_temp(sl, tmp);
	if (fd < 0)
		return -1;
	if (write_all(fd, data, len) || publish_temp(sl, fd, tmp, id))
		goto out;
	rc = 0;
out:
	if (rc)
		discard_temp(sl, fd, tmp);
	else
		close(fd);
	return rc;
}

static int copy_fd(int from, int to)
{
	char *buf = malloc(COPY_CHUNK);
	int rc = -1;
	if (!buf)
		return -1;
	for (;;) {
		ssize_t n = read(from, buf, COPY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		if (write_all(to, buf, (size_t)n))
			goto out;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

/* The file lives on another file system: copy it into a temporary file here. */
static int copy_file_in(struct storage_local *sl, const char *id, const char *path)
{
	char tmp[64];
	int rc = -1, in = -1, fd = -1;
	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	fd = open_temp(sl, tmp);
	if (fd < 0)
		goto out;
	if (copy_fd(in, fd) || publish_temp(sl, fd, tmp, id)) {
		discard_temp(sl, fd, tmp);
		fd = -1;
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	close(in);
	return rc;
}

static int local_put_file(struct storage *st, const char *id, const char *path)
{
	struct storage_local *sl = local_of(st);
	int rc = -1, fd;
	if (reject_bad_id(id))
		goto out;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto out;
	int synced = fsync(fd);
	close(fd);
	if (synced)
		goto out;
	if (renameat(AT_FDCWD, path, sl->dirfd, id) == 0) {
		(void)fsync(sl->dirfd);
		return 0;
	}
	if (errno != EXDEV)
		goto out;
	rc = copy_file_in(sl, id, path);
out:
	{
		int saved = errno;
		unlink(path);
		errno = saved;
	}
	return rc;
}

/* Opens the blob id for reading; its size goes to *len. */
static int open_blob(struct storage_local *sl, const char *id, size_t *len)
{
	struct stat sb;
	if (reject_bad_id(id))
		return -1;
	int fd = openat(sl->dirfd, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		close(fd);
		errno = ENOENT;
		return -1;
	}
	*len = (size_t)sb.st_size;
	return fd;
}

static int read_exact(int fd, char *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

/* The whole blob, NUL-terminated for the convenience of text readers. */
static int local_get(struct storage *st, const char *id, void **data, size_t *len)
{
	size_t size = 0;
	char *buf = NULL;
	int rc = -1;
	int fd = open_blob(local_of(st), id, &size);
	if (fd < 0)
		return -1;
	buf = malloc(size + 1);
	if (!buf || read_exact(fd, buf, size))
		goto out;
	buf[size] = '\0';
	*data = buf;
	*len = size;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

static int local_open_read(struct storage *st, const char *id, FILE **f, size_t *len)
{
	int fd = open_blob(local_of(st), id, len);
	if (fd < 0)
		return -1;
	*f = fdopen(fd, "rb");
	if (!*f) {
		close(fd);
		return -1;
	}
	return 0;
}

static int local_del(struct storage *st, const char *id)
{
	if (reject_bad_id(id))
		return -1;
	if (unlinkat(local_of(st)->dirfd, id, 0) && errno != ENOENT)
		return -1;
	return 0;
}

/* Healthy when a probe file can be written and removed. */
static int local_check(struct storage *st, char *err, size_t errlen)
{
	struct storage_local *sl = local_of(st);
	char tmp[64];
	int fd = open_temp(sl, tmp);
	if (fd < 0 || write_all(fd, "ok", 2)) {
		snprintf(err, errlen, "cannot write to %s: %s", sl->dir, strerror(errno));
		if (fd >= 0)
			discard_temp(sl, fd, tmp);
		return -1;
	}
	discard_temp(sl, fd, tmp);
	return 0;
}

static void local_close(struct storage *st)
{
	struct storage_local *sl = local_of(st);
	if (sl->dirfd >= 0)
		close(sl->dirfd);
	free(sl);
}

static const struct storage_ops local_ops = {
	.name = "local",
	.put = local_put,
	.put_file = local_put_file,
	.get = local_get,
	.open_read = local_open_read,
	.del = local_del,
	.check = local_check,
	.close = local_close,
};

/* mkdir -p, mode 0750 for the folders it creates. */
static int make_dirs(const char *dir)
{
	char path[1024];
	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0750) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(path, 0750) && errno != EEXIST)
		return -1;
	return 0;
}

struct storage *storage_local_open(const char *dir, char *err, size_t errlen)
{
	struct storage_local *sl = NULL;
	if (!dir || !dir[0]) {
		snprintf(err, errlen, "[STORAGE] PATH is empty");
		goto out;
	}
	if (strlen(dir) >= sizeof(sl->dir)) {
		snprintf(err, errlen, "[STORAGE] PATH is too long");
		goto out;
	}
	if (make_dirs(dir)) {
		snprintf(err, errlen, "cannot create the store directory %s: %s", dir, strerror(errno));
		goto out;
	}
	sl = calloc(1, sizeof(*sl));
	if (!sl) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	sl->base.ops = &local_ops;
	snprintf(sl->dir, sizeof(sl->dir), "%s", dir);
	sl->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sl->dirfd < 0) {
		snprintf(err, errlen, "cannot open the store directory %s: %s", dir, strerror(errno));
		free(sl);
		sl = NULL;
	}
out:
	return sl ? &sl->base : NULL;
}
