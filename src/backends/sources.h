/* Image sources of estimator tasks: a zip archive by URL, an S3 bucket, a
 * folder of a mounted network disk, an FTP server. A source enumerates its
 * images once (when the task is planned) and fetches them one by one (in
 * the subtasks). Every source is a table of functions (struct source_ops).
 *
 * Selection follows the spec's prefix/postfix tables for every source: a
 * file is taken when its path relative to the source's root starts with
 * `prefix` and ends with `postfix`; with `recursive` false it is also taken
 * only when the part after the prefix has no '/' (what an S3 listing with
 * delimiter '/' gives). So prefix "prefix" selects prefix/file2.jpg and
 * prefix_file.jpg, "prefix/" only the folder's files, "temp" temp_file.jpg.
 *
 * Hostile input is contained by limits (struct source_limits): entry count,
 * per-file and total uncompressed size, compression ratio, archive size,
 * folder depth. A file that breaks a per-file limit, has an unsafe name
 * (absolute, '..', a link leaving the allowed roots) or cannot be read is
 * an error for that file; a source that cannot be listed at all, or breaks
 * a whole-source limit, is an error for the task.
 *
 * Workload: listing up to a million names; fetching files of up to a few
 * tens of MB, one per call, from up to [HANDLERS] CONCURRENCY threads; a
 * source handle is used by one thread (open one per thread). */
#ifndef LUNA_SOURCES_H
#define LUNA_SOURCES_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <json-c/json.h>
#include "common/config.h"

struct source_limits {
	size_t max_files;                   /* names one source may list */
	size_t max_file_bytes;              /* one image (uncompressed) */
	unsigned long long max_total_bytes; /* all entries of an archive, uncompressed */
	unsigned max_ratio;                 /* uncompressed / compressed size of an entry */
	unsigned long long max_archive_bytes; /* downloaded archive */
	unsigned max_depth;                 /* folder nesting */
	long download_timeout_s;            /* a zip archive download, whole */
	long ftp_timeout_s;                 /* one FTP listing or file */
};
/* The limits of the configuration ([LIMITS] MAX_SOURCE_FILES, MAX_IMAGE_BYTES, ...). */
void source_limits_from_config(struct source_limits *l, const struct luna_config *cfg);

/* A failure: errors.h code and detail. */
struct source_error {
	int code;
	char detail[512];
};
void source_error_set(struct source_error *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Selection of names (see the top of this file). */
struct source_filter {
	const char *prefix;   /* NULL or "" = any */
	const char *postfix;
	int recursive;
};
int source_name_selected(const struct source_filter *f, const char *rel);
/* Whether a folder (relative path, no trailing '/') may hold selected files. */
int source_dir_may_match(const struct source_filter *f, const char *rel_dir);

/* Listing callback: key fetches the file, name is what results show (equal
 * for every source but zip, whose keys are entry indexes). Nonzero stops. */
typedef int (*source_item_cb)(void *ud, const char *key, const char *name);

struct source;
struct source_ops {
	const char *type;   /* source_type of the spec */
	/* Every selected file, in a stable order. */
	int (*list)(struct source *s, source_item_cb cb, void *ud);
	/* The bytes of one file (malloc'd; caller frees). */
	int (*fetch)(struct source *s, const char *key, void **data, size_t *len);
	/* Where the file came from (for save_origin), malloc'd; NULL when none. */
	char *(*origin)(struct source *s, const char *key);
	void (*close)(struct source *s);
};

struct source {
	const struct source_ops *ops;
	struct source_limits limits;
	struct source_error err;     /* set by a failing call */
	atomic_int *cancel;        /* nonzero: stop listing / fetching */
};

/* Opens the source described by the task's `source` object. A zip source
 * reads the archive from `archive` (an open, seekable file it takes over;
 * see source_zip_download); the others ignore it. NULL with err set. */
struct source *source_open(const struct luna_config *cfg, json_object *source, FILE *archive,
			   const struct source_limits *limits, atomic_int *cancel, struct source_error *err);
static inline void source_close(struct source *s)
{
	if (s)
		s->ops->close(s);
}

/* Checks a source at task creation without reading it: network disk path
 * below [API] NETWORK_DISK_ROOTS, zip URL scheme, S3 endpoint/ARN rules
 * (code 28103); a zip URL, S3 endpoint (or ARN's endpoint) or FTP host the
 * outbound policy ([OUTBOUND] ALLOW) refuses by name or address literal
 * (12022 naming the JSON path; names that may resolve into an allowed
 * network pass here and are checked when connecting). 0 ok; -1 with err. */
int source_validate(const struct luna_config *cfg, json_object *source, struct source_error *err);

/* Downloads a zip archive (http/https only, under the outbound policy, at most limits->max_archive_bytes)
 * into a new temporary file; *path gets its malloc'd name (caller unlinks
 * and frees). */
int source_zip_download(const struct luna_config *cfg, const char *url, const struct source_limits *limits,
			atomic_int *cancel, char **path, struct source_error *err);

/* ---- Per-type constructors (used by source_open and the unit tests) ---- */
struct source *source_zip_open(FILE *archive, const char *password, const struct source_limits *limits,
			       struct source_error *err);
/* roots: colon-separated allowed folders ([API] NETWORK_DISK_ROOTS). */
struct source *source_network_disk_open(const char *roots, const char *path, const struct source_filter *f,
					int follow_links, const struct source_limits *limits,
					struct source_error *err);
struct source *source_s3_open(const struct luna_config *cfg, json_object *source, const struct source_limits *limits,
			      struct source_error *err);
struct source *source_ftp_open(const struct luna_config *cfg, json_object *source, const struct source_limits *limits,
			       struct source_error *err);

/* Network disk helpers: 0 when path (absolute, no '..') resolves below one
 * of the colon-separated roots; -1 with err otherwise. */
int source_network_disk_check(const char *roots, const char *path, struct source_error *err);
/* A relative name safe to look up below a root: no leading '/', no '.' or
 * '..' component, no empty component, no backslash, no control char. */
int source_relative_name_safe(const char *name);

/* Small JSON accessors for source objects (NULL / default when absent). */
const char *source_json_str(json_object *o, const char *key);
int source_json_bool(json_object *o, const char *key, int dflt);
long long source_json_int(json_object *o, const char *key, long long dflt);
json_object *source_json_obj(json_object *o, const char *key);
#endif
