/* Helpers shared by the task types that read the objects backend and match
 * descriptors (linker, clustering, gc, cross match, roc): reading the
 * defaulted task content, turning backend failures into task failures, the
 * result document of the spec's *_task_result schemas, and merging partial
 * results at collect (also used by the extracting types). */
#ifndef LUNA_TASK_UTIL_H
#define LUNA_TASK_UTIL_H
#include <json-c/json.h>
#include <json-c/printbuf.h>
#include <stdio.h>
#include "backends/objects.h"
#include "tasks/task_type.h"

/* Content fields; the defaults apply when the key is absent or null. */
json_object *task_json_get(json_object *obj, const char *key);
const char *task_json_str(json_object *obj, const char *key, const char *def);
long long task_json_int(json_object *obj, const char *key, long long def);
double task_json_double(json_object *obj, const char *key, double def);

/* ---- Tenancy -------------------------------------------------------------
 * The task's account_id is the tenant: it is the account every objects call
 * of the task gets. An account_id inside the content (content.filters,
 * reference_filters, candidate_filters, …) may only repeat it: creation
 * refuses another one (task_check_content_accounts, run by the API before the
 * type's validate and by the scheduler before planning), and the objects
 * backend still narrows by both (a different one would select nothing). */

/* 0 when every non-null account_id in content equals account_id (no account:
 * anything passes); else -1 with fail = 400/12022 naming the JSON path. */
int task_check_content_accounts(const char *account_id, json_object *content, struct task_fail *fail);
/* The account a task's objects calls get: the task's own. Only a task stored
 * without one (the spec requires it for every type) falls back to the
 * filters' account_id, which then merely narrows as in any filter. */
const char *task_account(const struct task_ctx *ctx, json_object *filters);

/* Fails with a clear error when the host has no objects backend. */
int task_require_objects(struct task_ctx *ctx, struct task_fail *fail);
/* fail from the objects backend's last error ("what" names the step). Returns -1. */
int task_objects_fail(struct task_ctx *ctx, struct task_fail *fail, const char *what);
/* Fails with 28025 when the task was cancelled. Returns -1 then, else 0. */
int task_check_cancelled(struct task_ctx *ctx, struct task_fail *fail);

/* Descriptor type of a descriptor_info object ({"type": "face"|"body"}) and
 * its configured default version. */
enum descriptor_type task_descriptor_type(json_object *descriptor_info);

/* {"result": result, "errors": [error…]} with the task's errors from its host
 * (at most [TASKS] MAX_ERRORS, as the API shows them); result NULL leaves "result" out. Takes
 * ownership of result. NULL with fail set when the errors cannot be read. */
json_object *task_result_document(struct task_ctx *ctx, json_object *result, struct task_fail *fail);

/* A similarity as a JSON number with 6 decimals. */
json_object *task_json_similarity(double sim);

/* ---- documents written as text --------------------------------------------
 * A large result (cross match: references x limit candidates) is written as
 * text while it is made, not built as a json-c tree, printed and freed: the
 * helpers below append exactly the bytes json-c writes for the same values
 * with JSON_C_TO_STRING_PLAIN. */

/* Appends the text of task_json_similarity(sim). */
void task_text_similarity(struct printbuf *pb, double sim);
/* Appends s as a JSON string, escaped as json-c escapes it. */
void task_text_string(struct printbuf *pb, const char *s);
/* An empty printbuf with room for about bytes of text in a big_alloc
 * block (warm pages of an earlier one: a 9 MB text grown by doubling cost
 * ~2,000 page faults and its copies); it still grows past them. NULL when
 * out of memory. Given back with task_printbuf_free_warm. */
struct printbuf *task_printbuf_sized(size_t bytes);
void task_printbuf_free_warm(struct printbuf *pb);
/* A JSON array node whose text is pb's (taken over; pb must hold one JSON
 * array): json-c writes it wherever the node is written. NULL when out of memory. */
json_object *task_json_text_array(struct printbuf *pb);
/* A new JSON array of the n strings (ids, sample ids, …). */
json_object *task_json_strings(char *const *items, size_t n);

/* ---- collect ------------------------------------------------------------- */

/* Appends the elements of the array src to dst, one reference each; src NULL
 * or not an array adds nothing. */
void task_json_append_all(json_object *dst, json_object *src);
/* A new array of the elements of every partial (key NULL: partials that are
 * arrays; else the array under key of each partial), in order. */
json_object *task_json_concat(json_object *partials, const char *key);
/* Stores {"result": [items of every partial], "errors": [...]} under
 * ctx->result_id for a type with collect_reads_partials: partial_ids holds
 * the partial results' blob ids (null for failed subtasks), read one at a
 * time and written through a temporary file, so memory holds one partial,
 * never the whole result. The bytes are those of task_result_document() of
 * task_json_concat(partials, NULL). 0 ok; -1 with fail set. */
int task_store_concat_result(struct task_ctx *ctx, json_object *partial_ids, struct task_fail *fail);
/* The same for partials the worker stored as they are (arrays rendered
 * with JSON_C_TO_STRING_PLAIN): their items are copied as text, never
 * parsed, which gives the same bytes. */
int task_store_concat_stored_result(struct task_ctx *ctx, json_object *partial_ids, struct task_fail *fail);
/* Writes the result's items into f, separated by commas; 0 ok, -1 with fail set. */
typedef int (*task_items_writer)(struct task_ctx *ctx, void *ud, FILE *f, struct task_fail *fail);
/* Stores {"result": [items], "errors": [...]} under ctx->result_id, the
 * items written by write_items into a temporary file (the concat functions
 * above are this with the partials' items). 0 ok; -1 with fail set. */
int task_store_result_items(struct task_ctx *ctx, task_items_writer write_items, void *ud, struct task_fail *fail);
/* The same document stored under id (a subtask that writes the task's
 * result itself: ctx->stored_partial). */
int task_store_document(struct task_ctx *ctx, const char *id, task_items_writer write_items, void *ud,
			struct task_fail *fail);
/* Appends the items of text, one JSON array, to f, after a comma unless
 * *first (cleared once an item is written); -1 when text is no array. */
int task_write_items_text(FILE *f, const char *text, size_t len, int *first);
/* A new temporary file $TMPDIR/luna-tasks-<what>-XXXXXX (default /tmp): its
 * descriptor, path filled in; -1 with errno. */
int task_temp_file(char *path, size_t len, const char *what);
/* The result of a type planned as one subtask: that subtask's partial in the
 * result document. what names the type in the failure when there is none. */
int task_collect_single(struct task_ctx *ctx, json_object *partials, const char *what, json_object **result,
			struct task_fail *fail);
#endif
