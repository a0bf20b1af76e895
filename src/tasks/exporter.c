/* Task type exporter (8): faces or events chosen by filters, written as one
 * CSV file (chosen columns, csv_delimiter, a header row) inside a zip, with
 * their images in images/ when save_images is 1 (events: the samples of the
 * descriptor type; faces: the avatar, else the face samples), named
 * images/<object id>_<sample id>.<ext>.
 *
 * Workload: up to millions of objects. Planning cuts the matching ids into
 * ranges of EXPORT_CHUNK objects (one indexed query per boundary); each
 * subtask streams its range from the objects database through the CSV
 * writer into a deflated fragment (see export_rows.c), so no subtask holds
 * more than a row at a time; collecting joins the fragments into the zip
 * without recompressing. Progress is the share of ranges done. */
#include "tasks/task_type.h"
#include "tasks/export_rows.h"
#include "tasks/task_util.h"
#include "backends/objects_export.h"
#include "common/errors.h"
#include <stdlib.h>
#include <string.h>

#define EXPORT_CHUNK 25000
#define EXPORT_CSV_NAME "export.csv"

static enum objects_kind content_kind(json_object *content)
{
	return objects_kind_from_name(task_json_str(content, "objects_type", NULL));
}

static int exporter_validate(struct task_ctx *ctx, json_object *content, struct task_fail *fail)
{
	struct export_layout layout;
	char err[512];
	enum objects_kind kind = content_kind(content);
	if (export_layout_read(ctx->arena, content, kind, 0, &layout, fail))
		return -1;
	if (objects_validate_filters(ctx->cfg, kind, task_json_get(content, "filters"), err, sizeof(err))) {
		task_fail(fail, E_BAD_JSON, "Failed to validate input json. Path: 'content.filters', message: '%s'",
			  err);
		return -1;
	}
	return 0;
}

static json_object *range_json(const char *after, const char *upto)
{
	json_object *r = json_object_new_object();
	json_object_object_add(r, "after", after ? json_object_new_string(after) : NULL);
	json_object_object_add(r, "upto", upto ? json_object_new_string(upto) : NULL);
	return r;
}

/* Subtasks: (-∞, b0], (b0, b1], …, (b_last, +∞). */
static int exporter_plan(struct task_ctx *ctx, json_object *content, json_object **subtasks, struct task_fail *fail)
{
	char **bounds;
	size_t n;
	if (task_require_objects(ctx, fail))
		return -1;
	if (objects_export_bounds(ctx->objects, ctx->arena, content_kind(content), task_json_get(content, "filters"),
				  ctx->account_id, EXPORT_CHUNK, &bounds, &n))
		return task_objects_fail(ctx, fail, "planning the export");
	*subtasks = json_object_new_array_ext((int)n + 1);
	for (size_t i = 0; i <= n; i++)
		json_object_array_add(*subtasks, range_json(i ? bounds[i - 1] : NULL, i < n ? bounds[i] : NULL));
	return 0;
}

struct export_stream {
	struct task_ctx *ctx;
	struct export_part *part;
	int failed;
};

static int export_one(void *ud, const struct objects_export_row *row)
{
	struct export_stream *s = ud;
	if (s->ctx->cancelled && atomic_load(s->ctx->cancelled))
		return 1;
	if (export_part_row(s->part, -1, row)) {
		s->failed = 1;
		return 1;
	}
	return 0;
}

static int exporter_run(struct task_ctx *ctx, json_object *content, json_object *subtask, json_object **partial,
			struct task_fail *fail)
{
	struct export_layout layout;
	struct export_stream s = {.ctx = ctx};
	int rc = -1;
	enum objects_kind kind = content_kind(content);
	if (task_require_objects(ctx, fail) || export_layout_read(ctx->arena, content, kind, 0, &layout, fail))
		return -1;
	struct objects_export_query q = {kind, layout.columns, layout.ncolumns, layout.images};
	s.part = export_part_begin(ctx, &layout, fail);
	if (!s.part)
		return -1;
	int streamed = objects_export_stream(ctx->objects, &q, task_json_get(content, "filters"), ctx->account_id,
					     task_json_str(subtask, "after", NULL), task_json_str(subtask, "upto", NULL),
					     export_one, &s);
	if (s.failed)
		goto out;
	if (task_check_cancelled(ctx, fail))
		goto out;
	if (streamed) {
		task_objects_fail(ctx, fail, "reading the objects");
		goto out;
	}
	rc = export_part_finish(s.part, partial);
	s.part = NULL;
out:
	export_part_abort(s.part);
	return rc;
}

static int exporter_collect(struct task_ctx *ctx, json_object *content, json_object *partials, json_object **result,
			    struct task_fail *fail)
{
	struct export_layout layout;
	*result = NULL;
	if (export_layout_read(ctx->arena, content, content_kind(content), 0, &layout, fail))
		return -1;
	return export_collect(ctx, &layout, EXPORT_CSV_NAME, partials, fail);
}

const struct task_type task_exporter = {
	.id = 8,
	.name = "exporter",
	.result_is_zip = 1,
	.validate = exporter_validate,
	.plan = exporter_plan,
	.run_subtask = exporter_run,
	.collect = exporter_collect,
	.cleanup = export_parts_cleanup,
};
