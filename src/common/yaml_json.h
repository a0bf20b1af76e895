/* yaml_json.h - load a YAML document into json-c objects (YAML 1.2 core schema). */
#ifndef LUNA_COMMON_YAML_JSON_H
#define LUNA_COMMON_YAML_JSON_H

#include <stddef.h>
#include <json-c/json.h>

/*
 * Both loaders return a new reference to the root of the (single) document, or NULL
 * with a message in err (including the line number for syntax errors).
 *
 * Resolution: plain scalars follow the YAML 1.2 core schema (null, ~ and empty are
 * null; true/false; decimal, 0o and 0x integers; floats incl. .5, 1e3, .inf, .nan);
 * quoted and block scalars are strings; the standard !!str/!!int/!!float/!!bool/!!null
 * tags are honoured. Mapping keys always become strings (their source text, so `200:`
 * gives "200"). Anchors and aliases are supported: an alias shares the anchored
 * object (reference counted). A stream with no document, a document that is just
 * null, and a stream with more than one document are reported as errors.
 */
json_object *yaml_load_file(const char *path, char *err, size_t errlen);
json_object *yaml_load_string(const char *buf, size_t len, char *err, size_t errlen);

#endif
