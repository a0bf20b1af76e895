/* What the reporter (3) and exporter (8) tasks share: the CSV layout read
 * from the task content, the rendering of values, the subtask's part of the
 * archive (a deflated CSV fragment plus an archive of its images, both kept
 * in the result store) and the collection of the parts into the task's zip.
 *
 * Values are rendered as the spec's result examples show them: times in
 * RFC 3339 with microseconds and the configured offset, numbers as stored,
 * JSON documents (top_match, match_result, detections, tags, attach_result)
 * and id lists as Python literals ("{'face_id': '…', 'similarity': 0.6}"),
 * geo_position as "latitude, longitude"; NULL as an empty field.
 * Workload: one call per row, a few microseconds each; nothing grows with the
 * number of rows. */
#ifndef LUNA_EXPORT_ROWS_H
#define LUNA_EXPORT_ROWS_H
#include <json-c/json.h>
#include "backends/objects_export.h"
#include "tasks/csv_zip.h"
#include "tasks/task_type.h"

struct export_layout {
	enum objects_kind kind;
	const struct export_column **columns;
	size_t ncolumns;
	struct csv_format csv;         /* csv_delimiter */
	int reporter;                  /* rows start with the cluster number and the object id */
	enum descriptor_type images;   /* sample type of the images to save; 0: none */
};

/* The layout of content (columns or the spec's defaults for the kind,
 * csv_delimiter, save_images, descriptor.type). A column that the kind does
 * not have, or a bad delimiter, fails with 400 / 12022. Memory from a. */
int export_layout_read(struct arena *a, json_object *content, enum objects_kind kind, int reporter,
		       struct export_layout *layout, struct task_fail *fail);

/* The spec's default columns of the kind (NULL-terminated). */
const char *const *export_default_columns(enum objects_kind kind, int reporter);

/* ---- A subtask's part ------------------------------------------------------------- */

struct export_part;
struct export_part *export_part_begin(struct task_ctx *ctx, const struct export_layout *layout,
				      struct task_fail *fail);
/* One object's row (cluster < 0 for the exporter), and its images. A missing
 * image is a task error row, not a failure. -1 with the part's fail filled. */
int export_part_row(struct export_part *p, long cluster, const struct objects_export_row *row);
/* The row of an object that no longer exists (reporter): cluster and id only. */
int export_part_missing(struct export_part *p, long cluster, const char *id);
size_t export_part_rows(const struct export_part *p);
/* Stores the part and describes it in *partial; frees p. */
int export_part_finish(struct export_part *p, json_object **partial);
void export_part_abort(struct export_part *p);   /* NULL ok */
/* The task's cleanup hook: removes the CSV/zip pieces its subtasks stored
 * (needs ctx->host for the subtask ids, ctx->store, ctx->task_id; the subtask rows must still exist). */
void export_parts_cleanup(struct task_ctx *ctx);

/* ---- Collecting ----------------------------------------------------------------- */

/* Writes the archive (the header row, every part's rows in order, every
 * part's images) under ctx->result_id and deletes the parts. */
int export_collect(struct task_ctx *ctx, const struct export_layout *layout, const char *csv_name,
		   json_object *partials, struct task_fail *fail);
#endif
