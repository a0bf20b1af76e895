/* Result store selection: [STORAGE] BACKEND names the implementation. */
#include "backends/storage.h"
#include "backends/storage_local.h"
#include "backends/storage_s3.h"
#include <stdio.h>
#include <string.h>

struct storage *storage_open(const struct luna_config *cfg, char *err, size_t errlen)
{
	if (strcmp(cfg->storage_backend, "local") == 0)
		return storage_local_open(cfg->storage_path, err, errlen);
	if (strcmp(cfg->storage_backend, "s3") == 0)
		return storage_s3_open(cfg, err, errlen);
	snprintf(err, errlen, "[STORAGE] BACKEND: unknown backend '%s' (local or s3)", cfg->storage_backend);
	return NULL;
}
