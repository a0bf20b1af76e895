/* Task type garbage collection (4), three targets:
 *  - face_descriptors: descriptors of a version held by faces and attributes
 *    of the task's account; the result lists the faces that lost one;
 *  - event_descriptors: event descriptors of a version and type;
 *  - events: events chosen by filters (account, create_time__lt,
 *    insert_time__lt, handler_id) with their descriptors; remove_samples also
 *    deletes their sample images from the result store (re-extraction becomes
 *    impossible), remove_image_origins their origin images when these are
 *    images of the result store (see remove_origin); no other origin is
 *    touched and no request goes to a URL found in the data.
 * Workload: planning pages the target ids into chunks of [TASKS] LINKER_CHUNK,
 * written into the subtask contents, so a retried subtask deletes (and
 * reports) exactly its own ids; each chunk is one transaction. With
 * store_results = false the result holds the errors only. */
#include "tasks/task_type.h"
#include "tasks/task_util.h"
#include "backends/objects.h"
#include "backends/storage.h"
#include "common/db.h"
#include "common/errors.h"
#include "common/uuid.h"
#include <stdlib.h>
#include <string.h>

enum gc_target { GC_FACE_DESCRIPTORS = 1, GC_EVENT_DESCRIPTORS, GC_EVENTS };

static enum gc_target gc_target(json_object *content)
{
	const char *t = task_json_str(content, "target", "");
	if (strcmp(t, "face_descriptors") == 0)
		return GC_FACE_DESCRIPTORS;
	if (strcmp(t, "event_descriptors") == 0)
		return GC_EVENT_DESCRIPTORS;
	if (strcmp(t, "events") == 0)
		return GC_EVENTS;
	return 0;
}

static int gc_validate(struct task_ctx *ctx, json_object *content, struct task_fail *fail)
{
	(void)ctx;
	if (!gc_target(content)) {
		task_fail(fail, E_BAD_JSON,
			  "Failed to validate input json. Path: 'content.target', message: 'must be face_descriptors, "
			  "event_descriptors or events'");
		return -1;
	}
	return 0;
}

static json_object *chunk_subtask(int owner, char **ids, size_t n)
{
	json_object *s = json_object_new_object();
	json_object_object_add(s, "owner", json_object_new_int(owner));
	json_object_object_add(s, "ids", task_json_strings(ids, n));
	return s;
}

/* One page of the target's ids after `after`. */
static int gc_page(struct task_ctx *ctx, json_object *content, int owner, const char *after, size_t chunk,
		   char ***ids, size_t *n)
{
	json_object *filters = task_json_get(content, "filters");
	int version = (int)task_json_int(filters, "descriptor_version", 0);
	if (owner == OWNER_EVENT && gc_target(content) == GC_EVENTS) {
		json_object *f = json_object_new_object();
		static const char *const keys[] = {"account_id", "create_time__lt", "insert_time__lt", "handler_id"};
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			json_object *v = task_json_get(filters, keys[i]);
			if (v)
				json_object_object_add(f, keys[i], json_object_get(v));
		}
		int rc = objects_page_ids(ctx->objects, ctx->arena, OBJ_EVENTS, f, ctx->account_id, after, NULL, chunk,
					  ids, n);
		json_object_put(f);
		return rc;
	}
	enum descriptor_type type = owner == OWNER_EVENT
					    ? descriptor_type_from_name(task_json_str(filters, "descriptor_type", "face"))
					    : 0;
	return objects_page_descriptor_owners(ctx->objects, ctx->arena, owner, ctx->account_id, type, version, after,
					      chunk, ids, n);
}

static int gc_plan(struct task_ctx *ctx, json_object *content, json_object **subtasks, struct task_fail *fail)
{
	int owners[2], nowners = 0;
	json_object *out = json_object_new_array();
	size_t chunk = ctx->cfg->linker_chunk > 0 ? (size_t)ctx->cfg->linker_chunk : 1000;
	if (task_require_objects(ctx, fail))
		goto fail;
	switch (gc_target(content)) {
	case GC_FACE_DESCRIPTORS:
		owners[nowners++] = OWNER_FACE;
		owners[nowners++] = OWNER_ATTRIBUTE;
		break;
	case GC_EVENT_DESCRIPTORS:
	case GC_EVENTS:
		owners[nowners++] = OWNER_EVENT;
		break;
	default:
		task_fail(fail, E_BAD_JSON, "unknown gc target");
		goto fail;
	}
	for (int o = 0; o < nowners; o++) {
		const char *after = NULL;
		for (;;) {
			char **ids;
			size_t n;
			if (task_check_cancelled(ctx, fail))
				goto fail;
			if (gc_page(ctx, content, owners[o], after, chunk, &ids, &n)) {
				task_objects_fail(ctx, fail, "listing the objects to remove");
				goto fail;
			}
			if (n)
				json_object_array_add(out, chunk_subtask(owners[o], ids, n));
			if (n < chunk)
				break;
			after = ids[n - 1];
		}
	}
	if (json_object_array_length(out) == 0)
		json_object_array_add(out, chunk_subtask(owners[0], NULL, 0));
	*subtasks = out;
	return 0;
fail:
	json_object_put(out);
	return -1;
}

/* The subtask's ids as a C array in the arena. */
static char **subtask_ids(struct task_ctx *ctx, json_object *subtask, size_t *n)
{
	json_object *arr = task_json_get(subtask, "ids");
	*n = arr ? json_object_array_length(arr) : 0;
	char **ids = arena_alloc(ctx->arena, (*n + 1) * sizeof(char *));
	for (size_t i = 0; i < *n; i++)
		ids[i] = (char *)json_object_get_string(json_object_array_get_idx(arr, i));
	return ids;
}

/* The form in which an image of the result store is recorded as an image
 * origin (LUNA's image path, as imports and the handlers service write it). */
#define STORE_ORIGIN_PREFIX "/6/images/"

/* The blob id an origin names when it is an image of the result store. */
static const char *store_origin_blob(const char *origin)
{
	size_t n = strlen(STORE_ORIGIN_PREFIX);
	if (strncmp(origin, STORE_ORIGIN_PREFIX, n) != 0 || !uuid_valid(origin + n))
		return NULL;
	return origin + n;
}

/* Deletes an origin image of the removed event's sample, provided it is an
 * image of the result store ("/6/images/{uuid}") that nothing else uses: no
 * sample of any account is that blob or still names it as its origin, and it
 * is no task result. Anything else stays and is an error row. */
static int remove_origin(struct task_ctx *ctx, const char *origin)
{
	const char *blob = store_origin_blob(origin);
	int in_use = 0, result = 0;
	if (!blob) {
		task_report_error(ctx, E_STORAGE,
				  "image origin '%s' is not an image of the result store (" STORE_ORIGIN_PREFIX
				  "{uuid}); not deleted",
				  origin);
		return -1;
	}
	if (objects_blob_in_use(ctx->objects, blob, origin, &in_use) || (result = task_is_result(ctx, blob)) < 0) {
		task_report_error(ctx, E_STORAGE, "cannot check whether image origin '%s' is still used; not deleted",
				  origin);
		return -1;
	}
	if (in_use || result) {
		task_report_error(ctx, E_STORAGE, "image origin '%s' is still used by %s; not deleted", origin,
				  result ? "a task result" : "another object");
		return -1;
	}
	if (!ctx->store || ctx->store->ops->del(ctx->store, blob)) {
		task_report_error(ctx, E_STORAGE, "cannot remove the image origin '%s'", origin);
		return -1;
	}
	return 0;
}

static int gc_run_events(struct task_ctx *ctx, json_object *content, char **ids, size_t n, json_object *removed,
			 struct task_fail *fail)
{
	struct objects_removed_event *ev;
	size_t nev;
	int remove_samples = task_json_int(content, "remove_samples", 0) != 0;
	int remove_origins = task_json_int(content, "remove_image_origins", 0) != 0;
	const char *account = task_account(ctx, task_json_get(content, "filters"));
	if (objects_delete_events(ctx->objects, ctx->arena, account, ids, n, &ev, &nev))
		return task_objects_fail(ctx, fail, "removing events");
	for (size_t i = 0; i < nev; i++) {
		json_object *item = json_object_new_object();
		json_object_object_add(item, "event_id", json_object_new_string(ev[i].event_id));
		if (remove_samples) {
			for (size_t s = 0; s < ev[i].nsamples; s++)
				if (!ctx->store || ctx->store->ops->del(ctx->store, ev[i].sample_ids[s]))
					task_report_error(ctx, E_STORAGE, "cannot remove sample %s of event %s",
							  ev[i].sample_ids[s], ev[i].event_id);
			json_object_object_add(item, "samples", task_json_strings(ev[i].sample_ids, ev[i].nsamples));
		}
		if (remove_origins) {
			json_object *gone = json_object_new_array();
			for (size_t s = 0; s < ev[i].norigins; s++)
				if (remove_origin(ctx, ev[i].image_origins[s]) == 0)
					json_object_array_add(gone, json_object_new_string(ev[i].image_origins[s]));
			json_object_object_add(item, "image_origins", gone);
		}
		json_object_array_add(removed, item);
	}
	return 0;
}

static int gc_run(struct task_ctx *ctx, json_object *content, json_object *subtask, json_object **partial,
		  struct task_fail *fail)
{
	size_t n, nremoved;
	char **removed_ids;
	if (task_require_objects(ctx, fail) || task_check_cancelled(ctx, fail))
		return -1;
	char **ids = subtask_ids(ctx, subtask, &n);
	json_object *filters = task_json_get(content, "filters");
	json_object *removed = json_object_new_array();
	*partial = json_object_new_object();
	json_object_object_add(*partial, "removed", removed);
	if (n == 0)
		return 0;
	enum gc_target target = gc_target(content);
	if (target == GC_EVENTS)
		return gc_run_events(ctx, content, ids, n, removed, fail);
	int owner = (int)task_json_int(subtask, "owner", OWNER_FACE);
	enum descriptor_type type = target == GC_EVENT_DESCRIPTORS
					    ? descriptor_type_from_name(task_json_str(filters, "descriptor_type", "face"))
					    : 0;
	if (objects_delete_descriptors(ctx->objects, ctx->arena, owner, ctx->account_id, type,
				       (int)task_json_int(filters, "descriptor_version", 0), ids, n, &removed_ids,
				       &nremoved))
		return task_objects_fail(ctx, fail, "removing descriptors");
	for (size_t i = 0; i < nremoved; i++)
		json_object_array_add(removed, json_object_new_string(removed_ids[i]));
	return 0;
}

struct id_pos {
	const char *id;
	size_t pos;
};

static int cmp_id_pos(const void *a, const void *b)
{
	const struct id_pos *x = a, *y = b;
	int c = strcmp(x->id, y->id);
	return c ? c : (x->pos < y->pos ? -1 : x->pos > y->pos);
}

/* A face may lose descriptors through itself and its attribute: each face
 * id once, at its first place. */
static json_object *unique_ids(json_object *ids)
{
	size_t n = json_object_array_length(ids);
	struct id_pos *refs = malloc((n ? n : 1) * sizeof(*refs));
	unsigned char *dup = calloc(n ? n : 1, 1);
	json_object *out = NULL;
	if (refs && dup) {
		for (size_t i = 0; i < n; i++)
			refs[i] = (struct id_pos){json_object_get_string(json_object_array_get_idx(ids, i)), i};
		qsort(refs, n, sizeof(*refs), cmp_id_pos);
		for (size_t i = 1; i < n; i++)
			if (strcmp(refs[i].id, refs[i - 1].id) == 0)
				dup[refs[i].pos] = 1;
		out = json_object_new_array_ext((int)n);
		for (size_t i = 0; i < n; i++)
			if (!dup[i])
				json_object_array_add(out, json_object_get(json_object_array_get_idx(ids, i)));
	}
	free(refs);
	free(dup);
	json_object_put(ids);
	return out;
}

static int gc_collect(struct task_ctx *ctx, json_object *content, json_object *partials, json_object **result,
		      struct task_fail *fail)
{
	json_object *all = task_json_concat(partials, "removed");
	if (gc_target(content) == GC_FACE_DESCRIPTORS && !(all = unique_ids(all))) {
		task_fail(fail, E_INTERNAL, "out of memory");
		return -1;
	}
	if (!task_json_int(content, "store_results", 1)) {
		json_object_put(all);
		all = NULL;
	}
	*result = task_result_document(ctx, all, fail);
	return *result ? 0 : -1;
}

const struct task_type task_gc = {
	.id = 4,
	.name = "gc",
	.result_is_zip = 0,
	.validate = gc_validate,
	.plan = gc_plan,
	.run_subtask = gc_run,
	.collect = gc_collect,
};
