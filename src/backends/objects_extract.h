/* What additional extraction needs from the objects backend (part of its
 * interface, objects.h): the faces or events that lack a descriptor
 * version or basic attributes, their sample ids, and a place to store what
 * the extractor returned. Descriptors themselves are stored with
 * objects_put_descriptor().
 *
 * "Lacking" follows the original service: the object has a descriptor of
 * the default version of the type (face for face descriptors and basic
 * attributes, body for body descriptors) and no descriptor of the requested
 * version, respectively no basic attributes (a face: no attribute row with
 * any of age/gender/ethnicity; an event: none of age/gender/ethnic_group).
 *
 * Workload: paging through up to millions of ids in ascending order, a few
 * small reads and writes per extracted object. Errors as objects.h. */
#ifndef LUNA_OBJECTS_EXTRACT_H
#define LUNA_OBJECTS_EXTRACT_H
#include <stddef.h>
#include <json-c/json.h>
#include "backends/objects.h"

/* "face_descriptor" | "body_descriptor" | "basic_attributes" → target; 0 when unknown. */
enum extract_target extract_target_from_name(const char *name);

/* Ids (ascending, > after when given, at most limit) of kind (faces or
 * events) matching the ae filters (objects_type is ignored) in the account
 * that lack the target. version: the requested descriptor version (ignored
 * for basic attributes); default_version: the type's configured default. */
static inline int objects_extract_page_missing(struct objects *o, struct arena *a, enum objects_kind kind,
					       json_object *ae_filters, const char *account_id,
					       enum extract_target target, int version, int default_version,
					       const char *after, size_t limit, char ***ids, size_t *n)
{
	return o->ops->extract_page_missing(o, a, kind, ae_filters, account_id, target, version, default_version,
					    after, limit, ids, n);
}

/* Sample ids of an object for the target (face samples for face
 * descriptors and attributes, body samples for body descriptors; a face's
 * samples include those of its attribute), ascending. */
static inline int objects_extract_samples(struct objects *o, struct arena *a, enum objects_kind kind,
					  const char *id, enum extract_target target, char ***sample_ids, size_t *n)
{
	return o->ops->extract_samples(o, a, kind, id, target, sample_ids, n);
}

/* The account of an object (for storing descriptors); NULL in *account when missing. */
static inline int objects_extract_account(struct objects *o, struct arena *a, enum objects_kind kind,
					  const char *id, char **account)
{
	return o->ops->extract_account(o, a, kind, id, account);
}

/* Stores basic attributes (-1 = unknown, stored as NULL) of an object of
 * account_id (one of another account is left as missing): a face gets them
 * on its attribute row (created and linked when it has none), an event in
 * its own columns. */
static inline int objects_extract_put_attributes(struct objects *o, enum objects_kind kind, const char *id,
						 const char *account_id, int age, int gender, int ethnicity)
{
	return o->ops->extract_put_attributes(o, kind, id, account_id, age, gender, ethnicity);
}
#endif
