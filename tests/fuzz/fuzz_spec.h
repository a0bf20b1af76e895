/* What the fuzz targets that validate task bodies share: the request body
 * schemas of the nine POST /2/tasks/<type> and the contract they live in
 * ($LUNA_SPEC, else docs/luna-tasks.yaml from the work tree). */
#ifndef LUNA_FUZZ_SPEC_H
#define LUNA_FUZZ_SPEC_H
#include <stdio.h>
#include <stdlib.h>

#include "common/schema.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *const body_schemas[] = {
	"clustering_task", "linker_task", "gc_task", "estimator_task", "reporter_task",
	"exporter_task", "cross_match_task", "roc_task", "additional_extract_task",
};

/* The contract, or abort() naming the target: nothing to fuzz without it. */
static inline struct spec *fuzz_load_spec(const char *target)
{
	const char *path = getenv("LUNA_SPEC");
	char err[512];
	struct spec *spec = spec_load(path ? path : "docs/luna-tasks.yaml", err, sizeof(err));
	if (!spec) {
		fprintf(stderr, "%s: cannot load the spec: %s\n", target, err);
		abort();
	}
	return spec;
}
#endif
