/* The one table of error codes: code, HTTP status, short description and a
 * printf-style detail template. Everything that answers an error (API
 * responses, task error rows, healthcheck components) builds it from here. */
#ifndef LUNA_ERRORS_H
#define LUNA_ERRORS_H
#include <json-c/json.h>

enum luna_code {
	E_SUCCESS = 0,
	E_INTERNAL = 1,
	E_REQUEST_TIMEOUT = 9,
	E_UPSTREAM_CONNECT_TIMEOUT = 8,
	E_UPSTREAM_DISCONNECTED = 10,
	E_UPSTREAM_CONNECTION = 11,
	E_UPSTREAM_BAD_STATUS = 12,
	E_UPSTREAM_CONTENT_TYPE = 21,
	E_DB = 10017,
	E_NO_JSON = 12002,
	E_BAD_QUERY = 12012,
	E_REQUIRED_QUERY = 12014,
	E_BAD_JSON = 12022,
	E_MEDIA_TYPE = 12024,
	E_NOT_IMPLEMENTED = 12029,
	E_DYNAMIC_HANDLER = 12031,
	E_STATIC_HANDLER = 12032,
	E_DESCRIPTOR_VERSION = 12036,
	E_BODY_TOO_LARGE = 12037,
	E_SEND_SUBTASKS = 28000,
	E_TASK_NOT_FOUND = 28001,
	E_TASK_ERROR_NOT_FOUND = 28003,
	E_PROGRESS_UPDATE = 28008,
	E_CLUSTER_EMPTY = 28010,
	E_REPORT_TYPE = 28013,
	E_REPORT_STATUS = 28015,
	E_REPORT_NO_RESULT = 28016,
	E_RESULT_NOT_FOUND = 28017,
	E_NO_RESULT_YET = 28018,
	E_CANNOT_CANCEL = 28019,
	E_RESULT_OF_FINISHED = 28020,
	E_TASK_CANCELLED = 28025,
	/* Codes of this implementation (documented in the operator manual). */
	E_OBJECTS_NOT_FOUND = 28100,
	E_LIST_NOT_FOUND = 28101,
	E_SUBTASK_ATTEMPTS = 28102,
	E_BAD_SOURCE = 28103,
	E_STORAGE = 28104,
	E_HANDLERS_NOT_CONFIGURED = 28105,
	E_IMAGE = 28106,
	E_ROUTE_NOT_FOUND = 12001,
	E_METHOD_NOT_ALLOWED = 12003,
	E_HANDLER_NOT_FOUND = 34000,
	E_HEALTH = 38001,
};

struct luna_error_def {
	int code;
	int http_status;
	const char *desc;
	const char *detail_fmt;   /* printf template; arguments given by the caller */
};

const struct luna_error_def *luna_error_def(int code);   /* never NULL: unknown → code 1 */
/* Fills buf with the detail for code, formatted with the template's arguments. */
void luna_error_detail(char *buf, size_t len, int code, ...);
/* {"error_code", "desc", "detail", "link"}; detail NULL → the template text as is. */
json_object *luna_error_json(int code, const char *detail);
#define LUNA_ERROR_LINK "https://docs.visionlabs.ai/info/luna/troubleshooting/errors-description/code-"
/* Iterate the table (for the manual): returns NULL past the end. */
const struct luna_error_def *luna_error_at(size_t i);
#endif
