/* Error code table (see errors.h). Texts follow the original service. */
#include "common/errors.h"
#include <stdarg.h>
#include <stdio.h>

static const struct luna_error_def defs[] = {
	{E_SUCCESS, 200, "Success", "Success"},
	{E_INTERNAL, 500, "Internal server error", "Unknown error"},
	{E_UPSTREAM_CONNECT_TIMEOUT, 500, "Internal server error", "Connect timeout on %s"},
	{E_REQUEST_TIMEOUT, 504, "Request timeout", "Request timeout on %s, method %s"},
	{E_UPSTREAM_DISCONNECTED, 500, "Internal server error", "Server disconnected on %s"},
	{E_UPSTREAM_CONNECTION, 500, "Internal server error", "Connection error on %s: %s"},
	{E_UPSTREAM_BAD_STATUS, 500, "Internal server error", "Unexpected status %d from %s"},
	{E_UPSTREAM_CONTENT_TYPE, 500, "Internal server error", "Unexpected content type from %s"},
	{E_DB, 500, "Database error", "Database connection timeout error"},
	{E_ROUTE_NOT_FOUND, 404, "Resource not found", "Page not found"},
	{E_NO_JSON, 400, "Bad/incomplete input data", "Request does not contain json"},
	{E_METHOD_NOT_ALLOWED, 405, "Method not allowed", "Method not allowed"},
	{E_BAD_QUERY, 400, "Bad/incomplete input data", "Bad query parameters '%s'"},
	{E_REQUIRED_QUERY, 400, "Bad/incomplete input data", "Required parameters '%s' not found"},
	{E_BAD_JSON, 400, "Bad/incomplete input data", "Failed to validate input json. Path: '%s', message: '%s'"},
	{E_MEDIA_TYPE, 415, "Bad/incomplete input data", "Unsupported media type"},
	{E_NOT_IMPLEMENTED, 501, "Functionality is not implemented", "Required server functionality is not implemented"},
	{E_DYNAMIC_HANDLER, 400, "Bad/incomplete input data", "Handler %s is dynamic. Dynamic handler not supported"},
	{E_STATIC_HANDLER, 400, "Bad/incomplete input data", "Handler %s is static. Policies of a static handler can not be set"},
	{E_DESCRIPTOR_VERSION, 400, "Bad/incomplete input data", "Descriptor version %d is not registered in the system"},
	{E_BODY_TOO_LARGE, 400, "Bad/incomplete input data", "Request body is larger than %ld bytes"},
	{E_SEND_SUBTASKS, 500, "Network error", "Cannot send subtasks to task_workers. Reason: '%s'"},
	{E_TASK_NOT_FOUND, 404, "Object not found", "Task with id '%lld' not found"},
	{E_TASK_ERROR_NOT_FOUND, 404, "Object not found", "Task error with id '%lld' not found"},
	{E_PROGRESS_UPDATE, 500, "Internal server error", "Failed to update task %lld progress"},
	{E_CLUSTER_EMPTY, 400, "Objects not found", "Objects for clustering not found"},
	{E_REPORT_TYPE, 400, "Bad/incomplete input data", "Tasks with type '%d' does not support a build report"},
	{E_REPORT_STATUS, 400, "Bad/incomplete input data", "Tasks with status '%d' does not support a build report"},
	{E_REPORT_NO_RESULT, 400, "Bad/incomplete input data", "Clusterization task without result does not support a build report"},
	{E_RESULT_NOT_FOUND, 404, "Object not found", "Result of the task '%lld' not found"},
	{E_NO_RESULT_YET, 404, "Object not found", "Task '%lld' does not have result yet"},
	{E_CANNOT_CANCEL, 400, "Bad/incomplete input data", "Task '%lld' with status %d can not canceled"},
	{E_RESULT_OF_FINISHED, 400, "Object not found", "Impossible get a result of task %lld with status %d"},
	{E_TASK_CANCELLED, 404, "Object not found", "Task '%lld' has been cancelled"},
	{E_OBJECTS_NOT_FOUND, 400, "Objects not found", "%s"},
	{E_LIST_NOT_FOUND, 400, "Object not found", "List with id '%s' not found"},
	{E_SUBTASK_ATTEMPTS, 500, "Internal server error", "Subtask %lld failed after %d attempts: %s"},
	{E_BAD_SOURCE, 400, "Bad/incomplete input data", "%s"},
	{E_STORAGE, 500, "Storage error", "%s"},
	{E_HANDLERS_NOT_CONFIGURED, 400, "Bad/incomplete input data", "No handlers service is configured ([HANDLERS] URL); %s tasks are unavailable"},
	{E_IMAGE, 400, "Bad/incomplete input data", "%s"},
	{E_HANDLER_NOT_FOUND, 400, "Object not found", "Handler with id %s not found"},
	{E_HEALTH, 502, "Health check error", "%s: %s"},
};

const struct luna_error_def *luna_error_at(size_t i)
{
	return i < sizeof(defs) / sizeof(defs[0]) ? &defs[i] : NULL;
}

const struct luna_error_def *luna_error_def(int code)
{
	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		if (defs[i].code == code)
			return &defs[i];
	return &defs[1];
}

void luna_error_detail(char *buf, size_t len, int code, ...)
{
	va_list ap;
	va_start(ap, code);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	vsnprintf(buf, len, luna_error_def(code)->detail_fmt, ap);
#pragma GCC diagnostic pop
	va_end(ap);
}

json_object *luna_error_json(int code, const char *detail)
{
	const struct luna_error_def *d = luna_error_def(code);
	char link[128];
	snprintf(link, sizeof(link), LUNA_ERROR_LINK "%d", d->code);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "error_code", json_object_new_int(d->code));
	json_object_object_add(o, "desc", json_object_new_string(d->desc));
	json_object_object_add(o, "detail", json_object_new_string(detail ? detail : d->detail_fmt));
	json_object_object_add(o, "link", json_object_new_string(link));
	return o;
}
