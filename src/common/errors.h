/* The one table of error codes: code, HTTP status, short description and a
 * detail text or printf template. Everything that answers an error (API
 * responses, task error rows, healthcheck components) builds it from here. */
#ifndef LUNA_ERRORS_H
#define LUNA_ERRORS_H
#include <json-c/json.h>
#include <stdio.h>

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
	E_SCHEDULE_NOT_FOUND = 28107,
	E_ROUTE_NOT_FOUND = 12001,
	E_METHOD_NOT_ALLOWED = 12003,
	E_HANDLER_NOT_FOUND = 34000,
	E_HEALTH = 38001,
};

/* The detail templates that take arguments (printf formats). They are
 * macros so that the calls filling them in hand the compiler a literal
 * format to check the arguments against: luna_error_detail below,
 * reply_errorf (api/http.h), task_fail_detail (tasks/task_type.h), all of
 * which paste CODE##_DETAIL; a code without such a macro takes no arguments. */
#define E_UPSTREAM_CONNECT_TIMEOUT_DETAIL "Connect timeout on %s"
#define E_REQUEST_TIMEOUT_DETAIL          "Request timeout on %s, method %s"
#define E_UPSTREAM_DISCONNECTED_DETAIL    "Server disconnected on %s"
#define E_UPSTREAM_CONNECTION_DETAIL      "Connection error on %s: %s"
#define E_UPSTREAM_BAD_STATUS_DETAIL      "Unexpected status %d from %s"
#define E_UPSTREAM_CONTENT_TYPE_DETAIL    "Unexpected content type from %s"
#define E_BAD_QUERY_DETAIL                "Bad query parameters '%s'"
#define E_REQUIRED_QUERY_DETAIL           "Required parameters '%s' not found"
#define E_BAD_JSON_DETAIL                 "Failed to validate input json. Path: '%s', message: '%s'"
#define E_DYNAMIC_HANDLER_DETAIL          "Handler %s is dynamic. Dynamic handler not supported"
#define E_STATIC_HANDLER_DETAIL           "Handler %s is static. Policies of a static handler can not be set"
#define E_DESCRIPTOR_VERSION_DETAIL       "Descriptor version %d is not registered in the system"
#define E_BODY_TOO_LARGE_DETAIL           "Request body is larger than %ld bytes"
#define E_SEND_SUBTASKS_DETAIL            "Cannot send subtasks to task_workers. Reason: '%s'"
#define E_TASK_NOT_FOUND_DETAIL           "Task with id '%lld' not found"
#define E_TASK_ERROR_NOT_FOUND_DETAIL     "Task error with id '%lld' not found"
#define E_PROGRESS_UPDATE_DETAIL          "Failed to update task %lld progress"
#define E_REPORT_TYPE_DETAIL              "Tasks with type '%d' does not support a build report"
#define E_REPORT_STATUS_DETAIL            "Tasks with status '%d' does not support a build report"
#define E_RESULT_NOT_FOUND_DETAIL         "Result of the task '%lld' not found"
#define E_NO_RESULT_YET_DETAIL            "Task '%lld' does not have result yet"
#define E_CANNOT_CANCEL_DETAIL            "Task '%lld' with status %d can not canceled"
#define E_RESULT_OF_FINISHED_DETAIL       "Impossible get a result of task %lld with status %d"
#define E_TASK_CANCELLED_DETAIL           "Task '%lld' has been cancelled"
#define E_OBJECTS_NOT_FOUND_DETAIL        "%s"
#define E_LIST_NOT_FOUND_DETAIL           "List with id '%s' not found"
#define E_SUBTASK_ATTEMPTS_DETAIL         "Subtask %lld failed after %d attempts: %s"
#define E_BAD_SOURCE_DETAIL               "%s"
#define E_STORAGE_DETAIL                  "%s"
#define E_HANDLERS_NOT_CONFIGURED_DETAIL  "No handlers service is configured ([HANDLERS] URL); %s tasks are unavailable"
#define E_IMAGE_DETAIL                    "%s"
#define E_SCHEDULE_NOT_FOUND_DETAIL       "Schedule with id '%lld' not found"
#define E_HANDLER_NOT_FOUND_DETAIL        "Handler with id %s not found"
#define E_HEALTH_DETAIL                   "%s: %s"

struct luna_error_def {
	int code;
	int http_status;
	const char *desc;
	const char *detail_fmt;   /* the detail: a CODE_DETAIL template, or the text itself */
};

const struct luna_error_def *luna_error_def(int code);   /* never NULL: unknown → code 1 */
/* luna_error_detail(buf, len, CODE, args...): fills buf with the detail of
 * CODE (an E_ name with a CODE_DETAIL template), checked like any printf. */
#define luna_error_detail(buf, len, code, ...) ((void)snprintf((buf), (len), code##_DETAIL, __VA_ARGS__))
/* {"error_code", "desc", "detail", "link"}; detail NULL → the template text as is. */
json_object *luna_error_json(int code, const char *detail);
#define LUNA_ERROR_LINK "https://docs.visionlabs.ai/info/luna/troubleshooting/errors-description/code-"
/* Iterate the table (for the manual): returns NULL past the end. */
const struct luna_error_def *luna_error_at(size_t i);
#endif
