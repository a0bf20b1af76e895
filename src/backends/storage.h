/* Result store: blobs (task results, subtask partial results, images) by id.
 * A backend is a table of functions; task code never knows which one it has.
 * Backends: local (a directory), s3 (S3-compatible bucket). */
#ifndef LUNA_STORAGE_H
#define LUNA_STORAGE_H
#include <stddef.h>
#include <stdio.h>
#include "common/config.h"

struct storage;

struct storage_ops {
	const char *name;
	int (*put)(struct storage *st, const char *id, const void *data, size_t len);
	/* Stores the content of a local file (it may be moved in: the caller no longer owns path). */
	int (*put_file)(struct storage *st, const char *id, const char *path);
	/* Whole blob in memory (malloc'd; caller frees). -1 with errno ENOENT when missing. */
	int (*get)(struct storage *st, const char *id, void **data, size_t *len);
	/* Open for streaming; *f is closed by the caller. -1 with errno ENOENT when missing. */
	int (*open_read)(struct storage *st, const char *id, FILE **f, size_t *len);
	int (*del)(struct storage *st, const char *id);      /* missing is not an error */
	int (*check)(struct storage *st, char *err, size_t errlen);  /* healthcheck */
	void (*close)(struct storage *st);
};

struct storage {
	const struct storage_ops *ops;
};

struct storage *storage_open(const struct luna_config *cfg, char *err, size_t errlen);
static inline void storage_close(struct storage *st)
{
	if (st)
		st->ops->close(st);
}
#endif
