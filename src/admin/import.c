/* luna-tasks-admin import {faces|events|attributes} FILE.jsonl: loads objects
 * into the local objects database (DESIGN §5).
 *
 * One JSON object per line with the API's field names. Every line is
 * validated, first against the import format's JSON schema
 * (docs/import.schema.json, by the schema engine), then for what a schema
 * cannot say; a bad line is reported as FILE:LINE with the reason. Lines are
 * written in batches (--batch N lines, default 20000, events 1000), one transaction per
 * batch: a batch holding a bad line is not written at all, the others are.
 * Re-importing a line replaces the object: ids are kept as given; absent
 * ones are derived from what names the object (face and event: account and
 * external_id; attribute: account and face_id; sample: owner and position),
 * and generated only when nothing names it. Descriptors ("vector" floats or
 * "vector_b64" little-endian float32) are L2-normalised; sample images go to
 * the result store under their sample id, written as the store folder's owner
 * when run as root (admin_become_store_owner).
 *
 * Workload: up to millions of faces with 512-d descriptors in one file;
 * MariaDB's CPU sets the pace. The main thread reads and checks a batch while
 * writer threads (--writers, default 2), each on its own connection, write
 * the ones before, one transaction per batch, so parsing and the server's
 * work on several cores overlap. Two batches that write the same object are
 * written one after the other, in file order. Rows go through the objects
 * backend's bulk import (objects_import_rows: sorted by key, multi-row
 * INSERTs with bound parameters); the batch's lists are looked up in one
 * statement at write time. bench/scale measures it against LOAD DATA of the
 * same rows. */
#include "admin/admin.h"
#include "backends/objects.h"
#include "backends/storage.h"
#include "common/encoding.h"
#include "common/schema.h"
#include "common/timefmt.h"
#include "common/uuid.h"
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DIM 16384
#define MAX_REPORTED_ERRORS 100
#define MAX_BATCH_LINES 100000
/* Lines per batch unless --batch says otherwise. Faces and attributes: each
 * batch's rows go to every index in key order, and the more rows a batch
 * holds, the more of them share an index page with the row before, which the
 * server then finds in its CPU caches: at 1,000,000 faces MariaDB spent 110 us
 * of CPU per face with batches of 1000 and 62 us with 20000 (bench/scale). A
 * batch of 20000 512-d faces holds about 100 MB; event lines are larger (their
 * JSON documents), so their batches stay short. */
#define DEFAULT_BATCH_LINES 20000
#define DEFAULT_EVENT_BATCH_LINES 1000
#define MAX_WRITERS 4

/* Rows of one table waiting for the batch's transaction. */
struct bulk {
	enum objects_import_table table;
	size_t ncols;
	struct db_param *params;
	size_t nrows, cap;     /* rows */
};

/* A sample image to store once its batch is written. */
struct pending_sample {
	char *sample_id;
	char *path;            /* read from a file, or */
	unsigned char *data;   /* decoded from base64 */
	size_t len;
};

struct dim_seen {
	int type, version;
	size_t d;
};

/* One batch of lines: read and checked by the main thread, then written in
 * one transaction by a writer thread while the main thread reads the next
 * batch into a free buffer. Everything a batch points to lives in its arena
 * (json-c objects included) until the batch is reused. */
struct batch {
	struct arena *a;
	size_t first_line, nlines, bad_lines;
	int in_use;            /* handed to a writer and not yet written (under mu) */
	uint64_t *keys;        /* hashes of the ids of the objects it writes, sorted */
	size_t nkeys;
	struct bulk faces, attributes, descriptors, list_faces, events, tags, matches, samples;
	struct objects_import_list *list_uses;
	size_t nlist_uses, lists_created; /* lists named; of them created by the write */
	char **event_ids;
	size_t nevent_ids;
	struct pending_sample *images;
	size_t nimages, capimages;
};

/* A writer thread with its own database connection: it writes one batch at a
 * time, the batches handed to it. */
struct writer {
	struct importer *im;
	pthread_t thread;
	int started;
	struct objects *objects;
	struct storage *store;
	struct batch *todo;    /* handed over, not yet started (under mu) */
	struct batch *doing;   /* being written (under mu) */
	char err[512];
};

struct importer {
	struct admin *ad;
	enum objects_kind kind;
	const char *file;
	char *base_dir;
	size_t batch_lines, nwriters;
	struct batch batches[MAX_WRITERS + 1];
	struct batch *b;       /* the batch being read */
	struct writer writers[MAX_WRITERS];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;              /* no more batches (under mu) */
	struct json_tokener *tok;
	struct spec *format;   /* the import format's JSON schema (docs/import.schema.json) */
	json_object *line_schema; /* of a line of this kind */
	struct dim_seen dims[64];
	size_t ndims;
	struct timespec t0, last_progress;
	double progress_seconds; /* between progress lines on stderr */
	/* Totals: lines and errors_reported are the main thread's; the others
	 * are under mu. */
	unsigned long long lines, errors_reported;
	unsigned long long objects_loaded, descriptors_written, lists_created, images_stored;
	unsigned long long rejected_batches, rejected_lines;
	int write_failed;
};

/* ---- Bulk rows ----------------------------------------------------------- */

static void bulk_init(struct bulk *b, enum objects_import_table table)
{
	memset(b, 0, sizeof(*b));
	b->table = table;
	b->ncols = objects_import_columns(table);
}

static struct db_param *bulk_row(struct batch *batch, struct bulk *b)
{
	if (b->nrows == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 512;
		struct db_param *p = arena_alloc(batch->a, cap * b->ncols * sizeof(*p));
		if (b->nrows)
			memcpy(p, b->params, b->nrows * b->ncols * sizeof(*p));
		b->params = p;
		b->cap = cap;
	}
	return b->params + b->nrows++ * b->ncols;
}

static void bulk_reset(struct bulk *b)
{
	b->params = NULL;
	b->nrows = b->cap = 0;
}

/* The objects backend's reason for the writer's last failure; returns -1. */
static int backend_failed(struct writer *w)
{
	snprintf(w->err, sizeof(w->err), "%s", objects_error(w->objects));
	return -1;
}

static int bulk_flush(struct writer *w, struct bulk *b)
{
	if (b->nrows && objects_import_rows(w->objects, b->table, b->params, b->nrows)) {
		snprintf(w->err, sizeof(w->err), "%s", objects_error(w->objects));
		return -1;
	}
	return 0;
}

/* ---- Line validation helpers --------------------------------------------- */

struct line {
	struct importer *im;
	json_object *obj;
	char *err;
	size_t errlen;
};

static int line_fail(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int line_fail(struct line *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(l->err, l->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static json_object *field(json_object *obj, const char *key)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

/* The line's values: read after the line has passed the import format's
 * schema (read_line), so types, lengths, ranges, uuids and required fields
 * are known to be right; what remains to check here is what a schema cannot
 * say. An absent value and a JSON null are the same. */
static const char *raw_text(json_object *obj, const char *key)
{
	json_object *v = field(obj, key);
	return v ? json_object_get_string(v) : NULL;
}

/* A string the batch keeps (in its parameters): copied into the batch's arena,
 * so that the line's JSON is released as soon as the line is read, and the
 * next line's parse reuses its memory. */
static const char *kept(struct line *l, const char *s)
{
	return s ? arena_strdup(l->im->b->a, s) : NULL;
}

static const char *text(struct line *l, json_object *obj, const char *key)
{
	return kept(l, raw_text(obj, key));
}

/* The id of an object a line names without one: the same line imported again
 * must name the same object, so it is derived (a name-based, version 5 style
 * uuid from SHA-256) from what identifies the object: its kind and two parts
 * such as the account and the external_id. */
static const char *derived_uuid(struct importer *im, const char *kind, const char *a, const char *b)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	char *text = arena_printf(im->b->a, "luna-tasks import\n%s\n%s\n%s", kind, a, b);
	char *id = arena_alloc(im->b->a, 37);
	if (!EVP_Digest(text, strlen(text), d, NULL, EVP_sha256(), NULL)) {
		uuid4(id);
		return id;
	}
	d[6] = (unsigned char)((d[6] & 0x0f) | 0x50);
	d[8] = (unsigned char)((d[8] & 0x3f) | 0x80);
	static const char hex[] = "0123456789abcdef";
	char *o = id;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hex[d[i] >> 4];
		*o++ = hex[d[i] & 15];
	}
	*o = '\0';
	return id;
}

/* A uuid kept as given, else derived from a and b when both are known, else
 * a new one (then importing the line again makes another object). */
static const char *uuid_or_derived(struct importer *im, const char *given, const char *kind, const char *a,
				   const char *b)
{
	if (given)
		return given;
	if (a && b)
		return derived_uuid(im, kind, a, b);
	char *id = arena_alloc(im->b->a, 37);
	uuid4(id);
	return id;
}

static struct db_param int_param(json_object *obj, const char *key)
{
	json_object *v = field(obj, key);
	return v ? DBP_I64(json_object_get_int64(v)) : DBP_NULL;
}

/* RFC 3339 → DB text in the batch arena; def when absent. */
static int opt_time(struct line *l, json_object *obj, const char *key, const char *def, const char **out)
{
	const char *s = raw_text(obj, key);
	int64_t us;
	if (!s) {
		*out = def;
		return 0;
	}
	if (time_parse_rfc3339(s, &us))
		return line_fail(l, "'%s' is not an RFC 3339 time: '%s'", key, s);
	char *buf = arena_alloc(l->im->b->a, 32);
	time_format_db(us, buf, 32);
	*out = buf;
	return 0;
}

/* JSON text of an optional field, or NULL. */
static const char *json_text(struct line *l, json_object *obj, const char *key)
{
	json_object *v = field(obj, key);
	return v ? arena_strdup(l->im->b->a, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN)) : NULL;
}

/* ---- Base64 and vectors --------------------------------------------------- */

/* Standard or URL-safe base64, padding optional, whitespace not allowed. */
static int b64_decode(struct arena *a, const char *s, unsigned char **out, size_t *outlen)
{
	size_t n = strlen(s);
	while (n && s[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return -1;
	*out = arena_alloc(a, BASE64_DECODED_MAX(n));
	return base64_decode(s, n, *out, outlen);
}

/* The descriptor's floats from "vector" or "vector_b64". */
static int read_vector(struct line *l, json_object *desc, float **out, size_t *d)
{
	json_object *vec = field(desc, "vector"), *b64 = field(desc, "vector_b64");
	if (!vec == !b64)
		return line_fail(l, "a descriptor needs exactly one of 'vector' and 'vector_b64'");
	float *v;
	size_t n;
	if (vec) {
		n = json_object_array_length(vec);
		v = arena_alloc(l->im->b->a, n * sizeof(float));
		for (size_t i = 0; i < n; i++)
			v[i] = (float)json_object_get_double(json_object_array_get_idx(vec, i));
	} else {
		unsigned char *bytes;
		size_t len;
		if (b64_decode(l->im->b->a, json_object_get_string(b64), &bytes, &len))
			return line_fail(l, "'vector_b64' is not base64");
		if (len == 0 || len % 4 || len / 4 > MAX_DIM)
			return line_fail(l, "'vector_b64' must hold 1..%d float32 values (got %zu bytes)", MAX_DIM, len);
		n = len / 4;
		v = (float *)(void *)bytes; /* in place: each value is read before it is written */
		floats_from_le32(v, bytes, n);
	}
	double norm = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(v[i]))
			return line_fail(l, "descriptor value %zu is not finite", i);
		norm += (double)v[i] * v[i];
	}
	if (norm == 0)
		return line_fail(l, "descriptor is a zero vector");
	objects_l2_normalize(v, n);
	*out = v;
	*d = n;
	return 0;
}

/* Every (type, version) keeps one length across the file. */
static int check_dimension(struct line *l, int type, int version, size_t d)
{
	struct importer *im = l->im;
	for (size_t i = 0; i < im->ndims; i++)
		if (im->dims[i].type == type && im->dims[i].version == version) {
			if (im->dims[i].d != d)
				return line_fail(l, "descriptor %s version %d has %zu values, earlier ones %zu",
						 type == DESCRIPTOR_FACE ? "face" : "body", version, d, im->dims[i].d);
			return 0;
		}
	if (im->ndims < sizeof(im->dims) / sizeof(im->dims[0]))
		im->dims[im->ndims++] = (struct dim_seen){type, version, d};
	return 0;
}

static int read_descriptors(struct line *l, const char *owner_id, enum objects_owner owner, const char *account_id)
{
	json_object *arr = field(l->obj, "descriptors");
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		json_object *desc = json_object_array_get_idx(arr, i), *given = field(desc, "version");
		const char *tname = raw_text(desc, "type");
		enum descriptor_type type = tname ? descriptor_type_from_name(tname) : DESCRIPTOR_FACE;
		if (owner == OWNER_FACE && type != DESCRIPTOR_FACE)
			return line_fail(l, "faces hold face descriptors only");
		long long version = given ? json_object_get_int64(given) : descriptor_default_version(&l->im->ad->cfg, type);
		float *v = NULL;
		size_t d = 0;
		if (read_vector(l, desc, &v, &d) || check_dimension(l, type, (int)version, d))
			return -1;
		struct db_param *p = bulk_row(l->im->b, &l->im->b->descriptors);
		p[0] = DBP_STR(owner_id);
		p[1] = DBP_I64(type);
		p[2] = DBP_I64(version);
		p[3] = DBP_I64(owner);
		p[4] = DBP_STR(account_id);
		p[5] = DBP_BYTES(v, d * sizeof(float));
	}
	return 0;
}

/* ---- Samples ---------------------------------------------------------------- */

static void add_sample_row(struct importer *im, const char *sample_id, const char *owner_id, enum objects_owner owner,
			   enum descriptor_type type, const char *origin)
{
	struct db_param *p = bulk_row(im->b, &im->b->samples);
	p[0] = DBP_STR(sample_id);
	p[1] = DBP_STR(owner_id);
	p[2] = DBP_I64(owner);
	p[3] = DBP_I64(type);
	p[4] = origin ? DBP_STR(origin) : DBP_NULL;
}

static void queue_image(struct importer *im, const char *sample_id, const char *path, unsigned char *data, size_t len)
{
	if (im->b->nimages == im->b->capimages) {
		size_t cap = im->b->capimages ? im->b->capimages * 2 : 64;
		struct pending_sample *p = arena_alloc(im->b->a, cap * sizeof(*p));
		if (im->b->nimages)
			memcpy(p, im->b->images, im->b->nimages * sizeof(*p));
		im->b->images = p;
		im->b->capimages = cap;
	}
	im->b->images[im->b->nimages++] = (struct pending_sample){(char *)sample_id, (char *)path, data, len};
}

/* "samples": [{sample_id, type, image_b64 | image_path}] */
static int read_samples(struct line *l, const char *owner_id, enum objects_owner owner)
{
	json_object *arr = field(l->obj, "samples");
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		json_object *s = json_object_array_get_idx(arr, i);
		const char *sid = text(l, s, "sample_id"), *tname = raw_text(s, "type"),
			   *b64 = raw_text(s, "image_b64"), *path = raw_text(s, "image_path");
		enum descriptor_type type = tname ? descriptor_type_from_name(tname) : DESCRIPTOR_FACE;
		if (!b64 == !path)
			return line_fail(l, "a sample needs exactly one of 'image_b64' and 'image_path'");
		sid = uuid_or_derived(l->im, sid, "sample", owner_id, arena_printf(l->im->b->a, "%zu", i));
		unsigned char *data = NULL;
		size_t len = 0;
		char *full = NULL;
		if (b64 && b64_decode(l->im->b->a, b64, &data, &len))
			return line_fail(l, "'image_b64' is not base64");
		if (path) {
			full = path[0] == '/' ? arena_strdup(l->im->b->a, path)
					      : arena_printf(l->im->b->a, "%s/%s", l->im->base_dir, path);
			FILE *f = fopen(full, "rb");
			if (!f)
				return line_fail(l, "cannot read image '%s': %s", full, strerror(errno));
			fclose(f);
		}
		queue_image(l->im, sid, full, data, len);
		add_sample_row(l->im, sid, owner_id, owner, type, NULL);
	}
	return 0;
}

/* ---- Lists ------------------------------------------------------------------ */

/* A list named by a face. The list must be the face's account's; whether it
 * exists is settled when the batch is written (check_lists), so reading a
 * line never waits for the database. Within a batch the lists are few (most
 * files name a handful), so they are kept in a plain array. */
static int use_list(struct line *l, const char *list_id, const char *account_id)
{
	struct batch *b = l->im->b;
	for (size_t i = 0; i < b->nlist_uses; i++)
		if (strcmp(b->list_uses[i].list_id, list_id) == 0) {
			if (strcmp(b->list_uses[i].account_id, account_id) != 0)
				return line_fail(l, "list %s belongs to another account", list_id);
			return 0;
		}
	if (b->nlist_uses % 64 == 0) {
		struct objects_import_list *u = arena_alloc(b->a, (b->nlist_uses + 64) * sizeof(*u));
		if (b->nlist_uses)
			memcpy(u, b->list_uses, b->nlist_uses * sizeof(*u));
		b->list_uses = u;
	}
	b->list_uses[b->nlist_uses++] = (struct objects_import_list){list_id, account_id};
	return 0;
}

/* ---- Faces ------------------------------------------------------------------ */

static void read_basic_attributes(struct line *l, const char *attribute_id, const char *account_id,
				 const char *face_id, const char *create_time, int *made)
{
	json_object *ba = field(l->obj, "basic_attributes");
	*made = 0;
	if (!ba)
		return;
	struct db_param *p = bulk_row(l->im->b, &l->im->b->attributes);
	p[0] = DBP_STR(attribute_id);
	p[1] = DBP_STR(account_id);
	p[2] = face_id ? DBP_STR(face_id) : DBP_NULL;
	p[3] = DBP_STR(create_time);
	p[4] = int_param(ba, "age");
	p[5] = int_param(ba, "gender");
	p[6] = int_param(ba, "ethnicity");
	*made = 1;
}

static int read_face(struct line *l, const char *now)
{
	struct importer *im = l->im;
	const char *face_id = text(l, l->obj, "face_id"), *account_id = text(l, l->obj, "account_id"),
		   *event_id = text(l, l->obj, "event_id"), *user_data = text(l, l->obj, "user_data"),
		   *external_id = text(l, l->obj, "external_id"), *avatar = text(l, l->obj, "avatar"),
		   *attribute_id = text(l, l->obj, "attribute_id"), *create_time;
	if (opt_time(l, l->obj, "create_time", now, &create_time))
		return -1;
	face_id = uuid_or_derived(im, face_id, "face", account_id, external_id);
	int made;
	const char *aid = field(l->obj, "basic_attributes")
				  ? uuid_or_derived(im, attribute_id, "face attribute", account_id, face_id)
				  : attribute_id;
	read_basic_attributes(l, aid, account_id, face_id, create_time, &made);
	struct db_param *p = bulk_row(im->b, &im->b->faces);
	p[0] = DBP_STR(face_id);
	p[1] = DBP_STR(account_id);
	p[2] = event_id ? DBP_STR(event_id) : DBP_NULL;
	p[3] = aid ? DBP_STR(aid) : DBP_NULL;
	p[4] = DBP_STR(user_data ? user_data : "");
	p[5] = DBP_STR(external_id ? external_id : "");
	p[6] = DBP_STR(avatar ? avatar : "");
	p[7] = DBP_STR(create_time);
	json_object *lists = field(l->obj, "lists");
	for (size_t i = 0; lists && i < json_object_array_length(lists); i++) {
		const char *list_id = kept(l, json_object_get_string(json_object_array_get_idx(lists, i)));
		if (use_list(l, list_id, account_id))
			return -1;
		struct db_param *q = bulk_row(im->b, &im->b->list_faces);
		q[0] = DBP_STR(list_id);
		q[1] = DBP_STR(face_id);
		q[2] = DBP_STR(create_time);
	}
	return read_descriptors(l, face_id, OWNER_FACE, account_id) || read_samples(l, face_id, OWNER_FACE) ? -1 : 0;
}

/* ---- Attributes ------------------------------------------------------------- */

static int read_attribute(struct line *l, const char *now)
{
	struct importer *im = l->im;
	const char *attribute_id = text(l, l->obj, "attribute_id"), *account_id = text(l, l->obj, "account_id"),
		   *face_id = text(l, l->obj, "face_id"), *create_time;
	if (opt_time(l, l->obj, "create_time", now, &create_time))
		return -1;
	attribute_id = uuid_or_derived(im, attribute_id, "attribute", account_id, face_id);
	int made;
	read_basic_attributes(l, attribute_id, account_id, face_id, create_time, &made);
	if (!made) {
		struct db_param *p = bulk_row(im->b, &im->b->attributes);
		p[0] = DBP_STR(attribute_id);
		p[1] = DBP_STR(account_id);
		p[2] = face_id ? DBP_STR(face_id) : DBP_NULL;
		p[3] = DBP_STR(create_time);
		p[4] = p[5] = p[6] = DBP_NULL;
	}
	return read_descriptors(l, attribute_id, OWNER_ATTRIBUTE, account_id) ||
			       read_samples(l, attribute_id, OWNER_ATTRIBUTE)
		       ? -1
		       : 0;
}

/* ---- Events ----------------------------------------------------------------- */

/* The best candidate of a match_result entry (or of a top_match object). */
struct top_candidate {
	const char *object_id, *external_id;
	double similarity;
	int found;
};

static void consider_candidate(json_object *cand, struct top_candidate *best)
{
	json_object *sim = field(cand, "similarity");
	json_object *obj = field(cand, "face");
	const char *idkey = "face_id";
	if (!obj) {
		obj = field(cand, "event");
		idkey = "event_id";
	}
	if (!sim || !obj || !json_object_is_type(obj, json_type_object))
		return;
	double s = json_object_get_double(sim);
	if (best->found && s <= best->similarity)
		return;
	json_object *id = field(obj, idkey), *ext = field(obj, "external_id");
	best->object_id = id && json_object_is_type(id, json_type_string) ? json_object_get_string(id) : NULL;
	best->external_id = ext && json_object_is_type(ext, json_type_string) ? json_object_get_string(ext) : NULL;
	best->similarity = s;
	best->found = 1;
}

static void read_match_result(struct line *l, const char *event_id, struct top_candidate *overall)
{
	json_object *mr = field(l->obj, "match_result");
	for (size_t i = 0; mr && i < json_object_array_length(mr); i++) {
		json_object *m = json_object_array_get_idx(mr, i), *cands = field(m, "candidates");
		const char *label = text(l, m, "label");
		struct top_candidate best = {0};
		for (size_t j = 0; cands && j < json_object_array_length(cands); j++)
			consider_candidate(json_object_array_get_idx(cands, j), &best);
		if (!best.found)
			continue;
		best.object_id = kept(l, best.object_id);
		best.external_id = kept(l, best.external_id);
		if (!overall->found || best.similarity > overall->similarity)
			*overall = best;
		struct db_param *p = bulk_row(l->im->b, &l->im->b->matches);
		p[0] = DBP_STR(event_id);
		p[1] = DBP_STR(label);
		p[2] = best.object_id ? DBP_STR(best.object_id) : DBP_NULL;
		p[3] = best.external_id ? DBP_STR(best.external_id) : DBP_NULL;
		p[4] = DBP_DBL(best.similarity);
	}
}

static void read_top_match(struct line *l, struct top_candidate *top)
{
	json_object *tm = field(l->obj, "top_match");
	if (!tm)
		return;
	const char *fid = text(l, tm, "face_id"), *eid = text(l, tm, "event_id");
	*top = (struct top_candidate){fid ? fid : eid, text(l, tm, "external_id"),
				      json_object_get_double(field(tm, "similarity")), 1};
}

static int read_tags(struct line *l, const char *event_id)
{
	json_object *tags = field(l->obj, "tags");
	for (size_t i = 0; tags && i < json_object_array_length(tags); i++) {
		json_object *t = json_object_array_get_idx(tags, i);
		for (size_t j = 0; j < i; j++)
			if (strcmp(json_object_get_string(json_object_array_get_idx(tags, j)),
				   json_object_get_string(t)) == 0)
				return line_fail(l, "'tags' repeats '%s'", json_object_get_string(t));
		struct db_param *p = bulk_row(l->im->b, &l->im->b->tags);
		p[0] = DBP_STR(event_id);
		p[1] = DBP_STR(kept(l, json_object_get_string(t)));
	}
	return 0;
}

/* Sample ids and image origins named by face_detections / body_detections. */
static void read_detections(struct line *l, const char *key, const char *event_id, enum descriptor_type type)
{
	json_object *arr = field(l->obj, key);
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		json_object *d = json_object_array_get_idx(arr, i);
		const char *sid = text(l, d, "sample_id");
		if (sid)
			add_sample_row(l->im, sid, event_id, OWNER_EVENT, type, text(l, d, "image_origin"));
	}
}

static void read_location(struct line *l, struct db_param *p)
{
	static const char *const names[] = {"city", "area", "district", "street", "house_number"};
	json_object *loc = field(l->obj, "location"), *geo = loc ? field(loc, "geo_position") : NULL;
	for (int i = 0; i < 5; i++)
		p[i] = loc ? DBP_STR(text(l, loc, names[i])) : DBP_NULL;
	p[5] = geo ? DBP_DBL(json_object_get_double(field(geo, "longitude"))) : DBP_NULL;
	p[6] = geo ? DBP_DBL(json_object_get_double(field(geo, "latitude"))) : DBP_NULL;
}

static int read_event(struct line *l, const char *now)
{
	struct importer *im = l->im;
	json_object *o = l->obj;
	const char *event_id = text(l, o, "event_id"), *account_id = text(l, o, "account_id"),
		   *handler_id = text(l, o, "handler_id"), *external_id = text(l, o, "external_id"),
		   *source = text(l, o, "source"), *user_data = text(l, o, "user_data"), *face_id = text(l, o, "face_id"),
		   *track_id = text(l, o, "track_id"), *create_time, *end_time, *insert_time;
	if (opt_time(l, o, "create_time", now, &create_time) || opt_time(l, o, "end_time", create_time, &end_time) ||
	    opt_time(l, o, "insert_time", now, &insert_time))
		return -1;
	event_id = uuid_or_derived(im, event_id, "event", account_id, external_id);
	struct top_candidate top = {0}, from_matches = {0};
	read_top_match(l, &top);
	read_match_result(l, event_id, &from_matches);
	if (read_tags(l, event_id))
		return -1;
	read_detections(l, "face_detections", event_id, DESCRIPTOR_FACE);
	read_detections(l, "body_detections", event_id, DESCRIPTOR_BODY);
	if (!top.found)
		top = from_matches;
	const char *tags_json = json_text(l, o, "tags"), *top_json = json_text(l, o, "top_match"),
		   *mr_json = json_text(l, o, "match_result"), *fd_json = json_text(l, o, "face_detections"),
		   *bd_json = json_text(l, o, "body_detections"), *ar_json = json_text(l, o, "attach_result");
	struct db_param *p = bulk_row(im->b, &im->b->events);
	p[0] = DBP_STR(event_id);
	p[1] = DBP_STR(account_id);
	p[2] = DBP_STR(create_time);
	p[3] = DBP_STR(end_time);
	p[4] = DBP_STR(insert_time);
	p[5] = handler_id ? DBP_STR(handler_id) : DBP_NULL;
	p[6] = DBP_STR(external_id ? external_id : "");
	p[7] = source ? DBP_STR(source) : DBP_NULL;
	p[8] = DBP_STR(user_data ? user_data : "");
	p[9] = face_id ? DBP_STR(face_id) : DBP_NULL;
	p[10] = track_id ? DBP_STR(track_id) : DBP_NULL;
	p[11] = int_param(o, "gender");
	p[12] = int_param(o, "age");
	p[13] = int_param(o, "emotion");
	p[14] = int_param(o, "ethnic_group");
	p[15] = int_param(o, "mask");
	p[16] = int_param(o, "liveness");
	read_location(l, p + 17);
	p[24] = top.found && top.object_id ? DBP_STR(top.object_id) : DBP_NULL;
	p[25] = top.found && top.external_id ? DBP_STR(top.external_id) : DBP_NULL;
	p[26] = top.found ? DBP_DBL(top.similarity) : DBP_NULL;
	p[27] = tags_json ? DBP_STR(tags_json) : DBP_NULL;
	p[28] = top_json ? DBP_STR(top_json) : DBP_NULL;
	p[29] = mr_json ? DBP_STR(mr_json) : DBP_NULL;
	p[30] = fd_json ? DBP_STR(fd_json) : DBP_NULL;
	p[31] = bd_json ? DBP_STR(bd_json) : DBP_NULL;
	p[32] = ar_json ? DBP_STR(ar_json) : DBP_NULL;
	if (im->b->nevent_ids % 256 == 0) {
		char **ids = arena_alloc(im->b->a, (im->b->nevent_ids + 256) * sizeof(char *));
		if (im->b->nevent_ids)
			memcpy(ids, im->b->event_ids, im->b->nevent_ids * sizeof(char *));
		im->b->event_ids = ids;
	}
	im->b->event_ids[im->b->nevent_ids++] = (char *)event_id;
	return read_descriptors(l, event_id, OWNER_EVENT, account_id) || read_samples(l, event_id, OWNER_EVENT) ? -1
														      : 0;
}

/* ---- Batches ---------------------------------------------------------------- */

static void init_tables(struct batch *b)
{
	bulk_init(&b->faces, IMPORT_FACES);
	bulk_init(&b->attributes, IMPORT_ATTRIBUTES);
	bulk_init(&b->descriptors, IMPORT_DESCRIPTORS);
	bulk_init(&b->list_faces, IMPORT_LIST_FACES);
	bulk_init(&b->events, IMPORT_EVENTS);
	bulk_init(&b->tags, IMPORT_TAGS);
	bulk_init(&b->matches, IMPORT_MATCHES);
	bulk_init(&b->samples, IMPORT_SAMPLES);
}

static struct bulk *all_tables(struct batch *b, size_t i)
{
	struct bulk *order[] = {&b->faces,  &b->attributes, &b->descriptors, &b->list_faces,
				&b->events, &b->tags,	    &b->matches,     &b->samples};
	return i < sizeof(order) / sizeof(order[0]) ? order[i] : NULL;
}

/* Starts reading batch b (its previous contents are released: the writer is
 * done with them, see hand_over). */
static void batch_start(struct importer *im, struct batch *b, size_t line_no)
{
	arena_free(b->a);
	b->a = arena_new();
	b->first_line = line_no;
	b->nlines = b->bad_lines = 0;
	for (size_t i = 0; all_tables(b, i); i++)
		bulk_reset(all_tables(b, i));
	b->list_uses = NULL;
	b->nlist_uses = 0;
	b->event_ids = NULL;
	b->nevent_ids = 0;
	b->images = NULL;
	b->nimages = b->capimages = 0;
	im->b = b;
}

/* Re-imported events lose their old tags, matches and sample rows. */
static int clear_event_children(struct writer *w, struct batch *b)
{
	if (objects_import_clear_events(w->objects, b->a, b->event_ids, b->nevent_ids) == 0)
		return 0;
	return backend_failed(w);
}

/* The lists the batch names: a list of another account fails the batch, a
 * missing one is created for the account of its faces (first in the
 * batch's transaction). */
static int check_lists(struct writer *w, struct batch *b, size_t *created)
{
	if (objects_import_lists(w->objects, b->a, b->list_uses, b->nlist_uses, created) == 0)
		return 0;
	return backend_failed(w);
}

static int read_file_bytes(const char *path, unsigned char **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	int rc = -1;
	if (fseek(f, 0, SEEK_END) == 0) {
		long n = ftell(f);
		if (n >= 0 && fseek(f, 0, SEEK_SET) == 0) {
			*data = malloc((size_t)n + 1);
			if (*data && fread(*data, 1, (size_t)n, f) == (size_t)n) {
				*len = (size_t)n;
				rc = 0;
			} else {
				free(*data);
			}
		}
	}
	fclose(f);
	return rc;
}

static int store_images(struct writer *w, struct batch *b)
{
	char err[256];
	if (!b->nimages)
		return 0;
	if (!w->store && !(w->store = storage_open(&w->im->ad->cfg, err, sizeof(err)))) {
		snprintf(w->err, sizeof(w->err), "result store: %s", err);
		return -1;
	}
	for (size_t i = 0; i < b->nimages; i++) {
		struct pending_sample *s = &b->images[i];
		unsigned char *data = s->data, *owned = NULL;
		size_t len = s->len;
		if (s->path && read_file_bytes(s->path, &owned, &len)) {
			snprintf(w->err, sizeof(w->err), "cannot read image '%s': %s", s->path, strerror(errno));
			return -1;
		}
		if (owned)
			data = owned;
		int r = w->store->ops->put(w->store, s->sample_id, data, len);
		free(owned);
		if (r) {
			snprintf(w->err, sizeof(w->err), "result store: cannot put sample %s", s->sample_id);
			return -1;
		}
	}
	return 0;
}

/* Writes the batch in one transaction; nothing of it stays on failure. */
static int batch_write(struct writer *w, struct batch *b)
{
	int rc = -1;
	b->lists_created = 0;
	if (objects_import_begin(w->objects))
		return backend_failed(w);
	if (check_lists(w, b, &b->lists_created) || clear_event_children(w, b))
		goto out;
	for (size_t i = 0; all_tables(b, i); i++)
		if (bulk_flush(w, all_tables(b, i)))
			goto out;
	if (store_images(w, b))
		goto out;
	if (objects_import_commit(w->objects)) {
		backend_failed(w);
		goto out;
	}
	rc = 0;
out:
	if (rc)
		objects_import_rollback(w->objects);
	return rc;
}

static void count_rejected(struct importer *im, struct batch *b)
{
	pthread_mutex_lock(&im->mu);
	im->rejected_batches++;
	im->rejected_lines += b->nlines;
	pthread_mutex_unlock(&im->mu);
}

/* A writer thread: writes the batches handed to it, one at a time, while the
 * main thread reads the next ones (the database's work on several
 * connections and the parsing overlap). */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct importer *im = w->im;
	pthread_mutex_lock(&im->mu);
	for (;;) {
		while (!w->todo && !im->stop)
			pthread_cond_wait(&im->cv, &im->mu);
		struct batch *b = w->todo;
		if (!b)
			break;
		w->todo = NULL;
		w->doing = b;
		pthread_mutex_unlock(&im->mu);
		int failed = batch_write(w, b);
		if (failed) {
			fprintf(stderr, "%s: lines %zu-%zu not loaded: %s\n", im->file, b->first_line,
				b->first_line + b->nlines - 1, w->err);
			count_rejected(im, b);
		}
		pthread_mutex_lock(&im->mu);
		if (failed) {
			im->write_failed = 1;
		} else {
			im->objects_loaded += b->nlines;
			im->lists_created += b->lists_created;
			im->descriptors_written += b->descriptors.nrows;
			im->images_stored += b->nimages;
		}
		w->doing = NULL;
		b->in_use = 0;
		pthread_cond_broadcast(&im->cv);
	}
	pthread_mutex_unlock(&im->mu);
	return NULL;
}

static int writer_idle(const struct writer *w)
{
	return !w->todo && !w->doing;
}

/* Waits until the writers have written everything handed over. */
static void wait_writers_idle(struct importer *im)
{
	pthread_mutex_lock(&im->mu);
	for (size_t i = 0; i < im->nwriters; i++)
		while (!writer_idle(&im->writers[i]))
			pthread_cond_wait(&im->cv, &im->mu);
	pthread_mutex_unlock(&im->mu);
}

/* ---- Batches in flight ------------------------------------------------------ */

static uint64_t key_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static int compare_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

/* The ids of the objects the batch writes (faces, attributes, events,
 * descriptor owners, samples), hashed and sorted: two batches that share one
 * are written one after the other, in file order, so the later line wins as
 * with one writer. Lists and list links need no order (an existing one
 * stays). */
static void batch_keys(struct batch *b)
{
	const struct bulk *tables[] = {&b->faces, &b->attributes, &b->descriptors, &b->events, &b->samples};
	size_t n = 0;
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		n += tables[t]->nrows;
	b->keys = arena_alloc(b->a, (n ? n : 1) * sizeof(*b->keys));
	b->nkeys = 0;
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (size_t r = 0; r < tables[t]->nrows; r++) {
			const struct db_param *id = tables[t]->params + r * tables[t]->ncols;
			b->keys[b->nkeys++] = key_hash(id->s, id->len);
		}
	qsort(b->keys, b->nkeys, sizeof(*b->keys), compare_u64);
}

static int batches_share_keys(const struct batch *a, const struct batch *b)
{
	size_t i = 0, j = 0;
	while (i < a->nkeys && j < b->nkeys) {
		if (a->keys[i] == b->keys[j])
			return 1;
		if (a->keys[i] < b->keys[j])
			i++;
		else
			j++;
	}
	return 0;
}

/* An idle writer for b, or NULL while none is idle or a batch in flight
 * shares an object with b (under mu). */
static struct writer *writer_for(struct importer *im, const struct batch *b)
{
	struct writer *idle = NULL;
	for (size_t i = 0; i < im->nwriters; i++) {
		struct writer *w = &im->writers[i];
		const struct batch *other = w->todo ? w->todo : w->doing;
		if (!other) {
			if (!idle)
				idle = w;
		} else if (batches_share_keys(other, b)) {
			return NULL;
		}
	}
	return idle;
}

/* Hands b to an idle writer once no batch in flight shares an object with it. */
static void hand_over(struct importer *im, struct batch *b)
{
	struct writer *w;
	batch_keys(b);
	pthread_mutex_lock(&im->mu);
	while (!(w = writer_for(im, b)))
		pthread_cond_wait(&im->cv, &im->mu);
	b->in_use = 1;
	w->todo = b;
	pthread_cond_broadcast(&im->cv);
	pthread_mutex_unlock(&im->mu);
}

/* A batch buffer no writer holds: there is one more buffer than writers, and
 * a writer holds at most one. */
static struct batch *free_batch(struct importer *im)
{
	struct batch *b = NULL;
	pthread_mutex_lock(&im->mu);
	for (;;) {
		for (size_t i = 0; i <= im->nwriters && !b; i++)
			if (!im->batches[i].in_use)
				b = &im->batches[i];
		if (b)
			break;
		pthread_cond_wait(&im->cv, &im->mu);
	}
	pthread_mutex_unlock(&im->mu);
	return b;
}

/* Opens the writers' connections (before the import may change user: see
 * admin_become_store_owner). */
static int writers_connect(struct importer *im)
{
	char err[512];
	for (size_t i = 0; i < im->nwriters; i++) {
		struct writer *w = &im->writers[i];
		w->im = im;
		if (!(w->objects = objects_open(&im->ad->cfg, err, sizeof(err)))) {
			fprintf(stderr, "import: %s\n", err);
			return -1;
		}
		char why[1600];
		if (objects_diagnose(w->objects, why, sizeof(why))) {
			fprintf(stderr, "import: objects database: %s\n", why);
			return -1;
		}
	}
	return 0;
}

static int writers_start(struct importer *im)
{
	for (size_t i = 0; i < im->nwriters; i++) {
		if (pthread_create(&im->writers[i].thread, NULL, writer_main, &im->writers[i])) {
			fprintf(stderr, "import: cannot start a writer thread\n");
			return -1;
		}
		im->writers[i].started = 1;
	}
	return 0;
}

static void writers_stop(struct importer *im)
{
	pthread_mutex_lock(&im->mu);
	im->stop = 1;
	pthread_cond_broadcast(&im->cv);
	pthread_mutex_unlock(&im->mu);
	for (size_t i = 0; i < im->nwriters; i++) {
		struct writer *w = &im->writers[i];
		if (w->started)
			pthread_join(w->thread, NULL);
		w->started = 0;
		storage_close(w->store);
		objects_close(w->objects);
		w->store = NULL;
		w->objects = NULL;
	}
}

static void report_line_error(struct importer *im, size_t line_no, const char *msg)
{
	if (im->errors_reported++ < MAX_REPORTED_ERRORS)
		fprintf(stderr, "%s:%zu: %s\n", im->file, line_no, msg);
	else if (im->errors_reported == MAX_REPORTED_ERRORS + 1)
		fprintf(stderr, "%s: more bad lines follow (not shown)\n", im->file);
}

/* Ends the batch being read: a batch with a bad line is dropped, a good one
 * goes to the writer and the next lines are read into the other buffer. */
static void batch_end(struct importer *im)
{
	struct batch *b = im->b;
	if (!b->nlines)
		return;
	if (b->bad_lines) {
		fprintf(stderr, "%s: lines %zu-%zu not loaded (%zu bad line%s in the batch)\n", im->file,
			b->first_line, b->first_line + b->nlines - 1, b->bad_lines, b->bad_lines == 1 ? "" : "s");
		count_rejected(im, b);
	} else {
		hand_over(im, b);
		im->b = free_batch(im);
	}
	im->b->nlines = 0;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* A progress line on stderr every progress_seconds (--progress). */
static void report_progress(struct importer *im)
{
	if (seconds_since(&im->last_progress) < im->progress_seconds)
		return;
	clock_gettime(CLOCK_MONOTONIC, &im->last_progress);
	pthread_mutex_lock(&im->mu);
	unsigned long long loaded = im->objects_loaded, rejected = im->rejected_lines;
	pthread_mutex_unlock(&im->mu);
	double secs = seconds_since(&im->t0);
	fprintf(stderr, "%s: %llu lines read, %llu loaded, %llu not loaded, %.0f s, %.0f objects/s\n", im->file,
		im->lines, loaded, rejected, secs, secs > 0 ? (double)loaded / secs : 0.0);
}

static int read_line(struct importer *im, const char *text, size_t len, size_t line_no, const char *now)
{
	char err[512];
	struct line l = {.im = im, .err = err, .errlen = sizeof(err)};
	int rc = -1;
	json_tokener_reset(im->tok);
	l.obj = json_tokener_parse_ex(im->tok, text, (int)len);
	if (!l.obj || json_tokener_get_parse_end(im->tok) < len) {
		snprintf(err, sizeof(err), "not a JSON object (%s)",
			 l.obj ? "trailing data" : json_tokener_error_desc(json_tokener_get_error(im->tok)));
		goto out;
	}
	if (!json_object_is_type(l.obj, json_type_object)) {
		snprintf(err, sizeof(err), "not a JSON object");
		goto out;
	}
	struct schema_error se;
	if (schema_validate(im->format, im->line_schema, l.obj, 0, &se)) {
		snprintf(err, sizeof(err), "%.200s%s%.300s", se.path, se.path[0] ? ": " : "", se.message);
		goto out;
	}
	switch (im->kind) {
	case OBJ_FACES:
		rc = read_face(&l, now);
		break;
	case OBJ_EVENTS:
		rc = read_event(&l, now);
		break;
	case OBJ_ATTRIBUTES:
		rc = read_attribute(&l, now);
		break;
	}
	/* The batch's parameters hold copies (kept()): the line's JSON goes now. */
out:
	if (rc)
		report_line_error(im, line_no, err);
	json_object_put(l.obj);
	return rc;
}

static int blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return 0;
	return 1;
}

static void run_import(struct importer *im, FILE *f)
{
	char *buf = NULL;
	size_t cap = 0, line_no = 0;
	ssize_t n;
	char now[32];
	time_format_db(time_now_us(), now, sizeof(now));
	batch_start(im, &im->batches[0], 1);
	while ((n = getline(&buf, &cap, f)) >= 0) {
		line_no++;
		if (blank(buf, (size_t)n))
			continue;
		if (im->b->nlines == 0)
			batch_start(im, im->b, line_no);
		im->b->nlines++;
		im->lines++;
		if (read_line(im, buf, (size_t)n, line_no, now))
			im->b->bad_lines++;
		if (im->b->nlines == im->batch_lines)
			batch_end(im);
		report_progress(im);
	}
	batch_end(im);
	wait_writers_idle(im);
	free(buf);
}

static const char *kind_name(enum objects_kind kind)
{
	return kind == OBJ_FACES ? "faces" : kind == OBJ_EVENTS ? "events" : "attributes";
}

/* The schema of the import format, installed next to the API's contract
 * ([API] DOCS_DIR), and its definition of a line of the kind imported. */
static int load_format(struct importer *im)
{
	char err[512];
	char *path = NULL;
	if (asprintf(&path, "%s/import.schema.json", im->ad->cfg.docs_dir) < 0) {
		fprintf(stderr, "import: out of memory\n");
		return -1;
	}
	im->format = spec_load(path, err, sizeof(err));
	json_object *defs = NULL;
	const char *name = im->kind == OBJ_FACES ? "face" : im->kind == OBJ_EVENTS ? "event" : "attribute";
	if (im->format && json_object_object_get_ex(spec_root(im->format), "definitions", &defs))
		json_object_object_get_ex(defs, name, &im->line_schema);
	if (!im->line_schema)
		fprintf(stderr, "import: the import format's schema %s: %s\n", path,
			im->format ? "has no definition of a line" : err);
	free(path);
	return im->line_schema ? 0 : -1;
}

static int import_usage(void)
{
	fputs("usage: luna-tasks-admin import faces|events|attributes FILE.jsonl [--batch LINES] [--progress SECONDS] "
	      "[--writers N]\n",
	      stderr);
	return 2;
}

int admin_import(struct admin *ad, int argc, char **argv)
{
	struct importer im;
	FILE *f = NULL;
	int rc = 1;
	memset(&im, 0, sizeof(im));
	im.ad = ad;
	im.batch_lines = 0;
	im.nwriters = 2;
	im.progress_seconds = 5;
	if (argc < 2)
		return import_usage();
	for (int i = 2; i < argc; i++) {
		char *end = NULL;
		if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc && atol(argv[i + 1]) > 0 &&
		    atol(argv[i + 1]) <= MAX_BATCH_LINES)
			im.batch_lines = (size_t)atol(argv[++i]);
		else if (strcmp(argv[i], "--writers") == 0 && i + 1 < argc && atol(argv[i + 1]) > 0 &&
			 atol(argv[i + 1]) <= MAX_WRITERS)
			im.nwriters = (size_t)atol(argv[++i]);
		else if (strcmp(argv[i], "--progress") == 0 && i + 1 < argc &&
			 (im.progress_seconds = strtod(argv[i + 1], &end)) >= 0 && end != argv[i + 1] && !*end)
			i++;
		else
			return import_usage();
	}
	im.kind = objects_kind_from_name(argv[0]);
	if (!im.kind)
		return import_usage();
	if (!im.batch_lines)
		im.batch_lines = im.kind == OBJ_EVENTS ? DEFAULT_EVENT_BATCH_LINES : DEFAULT_BATCH_LINES;
	im.file = argv[1];
	char *slash = strrchr(im.file, '/');
	im.base_dir = slash ? strndup(im.file, (size_t)(slash - im.file)) : strdup(".");
	for (size_t i = 0; i <= im.nwriters; i++)
		init_tables(&im.batches[i]);
	pthread_mutex_init(&im.mu, NULL);
	pthread_cond_init(&im.cv, NULL);
	if (!(im.tok = json_tokener_new())) {
		fprintf(stderr, "import: out of memory\n");
		goto out;
	}
	if (load_format(&im))
		goto out;
	if (strcmp(argv[1], "-") == 0)
		f = stdin;
	else if (!(f = fopen(argv[1], "r"))) {
		fprintf(stderr, "import: cannot open %s: %s\n", argv[1], strerror(errno));
		goto out;
	}
	if (writers_connect(&im))
		goto out;
	/* The file and the database connections are open; the images and the
	 * blobs written from here on are the store owner's. */
	if (admin_become_store_owner(&ad->cfg))
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &im.t0);
	im.last_progress = im.t0;
	if (writers_start(&im))
		goto out;
	run_import(&im, f);
	writers_stop(&im);
	double secs = seconds_since(&im.t0);
	printf("import %s from %s: %llu of %llu lines loaded (%llu descriptors, %llu samples, %llu new lists) in "
	       "%.1f s, %.0f objects/s\n",
	       kind_name(im.kind), im.file, im.objects_loaded, im.lines, im.descriptors_written, im.images_stored,
	       im.lists_created, secs, secs > 0 ? (double)im.objects_loaded / secs : 0.0);
	if (im.rejected_lines)
		printf("not loaded: %llu lines in %llu batches (see the errors above); nothing of those batches was "
		       "written\n",
		       im.rejected_lines, im.rejected_batches);
	rc = im.write_failed || im.rejected_lines ? 1 : 0;
out:
	if (f && f != stdin)
		fclose(f);
	writers_stop(&im);
	for (size_t i = 0; i <= im.nwriters; i++)
		arena_free(im.batches[i].a);
	pthread_cond_destroy(&im.cv);
	pthread_mutex_destroy(&im.mu);
	if (im.tok)
		json_tokener_free(im.tok);
	spec_free(im.format);
	free(im.base_dir);
	return rc;
}
