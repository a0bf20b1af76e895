/*
 * test_storage.c - unit test of the local result store (src/backends):
 * put/get/open_read/del round trips, put_file (same and other file system),
 * id validation (nothing may escape the directory), overwrites, missing
 * blobs, the healthcheck probe, storage_open's backend selection, and
 * concurrent writers of one id (a reader always sees a whole blob), and
 * the streamed concatenation of partial results (task_store_concat_result)
 * giving the same bytes as the document built in memory.
 *
 * Workload: a temporary directory under $TMPDIR, blobs up to 3 MB; runs in
 * well under a second. Prints one line per failed check and finally
 * "N passed, M failed"; exits nonzero on failure.
 */
#include "backends/storage.h"
#include "backends/storage_local.h"
#include "common/config.h"
#include "check.h"
#include "tasks/task_util.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[512];

static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[1024];
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		struct stat sb;
		if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
			remove_tree(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* Entries of dir other than "." and "..". */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static struct storage *open_store(const char *sub)
{
	char dir[1024], err[256] = "";
	snprintf(dir, sizeof(dir), "%s/%s", root, sub);
	struct storage *st = storage_local_open(dir, err, sizeof(err));
	CHECK(st != NULL, "open %s: %s", dir, err);
	return st;
}

static void test_ids(void)
{
	const char *good[] = {"3f2504e0-4f89-41d3-9a0c-0305e82c3301", "a", "sample_1.jpg", "A-b.c_d", NULL};
	const char *bad[] = {"", ".", "..", "../x", "a/b", "/etc/passwd", ".hidden", "-rf", "_x", "a b",
			     "a\nb", "x\\y", "é", NULL};
	for (int i = 0; good[i]; i++)
		CHECK(storage_id_valid(good[i]), "'%s' should be valid", good[i]);
	for (int i = 0; bad[i]; i++)
		CHECK(!storage_id_valid(bad[i]), "'%s' should be invalid", bad[i]);
	char longid[200];
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	CHECK(!storage_id_valid(longid), "a 199-char id should be invalid");
	longid[128] = '\0';
	CHECK(storage_id_valid(longid), "a 128-char id should be valid");
	CHECK(!storage_id_valid(NULL), "NULL should be invalid");
}

static void test_round_trip(void)
{
	struct storage *st = open_store("rt/nested/dir");
	if (!st)
		return;
	const char *id = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
	const char text[] = "{\"a\": [1, 2, 3]}";
	CHECK(st->ops->put(st, id, text, strlen(text)) == 0, "put: %s", strerror(errno));
	void *data = NULL;
	size_t len = 0;
	CHECK(st->ops->get(st, id, &data, &len) == 0, "get: %s", strerror(errno));
	CHECK(len == strlen(text) && data && memcmp(data, text, len) == 0 && ((char *)data)[len] == '\0',
	      "get returns what was put");
	free(data);

	const char other[] = "second version";
	CHECK(st->ops->put(st, id, other, strlen(other)) == 0, "overwrite");
	FILE *f = NULL;
	CHECK(st->ops->open_read(st, id, &f, &len) == 0 && f, "open_read: %s", strerror(errno));
	if (f) {
		char buf[64] = "";
		size_t n = fread(buf, 1, sizeof(buf), f);
		CHECK(n == strlen(other) && len == n && memcmp(buf, other, n) == 0, "open_read content");
		fclose(f);
	}

	CHECK(st->ops->put(st, "empty", "", 0) == 0, "empty blob");
	data = NULL;
	CHECK(st->ops->get(st, "empty", &data, &len) == 0 && len == 0, "get empty blob");
	free(data);

	CHECK(st->ops->del(st, id) == 0, "del");
	CHECK(st->ops->del(st, id) == 0, "del of a missing blob is not an error");
	errno = 0;
	CHECK(st->ops->get(st, id, &data, &len) == -1 && errno == ENOENT, "get after del: ENOENT");
	errno = 0;
	CHECK(st->ops->open_read(st, "nope", &f, &len) == -1 && errno == ENOENT, "open_read missing: ENOENT");
	CHECK(st->ops->del(st, "empty") == 0, "del empty");

	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/rt/nested/dir", root);
	CHECK(count_entries(dir) == 0, "no temporary files left behind (%d entries)", count_entries(dir));
	char err[256] = "";
	CHECK(st->ops->check(st, err, sizeof(err)) == 0, "check: %s", err);
	CHECK(count_entries(dir) == 0, "the check leaves nothing behind");
	storage_close(st);
}

static void test_escape(void)
{
	struct storage *st = open_store("esc/inner");
	if (!st)
		return;
	char outside[1024];
	snprintf(outside, sizeof(outside), "%s/esc/secret", root);
	FILE *f = fopen(outside, "w");
	if (f) {
		fputs("secret", f);
		fclose(f);
	}
	void *data = NULL;
	size_t len = 0;
	errno = 0;
	CHECK(st->ops->get(st, "../secret", &data, &len) == -1 && errno == EINVAL, "get ../secret refused");
	CHECK(st->ops->put(st, "../evil", "x", 1) == -1 && errno == EINVAL, "put ../evil refused");
	CHECK(st->ops->del(st, "../secret") == -1, "del ../secret refused");
	CHECK(access(outside, F_OK) == 0, "the file outside is still there");
	char evil[1024];
	snprintf(evil, sizeof(evil), "%s/esc/evil", root);
	CHECK(access(evil, F_OK) != 0, "nothing written outside");

	/* A symlink planted inside the store is not followed. */
	char link[1024];
	snprintf(link, sizeof(link), "%s/esc/inner/planted", root);
	CHECK(symlink(outside, link) == 0, "symlink: %s", strerror(errno));
	CHECK(st->ops->get(st, "planted", &data, &len) == -1, "a symlink is not followed");
	storage_close(st);
}

static void test_put_file(void)
{
	struct storage *st = open_store("pf");
	if (!st)
		return;
	char src[1024];
	snprintf(src, sizeof(src), "%s/upload.tmp", root);
	size_t big = 3u << 20;
	char *buf = malloc(big);
	for (size_t i = 0; i < big; i++)
		buf[i] = (char)(i * 7 + 3);
	FILE *f = fopen(src, "wb");
	CHECK(f && fwrite(buf, 1, big, f) == big, "write source");
	if (f)
		fclose(f);
	CHECK(st->ops->put_file(st, "moved", src) == 0, "put_file: %s", strerror(errno));
	CHECK(access(src, F_OK) != 0, "the source is moved in");
	void *data = NULL;
	size_t len = 0;
	CHECK(st->ops->get(st, "moved", &data, &len) == 0 && len == big && memcmp(data, buf, big) == 0,
	      "put_file content");
	free(data);

	/* From another file system (/dev/shm is tmpfs when present): copied, source removed. */
	char shm[256];
	snprintf(shm, sizeof(shm), "/dev/shm/luna-test-storage-%d", (int)getpid());
	f = fopen(shm, "wb");
	if (f) {
		fwrite(buf, 1, 1000, f);
		fclose(f);
		CHECK(st->ops->put_file(st, "copied", shm) == 0, "put_file across file systems: %s", strerror(errno));
		CHECK(access(shm, F_OK) != 0, "the other-fs source is removed");
		data = NULL;
		CHECK(st->ops->get(st, "copied", &data, &len) == 0 && len == 1000 && memcmp(data, buf, 1000) == 0,
		      "copied content");
		free(data);
	}

	f = fopen(src, "wb");
	if (f)
		fclose(f);
	CHECK(st->ops->put_file(st, "../x", src) == -1, "put_file with a bad id fails");
	CHECK(access(src, F_OK) != 0, "put_file owns the path even when it fails");
	free(buf);
	storage_close(st);
}

struct writer_arg {
	struct storage *st;
	char fill;
	int rounds;
};

static void *writer(void *p)
{
	struct writer_arg *w = p;
	size_t n = 200000;
	char *buf = malloc(n);
	memset(buf, w->fill, n);
	for (int i = 0; i < w->rounds; i++)
		w->st->ops->put(w->st, "contended", buf, n);
	free(buf);
	return NULL;
}

/* Readers never see a torn blob while two writers replace it. */
static void test_concurrent(void)
{
	struct storage *st = open_store("cc");
	if (!st)
		return;
	struct writer_arg a = {st, 'a', 20}, b = {st, 'b', 20};
	pthread_t ta, tb;
	pthread_create(&ta, NULL, writer, &a);
	pthread_create(&tb, NULL, writer, &b);
	int torn = 0, reads = 0;
	for (int i = 0; i < 200; i++) {
		void *data = NULL;
		size_t len = 0;
		if (st->ops->get(st, "contended", &data, &len) == 0) {
			reads++;
			const char *c = data;
			if (len != 200000)
				torn++;
			else
				for (size_t k = 1; k < len; k++)
					if (c[k] != c[0]) {
						torn++;
						break;
					}
		}
		free(data);
	}
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	CHECK(torn == 0, "%d of %d reads saw a torn blob", torn, reads);
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/cc", root);
	CHECK(count_entries(dir) == 1, "one blob and no temporary files (%d entries)", count_entries(dir));
	storage_close(st);
}

static void test_open_by_config(void)
{
	struct luna_config cfg;
	char err[256] = "";
	CHECK(config_load(&cfg, NULL, err, sizeof(err)) == 0, "defaults: %s", err);
	snprintf(cfg.storage_path, sizeof(cfg.storage_path), "%s/cfg", root);
	snprintf(cfg.storage_backend, sizeof(cfg.storage_backend), "local");
	struct storage *st = storage_open(&cfg, err, sizeof(err));
	CHECK(st && strcmp(st->ops->name, "local") == 0, "local by config: %s", err);
	storage_close(st);

	snprintf(cfg.storage_backend, sizeof(cfg.storage_backend), "s3");
	err[0] = '\0';
	CHECK(storage_open(&cfg, err, sizeof(err)) == NULL && strstr(err, "endpoint"),
	      "s3 without an endpoint answers a clear error: %s", err);
	snprintf(cfg.storage_backend, sizeof(cfg.storage_backend), "ftp");
	err[0] = '\0';
	CHECK(storage_open(&cfg, err, sizeof(err)) == NULL && strstr(err, "unknown"), "unknown backend: %s", err);

	snprintf(cfg.storage_backend, sizeof(cfg.storage_backend), "local");
	snprintf(cfg.storage_path, sizeof(cfg.storage_path), "/proc/version/store");
	err[0] = '\0';
	CHECK(storage_open(&cfg, err, sizeof(err)) == NULL && err[0], "an unusable directory: %s", err);
}

/* Partials as the estimator leaves them (one failed subtask, an empty one):
 * streamed into the store, the result has the bytes of the in-memory document. */
static void test_concat_result(void)
{
	struct storage *st = open_store("concat");
	if (!st)
		return;
	static const char *const parts[] = {
		"[{\"filename\":\"a/b.jpg\",\"result\":{\"x\":0.1234567,\"y\":[1,null,\"\\u00e9\"]},\"errors\":[]}]",
		NULL,
		"[]",
		"[{\"filename\":\"c.png\",\"result\":null,\"errors\":[{\"error_code\":28106}]},{\"n\":1e300}]",
	};
	json_object *ids = json_object_new_array(), *partials = json_object_new_array();
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		char id[64];
		snprintf(id, sizeof(id), "3f2504e0-4f89-41d3-9a0c-0305e82c34%02zu", i);
		if (parts[i])
			CHECK(st->ops->put(st, id, parts[i], strlen(parts[i])) == 0);
		json_object_array_add(ids, parts[i] ? json_object_new_string(id) : NULL);
		json_object_array_add(partials, parts[i] ? json_tokener_parse(parts[i]) : NULL);
	}
	struct luna_config cfg;
	char err[256];
	CHECK(config_load(&cfg, NULL, err, sizeof(err)) == 0);
	struct task_ctx ctx = {.cfg = &cfg, .store = st, .result_id = "3f2504e0-4f89-41d3-9a0c-0305e82c3499"};
	struct task_fail fail = {0};
	CHECK(task_store_concat_result(&ctx, ids, &fail) == 0, "%s", fail.detail);
	json_object *doc = task_result_document(&ctx, task_json_concat(partials, NULL), &fail);
	const char *want = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
	void *got = NULL;
	size_t len = 0;
	CHECK(st->ops->get(st, ctx.result_id, &got, &len) == 0);
	CHECK(got && len == strlen(want) && memcmp(got, want, len) == 0, "got %.*s\nwant %s", (int)len,
	      got ? (char *)got : "", want);
	free(got);
	/* The same partials as the worker stores them (json-c's plain rendering),
	 * copied as text: the same bytes again. */
	json_object *stored_ids = json_object_new_array();
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		char id[64];
		json_object *part = json_object_array_get_idx(partials, i);
		snprintf(id, sizeof(id), "3f2504e0-4f89-41d3-9a0c-0305e82c35%02zu", i);
		if (part) {
			const char *text = json_object_to_json_string_ext(part, JSON_C_TO_STRING_PLAIN);
			CHECK(st->ops->put(st, id, text, strlen(text)) == 0);
		}
		json_object_array_add(stored_ids, part ? json_object_new_string(id) : NULL);
	}
	ctx.result_id = "3f2504e0-4f89-41d3-9a0c-0305e82c3599";
	CHECK(task_store_concat_stored_result(&ctx, stored_ids, &fail) == 0, "%s", fail.detail);
	got = NULL;
	CHECK(st->ops->get(st, ctx.result_id, &got, &len) == 0);
	CHECK(got && len == strlen(want) && memcmp(got, want, len) == 0, "stored partials: got %.*s\nwant %s",
	      (int)len, got ? (char *)got : "", want);
	free(got);
	json_object_put(stored_ids);
	json_object_put(doc);
	json_object_put(partials);
	json_object_put(ids);
	storage_close(st);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(root, sizeof(root), "%s/luna-test-storage-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	test_ids();
	test_round_trip();
	test_escape();
	test_put_file();
	test_concurrent();
	test_open_by_config();
	test_concat_result();
	remove_tree(root);
	return CHECK_DONE();
}
