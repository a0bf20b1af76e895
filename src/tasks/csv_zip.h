/* CSV inside a ZIP, built in pieces so that large exports stream:
 *
 *  - csv_buf / csv_field: a row of RFC 4180 fields (quoted when a field holds
 *    the delimiter, a quote, CR or LF; quotes doubled; rows end in CRLF), read
 *    back exactly by spreadsheets and Python's csv module;
 *  - csv_part: rows deflated into a temporary file as one raw deflate
 *    fragment that ends on a byte boundary (sync flush), with the CRC-32 and
 *    sizes of its text, so that fragments made by different subtasks (on any
 *    host) concatenate into the one compressed CSV member of the archive;
 *  - image_zip: an archive of images (stored, not recompressed) read from
 *    the result store only while the archive is written;
 *  - result_zip_write: the task's archive: the CSV member made of the
 *    fragments (copied, never recompressed) plus the entries of the image
 *    archives, written to a temporary file and moved into the result store.
 *
 * Temporary files go to $TMPDIR (default /tmp). Memory stays a few hundred
 * kilobytes per writer whatever the size of the data. */
#ifndef LUNA_CSV_ZIP_H
#define LUNA_CSV_ZIP_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct storage;

/* ---- Text buffer and CSV fields -------------------------------------------- */

struct csv_buf {
	char *p;
	size_t len, cap;
};
/* Makes room for extra more bytes; aborts on out-of-memory, like the arenas. */
void csv_buf_grow(struct csv_buf *b, size_t extra);
void csv_buf_free(struct csv_buf *b);

static inline void csv_buf_put(struct csv_buf *b, const void *data, size_t n)
{
	if (!n)
		return;
	if (b->len + n > b->cap)
		csv_buf_grow(b, n);
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static inline void csv_buf_putc(struct csv_buf *b, char c)
{
	if (b->len + 1 > b->cap)
		csv_buf_grow(b, 1);
	b->p[b->len++] = c;
}

/* The delimiter, and the bytes that make a field need quotes. */
struct csv_format {
	char delim[5];
	size_t dlen;
	unsigned char special[256];
};
/* A delimiter is one character (1 to 4 bytes of UTF-8) other than the quote,
 * CR and LF. -1 when delim is not one. */
int csv_format_init(struct csv_format *f, const char *delim);

/* Appends one field of a row to b: the delimiter first unless first is set,
 * then the value, quoted when needed. */
void csv_field(struct csv_buf *b, const struct csv_format *f, int first, const char *v, size_t n);
/* Ends a row of nfields fields (CRLF). A row of one empty field is written as "". */
void csv_row_end(struct csv_buf *b, size_t nfields, size_t row_start);

/* ---- Deflated CSV fragments --------------------------------------------------- */

struct csv_part {
	void *z;                       /* z_stream */
	FILE *f;
	char path[256];
	uint32_t crc;
	uint64_t size, csize;          /* text bytes in, compressed bytes out */
	unsigned char *out;
};
/* Compression level of the fragments (zlib 1..9). */
#define CSV_PART_LEVEL 1

int csv_part_open(struct csv_part *p, char *err, size_t errlen);
int csv_part_write(struct csv_part *p, const void *data, size_t n, char *err, size_t errlen);
/* Flushes to a byte boundary and closes the file; p->path then holds the fragment. */
int csv_part_finish(struct csv_part *p, char *err, size_t errlen);
/* Releases everything and removes the file unless it was handed on (path[0] = 0). */
void csv_part_discard(struct csv_part *p);

/* A fragment held in memory (e.g. the header row), made the same way. */
int csv_fragment_of(const void *text, size_t n, unsigned char **out, size_t *outlen, uint32_t *crc);

/* ---- Image archives ------------------------------------------------------------ */

struct image_zip;
/* A new archive in a temporary file; images are read from st when it is closed. */
struct image_zip *image_zip_open(struct storage *st, char *err, size_t errlen);
/* Adds the blob (size bytes) under name; nothing is read yet. */
int image_zip_add(struct image_zip *z, const char *name, const char *blob, uint64_t size, char *err, size_t errlen);
size_t image_zip_count(const struct image_zip *z);
/* Writes the archive; its path goes to path (the caller moves or removes it). */
int image_zip_close(struct image_zip *z, char *path, size_t pathlen, atomic_int *cancelled, char *err,
		    size_t errlen);
void image_zip_discard(struct image_zip *z);    /* NULL ok */

/* Sniffs an image's type from its first bytes: "jpg", "png", … or "bin". */
const char *image_extension(const unsigned char *head, size_t n);

/* ---- The result archive --------------------------------------------------------- */

/* A piece of the CSV member: a stored blob, or bytes in memory when blob is NULL. */
struct csv_fragment {
	const char *blob;
	const unsigned char *data;
	uint64_t csize;                /* compressed length */
	uint64_t size;                 /* text length */
	uint32_t crc;                  /* CRC-32 of the text */
};

/* Writes the archive (csv_name from the fragments in order, then every
 * entry of the image archives stored under image_blobs) and stores it under
 * result_id. cancelled (may be NULL) stops the writing. */
int result_zip_write(struct storage *st, const char *csv_name, const struct csv_fragment *frags, size_t nfrags,
		     char *const *image_blobs, size_t nimage_blobs, const char *result_id, atomic_int *cancelled,
		     char *err, size_t errlen);
#endif
