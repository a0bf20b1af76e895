/* The objects backend's front: [OBJECTS] BACKEND picks the table of
 * functions (objects.h), and the vocabulary every backend shares (kinds,
 * descriptor types, extraction targets, the import tables' widths). */
#include "backends/objects.h"
#include "backends/objects_extract.h"
#include "backends/objects_local.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

/* The backends built in, by [OBJECTS] BACKEND name. */
static const struct objects_ops *const backends[] = {&objects_local_ops};

const struct objects_ops *objects_backend(const struct luna_config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strcmp(cfg->objects_backend, backends[i]->name) == 0)
			return backends[i];
	snprintf(err, errlen, "objects backend '%s' is not available (only 'local' is built)", cfg->objects_backend);
	return NULL;
}

struct objects *objects_open(const struct luna_config *cfg, char *err, size_t errlen)
{
	const struct objects_ops *ops = objects_backend(cfg, err, errlen);
	return ops ? ops->open(cfg, err, errlen) : NULL;
}

int objects_validate_filters(const struct luna_config *cfg, enum objects_kind kind, json_object *filters,
			     char *err, size_t errlen)
{
	const struct objects_ops *ops = objects_backend(cfg, err, errlen);
	return ops ? ops->validate_filters(kind, filters, err, errlen) : -1;
}

enum objects_kind objects_kind_from_name(const char *name)
{
	if (!name)
		return 0;
	if (strcmp(name, "faces") == 0)
		return OBJ_FACES;
	if (strcmp(name, "events") == 0)
		return OBJ_EVENTS;
	if (strcmp(name, "attributes") == 0)
		return OBJ_ATTRIBUTES;
	return 0;
}

enum descriptor_type descriptor_type_from_name(const char *name)
{
	if (!name)
		return 0;
	if (strcmp(name, "face") == 0)
		return DESCRIPTOR_FACE;
	if (strcmp(name, "body") == 0)
		return DESCRIPTOR_BODY;
	return 0;
}

int descriptor_default_version(const struct luna_config *cfg, enum descriptor_type type)
{
	return type == DESCRIPTOR_BODY ? cfg->body_descriptor_version : cfg->face_descriptor_version;
}

enum extract_target extract_target_from_name(const char *name)
{
	if (!name)
		return 0;
	if (strcmp(name, "face_descriptor") == 0)
		return EXTRACT_FACE_DESCRIPTOR;
	if (strcmp(name, "body_descriptor") == 0)
		return EXTRACT_BODY_DESCRIPTOR;
	if (strcmp(name, "basic_attributes") == 0)
		return EXTRACT_BASIC_ATTRIBUTES;
	return 0;
}

/* Every descriptor read for matching passes here, stored ones included
 * (normalised when written, so most come out unchanged). The sum of squares
 * runs in four double partial sums, which the compiler turns into vector
 * instructions (one running sum is a chain of dependent additions: 0.47 µs
 * against 0.13 µs per 512-d row); it rounds differently from one running
 * sum only beyond the float the scale is rounded to. A scale that rounds to
 * 1 (a stored row) leaves the row as it is: that multiplication changed
 * nothing. */
void objects_l2_normalize(float *v, size_t d)
{
	double part[4] = {0, 0, 0, 0};
	size_t i = 0;
	for (; i + 4 <= d; i += 4)
		for (size_t k = 0; k < 4; k++)
			part[k] += (double)v[i + k] * v[i + k];
	double s = (part[0] + part[1]) + (part[2] + part[3]);
	for (; i < d; i++)
		s += (double)v[i] * v[i];
	if (s <= 0)
		return;
	float inv = (float)(1.0 / sqrt(s));
	if (inv == 1.0f)
		return;
	for (i = 0; i < d; i++)
		v[i] *= inv;
}

size_t objects_import_columns(enum objects_import_table table)
{
	switch (table) {
	case IMPORT_FACES:
		return 8;
	case IMPORT_ATTRIBUTES:
		return 7;
	case IMPORT_DESCRIPTORS:
		return 6;
	case IMPORT_LIST_FACES:
		return 3;
	case IMPORT_EVENTS:
		return 33;
	case IMPORT_TAGS:
		return 2;
	case IMPORT_MATCHES:
		return 5;
	case IMPORT_SAMPLES:
		return 5;
	}
	return 0;
}
