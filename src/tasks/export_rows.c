/* Rows of the reporter and exporter tasks: layout, value rendering, a
 * subtask's part of the archive, and collecting the parts (see
 * export_rows.h).
 *
 * A part is two blobs of the result store named after the task and the
 * subtask (so a retried subtask replaces its own part): the rows as a
 * deflated CSV fragment, and, with save_images, an archive of the part's
 * images. The subtask's partial result only describes them (CRC-32, sizes,
 * row count), so the scheduler never holds rows in memory; collecting copies
 * the fragments and the images into the task's zip without recompressing.
 * Workload: up to millions of rows per task, a few microseconds per row. */
#include "tasks/export_rows.h"
#include "tasks/export_values.h"
#include "tasks/task_util.h"
#include "backends/storage.h"
#include "common/encoding.h"
#include "common/errors.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define FLUSH_AT (1 << 16)         /* rows are compressed in pieces of about this size */

/* ---- Layout --------------------------------------------------------------------- */

static const char *const event_export_defaults[] = {
	"event_id", "create_time", "external_id", "handler_id", "source", "top_match", "match_result",
	"face_detections", "face_id", "attach_result", "gender", "end_time", "age", "emotion", "ethnic_group",
	"tags", "user_data", "city", "area", "district", "street", "house_number", "geo_position",
	"body_detections", "mask", "track_id", "liveness", NULL};
static const char *const event_report_defaults[] = {
	"create_time", "external_id", "handler_id", "source", "top_match", "match_result", "face_detections",
	"face_id", "attach_result", "gender", "age", "emotion", "ethnic_group", "tags", "user_data", "city", "area",
	"district", "street", "house_number", "geo_position", "body_detections", "mask", "track_id", "liveness",
	"end_time", NULL};
static const char *const face_export_defaults[] = {"face_id", "user_data", "create_time", "external_id", "avatar",
						   "event_id", NULL};
static const char *const face_report_defaults[] = {"user_data", "create_time", "external_id", "avatar", "event_id",
						   NULL};

const char *const *export_default_columns(enum objects_kind kind, int reporter)
{
	if (kind == OBJ_EVENTS)
		return reporter ? event_report_defaults : event_export_defaults;
	return reporter ? face_report_defaults : face_export_defaults;
}

static const char *kind_noun(enum objects_kind kind)
{
	return kind == OBJ_EVENTS ? "event" : "face";
}

/* The reporter's lists leave out the object id: it is always the second column. */
static int column_allowed(enum objects_kind kind, int reporter, const char *name)
{
	if (!objects_export_column(kind, name))
		return 0;
	return !reporter || strcmp(name, kind == OBJ_EVENTS ? "event_id" : "face_id") != 0;
}

static int read_columns(struct arena *a, json_object *content, struct export_layout *L, struct task_fail *fail)
{
	json_object *given = task_json_get(content, "columns");
	const char *const *defaults = export_default_columns(L->kind, L->reporter);
	size_t n = 0;
	if (given && !json_object_is_type(given, json_type_array)) {
		task_fail(fail, E_BAD_JSON,
			  "Failed to validate input json. Path: 'content.columns', message: 'must be an array'");
		return -1;
	}
	if (given)
		n = json_object_array_length(given);
	if (given && n == 0 && !L->reporter) {
		task_fail(fail, E_BAD_JSON,
			  "Failed to validate input json. Path: 'content.columns', message: 'names no column'");
		return -1;
	}
	if (!given)
		while (defaults[n])
			n++;
	L->columns = arena_alloc(a, (n + 1) * sizeof(*L->columns));
	for (size_t i = 0; i < n; i++) {
		json_object *v = given ? json_object_array_get_idx(given, i) : NULL;
		const char *name = given ? (json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL)
					 : defaults[i];
		if (!name || !column_allowed(L->kind, L->reporter, name)) {
			task_fail(fail, E_BAD_JSON,
				  "Failed to validate input json. Path: 'content.columns.%zu', message: '%s is not "
				  "a %s column of %s'",
				  i, name ? name : "this value", L->reporter ? "report" : "export",
				  L->kind == OBJ_EVENTS ? "events" : "faces");
			return -1;
		}
		L->columns[i] = objects_export_column(L->kind, name);
	}
	L->ncolumns = n;
	return 0;
}

int export_layout_read(struct arena *a, json_object *content, enum objects_kind kind, int reporter,
		       struct export_layout *L, struct task_fail *fail)
{
	memset(L, 0, sizeof(*L));
	if (kind != OBJ_EVENTS && kind != OBJ_FACES) {
		task_fail(fail, E_BAD_JSON,
			  "Failed to validate input json. Path: 'content.objects_type', message: 'must be faces or "
			  "events'");
		return -1;
	}
	L->kind = kind;
	L->reporter = reporter;
	if (read_columns(a, content, L, fail))
		return -1;
	if (csv_format_init(&L->csv, task_json_str(content, "csv_delimiter", ","))) {
		task_fail(fail, E_BAD_JSON,
			  "Failed to validate input json. Path: 'content.csv_delimiter', message: 'must be one "
			  "character other than a double quote, CR or LF'");
		return -1;
	}
	if (task_json_int(content, "save_images", 0))
		L->images = kind == OBJ_EVENTS ? task_descriptor_type(task_json_get(content, "descriptor"))
					       : DESCRIPTOR_FACE;
	return 0;
}

/* ---- A subtask's part -------------------------------------------------------------- */

struct export_part {
	struct task_ctx *ctx;
	const struct export_layout *L;
	struct task_fail *fail;
	struct csv_part csv;
	struct image_zip *images;
	struct csv_buf rows, value, text;
	struct export_zone zone;
	size_t nrows, nmissing_images;
};

struct export_part *export_part_begin(struct task_ctx *ctx, const struct export_layout *L, struct task_fail *fail)
{
	char err[512];
	if (!ctx->store) {
		task_fail(fail, E_STORAGE, "the result store is not available");
		return NULL;
	}
	struct export_part *p = calloc(1, sizeof(*p));
	if (!p) {
		task_fail(fail, E_INTERNAL, "out of memory");
		return NULL;
	}
	p->ctx = ctx;
	p->L = L;
	p->fail = fail;
	p->zone.local = strcasecmp(ctx->cfg->time_zone, "UTC") != 0;
	p->zone.bucket = INT64_MIN;
	if (csv_part_open(&p->csv, err, sizeof(err)) ||
	    (L->images && !(p->images = image_zip_open(ctx->store, err, sizeof(err))))) {
		task_fail_detail(fail, E_STORAGE, err);
		export_part_abort(p);
		return NULL;
	}
	return p;
}

/* Renders one column (its cells start at cells[0]) into p->value. */
static void render_column(struct export_part *p, const struct export_column *c, char **cells, unsigned long *lens)
{
	struct csv_buf *v = &p->value;
	v->len = 0;
	switch (c->value) {
	case EXV_TEXT:
		if (cells[0])
			csv_buf_put(v, cells[0], lens[0]);
		break;
	case EXV_TIME:
		if (cells[0])
			export_render_time(v, &p->zone, cells[0], lens[0]);
		break;
	case EXV_JSON:
		if (cells[0])
			export_render_json(v, &p->text, cells[0], lens[0]);
		break;
	case EXV_ID_LIST:
		export_render_id_list(v, cells[0], cells[0] ? lens[0] : 0);
		break;
	case EXV_GEO:
		if (cells[0] && cells[1]) {
			export_render_double(v, cells[0], lens[0]);
			csv_buf_put(v, ", ", 2);
			export_render_double(v, cells[1], lens[1]);
		}
		break;
	}
}

static int flush_rows(struct export_part *p, int always)
{
	char err[512];
	if (!always && p->rows.len < FLUSH_AT)
		return 0;
	if (csv_part_write(&p->csv, p->rows.p, p->rows.len, err, sizeof(err))) {
		task_fail_detail(p->fail, E_STORAGE, err);
		return -1;
	}
	p->rows.len = 0;
	return 0;
}

/* The first fields: the cluster number and the object id (reporter only). */
static size_t lead_fields(struct export_part *p, long cluster, const char *id)
{
	char num[24];
	if (!p->L->reporter)
		return 0;
	int n = snprintf(num, sizeof(num), "%ld", cluster);
	csv_field(&p->rows, &p->L->csv, 1, num, (size_t)n);
	csv_field(&p->rows, &p->L->csv, 0, id, strlen(id));
	return 2;
}

/* A sample that cannot be read: a task error row when it is missing, a failure otherwise. */
static int image_unreadable(struct export_part *p, const char *object_id, const char *what, const char *blob)
{
	int err = errno;
	if (err == ENOENT || err == EINVAL) {
		p->nmissing_images++;
		task_report_error(p->ctx, E_OBJECTS_NOT_FOUND,
				  "Image of %s '%s' not found: %s '%s' is not in the result store", kind_noun(p->L->kind),
				  object_id, what, blob);
		return 0;
	}
	task_fail(p->fail, E_STORAGE, "cannot read %s '%s' of %s '%s': %s", what, blob,
		  kind_noun(p->L->kind), object_id, strerror(err));
	return -1;
}

/* images/[<cluster>/]<object id>_<blob>.<ext>, the blob read when the archive is written. */
static int save_image(struct export_part *p, long cluster, const char *object_id, const char *what, const char *blob,
		      size_t bloblen)
{
	char id[129], name[512], err[512];
	unsigned char head[16];
	FILE *f = NULL;
	size_t len = 0;
	if (bloblen == 0 || bloblen >= sizeof(id)) {
		errno = EINVAL;
		snprintf(id, sizeof(id), "%.*s", (int)(bloblen < sizeof(id) ? bloblen : sizeof(id) - 1), blob);
		return image_unreadable(p, object_id, what, id);
	}
	memcpy(id, blob, bloblen);
	id[bloblen] = '\0';
	if (p->ctx->store->ops->open_read(p->ctx->store, id, &f, &len))
		return image_unreadable(p, object_id, what, id);
	size_t got = fread(head, 1, sizeof(head), f);
	fclose(f);
	const char *ext = image_extension(head, got);
	if (p->L->reporter)
		snprintf(name, sizeof(name), "images/%ld/%s_%s.%s", cluster, object_id, id, ext);
	else
		snprintf(name, sizeof(name), "images/%s_%s.%s", object_id, id, ext);
	if (image_zip_add(p->images, name, id, len, err, sizeof(err))) {
		task_fail_detail(p->fail, E_STORAGE, err);
		return -1;
	}
	return 0;
}

/* A face's avatar when it has one (the last path segment names the sample),
 * else the samples of the image type. */
static int save_images(struct export_part *p, long cluster, const struct objects_export_row *row)
{
	if (row->avatar && row->avatar[0]) {
		const char *slash = strrchr(row->avatar, '/');
		const char *blob = slash ? slash + 1 : row->avatar;
		return save_image(p, cluster, row->id, "avatar", blob, strlen(blob));
	}
	for (const char *s = row->samples; s && *s;) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		if (save_image(p, cluster, row->id, "sample", s, len))
			return -1;
		s += len + (comma ? 1 : 0);
	}
	return 0;
}

int export_part_row(struct export_part *p, long cluster, const struct objects_export_row *row)
{
	const struct export_layout *L = p->L;
	size_t start = p->rows.len, nfields = lead_fields(p, cluster, row->id), cell = 0;
	for (size_t i = 0; i < L->ncolumns; i++) {
		const struct export_column *c = L->columns[i];
		render_column(p, c, row->cells + cell, row->lens + cell);
		csv_field(&p->rows, &L->csv, nfields == 0, p->value.p ? p->value.p : "", p->value.len);
		nfields++;
		cell += c->value == EXV_GEO ? 2 : 1;
	}
	csv_row_end(&p->rows, nfields, start);
	p->nrows++;
	if (L->images && save_images(p, cluster, row))
		return -1;
	return flush_rows(p, 0);
}

int export_part_missing(struct export_part *p, long cluster, const char *id)
{
	size_t start = p->rows.len, nfields = lead_fields(p, cluster, id);
	for (size_t i = 0; i < p->L->ncolumns; i++)
		csv_field(&p->rows, &p->L->csv, nfields++ == 0, "", 0);
	csv_row_end(&p->rows, nfields, start);
	p->nrows++;
	return flush_rows(p, 0);
}

size_t export_part_rows(const struct export_part *p)
{
	return p->nrows;
}

static const char *part_blob(struct task_ctx *ctx, const char *suffix)
{
	return arena_printf(ctx->arena, "task-%lld-part-%lld.%s", ctx->task_id, ctx->subtask_id, suffix);
}

void export_parts_cleanup(struct task_ctx *ctx)
{
	static const char *const suffixes[] = {"csv", "zip"};
	long long *ids;
	size_t n;
	if (!ctx->store || task_subtask_ids(ctx, &ids, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		ctx->subtask_id = ids[i];
		for (size_t k = 0; k < 2; k++)
			ctx->store->ops->del(ctx->store, part_blob(ctx, suffixes[k]));
	}
	ctx->subtask_id = 0;
}

/* Moves a finished temporary file into the store under blob. */
static int store_file(struct export_part *p, const char *blob, char *path)
{
	int rc = p->ctx->store->ops->put_file(p->ctx->store, blob, path);
	path[0] = '\0';   /* moved, or removed by put_file */
	if (rc)
		task_fail(p->fail, E_STORAGE, "cannot store %s: %s", blob, strerror(errno));
	return rc;
}

int export_part_finish(struct export_part *p, json_object **partial)
{
	struct task_ctx *ctx = p->ctx;
	char err[512], img_path[256] = "";
	const char *csv_blob = part_blob(ctx, "csv"), *img_blob = NULL;
	int rc = -1, csv_stored = 0;
	if (flush_rows(p, 1))
		goto out;
	if (csv_part_finish(&p->csv, err, sizeof(err))) {
		task_fail_detail(p->fail, E_STORAGE, err);
		goto out;
	}
	if (p->images) {
		struct image_zip *z = p->images;
		p->images = NULL;
		if (image_zip_close(z, img_path, sizeof(img_path), ctx->cancelled, err, sizeof(err))) {
			task_fail_detail(p->fail, E_STORAGE, err);
			goto out;
		}
	}
	if (store_file(p, csv_blob, p->csv.path))
		goto out;
	csv_stored = 1;
	if (img_path[0]) {
		img_blob = part_blob(ctx, "zip");
		if (store_file(p, img_blob, img_path))
			goto out;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "rows", json_object_new_int64((int64_t)p->nrows));
	json_object_object_add(o, "csv", json_object_new_string(csv_blob));
	json_object_object_add(o, "crc", json_object_new_int64(p->csv.crc));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)p->csv.size));
	json_object_object_add(o, "csize", json_object_new_int64((int64_t)p->csv.csize));
	json_object_object_add(o, "images", img_blob ? json_object_new_string(img_blob) : NULL);
	json_object_object_add(o, "missing_images", json_object_new_int64((int64_t)p->nmissing_images));
	*partial = o;
	rc = 0;
out:
	if (rc && csv_stored)
		ctx->store->ops->del(ctx->store, csv_blob);
	if (img_path[0])
		unlink(img_path);
	export_part_abort(p);
	return rc;
}

void export_part_abort(struct export_part *p)
{
	if (!p)
		return;
	csv_part_discard(&p->csv);
	image_zip_discard(p->images);
	csv_buf_free(&p->rows);
	csv_buf_free(&p->value);
	csv_buf_free(&p->text);
	free(p);
}

/* ---- Collecting ----------------------------------------------------------------- */

static const char *json_str_of(json_object *o, const char *key)
{
	return task_json_str(o, key, NULL);
}

/* The header row as a fragment of its own, made in memory. */
static int header_fragment(struct task_ctx *ctx, const struct export_layout *L, struct csv_fragment *fr)
{
	struct csv_buf b = {0};
	size_t nfields = 0;
	unsigned char *data = NULL;
	size_t len = 0;
	uint32_t crc = 0;
	if (L->reporter) {
		csv_field(&b, &L->csv, 1, "cluster", 7);
		csv_field(&b, &L->csv, 0, L->kind == OBJ_EVENTS ? "event_id" : "face_id",
			  L->kind == OBJ_EVENTS ? 8 : 7);
		nfields = 2;
	}
	for (size_t i = 0; i < L->ncolumns; i++, nfields++)
		csv_field(&b, &L->csv, nfields == 0, L->columns[i]->name, strlen(L->columns[i]->name));
	csv_row_end(&b, nfields, 0);
	size_t text_len = b.len;
	int rc = csv_fragment_of(b.p, b.len, &data, &len, &crc);
	csv_buf_free(&b);
	if (rc)
		return -1;
	arena_defer(ctx->arena, free, data);
	*fr = (struct csv_fragment){.blob = NULL, .data = data, .csize = len, .size = text_len, .crc = crc};
	return 0;
}

/* Deletes every stored blob of the parts. */
static void drop_parts(struct task_ctx *ctx, json_object *partials)
{
	size_t n = partials ? json_object_array_length(partials) : 0;
	for (size_t i = 0; i < n && ctx->store; i++) {
		json_object *part = json_object_array_get_idx(partials, i);
		const char *csv = json_str_of(part, "csv"), *img = json_str_of(part, "images");
		if (csv)
			ctx->store->ops->del(ctx->store, csv);
		if (img)
			ctx->store->ops->del(ctx->store, img);
	}
}

int export_collect(struct task_ctx *ctx, const struct export_layout *L, const char *csv_name,
		   json_object *partials, struct task_fail *fail)
{
	size_t n = json_object_array_length(partials), nimg = 0, failed = 0;
	struct csv_fragment *frags = arena_alloc(ctx->arena, (n + 1) * sizeof(*frags));
	char **images = arena_alloc(ctx->arena, (n + 1) * sizeof(char *));
	char err[512];
	int rc = -1;
	if (!ctx->store) {
		task_fail(fail, E_STORAGE, "the result store is not available");
		goto out;
	}
	if (header_fragment(ctx, L, &frags[0])) {
		task_fail(fail, E_INTERNAL, "cannot compress the header row");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *part = json_object_array_get_idx(partials, i);
		const char *csv = json_str_of(part, "csv");
		if (!csv) {
			failed++;
			continue;
		}
		frags[i + 1] = (struct csv_fragment){
			.blob = csv,
			.csize = (uint64_t)task_json_int(part, "csize", 0),
			.size = (uint64_t)task_json_int(part, "size", 0),
			.crc = (uint32_t)task_json_int(part, "crc", 0),
		};
		if (json_str_of(part, "images"))
			images[nimg++] = (char *)json_str_of(part, "images");
	}
	if (failed) {
		task_fail(fail, E_INTERNAL, "%zu of %zu parts of the archive failed (see the subtask errors)",
			  failed, n);
		goto out;
	}
	if (result_zip_write(ctx->store, csv_name, frags, n + 1, images, nimg, ctx->result_id, ctx->cancelled, err,
			     sizeof(err))) {
		if (task_check_cancelled(ctx, fail) == 0)
			task_fail_detail(fail, E_STORAGE, err);
		goto out;
	}
	rc = 0;
out:
	drop_parts(ctx, partials);
	return rc;
}
