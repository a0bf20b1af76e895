/* The route table and its front door: it matches the path, validates the
 * query parameters and the JSON body against the spec's operation, and only
 * then calls the handler. */
#ifndef LUNA_API_ROUTER_H
#define LUNA_API_ROUTER_H
#include "api/http.h"

typedef void (*handler_fn)(struct request *req);

/* Resolves every route's operation in the spec; -1 (with err) if one is missing. */
int router_init(struct api *api, char *err, size_t errlen);
void router_free(void);
/* The metrics slots of the routes (request_metrics.h): *names gets their
 * path labels, slot 0 being "unmatched" (no route: 404, 405); returns how
 * many. A request's slot is request.route_slot. */
size_t router_slots(const char *const **names);
void router_dispatch(struct request *req);
/* The body schema of POST /2/tasks/{type} for type (the schedules check a task body with it). */
json_object *router_create_schema(const struct task_type *type);

/* Handlers (h_*.c). */
void h_version(struct request *req);
void h_healthcheck(struct request *req);
void h_docs_spec(struct request *req);
void h_docs_dev(struct request *req);
void h_config(struct request *req);
void h_console_page(struct request *req);
void h_console_script(struct request *req);
void h_console_style(struct request *req);
void h_metrics(struct request *req);
void h_tasks_list(struct request *req);
void h_tasks_count(struct request *req);
void h_task_get(struct request *req);
void h_task_cancel(struct request *req);
void h_task_delete(struct request *req);
void h_task_subtasks(struct request *req);
void h_task_result(struct request *req);
void h_task_errors(struct request *req);
void h_task_errors_count(struct request *req);
void h_errors_list(struct request *req);
void h_errors_count(struct request *req);
void h_error_get(struct request *req);
void h_task_create(struct request *req);
void h_schedule_create(struct request *req);
void h_schedules_list(struct request *req);
void h_schedule_get(struct request *req);
void h_schedule_replace(struct request *req);
void h_schedule_patch(struct request *req);
void h_schedule_delete(struct request *req);
/* The task row of {task_id} (TASK_COLUMNS) visible to the request's account,
 * or NULL when answered (404 28001, or 500 on a DB failure). */
char **h_task_row(struct request *req);
/* Notification policies and deliveries (h_notify.c). */
void h_notification_policy_get(struct request *req);
void h_notification_policy_put(struct request *req);
void h_notifications_list(struct request *req);
/* Checks a parsed body before its schema check: -1 when answered. */
typedef int (*body_check_fn)(struct request *req, json_object *body);
/* [LIMITS] of a task body (lists and numbers a client sizes). */
int h_task_body_limits(struct request *req, json_object *body);
#endif
