/* Values of the reporter's and exporter's rows as the spec's result examples
 * show them (used by export_rows.c): JSON documents (top_match, match_result,
 * detections, tags, attach_result) and id lists as Python literals
 * ("{'face_id': '…', 'similarity': 0.6}"), DOUBLE columns as Python floats,
 * DB times (UTC) in RFC 3339 with microseconds and the configured offset.
 * Each appends to out; a few microseconds per value, nothing kept. */
#ifndef LUNA_EXPORT_VALUES_H
#define LUNA_EXPORT_VALUES_H
#include <stddef.h>
#include <stdint.h>
#include "tasks/csv_zip.h"

/* The UTC offset of the configured zone, remembered per quarter hour:
 * local = 0 for UTC, else the process time zone; bucket starts at INT64_MIN. */
struct export_zone {
	int local;
	int64_t bucket;
	long offset;
};

/* The Python literal of a JSON document; text that is not JSON is kept as it
 * is, "null" is left empty. text is a scratch buffer for decoded strings. */
void export_render_json(struct csv_buf *out, struct csv_buf *text, const char *s, size_t n);
/* A DOUBLE as the server renders it (its shortest form) → repr(). */
void export_render_double(struct csv_buf *out, const char *s, size_t n);
/* "a,b" → "['a', 'b']"; NULL → "[]". */
void export_render_id_list(struct csv_buf *out, const char *s, size_t n);
/* "YYYY-MM-DD HH:MM:SS.ffffff" (UTC) → "YYYY-MM-DDTHH:MM:SS.ffffff+HH:MM";
 * text that is not such a time is kept as it is. */
void export_render_time(struct csv_buf *out, struct export_zone *z, const char *s, size_t n);
#endif
