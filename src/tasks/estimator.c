/* Task type estimator (9): sends every image of a zip archive, S3 bucket,
 * network-disk folder or FTP server to a handler of the handlers service
 * and keeps, per image, what the handler found (events and filtered
 * detections) or why the image could not be processed.
 *
 * validate (API): the source is allowed (network disk below the roots, zip
 * by http/https, S3 endpoint/ARN rules) and the handler exists with
 * policies given exactly when it is dynamic.
 * plan: creates the handler when the task brings only policies (once: a
 * retried plan reuses the one recorded on the task), lists the
 * source (a zip archive is downloaded once and kept in the result store for
 * the subtasks) and cuts the names into chunks of [TASKS] ESTIMATOR_CHUNK.
 * run_subtask: [HANDLERS] CONCURRENCY threads, each with its own source
 * and handlers connection, take the chunk's images one by one; a bad image
 * is an error entry for that file (and a task error row), not a failure.
 * collect: the entries of every subtask in order, with the task's errors,
 * written to the result store one subtask at a time; the kept archive is
 * deleted.
 *
 * Workload: up to a million images per task; memory per subtask is one
 * image per thread plus the chunk's results; at collect, one subtask's
 * results plus the task's error rows (at most [TASKS] MAX_ERRORS). */
#include "backends/handlers.h"
#include "backends/sources.h"
#include "backends/storage.h"
#include "common/errors.h"
#include "common/log.h"
#include "tasks/task_type.h"
#include "tasks/task_util.h"
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define ARCHIVE_BLOB_FMT "estimator-%lld-archive.zip"

/* ---- Content accessors -------------------------------------------------- */

static json_object *content_handler(json_object *content)
{
	return source_json_obj(content, "handler");
}

static json_object *content_source(json_object *content)
{
	return source_json_obj(content, "source");
}

static json_object *handler_policies(json_object *content)
{
	return source_json_obj(content_handler(content), "policies");
}

static int is_zip(json_object *source)
{
	const char *t = source_json_str(source, "source_type");
	return t && strcmp(t, "zip") == 0;
}

static void fail_from_handlers(struct task_fail *fail, const struct handlers_error *e)
{
	int code = e->http.code ? e->http.code : E_INTERNAL;
	task_fail(fail, code, "%s", e->http.detail);
}

/* ---- validate ------------------------------------------------------------ */

/* An existing handler: it must exist; policies only with a dynamic one. */
static int check_existing_handler(struct task_ctx *ctx, const char *handler_id, int has_policies,
				  struct task_fail *fail)
{
	char err[256];
	struct handlers_error he = {0};
	enum handler_kind kind;
	int rc = -1;
	struct handlers *h = handlers_open(ctx->cfg, err, sizeof(err));
	if (!h) {
		task_fail(fail, E_HANDLERS_NOT_CONFIGURED, "No handlers service is configured ([HANDLERS] URL); "
			  "estimator tasks are unavailable");
		return -1;
	}
	if (handlers_get(h, handler_id, &kind, &he)) {
		if (he.not_found)
			task_fail_detail(fail, E_HANDLER_NOT_FOUND, handler_id);
		else
			fail_from_handlers(fail, &he);
		goto out;
	}
	if (kind == HANDLER_DYNAMIC && !has_policies) {
		task_fail_detail(fail, E_DYNAMIC_HANDLER, handler_id);
		goto out;
	}
	if (kind == HANDLER_STATIC && has_policies) {
		task_fail_detail(fail, E_STATIC_HANDLER, handler_id);
		goto out;
	}
	rc = 0;
out:
	handlers_error_clear(&he);
	handlers_close(h);
	return rc;
}

static int estimator_validate(struct task_ctx *ctx, json_object *content, struct task_fail *fail)
{
	struct source_error se = {0};
	if (source_validate(ctx->cfg, content_source(content), &se)) {
		task_fail_set(fail, 400, se.code ? se.code : E_BAD_SOURCE, "%s", se.detail);
		return -1;
	}
	const char *handler_id = source_json_str(content_handler(content), "handler_id");
	if (!handler_id)
		return 0;   /* a new handler is created from the policies when the task is planned */
	return check_existing_handler(ctx, handler_id, handler_policies(content) != NULL, fail);
}

/* ---- plan ----------------------------------------------------------------- */

/* The handler the subtasks use: the given one, or a new static one. The new
 * one is recorded on the task as soon as it exists, and a retried plan
 * (after a crash, a lost lease, a transient failure) uses it instead of
 * creating another. */
static int resolve_handler(struct task_ctx *ctx, json_object *content, char handler_id[37], struct task_fail *fail)
{
	char err[256], dflt[64];
	struct handlers_error he = {0};
	json_object *handler = content_handler(content);
	const char *given = source_json_str(handler, "handler_id");
	int rc = -1;
	if (given) {
		snprintf(handler_id, 37, "%s", given);
		return 0;
	}
	int known = task_created_handler(ctx, handler_id);
	if (known < 0) {
		task_fail(fail, E_DB, "cannot read the handler of an earlier planning attempt: %s",
			  db_error(ctx->tasks_db));
		return -1;
	}
	if (known) {
		log_info("task %lld: using handler %s, created by an earlier planning attempt", ctx->task_id, handler_id);
		return 0;
	}
	struct handlers *h = handlers_open(ctx->cfg, err, sizeof(err));
	if (!h) {
		task_fail(fail, E_HANDLERS_NOT_CONFIGURED, "%s", err);
		return -1;
	}
	const char *desc = source_json_str(handler, "description");
	snprintf(dflt, sizeof(dflt), "estimator_task_%lld", ctx->task_id);
	if (!desc || strcmp(desc, "estimator_task_{task_id}") == 0)
		desc = dflt;
	if (handlers_create(h, desc, handler_policies(content), handler_id, &he)) {
		fail_from_handlers(fail, &he);
		goto out;
	}
	log_info("task %lld: created handler %s", ctx->task_id, handler_id);
	if (task_record_created_handler(ctx, handler_id)) {
		/* Retried like any DB failure; that attempt may create another handler. */
		task_fail(fail, E_DB, "cannot record the created handler %s: %s", handler_id,
			  db_error(ctx->tasks_db));
		goto out;
	}
	rc = 0;
out:
	handlers_error_clear(&he);
	handlers_close(h);
	return rc;
}

struct planner {
	struct task_ctx *ctx;
	json_object *subtasks;
	json_object *current;          /* the "files" array being filled */
	json_object *current_keys;     /* zip only: entry indexes */
	const char *handler_id;
	const char *archive;           /* zip only: blob id */
	size_t chunk, in_current;
};

static void start_chunk(struct planner *p)
{
	json_object *st = json_object_new_object();
	json_object_object_add(st, "handler_id", json_object_new_string(p->handler_id));
	if (p->archive)
		json_object_object_add(st, "archive", json_object_new_string(p->archive));
	p->current = json_object_new_array();
	json_object_object_add(st, "files", p->current);
	if (p->archive) {
		p->current_keys = json_object_new_array();
		json_object_object_add(st, "keys", p->current_keys);
	}
	json_object_array_add(p->subtasks, st);
	p->in_current = 0;
}

static int add_to_plan(void *ud, const char *key, const char *name)
{
	struct planner *p = ud;
	if (!p->current || p->in_current == p->chunk)
		start_chunk(p);
	json_object_array_add(p->current, json_object_new_string(name));
	if (p->current_keys)
		json_object_array_add(p->current_keys, json_object_new_string(key));
	p->in_current++;
	return 0;
}

/* Downloads the archive, keeps it in the result store; *f reads it. */
static int fetch_archive(struct task_ctx *ctx, json_object *source, const char *blob, FILE **f,
			 struct task_fail *fail)
{
	struct source_error se = {0};
	struct source_limits lim;
	char *path = NULL;
	int rc = -1;
	size_t len = 0;
	source_limits_from_config(&lim, ctx->cfg);
	*f = NULL;
	if (!ctx->store) {
		task_fail(fail, E_STORAGE, "no result store to keep the archive in");
		return -1;
	}
	if (source_zip_download(ctx->cfg, source_json_str(source, "reference"), &lim, ctx->cancelled, &path, &se)) {
		task_fail_set(fail, 400, se.code ? se.code : E_BAD_SOURCE, "%s", se.detail);
		return -1;
	}
	if (ctx->store->ops->put_file(ctx->store, blob, path)) {
		task_fail(fail, E_STORAGE, "cannot keep the archive in the result store: %s", strerror(errno));
		goto out;
	}
	if (ctx->store->ops->open_read(ctx->store, blob, f, &len)) {
		task_fail(fail, E_STORAGE, "cannot read the archive back from the result store: %s",
			  strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(path);
	return rc;
}

/* The archive downloaded at planning is kept only while the task runs. */
static void estimator_cleanup(struct task_ctx *ctx)
{
	char blob[64];
	if (!ctx->store)
		return;
	snprintf(blob, sizeof(blob), ARCHIVE_BLOB_FMT, ctx->task_id);
	ctx->store->ops->del(ctx->store, blob);
}

static int estimator_plan(struct task_ctx *ctx, json_object *content, json_object **subtasks, struct task_fail *fail)
{
	char handler_id[37], blob[64];
	struct source_error se = {0};
	struct source *src = NULL;
	FILE *archive = NULL;
	json_object *source = content_source(content);
	int rc = -1;

	*subtasks = NULL;
	if (resolve_handler(ctx, content, handler_id, fail))
		return -1;
	snprintf(blob, sizeof(blob), ARCHIVE_BLOB_FMT, ctx->task_id);
	if (is_zip(source) && fetch_archive(ctx, source, blob, &archive, fail))
		goto out;
	src = source_open(ctx->cfg, source, archive, NULL, ctx->cancelled, &se);
	archive = NULL;   /* owned by the source now */
	if (!src) {
		task_fail_set(fail, 400, se.code ? se.code : E_BAD_SOURCE, "%s", se.detail);
		goto out;
	}
	struct planner p = {
		.ctx = ctx,
		.subtasks = json_object_new_array(),
		.handler_id = handler_id,
		.archive = is_zip(source) ? blob : NULL,
		.chunk = ctx->cfg->estimator_chunk > 0 ? (size_t)ctx->cfg->estimator_chunk : 100,
	};
	if (src->ops->list(src, add_to_plan, &p)) {
		task_fail_set(fail, 400, src->err.code ? src->err.code : E_BAD_SOURCE, "%s", src->err.detail);
		json_object_put(p.subtasks);
		goto out;
	}
	if (!p.current)
		start_chunk(&p);   /* no image: one empty subtask, an empty result */
	*subtasks = p.subtasks;
	rc = 0;
out:
	source_close(src);
	if (rc && is_zip(source) && ctx->store)
		ctx->store->ops->del(ctx->store, blob);
	return rc;
}

/* ---- run_subtask ------------------------------------------------------------ */

struct run_shared {
	struct task_ctx *ctx;
	json_object *source;
	const char *policies;          /* dynamic handler: JSON text sent with every image */
	const char *handler_id;
	enum image_type image_type;
	int save_origin;
	json_object *files, *keys;
	size_t n;
	json_object **entries;         /* entries[i] for files[i] */
	char **errors;                 /* errors[i]: detail for a task error row, or NULL */
	int *error_codes;
	FILE *archive;                 /* zip: the kept archive, reopened per thread */
	atomic_size_t next;
	atomic_int fatal;              /* the handlers service is unreachable: stop */
	pthread_mutex_t lock;
	struct handlers_error fatal_error;
};

static json_object *error_entry(const char *filename, json_object *error)
{
	json_object *e = json_object_new_object(), *errors = json_object_new_array();
	json_object_object_add(e, "filename", json_object_new_string(filename));
	json_object_object_add(e, "result", NULL);
	json_object_array_add(errors, error);
	json_object_object_add(e, "errors", errors);
	return e;
}

static json_object *success_entry(const char *filename, json_object *result)
{
	json_object *e = json_object_new_object();
	json_object_object_add(e, "filename", json_object_new_string(filename));
	json_object_object_add(e, "result", result);
	json_object_object_add(e, "errors", json_object_new_array());
	return e;
}

static void record_failure(struct run_shared *sh, size_t i, const char *name, int code, const char *detail,
			   json_object *service_error)
{
	sh->entries[i] = error_entry(name, service_error ? json_object_get(service_error) : luna_error_json(code, detail));
	sh->error_codes[i] = code;
	if (asprintf(&sh->errors[i], "%s: %s", name, detail) < 0)
		sh->errors[i] = NULL;
}

/* Transport failures mean the service is down: the whole subtask stops. */
static int is_service_down(const struct handlers_error *e)
{
	return !e->service_error && (e->http.code == E_UPSTREAM_CONNECTION || e->http.code == E_UPSTREAM_CONNECT_TIMEOUT);
}

static void estimate_one(struct run_shared *sh, struct source *src, struct handlers *h, size_t i)
{
	const char *name = json_object_get_string(json_object_array_get_idx(sh->files, i));
	const char *key = sh->keys ? json_object_get_string(json_object_array_get_idx(sh->keys, i)) : name;
	struct handlers_error he = {0};
	json_object *result = NULL;
	void *data = NULL;
	size_t len = 0;
	char *origin = NULL;

	if (src->ops->fetch(src, key, &data, &len)) {
		record_failure(sh, i, name, src->err.code ? src->err.code : E_BAD_SOURCE, src->err.detail, NULL);
		goto out;
	}
	const char *ctype = image_content_type(data, len);
	if (!ctype) {
		record_failure(sh, i, name, E_IMAGE, "file is not an image (JPEG, PNG, BMP, TIFF, WebP, PPM or JPEG 2000)",
			       NULL);
		goto out;
	}
	if (sh->save_origin && src->ops->origin)
		origin = src->ops->origin(src, key);
	const char *base = strrchr(name, '/');
	if (handlers_estimate(h, sh->handler_id, sh->policies, sh->image_type, data, len, ctype, base ? base + 1 : name,
			      origin, &result, &he)) {
		if (is_service_down(&he)) {
			pthread_mutex_lock(&sh->lock);
			if (!atomic_exchange(&sh->fatal, 1))
				sh->fatal_error.http = he.http;
			pthread_mutex_unlock(&sh->lock);
			goto out;
		}
		record_failure(sh, i, name, he.http.code, he.http.detail, he.service_error);
		goto out;
	}
	sh->entries[i] = success_entry(name, result);
out:
	handlers_error_clear(&he);
	free(origin);
	free(data);
}

/* A private reading position on the kept archive (an open file description of its own). */
static FILE *reopen_archive(FILE *f)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fileno(f));
	return fopen(path, "rb");
}

static void *run_thread(void *arg)
{
	struct run_shared *sh = arg;
	struct source_error se = {0};
	char err[256];
	FILE *archive = NULL;
	struct handlers *h = handlers_open(sh->ctx->cfg, err, sizeof(err));
	if (sh->archive && !(archive = reopen_archive(sh->archive)))
		snprintf(se.detail, sizeof(se.detail), "cannot reopen the kept archive: %s", strerror(errno));
	struct source *src = (!sh->archive || archive)
				     ? source_open(sh->ctx->cfg, sh->source, archive, NULL, sh->ctx->cancelled, &se)
				     : NULL;
	for (;;) {
		size_t i = atomic_fetch_add(&sh->next, 1);
		if (i >= sh->n || atomic_load(&sh->fatal) || (sh->ctx->cancelled && atomic_load(sh->ctx->cancelled)))
			break;
		const char *name = json_object_get_string(json_object_array_get_idx(sh->files, i));
		if (!h)
			record_failure(sh, i, name, E_HANDLERS_NOT_CONFIGURED, err, NULL);
		else if (!src)
			record_failure(sh, i, name, se.code ? se.code : E_BAD_SOURCE, se.detail, NULL);
		else
			estimate_one(sh, src, h, i);
	}
	source_close(src);
	handlers_close(h);
	return NULL;
}

static int open_kept_archive(struct task_ctx *ctx, json_object *subtask, FILE **f, struct task_fail *fail)
{
	const char *blob = source_json_str(subtask, "archive");
	size_t len = 0;
	*f = NULL;
	if (!blob)
		return 0;
	if (!ctx->store || ctx->store->ops->open_read(ctx->store, blob, f, &len)) {
		task_fail(fail, E_STORAGE, "cannot read the kept archive %s: %s", blob,
			  ctx->store ? strerror(errno) : "no result store");
		return -1;
	}
	return 0;
}

/* Starts up to CONCURRENCY threads (the caller's thread is one of them). */
static void run_pool(struct run_shared *sh, size_t nthreads)
{
	pthread_t *tids = calloc(nthreads, sizeof(*tids));
	size_t started = 0;
	for (size_t t = 1; tids && t < nthreads; t++)
		if (pthread_create(&tids[started], NULL, run_thread, sh) == 0)
			started++;
	run_thread(sh);
	for (size_t t = 0; t < started; t++)
		pthread_join(tids[t], NULL);
	free(tids);
}

/* Error rows for the bad files, from this (the subtask's) thread. */
static void report_file_errors(struct task_ctx *ctx, struct run_shared *sh)
{
	for (size_t i = 0; i < sh->n; i++)
		if (sh->errors[i])
			task_report_error(ctx, sh->error_codes[i], "%s", sh->errors[i]);
}

static int estimator_run_subtask(struct task_ctx *ctx, json_object *content, json_object *subtask,
				 json_object **partial, struct task_fail *fail)
{
	struct run_shared sh = {
		.ctx = ctx,
		.source = content_source(content),
		.handler_id = source_json_str(subtask, "handler_id"),
		.files = NULL,
	};
	int rc = -1;
	*partial = NULL;
	if (!sh.handler_id || !json_object_object_get_ex(subtask, "files", &sh.files) ||
	    !json_object_is_type(sh.files, json_type_array)) {
		task_fail(fail, E_INTERNAL, "estimator subtask without handler_id or files");
		return -1;
	}
	if (json_object_object_get_ex(subtask, "keys", &sh.keys) && !json_object_is_type(sh.keys, json_type_array))
		sh.keys = NULL;
	if (source_json_str(content_handler(content), "handler_id") && handler_policies(content))
		sh.policies = json_object_to_json_string_ext(handler_policies(content), JSON_C_TO_STRING_PLAIN);
	sh.image_type = (enum image_type)source_json_int(sh.source, "image_type", 0);
	sh.save_origin = source_json_bool(sh.source, "save_origin", 1);
	sh.n = json_object_array_length(sh.files);
	if (open_kept_archive(ctx, subtask, &sh.archive, fail))
		return -1;
	sh.entries = calloc(sh.n ? sh.n : 1, sizeof(*sh.entries));
	sh.errors = calloc(sh.n ? sh.n : 1, sizeof(*sh.errors));
	sh.error_codes = calloc(sh.n ? sh.n : 1, sizeof(*sh.error_codes));
	pthread_mutex_init(&sh.lock, NULL);
	if (!sh.entries || !sh.errors || !sh.error_codes) {
		task_fail(fail, E_INTERNAL, "out of memory");
		goto out;
	}
	size_t nthreads = ctx->cfg->handlers_concurrency > 0 ? (size_t)ctx->cfg->handlers_concurrency : 1;
	if (nthreads > sh.n)
		nthreads = sh.n ? sh.n : 1;
	run_pool(&sh, nthreads);
	if (atomic_load(&sh.fatal)) {
		fail_from_handlers(fail, &sh.fatal_error);
		goto out;
	}
	if (task_check_cancelled(ctx, fail))
		goto out;
	report_file_errors(ctx, &sh);
	*partial = json_object_new_array_ext((int)sh.n);
	for (size_t i = 0; i < sh.n; i++) {
		json_object_array_add(*partial, sh.entries[i]);
		sh.entries[i] = NULL;
	}
	rc = 0;
out:
	for (size_t i = 0; sh.entries && i < sh.n; i++)
		json_object_put(sh.entries[i]);
	for (size_t i = 0; sh.errors && i < sh.n; i++)
		free(sh.errors[i]);
	free(sh.entries);
	free(sh.errors);
	free(sh.error_codes);
	if (sh.archive)
		fclose(sh.archive);
	pthread_mutex_destroy(&sh.lock);
	return rc;
}

/* ---- collect ---------------------------------------------------------------- */

/* partials: the blob ids of the subtasks' entries (collect_reads_partials),
 * written into the result one subtask at a time. */
static int estimator_collect(struct task_ctx *ctx, json_object *content, json_object *partials, json_object **result,
			     struct task_fail *fail)
{
	if (is_zip(content_source(content)))
		estimator_cleanup(ctx);
	*result = NULL;
	return task_store_concat_result(ctx, partials, fail);
}

const struct task_type task_estimator = {
	.id = 9,
	.name = "estimator",
	.needs_handlers = 1,
	.result_is_zip = 0,
	.collect_reads_partials = 1,
	.validate = estimator_validate,
	.plan = estimator_plan,
	.run_subtask = estimator_run_subtask,
	.collect = estimator_collect,
	.cleanup = estimator_cleanup,
};
