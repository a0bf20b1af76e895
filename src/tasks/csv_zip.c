/* CSV fields, deflated CSV fragments, image archives and the result archive
 * of the reporter and exporter tasks (see csv_zip.h).
 *
 * The CSV member of a result archive is one deflate stream made of
 * fragments compressed independently (by several subtasks, possibly on
 * several hosts): each fragment ends with a sync flush, so it stops on a byte
 * boundary without a final block, and the archive appends an empty final
 * block. Fragments never refer back into each other (each has its own
 * compressor), so the concatenation is a valid stream; its CRC-32 is combined
 * from the fragments' ones. libzip takes the member as already compressed
 * data (its source reports the method, sizes and CRC) and copies it.
 * Workload: fragments of tens of megabytes, archives of up to gigabytes,
 * read and written in 64 KiB pieces. */
#include "tasks/csv_zip.h"
#include "backends/storage.h"
#include "tasks/task_util.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>
#include <zlib.h>

#define IO_CHUNK (1 << 16)
/* An empty final block with fixed Huffman codes: it ends the CSV member. */
static const unsigned char deflate_tail[2] = {0x03, 0x00};

/* ---- Text buffer and CSV fields -------------------------------------------- */

void csv_buf_grow(struct csv_buf *b, size_t extra)
{
	if (b->len + extra <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		abort();
	b->p = p;
	b->cap = cap;
}

void csv_buf_free(struct csv_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

int csv_format_init(struct csv_format *f, const char *delim)
{
	size_t n = delim ? strlen(delim) : 0;
	memset(f, 0, sizeof(*f));
	if (n == 0 || n > 4 || strpbrk(delim, "\"\r\n"))
		return -1;
	unsigned char c = (unsigned char)delim[0];
	size_t want = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
	if (want != n)
		return -1;
	memcpy(f->delim, delim, n);
	f->dlen = n;
	f->special['"'] = f->special['\r'] = f->special['\n'] = 1;
	f->special[c] = 1;
	return 0;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
/* Nonzero when one of the 8 bytes of x equals b. */
static inline uint64_t has_byte(uint64_t x, unsigned char b)
{
	uint64_t v = x ^ (ONES * b);
	return (v - ONES) & ~v & HIGHS;
}

static int special_at(const struct csv_format *f, const char *v, size_t n, size_t i)
{
	unsigned char c = (unsigned char)v[i];
	if (!f->special[c])
		return 0;
	if (c != (unsigned char)f->delim[0] || f->dlen == 1)
		return 1;
	return i + f->dlen <= n && memcmp(v + i, f->delim, f->dlen) == 0;
}

/* Looks at 8 bytes at a time for a quote, CR, LF or the delimiter's first byte. */
static int needs_quotes(const struct csv_format *f, const char *v, size_t n)
{
	unsigned char d = (unsigned char)f->delim[0];
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t x;
		memcpy(&x, v + i, 8);
		if (!(has_byte(x, '"') | has_byte(x, '\r') | has_byte(x, '\n') | has_byte(x, d)))
			continue;
		for (size_t k = i; k < i + 8; k++)
			if (special_at(f, v, n, k))
				return 1;
	}
	for (; i < n; i++)
		if (special_at(f, v, n, i))
			return 1;
	return 0;
}

void csv_field(struct csv_buf *b, const struct csv_format *f, int first, const char *v, size_t n)
{
	if (!first)
		csv_buf_put(b, f->delim, f->dlen);
	if (!needs_quotes(f, v, n)) {
		csv_buf_put(b, v, n);
		return;
	}
	csv_buf_grow(b, 2 * n + 2);
	b->p[b->len++] = '"';
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '"')
			b->p[b->len++] = '"';
		b->p[b->len++] = v[i];
	}
	b->p[b->len++] = '"';
}

void csv_row_end(struct csv_buf *b, size_t nfields, size_t row_start)
{
	if (nfields == 1 && b->len == row_start)
		csv_buf_put(b, "\"\"", 2);
	csv_buf_put(b, "\r\n", 2);
}

/* ---- Deflated CSV fragments --------------------------------------------------- */

static int deflate_init_raw(z_stream *z, int level)
{
	memset(z, 0, sizeof(*z));
	return deflateInit2(z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK ? 0 : -1;
}

int csv_part_open(struct csv_part *p, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	z_stream *z = calloc(1, sizeof(*z));
	p->out = malloc(IO_CHUNK);
	if (!z || !p->out || deflate_init_raw(z, CSV_PART_LEVEL)) {
		free(z);
		snprintf(err, errlen, "out of memory for the compressor");
		goto fail;
	}
	p->z = z;
	int fd = task_temp_file(p->path, sizeof(p->path), "csv");
	if (fd < 0 || !(p->f = fdopen(fd, "wb"))) {
		snprintf(err, errlen, "cannot create a temporary file: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	p->crc = (uint32_t)crc32(0, NULL, 0);
	return 0;
fail:
	if (p->path[0] && !p->f)
		unlink(p->path);
	p->path[0] = '\0';
	csv_part_discard(p);
	return -1;
}

/* Runs the compressor over what it holds, writing whatever it produces. */
static int part_deflate(struct csv_part *p, int flush, char *err, size_t errlen)
{
	z_stream *z = p->z;
	do {
		z->next_out = p->out;
		z->avail_out = IO_CHUNK;
		int zr = deflate(z, flush);
		if (zr == Z_STREAM_ERROR) {
			snprintf(err, errlen, "compressor error");
			return -1;
		}
		size_t have = IO_CHUNK - z->avail_out;
		if (have && fwrite(p->out, 1, have, p->f) != have) {
			snprintf(err, errlen, "cannot write a temporary file: %s", strerror(errno));
			return -1;
		}
		p->csize += have;
	} while (z->avail_out == 0 || z->avail_in > 0);
	return 0;
}

int csv_part_write(struct csv_part *p, const void *data, size_t n, char *err, size_t errlen)
{
	z_stream *z = p->z;
	const unsigned char *in = data;
	while (n > 0) {
		uInt step = n > (1u << 30) ? (1u << 30) : (uInt)n;
		p->crc = (uint32_t)crc32(p->crc, in, step);
		z->next_in = (unsigned char *)(uintptr_t)in;
		z->avail_in = step;
		if (part_deflate(p, Z_NO_FLUSH, err, errlen))
			return -1;
		p->size += step;
		in += step;
		n -= step;
	}
	return 0;
}

int csv_part_finish(struct csv_part *p, char *err, size_t errlen)
{
	if (part_deflate(p, Z_SYNC_FLUSH, err, errlen))
		return -1;
	int bad = fflush(p->f) != 0 || ferror(p->f);
	bad |= fclose(p->f) != 0;
	p->f = NULL;
	if (bad) {
		snprintf(err, errlen, "cannot write a temporary file: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void csv_part_discard(struct csv_part *p)
{
	if (p->z) {
		deflateEnd(p->z);
		free(p->z);
	}
	if (p->f)
		fclose(p->f);
	if (p->path[0])
		unlink(p->path);
	free(p->out);
	p->z = NULL;
	p->f = NULL;
	p->out = NULL;
	p->path[0] = '\0';
}

int csv_fragment_of(const void *text, size_t n, unsigned char **out, size_t *outlen, uint32_t *crc)
{
	z_stream z;
	if (deflate_init_raw(&z, CSV_PART_LEVEL))
		return -1;
	size_t cap = deflateBound(&z, (uLong)n) + 16;
	unsigned char *buf = malloc(cap);
	int rc = -1;
	if (!buf)
		goto out;
	z.next_in = (unsigned char *)(uintptr_t)text;
	z.avail_in = (uInt)n;
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_SYNC_FLUSH) != Z_OK || z.avail_in != 0 || z.avail_out == 0)
		goto out;
	*out = buf;
	*outlen = cap - z.avail_out;
	*crc = (uint32_t)crc32(crc32(0, NULL, 0), text, (uInt)n);
	buf = NULL;
	rc = 0;
out:
	free(buf);
	deflateEnd(&z);
	return rc;
}

/* ---- A libzip source over a result-store blob ----------------------------------- */

/* Opened only when libzip reads it, so an archive of a million images holds
 * one file descriptor at a time. */
struct blob_source {
	struct storage *st;
	char *blob;
	uint64_t size, left;
	FILE *f;
	zip_error_t error;
};

static zip_int64_t blob_source_open(struct blob_source *s)
{
	size_t len = 0;
	if (s->st->ops->open_read(s->st, s->blob, &s->f, &len)) {
		zip_error_set(&s->error, ZIP_ER_OPEN, errno);
		return -1;
	}
	if ((uint64_t)len != s->size) {
		fclose(s->f);
		s->f = NULL;
		zip_error_set(&s->error, ZIP_ER_CHANGED, 0);
		return -1;
	}
	s->left = s->size;
	return 0;
}

static zip_int64_t blob_source_read(struct blob_source *s, void *data, zip_uint64_t len)
{
	size_t want = len < s->left ? (size_t)len : (size_t)s->left;
	size_t got = want ? fread(data, 1, want, s->f) : 0;
	if (got < want) {
		zip_error_set(&s->error, ZIP_ER_READ, ferror(s->f) ? errno : EIO);
		return -1;
	}
	s->left -= got;
	return (zip_int64_t)got;
}

static zip_int64_t blob_source_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd)
{
	struct blob_source *s = ud;
	switch (cmd) {
	case ZIP_SOURCE_OPEN:
		return blob_source_open(s);
	case ZIP_SOURCE_READ:
		return blob_source_read(s, data, len);
	case ZIP_SOURCE_CLOSE:
		if (s->f)
			fclose(s->f);
		s->f = NULL;
		return 0;
	case ZIP_SOURCE_STAT: {
		zip_stat_t *st = data;
		zip_stat_init(st);
		st->valid = ZIP_STAT_SIZE;
		st->size = s->size;
		return sizeof(*st);
	}
	case ZIP_SOURCE_ERROR:
		return zip_error_to_data(&s->error, data, len);
	case ZIP_SOURCE_FREE:
		if (s->f)
			fclose(s->f);
		zip_error_fini(&s->error);
		free(s->blob);
		free(s);
		return 0;
	case ZIP_SOURCE_SUPPORTS:
		return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE, ZIP_SOURCE_STAT,
						      ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, -1);
	default:
		zip_error_set(&s->error, ZIP_ER_OPNOTSUPP, 0);
		return -1;
	}
}

static zip_source_t *blob_source_new(zip_t *za, struct storage *st, const char *blob, uint64_t size)
{
	struct blob_source *s = calloc(1, sizeof(*s));
	if (!s || !(s->blob = strdup(blob))) {
		free(s);
		return NULL;
	}
	s->st = st;
	s->size = size;
	zip_error_init(&s->error);
	zip_source_t *src = zip_source_function(za, blob_source_cb, s);
	if (!src) {
		zip_error_fini(&s->error);
		free(s->blob);
		free(s);
	}
	return src;
}

static int stop_if_cancelled(zip_t *za, void *ud)
{
	atomic_int *cancelled = ud;
	(void)za;
	return cancelled && atomic_load(cancelled);
}

/* Adds src under name as a stored entry; src is freed on failure. */
static int add_stored(zip_t *za, const char *name, zip_source_t *src)
{
	zip_int64_t idx = zip_file_add(za, name, src, ZIP_FL_ENC_UTF_8);
	if (idx < 0) {
		zip_source_free(src);
		return -1;
	}
	return zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
}

/* ---- Image archives ------------------------------------------------------------ */

struct image_zip {
	struct storage *st;
	zip_t *za;
	char path[256];
	size_t n;
};

/* Opens a new archive at a fresh temporary path. */
static zip_t *open_new_zip(char *path, size_t pathlen, const char *what, char *err, size_t errlen)
{
	int fd = task_temp_file(path, pathlen, what), zerr = 0;
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a temporary file: %s", strerror(errno));
		path[0] = '\0';
		return NULL;
	}
	close(fd);
	zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
	if (!za) {
		zip_error_t ze;
		zip_error_init_with_code(&ze, zerr);
		snprintf(err, errlen, "cannot create an archive: %s", zip_error_strerror(&ze));
		zip_error_fini(&ze);
		unlink(path);
		path[0] = '\0';
	}
	return za;
}

struct image_zip *image_zip_open(struct storage *st, char *err, size_t errlen)
{
	struct image_zip *z = calloc(1, sizeof(*z));
	if (!z) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	z->st = st;
	z->za = open_new_zip(z->path, sizeof(z->path), "img", err, errlen);
	if (!z->za) {
		free(z);
		return NULL;
	}
	return z;
}

int image_zip_add(struct image_zip *z, const char *name, const char *blob, uint64_t size, char *err, size_t errlen)
{
	zip_source_t *src = blob_source_new(z->za, z->st, blob, size);
	if (!src || add_stored(z->za, name, src)) {
		snprintf(err, errlen, "cannot add %s to the image archive: %s", name,
			 src ? zip_strerror(z->za) : "out of memory");
		return -1;
	}
	z->n++;
	return 0;
}

size_t image_zip_count(const struct image_zip *z)
{
	return z ? z->n : 0;
}

int image_zip_close(struct image_zip *z, char *path, size_t pathlen, atomic_int *cancelled, char *err,
		    size_t errlen)
{
	int rc = -1;
	path[0] = '\0';
	if (z->n == 0) {
		rc = 0;   /* libzip writes no file for an empty archive */
		goto out;
	}
	zip_register_cancel_callback_with_state(z->za, stop_if_cancelled, NULL, (void *)cancelled);
	if (zip_close(z->za)) {
		snprintf(err, errlen, "cannot write the image archive: %s", zip_strerror(z->za));
		goto out;
	}
	z->za = NULL;
	snprintf(path, pathlen, "%s", z->path);
	z->path[0] = '\0';
	rc = 0;
out:
	image_zip_discard(z);
	return rc;
}

void image_zip_discard(struct image_zip *z)
{
	if (!z)
		return;
	if (z->za)
		zip_discard(z->za);
	if (z->path[0])
		unlink(z->path);
	free(z);
}

const char *image_extension(const unsigned char *h, size_t n)
{
	if (n >= 3 && h[0] == 0xff && h[1] == 0xd8 && h[2] == 0xff)
		return "jpg";
	if (n >= 8 && memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0)
		return "png";
	if (n >= 12 && memcmp(h, "RIFF", 4) == 0 && memcmp(h + 8, "WEBP", 4) == 0)
		return "webp";
	if (n >= 4 && (memcmp(h, "II*\0", 4) == 0 || memcmp(h, "MM\0*", 4) == 0))
		return "tif";
	if (n >= 12 && memcmp(h, "\0\0\0\x0cjP  ", 8) == 0)
		return "jp2";
	if (n >= 4 && memcmp(h, "GIF8", 4) == 0)
		return "gif";
	if (n >= 2 && h[0] == 'B' && h[1] == 'M')
		return "bmp";
	if (n >= 2 && h[0] == 'P' && (h[1] == '6' || h[1] == '5'))
		return "ppm";
	return "bin";
}

/* ---- The CSV member: the fragments in a row, then the final block ----------------- */

struct chain_source {
	struct storage *st;
	const struct csv_fragment *frags;
	size_t nfrags, cur;
	uint64_t pos;                  /* within the current fragment */
	FILE *f;                       /* the current fragment, when it is a blob */
	size_t tail_pos;
	uint64_t size, csize;
	uint32_t crc;
	zip_error_t error;
};

static int chain_open_fragment(struct chain_source *c)
{
	const struct csv_fragment *fr = &c->frags[c->cur];
	size_t len = 0;
	c->pos = 0;
	if (!fr->blob)
		return 0;
	if (c->st->ops->open_read(c->st, fr->blob, &c->f, &len)) {
		zip_error_set(&c->error, ZIP_ER_OPEN, errno);
		return -1;
	}
	if ((uint64_t)len != fr->csize) {
		zip_error_set(&c->error, ZIP_ER_CHANGED, 0);
		return -1;
	}
	return 0;
}

static void chain_close_fragment(struct chain_source *c)
{
	if (c->f)
		fclose(c->f);
	c->f = NULL;
}

/* Up to len bytes of the current fragment; 0 at its end. */
static zip_int64_t chain_read_fragment(struct chain_source *c, unsigned char *out, zip_uint64_t len)
{
	const struct csv_fragment *fr = &c->frags[c->cur];
	uint64_t left = fr->csize - c->pos;
	size_t want = len < left ? (size_t)len : (size_t)left;
	if (want == 0)
		return 0;
	if (!fr->blob) {
		memcpy(out, fr->data + c->pos, want);
	} else if (fread(out, 1, want, c->f) != want) {
		zip_error_set(&c->error, ZIP_ER_READ, ferror(c->f) ? errno : EIO);
		return -1;
	}
	c->pos += want;
	return (zip_int64_t)want;
}

static zip_int64_t chain_read(struct chain_source *c, unsigned char *out, zip_uint64_t len)
{
	while (c->cur < c->nfrags) {
		zip_int64_t n = chain_read_fragment(c, out, len);
		if (n != 0)
			return n;
		chain_close_fragment(c);
		if (++c->cur < c->nfrags && chain_open_fragment(c))
			return -1;
	}
	size_t n = 0;
	while (c->tail_pos < sizeof(deflate_tail) && n < len)
		out[n++] = deflate_tail[c->tail_pos++];
	return (zip_int64_t)n;
}

static zip_int64_t chain_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd)
{
	struct chain_source *c = ud;
	switch (cmd) {
	case ZIP_SOURCE_OPEN:
		c->cur = 0;
		c->tail_pos = 0;
		return c->nfrags ? chain_open_fragment(c) : 0;
	case ZIP_SOURCE_READ:
		return chain_read(c, data, len);
	case ZIP_SOURCE_CLOSE:
		chain_close_fragment(c);
		return 0;
	case ZIP_SOURCE_STAT: {
		/* Already compressed: libzip copies the data and takes these figures. */
		zip_stat_t *st = data;
		zip_stat_init(st);
		st->valid = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD | ZIP_STAT_CRC |
			    ZIP_STAT_ENCRYPTION_METHOD | ZIP_STAT_MTIME;
		st->size = c->size;
		st->comp_size = c->csize;
		st->comp_method = ZIP_CM_DEFLATE;
		st->encryption_method = ZIP_EM_NONE;
		st->crc = c->crc;
		st->mtime = time(NULL);
		return sizeof(*st);
	}
	case ZIP_SOURCE_ERROR:
		return zip_error_to_data(&c->error, data, len);
	case ZIP_SOURCE_FREE:
		chain_close_fragment(c);
		return 0;
	case ZIP_SOURCE_SUPPORTS:
		return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE, ZIP_SOURCE_STAT,
						      ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, -1);
	default:
		zip_error_set(&c->error, ZIP_ER_OPNOTSUPP, 0);
		return -1;
	}
}

static void chain_init(struct chain_source *c, struct storage *st, const struct csv_fragment *frags, size_t n)
{
	memset(c, 0, sizeof(*c));
	c->st = st;
	c->frags = frags;
	c->nfrags = n;
	c->crc = (uint32_t)crc32(0, NULL, 0);
	for (size_t i = 0; i < n; i++) {
		c->crc = (uint32_t)crc32_combine(c->crc, frags[i].crc, (z_off_t)frags[i].size);
		c->size += frags[i].size;
		c->csize += frags[i].csize;
	}
	c->csize += sizeof(deflate_tail);
	zip_error_init(&c->error);
}

/* ---- The result archive --------------------------------------------------------- */

struct image_sources {
	zip_t **parts;
	size_t n;
};

/* Opens a stored image archive and adds its entries to za (read when za is written). */
static int add_image_archive(zip_t *za, struct storage *st, const char *blob, struct image_sources *open,
			     char *err, size_t errlen)
{
	FILE *f = NULL;
	size_t len = 0;
	zip_error_t ze;
	zip_error_init(&ze);
	if (st->ops->open_read(st, blob, &f, &len)) {
		snprintf(err, errlen, "cannot read the image archive %s: %s", blob, strerror(errno));
		goto fail;
	}
	zip_source_t *src = zip_source_filep_create(f, 0, -1, &ze);
	if (!src) {
		fclose(f);
		goto zfail;
	}
	zip_t *part = zip_open_from_source(src, ZIP_RDONLY, &ze);
	if (!part) {
		zip_source_free(src);
		goto zfail;
	}
	open->parts[open->n++] = part;
	zip_int64_t n = zip_get_num_entries(part, 0);
	for (zip_int64_t i = 0; i < n; i++) {
		const char *name = zip_get_name(part, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
		zip_source_t *entry = name ? zip_source_zip(za, part, (zip_uint64_t)i, 0, 0, -1) : NULL;
		if (!entry || add_stored(za, name, entry)) {
			snprintf(err, errlen, "cannot copy %s from the image archive %s: %s", name ? name : "an entry",
				 blob, zip_strerror(za));
			goto fail;
		}
	}
	zip_error_fini(&ze);
	return 0;
zfail:
	snprintf(err, errlen, "cannot open the image archive %s: %s", blob, zip_error_strerror(&ze));
fail:
	zip_error_fini(&ze);
	return -1;
}

static int add_csv_member(zip_t *za, const char *csv_name, struct chain_source *chain, char *err, size_t errlen)
{
	zip_source_t *src = zip_source_function(za, chain_cb, chain);
	if (!src) {
		snprintf(err, errlen, "cannot add the CSV file: %s", zip_strerror(za));
		return -1;
	}
	if (zip_file_add(za, csv_name, src, ZIP_FL_ENC_UTF_8) < 0) {
		zip_source_free(src);
		snprintf(err, errlen, "cannot add the CSV file: %s", zip_strerror(za));
		return -1;
	}
	return 0;
}

int result_zip_write(struct storage *st, const char *csv_name, const struct csv_fragment *frags, size_t nfrags,
		     char *const *image_blobs, size_t nimage_blobs, const char *result_id, atomic_int *cancelled,
		     char *err, size_t errlen)
{
	struct chain_source chain;
	struct image_sources open = {calloc(nimage_blobs + 1, sizeof(zip_t *)), 0};
	char path[256] = "";
	int rc = -1;
	chain_init(&chain, st, frags, nfrags);
	zip_t *za = open_new_zip(path, sizeof(path), "zip", err, errlen);
	if (!za || !open.parts) {
		if (za)
			snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (add_csv_member(za, csv_name, &chain, err, errlen))
		goto out;
	for (size_t i = 0; i < nimage_blobs; i++)
		if (add_image_archive(za, st, image_blobs[i], &open, err, errlen))
			goto out;
	zip_register_cancel_callback_with_state(za, stop_if_cancelled, NULL, (void *)cancelled);
	if (zip_close(za)) {
		snprintf(err, errlen, "cannot write the archive: %s",
			 cancelled && atomic_load(cancelled) ? "cancelled" : zip_strerror(za));
		goto out;
	}
	za = NULL;
	if (st->ops->put_file(st, result_id, path)) {
		snprintf(err, errlen, "cannot store the archive: %s", strerror(errno));
		path[0] = '\0';    /* put_file removed it */
		goto out;
	}
	path[0] = '\0';
	rc = 0;
out:
	if (za)
		zip_discard(za);   /* sources first: they read from the image archives */
	for (size_t i = 0; i < open.n; i++)
		zip_discard(open.parts[i]);
	free(open.parts);
	chain_close_fragment(&chain);
	zip_error_fini(&chain.error);
	if (path[0])
		unlink(path);
	return rc;
}
