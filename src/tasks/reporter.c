/* Task type reporter (3): a CSV report (inside a zip) of a done clustering
 * task's clusters: one row per clustered object, with the cluster number
 * (0 = the largest cluster, as the clustering result orders them), the
 * object id and the chosen columns (the spec's defaults when omitted); with
 * save_images the objects' images in images/<cluster>/<object id>_<sample
 * id>.<ext>. An object deleted since the clustering keeps its first two
 * fields, the rest empty; a missing image is a task error, not a failure.
 *
 * Workload: at most 20000 objects (the clustering limit). Planning reads the
 * clustering result and cuts it into whole clusters of about REPORT_CHUNK
 * objects; a subtask looks its objects up by id, OBJECTS_EXPORT_MAX_IDS at a
 * time, and writes its rows as a part of the archive (see export_rows.c). */
#include "tasks/task_type.h"
#include "tasks/export_rows.h"
#include "tasks/task_util.h"
#include "backends/objects_export.h"
#include "backends/storage.h"
#include "common/errors.h"
#include "common/status.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_CHUNK 5000
#define REPORT_CSV_NAME "report.csv"

/* The source clustering task, as validated at creation and again when planning. */
struct source_task {
	long long id;
	const char *result_id;
	enum objects_kind kind;
};

/* Looks the source up in the account; fail holds the creation-time error codes. */
static int load_source(struct task_ctx *ctx, json_object *content, struct source_task *src, struct task_fail *fail)
{
	json_object *filters = task_json_get(content, "filters");
	long long source = task_json_int(filters, "task_id", 0);
	const char *account = task_account(ctx, filters);
	struct task_row row;
	int found = task_lookup(ctx, source, account, &row);
	if (found < 0) {
		task_fail(fail, E_DB, "%s", luna_error_def(E_DB)->detail_fmt);
		return -1;
	}
	if (found == 0) {
		task_fail_set(fail, 400, E_TASK_NOT_FOUND, E_TASK_NOT_FOUND_DETAIL, source);
		return -1;
	}
	int type = row.type, status = row.status;
	if (type != 2) {
		task_fail_detail(fail, E_REPORT_TYPE, type);
		return -1;
	}
	if (status != TASK_DONE) {
		task_fail_detail(fail, E_REPORT_STATUS, status);
		return -1;
	}
	if (!row.result_id) {
		task_fail(fail, E_REPORT_NO_RESULT, "%s", luna_error_def(E_REPORT_NO_RESULT)->detail_fmt);
		return -1;
	}
	json_object *source_content = json_tokener_parse(row.content ? row.content : "");
	src->id = source;
	src->result_id = row.result_id;
	src->kind = objects_kind_from_name(task_json_str(source_content, "objects_type", "faces"));
	json_object_put(source_content);
	return 0;
}

/* The source must be a done clustering task of the same account, with a
 * result; the columns must be ones of its objects' type. */
static int reporter_validate(struct task_ctx *ctx, json_object *content, struct task_fail *fail)
{
	struct source_task src;
	struct export_layout layout;
	if (load_source(ctx, content, &src, fail))
		return -1;
	return export_layout_read(ctx->arena, content, src.kind, 1, &layout, fail);
}

static void put_json(void *o)
{
	json_object_put(o);
}

/* The clusters of the source's stored result ({"result": {"clusters": …}}); owned by the arena. */
static json_object *load_clusters(struct task_ctx *ctx, const struct source_task *src, struct task_fail *fail)
{
	void *data = NULL;
	size_t len = 0;
	if (!ctx->store || ctx->store->ops->get(ctx->store, src->result_id, &data, &len)) {
		if (ctx->store && errno == ENOENT)
			task_fail(fail, E_REPORT_NO_RESULT, "%s", luna_error_def(E_REPORT_NO_RESULT)->detail_fmt);
		else
			task_fail(fail, E_STORAGE, "cannot read the result of task %lld: %s", src->id,
				  ctx->store ? strerror(errno) : "no result store");
		return NULL;
	}
	json_object *doc = json_tokener_parse(data);
	free(data);
	arena_defer(ctx->arena, put_json, doc);
	json_object *clusters = task_json_get(task_json_get(doc, "result"), "clusters");
	if (!json_object_is_type(clusters, json_type_array)) {
		task_fail(fail, E_INTERNAL, "the result of clustering task %lld has no clusters", src->id);
		return NULL;
	}
	return clusters;
}

static json_object *new_chunk(size_t first, enum objects_kind kind)
{
	json_object *chunk = json_object_new_object();
	json_object_object_add(chunk, "objects_type", json_object_new_string(kind == OBJ_EVENTS ? "events" : "faces"));
	json_object_object_add(chunk, "first_cluster", json_object_new_int64((int64_t)first));
	json_object_object_add(chunk, "clusters", json_object_new_array());
	return chunk;
}

/* Subtasks of whole clusters, about REPORT_CHUNK objects each (at least one subtask). */
static int reporter_plan(struct task_ctx *ctx, json_object *content, json_object **subtasks, struct task_fail *fail)
{
	struct source_task src;
	json_object *clusters, *chunk = NULL, *in_chunk = NULL;
	size_t objects = 0;
	if (load_source(ctx, content, &src, fail) || !(clusters = load_clusters(ctx, &src, fail)))
		return -1;
	*subtasks = json_object_new_array();
	for (size_t c = 0; c < json_object_array_length(clusters); c++) {
		json_object *members = json_object_array_get_idx(clusters, c);
		if (!chunk || objects >= REPORT_CHUNK) {
			chunk = new_chunk(c, src.kind);
			json_object_object_get_ex(chunk, "clusters", &in_chunk);
			json_object_array_add(*subtasks, chunk);
			objects = 0;
		}
		json_object_array_add(in_chunk, json_object_get(members));
		objects += json_object_array_length(members);
	}
	if (!chunk)
		json_object_array_add(*subtasks, new_chunk(0, src.kind));
	return 0;
}

/* ---- run_subtask ------------------------------------------------------------------ */

/* A row read back while a batch is looked up, kept until its turn comes. */
struct kept_row {
	const char *id;
	char **cells;
	unsigned long *lens;
	const char *samples, *avatar;
};

/* A batch: objects in report order (cluster[i], ids[i]) and the rows found. */
struct batch {
	struct arena *a;
	size_t n, ncells;
	long *cluster;
	char **ids;
	struct kept_row *found;
	size_t nfound;
};

static char *keep_cell(struct arena *a, const char *s, unsigned long len)
{
	return s ? arena_strndup(a, s, len) : NULL;
}

static int keep_row(void *ud, const struct objects_export_row *row)
{
	struct batch *b = ud;
	if (b->nfound >= b->n)
		return 1;
	struct kept_row *k = &b->found[b->nfound++];
	k->id = arena_strdup(b->a, row->id);
	k->cells = arena_alloc(b->a, (b->ncells + 1) * sizeof(char *));
	k->lens = arena_alloc(b->a, (b->ncells + 1) * sizeof(unsigned long));
	for (size_t c = 0; c < b->ncells; c++) {
		k->cells[c] = keep_cell(b->a, row->cells[c], row->lens[c]);
		k->lens[c] = row->lens[c];
	}
	k->samples = row->samples ? arena_strdup(b->a, row->samples) : NULL;
	k->avatar = row->avatar ? arena_strdup(b->a, row->avatar) : NULL;
	return 0;
}

static int cmp_kept(const void *key, const void *elem)
{
	return strcmp(key, ((const struct kept_row *)elem)->id);
}

/* Looks the batch up and writes its rows in report order. */
static int write_batch(struct task_ctx *ctx, const struct objects_export_query *q, struct batch *b,
		       struct export_part *part, struct task_fail *fail)
{
	b->found = arena_alloc(b->a, (b->n + 1) * sizeof(*b->found));
	b->nfound = 0;
	if (objects_export_by_ids(ctx->objects, q, ctx->account_id, b->ids, b->n, keep_row, b))
		return task_objects_fail(ctx, fail, "reading the clustered objects");
	for (size_t i = 0; i < b->n; i++) {
		const struct kept_row *k = bsearch(b->ids[i], b->found, b->nfound, sizeof(*b->found), cmp_kept);
		int rc;
		if (k) {
			struct objects_export_row row = {k->id, k->cells, k->lens, k->samples, k->avatar};
			rc = export_part_row(part, b->cluster[i], &row);
		} else {
			rc = export_part_missing(part, b->cluster[i], b->ids[i]);
		}
		if (rc)
			return -1;
	}
	return 0;
}

static size_t query_cells(const struct objects_export_query *q)
{
	size_t n = 0;
	for (size_t i = 0; i < q->ncolumns; i++)
		n += q->columns[i]->value == EXV_GEO ? 2 : 1;
	return n;
}

/* Feeds the subtask's clusters through batches of at most OBJECTS_EXPORT_MAX_IDS objects. */
static int report_clusters(struct task_ctx *ctx, const struct objects_export_query *q, json_object *subtask,
			   struct export_part *part, struct task_fail *fail)
{
	json_object *clusters = task_json_get(subtask, "clusters");
	long first = (long)task_json_int(subtask, "first_cluster", 0);
	struct batch b = {.ncells = query_cells(q)};
	int rc = -1;
	b.cluster = arena_alloc(ctx->arena, OBJECTS_EXPORT_MAX_IDS * sizeof(long));
	b.ids = arena_alloc(ctx->arena, OBJECTS_EXPORT_MAX_IDS * sizeof(char *));
	b.a = arena_new();
	for (size_t c = 0; clusters && c < json_object_array_length(clusters); c++) {
		json_object *members = json_object_array_get_idx(clusters, c);
		for (size_t m = 0; m < json_object_array_length(members); m++) {
			if (task_check_cancelled(ctx, fail))
				goto out;
			b.cluster[b.n] = first + (long)c;
			b.ids[b.n++] = (char *)json_object_get_string(json_object_array_get_idx(members, m));
			if (b.n < OBJECTS_EXPORT_MAX_IDS)
				continue;
			if (write_batch(ctx, q, &b, part, fail))
				goto out;
			arena_free(b.a);
			b.a = arena_new();
			b.n = 0;
		}
	}
	if (b.n && write_batch(ctx, q, &b, part, fail))
		goto out;
	rc = 0;
out:
	arena_free(b.a);
	return rc;
}

static int reporter_run(struct task_ctx *ctx, json_object *content, json_object *subtask, json_object **partial,
			struct task_fail *fail)
{
	struct export_layout layout;
	struct export_part *part = NULL;
	int rc = -1;
	enum objects_kind kind = objects_kind_from_name(task_json_str(subtask, "objects_type", "faces"));
	if (task_require_objects(ctx, fail) || export_layout_read(ctx->arena, content, kind, 1, &layout, fail))
		return -1;
	struct objects_export_query q = {kind, layout.columns, layout.ncolumns, layout.images};
	part = export_part_begin(ctx, &layout, fail);
	if (!part || report_clusters(ctx, &q, subtask, part, fail))
		goto out;
	rc = export_part_finish(part, partial);
	part = NULL;
	if (rc == 0)
		json_object_object_add(*partial, "objects_type", json_object_new_string(kind == OBJ_EVENTS ? "events"
													   : "faces"));
out:
	export_part_abort(part);
	return rc;
}

static int reporter_collect(struct task_ctx *ctx, json_object *content, json_object *partials, json_object **result,
			    struct task_fail *fail)
{
	struct export_layout layout;
	const char *type = NULL;
	*result = NULL;
	for (size_t i = 0; !type && i < json_object_array_length(partials); i++)
		type = task_json_str(json_object_array_get_idx(partials, i), "objects_type", NULL);
	if (export_layout_read(ctx->arena, content, objects_kind_from_name(type ? type : "faces"), 1, &layout, fail))
		return -1;
	return export_collect(ctx, &layout, REPORT_CSV_NAME, partials, fail);
}

const struct task_type task_reporter = {
	.id = 3,
	.name = "reporter",
	.result_is_zip = 1,
	.validate = reporter_validate,
	.plan = reporter_plan,
	.run_subtask = reporter_run,
	.collect = reporter_collect,
	.cleanup = export_parts_cleanup,
};
