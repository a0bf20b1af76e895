/* luna-tasks-admin import {faces|events|attributes} FILE.jsonl: loads objects
 * into the local objects database (DESIGN §5).
 *
 * One JSON object per line with the API's field names. Every line is
 * validated; a bad line is reported as FILE:LINE with the reason. Lines are
 * written in batches (--batch N lines, default 1000), one transaction per
 * batch: a batch holding a bad line is not written at all, the others are.
 * Re-importing a line replaces the object: ids are kept as given; absent
 * ones are derived from what names the object (face and event: account and
 * external_id; attribute: account and face_id; sample: owner and position),
 * and generated only when nothing names it. Descriptors ("vector" floats or
 * "vector_b64" little-endian float32) are L2-normalised; sample images go to
 * the result store under their sample id, written as the store folder's owner
 * when run as root (admin_become_store_owner).
 *
 * Workload: up to millions of faces with 512-d descriptors in one file. The
 * main thread reads and checks a batch while a writer thread writes the one
 * before through the only objects handle (two batches in memory), so parsing
 * and the server's work overlap; the rows of each table go to the backend in
 * one call (the local backend writes multi-row INSERTs, see
 * objects_local_import.c), and the batch's lists are settled at write time.
 * bench/scale measures it against LOAD DATA of the same rows. */
#include "admin/admin.h"
#include "backends/objects.h"
#include "backends/storage.h"
#include "common/encoding.h"
#include "common/timefmt.h"
#include "common/uuid.h"
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
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
 * one transaction by the writer thread while the main thread reads the next
 * batch into the other of the two. Everything a batch points to lives in its
 * arena (json-c objects included) until the batch is reused. */
struct batch {
	struct arena *a;
	size_t first_line, nlines, bad_lines;
	struct bulk faces, attributes, descriptors, list_faces, events, tags, matches, samples;
	struct objects_import_list *list_uses;
	size_t nlist_uses;
	char **event_ids;
	size_t nevent_ids;
	struct pending_sample *images;
	size_t nimages, capimages;
};

/* The writer thread and the hand-over of one batch at a time. */
struct writer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct batch *todo;    /* handed over, not yet written */
	int busy, stop;        /* writing a batch; no more batches */
};

struct importer {
	struct admin *ad;
	enum objects_kind kind;
	const char *file;
	char *base_dir;
	struct objects *objects; /* used by the writer thread only */
	struct storage *store; /* writer thread only */
	size_t batch_lines;
	struct batch batches[2];
	struct batch *b;       /* the batch being read */
	struct writer w;
	struct json_tokener *tok;
	struct dim_seen dims[64];
	size_t ndims;
	struct timespec t0, last_progress;
	double progress_seconds; /* between progress lines on stderr */
	/* Totals: lines and errors_reported are the main thread's; the others
	 * are the writer's, except rejected_* (under w.mu). */
	unsigned long long lines, errors_reported;
	unsigned long long objects_loaded, descriptors_written, lists_created, images_stored;
	unsigned long long rejected_batches, rejected_lines;
	int write_failed;
	char err[512];         /* writer thread */
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
static int backend_failed(struct importer *im)
{
	snprintf(im->err, sizeof(im->err), "%s", objects_error(im->objects));
	return -1;
}

/* The table's rows, written in the batch's transaction. */
static int bulk_flush(struct importer *im, struct bulk *b)
{
	if (!b->nrows || objects_import_rows(im->objects, b->table, b->params, b->nrows) == 0)
		return 0;
	return backend_failed(im);
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

static int check_keys(struct line *l, json_object *obj, const char *what, const char *const *allowed)
{
	json_object_object_foreach(obj, key, val) {
		(void)val;
		size_t i = 0;
		while (allowed[i] && strcmp(allowed[i], key) != 0)
			i++;
		if (!allowed[i])
			return line_fail(l, "%s: unknown field '%s'", what, key);
	}
	return 0;
}

static json_object *field(json_object *obj, const char *key)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

/* A string of at most maxlen characters; *out NULL when absent or null. */
static int opt_string(struct line *l, json_object *obj, const char *key, size_t maxlen, const char **out)
{
	json_object *v = field(obj, key);
	*out = NULL;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return line_fail(l, "'%s' must be a string", key);
	const char *s = json_object_get_string(v);
	if (strlen(s) > maxlen)
		return line_fail(l, "'%s' is longer than %zu characters", key, maxlen);
	*out = s;
	return 0;
}

static int opt_uuid(struct line *l, json_object *obj, const char *key, const char **out)
{
	if (opt_string(l, obj, key, 36, out))
		return -1;
	if (*out && !uuid_valid(*out))
		return line_fail(l, "'%s' is not a uuid: '%s'", key, *out);
	return 0;
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

static int opt_int(struct line *l, json_object *obj, const char *key, long long lo, long long hi, int *present,
		   long long *out)
{
	json_object *v = field(obj, key);
	*present = 0;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return line_fail(l, "'%s' must be an integer", key);
	long long x = json_object_get_int64(v);
	if (x < lo || x > hi)
		return line_fail(l, "'%s' must be in [%lld, %lld]", key, lo, hi);
	*present = 1;
	*out = x;
	return 0;
}

static struct db_param int_param(struct line *l, json_object *obj, const char *key, long long lo, long long hi,
				 int *bad)
{
	int present;
	long long x;
	if (opt_int(l, obj, key, lo, hi, &present, &x)) {
		*bad = 1;
		return DBP_NULL;
	}
	return present ? DBP_I64(x) : DBP_NULL;
}

/* RFC 3339 → DB text in the batch arena; def when absent. */
static int opt_time(struct line *l, json_object *obj, const char *key, const char *def, const char **out)
{
	const char *s;
	int64_t us;
	if (opt_string(l, obj, key, 64, &s))
		return -1;
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

static int opt_number(struct line *l, json_object *obj, const char *key, double lo, double hi, int *present,
		      double *out)
{
	json_object *v = field(obj, key);
	*present = 0;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
		return line_fail(l, "'%s' must be a number", key);
	double x = json_object_get_double(v);
	if (!(x >= lo && x <= hi))
		return line_fail(l, "'%s' must be in [%g, %g]", key, lo, hi);
	*present = 1;
	*out = x;
	return 0;
}

/* JSON text of an optional field of the given type (object/array), or NULL. */
static int opt_json_text(struct line *l, json_object *obj, const char *key, json_type type, const char **out)
{
	json_object *v = field(obj, key);
	*out = NULL;
	if (!v)
		return 0;
	if (!json_object_is_type(v, type))
		return line_fail(l, "'%s' must be an %s", key, type == json_type_array ? "array" : "object");
	*out = arena_strdup(l->im->b->a, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	return 0;
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
		if (!json_object_is_type(vec, json_type_array))
			return line_fail(l, "'vector' must be an array of numbers");
		n = json_object_array_length(vec);
		if (n == 0 || n > MAX_DIM)
			return line_fail(l, "'vector' must have 1..%d numbers", MAX_DIM);
		v = arena_alloc(l->im->b->a, n * sizeof(float));
		for (size_t i = 0; i < n; i++) {
			json_object *x = json_object_array_get_idx(vec, i);
			if (!json_object_is_type(x, json_type_double) && !json_object_is_type(x, json_type_int))
				return line_fail(l, "'vector'[%zu] is not a number", i);
			v[i] = (float)json_object_get_double(x);
		}
	} else {
		unsigned char *bytes;
		size_t len;
		if (!json_object_is_type(b64, json_type_string) ||
		    b64_decode(l->im->b->a, json_object_get_string(b64), &bytes, &len))
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
	static const char *const keys[] = {"type", "version", "vector", "vector_b64", NULL};
	json_object *arr = field(l->obj, "descriptors");
	if (!arr)
		return 0;
	if (!json_object_is_type(arr, json_type_array))
		return line_fail(l, "'descriptors' must be an array");
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *desc = json_object_array_get_idx(arr, i);
		const char *tname;
		int present;
		long long version;
		if (!json_object_is_type(desc, json_type_object))
			return line_fail(l, "'descriptors'[%zu] must be an object", i);
		if (check_keys(l, desc, "descriptor", keys) || opt_string(l, desc, "type", 8, &tname))
			return -1;
		enum descriptor_type type = tname ? descriptor_type_from_name(tname) : DESCRIPTOR_FACE;
		if (!type)
			return line_fail(l, "descriptor 'type' must be face or body");
		if (owner == OWNER_FACE && type != DESCRIPTOR_FACE)
			return line_fail(l, "faces hold face descriptors only");
		if (opt_int(l, desc, "version", 1, INT_MAX, &present, &version))
			return -1;
		if (!present)
			version = descriptor_default_version(&l->im->ad->cfg, type);
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
	static const char *const keys[] = {"sample_id", "type", "image_b64", "image_path", NULL};
	json_object *arr = field(l->obj, "samples");
	if (!arr)
		return 0;
	if (!json_object_is_type(arr, json_type_array))
		return line_fail(l, "'samples' must be an array");
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *s = json_object_array_get_idx(arr, i);
		const char *sid, *tname, *b64, *path;
		if (!json_object_is_type(s, json_type_object))
			return line_fail(l, "'samples'[%zu] must be an object", i);
		if (check_keys(l, s, "sample", keys) || opt_uuid(l, s, "sample_id", &sid) ||
		    opt_string(l, s, "type", 8, &tname) || opt_string(l, s, "image_b64", SIZE_MAX, &b64) ||
		    opt_string(l, s, "image_path", 4096, &path))
			return -1;
		enum descriptor_type type = tname ? descriptor_type_from_name(tname) : DESCRIPTOR_FACE;
		if (!type)
			return line_fail(l, "sample 'type' must be face or body");
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

static int read_basic_attributes(struct line *l, const char *attribute_id, const char *account_id,
				 const char *face_id, const char *create_time, int *made)
{
	static const char *const keys[] = {"age", "gender", "ethnicity", NULL};
	json_object *ba = field(l->obj, "basic_attributes");
	int bad = 0;
	*made = 0;
	if (!ba)
		return 0;
	if (!json_object_is_type(ba, json_type_object))
		return line_fail(l, "'basic_attributes' must be an object");
	if (check_keys(l, ba, "basic_attributes", keys))
		return -1;
	struct db_param *p = bulk_row(l->im->b, &l->im->b->attributes);
	p[0] = DBP_STR(attribute_id);
	p[1] = DBP_STR(account_id);
	p[2] = face_id ? DBP_STR(face_id) : DBP_NULL;
	p[3] = DBP_STR(create_time);
	p[4] = int_param(l, ba, "age", 0, 200, &bad);
	p[5] = int_param(l, ba, "gender", 0, 1, &bad);
	p[6] = int_param(l, ba, "ethnicity", 1, 4, &bad);
	*made = 1;
	return bad ? -1 : 0;
}

static int read_face(struct line *l, const char *now)
{
	static const char *const keys[] = {"face_id",	  "account_id", "event_id",	    "user_data",
					   "external_id", "avatar",	"create_time",	    "lists",
					   "descriptors", "samples",	"basic_attributes", "attribute_id",
					   NULL};
	struct importer *im = l->im;
	const char *face_id, *account_id, *event_id, *user_data, *external_id, *avatar, *create_time, *attribute_id;
	if (check_keys(l, l->obj, "face", keys) || opt_uuid(l, l->obj, "face_id", &face_id) ||
	    opt_uuid(l, l->obj, "account_id", &account_id) || opt_uuid(l, l->obj, "event_id", &event_id) ||
	    opt_string(l, l->obj, "user_data", 128, &user_data) ||
	    opt_string(l, l->obj, "external_id", 36, &external_id) || opt_string(l, l->obj, "avatar", 256, &avatar) ||
	    opt_time(l, l->obj, "create_time", now, &create_time) ||
	    opt_uuid(l, l->obj, "attribute_id", &attribute_id))
		return -1;
	if (!account_id)
		return line_fail(l, "'account_id' is required");
	face_id = uuid_or_derived(im, face_id, "face", account_id, external_id);
	int made;
	const char *aid = field(l->obj, "basic_attributes")
				  ? uuid_or_derived(im, attribute_id, "face attribute", account_id, face_id)
				  : attribute_id;
	if (read_basic_attributes(l, aid, account_id, face_id, create_time, &made))
		return -1;
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
	if (lists) {
		if (!json_object_is_type(lists, json_type_array))
			return line_fail(l, "'lists' must be an array of list ids");
		for (size_t i = 0; i < json_object_array_length(lists); i++) {
			json_object *it = json_object_array_get_idx(lists, i);
			if (!json_object_is_type(it, json_type_string) || !uuid_valid(json_object_get_string(it)))
				return line_fail(l, "'lists'[%zu] is not a uuid", i);
			const char *list_id = json_object_get_string(it);
			if (use_list(l, list_id, account_id))
				return -1;
			struct db_param *q = bulk_row(im->b, &im->b->list_faces);
			q[0] = DBP_STR(list_id);
			q[1] = DBP_STR(face_id);
			q[2] = DBP_STR(create_time);
		}
	}
	return read_descriptors(l, face_id, OWNER_FACE, account_id) || read_samples(l, face_id, OWNER_FACE) ? -1 : 0;
}

/* ---- Attributes ------------------------------------------------------------- */

static int read_attribute(struct line *l, const char *now)
{
	static const char *const keys[] = {"attribute_id", "account_id", "face_id", "create_time",
					   "basic_attributes", "descriptors", "samples", NULL};
	struct importer *im = l->im;
	const char *attribute_id, *account_id, *face_id, *create_time;
	if (check_keys(l, l->obj, "attribute", keys) || opt_uuid(l, l->obj, "attribute_id", &attribute_id) ||
	    opt_uuid(l, l->obj, "account_id", &account_id) || opt_uuid(l, l->obj, "face_id", &face_id) ||
	    opt_time(l, l->obj, "create_time", now, &create_time))
		return -1;
	if (!account_id)
		return line_fail(l, "'account_id' is required");
	attribute_id = uuid_or_derived(im, attribute_id, "attribute", account_id, face_id);
	int made;
	if (read_basic_attributes(l, attribute_id, account_id, face_id, create_time, &made))
		return -1;
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

static int read_match_result(struct line *l, const char *event_id, struct top_candidate *overall)
{
	json_object *mr = field(l->obj, "match_result");
	if (!mr)
		return 0;
	for (size_t i = 0; i < json_object_array_length(mr); i++) {
		json_object *m = json_object_array_get_idx(mr, i), *cands;
		const char *label;
		if (!json_object_is_type(m, json_type_object) || opt_string(l, m, "label", 36, &label) || !label)
			return line_fail(l, "'match_result'[%zu] needs a 'label' of at most 36 characters", i);
		cands = field(m, "candidates");
		if (cands && !json_object_is_type(cands, json_type_array))
			return line_fail(l, "'match_result'[%zu].candidates must be an array", i);
		struct top_candidate best = {0};
		for (size_t j = 0; cands && j < json_object_array_length(cands); j++)
			consider_candidate(json_object_array_get_idx(cands, j), &best);
		if (!best.found)
			continue;
		if (!overall->found || best.similarity > overall->similarity)
			*overall = best;
		struct db_param *p = bulk_row(l->im->b, &l->im->b->matches);
		p[0] = DBP_STR(event_id);
		p[1] = DBP_STR(label);
		p[2] = best.object_id ? DBP_STR(best.object_id) : DBP_NULL;
		p[3] = best.external_id ? DBP_STR(best.external_id) : DBP_NULL;
		p[4] = DBP_DBL(best.similarity);
	}
	return 0;
}

static int read_top_match(struct line *l, struct top_candidate *top)
{
	json_object *tm = field(l->obj, "top_match");
	if (!tm)
		return 0;
	if (!json_object_is_type(tm, json_type_object))
		return line_fail(l, "'top_match' must be an object");
	json_object *sim = field(tm, "similarity");
	if (!sim)
		return line_fail(l, "'top_match' needs a 'similarity'");
	const char *fid, *eid, *ext;
	if (opt_uuid(l, tm, "face_id", &fid) || opt_uuid(l, tm, "event_id", &eid) ||
	    opt_string(l, tm, "external_id", 36, &ext))
		return -1;
	*top = (struct top_candidate){fid ? fid : eid, ext, json_object_get_double(sim), 1};
	return 0;
}

static int read_tags(struct line *l, const char *event_id)
{
	json_object *tags = field(l->obj, "tags");
	if (!tags)
		return 0;
	if (!json_object_is_type(tags, json_type_array))
		return line_fail(l, "'tags' must be an array of strings");
	for (size_t i = 0; i < json_object_array_length(tags); i++) {
		json_object *t = json_object_array_get_idx(tags, i);
		if (!json_object_is_type(t, json_type_string) || json_object_get_string_len(t) > 36)
			return line_fail(l, "'tags'[%zu] must be a string of at most 36 characters", i);
		for (size_t j = 0; j < i; j++)
			if (strcmp(json_object_get_string(json_object_array_get_idx(tags, j)),
				   json_object_get_string(t)) == 0)
				return line_fail(l, "'tags' repeats '%s'", json_object_get_string(t));
		struct db_param *p = bulk_row(l->im->b, &l->im->b->tags);
		p[0] = DBP_STR(event_id);
		p[1] = DBP_STR(json_object_get_string(t));
	}
	return 0;
}

/* Sample ids and image origins named by face_detections / body_detections. */
static int read_detections(struct line *l, const char *key, const char *event_id, enum descriptor_type type)
{
	json_object *arr = field(l->obj, key);
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		json_object *d = json_object_array_get_idx(arr, i);
		const char *sid, *origin;
		if (!json_object_is_type(d, json_type_object))
			return line_fail(l, "'%s'[%zu] must be an object", key, i);
		if (opt_uuid(l, d, "sample_id", &sid) || opt_string(l, d, "image_origin", 256, &origin))
			return -1;
		if (sid)
			add_sample_row(l->im, sid, event_id, OWNER_EVENT, type, origin);
	}
	return 0;
}

static int read_location(struct line *l, struct db_param *p)
{
	static const char *const keys[] = {"city", "area", "district", "street", "house_number", "geo_position", NULL};
	json_object *loc = field(l->obj, "location");
	for (int i = 0; i < 7; i++)
		p[i] = DBP_NULL;
	if (!loc)
		return 0;
	if (!json_object_is_type(loc, json_type_object))
		return line_fail(l, "'location' must be an object");
	if (check_keys(l, loc, "location", keys))
		return -1;
	for (int i = 0; i < 5; i++) {
		const char *s;
		if (opt_string(l, loc, keys[i], 36, &s))
			return -1;
		if (s)
			p[i] = DBP_STR(s);
	}
	json_object *geo = field(loc, "geo_position");
	if (geo) {
		int has_lon, has_lat;
		double lon, lat;
		if (!json_object_is_type(geo, json_type_object) ||
		    opt_number(l, geo, "longitude", -180, 180, &has_lon, &lon) ||
		    opt_number(l, geo, "latitude", -90, 90, &has_lat, &lat) || !has_lon || !has_lat)
			return line_fail(l, "'location.geo_position' needs longitude in [-180, 180] and latitude in "
					    "[-90, 90]");
		p[5] = DBP_DBL(lon);
		p[6] = DBP_DBL(lat);
	}
	return 0;
}

static int valid_track_id(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 36)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '_' || s[i] == '-' || (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z')))
			return 0;
	return 1;
}

static int read_event(struct line *l, const char *now)
{
	static const char *const keys[] = {
		"event_id", "account_id",  "create_time", "end_time",	   "insert_time",     "handler_id",
		"external_id", "source",   "user_data",	  "face_id",	   "track_id",	      "gender",
		"age",	    "emotion",	   "ethnic_group", "mask",	   "liveness",	      "tags",
		"location", "top_match",   "match_result", "face_detections", "body_detections", "attach_result",
		"descriptors", "samples",  NULL};
	struct importer *im = l->im;
	const char *event_id, *account_id, *create_time, *end_time, *insert_time, *handler_id, *external_id, *source,
		*user_data, *face_id, *track_id, *top_json, *mr_json, *fd_json, *bd_json, *ar_json;
	if (check_keys(l, l->obj, "event", keys) || opt_uuid(l, l->obj, "event_id", &event_id) ||
	    opt_uuid(l, l->obj, "account_id", &account_id) || opt_time(l, l->obj, "create_time", now, &create_time) ||
	    opt_time(l, l->obj, "end_time", create_time, &end_time) ||
	    opt_time(l, l->obj, "insert_time", now, &insert_time) || opt_uuid(l, l->obj, "handler_id", &handler_id) ||
	    opt_string(l, l->obj, "external_id", 36, &external_id) || opt_string(l, l->obj, "source", 128, &source) ||
	    opt_string(l, l->obj, "user_data", 128, &user_data) || opt_uuid(l, l->obj, "face_id", &face_id) ||
	    opt_string(l, l->obj, "track_id", 36, &track_id) ||
	    opt_json_text(l, l->obj, "top_match", json_type_object, &top_json) ||
	    opt_json_text(l, l->obj, "match_result", json_type_array, &mr_json) ||
	    opt_json_text(l, l->obj, "face_detections", json_type_array, &fd_json) ||
	    opt_json_text(l, l->obj, "body_detections", json_type_array, &bd_json) ||
	    opt_json_text(l, l->obj, "attach_result", json_type_array, &ar_json))
		return -1;
	if (!account_id)
		return line_fail(l, "'account_id' is required");
	if (track_id && !valid_track_id(track_id))
		return line_fail(l, "'track_id' must match ^[a-zA-Z0-9_-]{1,36}$");
	event_id = uuid_or_derived(im, event_id, "event", account_id, external_id);
	struct top_candidate top = {0}, from_matches = {0};
	if (read_top_match(l, &top) || read_match_result(l, event_id, &from_matches) || read_tags(l, event_id) ||
	    read_detections(l, "face_detections", event_id, DESCRIPTOR_FACE) ||
	    read_detections(l, "body_detections", event_id, DESCRIPTOR_BODY))
		return -1;
	if (!top.found)
		top = from_matches;
	const char *tags_json;
	if (opt_json_text(l, l->obj, "tags", json_type_array, &tags_json))
		return -1;
	struct db_param *p = bulk_row(im->b, &im->b->events);
	int bad = 0;
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
	p[11] = int_param(l, l->obj, "gender", 0, 1, &bad);
	p[12] = int_param(l, l->obj, "age", 0, 200, &bad);
	p[13] = int_param(l, l->obj, "emotion", 1, 7, &bad);
	p[14] = int_param(l, l->obj, "ethnic_group", 1, 4, &bad);
	p[15] = int_param(l, l->obj, "mask", 1, 3, &bad);
	p[16] = int_param(l, l->obj, "liveness", 0, 2, &bad);
	if (bad || read_location(l, p + 17))
		return -1;
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
static int clear_event_children(struct importer *im, struct batch *b)
{
	if (objects_import_clear_events(im->objects, b->a, b->event_ids, b->nevent_ids) == 0)
		return 0;
	return backend_failed(im);
}

/* The lists the batch names: a list of another account fails the batch, a
 * missing one is created for the account of its faces (first in the
 * batch's transaction). */
static int check_lists(struct importer *im, struct batch *b, size_t *created)
{
	if (objects_import_lists(im->objects, b->a, b->list_uses, b->nlist_uses, created) == 0)
		return 0;
	return backend_failed(im);
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

static int store_images(struct importer *im, struct batch *b)
{
	char err[256];
	if (!b->nimages)
		return 0;
	if (!im->store && !(im->store = storage_open(&im->ad->cfg, err, sizeof(err)))) {
		snprintf(im->err, sizeof(im->err), "result store: %s", err);
		return -1;
	}
	for (size_t i = 0; i < b->nimages; i++) {
		struct pending_sample *s = &b->images[i];
		unsigned char *data = s->data, *owned = NULL;
		size_t len = s->len;
		if (s->path && read_file_bytes(s->path, &owned, &len)) {
			snprintf(im->err, sizeof(im->err), "cannot read image '%s': %s", s->path, strerror(errno));
			return -1;
		}
		if (owned)
			data = owned;
		int r = im->store->ops->put(im->store, s->sample_id, data, len);
		free(owned);
		if (r) {
			snprintf(im->err, sizeof(im->err), "result store: cannot put sample %s", s->sample_id);
			return -1;
		}
		im->images_stored++;
	}
	return 0;
}

/* Writes the batch in one transaction; nothing of it stays on failure. */
static int batch_write(struct importer *im, struct batch *b)
{
	size_t lists_created = 0;
	int rc = -1;
	if (objects_import_begin(im->objects))
		return backend_failed(im);
	if (check_lists(im, b, &lists_created) || clear_event_children(im, b))
		goto out;
	for (size_t i = 0; all_tables(b, i); i++)
		if (bulk_flush(im, all_tables(b, i)))
			goto out;
	if (store_images(im, b))
		goto out;
	if (objects_import_commit(im->objects)) {
		backend_failed(im);
		goto out;
	}
	im->lists_created += lists_created;
	im->descriptors_written += b->descriptors.nrows;
	rc = 0;
out:
	if (rc)
		objects_import_rollback(im->objects);
	return rc;
}

static void count_rejected(struct importer *im, struct batch *b)
{
	pthread_mutex_lock(&im->w.mu);
	im->rejected_batches++;
	im->rejected_lines += b->nlines;
	pthread_mutex_unlock(&im->w.mu);
}

/* The writer thread: writes the batches handed over, one at a time, while
 * the main thread reads the next one (the database's work and the parsing
 * overlap on two cores). */
static void *writer_main(void *arg)
{
	struct importer *im = arg;
	struct writer *w = &im->w;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->todo && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		struct batch *b = w->todo;
		if (!b)
			break;
		w->todo = NULL;
		w->busy = 1;
		pthread_mutex_unlock(&w->mu);
		int failed = batch_write(im, b);
		if (failed) {
			fprintf(stderr, "%s: lines %zu-%zu not loaded: %s\n", im->file, b->first_line,
				b->first_line + b->nlines - 1, im->err);
			count_rejected(im, b);
		}
		pthread_mutex_lock(&w->mu);
		if (failed)
			im->write_failed = 1;
		else
			im->objects_loaded += b->nlines;
		w->busy = 0;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Waits until the writer has written everything handed over. */
static void wait_writer_idle(struct writer *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->todo || w->busy)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

/* Hands b to the writer once the previous batch is written: the other batch
 * buffer is then free for the main thread to read into. */
static void hand_over(struct importer *im, struct batch *b)
{
	struct writer *w = &im->w;
	pthread_mutex_lock(&w->mu);
	while (w->todo || w->busy)
		pthread_cond_wait(&w->cv, &w->mu);
	w->todo = b;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static int writer_start(struct importer *im)
{
	pthread_mutex_init(&im->w.mu, NULL);
	pthread_cond_init(&im->w.cv, NULL);
	return pthread_create(&im->w.thread, NULL, writer_main, im) ? -1 : 0;
}

static void writer_stop(struct importer *im)
{
	pthread_mutex_lock(&im->w.mu);
	im->w.stop = 1;
	pthread_cond_broadcast(&im->w.cv);
	pthread_mutex_unlock(&im->w.mu);
	pthread_join(im->w.thread, NULL);
	pthread_cond_destroy(&im->w.cv);
	pthread_mutex_destroy(&im->w.mu);
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
		im->b = b == &im->batches[0] ? &im->batches[1] : &im->batches[0];
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
	pthread_mutex_lock(&im->w.mu);
	unsigned long long loaded = im->objects_loaded, rejected = im->rejected_lines;
	pthread_mutex_unlock(&im->w.mu);
	double secs = seconds_since(&im->t0);
	fprintf(stderr, "%s: %llu lines read, %llu loaded, %llu not loaded, %.0f s, %.0f objects/s\n", im->file,
		im->lines, loaded, rejected, secs, secs > 0 ? (double)loaded / secs : 0.0);
}

static void release_json(void *obj)
{
	json_object_put(obj);
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
	/* Strings referenced by the batch's parameters must outlive the line. */
	if (rc == 0) {
		arena_defer(im->b->a, release_json, l.obj);
		l.obj = NULL;
	}
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
	wait_writer_idle(&im->w);
	free(buf);
}

static const char *kind_name(enum objects_kind kind)
{
	return kind == OBJ_FACES ? "faces" : kind == OBJ_EVENTS ? "events" : "attributes";
}

static int import_usage(void)
{
	fputs("usage: luna-tasks-admin import faces|events|attributes FILE.jsonl [--batch LINES] [--progress SECONDS]\n",
	      stderr);
	return 2;
}

int admin_import(struct admin *ad, int argc, char **argv)
{
	struct importer im;
	FILE *f = NULL;
	char err[512];
	int rc = 1;
	memset(&im, 0, sizeof(im));
	im.ad = ad;
	im.batch_lines = 1000;
	im.progress_seconds = 5;
	if (argc < 2)
		return import_usage();
	for (int i = 2; i < argc; i++) {
		char *end = NULL;
		if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc && atol(argv[i + 1]) > 0 &&
		    atol(argv[i + 1]) <= MAX_BATCH_LINES)
			im.batch_lines = (size_t)atol(argv[++i]);
		else if (strcmp(argv[i], "--progress") == 0 && i + 1 < argc &&
			 (im.progress_seconds = strtod(argv[i + 1], &end)) >= 0 && end != argv[i + 1] && !*end)
			i++;
		else
			return import_usage();
	}
	im.kind = objects_kind_from_name(argv[0]);
	if (!im.kind)
		return import_usage();
	im.file = argv[1];
	char *slash = strrchr(im.file, '/');
	im.base_dir = slash ? strndup(im.file, (size_t)(slash - im.file)) : strdup(".");
	init_tables(&im.batches[0]);
	init_tables(&im.batches[1]);
	if (!(im.tok = json_tokener_new())) {
		fprintf(stderr, "import: out of memory\n");
		goto out;
	}
	if (strcmp(argv[1], "-") == 0)
		f = stdin;
	else if (!(f = fopen(argv[1], "r"))) {
		fprintf(stderr, "import: cannot open %s: %s\n", argv[1], strerror(errno));
		goto out;
	}
	if (!(im.objects = objects_open(&ad->cfg, err, sizeof(err)))) {
		fprintf(stderr, "import: %s\n", err);
		goto out;
	}
	char why[1600];
	if (objects_diagnose(im.objects, why, sizeof(why))) {
		fprintf(stderr, "import: objects database: %s\n", why);
		goto out;
	}
	/* The file and the database connection are open; the images and the
	 * blobs written from here on are the store owner's. */
	if (admin_become_store_owner(&ad->cfg))
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &im.t0);
	im.last_progress = im.t0;
	if (writer_start(&im)) {
		fprintf(stderr, "import: cannot start the writer thread\n");
		goto out;
	}
	run_import(&im, f);
	writer_stop(&im);
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
	arena_free(im.batches[0].a);
	arena_free(im.batches[1].a);
	if (im.tok)
		json_tokener_free(im.tok);
	storage_close(im.store);
	objects_close(im.objects);
	free(im.base_dir);
	return rc;
}
