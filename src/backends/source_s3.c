/* s3 image source (not built yet: answers "not implemented"). */
#include "backends/sources.h"
#include "common/errors.h"

struct source *source_s3_open(const struct luna_config *cfg, json_object *source, const struct source_limits *limits,
			      struct source_error *err)
{
	source_error_set(err, E_NOT_IMPLEMENTED, "s3 sources are not available yet");
	return NULL;
}
