/* The OpenAPI contract as one self-contained HTML page (GET /2/docs/spec
 * with Accept: text/html). The page needs nothing from the network: styles
 * and the small table-of-contents filter are inline. */
#ifndef LUNA_API_SPEC_HTML_H
#define LUNA_API_SPEC_HTML_H
#include <stddef.h>
#include "common/schema.h"

/* Renders every operation and every component schema of spec. Returns a
 * malloc'd NUL-terminated page (caller frees) and its length in *len, or
 * NULL when out of memory. The spec is only read. */
char *spec_render_html(const struct spec *spec, size_t *len);
#endif
