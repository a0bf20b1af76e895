/* Task type additional extract (5): faces or events that have the default
 * descriptor version but lack the requested one (or lack basic attributes)
 * get it extracted from their samples by the handlers service; old
 * descriptors stay.
 *
 * validate (API): `missing: false` is not implemented (12029); a descriptor
 * version must be positive (12036).
 * plan: pages through the ids lacking the target (objects_local_extract.c) in
 * ascending order, [TASKS] ESTIMATOR_CHUNK ids per subtask.
 * run_subtask: per object, its samples are read from the result store,
 * sent to the extractor, and the descriptor or attributes stored; an object
 * without usable samples is a task error row, not a failure. An unreachable
 * handlers service fails the subtask.
 * collect: [{face_id | event_id, samples}] of every subtask, in order, with
 * the task's errors.
 *
 * Workload: up to millions of objects per task; one object's samples in
 * memory at a time. */
#include "backends/handlers.h"
#include "backends/objects.h"
#include "backends/objects_extract.h"
#include "backends/sources.h"
#include "backends/storage.h"
#include "common/errors.h"
#include "tasks/task_type.h"
#include "tasks/task_util.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SAMPLES_PER_OBJECT 16

struct ae_job {
	const char *target_name;
	enum extract_target target;
	enum objects_kind kind;
	enum descriptor_type dtype;
	int version, default_version;
	json_object *filters;
};

static int read_job(struct task_ctx *ctx, json_object *content, struct ae_job *job, struct task_fail *fail)
{
	json_object *options = source_json_obj(content, "options");
	job->target_name = source_json_str(content, "extraction_target");
	job->target = extract_target_from_name(job->target_name);
	job->filters = source_json_obj(content, "filters");
	const char *type = source_json_str(job->filters, "objects_type");
	job->kind = type ? objects_kind_from_name(type) : OBJ_EVENTS;
	job->dtype = job->target == EXTRACT_BODY_DESCRIPTOR ? DESCRIPTOR_BODY : DESCRIPTOR_FACE;
	job->default_version = descriptor_default_version(ctx->cfg, job->dtype);
	job->version = (int)source_json_int(options, "descriptor_version", job->default_version);
	if (!job->target || (job->kind != OBJ_FACES && job->kind != OBJ_EVENTS) ||
	    (job->target == EXTRACT_BODY_DESCRIPTOR && job->kind != OBJ_EVENTS)) {
		task_fail(fail, E_BAD_JSON, "Failed to validate input json. Path: 'content', message: "
			  "'unsupported extraction target or objects type'");
		return -1;
	}
	return 0;
}

static int ae_validate(struct task_ctx *ctx, json_object *content, struct task_fail *fail)
{
	struct ae_job job;
	json_object *options = source_json_obj(content, "options");
	if (!source_json_bool(options, "missing", 1)) {
		task_fail(fail, E_NOT_IMPLEMENTED, "Required server functionality is not implemented");
		return -1;
	}
	if (read_job(ctx, content, &job, fail))
		return -1;
	if (job.target != EXTRACT_BASIC_ATTRIBUTES && job.version <= 0) {
		task_fail_detail(fail, E_DESCRIPTOR_VERSION, job.version);
		return -1;
	}
	return 0;
}

static int ae_plan(struct task_ctx *ctx, json_object *content, json_object **subtasks, struct task_fail *fail)
{
	struct ae_job job;
	size_t chunk = ctx->cfg->estimator_chunk > 0 ? (size_t)ctx->cfg->estimator_chunk : 100;
	char *after = NULL;
	*subtasks = NULL;
	if (read_job(ctx, content, &job, fail) || task_require_objects(ctx, fail))
		return -1;
	json_object *out = json_object_new_array();
	for (;;) {
		char **ids = NULL;
		size_t n = 0;
		if (task_check_cancelled(ctx, fail))
			goto fail;
		if (objects_extract_page_missing(ctx->objects, ctx->arena, job.kind, job.filters, ctx->account_id,
						 job.target, job.version, job.default_version, after, chunk, &ids, &n)) {
			task_objects_fail(ctx, fail, "listing the objects to extract");
			goto fail;
		}
		if (n == 0)
			break;
		json_object *st = json_object_new_object();
		json_object_object_add(st, "ids", task_json_strings(ids, n));
		json_object_array_add(out, st);
		after = ids[n - 1];
		if (n < chunk)
			break;
	}
	if (json_object_array_length(out) == 0) {
		json_object *st = json_object_new_object();
		json_object_object_add(st, "ids", json_object_new_array());
		json_object_array_add(out, st);
	}
	*subtasks = out;
	return 0;
fail:
	json_object_put(out);
	return -1;
}

/* Reads the samples' images from the result store; *n counts those read. */
static int load_samples(struct task_ctx *ctx, const char *id, char **sample_ids, size_t nsamples,
			struct handlers_sample *out, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < nsamples && *n < MAX_SAMPLES_PER_OBJECT; i++) {
		void *data = NULL;
		size_t len = 0;
		if (!ctx->store || ctx->store->ops->get(ctx->store, sample_ids[i], &data, &len)) {
			task_report_error(ctx, E_STORAGE, "%s: cannot read sample %s: %s", id, sample_ids[i],
					  ctx->store ? strerror(errno) : "no result store");
			continue;
		}
		out[*n] = (struct handlers_sample){sample_ids[i], data, len};
		(*n)++;
	}
	return 0;
}

static void free_samples(struct handlers_sample *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((void *)s[i].data);
}

/* Stores what the extractor returned for one object. */
static int store_extraction(struct task_ctx *ctx, const struct ae_job *job, const char *id,
			    const struct handlers_extraction *x, struct task_fail *fail)
{
	char *account = NULL;
	if (objects_extract_account(ctx->objects, ctx->arena, job->kind, id, &account))
		return task_objects_fail(ctx, fail, "reading the object's account");
	if (!account || (ctx->account_id && strcmp(account, ctx->account_id) != 0))
		return 1;   /* removed meanwhile; never another account's object */
	int rc;
	if (job->target == EXTRACT_BASIC_ATTRIBUTES)
		rc = objects_extract_put_attributes(ctx->objects, job->kind, id, account, x->age, x->gender, x->ethnicity);
	else
		rc = objects_put_descriptor(ctx->objects, job->kind == OBJ_FACES ? OWNER_FACE : OWNER_EVENT, id, account,
					    job->dtype, job->version, x->vector, x->dim);
	if (rc)
		return task_objects_fail(ctx, fail, "storing the extraction");
	return 0;
}

static json_object *result_entry(const struct ae_job *job, const char *id, const struct handlers_sample *s, size_t n)
{
	json_object *e = json_object_new_object(), *samples = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(samples, json_object_new_string(s[i].sample_id));
	json_object_object_add(e, job->kind == OBJ_FACES ? "face_id" : "event_id", json_object_new_string(id));
	json_object_object_add(e, "samples", samples);
	return e;
}

static int is_service_down(const struct handlers_error *e)
{
	return !e->service_error && (e->http.code == E_UPSTREAM_CONNECTION || e->http.code == E_UPSTREAM_CONNECT_TIMEOUT);
}

/* One object: 0 done (entry added), 1 skipped with an error row, -1 subtask failure. */
static int extract_one(struct task_ctx *ctx, const struct ae_job *job, struct handlers *h, const char *id,
		       json_object *entries, struct task_fail *fail)
{
	struct handlers_sample samples[MAX_SAMPLES_PER_OBJECT];
	struct handlers_extraction x = {0};
	struct handlers_error he = {0};
	char **sample_ids = NULL;
	size_t nids = 0, n = 0;
	int rc = 1;
	if (objects_extract_samples(ctx->objects, ctx->arena, job->kind, id, job->target, &sample_ids, &nids))
		return task_objects_fail(ctx, fail, "reading samples");
	load_samples(ctx, id, sample_ids, nids, samples, &n);
	if (n == 0) {
		task_report_error(ctx, E_OBJECTS_NOT_FOUND, "%s: no %s samples to extract %s from", id,
				  job->dtype == DESCRIPTOR_BODY ? "body" : "face", job->target_name);
		goto out;
	}
	if (handlers_extract(h, job->target_name, job->version, samples, n, &x, &he)) {
		if (is_service_down(&he)) {
			task_fail_set(fail, 500, he.http.code, "%s", he.http.detail);
			rc = -1;
			goto out;
		}
		task_report_error(ctx, he.http.code, "%s: extraction failed: %s", id, he.http.detail);
		goto out;
	}
	rc = store_extraction(ctx, job, id, &x, fail);
	if (rc == 0)
		json_object_array_add(entries, result_entry(job, id, samples, n));
out:
	handlers_error_clear(&he);
	free(x.vector);
	free_samples(samples, n);
	return rc;
}

static int ae_run_subtask(struct task_ctx *ctx, json_object *content, json_object *subtask, json_object **partial,
			  struct task_fail *fail)
{
	struct ae_job job;
	json_object *ids = NULL, *entries = NULL;
	struct handlers *h = NULL;
	char err[256];
	int rc = -1;
	*partial = NULL;
	if (read_job(ctx, content, &job, fail) || task_require_objects(ctx, fail))
		return -1;
	if (!json_object_object_get_ex(subtask, "ids", &ids) || !json_object_is_type(ids, json_type_array)) {
		task_fail(fail, E_INTERNAL, "additional extract subtask without ids");
		return -1;
	}
	if (!(h = handlers_open(ctx->cfg, err, sizeof(err)))) {
		task_fail(fail, E_HANDLERS_NOT_CONFIGURED, "%s", err);
		return -1;
	}
	entries = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(ids); i++) {
		if (task_check_cancelled(ctx, fail))
			goto out;
		const char *id = json_object_get_string(json_object_array_get_idx(ids, i));
		if (extract_one(ctx, &job, h, id, entries, fail) < 0)
			goto out;
	}
	*partial = entries;
	entries = NULL;
	rc = 0;
out:
	json_object_put(entries);
	handlers_close(h);
	return rc;
}

static int ae_collect(struct task_ctx *ctx, json_object *content, json_object *partials, json_object **result,
		      struct task_fail *fail)
{
	json_object *all = task_json_concat(partials, NULL);
	*result = task_result_document(ctx, all, fail);
	return *result ? 0 : -1;
}

const struct task_type task_additional_extract = {
	.id = 5,
	.name = "additional_extract",
	.needs_handlers = 1,
	.result_is_zip = 0,
	.validate = ae_validate,
	.plan = ae_plan,
	.run_subtask = ae_run_subtask,
	.collect = ae_collect,
};
