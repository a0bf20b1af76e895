/* Client of a Handlers-compatible service ([HANDLERS] URL): the service
 * that owns handlers (policies of what to detect and estimate in an image)
 * and runs them on images. Estimator tasks post every image of their source
 * to a handler; additional-extract tasks send the samples of a face or event
 * to the extractor.
 *
 * The calls, relative to [HANDLERS] URL (which carries the API version,
 * e.g. http://handlers:5090/6), follow the LUNA API:
 *   GET    /handlers/{id}           200 {handler_id, handler_type (1 static,
 *                                   2 dynamic), policies, description} | 404
 *   POST   /handlers                {description, policies, handler_type: 1}
 *                                   → 201 {handler_id, url}
 *   POST   /handlers/{id}/events?image_type=N[&image_origin=URL]
 *          body: the image (Content-Type image/…), or for a dynamic handler a
 *          multipart form with parts "policies" (application/json) and
 *          "image" → 201 {events, filtered_detections} | 4xx LUNA error
 *   POST   /extractor?extraction_target=face_descriptor|body_descriptor|
 *          basic_attributes&descriptor_version=V
 *          multipart form, one part "sample" per image (filename = sample id)
 *          → 201 {"descriptor": {"version", "vector_b64"} (descriptor targets),
 *                 "basic_attributes": {"age", "gender", "ethnicity"},
 *                 "samples": [ids used]} | 4xx LUNA error
 *   GET    /healthcheck             200 when up
 *
 * Workload: one handle per worker thread (it owns a connection); an
 * estimator subtask makes ESTIMATOR_CHUNK image calls, [HANDLERS]
 * CONCURRENCY of them at once through as many handles. */
#ifndef LUNA_HANDLERS_H
#define LUNA_HANDLERS_H
#include <stddef.h>
#include <json-c/json.h>
#include "backends/http_client.h"
#include "common/config.h"

enum handler_kind { HANDLER_STATIC = 1, HANDLER_DYNAMIC = 2 };
enum image_type { IMAGE_RAW = 0, IMAGE_FACE_WARP = 1, IMAGE_BODY_WARP = 2 };

struct handlers;
/* NULL when [HANDLERS] URL is empty or on OOM (err says which). */
struct handlers *handlers_open(const struct luna_config *cfg, char *err, size_t errlen);
void handlers_close(struct handlers *h);   /* NULL ok */

/* A failure: errors.h code and detail. A handler or image the service
 * refused keeps the service's own LUNA error in *service_error (a new
 * reference, NULL otherwise) so that results can show it as it came. */
struct handlers_error {
	struct http_error http;
	json_object *service_error;
	int not_found;                   /* the service answered 404 */
};
void handlers_error_clear(struct handlers_error *e);   /* drops service_error */

/* Looks a handler up: *kind is static or dynamic. A missing handler is -1
 * with e->not_found set and code 34000. */
int handlers_get(struct handlers *h, const char *handler_id, enum handler_kind *kind, struct handlers_error *e);
/* Creates a static handler; handler_id gets 36 chars + NUL. */
int handlers_create(struct handlers *h, const char *description, json_object *policies, char handler_id[37],
		    struct handlers_error *e);

/* Runs a handler on one image. policies_json (JSON text, may be NULL) goes
 * along for a dynamic handler. Threads may call this with their own handles. *result is a new {events, filtered_detections} object.
 * An image the service refused (4xx) is -1 with e->service_error set. */
int handlers_estimate(struct handlers *h, const char *handler_id, const char *policies_json, enum image_type type,
		      const void *image, size_t len, const char *content_type, const char *filename,
		      const char *image_origin, json_object **result, struct handlers_error *e);

/* One sample image for extraction. */
struct handlers_sample {
	const char *sample_id;
	const void *data;
	size_t len;
};
/* Extraction result; vector is malloc'd (caller frees). Attributes are -1
 * when the service gave none. */
struct handlers_extraction {
	float *vector;
	size_t dim;
	int version;
	int age, gender, ethnicity;
};
/* target: "face_descriptor" | "body_descriptor" | "basic_attributes". */
int handlers_extract(struct handlers *h, const char *target, int descriptor_version,
		     const struct handlers_sample *samples, size_t n, struct handlers_extraction *out,
		     struct handlers_error *e);

/* Healthcheck of the service: 0 when it answers 200. */
int handlers_check(struct handlers *h, char *err, size_t errlen);

/* Content type of an image judged by its first bytes (JPEG, PNG, BMP,
 * TIFF, WebP, PPM/PGM, JPEG 2000); NULL when it is no image we know. */
const char *image_content_type(const void *data, size_t len);
#endif
