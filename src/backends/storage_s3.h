/* The S3 result store ([STORAGE] BACKEND = s3), for storage.c. */
#ifndef LUNA_STORAGE_S3_H
#define LUNA_STORAGE_S3_H
#include <stddef.h>
#include "backends/storage.h"

/* A store on [STORAGE] S3_ENDPOINT / S3_BUCKET with S3_ACCESS_KEY and
 * S3_SECRET_KEY (SigV4, region S3_REGION). Nothing is contacted here; the
 * healthcheck (check) asks for the bucket. NULL with err on a bad setting. */
struct storage *storage_s3_open(const struct luna_config *cfg, char *err, size_t errlen);
#endif
