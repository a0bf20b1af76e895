/* FTP source: the files below `path` on an FTP server, walked with the
 * spec's prefix/postfix/recursive rules (see sources.h), listed with MLSD
 * (or LIST in the Unix format where MLSD is missing) and fetched by RETR
 * through libcurl. Names are relative to `path`; links are not followed.
 *
 * `max_sessions` bounds the connections this process holds to one server
 * (host, port, user) at once: every open source holds one session and
 * waits for a free one when the bound is reached. Credentials come from
 * `authorization`, else from `reference`, else anonymous.
 *
 * Workload: folders of up to a million files listed once per task; files
 * fetched by the subtasks' threads, one source (one session) per thread. */
#include "backends/http_client.h"
#include "backends/sources.h"
#include "common/errors.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_SERVERS 64

/* ---- Sessions per server (process-wide) ---------------------------------------- */

struct server_slots {
	char key[600];
	int in_use;
};

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slots_free = PTHREAD_COND_INITIALIZER;
static struct server_slots slots[MAX_SERVERS];

static struct server_slots *find_slot(const char *key)
{
	struct server_slots *empty = NULL;
	for (int i = 0; i < MAX_SERVERS; i++) {
		if (strcmp(slots[i].key, key) == 0)
			return &slots[i];
		if (!empty && slots[i].in_use == 0)
			empty = &slots[i];
	}
	if (empty)
		snprintf(empty->key, sizeof(empty->key), "%s", key);
	return empty;
}

static void acquire_session(const char *key, int max)
{
	pthread_mutex_lock(&slots_lock);
	struct server_slots *s;
	while (!(s = find_slot(key)) || s->in_use >= max)
		pthread_cond_wait(&slots_free, &slots_lock);
	s->in_use++;
	pthread_mutex_unlock(&slots_lock);
}

static void release_session(const char *key)
{
	pthread_mutex_lock(&slots_lock);
	for (int i = 0; i < MAX_SERVERS; i++)
		if (strcmp(slots[i].key, key) == 0 && slots[i].in_use > 0) {
			slots[i].in_use--;
			break;
		}
	pthread_cond_broadcast(&slots_free);
	pthread_mutex_unlock(&slots_lock);
}

/* ---- The source ------------------------------------------------------------------ */

struct ftp_source {
	struct source base;
	struct http_conn *conn;
	char base_url[700];     /* ftp://host:port/path/ (encoded, ends with '/') */
	char userpwd[600];
	char server_key[600];
	char *allow;            /* the outbound policy */
	int holds_session;
	struct source_filter filter;
	char *prefix, *postfix;
	size_t listed;
};

static struct ftp_source *fs_of(struct source *s)
{
	return (struct ftp_source *)s;
}

/* URL of a relative name (a folder when it ends with '/'); malloc'd. */
static char *url_of(struct ftp_source *fs, const char *rel)
{
	char *enc = http_uri_encode(rel, 1);
	char *url = NULL;
	if (enc && asprintf(&url, "%s%s", fs->base_url, enc) < 0)
		url = NULL;
	free(enc);
	return url;
}

/* One folder listing: MLSD, or LIST when the server has no MLSD. */
static int fetch_listing(struct ftp_source *fs, const char *url, int mlsd, struct http_response *resp,
			 struct http_error *he)
{
	struct http_request rq = {
		.method = mlsd ? "MLSD" : "GET", .url = url, .userpwd = fs->userpwd, .timeout_s = fs->base.limits.ftp_timeout_s,
		.protocols = "ftp,ftps", .max_body = (size_t)64 << 20, .cancel = fs->base.cancel, .allow = fs->allow,
	};
	return http_perform(fs->conn, &rq, resp, he);
}

enum entry_kind { ENTRY_OTHER, ENTRY_FILE, ENTRY_DIR };

/* "type=file;size=1;modify=…; name" → kind and name (points into line). */
static enum entry_kind parse_mlsd(char *line, char **name)
{
	char *sp = strchr(line, ' ');
	if (!sp)
		return ENTRY_OTHER;
	*sp = 0;
	*name = sp + 1;
	enum entry_kind kind = ENTRY_OTHER;
	char *save = NULL;
	for (char *fact = strtok_r(line, ";", &save); fact; fact = strtok_r(NULL, ";", &save)) {
		if (strcasecmp(fact, "type=file") == 0)
			kind = ENTRY_FILE;
		else if (strcasecmp(fact, "type=dir") == 0)
			kind = ENTRY_DIR;
	}
	return kind;
}

/* "drwxr-xr-x 1 owner group 0 Jan 01 00:00 name" → kind and name. */
static enum entry_kind parse_unix_list(char *line, char **name)
{
	char *p = line;
	if (!(line[0] == '-' || line[0] == 'd'))
		return ENTRY_OTHER;   /* links and devices are not followed */
	for (int field = 0; field < 8; field++) {
		while (*p && *p != ' ')
			p++;
		while (*p == ' ')
			p++;
		if (!*p)
			return ENTRY_OTHER;
	}
	*name = p;
	return line[0] == 'd' ? ENTRY_DIR : ENTRY_FILE;
}

struct walk {
	struct ftp_source *fs;
	source_item_cb cb;
	void *ud;
};

static int walk_dir(struct walk *w, const char *rel, unsigned depth);

static int handle_entry(struct walk *w, const char *rel, enum entry_kind kind, const char *name, unsigned depth)
{
	struct ftp_source *fs = w->fs;
	char *child = NULL;
	int rc = 0;
	if (kind == ENTRY_OTHER || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strchr(name, '/'))
		return 0;
	if (asprintf(&child, "%s%s%s", rel, rel[0] ? "/" : "", name) < 0) {
		source_error_set(&fs->base.err, E_INTERNAL, "out of memory");
		return -1;
	}
	if (!source_relative_name_safe(child))
		goto out;
	if (kind == ENTRY_DIR) {
		if (source_dir_may_match(&fs->filter, child))
			rc = walk_dir(w, child, depth + 1);
		goto out;
	}
	if (!source_name_selected(&fs->filter, child))
		goto out;
	if (++fs->listed > fs->base.limits.max_files) {
		source_error_set(&fs->base.err, E_BAD_SOURCE, "FTP folder has more than %zu files",
				 fs->base.limits.max_files);
		rc = -1;
		goto out;
	}
	rc = w->cb(w->ud, child, child) ? 1 : 0;
out:
	free(child);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_dir(struct walk *w, const char *rel, unsigned depth)
{
	struct ftp_source *fs = w->fs;
	struct http_response resp = {0};
	struct http_error he = {0};
	char *url = NULL, **lines = NULL;
	size_t n = 0, cap = 0;
	int rc = -1, mlsd = 1;
	if (depth > fs->base.limits.max_depth)
		return 0;
	char *dir = NULL;
	if (asprintf(&dir, "%s%s", rel, rel[0] ? "/" : "") < 0 || !(url = url_of(fs, dir))) {
		source_error_set(&fs->base.err, E_INTERNAL, "out of memory");
		goto out;
	}
	if (fetch_listing(fs, url, 1, &resp, &he)) {
		mlsd = 0;
		if (fetch_listing(fs, url, 0, &resp, &he)) {
			source_error_set(&fs->base.err, he.code == E_TASK_CANCELLED ? E_TASK_CANCELLED : E_BAD_SOURCE,
					 "cannot list FTP folder '/%s': %s", dir, he.detail);
			goto out;
		}
	}
	/* Sorted entries give a stable order whatever the server sends. */
	for (char *save = NULL, *line = strtok_r(resp.body, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nl = realloc(lines, cap * sizeof(*lines));
			if (!nl) {
				source_error_set(&fs->base.err, E_INTERNAL, "out of memory");
				goto out;
			}
			lines = nl;
		}
		char *name = NULL;
		enum entry_kind kind = mlsd ? parse_mlsd(line, &name) : parse_unix_list(line, &name);
		if (kind == ENTRY_OTHER || !name)
			continue;
		name[-1] = kind == ENTRY_DIR ? 'd' : 'f';   /* keep the kind just before the name */
		lines[n++] = name - 1;
	}
	qsort(lines, n, sizeof(*lines), name_cmp);
	rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = handle_entry(w, rel, lines[i][0] == 'd' ? ENTRY_DIR : ENTRY_FILE, lines[i] + 1, depth);
out:
	free(lines);
	free(url);
	free(dir);
	http_response_free(&resp);
	return rc;
}

static int fs_list(struct source *s, source_item_cb cb, void *ud)
{
	struct walk w = {fs_of(s), cb, ud};
	fs_of(s)->listed = 0;
	return walk_dir(&w, "", 0) < 0 ? -1 : 0;
}

static int fs_fetch(struct source *s, const char *key, void **data, size_t *len)
{
	struct ftp_source *fs = fs_of(s);
	struct http_response resp = {0};
	struct http_error he = {0};
	if (!source_relative_name_safe(key)) {
		source_error_set(&s->err, E_BAD_SOURCE, "file name '%s' is not allowed", key);
		return -1;
	}
	char *url = url_of(fs, key);
	if (!url) {
		source_error_set(&s->err, E_INTERNAL, "out of memory");
		return -1;
	}
	struct http_request rq = {
		.method = "GET", .url = url, .userpwd = fs->userpwd, .timeout_s = s->limits.ftp_timeout_s,
		.protocols = "ftp,ftps", .max_body = s->limits.max_file_bytes, .cancel = s->cancel, .allow = fs->allow,
	};
	int rc = http_perform(fs->conn, &rq, &resp, &he);
	free(url);
	if (rc) {
		if (strstr(he.detail, "larger than"))
			source_error_set(&s->err, E_IMAGE, "file '%s' is larger than %zu bytes", key, s->limits.max_file_bytes);
		else
			source_error_set(&s->err, E_BAD_SOURCE, "cannot read FTP file '%s': %s", key, he.detail);
		return -1;
	}
	*data = resp.body;
	*len = resp.len;
	return 0;
}

static void fs_close(struct source *s)
{
	struct ftp_source *fs = fs_of(s);
	http_conn_free(fs->conn);
	if (fs->holds_session)
		release_session(fs->server_key);
	memset(fs->userpwd, 0, sizeof(fs->userpwd));
	free(fs->prefix);
	free(fs->postfix);
	free(fs->allow);
	free(fs);
}

static const struct source_ops ftp_ops = {
	.type = "ftp",
	.list = fs_list,
	.fetch = fs_fetch,
	.origin = NULL,
	.close = fs_close,
};

/* user:password for curl, with ':' in the user refused (curl would split there). */
static int make_userpwd(json_object *source, char *out, size_t len, const char **user_out)
{
	json_object *ref = source_json_obj(source, "reference"), *auth = source_json_obj(source, "authorization");
	const char *user = source_json_str(auth, "user"), *pass = source_json_str(auth, "password");
	if (!user)
		user = source_json_str(ref, "user"), pass = source_json_str(ref, "password");
	if (!user)
		user = "anonymous";
	if (!pass)
		pass = "anonymous";
	*user_out = user;
	if (strchr(user, ':') || (size_t)snprintf(out, len, "%s:%s", user, pass) >= len)
		return -1;
	return 0;
}

struct source *source_ftp_open(const struct luna_config *cfg, json_object *source, const struct source_limits *limits,
			       struct source_error *err)
{
	json_object *ref = source_json_obj(source, "reference");
	const char *host = source_json_str(ref, "host"), *path = source_json_str(ref, "path"), *user = NULL;
	long long port = source_json_int(ref, "port", 21), max_sessions = source_json_int(ref, "max_sessions", 8);
	struct ftp_source *fs = calloc(1, sizeof(*fs));
	if (!fs) {
		source_error_set(err, E_INTERNAL, "out of memory");
		return NULL;
	}
	fs->base.ops = &ftp_ops;
	fs->base.limits = *limits;
	fs->prefix = strdup(source_json_str(ref, "prefix") ? source_json_str(ref, "prefix") : "");
	fs->postfix = strdup(source_json_str(ref, "postfix") ? source_json_str(ref, "postfix") : "");
	fs->filter = (struct source_filter){fs->prefix, fs->postfix, source_json_bool(source, "recursive", 1)};
	fs->allow = strdup(cfg->outbound_allow);
	if (!fs->prefix || !fs->postfix || !fs->allow || !(fs->conn = http_conn_new())) {
		source_error_set(err, E_INTERNAL, "out of memory");
		goto fail;
	}
	if (!host || !host[0] || strpbrk(host, "/@?# ") || port < 1 || port > 65535) {
		source_error_set(err, E_BAD_SOURCE, "ftp source: bad host or port");
		goto fail;
	}
	if (make_userpwd(source, fs->userpwd, sizeof(fs->userpwd), &user)) {
		source_error_set(err, E_BAD_SOURCE, "ftp source: bad user");
		goto fail;
	}
	while (path && *path == '/')
		path++;
	char *enc = http_uri_encode(path ? path : "", 1);
	if (!enc) {
		source_error_set(err, E_INTERNAL, "out of memory");
		goto fail;
	}
	size_t el = strlen(enc);
	snprintf(fs->base_url, sizeof(fs->base_url), "ftp://%s:%lld/%s%s", host, port, enc,
		 el && enc[el - 1] != '/' ? "/" : "");
	free(enc);
	snprintf(fs->server_key, sizeof(fs->server_key), "%s:%lld:%s", host, port, user);
	acquire_session(fs->server_key, max_sessions > 0 ? (int)max_sessions : 1);
	fs->holds_session = 1;
	return &fs->base;
fail:
	fs_close(&fs->base);
	return NULL;
}
