/* Helpers shared by the objects-reading task types: content access with
 * defaults, failure mapping, the {result, errors} document of a task result
 * (errors asked of the host at collect time) and the merging of
 * partial results.
 * Workload: once per hook call; the error read is bounded by MAX_ERRORS. */
#include "tasks/task_util.h"
#include "common/json_path.h"
#include "backends/storage.h"
#include "common/big_alloc.h"
#include "common/errors.h"
#include "common/fmt.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

json_object *task_json_get(json_object *obj, const char *key)
{
	json_object *v = NULL;
	if (!obj || !json_object_is_type(obj, json_type_object) || !json_object_object_get_ex(obj, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

const char *task_json_str(json_object *obj, const char *key, const char *def)
{
	json_object *v = task_json_get(obj, key);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : def;
}

long long task_json_int(json_object *obj, const char *key, long long def)
{
	json_object *v = task_json_get(obj, key);
	if (v && (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_boolean)))
		return json_object_get_int64(v);
	return def;
}

double task_json_double(json_object *obj, const char *key, double def)
{
	json_object *v = task_json_get(obj, key);
	if (v && (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
		return json_object_get_double(v);
	return def;
}

/* Depth-first walk; path holds the JSON path of v ("content…"), printed only for the error. */
static int check_accounts(const char *account_id, json_object *v, struct json_path *path, struct task_fail *fail)
{
	int rc = 0;
	if (path->depth > 64)
		return 0;   /* deeper than the parser allows; nothing of the spec lives there */
	if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, key, val) {
			json_path_push_key(path, key);
			if (strcmp(key, "account_id") == 0 && val && !json_object_is_type(val, json_type_null) &&
			    (!json_object_is_type(val, json_type_string) ||
			     strcmp(json_object_get_string(val), account_id) != 0)) {
				char text[512];
				json_path_text(path, text, sizeof(text));
				task_fail(fail, E_BAD_JSON,
					  "Failed to validate input json. Path: '%s', message: '%s must equal the "
					  "account_id of the task'",
					  text, text);
				return -1;
			}
			rc = check_accounts(account_id, val, path, fail);
			json_path_pop(path);
			if (rc)
				return rc;
		}
	} else if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v) && !rc; i++) {
			json_path_push_index(path, i);
			rc = check_accounts(account_id, json_object_array_get_idx(v, i), path, fail);
			json_path_pop(path);
		}
	}
	return rc;
}

int task_check_content_accounts(const char *account_id, json_object *content, struct task_fail *fail)
{
	struct json_path path;
	if (!account_id)
		return 0;
	json_path_init(&path, "content");
	return check_accounts(account_id, content, &path, fail);
}

const char *task_account(const struct task_ctx *ctx, json_object *filters)
{
	return ctx->account_id ? ctx->account_id : task_json_str(filters, "account_id", NULL);
}

int task_require_objects(struct task_ctx *ctx, struct task_fail *fail)
{
	if (ctx->objects)
		return 0;
	task_fail(fail, E_DB, "the objects backend is not available");
	return -1;
}

int task_objects_fail(struct task_ctx *ctx, struct task_fail *fail, const char *what)
{
	if (objects_error_is_input(ctx->objects))
		task_fail(fail, E_BAD_JSON, "%s: %s", what, objects_error(ctx->objects));
	else
		task_fail(fail, E_DB, "%s: %s", what, objects_error(ctx->objects));
	return -1;
}

int task_check_cancelled(struct task_ctx *ctx, struct task_fail *fail)
{
	if (!ctx->cancelled || !atomic_load(ctx->cancelled))
		return 0;
	task_fail_set(fail, 400, E_TASK_CANCELLED, E_TASK_CANCELLED_DETAIL, ctx->task_id);
	return -1;
}

enum descriptor_type task_descriptor_type(json_object *descriptor_info)
{
	enum descriptor_type t = descriptor_type_from_name(task_json_str(descriptor_info, "type", "face"));
	return t ? t : DESCRIPTOR_FACE;
}

json_object *task_result_document(struct task_ctx *ctx, json_object *result, struct task_fail *fail)
{
	json_object *errors = task_errors_json(ctx);
	if (!errors) {
		task_fail(fail, E_DB, "cannot read the task errors: %s",
			  ctx->tasks_db ? db_error(ctx->tasks_db) : "no tasks database");
		json_object_put(result);
		return NULL;
	}
	json_object *doc = json_object_new_object();
	if (result)
		json_object_object_add(doc, "result", result);
	json_object_object_add(doc, "errors", errors);
	return doc;
}

static double clamp_similarity(double sim)
{
	return sim < 0 ? 0 : sim > 1 ? 1 : sim;
}

/* "%.6f" of sim in [0, 1] into buf; returns the length. A float's value
 * times 10^6 is exact in a double (24 + 20 bits), so rounding it to the
 * nearest integer, ties to even, rounds as printf does; printf itself, slow
 * in these processes (common/fmt.h), is left for other doubles. */
static size_t similarity_text(double sim, char buf[32])
{
	if ((double)(float)sim != sim)
		return (size_t)snprintf(buf, 32, "%.6f", sim);
	long long micro = (long long)nearbyint(sim * 1e6);
	char *p = fmt_dec(buf, micro / 1000000, 1);
	*p++ = '.';
	p = fmt_dec(p, micro % 1000000, 6);
	*p = 0;
	return (size_t)(p - buf);
}

json_object *task_json_similarity(double sim)
{
	char buf[32];
	sim = clamp_similarity(sim);
	similarity_text(sim, buf);
	return json_object_new_double_s(sim, buf);
}

void task_text_similarity(struct printbuf *pb, double sim)
{
	char buf[32];
	size_t len = similarity_text(clamp_similarity(sim), buf);
	printbuf_memappend_fast(pb, buf, (int)len);
}

void task_text_string(struct printbuf *pb, const char *s)
{
	size_t len = strcspn(s, "\"/\\");
	int plain = s[len] == 0;
	for (size_t i = 0; plain && i < len; i++)
		plain = (unsigned char)s[i] >= 0x20;
	if (!plain) {   /* json-c's own escaping, whatever it does with these bytes */
		json_object *str = json_object_new_string(s);
		const char *text = json_object_to_json_string_ext(str, JSON_C_TO_STRING_PLAIN);
		printbuf_memappend(pb, text, (int)strlen(text));
		json_object_put(str);
		return;
	}
	printbuf_memappend_fast(pb, "\"", 1);
	printbuf_memappend_fast(pb, s, (int)len);
	printbuf_memappend_fast(pb, "\"", 1);
}

struct printbuf *task_printbuf_sized(size_t bytes)
{
	struct printbuf *pb = printbuf_new();
	char *mem = pb && bytes > (size_t)pb->size && bytes <= INT_MAX ? big_alloc(bytes) : NULL;
	if (mem) {   /* json-c's printbuf fields are its public interface */
		free(pb->buf);
		pb->buf = mem;
		pb->size = (int)bytes;
		pb->bpos = 0;
		mem[0] = 0;
	}
	return pb;
}

void task_printbuf_free_warm(struct printbuf *pb)
{
	if (!pb)
		return;
	big_free_warm(pb->buf);   /* frees it when printbuf grew it elsewhere */
	pb->buf = NULL;
	printbuf_free(pb);
}

static int text_to_json(json_object *o, struct printbuf *pb, int level, int flags)
{
	const struct printbuf *text = json_object_get_userdata(o);
	(void)level;
	(void)flags;
	return printbuf_memappend(pb, text->buf, text->bpos);
}

static void text_free(json_object *o, void *userdata)
{
	(void)o;
	printbuf_free(userdata);
}

json_object *task_json_text_array(struct printbuf *pb)
{
	json_object *o = json_object_new_array();
	if (!o) {
		printbuf_free(pb);
		return NULL;
	}
	json_object_set_serializer(o, text_to_json, pb, text_free);
	return o;
}

json_object *task_json_strings(char *const *items, size_t n)
{
	json_object *arr = json_object_new_array_ext((int)n);
	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, json_object_new_string(items[i]));
	return arr;
}

void task_json_append_all(json_object *dst, json_object *src)
{
	if (!src || !json_object_is_type(src, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(src); i++)
		json_object_array_add(dst, json_object_get(json_object_array_get_idx(src, i)));
}

json_object *task_json_concat(json_object *partials, const char *key)
{
	json_object *all = json_object_new_array();
	size_t n = partials ? json_object_array_length(partials) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *part = json_object_array_get_idx(partials, i);
		task_json_append_all(all, key ? task_json_get(part, key) : part);
	}
	return all;
}

int task_collect_single(struct task_ctx *ctx, json_object *partials, const char *what, json_object **result,
			struct task_fail *fail)
{
	json_object *part = json_object_array_length(partials) ? json_object_array_get_idx(partials, 0) : NULL;
	if (!part) {
		task_fail(fail, E_INTERNAL, "the %s subtask left no result", what);
		return -1;
	}
	*result = task_result_document(ctx, json_object_get(part), fail);
	return *result ? 0 : -1;
}

int task_temp_file(char *path, size_t len, const char *what)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	if ((size_t)snprintf(path, len, "%s/luna-tasks-%s-XXXXXX", dir, what) >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return mkstemp(path);
}

/* The text between the brackets of a partial that is one JSON array; NULL
 * when the text is not an array. */
static const char *array_items(const char *text, size_t len, size_t *n)
{
	if (len < 2 || text[0] != '[' || text[len - 1] != ']')
		return NULL;
	*n = len - 2;
	return text + 1;
}

int task_write_items_text(FILE *f, const char *text, size_t len, int *first)
{
	size_t nitems;
	const char *items = array_items(text, len, &nitems);
	if (!items)
		return -1;
	if (nitems && !*first)
		fputc(',', f);
	if (nitems)
		*first = 0;
	fwrite(items, 1, nitems, f);
	return 0;
}

/* Appends the elements of the partial stored under blob_id to f, each after
 * a comma but the very first (*first). as_stored: the partial is the
 * worker's rendering (JSON_C_TO_STRING_PLAIN), whose items are copied as
 * text: the bytes json-c would write again after parsing them. */
static int write_partial_items(struct task_ctx *ctx, const char *blob_id, int as_stored, FILE *f, int *first,
			       struct task_fail *fail)
{
	void *data = NULL;
	size_t len;
	if (ctx->store->ops->get(ctx->store, blob_id, &data, &len)) {
		task_fail(fail, E_STORAGE, "cannot read the partial result %s: %s", blob_id, strerror(errno));
		return -1;
	}
	if (as_stored && task_write_items_text(f, data, len, first) == 0) {
		free(data);
		return 0;
	}
	json_object *part = json_tokener_parse(data);
	free(data);
	if (!part) {
		task_fail(fail, E_STORAGE, "the partial result %s is not valid JSON", blob_id);
		return -1;
	}
	size_t n = json_object_is_type(part, json_type_array) ? json_object_array_length(part) : 0;
	for (size_t i = 0; i < n; i++) {
		if (!*first)
			fputc(',', f);
		*first = 0;
		fputs(json_object_to_json_string_ext(json_object_array_get_idx(part, i), JSON_C_TO_STRING_PLAIN), f);
	}
	json_object_put(part);
	return 0;
}

/* The items of every partial, in order. */
struct concat {
	json_object *partial_ids;
	int as_stored;
};

static int write_concat_items(struct task_ctx *ctx, void *ud, FILE *f, struct task_fail *fail)
{
	const struct concat *c = ud;
	int first = 1;
	for (size_t i = 0; i < json_object_array_length(c->partial_ids); i++) {
		json_object *id = json_object_array_get_idx(c->partial_ids, i);
		if (id && write_partial_items(ctx, json_object_get_string(id), c->as_stored, f, &first, fail))
			return -1;
		if (task_check_cancelled(ctx, fail))
			return -1;
	}
	return 0;
}

/* {"result":[items],"errors":[...]} into f. */
static int write_result(struct task_ctx *ctx, task_items_writer write_items, void *ud, FILE *f,
			struct task_fail *fail)
{
	fputs("{\"result\":[", f);
	if (write_items(ctx, ud, f, fail))
		return -1;
	json_object *doc = task_result_document(ctx, NULL, fail);
	if (!doc)
		return -1;
	fprintf(f, "],\"errors\":%s}",
		json_object_to_json_string_ext(json_object_object_get(doc, "errors"), JSON_C_TO_STRING_PLAIN));
	json_object_put(doc);
	return 0;
}

int task_store_result_items(struct task_ctx *ctx, task_items_writer write_items, void *ud, struct task_fail *fail)
{
	return task_store_document(ctx, ctx->result_id, write_items, ud, fail);
}

/* A result's temporary file whose pages start going to disk as each MiB is
 * written (SYNC_FILE_RANGE_WRITE starts the writeback and does not wait
 * for it), so that the fsync of the store's put_file waits for its last MiB
 * only: for a 9 MB cross match result 12-15 ms at the end of the task, on
 * the build machine, while the text was made on both cores. */
struct result_file {
	int fd;
	off_t written, flushed;
};

#define RESULT_WRITEBACK_STEP ((off_t)1 << 20)

static ssize_t result_file_write(void *cookie, const char *buf, size_t len)
{
	struct result_file *rf = cookie;
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(rf->fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return done ? (ssize_t)done : -1;
		done += (size_t)n;
	}
	rf->written += (off_t)done;
	if (rf->written - rf->flushed >= RESULT_WRITEBACK_STEP) {
		/* advice only: a file system without writeback (tmpfs) says no */
		(void)sync_file_range(rf->fd, rf->flushed, rf->written - rf->flushed, SYNC_FILE_RANGE_WRITE);
		rf->flushed = rf->written;
	}
	return (ssize_t)done;
}

static int result_file_close(void *cookie)
{
	struct result_file *rf = cookie;
	int rc = close(rf->fd);
	free(rf);
	return rc;
}

/* The stream over fd (taken over: fclose closes it); NULL, fd still open,
 * when out of memory. */
static FILE *result_file_open(int fd)
{
	struct result_file *rf = calloc(1, sizeof(*rf));
	if (!rf)
		return NULL;
	rf->fd = fd;
	cookie_io_functions_t io = {.write = result_file_write, .close = result_file_close};
	FILE *f = fopencookie(rf, "w", io);
	if (!f)
		free(rf);
	return f;
}

int task_store_document(struct task_ctx *ctx, const char *id, task_items_writer write_items, void *ud,
			struct task_fail *fail)
{
	char path[4096];
	if (!ctx->store) {
		task_fail(fail, E_STORAGE, "no result store");
		return -1;
	}
	int fd = task_temp_file(path, sizeof(path), "result");
	FILE *f = fd < 0 ? NULL : result_file_open(fd);
	if (!f) {
		task_fail(fail, E_STORAGE, "cannot create a temporary file: %s", strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		return -1;
	}
	/* 1 MiB writes instead of the default 4 KiB: a 9 MB cross match result
	 * is some 10 write calls, not 2,300 (setvbuf failing keeps the default). */
	(void)setvbuf(f, NULL, _IOFBF, (size_t)1 << 20);
	int rc = write_result(ctx, write_items, ud, f, fail);
	if (fflush(f) || ferror(f)) {
		if (rc == 0)
			task_fail(fail, E_STORAGE, "cannot write the task result: %s", strerror(errno));
		rc = -1;
	}
	fclose(f);
	if (rc) {
		unlink(path);
		return -1;
	}
	/* put_file takes the file over (moves it in or removes it). */
	if (ctx->store->ops->put_file(ctx->store, id, path)) {
		task_fail(fail, E_STORAGE, "cannot store the task result: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int task_store_concat_result(struct task_ctx *ctx, json_object *partial_ids, struct task_fail *fail)
{
	struct concat c = {partial_ids, 0};
	return task_store_result_items(ctx, write_concat_items, &c, fail);
}

int task_store_concat_stored_result(struct task_ctx *ctx, json_object *partial_ids, struct task_fail *fail)
{
	struct concat c = {partial_ids, 1};
	return task_store_result_items(ctx, write_concat_items, &c, fail);
}
