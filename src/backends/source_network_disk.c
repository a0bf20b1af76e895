/* Network disk source: a folder of a mounted disk, walked with the spec's
 * prefix/postfix/recursive/follow_links rules (see sources.h).
 *
 * Only folders below [API] NETWORK_DISK_ROOTS may be read. The task's path
 * must be absolute, without '..', lie below a root as written (checked
 * before any filesystem call, so a path outside the roots gets the same
 * error whether it exists or not) and still resolve (realpath) below a root.
 * Without follow_links a symbolic link is never traversed: the walk skips
 * links and files are opened component by component with O_NOFOLLOW from
 * the root's descriptor. With follow_links a link is followed only when its
 * target resolves below a root; one that leaves them is listed and then
 * refused when fetched (an error for that file, never a read). Folder loops
 * through links are cut by remembering the folders on the current path.
 *
 * Workload: folders of up to a million files, listed once per task; files
 * read one at a time by each worker thread. */
#include "backends/sources.h"
#include "common/errors.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct nd_source {
	struct source base;
	char *roots;           /* colon-separated allowed roots, as configured */
	char root[PATH_MAX];   /* the task's folder, resolved */
	int rootfd;
	struct source_filter filter;
	char *prefix, *postfix;
	int follow_links;
	size_t listed;
};

/* A folder on the walk's current path (loop detection). */
struct dir_frame {
	dev_t dev;
	ino_t ino;
	const struct dir_frame *up;
};

static struct nd_source *nd_of(struct source *s)
{
	return (struct nd_source *)s;
}

static int path_is_below(const char *path, const char *root)
{
	size_t n = strlen(root);
	if (n == 1 && root[0] == '/')
		return path[0] == '/';
	return strncmp(path, root, n) == 0 && (path[n] == 0 || path[n] == '/');
}

/* Calls below(path, root) for each colon-separated root, as configured and
 * resolved: 1 as soon as one holds path. */
static int below_roots(const char *roots, const char *path, int resolve_path)
{
	const char *p = roots;
	while (p && *p) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		char root[PATH_MAX], real[PATH_MAX];
		if (n > 0 && n < sizeof(root)) {
			memcpy(root, p, n);
			root[n] = 0;
			while (n > 1 && root[n - 1] == '/')
				root[--n] = 0;
			/* Roots are the operator's: resolving them reveals nothing. */
			if (!resolve_path && path_is_below(path, root))
				return 1;
			if (realpath(root, real) && path_is_below(path, real))
				return 1;
		}
		p = colon ? colon + 1 : NULL;
	}
	return 0;
}

/* Whether a resolved path lies below one of the colon-separated roots. */
static int resolved_below_roots(const char *roots, const char *resolved)
{
	return below_roots(roots, resolved, 1);
}

/* Whether a path as written (absolute, no '..') lies below a root, by its
 * text alone: no filesystem call on it, so the answer tells nothing about
 * what exists outside the roots. */
static int written_below_roots(const char *roots, const char *path)
{
	return below_roots(roots, path, 0);
}

static int has_dotdot_component(const char *path)
{
	const char *p = path;
	while ((p = strstr(p, "..")) != NULL) {
		int starts = p == path || p[-1] == '/';
		int ends = p[2] == 0 || p[2] == '/';
		if (starts && ends)
			return 1;
		p += 2;
	}
	return 0;
}

int source_network_disk_check(const char *roots, const char *path, struct source_error *err)
{
	char real[PATH_MAX];
	struct stat st;
	if (!roots || !roots[0]) {
		source_error_set(err, E_BAD_SOURCE,
				 "network disk sources are disabled: no folder is allowed ([API] NETWORK_DISK_ROOTS is empty)");
		return -1;
	}
	if (!path || path[0] != '/') {
		source_error_set(err, E_BAD_SOURCE, "network disk path must be absolute");
		return -1;
	}
	if (has_dotdot_component(path)) {
		source_error_set(err, E_BAD_SOURCE, "network disk path '%s' must not contain '..'", path);
		return -1;
	}
	/* The roots first, by the text: a path outside them gets one answer
	 * whether or not it exists. */
	if (!written_below_roots(roots, path)) {
		source_error_set(err, E_BAD_SOURCE, "network disk path '%s' is outside the allowed folders", path);
		return -1;
	}
	/* Then through links. A link may lead outside, so whatever fails from
	 * here gets one answer: it tells nothing about where the link leads. */
	if (!realpath(path, real) || !resolved_below_roots(roots, real) || stat(real, &st) || !S_ISDIR(st.st_mode)) {
		source_error_set(err, E_BAD_SOURCE,
				 "network disk path '%s' is not a readable folder within the allowed folders "
				 "(missing, not a folder, or a link leading outside)",
				 path);
		return -1;
	}
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of an open folder, sorted; *names and each name malloc'd. */
static int read_sorted(int dirfd, char ***names, size_t *n)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	char **v = NULL;
	size_t len = 0, cap = 0;
	struct dirent *de;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (len == cap) {
			cap = cap ? cap * 2 : 64;
			char **nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				goto fail;
			v = nv;
		}
		if (!(v[len] = strdup(de->d_name)))
			goto fail;
		len++;
	}
	closedir(d);
	if (len > 1)   /* an empty folder has no array: qsort must not get NULL */
		qsort(v, len, sizeof(*v), name_cmp);
	*names = v;
	*n = len;
	return 0;
fail:
	while (len)
		free(v[--len]);
	free(v);
	closedir(d);
	return -1;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int frame_seen(const struct dir_frame *f, const struct stat *st)
{
	for (; f; f = f->up)
		if (f->dev == st->st_dev && f->ino == st->st_ino)
			return 1;
	return 0;
}

struct walk {
	struct nd_source *nd;
	source_item_cb cb;
	void *ud;
	int stop;
};

static int walk_dir(struct walk *w, int dirfd, const char *rel, unsigned depth, const struct dir_frame *up);

/* Handles one entry of a folder: lists a selected file, descends into a folder. */
static int walk_entry(struct walk *w, int dirfd, const char *rel, const char *name, unsigned depth,
		      const struct dir_frame *up)
{
	struct nd_source *nd = w->nd;
	struct stat lst, st;
	char *child = NULL;
	int rc = 0;
	if (fstatat(dirfd, name, &lst, AT_SYMLINK_NOFOLLOW))
		return 0;   /* vanished meanwhile */
	if (S_ISLNK(lst.st_mode) && !nd->follow_links)
		return 0;
	st = lst;
	if (S_ISLNK(lst.st_mode) && fstatat(dirfd, name, &st, 0))
		return 0;   /* dangling link */
	if (rel[0] ? asprintf(&child, "%s/%s", rel, name) < 0 : !(child = strdup(name))) {
		child = NULL;
		source_error_set(&nd->base.err, E_INTERNAL, "out of memory");
		return -1;
	}
	if (!source_relative_name_safe(child))
		goto out;
	if (S_ISREG(st.st_mode)) {
		if (!source_name_selected(&nd->filter, child))
			goto out;
		if (++nd->listed > nd->base.limits.max_files) {
			source_error_set(&nd->base.err, E_BAD_SOURCE, "network disk folder has more than %zu files",
					 nd->base.limits.max_files);
			rc = -1;
			goto out;
		}
		if (w->cb(w->ud, child, child)) {
			w->stop = 1;
			rc = 1;
		}
		goto out;
	}
	if (!S_ISDIR(st.st_mode) || !source_dir_may_match(&nd->filter, child))
		goto out;
	if (frame_seen(up, &st))
		goto out;   /* a link back to a folder being walked */
	if (S_ISLNK(lst.st_mode)) {
		/* A followed link to a folder: only when it stays below the roots. */
		char path[PATH_MAX * 2], real[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", nd->root, child);
		if (!realpath(path, real) || !resolved_below_roots(nd->roots, real))
			goto out;
	}
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (nd->follow_links ? 0 : O_NOFOLLOW));
	if (fd < 0)
		goto out;
	struct dir_frame frame = {st.st_dev, st.st_ino, up};
	rc = walk_dir(w, fd, child, depth + 1, &frame);
	close(fd);
out:
	free(child);
	return rc;
}

static int walk_dir(struct walk *w, int dirfd, const char *rel, unsigned depth, const struct dir_frame *up)
{
	struct nd_source *nd = w->nd;
	char **names = NULL;
	size_t n = 0;
	int rc = 0;
	if (depth > nd->base.limits.max_depth)
		return 0;
	if (nd->base.cancel && atomic_load(nd->base.cancel)) {
		source_error_set(&nd->base.err, E_TASK_CANCELLED, "listing stopped: the task was cancelled");
		return -1;
	}
	if (read_sorted(dirfd, &names, &n)) {
		if (depth == 0) {
			source_error_set(&nd->base.err, E_BAD_SOURCE, "cannot read folder '%s': %s", nd->root,
					 strerror(errno));
			return -1;
		}
		return 0;   /* an unreadable subfolder holds nothing we can list */
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = walk_entry(w, dirfd, rel, names[i], depth, up);
	free_names(names, n);
	return rc;
}

static int nd_list(struct source *s, source_item_cb cb, void *ud)
{
	struct nd_source *nd = nd_of(s);
	struct stat st;
	struct walk w = {nd, cb, ud, 0};
	nd->listed = 0;
	if (fstat(nd->rootfd, &st)) {
		source_error_set(&s->err, E_BAD_SOURCE, "cannot read folder '%s'", nd->root);
		return -1;
	}
	struct dir_frame top = {st.st_dev, st.st_ino, NULL};
	int rc = walk_dir(&w, nd->rootfd, "", 0, &top);
	return rc < 0 ? -1 : 0;
}

/* Opens key below the root without following any link. */
static int open_nofollow(struct nd_source *nd, const char *key)
{
	char *copy = strdup(key);
	int fd = -1, dirfd = -1;
	if (!copy)
		return -1;
	dirfd = dup(nd->rootfd);
	char *part = copy, *slash;
	while (dirfd >= 0 && (slash = strchr(part, '/')) != NULL) {
		*slash = 0;
		int next = openat(dirfd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(dirfd);
		dirfd = next;
		part = slash + 1;
	}
	if (dirfd >= 0) {
		fd = openat(dirfd, part, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		close(dirfd);
	}
	free(copy);
	return fd;
}

/* Opens key through links, provided the file resolves below the roots. */
static int open_following(struct nd_source *nd, const char *key)
{
	char path[PATH_MAX * 2], real[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", nd->root, key);
	if (!realpath(path, real))
		return -1;
	if (!resolved_below_roots(nd->roots, real)) {
		errno = EXDEV;
		return -1;
	}
	return open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
}

static int read_whole(int fd, size_t size, void **data)
{
	char *buf = malloc(size ? size : 1);
	size_t got = 0;
	if (!buf)
		return -1;
	while (got < size) {
		ssize_t r = read(fd, buf + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got != size) {
		free(buf);
		errno = EIO;
		return -1;
	}
	*data = buf;
	return 0;
}

static int nd_fetch(struct source *s, const char *key, void **data, size_t *len)
{
	struct nd_source *nd = nd_of(s);
	struct stat st;
	int fd = -1, rc = -1;
	if (!source_relative_name_safe(key)) {
		source_error_set(&s->err, E_BAD_SOURCE, "file name '%s' is not allowed", key);
		return -1;
	}
	fd = nd->follow_links ? open_following(nd, key) : open_nofollow(nd, key);
	if (fd < 0) {
		if (errno == EXDEV)
			source_error_set(&s->err, E_BAD_SOURCE, "file '%s' is a link leading outside the allowed folders",
					 key);
		else if (errno == ELOOP)
			source_error_set(&s->err, E_BAD_SOURCE, "file '%s' is reached through a link (follow_links is off)",
					 key);
		else
			source_error_set(&s->err, E_BAD_SOURCE, "cannot open file '%s': %s", key, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		source_error_set(&s->err, E_BAD_SOURCE, "file '%s' is not a regular file", key);
		goto out;
	}
	if ((unsigned long long)st.st_size > s->limits.max_file_bytes) {
		source_error_set(&s->err, E_IMAGE, "file '%s' is larger than %zu bytes", key, s->limits.max_file_bytes);
		goto out;
	}
	if (read_whole(fd, (size_t)st.st_size, data)) {
		source_error_set(&s->err, E_BAD_SOURCE, "cannot read file '%s': %s", key, strerror(errno));
		goto out;
	}
	*len = (size_t)st.st_size;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

static char *nd_origin(struct source *s, const char *key)
{
	char *out = NULL;
	if (asprintf(&out, "%s/%s", nd_of(s)->root, key) < 0)
		return NULL;
	return out;
}

static void nd_close(struct source *s)
{
	struct nd_source *nd = nd_of(s);
	if (nd->rootfd >= 0)
		close(nd->rootfd);
	free(nd->roots);
	free(nd->prefix);
	free(nd->postfix);
	free(nd);
}

static const struct source_ops nd_ops = {
	.type = "network_disk",
	.list = nd_list,
	.fetch = nd_fetch,
	.origin = nd_origin,
	.close = nd_close,
};

struct source *source_network_disk_open(const char *roots, const char *path, const struct source_filter *f,
					int follow_links, const struct source_limits *limits,
					struct source_error *err)
{
	struct nd_source *nd = NULL;
	if (source_network_disk_check(roots, path, err))
		return NULL;
	nd = calloc(1, sizeof(*nd));
	if (!nd)
		goto oom;
	nd->base.ops = &nd_ops;
	nd->base.limits = *limits;
	nd->rootfd = -1;
	nd->follow_links = follow_links;
	nd->roots = strdup(roots);
	nd->prefix = strdup(f->prefix ? f->prefix : "");
	nd->postfix = strdup(f->postfix ? f->postfix : "");
	if (!nd->roots || !nd->prefix || !nd->postfix)
		goto oom;
	nd->filter = (struct source_filter){nd->prefix, nd->postfix, f->recursive};
	if (!realpath(path, nd->root)) {
		source_error_set(err, E_BAD_SOURCE, "network disk path '%s' is not accessible", path);
		goto fail;
	}
	nd->rootfd = open(nd->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (nd->rootfd < 0) {
		source_error_set(err, E_BAD_SOURCE, "cannot open folder '%s': %s", path, strerror(errno));
		goto fail;
	}
	return &nd->base;
oom:
	source_error_set(err, E_INTERNAL, "out of memory");
fail:
	if (nd)
		nd_close(&nd->base);
	return NULL;
}
