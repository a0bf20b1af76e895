/* Error code table (see errors.h). Texts follow the original service. */
#include "common/errors.h"
#include <stdio.h>

static const struct luna_error_def defs[] = {
	{E_SUCCESS, 200, "Success", "Success"},
	{E_INTERNAL, 500, "Internal server error", "Unknown error"},
	{E_UPSTREAM_CONNECT_TIMEOUT, 500, "Internal server error", E_UPSTREAM_CONNECT_TIMEOUT_DETAIL},
	{E_REQUEST_TIMEOUT, 504, "Request timeout", E_REQUEST_TIMEOUT_DETAIL},
	{E_UPSTREAM_DISCONNECTED, 500, "Internal server error", E_UPSTREAM_DISCONNECTED_DETAIL},
	{E_UPSTREAM_CONNECTION, 500, "Internal server error", E_UPSTREAM_CONNECTION_DETAIL},
	{E_UPSTREAM_BAD_STATUS, 500, "Internal server error", E_UPSTREAM_BAD_STATUS_DETAIL},
	{E_UPSTREAM_CONTENT_TYPE, 500, "Internal server error", E_UPSTREAM_CONTENT_TYPE_DETAIL},
	{E_DB, 500, "Database error", "Database connection timeout error"},
	{E_ROUTE_NOT_FOUND, 404, "Resource not found", "Page not found"},
	{E_NO_JSON, 400, "Bad/incomplete input data", "Request does not contain json"},
	{E_METHOD_NOT_ALLOWED, 405, "Method not allowed", "Method not allowed"},
	{E_BAD_QUERY, 400, "Bad/incomplete input data", E_BAD_QUERY_DETAIL},
	{E_REQUIRED_QUERY, 400, "Bad/incomplete input data", E_REQUIRED_QUERY_DETAIL},
	{E_BAD_JSON, 400, "Bad/incomplete input data", E_BAD_JSON_DETAIL},
	{E_MEDIA_TYPE, 415, "Bad/incomplete input data", "Unsupported media type"},
	{E_NOT_IMPLEMENTED, 501, "Functionality is not implemented", "Required server functionality is not implemented"},
	{E_DYNAMIC_HANDLER, 400, "Bad/incomplete input data", E_DYNAMIC_HANDLER_DETAIL},
	{E_STATIC_HANDLER, 400, "Bad/incomplete input data", E_STATIC_HANDLER_DETAIL},
	{E_DESCRIPTOR_VERSION, 400, "Bad/incomplete input data", E_DESCRIPTOR_VERSION_DETAIL},
	{E_BODY_TOO_LARGE, 400, "Bad/incomplete input data", E_BODY_TOO_LARGE_DETAIL},
	{E_SEND_SUBTASKS, 500, "Network error", E_SEND_SUBTASKS_DETAIL},
	{E_TASK_NOT_FOUND, 404, "Object not found", E_TASK_NOT_FOUND_DETAIL},
	{E_TASK_ERROR_NOT_FOUND, 404, "Object not found", E_TASK_ERROR_NOT_FOUND_DETAIL},
	{E_PROGRESS_UPDATE, 500, "Internal server error", E_PROGRESS_UPDATE_DETAIL},
	{E_CLUSTER_EMPTY, 400, "Objects not found", "Objects for clustering not found"},
	{E_REPORT_TYPE, 400, "Bad/incomplete input data", E_REPORT_TYPE_DETAIL},
	{E_REPORT_STATUS, 400, "Bad/incomplete input data", E_REPORT_STATUS_DETAIL},
	{E_REPORT_NO_RESULT, 400, "Bad/incomplete input data", "Clusterization task without result does not support a build report"},
	{E_RESULT_NOT_FOUND, 404, "Object not found", E_RESULT_NOT_FOUND_DETAIL},
	{E_NO_RESULT_YET, 404, "Object not found", E_NO_RESULT_YET_DETAIL},
	{E_CANNOT_CANCEL, 400, "Bad/incomplete input data", E_CANNOT_CANCEL_DETAIL},
	{E_RESULT_OF_FINISHED, 400, "Object not found", E_RESULT_OF_FINISHED_DETAIL},
	{E_TASK_CANCELLED, 404, "Object not found", E_TASK_CANCELLED_DETAIL},
	{E_OBJECTS_NOT_FOUND, 400, "Objects not found", E_OBJECTS_NOT_FOUND_DETAIL},
	{E_LIST_NOT_FOUND, 400, "Object not found", E_LIST_NOT_FOUND_DETAIL},
	{E_SUBTASK_ATTEMPTS, 500, "Internal server error", E_SUBTASK_ATTEMPTS_DETAIL},
	{E_BAD_SOURCE, 400, "Bad/incomplete input data", E_BAD_SOURCE_DETAIL},
	{E_STORAGE, 500, "Storage error", E_STORAGE_DETAIL},
	{E_HANDLERS_NOT_CONFIGURED, 400, "Bad/incomplete input data", E_HANDLERS_NOT_CONFIGURED_DETAIL},
	{E_IMAGE, 400, "Bad/incomplete input data", E_IMAGE_DETAIL},
	{E_SCHEDULE_NOT_FOUND, 404, "Object not found", E_SCHEDULE_NOT_FOUND_DETAIL},
	{E_HANDLER_NOT_FOUND, 400, "Object not found", E_HANDLER_NOT_FOUND_DETAIL},
	{E_HEALTH, 502, "Health check error", E_HEALTH_DETAIL},
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
