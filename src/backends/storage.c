/* Result store selection: [STORAGE] BACKEND names the implementation. */
#include "backends/storage.h"
#include "backends/storage_local.h"
#include <stdio.h>
#include <string.h>

struct storage *storage_open(const struct luna_config *cfg, char *err, size_t errlen)
{
	if (strcmp(cfg->storage_backend, "local") == 0)
		return storage_local_open(cfg->storage_path, err, errlen);
	if (strcmp(cfg->storage_backend, "s3") == 0) {
		snprintf(err, errlen, "[STORAGE] BACKEND = s3 is not available in this version yet; use local");
		return NULL;
	}
	snprintf(err, errlen, "[STORAGE] BACKEND: unknown backend '%s' (local or s3)", cfg->storage_backend);
	return NULL;
}
