/* The local result store (a directory of blobs named by id), for storage.c
 * and the unit tests. */
#ifndef LUNA_STORAGE_LOCAL_H
#define LUNA_STORAGE_LOCAL_H
#include <stddef.h>
#include "backends/storage.h"

/* Opens (creating it if needed) the directory dir. NULL with err on failure. */
struct storage *storage_local_open(const char *dir, char *err, size_t errlen);
/* True when id may name a blob: 1..128 of [A-Za-z0-9._-], starting with a
 * letter or digit (so never ".", "..", a hidden file or a path). */
int storage_id_valid(const char *id);
#endif
